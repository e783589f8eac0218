"""The one parser of date strings: every date newsbot reads from text is read here.

Each reader keeps its caller's contract; they differ on purpose, by who wrote the text:
- `parse_day` / `optional_day`: a bound a user typed (--since/--until, /ask since: until:,
  /ingest published:): YYYY-MM-DD or a full ISO time, in UTC; a mistake is an `InputError`
  that says what to type.
- `parse_timestamp`: an article's date field (JSON collections, an HTML page's meta tags
  and JSON-LD, trafilatura's date): ISO 8601 or RFC 2822 (as in feeds), to an aware UTC
  datetime; None when unreadable or beyond the calendar, since an article loads without
  its date. `to_utc` is its conversion of an already parsed datetime, and
  `parse_page_time` adds the checks a page's own tags need (templates' placeholders).
- `parse_timestamp_line`: the timestamp lines the cleaner finds in scraped article text
  ("Published 3:04 PM EST, Tue January 9, 2024 | Updated 5:00 PM EST"): many date, clock
  and zone formats, US zones with their daylight saving, in UTC.
- `parse_stored_time`: an ISO time newsbot wrote itself (the feeds file), as stored.

Scraped text is untrusted: no two parts of a pattern here can match the same run of
characters, so each runs in time linear in its input, and a timestamp line is read only
up to `MAX_TIMESTAMP_LINE_CHARS`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from email.utils import parsedate_to_datetime
from typing import Literal, TypeAlias

from retrieval.errors import InputError

# A timestamp line, with both its times and zones, fits easily; longer text is not read.
MAX_TIMESTAMP_LINE_CHARS = 300
# A page's dates before this are template placeholders (0001-01-01), not news.
EARLIEST_PAGE_DATE = datetime(1990, 1, 1, tzinfo=UTC)
_HAS_TIME = re.compile(r"\d[T ]\d{1,2}:\d{2}")

DatedValue: TypeAlias = tuple[datetime, bool]  # (when, whether the source gave a time of day)


# --------------------------------------------------------------------------- typed by users


def parse_day(value: str, *, end_of_day: bool, name: str = "date") -> datetime:
    """Parse YYYY-MM-DD (or a full ISO time) as UTC; a bare day as an upper bound means its
    last moment, so `until 2023-11-30` includes articles of the 30th."""
    text = value.strip()
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise InputError(
            f"{name} {value!r} is not a date: use YYYY-MM-DD, e.g. 2023-11-30."
        ) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    if end_of_day and len(text) <= 10:
        parsed = datetime.combine(parsed.date(), time.max, tzinfo=UTC)
    try:
        return parsed.astimezone(UTC)
    except OverflowError:  # an offset that takes the time past year 1 or 9999 in UTC
        raise InputError(
            f"{name} {value!r} is out of range: use a day between 0001-01-02 and 9999-12-30."
        ) from None


def optional_day(value: str | None, *, end_of_day: bool, name: str = "date") -> datetime | None:
    """`parse_day` for an option that may be left out (None or empty: no bound)."""
    return parse_day(value, end_of_day=end_of_day, name=name) if value else None


# --------------------------------------------------------------------------- article fields


def parse_timestamp(value: str | None) -> datetime | None:
    """ISO-8601 (or RFC 2822, as in feeds) to an aware UTC datetime; naive means UTC."""
    if not value or not value.strip():
        return None
    value = value.strip()
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        try:
            parsed = parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError, OverflowError):  # Overflow: a huge year
            return None
    return to_utc(parsed)


def to_utc(value: datetime | None) -> datetime | None:
    """`value` in UTC (naive means UTC already); None if UTC is out of datetime's range, as
    for a template's placeholder 0001-01-01T00:00:00+01:00."""
    if value is None:
        return None
    if value.tzinfo is None or value.utcoffset() is None:
        return value.replace(tzinfo=UTC)
    try:
        return value.astimezone(UTC)
    except OverflowError:
        return None


