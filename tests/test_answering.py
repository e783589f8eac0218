"""Answers from the real pipeline: quotes are verbatim, cited right, or honestly absent."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from ingest.loaders import Loaded, load_file
from newsbot.services import Services
from retrieval.errors import QuestionError
from retrieval.index import SearchFilters
from retrieval.models import Article
from tests.conftest import SAMPLE_NEWS, SEED

pytestmark = pytest.mark.skipif(not SEED.exists(), reason="needs ../shared/data/seed")

SEED_TITLE = (
    "NATO About to Give Written Response to Russia's Security Guarantees Proposals, Report Claims"
)
NOISE = (
    "Registration was successful",
    "Olivier Matthys",
    "Flags of Alliance members",
    "Sputnik News reporter",
    "17:45 GMT",
)


@pytest.fixture
def sample(services: Services) -> Services:
    items = []
    for path in sorted(SAMPLE_NEWS.iterdir()):
        if path.suffix in {".txt", ".json"}:
            items.extend(load_file(path, max_bytes=10**7))
    report = services.ingester.ingest(items)
    assert report.count(report.items[0].status.__class__("failed")) == 0
    return services


def test_the_seed_question_is_answered_with_the_quote_and_its_citation(sample: Services) -> None:
    answer = sample.answerer.answer("what did NATO say about Russia's demands?")
    assert answer.answered
    quote = next(q for q in answer.quotes if 'Russia\'s key demands are "unacceptable."' in q.text)
    cited = answer.citations[quote.citation - 1]
    assert cited.n == quote.citation
    assert cited.title == SEED_TITLE
    assert cited.outlet == "Sputnik"
    assert cited.author == "Morgan Artyukhina"
    assert cited.published == datetime(2022, 1, 26, 17, 45, tzinfo=UTC)
    for q in answer.quotes:
        assert not any(noise in q.text for noise in NOISE)


def test_every_quote_is_verbatim_from_its_cited_article(sample: Services) -> None:
    for question in (
        "what did NATO say about Russia's demands?",
        "What did prosecutors say about Sam Bankman-Fried?",
        "Why was Taylor Swift named Person of the Year?",
    ):
        answer = sample.answerer.answer(question)
        bodies = sample.index.get_bodies([c.article_id for c in answer.citations])
        for q in answer.quotes:
            cited = answer.citations[q.citation - 1]
            assert q.article_id == cited.article_id
            assert bodies[cited.article_id][q.start : q.end] == q.text


def test_an_unrelated_question_is_not_answered_and_lists_nearest_articles(
    sample: Services,
) -> None:
    answer = sample.answerer.answer("who won the 2022 World Cup final?")
    assert not answer.answered
    assert answer.quotes == () and answer.citations == ()
    assert 1 <= len(answer.nearest) <= 3
    assert answer.to_json()["nearest"] and answer.to_json()["answered"] is False


def test_a_question_outside_the_filters_is_not_answered_from_the_seed(sample: Services) -> None:
    answer = sample.answerer.answer(
        "what did NATO say about Russia's demands?",
        filters=SearchFilters(since=datetime(2023, 1, 1, tzinfo=UTC)),
    )
    assert all(c.title != SEED_TITLE for c in answer.citations + answer.nearest)


def test_questions_that_are_empty_or_too_long_are_refused(services: Services) -> None:
    with pytest.raises(QuestionError, match="empty"):
        services.answerer.answer("   ")
    with pytest.raises(QuestionError, match="limit is 300"):
        services.answerer.answer("why " * 100)


def test_an_empty_index_answers_honestly(services: Services) -> None:
    answer = services.answerer.answer("what did NATO say?")
    assert not answer.answered and answer.nearest == () and answer.articles_searched == 0


def test_quoted_text_keeps_mentions_verbatim(services: Services) -> None:
    article = Article(
        title="Server prank",
        body="The moderator wrote @everyone and <@123> in the announcement channel on Friday.",
        outlet="Test Daily",
    )
    services.ingester.ingest([Loaded("t", article)])
    answer = services.answerer.answer("what did the moderator write in the announcement channel?")
    assert answer.answered
    assert "@everyone and <@123>" in answer.quotes[0].text
