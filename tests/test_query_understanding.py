"""Reading outlets, times and recency out of questions, against fixed reference dates."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from retrieval.query_understanding import (
    QueryPlan,
    domains_by_outlet,
    outlet_aliases,
    outlet_forms,
    understand,
)

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


# --- outlets as people type them, with the index's domains --------------------------------

# Outlets and article URLs as the MultiHop-RAG corpus has them (The New York Times' articles
# there are The Athletic's), plus a few well-known outlets it lacks.
INDEX_URLS = {
    "TechCrunch": "https://techcrunch.com/2023/11/17/openai/",
    "The Verge": "https://www.theverge.com/2023/10/4/pixel",
    "Fortune": "https://fortune.com/2023/11/18/altman/",
    "Wired": "https://www.wired.com/story/iphone/",
    "The Age": "https://www.theage.com.au/business/markets/",
    "The Guardian": "https://www.theguardian.com/football/2023/dec/10/everton",
    "CBSSports.com": "https://www.cbssports.com/nfl/news/purdy/",
    "The Independent - Life and Style": "https://www.independent.co.uk/life-style/x.html",
    "The Independent - Sports": "https://www.independent.co.uk/sport/y.html",
    "The Roar | Sports Writers Blog": "https://www.theroar.com.au/2023/12/01/ashes/",
    "The New York Times": "https://theathletic.com/5012345/2023/11/01/chelsea/",
    "The Sydney Morning Herald": "https://www.smh.com.au/business/rates/",
    "BBC News - Technology": "https://www.bbc.co.uk/news/technology-1",
    "BBC News - Entertainment & Arts": "https://www.bbc.co.uk/news/entertainment-arts-2",
    "FOX News - Health": "https://www.foxnews.com/health/flu",
    "FOX News - Lifestyle": "https://www.foxnews.com/lifestyle/gift",
    "Sporting News": "https://www.sportingnews.com/us/nfl/news/week-14/",
    "The Washington Post": "https://www.washingtonpost.com/politics/2023/12/01/budget/",
    "Reuters": "https://www.reuters.com/world/deal/",
    "Financial Times": "https://www.ft.com/content/abc",
    "Associated Press": "https://apnews.com/article/election",
    "The Times": "https://www.thetimes.co.uk/article/brexit",
    "Time": "https://time.com/6340000/person-of-the-year/",
}
INDEX_DOMAINS = domains_by_outlet(INDEX_URLS.items())
BBC = ("BBC News - Entertainment & Arts", "BBC News - Technology")
FOX = ("FOX News - Health", "FOX News - Lifestyle")
INDEPENDENT = ("The Independent - Life and Style", "The Independent - Sports")


def typed(question: str) -> QueryPlan:
    return understand(
        question, outlets=list(INDEX_URLS), reference=REF, outlet_domains=INDEX_DOMAINS
    )


def test_domains_are_read_from_article_urls() -> None:
    pairs = [
        ("The Verge", "https://www.theverge.com/a"),
        ("The Verge", "https://www.theverge.com/b"),
        ("BBC News - Technology", "https://www.bbc.co.uk/news/x"),
        ("No Link", ""),
    ]
    assert domains_by_outlet(pairs) == {
        "The Verge": ("www.theverge.com",),
        "BBC News - Technology": ("www.bbc.co.uk",),
    }


def test_short_forms_come_from_names_domains_and_well_known_abbreviations() -> None:
    def texts(outlet: str) -> set[str]:
        return {f.text for f in outlet_forms(outlet, INDEX_DOMAINS[outlet])}

    # Its articles here are on theathletic.com, so "nytimes" is no form of it; "nyt" is.
    assert {"NYT", "nyt", "theathletic", "theathletic.com"} <= texts("The New York Times")
    assert "nytimes" not in texts("The New York Times")
    assert {"washingtonpost", "wapo", "washingtonpost.com"} <= texts("The Washington Post")
    assert {"CBSSports", "CBS Sports", "cbssports", "cbssports.com"} <= texts("CBSSports.com")
    assert {"SMH", "smh", "smh.com.au"} <= texts("The Sydney Morning Herald")
    assert {"Guardian", "theguardian"} <= texts("The Guardian")
    assert "Age" not in texts("The Age")  # too much an ordinary word, even with a cue
    assert {"bbc", "bbc.co.uk"} <= texts("BBC News - Technology")


@pytest.mark.parametrize(
    ("question", "groups"),
    [
        ("according to techcrunch when did openai fire sam altman?", [("TechCrunch",)]),
        ("According to TechCrunch, when did OpenAI fire Sam Altman?", [("TechCrunch",)]),
        ("what did techcrunch say about flexport?", [("TechCrunch",)]),
        ("per fortune, who is the ceo of openai?", [("Fortune",)]),
        ("Who replaced Sam Altman, per Fortune?", [("Fortune",)]),
        ("what did fortune's article say about ftx?", [("Fortune",)]),
        ("what is wired magazine's pick for the best phone?", [("Wired",)]),
        ("according to wired, what is the best phone?", [("Wired",)]),
        ("what did the nyt say about the strike?", [("The New York Times",)]),
        ("what does the new york times say about chelsea?", [("The New York Times",)]),
        ("what did the athletic's theathletic.com say?", [("The New York Times",)]),
        ("what did the guardian's match report say about everton?", [("The Guardian",)]),
        ("guardian's match report on the merseyside derby", [("The Guardian",)]),
        ("What did a Guardian piece say about dementia?", [("The Guardian",)]),
        ("in the guardian, who scored?", [("The Guardian",)]),
        ("what did we learn from wired about the iphone?", [("Wired",)]),
        ("what did time say about taylor swift?", [("Time",)]),
        ("what did bbc's coverage say about the election?", [BBC]),
        ("what did the bbc report about ai?", [BBC]),
        ("what does wapo say about the budget?", [("The Washington Post",)]),
        ("reuters reported that the deal collapsed: why?", [("Reuters",)]),
        ("what did theverge say about the pixel?", [("The Verge",)]),
        ("how did www.theverge.com review the pixel?", [("The Verge",)]),
        ("per the verge, is the pixel 8 good?", [("The Verge",)]),
        ("what did cbs sports say about brock purdy?", [("CBSSports.com",)]),
        ("what did cbssports.com say about brock purdy?", [("CBSSports.com",)]),
        ("according to the FT, what did the bank do?", [("Financial Times",)]),
        ("what did the ap report about the election?", [("Associated Press",)]),
        ("what did SMH report about rates?", [("The Sydney Morning Herald",)]),
        ("what does the sydney morning herald say about rates?", [("The Sydney Morning Herald",)]),
        ("what did the age report about bond yields?", [("The Age",)]),
        ("what did the independent say about the match?", [INDEPENDENT]),
        ("what did fox news say about the flu season?", [FOX]),
        ("what did sporting news say about week 14?", [("Sporting News",)]),
        ("what did the times report about brexit?", [("The Times",)]),
        (
            "who won the ashes, as reported by the roar and the age?",
            [("The Roar | Sports Writers Blog",), ("The Age",)],
        ),
    ],
)
def test_outlets_are_recognised_as_people_type_them(
    question: str, groups: list[tuple[str, ...]]
) -> None:
    assert list(typed(question).outlet_groups) == groups


@pytest.mark.parametrize(
    "question",
    [
        "the times they are a-changin: who sang it?",
        "which player won a fortune in prize money?",
        "prices rose 5 per cent: why?",
        "what share of fortune 500 companies use ai?",
        "according to independent experts, what caused the crash?",
        "in the age of ai, who leads the market?",
        "what is the age of the oldest player?",
        "is the company on the verge of collapse?",
        "from time to time, who wins the derby?",
        "will they finish in time?",
        "what time did the match start?",
        "ranked no. 5 in the AP poll, which team lost?",
        "are 6 ft tall players better?",
        "smh, why did this happen?",
        "what did a legal guardian's report say?",
        "what did the roar of the crowd mean?",
        "wired headphones are back: why?",
        "which sporting news mattered most?",
    ],
)
def test_ordinary_words_typed_in_lower_case_are_not_outlets(question: str) -> None:
    assert typed(question).outlet_groups == ()


def test_an_abbreviation_counts_only_for_an_outlet_in_the_index() -> None:
    assert plan("what did the nyt say about the strike?").outlet_groups == (
        ("The New York Times",),
    )
    no_nyt = understand(
        "what does wapo say about the nyt?", outlets=["TechCrunch", "Fortune"], reference=REF
    )
    assert no_nyt.outlet_groups == ()


def test_a_domain_many_outlets_share_names_none_of_them() -> None:
    # Feeds read through an aggregator: its domain is not an outlet's name.
    domains = {
        "Fortune": ["https://news.google.com/rss/articles/1"],
        "TechCrunch": ["https://news.google.com/rss/articles/2"],
    }
    p = understand(
        "according to google, what happened?",
        outlets=list(domains),
        reference=REF,
        outlet_domains=domains,
    )
    assert p.outlet_groups == ()


def test_cue_words_and_outlet_names_are_not_search_terms() -> None:
    assert typed("per fortune, who is the ceo of openai?").lexical_terms == ("ceo", "openai")
    assert typed("how did www.theverge.com review the pixel?").lexical_terms == (
        "review",
        "pixel",
    )


# --- periods as people name them -------------------------------------------------------------


@pytest.mark.parametrize(
    ("question", "since", "until"),
    [
        (
            "what did the EU do about AI in december 2023?",
            day(2023, 12, 1),
            day(2023, 12, 31, True),
        ),
        (
            "What did the EU do about AI in December 2023?",
            day(2023, 12, 1),
            day(2023, 12, 31, True),
        ),
        ("what did the eu do about ai in dec 2023?", day(2023, 12, 1), day(2023, 12, 31, True)),
        ("what did the EU do in december?", day(2023, 12, 1), day(2023, 12, 31, True)),
        ("What did OpenAI say about GPT-4 in November?", day(2023, 11, 1), day(2023, 11, 30, True)),
        ("What happened in May?", day(2023, 5, 1), day(2023, 5, 31, True)),
        (
            "what happened in the first week of november 2023?",
            day(2023, 11, 1),
            day(2023, 11, 7, True),
        ),
        ("who won the second week of november?", day(2023, 11, 8), day(2023, 11, 14, True)),
        ("what happened in the last week of november?", day(2023, 11, 24), day(2023, 11, 30, True)),
        ("what happened the week of dec 11?", day(2023, 12, 11), day(2023, 12, 17, True)),
        # Thursday 14 December: its week runs Monday 11 to Sunday 17.
        (
            "What happened during the week of 14 December 2023?",
            day(2023, 12, 11),
            day(2023, 12, 17, True),
        ),
        ("what did apple announce in mid-December?", day(2023, 12, 10), day(2023, 12, 20, True)),
        (
            "what did apple announce in mid december 2023?",
            day(2023, 12, 10),
            day(2023, 12, 20, True),
        ),
        ("what did apple announce in early november?", day(2023, 11, 1), day(2023, 11, 10, True)),
        ("what did apple say in late october 2023?", day(2023, 10, 21), day(2023, 10, 31, True)),
        ("What happened at the end of October?", day(2023, 10, 21), day(2023, 10, 31, True)),
        ("news from q3 2023", day(2023, 7, 1), day(2023, 9, 30, True)),
        ("what happened in the third quarter of 2023?", day(2023, 7, 1), day(2023, 9, 30, True)),
        ("What happened before the week of Dec 11?", None, day(2023, 12, 10, True)),
        (
            "what happened between the first week of november and mid-december?",
            day(2023, 11, 1),
            day(2023, 12, 20, True),
        ),
    ],
)
def test_a_named_month_week_or_part_of_a_month_restricts_the_search(
    question: str, since: datetime | None, until: datetime | None
) -> None:
    p = plan(question)
    assert p.time_filter is not None
    assert (p.time_filter.since, p.time_filter.until) == (since, until)
    assert p.time_preferences == ()


@pytest.mark.parametrize(
    "question",
    [
        # A figure or change in the clause dates that fact, not the news.
        "Which AI tool reached 100 million users per day in March?",
        "Which chatbot saw a meteoric rise in usage during December 2022?",
        "Is Leqembi the only approved drug as of July 2023?",
        "Which exchange grew fastest within 180 days of its June 2017 launch?",
        "What did the $10 billion deal change in December 2023?",
        # A month naming a thing.
        "What came out of the December 2023 summit?",
        # One side of a comparison; two outlets.
        "Did Sporting News change its advice in December 2023 compared with November?",
        "What did TechCrunch and The Verge report in December 2023?",
        # After the newest article: nothing to restrict to.
        "what will happen in january 2024?",
        # A quarter without a word about publishing.
        "who scored the most points in the fourth quarter of 2023?",
    ],
)
def test_a_month_dating_a_fact_or_one_side_of_a_comparison_is_only_preferred(
    question: str,
) -> None:
    p = plan(question)
    assert p.time_filter is None
    assert p.time_preferences != ()


@pytest.mark.parametrize(
    ("question", "kept"),
    [
        ("what were apple's q3 2023 earnings?", ("q3", "2023")),
        ("what was the revenue in the third quarter of 2023?", ("third", "quarter", "2023")),
        ("which company turned a profit in the third quarter?", ("third", "quarter")),
        ("who scored in the fourth quarter?", ("fourth", "quarter")),
        ("who is the top wide receiver for week 14?", ("week", "14")),
        ("what changes in may surprise investors?", ()),
    ],
)
def test_fiscal_and_sporting_quarters_and_weeks_are_no_time(
    question: str, kept: tuple[str, ...]
) -> None:
    p = plan(question)
    assert (p.time_filter, p.time_preferences) == (None, ())
    assert set(kept) <= set(p.lexical_terms)


def test_a_restricting_period_says_what_it_names() -> None:
    p = plan("what happened the week of dec 11?")
    assert p.time_filter is not None
    assert (p.time_filter.phrase, p.time_filter.kind) == ("the week of dec 11", "week")
    relative = plan("what happened in the past week?").time_filter
    assert relative is not None and relative.kind == "relative"
