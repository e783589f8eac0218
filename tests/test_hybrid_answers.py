"""What a user sees from hybrid retrieval: outlets and times named in questions are obeyed,
attributed statements are quoted, quotes may span two sentences, unanswerable questions are
declined, and `newsbot search --json` shows exactly the chunks answers come from."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from click.testing import CliRunner

from ingest.loaders import Loaded
from newsbot.cli import main
from newsbot.services import Services
from retrieval.index import SearchFilters
from retrieval.models import Answer, Article


def _a(title: str, body: str, outlet: str, day: tuple[int, int, int], slug: str) -> Article:
    return Article(
        title=title,
        body=body,
        outlet=outlet,
        published=datetime(*day, 12, 0, tzinfo=UTC),
        url=f"https://example.org/{slug}",
    )


ARTICLES = [
    _a(
        "OpenAI board removes Sam Altman as chief executive",
        "The board of OpenAI removed Sam Altman as chief executive on Friday.\n"
        "Directors said Altman had not been consistently candid in his communications.\n"
        "Mira Murati was named interim chief executive of the artificial intelligence lab.",
        "TechCrunch",
        (2023, 11, 17),
        "tc-altman",
    ),
    _a(
        "Microsoft hires Sam Altman to lead a new AI research team",
        "Microsoft hired Sam Altman and Greg Brockman to lead a new advanced AI research team.\n"
        "Satya Nadella said Microsoft remained committed to its partnership with OpenAI.",
        "The Verge",
        (2023, 11, 20),
        "verge-altman",
    ),
    _a(
        "Sam Altman returns to OpenAI as CEO",
        "Sam Altman will return to OpenAI as chief executive under a new initial board.\n"
        "Bret Taylor will chair the new board, the company said in a post.",
        "Engadget",
        (2023, 11, 22),
        "engadget-altman",
    ),
    _a(
        "Bankman-Fried says he never meant to commit fraud",
        "Sam Bankman-Fried told reporters in Nassau that he never knowingly committed fraud.\n"
        "Prosecutors said Bankman-Fried stole billions of dollars from FTX customers.\n"
        "His lawyers are preparing for a trial in New York.",
        "Fortune",
        (2023, 9, 20),
        "fortune-sbf-preview",
    ),
    _a(
        "The FTX trial begins in Manhattan",
        "The criminal trial of Sam Bankman-Fried began in Manhattan on Tuesday.\n"
        "Prosecutors said in their opening statement that he stole from customers of FTX.\n"
        "Bankman-Fried said on the stand that he had made mistakes in running the exchange.",
        "Fortune",
        (2023, 10, 3),
        "fortune-sbf-trial",
    ),
    _a(
        "Federal Reserve holds interest rates steady",
        "The Federal Reserve kept its benchmark interest rate unchanged on Wednesday.\n"
        "The central bank kept its key rate between 5.25% and 5.5%. It said inflation had "
        "eased but remained too high.",
        "Fortune",
        (2023, 12, 13),
        "fortune-fed",
    ),
    _a(
        "Reserve Bank of Australia leaves the cash rate on hold",
        "The Reserve Bank of Australia left the cash rate at 4.35 per cent.\n"
        "Governor Michele Bullock said the board would watch inflation closely.",
        "The Age",
        (2023, 12, 20),
        "age-rba",
    ),
]


@pytest.fixture
def news(services: Services) -> Services:
    report = services.ingester.ingest([Loaded(a.url or a.title, a) for a in ARTICLES])
    assert report.ingested_anything
    return services


def outlets_of(services: Services, question: str, **kwargs: object) -> list[str | None]:
    return [p.outlet for p in services.answerer.search(question, **kwargs)]  # type: ignore[arg-type]


def cited(answer: Answer) -> set[str | None]:
    return {answer.citations[q.citation - 1].outlet for q in answer.quotes}


def test_one_outlet_named_in_the_question_is_the_only_one_searched(news: Services) -> None:
    assert set(outlets_of(news, "What did TechCrunch report about Sam Altman?")) == {"TechCrunch"}
    answer = news.answerer.answer("According to TechCrunch, why was Sam Altman removed?")
    assert answer.answered and cited(answer) == {"TechCrunch"}


def test_several_outlets_named_are_each_searched_and_merged_fairly(news: Services) -> None:
    found = outlets_of(news, "How did The Verge and Engadget cover Sam Altman?")
    assert set(found) == {"The Verge", "Engadget"}
    assert set(found[:2]) == {"The Verge", "Engadget"}


def test_an_explicit_source_overrides_the_question(news: Services) -> None:
    found = outlets_of(
        news,
        "What did TechCrunch report about Sam Altman?",
        filters=SearchFilters(outlets=("Engadget",)),
    )
    assert set(found) == {"Engadget"}


def test_last_week_is_read_from_the_newest_article_not_the_clock(news: Services) -> None:
    # The newest article is of Wednesday 2023-12-20: last week is December 11 to 17.
    passages = news.answerer.search("What did the Federal Reserve decide last week?")
    assert passages and {p.title for p in passages} == {
        "Federal Reserve holds interest rates steady"
    }


def test_a_month_named_as_publication_time_restricts_the_search(news: Services) -> None:
    passages = news.answerer.search("What was published in September 2023 about FTX?")
    assert {p.title for p in passages} == {"Bankman-Fried says he never meant to commit fraud"}


def test_a_question_about_the_latest_news_puts_recent_articles_first(news: Services) -> None:
    plain = news.answerer.search("Sam Altman OpenAI chief executive board")
    latest = news.answerer.search("What is the latest on Sam Altman, OpenAI's chief executive?")
    assert plain[0].outlet == "TechCrunch"  # the best match is the oldest story
    assert latest[0].published is not None
    assert latest[0].published >= datetime(2023, 11, 20, tzinfo=UTC)


def test_before_an_event_prefers_what_was_published_before_it(news: Services) -> None:
    passages = news.answerer.search("What did Bankman-Fried say before the trial?")
    assert passages[0].title == "Bankman-Fried says he never meant to commit fraud"


def test_what_someone_said_is_quoted_from_their_own_statement(news: Services) -> None:
    answer = news.answerer.answer(
        "What did Bankman-Fried say about fraud?",
        filters=SearchFilters(until=datetime(2023, 9, 30, tzinfo=UTC)),
    )
    assert answer.answered
    assert answer.quotes[0].text == (
        "Sam Bankman-Fried told reporters in Nassau that he never knowingly committed fraud."
    )


def test_a_quote_spans_two_sentences_when_the_second_completes_it(news: Services) -> None:
    answer = news.answerer.answer("What did the central bank say about its key rate and inflation?")
    assert answer.answered
    both = (
        "The central bank kept its key rate between 5.25% and 5.5%. It said inflation had "
        "eased but remained too high."
    )
    assert any(q.text == both for q in answer.quotes)
    bodies = news.index.get_bodies([q.article_id for q in answer.quotes])
    for q in answer.quotes:
        assert bodies[q.article_id][q.start : q.end] == q.text


@pytest.mark.parametrize(
    "question",
    [
        "Who won the Tour de France this year?",
        "According to TechCrunch, what did the Reserve Bank of Australia decide?",
        "What recipe did the chef recommend for sourdough bread?",
    ],
)
def test_questions_the_news_does_not_cover_are_declined(news: Services, question: str) -> None:
    answer = news.answerer.answer(question)
    assert not answer.answered and answer.quotes == ()


def test_search_json_is_exactly_what_answers_are_drawn_from(news: Services, cli: CliRunner) -> None:
    question = "How did The Verge and Engadget cover Sam Altman?"
    result = cli.invoke(main, ["search", "--json", "--top-k", "10", question])
    assert result.exit_code == 0, result.output
    shown = json.loads(result.stdout)["results"]
    expected = news.answerer.search(question, k=10)
    assert [r["chunk_id"] for r in shown] == [p.chunk_id for p in expected]
    assert [r["rank"] for r in shown] == list(range(1, len(expected) + 1))
    bodies = news.index.get_bodies([r["article_id"] for r in shown])
    for r in shown:
        assert r["text"] in bodies[r["article_id"]]
