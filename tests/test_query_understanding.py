"""Reading outlets, times and recency out of questions, against fixed reference dates."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from retrieval.query_understanding import QueryPlan, outlet_aliases, understand

OUTLETS = (
    "TechCrunch",
    "The Verge",
    "Engadget",
    "Fortune",
    "Wired",
    "The Age",
    "CBSSports.com",
    "Cnbc | World Business News Leader",
    "The Independent - Life and Style",
    "The Independent - Sports",
    "The Roar | Sports Writers Blog",
    "The New York Times",
    "Sporting News",
)
# The newest article in the index: a Monday.
REF = datetime(2023, 12, 25, 9, 30, tzinfo=UTC)


def plan(question: str, reference: datetime = REF) -> QueryPlan:
    return understand(question, outlets=OUTLETS, reference=reference)


def day(y: int, m: int, d: int, end: bool = False) -> datetime:
    if end:
        return datetime(y, m, d, 23, 59, 59, 999999, tzinfo=UTC)
    return datetime(y, m, d, tzinfo=UTC)


# --- outlets ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("question", "groups"),
    [
        ("What did NATO say, according to TechCrunch?", [("TechCrunch",)]),
        (
            "Who is on trial, as reported by both The Verge and Engadget?",
            [("The Verge",), ("Engadget",)],
        ),
        ("Did the 'Fortune' article mention the merger?", [("Fortune",)]),
        ("What did CNBC report about oil?", [("Cnbc | World Business News Leader",)]),
        (
            "What did The Independent - Life and Style say about Taylor Swift?",
            [("The Independent - Life and Style",)],
        ),
        (
            "What did The Independent say about the match?",
            [("The Independent - Life and Style", "The Independent - Sports")],
        ),
        ("What did The Roar write about the Wallabies?", [("The Roar | Sports Writers Blog",)]),
        ("Does the New York Times article agree?", [("The New York Times",)]),
        ("How did CBSSports.com rate Brock Purdy?", [("CBSSports.com",)]),
        ("Between the report from The Age and TechCrunch", [("The Age",), ("TechCrunch",)]),
    ],
)
def test_outlets_named_in_a_question_are_recognised(
    question: str, groups: list[tuple[str, ...]]
) -> None:
    assert list(plan(question).outlet_groups) == groups


@pytest.mark.parametrize(
    "question",
    [
        "Is the company on the verge of collapse?",  # not capitalised
        "Which Fortune 500 company cut jobs?",  # an ordinary word, no cue
        "Wired headphones are back: why?",
        "What is the age of the oldest player?",
        "What happened to the independent candidates?",
    ],
)
def test_ordinary_words_are_not_taken_for_outlets(question: str) -> None:
    assert plan(question).outlet_groups == ()


def test_outlet_names_and_dates_are_not_searched_for_as_words() -> None:
    p = plan("What did TechCrunch report about Flexport on October 7, 2023?")
    assert p.lexical_terms == ("flexport",)


def test_short_forms_of_long_outlet_names() -> None:
    assert outlet_aliases("Cnbc | World Business News Leader") == {
        "Cnbc | World Business News Leader",
        "Cnbc",
    }
    assert "New York Times" in outlet_aliases("The New York Times")
    assert "Age" not in outlet_aliases("The Age")


# --- time ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("question", "since", "until"),
    [
        ("What happened in November 2023?", day(2023, 11, 1), day(2023, 11, 30, True)),
        ("What happened in November?", day(2023, 11, 1), day(2023, 11, 30, True)),
        ("What did Apple announce this year?", day(2023, 1, 1), day(2023, 12, 25, True)),
        ("What happened last year?", day(2022, 1, 1), day(2022, 12, 31, True)),
        # The reference is a Monday: last week is the calendar week before.
        ("What did OpenAI do last week?", day(2023, 12, 18), day(2023, 12, 24, True)),
        ("What happened this week?", day(2023, 12, 25), day(2023, 12, 25, True)),
        ("What changed in the past week?", day(2023, 12, 18), day(2023, 12, 25, True)),
        ("What happened last month?", day(2023, 11, 1), day(2023, 11, 30, True)),
        ("Any news from the last 3 days?", day(2023, 12, 22), day(2023, 12, 25, True)),
        ("What happened yesterday?", day(2023, 12, 24), day(2023, 12, 24, True)),
        ("What happened before October 5, 2023?", None, day(2023, 10, 4, True)),
        ("What happened after October 5, 2023?", day(2023, 10, 6), None),
        ("What happened since October 5?", day(2023, 10, 5), None),
        (
            "What happened between October 1 and October 15, 2023?",
            day(2023, 10, 1),
            day(2023, 10, 15, True),
        ),
        ("Which articles were published in 2022?", day(2022, 1, 1), day(2022, 12, 31, True)),
        ("Any news from October 2023?", day(2023, 10, 1), day(2023, 10, 31, True)),
    ],
)
def test_one_period_named_in_a_question_restricts_the_search(
    question: str, since: datetime | None, until: datetime | None
) -> None:
    p = plan(question)
    assert p.time_filter is not None
    assert (p.time_filter.since, p.time_filter.until) == (since, until)
    assert p.time_preferences == ()


def test_relative_times_follow_the_newest_article_not_the_clock() -> None:
    old_corpus = plan("What happened last month?", reference=datetime(2023, 3, 10, tzinfo=UTC))
    assert old_corpus.time_filter is not None
    assert (old_corpus.time_filter.since, old_corpus.time_filter.until) == (
        day(2023, 2, 1),
        day(2023, 2, 28, True),
    )
    # "in November" is the latest November not after the reference.
    early = plan("What happened in November?", reference=datetime(2024, 3, 1, tzinfo=UTC))
    assert early.time_filter is not None and early.time_filter.since == day(2023, 11, 1)


def test_a_named_day_is_preferred_not_required() -> None:
    p = plan("What did the TechCrunch article published on October 31, 2023 say about Google?")
    assert p.time_filter is None
    assert [(t.since, t.until) for t in p.time_preferences] == [
        (day(2023, 10, 31), day(2023, 10, 31, True))
    ]


@pytest.mark.parametrize(
    "question",
    [
        "Which company spent $26.3 billion in 2021 to stay the default search engine?",
        "Which team lost to Argentina in Sydney in 2020?",
        "Which chatbot saw its usage soar during December 2022?",
    ],
)
def test_a_time_something_happened_is_preferred_not_required(question: str) -> None:
    p = plan(question)
    assert p.time_filter is None
    assert len(p.time_preferences) == 1


def test_several_times_in_a_comparison_are_all_preferred_none_required() -> None:
    p = plan(
        "Did Sporting News change its advice after November 6, 2023, compared with its "
        "report on November 1, 2023?"
    )
    assert p.time_filter is None
    assert [t.since for t in p.time_preferences] == [day(2023, 11, 6), day(2023, 11, 1)]


def test_an_event_as_a_time_is_left_for_the_index_to_date() -> None:
    p = plan("What did Sam Bankman-Fried say before the trial?")
    assert p.event is not None
    assert (p.event.relation, p.event.phrase) == ("before", "the trial")
    assert p.time_filter is None


def test_a_question_about_the_latest_news_prefers_recent_articles() -> None:
    p = plan("What is the latest on the OpenAI board?")
    assert p.prefer_recent
    assert [(t.since, t.until) for t in p.time_preferences] == [(day(2023, 11, 25), None)]
    assert p.time_filter is None


def test_a_question_without_outlets_or_times_is_left_alone() -> None:
    p = plan("Why was Taylor Swift named Person of the Year?")
    assert (p.outlet_groups, p.time_filter, p.time_preferences, p.event, p.prefer_recent) == (
        (),
        None,
        (),
        None,
        False,
    )
    assert p.lexical_terms == ("taylor", "swift", "named", "person", "year")