def parse_page_time(value: object) -> DatedValue | None:
    """A page's own date (a meta tag's or JSON-LD's), with whether it gives a time of day;
    None unless it is a plausible publication time (from 1990 to two days from now)."""
    if not isinstance(value, str):
        return None
    parsed = parse_timestamp(value)
    # Templates fill unset dates with placeholders such as 0001-01-01.
    if parsed is None or not EARLIEST_PAGE_DATE <= parsed <= datetime.now(UTC) + timedelta(days=2):
        return None
    return parsed, bool(_HAS_TIME.search(value))


# --------------------------------------------------------------------------- stored by newsbot


def parse_stored_time(value: object) -> datetime | None:
    """An ISO time newsbot stored itself (None, or empty, for none), exactly as written."""
    return datetime.fromisoformat(value) if isinstance(value, str) and value else None


# --------------------------------------------------------------------------- timestamp lines

# (standard offset, follows US daylight saving): "ET" means EST or EDT depending on the date.
_Zone: TypeAlias = tuple[timedelta, bool]


def _h(hours: float) -> timedelta:
    return timedelta(hours=hours)


_ZONES: dict[str, _Zone] = {
    "GMT": (_h(0), False),
    "UTC": (_h(0), False),
    "UT": (_h(0), False),
    "Z": (_h(0), False),
    "EST": (_h(-5), False),
    "EDT": (_h(-4), False),
    "ET": (_h(-5), True),
    "CST": (_h(-6), False),  # US Central, as English-language news means it
    "CDT": (_h(-5), False),
    "CT": (_h(-6), True),
    "MST": (_h(-7), False),
    "MDT": (_h(-6), False),
    "MT": (_h(-7), True),
    "PST": (_h(-8), False),
    "PDT": (_h(-7), False),
    "PT": (_h(-8), True),
    "CET": (_h(1), False),
    "CEST": (_h(2), False),
    "BST": (_h(1), False),
    "EET": (_h(2), False),
    "EEST": (_h(3), False),
    "MSK": (_h(3), False),
    "JST": (_h(9), False),
    "KST": (_h(9), False),
    "HKT": (_h(8), False),
    "SGT": (_h(8), False),
    "AEST": (_h(10), False),
    "AEDT": (_h(11), False),
}

_MONTHS = {
    "jan": 1,
    "feb": 2,
    "mar": 3,
    "apr": 4,
    "may": 5,
    "jun": 6,
    "jul": 7,
    "aug": 8,
    "sep": 9,
    "oct": 10,
    "nov": 11,
    "dec": 12,
}
_MONTH = (
    r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?"
    r"|sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)\b\.?"
)
_OFFSET = r"[+-]\d{2}:?\d{2}"
_ISO_RE = re.compile(
    r"\b(\d{4})-(\d{2})-(\d{2})"
    r"(?:(?:T|\s+)(\d{1,2}):(\d{2})(?::(\d{2})(?:\.\d+)?)?(?:\s*(Z|" + _OFFSET + r")\b)?)?"
)
_DOTTED_RE = re.compile(r"\b(\d{1,2})\.(\d{1,2})\.(\d{4})\b")
_SLASHED_RE = re.compile(r"\b(\d{1,4})/(\d{1,2})/(\d{2,4})\b")
_MDY_RE = re.compile(rf"\b({_MONTH})\s+(\d{{1,2}})(?:st|nd|rd|th)?\b,?\s*(\d{{4}})\b", re.I)
_DMY_RE = re.compile(rf"\b(\d{{1,2}})(?:st|nd|rd|th)?\s+(?:of\s+)?({_MONTH}),?\s*(\d{{4}})\b", re.I)
_CLOCK_RE = re.compile(
    r"\b(\d{1,2})(?:[:.](\d{2})(?::(\d{2}))?\s*(?:([ap])\.?\s?m\b\.?)?|\s*([ap])\.?\s?m\b\.?)",
    re.I,
)
_ZONE_RE = re.compile(
    r"\b(?:(?P<base>GMT|UTC)\s*(?P<off>[+-]\d{1,2}(?::?\d{2})?)?"
    r"|(?P<name>" + "|".join(sorted((z for z in _ZONES if z != "Z"), key=len, reverse=True)) + r"))"
    r"\b|(?<![\w:+-])(?P<bare>" + _OFFSET + r")\b"
)
_RELATIVE_RE = re.compile(
    r"\b\d+\s*(?:sec(?:ond)?|min(?:ute)?|h(?:ou)?r|day|week|month|year)s?\.?\s+ago\b", re.I
)
_STAMP_FILLER_RE = re.compile(
    r"\b(?:mon(?:day)?|tue(?:s(?:day)?)?|wed(?:nesday)?|thu(?:r(?:s(?:day)?)?)?|fri(?:day)?"
    r"|sat(?:urday)?|sun(?:day)?|on|at|local|time|date)\b",
    re.I,
)
# Splits "17:45 GMT 26.01.2022 (Updated: 18:14 GMT 26.01.2022)" into a published part and an
# updated part; text before any keyword is the published time.
_STAMP_KEYWORD_RE = re.compile(
    r"\b(?:(?:first\s+)?(?P<pub>published|posted|created|issued)"
    r"|(?:last\s+)?(?P<upd>updated|modified|edited|revised))\b(?:\s+(?:on|at))?\s*:?",
    re.I,
)


