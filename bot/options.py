"""Command options as users type them, read with errors that say what to type instead."""

from __future__ import annotations

from datetime import datetime

from retrieval.dates import parse_day
from retrieval.errors import InputError


def day_option(value: str | None, *, end_of_day: bool, name: str) -> datetime | None:
    """A day option (YYYY-MM-DD or an ISO time), or None when it was not given."""
    if not value:
        return None
    try:
        return parse_day(value, end_of_day=end_of_day, name=name)
    except OverflowError:  # a time whose offset takes it past year 1 or 9999 in UTC
        raise InputError(
            f"{name} {value!r} is out of range: use a day between 0001-01-02 and 9999-12-30."
        ) from None
