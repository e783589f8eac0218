"""Times named in text, read against a fixed reference day (Monday 25 December 2023)."""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime

import pytest

from retrieval.periods import TimeMention, find_times

REF = date(2023, 12, 25)


def read(text: str, reference: date = REF) -> list[tuple[str, str, date | None, date | None]]:
    """(kind, phrase, first day, last day) of each time named."""

    def d(value: datetime | None) -> date | None:
        return value.astimezone(UTC).date() if value is not None else None

    return [(t.kind, t.phrase, d(t.since), d(t.until)) for t in find_times(text, reference)]


@pytest.mark.parametrize(
    ("text", "found"),
    [
        ("on Oct 5, 2023", [("day", "Oct 5, 2023", date(2023, 10, 5), date(2023, 10, 5))]),
        ("on dec 11", [("day", "dec 11", date(2023, 12, 11), date(2023, 12, 11))]),
        # A day without a year is the latest not after the reference.
        ("on dec 31", [("day", "dec 31", date(2022, 12, 31), date(2022, 12, 31))]),
        ("on 2023-10-05", [("day", "2023-10-05", date(2023, 10, 5), date(2023, 10, 5))]),
        (
            "in december 2023",
            [("month", "december 2023", date(2023, 12, 1), date(2023, 12, 31))],
        ),
        ("in Sept. 2023", [("month", "Sept. 2023", date(2023, 9, 1), date(2023, 9, 30))]),
        ("in november", [("month", "november", date(2023, 11, 1), date(2023, 11, 30))]),
        ("in May", [("month", "May", date(2023, 5, 1), date(2023, 5, 31))]),
        (
            "the week of dec 11",
            [("week", "the week of dec 11", date(2023, 12, 11), date(2023, 12, 17))],
        ),
        (
            "the week of 14 December 2023",
            [("week", "the week of 14 December 2023", date(2023, 12, 11), date(2023, 12, 17))],
        ),
        (
            "the first week of november 2023",
            [("week", "the first week of november 2023", date(2023, 11, 1), date(2023, 11, 7))],
        ),
        (
            "the 3rd week of October",
            [("week", "the 3rd week of October", date(2023, 10, 15), date(2023, 10, 21))],
        ),
        # Not "last week" (a relative time) and "november" (a month).
        (
            "the last week of november",
            [("week", "the last week of november", date(2023, 11, 24), date(2023, 11, 30))],
        ),
        ("mid-December", [("part", "mid-December", date(2023, 12, 10), date(2023, 12, 20))]),
        ("mid dec 2023", [("part", "mid dec 2023", date(2023, 12, 10), date(2023, 12, 20))]),
        ("early november", [("part", "early november", date(2023, 11, 1), date(2023, 11, 10))]),
        ("late Oct 2023", [("part", "late Oct 2023", date(2023, 10, 21), date(2023, 10, 31))]),
        (
            "the end of february 2024",
            [("part", "the end of february 2024", date(2024, 2, 21), date(2024, 2, 29))],
        ),
        (
            "the beginning of march",
            [("part", "the beginning of march", date(2023, 3, 1), date(2023, 3, 10))],
        ),
        ("in q3 2023", [("quarter", "q3 2023", date(2023, 7, 1), date(2023, 9, 30))]),
        ("in 2023 Q4", [("quarter", "2023 Q4", date(2023, 10, 1), date(2023, 12, 31))]),
        (
            "in the first quarter of 2023",
            [("quarter", "the first quarter of 2023", date(2023, 1, 1), date(2023, 3, 31))],
        ),
        ("in 2022", [("year", "2022", date(2022, 1, 1), date(2022, 12, 31))]),
        ("last month", [("relative", "last month", date(2023, 11, 1), date(2023, 11, 30))]),
        ("last week", [("relative", "last week", date(2023, 12, 18), date(2023, 12, 24))]),
    ],
)
def test_times_named_in_text(
    text: str, found: list[tuple[str, str, date | None, date | None]]
) -> None:
    assert read(text) == found


@pytest.mark.parametrize(
    "text",
    [
        "Q3 2023 earnings",
        "revenue in the third quarter of 2023",
        "Q1 of fiscal 2024",
        "GDP growth in q2 2023",
    ],
)
def test_a_quarter_of_figures_is_fiscal(text: str) -> None:
    assert [t.kind for t in find_times(text, REF)] == ["fiscal"]


@pytest.mark.parametrize(
    "text",
    [
        "who scored in the fourth quarter?",  # no year: sport, or fiscal
        "the top receiver for Week 14",  # a season's week
        "the week of the trial",
        "prices in may rise",  # the verb
        "the early decision",
        "a late marching band",
    ],
)
def test_no_time(text: str) -> None:
    assert find_times(text, REF) == []


def test_mentions_do_not_overlap_and_keep_their_place() -> None:
    text = "between the first week of november and mid-December, and on dec 20"
    found = find_times(text, REF)
    assert [t.kind for t in found] == ["week", "part", "day"]
    assert all(a.end <= b.start for a, b in itertools.pairwise(found))
    assert all(text[t.start : t.end] == t.phrase for t in found)
    assert isinstance(found[0], TimeMention)


def test_a_month_without_a_year_is_the_latest_begun_by_the_reference() -> None:
    assert read("in december", reference=date(2024, 3, 1))[0][2] == date(2023, 12, 1)
    assert read("mid-march", reference=date(2024, 3, 1))[0][2:] == (
        date(2024, 3, 10),
        date(2024, 3, 20),
    )
    assert read("the week of dec 11", reference=date(2024, 3, 1))[0][2] == date(2023, 12, 11)
