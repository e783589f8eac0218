"""A guard against runaway work on hostile input, not a speed benchmark.

The inputs these guard are shaped so that the patterns and loops they once broke (backtracking
over runs of spaces or comments, quadratic rescans) take minutes; correct code takes
milliseconds. The bound is far above any noisy machine's time for the correct code, so it
fails only when the work stops being linear.
"""

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")

RUNAWAY_S = 20.0


def finishes(label: str, call: Callable[[], T]) -> T:
    started = time.perf_counter()
    result = call()
    elapsed = time.perf_counter() - started
    assert elapsed < RUNAWAY_S, f"{label} ran away: {elapsed:.1f}s on hostile input"
    return result
