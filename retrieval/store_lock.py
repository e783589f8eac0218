"""One writer per embedded Chroma store.

Two processes writing one `PersistentClient` directory damage Chroma's vector segment
(records lost, embeddings unreadable; chroma-core/chroma #3792, #3769), while one writer
beside readers is safe. So every process that writes an embedded store first takes an
exclusive `flock` on `<store>.writer.lock`, next to the store, and holds it until it closes.
The kernel drops the lock when the process dies, even by SIGKILL, so it never goes stale.

A process that cannot take it is refused before it writes anything, with a message naming
the holder (written into the lock file) and what to do instead. Within one process the lock
is shared: services opened twice on one store (tests, the CLI's subcommands) use the same
Chroma client, which serialises its own writes.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from retrieval.errors import StoreError

log = logging.getLogger(__name__)

BOT_PURPOSE = "the Discord bot"


class StoreBusyError(StoreError):
    """Another process holds the store for writing."""


@dataclass(frozen=True, slots=True)
class LockHolder:
    pid: int
    purpose: str
    since: str  # ISO time the holder took the lock

    def describe(self) -> str:
        try:
            started = datetime.fromisoformat(self.since).strftime("%Y-%m-%d %H:%M UTC")
        except ValueError:
            started = self.since
        return f"{self.purpose} (pid {self.pid}, since {started})"


@dataclass
class _Held:
    fd: int
    count: int


_held: dict[str, _Held] = {}
_held_guard = threading.Lock()


def lock_path_for(store: Path) -> Path:
    return store.with_name(store.name + ".writer.lock")


class WriterLock:
    """The store's writer lock, taken by `acquire()` (never waits) and let go by `release()`."""

    def __init__(self, store: Path, *, purpose: str) -> None:
        self.store = store
        self.path = lock_path_for(store)
        self.purpose = purpose
        self._key = str(self.path.resolve())
        self._mine = False

    def acquire(self) -> None:
        import fcntl

        with _held_guard:
            if self._mine:
                return
            held = _held.get(self._key)
            if held is not None:
                held.count += 1
                self._mine = True
                return
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                raise StoreBusyError(self._busy_message(read_holder(self.path))) from None
            except BaseException:
                os.close(fd)
                raise
            record = {
                "pid": os.getpid(),
                "purpose": self.purpose,
                "since": datetime.now(UTC).isoformat(timespec="seconds"),
            }
            os.ftruncate(fd, 0)
            os.pwrite(fd, (json.dumps(record) + "\n").encode("utf-8"), 0)
            _held[self._key] = _Held(fd, 1)
            self._mine = True
            log.debug("Took the writer lock %s for %s", self.path, self.purpose)

    def release(self) -> None:
        with _held_guard:
            if not self._mine:
                return
            self._mine = False
            held = _held.get(self._key)
            if held is None:
                return
            held.count -= 1
            if held.count == 0:
                del _held[self._key]
                # Truncated while still locked, so nobody reads a dead holder's name.
                os.ftruncate(held.fd, 0)
                os.close(held.fd)

    def _busy_message(self, holder: LockHolder | None) -> str:
        who = holder.describe() if holder is not None else "another newsbot process"
        head = (
            f"{who} is writing to the store {self.store}, and a second writer would damage "
            f"it, so {self.purpose} did not start and nothing was changed."
        )
        if holder is not None and holder.purpose == BOT_PURPOSE:
            todo = (
                "Add or remove articles through the bot instead (/ingest, /forget in Discord), "
                "or stop the bot and run this again."
            )
        else:
            todo = "Run this again when it has finished."
        return (
            f"{head} {todo} Read-only commands (ask, search, sources, chat) work meanwhile. "
            "For several writing processes, run Chroma as a server (NEWSBOT_CHROMA_HOST; "
            "README, 'Server mode')."
        )


def read_holder(path: Path) -> LockHolder | None:
    """Who holds the lock at `path`, as its holder wrote it (None if unreadable)."""
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
        return LockHolder(int(record["pid"]), str(record["purpose"]), str(record["since"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None
