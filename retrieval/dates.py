"""Dates given by users (--since/--until, /ask since: until:)."""

from __future__ import annotations

from datetime import UTC, datetime, time

from retrieval.errors import InputError


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
