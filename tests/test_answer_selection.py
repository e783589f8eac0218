"""Answers that answer: the quote holds the kind of answer asked, the short answer is that
span, each part of a question gets its own quote, and a near miss is declined. Real model,
real Chroma, the shipped selector."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from ingest.loaders import Loaded
from newsbot.services import Services
from retrieval.models import Answer, Article

WHEN = datetime(2023, 11, 20, 9, 0, tzinfo=UTC)

ARTICLES = [
    Article(
        title="Open raises its prize money again",
        body=(
            "The prize money at this year's Open has been debated by players for months. "
            "Several players said the prize money still lagged behind other sports. "
            "Organisers said the singles champion will receive $3.6 million, a record for the "
            "event. Players welcomed the increase but asked for more for early rounds."
        ),
        outlet="Tennis Daily",
        url="https://tennis.example/open-prize-money",
        published=WHEN,
    ),
    Article(
        title="City council bans rental e-scooters",
        body=(
            "The city council voted on Tuesday to ban rental e-scooters from the city centre "
            "after a year of complaints. The scooter ban was debated for three hours. The ban "
            "takes effect on March 1, officials said. Critics said the scooter ban was rushed."
        ),
        outlet="Metro Times",
        url="https://metro.example/scooter-ban",
        published=WHEN,
    ),
    Article(
        title="Everton docked 10 points",
        body=(
            "Everton were docked 10 points by the Premier League on Friday for breaching its "
            "profit and sustainability rules. The club said it was shocked and disappointed "
            "and would appeal. Fans protested outside the ground on Saturday."
        ),
        outlet="Football Weekly",
        url="https://football.example/everton-points",
        published=WHEN,
    ),
    Article(
        title="Former Everton manager Howard Kendall remembered",
        body=(
            "Tributes were paid to a former Everton manager this week. He died at the age of "
            "69, his family said. He led the club to two league titles in the 1980s."
        ),
        outlet="Football Weekly",
        url="https://football.example/kendall",
        published=WHEN,
    ),
    Article(
        title="Apple beats estimates as iPhone sales rise",
        body=(
            "Apple reported quarterly revenue of $89.5 billion on Thursday, down 1% from a "
            "year earlier. iPhone sales rose to $43.8 billion. Chief executive Tim Cook said "
            "demand in emerging markets was strong."
        ),
        outlet="Market Wire",
        url="https://markets.example/apple-q4",
        published=WHEN,
    ),
]


@pytest.fixture
def stocked(services: Services) -> Services:
    services.ingester.ingest([Loaded(a.url or a.title, a) for a in ARTICLES])
    services.answerer.invalidate_stats()
    return services


def _quoted(answer: Answer) -> str:
    return " ".join(q.text for q in answer.quotes)


def test_the_quote_holds_the_amount_asked_and_the_short_answer_is_it(stocked: Services) -> None:
    answer = stocked.answerer.answer("how much prize money does the champion get")
    assert answer.answered and "$3.6 million" in answer.quotes[0].text
    assert answer.short_answer is not None and answer.short_answer.text == "$3.6 million"
    assert answer.short_answer.text in answer.quotes[0].text  # verbatim from the top quote


def test_the_quote_holds_the_date_asked(stocked: Services) -> None:
    answer = stocked.answerer.answer("when does the scooter ban start")
    assert answer.answered and "March 1" in answer.quotes[0].text
    assert answer.short_answer is not None and answer.short_answer.text == "March 1"


def test_each_part_of_a_two_part_question_gets_its_own_quote(stocked: Services) -> None:
    answer = stocked.answerer.answer(
        "how old was the former everton manager when he died, "
        "and why were everton docked 10 points?"
    )
    assert answer.answered and len(answer.parts) == 2
    age, reason = answer.parts
    assert age.answered and "age of 69" in answer.quotes[age.quotes[0]].text
    assert age.short_answer is not None and age.short_answer.text == "69"
    assert reason.answered
    assert "breaching" in " ".join(answer.quotes[i].text for i in reason.quotes)
    # Every quote is cited, and verbatim in its article.
    bodies = {a.url: a.body for a in ARTICLES}
    cited = {c.n: c for c in answer.citations}
    for quote in answer.quotes:
        assert quote.text in bodies[cited[quote.citation].url]


def test_another_companys_revenue_is_declined(stocked: Services) -> None:
    answer = stocked.answerer.answer("what was microsoft's revenue last quarter")
    assert not answer.answered, _quoted(answer)
    assert answer.nearest  # the nearest articles are still listed


def test_a_question_about_what_no_article_covers_is_declined(stocked: Services) -> None:
    answer = stocked.answerer.answer("who won the 2022 world cup final")
    assert not answer.answered, _quoted(answer)


PREVIEW = (
    "RB Leipzig hosted Borussia Dortmund on Saturday evening in a Bundesliga match both "
    "clubs needed to win. Leipzig came into the game against Dortmund third in the table, "
    "with Dortmund two points behind them. Leipzig coach Marco Rose said before the match "
    "that Dortmund had been the better side in recent meetings between the two clubs. "
    "Dortmund coach Edin Terzic named an unchanged side for the trip to Leipzig. "
    "Leipzig were without their injured striker, and Dortmund missed two defenders. "
    "The Leipzig stadium was sold out for the visit of Dortmund, with 47,000 fans expected. "
    "Rose said Leipzig would press high against Dortmund from the first whistle. "
    "Dortmund had won only one of their last five away games, while Leipzig were unbeaten "
    "at home since August. Supporters of Dortmund travelled in their thousands to Leipzig "
    "by train and bus. Leipzig sporting director Max Eberl said the club expected a hard "
    "game against a Dortmund side that had spent heavily in the summer. Dortmund captain "
    "Emre Can said the squad knew what a win in Leipzig would mean for the title race. "
)
MATCH_REPORT = Article(
    title="RB Leipzig v Borussia Dortmund: final score and match report",
    body=(
        f"{PREVIEW}\n\n"
        "In the end Dortmund won 3-2, with a late header settling a frantic second half. "
        "Mats Hummels was sent off in the 70th minute for a second yellow card.\n\n"
        "Elsewhere in the league, Stuttgart kept pace at the top with a comfortable home win. "
        "Freiburg drew with Augsburg, and Mainz lost again to stay in the relegation places. "
        "Werder Bremen announced a new sporting director on Friday afternoon, while Hoffenheim "
        "confirmed that their captain had signed a contract extension until the summer of 2026."
    ),
    outlet="Football Weekly",
    url="https://football.example/leipzig-dortmund",
    published=WHEN,
)


def test_the_answer_just_after_the_chunk_that_matched_is_quoted(services: Services) -> None:
    # The preview names both clubs again and again, so its chunk is the one retrieved; the
    # score follows it, in text that chunk does not hold.
    services.ingester.ingest([Loaded(MATCH_REPORT.url or "", MATCH_REPORT)])
    question = "leipzig v dortmund final score"
    retrieved = services.answerer.search(question, k=1)
    assert retrieved and "3-2" not in retrieved[0].text
    answer = services.answerer.answer(question, top_k=1)
    assert answer.answered, answer.nearest
    assert "Dortmund won 3-2" in answer.quotes[0].text
    assert answer.quotes[0].text in MATCH_REPORT.body  # verbatim


MASIMO = Article(
    title="Apple and Masimo's patent fight drags on",
    body=(
        "Masimo has reportedly spent $60 million litigating its patent dispute with Apple so "
        "far. Apple's own legal costs are estimated at more than $100 million. The two "
        "companies remain in court, and neither has said when the case might end. Masimo's "
        "chief executive said the company would keep fighting for its patents."
    ),
    outlet="Tech Daily",
    url="https://tech.example/apple-masimo",
    published=WHEN,
)


def test_amounts_on_the_topic_do_not_answer_what_nobody_paid(services: Services) -> None:
    """The article has amounts, Apple and Masimo, but nobody paid anybody: "how much did
    Apple pay" is a near miss, not "$60 million"."""
    services.ingester.ingest([Loaded(MASIMO.url or "", MASIMO)])
    answer = services.answerer.answer("how much did apple pay masimo")
    assert not answer.answered, _quoted(answer)
    assert answer.nearest and answer.nearest[0].url == MASIMO.url
    spent = services.answerer.answer("how much has masimo spent litigating against apple")
    assert spent.answered and "$60 million" in spent.quotes[0].text