@dataclass(slots=True)
class _StampParts:
    day: date | None = None
    clock: tuple[int, int, int] | None = None
    zone: _Zone | None = None


@dataclass(frozen=True, slots=True)
class TimestampLine:
    """The times a timestamp line gives, in UTC, and whether each had a time of day."""

    published: datetime | None
    published_timed: bool
    updated: datetime | None
    updated_timed: bool
    keyword: bool  # the line said Published/Updated/...


def _has_alnum(text: str) -> bool:
    return any(ch.isalnum() for ch in text)


def _mask(text: str, m: re.Match[str]) -> str:
    return text[: m.start()] + " " * (m.end() - m.start()) + text[m.end() :]


def _make_date(year: int, month: int, day: int) -> date | None:
    if year < 100:
        year += 2000
    if not 1900 <= year <= 2199:
        return None  # not a news date; also keeps the UTC conversion clear of datetime's bounds
    try:
        return date(year, month, day)
    except ValueError:
        return None


def _offset(text: str) -> timedelta:
    sign = -1 if text[0] == "-" else 1
    digits = text[1:].replace(":", "")
    hours, minutes = (int(digits[:-2]), int(digits[-2:])) if len(digits) > 2 else (int(digits), 0)
    return sign * timedelta(hours=hours, minutes=minutes)


def _match_day(m: re.Match[str], pattern: re.Pattern[str]) -> date | None:
    if pattern is _ISO_RE:
        return _make_date(int(m[1]), int(m[2]), int(m[3]))
    if pattern is _DOTTED_RE:
        first, second, year = int(m[1]), int(m[2]), int(m[3])
        # Dotted dates are European (day first) unless that cannot be.
        return _make_date(year, first, second) if second > 12 else _make_date(year, second, first)
    if pattern is _SLASHED_RE:
        a, b, c = int(m[1]), int(m[2]), int(m[3])
        if len(m[1]) == 4:
            return _make_date(a, b, c)
        # Ambiguous slashed dates are read US-style (month first), as most English news is.
        return _make_date(c, b, a) if a > 12 else _make_date(c, a, b)
    if pattern is _MDY_RE:
        return _make_date(int(m[3]), _MONTHS[m[1][:3].casefold()], int(m[2]))
    return _make_date(int(m[3]), _MONTHS[m[2][:3].casefold()], int(m[1]))


