"""The small SQLite files of the data dir (feeds, watches, feedback): one way to open them."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path

# How long a connection waits for another writer (the bot and a command line) to finish.
BUSY_TIMEOUT_SECONDS = 30


@contextmanager
def transaction(path: Path) -> Iterator[sqlite3.Connection]:
    """A connection of its own (so any thread may call this) holding one transaction,
    committed when the block ends and rolled back if it raises; foreign keys enforced."""
    with closing(sqlite3.connect(path, timeout=BUSY_TIMEOUT_SECONDS)) as db:
        db.execute("PRAGMA foreign_keys = ON")
        with db:
            yield db
