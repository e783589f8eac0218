"""Server mode: an ordered log of committed article changes, kept in Chroma itself.

With a Chroma server, bot processes on several machines write one store, and each keeps its
own side index (retrieval/side_index/) on its own disk. Each commit appends the ids of the
articles it changed to the `<name>-changes` collection; every process tails it (at most
once a second, when it searches) and indexes those articles again from their records. So a
process sees another machine's new article within a second, exactly as stored.

Entries are read again for `CLOCK_SKEW_SECONDS` after their time stamp (machines' clocks and
commit order differ by less than that) and dropped from memory after that; the log itself
is trimmed after `KEEP_SECONDS`. A process that starts checks its BM25 index against every
record anyway, so it needs only the entries written since.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Sequence
from typing import Any

FOLLOW_SECONDS = 1.0
CLOCK_SKEW_SECONDS = 120.0
KEEP_SECONDS = 86_400.0
SUFFIX = "-changes"


class ChangeLog:
    def __init__(self, client: Any, collection: str) -> None:
        self._log = client.get_or_create_collection(
            collection + SUFFIX, metadata={"hnsw:space": "cosine"}, embedding_function=None
        )
        self._lock = threading.Lock()
        self._seen: dict[str, float] = {}  # entry id -> its time stamp
        self._since = time.time() - CLOCK_SKEW_SECONDS
        self._next_look = 0.0

    def record(self, article_ids: Sequence[str]) -> None:
        """Append one entry (called right after a commit)."""
        if not article_ids:
            return
        now = time.time()
        entry = f"{time.time_ns():020d}-{uuid.uuid4().hex[:12]}"
        self._log.add(
            ids=[entry],
            embeddings=[[1.0]],  # Chroma wants a vector; the log is never searched by it
            documents=[" ".join(article_ids)],
            metadatas=[{"ts": now}],
        )
        with self._lock:
            self._seen[entry] = now  # our own change: our index has it already

    def changed(self) -> list[str]:
        """Articles other processes changed since the last look (throttled: [] between)."""
        now = time.monotonic()
        with self._lock:
            if now < self._next_look:
                return []
            self._next_look = now + FOLLOW_SECONDS
            since = self._since
        got = self._log.get(
            where={"ts": {"$gte": since - CLOCK_SKEW_SECONDS}}, include=["documents", "metadatas"]
        )
        found: list[str] = []
        with self._lock:
            newest = since
            for entry, doc, meta in zip(
                got["ids"], got["documents"] or [], got["metadatas"] or [], strict=True
            ):
                ts = float((meta or {}).get("ts", 0.0))
                newest = max(newest, ts)
                if entry in self._seen:
                    continue
                self._seen[entry] = ts
                found.extend((doc or "").split())
            self._since = newest
            horizon = newest - 3 * CLOCK_SKEW_SECONDS
            self._seen = {e: ts for e, ts in self._seen.items() if ts >= horizon}
        return list(dict.fromkeys(found))

    def trim(self) -> None:
        """Drop entries older than KEEP_SECONDS (any writer may; all agree on what goes)."""
        self._log.delete(where={"ts": {"$lt": time.time() - KEEP_SECONDS}})
