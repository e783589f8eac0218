"""The one parser of date strings (retrieval/dates.py): each reader's formats, time zones
and refusals, as its callers rely on them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from retrieval.dates import (
    MAX_TIMESTAMP_LINE_CHARS,
    optional_day,
    parse_day,
    parse_page_time,
    parse_stored_time,
    parse_timestamp,
    parse_timestamp_line,
    to_utc,
)
from retrieval.errors import InputError
from tests.pathological import finishes


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


# --------------------------------------------------------------------------- typed by users


@pytest.mark.parametrize(
    ("value", "end_of_day", "expected"),
    [
        ("2023-11-30", False, utc(2023, 11, 30)),
        (" 2023-11-30 ", False, utc(2023, 11, 30)),
        ("2023-11-30", True, datetime(2023, 11, 30, 23, 59, 59, 999999, tzinfo=UTC)),
        ("2023-11-30T10:00:00+02:00", True, utc(2023, 11, 30, 8)),
        ("2023-11-30T10:00", False, utc(2023, 11, 30, 10)),
    ],
)
def test_parse_day_reads_days_and_iso_times_as_utc(
    value: str, end_of_day: bool, expected: datetime
) -> None:
    assert parse_day(value, end_of_day=end_of_day) == expected


def test_parse_day_names_the_option_when_it_is_not_a_date() -> None:
    with pytest.raises(InputError) as caught:
        parse_day("last week", end_of_day=False, name="since")
    assert caught.value.user_message == (
        "since 'last week' is not a date: use YYYY-MM-DD, e.g. 2023-11-30."
    )


@pytest.mark.parametrize("value", ["9999-12-31T23:59:59-01:00", "0001-01-01T00:00:00+01:00"])
def test_parse_day_refuses_times_beyond_the_calendar_in_utc(value: str) -> None:
    with pytest.raises(InputError) as caught:
        parse_day(value, end_of_day=True, name="--until")
    assert caught.value.user_message == (
        f"--until {value!r} is out of range: use a day between 0001-01-02 and 9999-12-30."
    )


def test_optional_day_is_no_bound_when_left_out() -> None:
    assert optional_day(None, end_of_day=False) is None
    assert optional_day("", end_of_day=True) is None
    assert optional_day("2023-11-30", end_of_day=False) == utc(2023, 11, 30)


# --------------------------------------------------------------------------- article fields


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2023-11-27T08:45:59Z", datetime(2023, 11, 27, 8, 45, 59, tzinfo=UTC)),
        ("2023-11-27T08:45:59", datetime(2023, 11, 27, 8, 45, 59, tzinfo=UTC)),
        ("2023-11-27T10:45:59+02:00", datetime(2023, 11, 27, 8, 45, 59, tzinfo=UTC)),
        ("2023-11-27", datetime(2023, 11, 27, tzinfo=UTC)),
        ("Mon, 27 Nov 2023 08:45:59 GMT", datetime(2023, 11, 27, 8, 45, 59, tzinfo=UTC)),
        ("Mon, 27 Nov 2023 10:45:59 +0200", datetime(2023, 11, 27, 8, 45, 59, tzinfo=UTC)),
    ],
)
def test_parse_timestamp_reads_iso_and_rfc_2822_as_aware_utc(
    value: str, expected: datetime
) -> None:
    parsed = parse_timestamp(value)
    assert parsed == expected
    assert parsed is not None
    assert parsed.utcoffset() == timedelta(0)


@pytest.mark.parametrize(
    "value",
    [
        None,
        "",
        "   ",
        "last Tuesday",
        "0001-01-01T00:00:00+01:00",  # before year 1 once in UTC
        "9999-12-31T23:30:00-05:00",  # after year 9999
        "Mon, 01 Jan 99999999999999999999 00:00:00 +0100",
        "Mon, 01 Jan 2020 99:99:99 +9999",
    ],
)
def test_parse_timestamp_is_none_for_what_it_cannot_read(value: str | None) -> None:
    assert parse_timestamp(value) is None


def test_to_utc_takes_naive_times_as_utc() -> None:
    assert to_utc(None) is None
    assert to_utc(datetime(2024, 1, 9, 12)) == utc(2024, 1, 9, 12)
    assert to_utc(datetime(2024, 1, 9, 12, tzinfo=UTC) + timedelta(hours=0)) == utc(2024, 1, 9, 12)


def test_parse_page_time_says_whether_the_page_gave_a_time_of_day() -> None:
    assert parse_page_time("2023-11-27T10:45:59+02:00") == (
        utc(2023, 11, 27, 8, 45) + timedelta(seconds=59),
        True,
    )
    assert parse_page_time("2023-11-27") == (utc(2023, 11, 27), False)


@pytest.mark.parametrize(
    "value",
    [None, 42, "0001-01-01T00:00:00+05:00", "1989-12-31", "not a date", "2999-01-01"],
)
def test_parse_page_time_ignores_placeholders_and_implausible_dates(value: object) -> None:
    assert parse_page_time(value) is None


# --------------------------------------------------------------------------- stored by newsbot


def test_parse_stored_time_reads_what_newsbot_wrote() -> None:
    when = datetime(2024, 1, 9, 12, 30, tzinfo=UTC)
    assert parse_stored_time(when.isoformat()) == when
    assert parse_stored_time(None) is None
    assert parse_stored_time("") is None
    assert parse_stored_time(17) is None


# --------------------------------------------------------------------------- timestamp lines


@pytest.mark.parametrize(
    ("line", "published", "updated"),
    [
        (
            "17:45 GMT 26.01.2022 (Updated: 18:14 GMT 26.01.2022)",
            utc(2022, 1, 26, 17, 45),
            utc(2022, 1, 26, 18, 14),
        ),
        (
            "Published 3:04 PM EST, Tue January 9, 2024 | Updated 5:00 PM EST, Tue January 9, 2024",
            utc(2024, 1, 9, 20, 4),
            utc(2024, 1, 9, 22, 0),
        ),
        ("Updated: Jan 26, 2022, 6:14 p.m. ET", None, utc(2022, 1, 26, 23, 14)),
        # ET follows US daylight saving: EDT in July.
        ("Updated: Jul 4, 2022, 6:14 p.m. ET", None, utc(2022, 7, 4, 22, 14)),
        (
            "Published 2022-01-26T17:45:00Z, updated 2022-01-26T19:14:00+01:00",
            utc(2022, 1, 26, 17, 45),
            utc(2022, 1, 26, 18, 14),
        ),
        (
            "Published 26 July 2023 09:30 BST, last updated 26 July 2023 10:00 BST",
            utc(2023, 7, 26, 8, 30),
            utc(2023, 7, 26, 9, 0),
        ),
        (
            "Posted Jan. 26, 2022 9:45 a.m. PST | Updated 11:05 a.m.",
            utc(2022, 1, 26, 17, 45),
            utc(2022, 1, 26, 19, 5),
        ),
        ("Wed 26 Jan 2022 18.14 CET", utc(2022, 1, 26, 17, 14), None),
        ("Published: 26/01/2022 10:00 CEST", utc(2022, 1, 26, 8, 0), None),
    ],
)
def test_timestamp_lines_become_utc_dates(
    line: str, published: datetime | None, updated: datetime | None
) -> None:
    stamp = parse_timestamp_line(line, strict=True)
    assert stamp is not None
    assert (stamp.published, stamp.updated) == (published, updated)


def test_a_timestamp_line_says_whether_it_named_its_times() -> None:
    keyword = parse_timestamp_line("Published January 9, 2024", strict=True)
    bare = parse_timestamp_line("January 9, 2024 3:04 PM", strict=True)
    assert keyword is not None and (keyword.keyword, keyword.published_timed) == (True, False)
    assert bare is not None and (bare.keyword, bare.published_timed) == (False, True)


def test_a_field_value_is_read_as_the_field_it_came_from() -> None:
    stamp = parse_timestamp_line("Jan 26, 2022", strict=False, default="updated")
    assert stamp is not None
    assert (stamp.published, stamp.updated) == (None, utc(2022, 1, 26))


def test_strict_reading_refuses_sentences_with_dates() -> None:
    line = "The guidance was updated on Jan. 26, 2022, officials said."
    assert parse_timestamp_line(line, strict=True) is None
    assert parse_timestamp_line(line, strict=False) is not None


def test_long_text_is_not_read_for_dates() -> None:
    line = "Published January 9, 2024" + " " * MAX_TIMESTAMP_LINE_CHARS
    assert parse_timestamp_line(line, strict=False) is None


@pytest.mark.parametrize(
    "shape", ["1" * 290, "1 " * 145, "1:" * 145, "Jan " * 70, "+00:" * 70, "GMT+1" * 55]
)
def test_hostile_lines_are_read_in_linear_time(shape: str) -> None:
    def read_many() -> None:
        for _ in range(1000):
            parse_timestamp_line(shape, strict=True)

    finishes("reading dates", read_many)
