"""Named points in the store's write paths where a test can kill the process.

Crash-consistency tests (tests/test_crash_consistency.py) run a real `newsbot` subprocess
with NEWSBOT_FAILPOINT set, e.g. `record-written:3`: the third time the write path passes
`record-written`, the process sends itself SIGKILL, as a power cut or the OOM killer would.
Unset (always, outside those tests) a failpoint costs one dict lookup.
"""

from __future__ import annotations

import os
import signal
import threading

from retrieval.errors import ConfigError

# Every point, in the order one article's write passes them (retrieval/chroma_index.py,
# retrieval/side_index/persisted.py).
POINTS = (
    "intent-written",  # the write intent is on disk, nothing else yet
    "chunks-written",  # the new chunks are in Chroma, the record is still the old one
    "record-written",  # the commit point: the record names the new chunks
    "old-chunks-deleted",  # superseded chunks are gone, the side index not yet told
    "copy-record-written",  # a copy's record is stored, its former chunks not yet deleted
    "record-deleted",  # forget: the record is gone, its chunks not yet
    "journal-torn",  # half a side-index journal line is written
    "snapshot-written",  # a side-index snapshot's temporary file is written, not yet renamed
)


class Failpoints:
    """Parsed from `point:n` (kill at the n-th pass of `point`; n defaults to 1)."""

    def __init__(self, spec: str = "") -> None:
        self._target: tuple[str, int] | None = None
        self._passes = 0
        self._lock = threading.Lock()
        spec = spec.strip()
        if not spec:
            return
        name, _, count = spec.partition(":")
        if name not in POINTS or (count and not count.isdigit()):
            raise ConfigError(
                f"NEWSBOT_FAILPOINT={spec!r} is not a failpoint: use one of {', '.join(POINTS)}, "
                "optionally with ':n' (tests only; leave it empty)."
            )
        self._target = (name, int(count or 1))

    def due(self, point: str) -> bool:
        """Count a pass of `point`: True when this pass is the one to die at."""
        if self._target is None or self._target[0] != point:
            return False
        with self._lock:
            self._passes += 1
            return self._passes == self._target[1]

    def reached(self, point: str) -> None:
        if self.due(point):
            kill_now()


def kill_now() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


NO_FAILPOINTS = Failpoints()
