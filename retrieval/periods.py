"""The times a text names, read against a reference day: days ("Oct 5", "2023-10-05"),
weeks ("the week of Dec 11", "the first week of November 2023"), parts of months
("mid-December", "early November", "the end of October"), months ("December 2023",
"in December"), quarters ("Q3 2023", "the third quarter of 2023"), years ("in 2023") and
relative periods ("last week", "the past 3 days").

Parsing only, case-insensitive: whether a time restricts a search or only ranks its articles
first is the policy of retrieval/query_understanding.py. A date without a year is the latest
such date not after the reference (the newest article), so an old corpus still reads
"in December" as its own December.

A quarter named as the period of a figure ("Q3 2023 earnings", "revenue in the third quarter
of 2023") is reported after it ends, so it is returned as kind "fiscal": not a time of
publication. A quarter without a year ("the fourth quarter", mostly sport or fiscal) is no
time at all.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

MONTHS: dict[str, int] = {
    name: i
    for i in range(1, 13)
    for name in (calendar.month_name[i].lower(), calendar.month_abbr[i].lower())
}
MONTHS["sept"] = 9

# Kinds of mention, finest first. "fiscal" is a quarter of figures, not of publication.
KINDS = ("day", "week", "part", "month", "quarter", "year", "relative", "fiscal")


def _month(group: str) -> str:
    return rf"(?P<{group}>" + "|".join(sorted(MONTHS, key=len, reverse=True)) + r")\.?"


def _day(group: str) -> str:
    return rf"(?P<{group}>\d{{1,2}})(?:st|nd|rd|th)?"


def _year(group: str) -> str:
    return rf"(?P<{group}>(?:19|20)\d{{2}})"


_MONTH = _month("month")
_DAY = _day("day")
_YEAR = _year("year")
_OPT_YEAR = rf"(?:,?\s+{_YEAR})?"

_DATE_PATTERNS = (
    re.compile(rf"\b{_MONTH}\s+{_DAY}(?:,?\s+{_YEAR})?\b", re.IGNORECASE),
    re.compile(rf"\b{_DAY}\s+(?:of\s+)?{_MONTH}(?:,?\s+{_YEAR})?\b", re.IGNORECASE),
    re.compile(r"\b(?P<iso>(?:19|20)\d{2}-\d{2}-\d{2})\b"),
)
# "the week of Dec 11", "the week of 11 December 2023": the Monday-to-Sunday week of that day.
_WEEK_OF_DAY = re.compile(
    rf"\b(?:the\s+)?week\s+of\s+(?:{_MONTH}\s+{_DAY}|{_day('day2')}\s+(?:of\s+)?{_month('month2')})"
    rf"{_OPT_YEAR}(?![\w-])",
    re.IGNORECASE,
)
# "the first week of November (2023)": days 1-7, 8-14, 15-21, 22-28, or the month's last 7.
_NTH_WEEK = re.compile(
    r"\b(?:the\s+)?(?P<nth>first|1st|second|2nd|third|3rd|fourth|4th|last|final)\s+week\s+"
    rf"(?:of|in)\s+{_MONTH}{_OPT_YEAR}(?![\w-])",
    re.IGNORECASE,
)
_NTH = {
    "first": 1,
    "1st": 1,
    "second": 2,
    "2nd": 2,
    "third": 3,
    "3rd": 3,
    "fourth": 4,
    "4th": 4,
    "last": -1,
    "final": -1,
}
# "mid-December", "early November 2023", "late Oct"; "the end of October".
_PART = re.compile(
    rf"(?<![\w-])(?P<part>mid|early|late)(?:\s*-\s*|\s+){_MONTH}{_OPT_YEAR}(?![\w-])"
    rf"|\b(?:the\s+)?(?P<part2>beginning|start|middle|end)\s+of\s+{_month('month2')}"
    rf"(?:,?\s+{_year('year2')})?(?![\w-])",
    re.IGNORECASE,
)
# Days of a month each part covers (the last part runs to the month's end).
_PARTS = {
    "early": (1, 10),
    "beginning": (1, 10),
    "start": (1, 10),
    "mid": (10, 20),
    "middle": (10, 20),
    "late": (21, 31),
    "end": (21, 31),
}
_QUARTER = re.compile(
    r"\b(?:the\s+)?(?:q(?P<qn>[1-4])|(?P<qord>first|1st|second|2nd|third|3rd|fourth|4th|final)"
    r"\s+quarter)\s*(?:of\s+|in\s+)?(?P<fiscal>fiscal\s+(?:year\s+)?|fy\s*)?['’]?"
    rf"{_YEAR}\b"
    r"|\b(?P<year2>(?:19|20)\d{2})\s*q(?P<qn2>[1-4])\b",
    re.IGNORECASE,
)
_QUARTER_NUMBER = {"first": 1, "1st": 1, "second": 2, "2nd": 2, "third": 3, "3rd": 3}
_QUARTER_NUMBER.update({"fourth": 4, "4th": 4, "final": 4})
# Words of figures reported for a quarter after it ends.
_FISCAL_WORDS = re.compile(
    r"\b(?:earnings|revenues?|results|profits?|profitab\w*|loss(?:es)?|sales|income|"
    r"guidance|eps|ebitda|margins?|fiscal|fy\d*|quarterly|dividends?|financials|turnover|"
    r"deliveries|shipments|gdp|growth|figures)\b",
    re.IGNORECASE,
)
_PERIOD_CUE = r"(?P<pre>in|during|throughout|since|until|before|after)\s+"
_MONTH_YEAR = re.compile(rf"\b{_MONTH}\s*,?\s+{_YEAR}\b", re.IGNORECASE)
_MONTH_ALONE = re.compile(rf"\b{_PERIOD_CUE}{_MONTH}(?![\w-])", re.IGNORECASE)
_YEAR_ALONE = re.compile(rf"\b{_PERIOD_CUE}{_YEAR}\b", re.IGNORECASE)
_RELATIVE = re.compile(
    r"\b(?P<rel>today|yesterday|"
    r"(?:this|last|past)\s+(?:week|month|year)|"
    r"(?:in\s+)?the\s+(?:past|last)\s+(?P<n>\d{1,3}|few|couple\s+of)?\s*"
    r"(?P<unit>days?|weeks?|months?)|"
    r"(?:last|past)\s+(?P<n2>\d{1,3})\s+(?P<unit2>days?|weeks?|months?))\b",
    re.IGNORECASE,
)


@dataclass(frozen=True, slots=True)
class TimeMention:
    """A time named in a text: [since, until] in UTC (either may be open) and where it is."""

    start: int
    end: int
    since: datetime | None
    until: datetime | None
    kind: str  # one of KINDS
    phrase: str


def day_range(d: date) -> tuple[datetime, datetime]:
    return datetime.combine(d, time.min, tzinfo=UTC), datetime.combine(d, time.max, tzinfo=UTC)


def days_range(first: date, last: date) -> tuple[datetime, datetime]:
    return day_range(first)[0], day_range(last)[1]


def month_range(year: int, month: int) -> tuple[datetime, datetime]:
    last = calendar.monthrange(year, month)[1]
    return days_range(date(year, month, 1), date(year, month, last))


def _year_for_day(month: int, day: int, reference: date) -> int:
    """A date without a year is the latest such date not after the reference."""
    year = reference.year
    try:
        if date(year, month, day) > reference:
            year -= 1
    except ValueError:
        pass
    return year


def _year_for_month(month: int, reference: date) -> int:
    """A month without a year is the latest such month that has begun by the reference."""
    return reference.year if month <= reference.month else reference.year - 1


def _month_of(text: str) -> int:
    return MONTHS[text.lower().rstrip(".")]


def find_times(text: str, reference: date) -> list[TimeMention]:
    """The times a text names, without overlap, in order of appearance."""
    found: list[TimeMention] = []

    def free(s: int, e: int) -> bool:
        return all(e <= m.start or s >= m.end for m in found)

    def add(s: int, e: int, rng: tuple[datetime, datetime] | None, kind: str) -> None:
        if rng is not None and free(s, e):
            found.append(TimeMention(s, e, rng[0], rng[1], kind, text[s:e]))

    for m in _WEEK_OF_DAY.finditer(text):
        add(*m.span(), _week_of_day(m, reference), "week")
    for m in _NTH_WEEK.finditer(text):
        add(*m.span(), _nth_week(m, reference), "week")
    for m in _PART.finditer(text):
        add(*m.span(), _part(m, reference), "part")
    for m in _QUARTER.finditer(text):
        year = int(m.group("year") or m.group("year2"))
        qn = m.group("qn") or m.group("qn2")
        quarter = int(qn) if qn else _QUARTER_NUMBER[m.group("qord").lower()]
        first = 3 * (quarter - 1) + 1
        rng = month_range(year, first)[0], month_range(year, first + 2)[1]
        fiscal = bool(m.group("fiscal")) or bool(_FISCAL_WORDS.search(text))
        add(*m.span(), rng, "fiscal" if fiscal else "quarter")
    for pattern in _DATE_PATTERNS:
        for m in pattern.finditer(text):
            add(*m.span(), _day_of(m, reference), "day")
    for m in _MONTH_YEAR.finditer(text):
        add(*m.span(), month_range(int(m.group("year")), _month_of(m.group("month"))), "month")
    for m in _MONTH_ALONE.finditer(text):
        if m.group("month") == "may":
            continue  # "in may" is the verb; the month is written "May"
        month = _month_of(m.group("month"))
        add(
            m.start("month"),
            m.end(),
            month_range(_year_for_month(month, reference), month),
            "month",
        )
    for m in _YEAR_ALONE.finditer(text):
        year = int(m.group("year"))
        add(m.start("year"), m.end(), (month_range(year, 1)[0], month_range(year, 12)[1]), "year")
    for m in _RELATIVE.finditer(text):
        add(*m.span(), _relative(m, reference), "relative")
    return sorted(found, key=lambda t: t.start)


def _day_of(m: re.Match[str], reference: date) -> tuple[datetime, datetime] | None:
    try:
        if m.groupdict().get("iso"):
            return day_range(date.fromisoformat(m.group("iso")))
        month = _month_of(m.group("month"))
        dnum = int(m.group("day"))
        year = int(m.group("year")) if m.group("year") else _year_for_day(month, dnum, reference)
        return day_range(date(year, month, dnum))
    except ValueError:
        return None


def _week_of_day(m: re.Match[str], reference: date) -> tuple[datetime, datetime] | None:
    month = _month_of(m.group("month") or m.group("month2"))
    dnum = int(m.group("day") or m.group("day2"))
    year = int(m.group("year")) if m.group("year") else _year_for_day(month, dnum, reference)
    try:
        d = date(year, month, dnum)
    except ValueError:
        return None
    monday = d - timedelta(days=d.weekday())
    return days_range(monday, monday + timedelta(days=6))


def _nth_week(m: re.Match[str], reference: date) -> tuple[datetime, datetime]:
    month = _month_of(m.group("month"))
    year = int(m.group("year")) if m.group("year") else _year_for_month(month, reference)
    last = calendar.monthrange(year, month)[1]
    nth = _NTH[m.group("nth").lower()]
    first = last - 6 if nth < 0 else 7 * (nth - 1) + 1
    return days_range(date(year, month, first), date(year, month, min(first + 6, last)))


def _part(m: re.Match[str], reference: date) -> tuple[datetime, datetime]:
    month = _month_of(m.group("month") or m.group("month2"))
    year_text = m.group("year") or m.group("year2")
    year = int(year_text) if year_text else _year_for_month(month, reference)
    lo, hi = _PARTS[(m.group("part") or m.group("part2")).lower()]
    last = calendar.monthrange(year, month)[1]
    return days_range(date(year, month, lo), date(year, month, min(hi, last)))


def _relative(m: re.Match[str], reference: date) -> tuple[datetime, datetime] | None:
    rel = " ".join(m.group("rel").lower().split())
    end = day_range(reference)[1]
    if rel == "today":
        return day_range(reference)
    if rel == "yesterday":
        return day_range(reference - timedelta(days=1))
    word = rel.split()
    if word[0] in {"this", "last"} and len(word) == 2:
        unit = word[1]
        if word[0] == "this":
            if unit == "week":
                start = reference - timedelta(days=reference.weekday())
            elif unit == "month":
                start = reference.replace(day=1)
            else:
                start = reference.replace(month=1, day=1)
            return day_range(start)[0], end
        # "last week/month/year": the previous calendar one.
        if unit == "week":
            monday = reference - timedelta(days=reference.weekday() + 7)
            return days_range(monday, monday + timedelta(days=6))
        if unit == "month":
            prev = reference.replace(day=1) - timedelta(days=1)
            return month_range(prev.year, prev.month)
        return days_range(date(reference.year - 1, 1, 1), date(reference.year - 1, 12, 31))
    # "past week", "the last 3 days", "in the past few weeks": rolling, up to the reference.
    n_text = (m.group("n") or m.group("n2") or "").lower()
    unit = (m.group("unit") or m.group("unit2") or (word[1] if len(word) > 1 else "")).lower()
    n = int(n_text) if n_text.isdigit() else (3 if n_text in {"few", "couple of"} else 1)
    if n_text == "couple of":
        n = 2
    days = {"day": 1, "week": 7, "month": 30, "year": 365}[unit.rstrip("s")] * n
    return day_range(reference - timedelta(days=days))[0], end
