"""Per-server quotas on the commands that make the bot work hardest, so that one server's
admins cannot use it up for every server."""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable

from retrieval.errors import NewsbotError

HOUR = 3600.0


class QuotaError(NewsbotError):
    """A server has reached one of its limits; says which, and when to try again."""


def _wait_text(seconds: float) -> str:
    if seconds < 60:
        return f"{max(1, math.ceil(seconds))} s"
    return f"{math.ceil(seconds / 60)} min"


class HourlyQuota:
    """At most `limit` uses of the command `what` per server in any hour (a sliding window)."""

    def __init__(self, limit: int, what: str, clock: Callable[[], float] = time.monotonic) -> None:
        self._limit = limit
        self._what = what
        self._clock = clock
        self._uses: dict[int, deque[float]] = {}

    def check(self, server_id: int) -> None:
        """Record a use by `server_id`, or raise `QuotaError` if it has none left."""
        now = self._clock()
        uses = self._uses.setdefault(server_id, deque())
        while uses and now - uses[0] >= HOUR:
            uses.popleft()
        if len(uses) >= self._limit:
            times = "once" if self._limit == 1 else f"{self._limit} times"
            raise QuotaError(
                f"This server may use {self._what} at most {times} an hour: "
                f"try again in {_wait_text(uses[0] + HOUR - now)}."
            )
        uses.append(now)


def check_feed_count(followed: int, limit: int) -> None:
    """Refuse one more feed to a server that follows `followed` already."""
    if followed >= limit:
        raise QuotaError(
            f"This server follows {followed} feeds and may follow at most {limit}: "
            "remove one with `/feeds remove` first."
        )
