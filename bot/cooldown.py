"""A per-user cooldown shared by /ask and mentions, so one user cannot flood either."""

from __future__ import annotations

import math
import time
from collections.abc import Callable

from retrieval.errors import NewsbotError


class CooldownError(NewsbotError):
    def __init__(self, retry_after: float) -> None:
        seconds = max(1, math.ceil(retry_after))
        super().__init__(f"You're asking too fast: try again in {seconds} s.")
        self.retry_after = retry_after


class UserCooldown:
    def __init__(self, seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._seconds = seconds
        self._clock = clock
        self._last: dict[int, float] = {}

    def check(self, user_id: int) -> None:
        """Record a use by `user_id`, or raise `CooldownError` if it comes too soon."""
        if self._seconds <= 0:
            return
        now = self._clock()
        last = self._last.get(user_id)
        if last is not None and now - last < self._seconds:
            raise CooldownError(self._seconds - (now - last))
        self._last[user_id] = now
        if len(self._last) > 10_000:  # forget users whose cooldown is long over
            self._last = {u: t for u, t in self._last.items() if now - t < self._seconds}