def _scan(text: str) -> tuple[_StampParts, str]:
    """Finds a date, a clock time and a zone in `text`; returns them and what is left over."""
    parts = _StampParts()
    for pattern in (_ISO_RE, _DOTTED_RE, _SLASHED_RE, _MDY_RE, _DMY_RE):
        for m in pattern.finditer(text):
            day = _match_day(m, pattern)
            if day is None:
                continue
            if parts.day is None:
                parts.day = day
                if pattern is _ISO_RE and m[4] is not None:
                    parts.clock = (int(m[4]), int(m[5]), int(m[6] or 0))
                    if m[7]:
                        parts.zone = _ZONES["Z"] if m[7] == "Z" else (_offset(m[7]), False)
            text = _mask(text, m)
    for m in _CLOCK_RE.finditer(text):
        hour, minute, second = int(m[1]), int(m[2] or 0), int(m[3] or 0)
        meridiem = (m[4] or m[5] or "").casefold()
        if meridiem:
            if not 1 <= hour <= 12:
                continue
            hour = hour % 12 + (12 if meridiem == "p" else 0)
        if hour > 23 or minute > 59 or second > 59:
            continue
        if parts.clock is None:
            parts.clock = (hour, minute, second)
        text = _mask(text, m)
    for m in _ZONE_RE.finditer(text):
        if parts.zone is None:
            if m["base"]:
                parts.zone = (_offset(m["off"]) if m["off"] else timedelta(0), False)
            elif m["name"]:
                parts.zone = _ZONES[m["name"]]
            else:
                parts.zone = (_offset(m["bare"]), False)
        text = _mask(text, m)
    for m in _RELATIVE_RE.finditer(text):
        text = _mask(text, m)
    return parts, text


def _us_daylight(local: datetime) -> bool:
    """US daylight saving (rules since 2007): second Sunday of March to first Sunday of
    November, 02:00 local."""
    march = date(local.year, 3, 1)
    start = march + timedelta(days=(6 - march.weekday()) % 7 + 7)
    november = date(local.year, 11, 1)
    end = november + timedelta(days=(6 - november.weekday()) % 7)
    return datetime.combine(start, time(2)) <= local < datetime.combine(end, time(2))


def _to_utc(day: date, clock: tuple[int, int, int] | None, zone: _Zone | None) -> datetime:
    local = datetime.combine(day, time(*clock) if clock else time(0))
    # Without a zone the time is taken as UTC: there is nothing better to go on.
    offset, us_dst = zone or (timedelta(0), False)
    if us_dst and _us_daylight(local):
        offset += timedelta(hours=1)
    return (local - offset).replace(tzinfo=UTC)


def parse_timestamp_line(
    text: str, *, strict: bool, default: Literal["published", "updated"] = "published"
) -> TimestampLine | None:
    """Published/updated times of a scraped timestamp line (`default`: what a time before
    any keyword is), in UTC; None when it holds none. With `strict`, the line must be
    nothing but dates, times, zones and their keywords, else it is not a timestamp line.
    Text over `MAX_TIMESTAMP_LINE_CHARS` is not read."""
    if len(text) > MAX_TIMESTAMP_LINE_CHARS:
        return None
    label = "upd" if default == "updated" else "pub"
    segments: list[tuple[str, str]] = []
    pos, keyword = 0, False
    for m in _STAMP_KEYWORD_RE.finditer(text):
        segments.append((label, text[pos : m.start()]))
        label, pos, keyword = ("upd" if m["upd"] else "pub"), m.end(), True
    segments.append((label, text[pos:]))

    scanned: list[tuple[str, _StampParts]] = []
    leftover: list[str] = []
    for seg_label, segment in segments:
        parts, rest = _scan(segment)
        scanned.append((seg_label, parts))
        leftover.append(rest)
    if strict and _has_alnum(_STAMP_FILLER_RE.sub(" ", " ".join(leftover))):
        return None
    days = [p.day for _, p in scanned if p.day is not None]
    timed = any(p.clock is not None for _, p in scanned)
    if not days and not (keyword and timed):
        return None

    # A part that gives only a time ("Updated 6:14 PM") shares the other part's date and zone.
    zones = [p.zone for _, p in scanned if p.zone is not None]
    found: dict[str, tuple[datetime, bool]] = {}
    for seg_label, parts in scanned:
        if seg_label in found or (parts.day is None and parts.clock is None) or not days:
            continue
        day = parts.day or days[0]
        zone = parts.zone or (zones[0] if zones else None)
        found[seg_label] = (_to_utc(day, parts.clock, zone), parts.clock is not None)
    pub, upd = found.get("pub"), found.get("upd")
    return TimestampLine(
        published=pub[0] if pub else None,
        published_timed=bool(pub and pub[1]),
        updated=upd[0] if upd else None,
        updated_timed=bool(upd and upd[1]),
        keyword=keyword,
    )
