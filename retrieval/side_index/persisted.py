"""The side index kept equal to Chroma and on disk: loaded lazily, written through on every
change, persisted as a snapshot (`<name>.npz`) plus an append-only journal (`<name>.journal`)
of article-level changes so that it survives restarts, caught up with the journal lines other
processes append, and checked against Chroma (article content hashes and the chunk count)
whenever it is loaded, then repaired from Chroma when it is missing or stale.

Chroma is the source of truth; the side index is a derived copy of what it needs to rank
chunks (`memory.SideIndex`).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import IO, Any, Protocol

import numpy as np
import numpy.typing as npt

from retrieval.failpoints import NO_FAILPOINTS, Failpoints, kill_now
from retrieval.side_index.articles import IndexedArticle
from retrieval.side_index.filters import ChunkFilter, ChunkSelection, article_summary, select
from retrieval.side_index.filters import outlets as outlets_of
from retrieval.side_index.memory import SideIndex

log = logging.getLogger(__name__)

# Bump when the text -> terms mapping (`articles.document_terms`) changes: a snapshot of
# another version is rebuilt.
TOKENIZER_VERSION = 2  # 2: accents folded
FORMAT_VERSION = 2  # 2: chunk vectors
# The journal is folded into a fresh snapshot once it holds this many chunks and a quarter
# of the index.
COMPACT_MIN_CHUNKS = 2000
COMPACT_FRACTION = 0.25
# How often a long-running reader compares its chunk count with Chroma's (another machine
# may write to a shared Chroma server).
STALE_CHECK_SECONDS = 60.0


class ChunkSource(Protocol):
    """What the side index is derived from (Chroma, through `ChromaIndex`)."""

    def side_index_article_states(self) -> dict[str, tuple[str, int]]:
        """Every stored (lead) article's content hash and chunk count, as its record says."""
        ...

    def side_index_chunk_count(self) -> int: ...

    def side_index_articles(self, article_ids: Sequence[str]) -> Iterator[IndexedArticle]:
        """These articles, with the stored chunks their records name."""
        ...


class PersistentSideIndex:
    """A `SideIndex` kept equal to Chroma: loaded lazily, written through on every change,
    persisted as snapshot + journal when it has a directory, repaired from the source
    when it is found missing or stale. Thread-safe."""

    def __init__(
        self,
        directory: Path | None,
        name: str,
        source: ChunkSource,
        *,
        failpoints: Failpoints = NO_FAILPOINTS,
    ) -> None:
        self._dir = directory
        self._name = name
        self._source = source
        self._failpoints = failpoints
        # The source's chunk count when the index was last found equal to it: a count that
        # differs only by chunks no record names (a crash's leftovers, seen by a reader
        # before the writer repairs them) does not start a repair every minute.
        self._settled_count = -1
        self._lock = threading.RLock()
        self._memory: SideIndex | None = None
        self._generation = ""
        self._journal_pos = 0
        self._journal_ino = 0
        self._journal_chunks = 0
        self._checked_at = 0.0
        self.rebuilds = 0  # how many times it was (re)built or repaired from the source

    # --- paths ---------------------------------------------------------------------------

    @property
    def snapshot_path(self) -> Path | None:
        return self._dir / f"{self._name}.npz" if self._dir else None

    @property
    def journal_path(self) -> Path | None:
        return self._dir / f"{self._name}.journal" if self._dir else None

    @contextlib.contextmanager
    def _file_lock(self) -> Iterator[None]:
        """Serialises writers (and compaction) across processes sharing the directory."""
        if self._dir is None:
            yield
            return
        self._dir.mkdir(parents=True, exist_ok=True)
        with open(self._dir / f"{self._name}.lock", "a+b") as handle:
            try:
                import fcntl
            except ImportError:  # pragma: no cover - not on Linux or macOS
                yield
                return
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle.fileno(), fcntl.LOCK_UN)

    # --- reading -------------------------------------------------------------------------

    def index(self) -> SideIndex:
        """The current index: loaded (and checked against the source) on first use, then
        caught up with other processes' journal entries on every call."""
        with self._lock:
            if self._memory is None:
                with self._file_lock():
                    self._load()
            else:
                self._catch_up()
            assert self._memory is not None
            return self._memory

    def search(
        self, query_terms: Sequence[str], k: int, flt: ChunkFilter | None = None
    ) -> list[tuple[str, float]]:
        with self._lock:
            return self.index().bm25.search(query_terms, k, flt)

    def outlets(self, scopes: tuple[str, ...] | None = None) -> list[str]:
        with self._lock:
            return outlets_of(self.index().table, scopes)

    def select(self, flt: ChunkFilter) -> ChunkSelection:
        with self._lock:
            return select(self.index().table, flt)

    def article_summary(self, scopes: tuple[str, ...] | None = None) -> tuple[int, int | None]:
        with self._lock:
            return article_summary(self.index().table, scopes)

    def nearest(
        self, vector: npt.ArrayLike, k: int, flt: ChunkFilter | None = None
    ) -> list[tuple[str, float]]:
        with self._lock:
            return self.index().vectors.nearest(vector, k, flt)

    def document_frequencies(self, query_terms: Sequence[str]) -> tuple[dict[str, int], int]:
        with self._lock:
            return self.index().bm25.document_frequencies(query_terms)

    def similarities(self, chunk_ids: Sequence[str], vector: npt.ArrayLike) -> dict[str, float]:
        with self._lock:
            return self.index().vectors.similarities(chunk_ids, vector)

    def known(self, chunk_ids: Iterable[str]) -> set[str]:
        """Those of these chunks that the index holds: the committed ones (a record names
        them), since it learns of an article's chunks only after its record is written."""
        with self._lock:
            table = self.index().table
            return {cid for cid in chunk_ids if table.has_chunk(cid)}

    def article_states(
        self, article_ids: Iterable[str] | None = None
    ) -> dict[str, tuple[str, int]]:
        with self._lock:
            states = self.index().table.article_states()
        if article_ids is None:
            return states
        return {aid: states[aid] for aid in article_ids if aid in states}

    def refresh(self, article_ids: Sequence[str], *, keep: Iterable[str]) -> None:
        """Index these articles again from the source: those in `keep` as stored, the others
        removed (repair)."""
        kept = set(keep)
        found = {
            a.article_id: a
            for a in self._source.side_index_articles([aid for aid in article_ids if aid in kept])
        }
        for aid in article_ids:
            if aid in found:
                self.put(found[aid])
            else:
                self.remove(aid)

    # --- writing -------------------------------------------------------------------------

    def put(self, article: IndexedArticle) -> None:
        self._write(article.to_json(), lambda memory: memory.put(article), len(article.chunks))

    def remove(self, article_id: str) -> None:
        self._write({"del": article_id}, lambda memory: memory.remove(article_id), 1)

    def _write(
        self, record: dict[str, Any], apply: Callable[[SideIndex], object], size: int
    ) -> None:
        with self._lock, self._file_lock():
            if self._memory is None:
                self._load()
            else:
                # Not the check against Chroma's count: mid-write Chroma already holds the
                # chunks of the article being written, so it always differs here, and the
                # repair it starts scans every article record (seconds at 40,000 articles,
                # once a minute through a whole ingest). Reads still check.
                self._catch_up(locked=True, check_source=False)
            assert self._memory is not None
            apply(self._memory)
            table = self._memory.table
            if table.slot_count > 2 * table.chunk_count + COMPACT_MIN_CHUNKS:
                self._memory = self._memory.compacted()  # replaced chunks leave dead slots behind
            journal = self.journal_path
            if journal is None:
                return
            with open(journal, "a+b") as handle:
                _drop_torn_line(handle)
                if handle.tell() == 0:
                    self._generation = self._generation or uuid.uuid4().hex
                    handle.write(_line({"generation": self._generation}))
                line = _line(record)
                if self._failpoints.due("journal-torn"):
                    handle.write(line[: len(line) // 2])
                    handle.flush()
                    kill_now()
                handle.write(line)
                end = handle.tell()
            self._journal_pos = end
            self._journal_ino = os.stat(journal).st_ino
            self._journal_chunks += size
            if self._journal_chunks >= max(
                COMPACT_MIN_CHUNKS, COMPACT_FRACTION * self._memory.table.chunk_count
            ):
                self._save()

    # --- loading, checking, saving --------------------------------------------------------

    def _load(self) -> None:
        started = time.perf_counter()
        loaded: SideIndex | None = None
        snapshot = self.snapshot_path
        if snapshot is not None and snapshot.exists():
            try:
                with np.load(snapshot, allow_pickle=False) as data:
                    meta = json.loads(bytes(data["meta"]).decode("utf-8"))
                    if (
                        meta.get("format") == FORMAT_VERSION
                        and meta.get("tokenizer") == TOKENIZER_VERSION
                    ):
                        loaded = SideIndex.from_arrays({key: data[key] for key in data.files})
                        self._generation = str(meta.get("generation", ""))
                    else:
                        log.info("Lexical index %s is of another version: rebuilding", snapshot)
            except Exception as exc:  # EOFError, BadZipFile, ...: any damage rebuilds
                log.warning("Lexical index %s is unreadable (%s): rebuilding", snapshot, exc)
                loaded = None
        self._memory = loaded if loaded is not None else SideIndex()
        if loaded is None:
            self._generation = ""
        self._journal_pos = 0
        self._journal_ino = 0
        self._journal_chunks = 0
        self._replay()
        repaired = self._repair()
        if (
            repaired
            or loaded is None
            or self._journal_chunks
            >= max(COMPACT_MIN_CHUNKS, COMPACT_FRACTION * self._memory.table.chunk_count)
        ):
            self._save()
        log.debug(
            "Lexical index %s: %d chunks, loaded in %.2f s",
            self._name,
            self._memory.table.chunk_count,
            time.perf_counter() - started,
        )

    def _replay(self) -> None:
        """Apply journal entries past what this process has read (generation permitting)."""
        journal = self.journal_path
        assert self._memory is not None
        if journal is None or not journal.exists():
            return
        with open(journal, "rb") as handle:
            st = os.fstat(handle.fileno())
            if st.st_ino != self._journal_ino:
                self._journal_pos = 0
            pos = self._journal_pos
            handle.seek(pos)
            for raw in _complete_lines(handle):
                pos += len(raw)
                try:
                    entry = json.loads(raw)
                except ValueError:
                    # Its article is found stale by the check against the source.
                    log.warning("Skipped an unreadable line of %s", journal)
                    self._checked_at = 0.0
                    self._settled_count = -1
                    continue
                if "generation" in entry:
                    gen = str(entry["generation"])
                    if self._generation and gen != self._generation:
                        # A journal from before our snapshot, or from a newer one: either way
                        # the snapshot and the source check decide.
                        pos = st.st_size
                        break
                    self._generation = gen
                elif "put" in entry:
                    article = IndexedArticle.from_json(entry)
                    self._memory.put(article)
                    self._journal_chunks += len(article.chunks)
                elif "del" in entry:
                    self._memory.remove(str(entry["del"]))
                    self._journal_chunks += 1
            self._journal_pos = pos
            self._journal_ino = st.st_ino

    def _catch_up(self, *, locked: bool = False, check_source: bool = True) -> None:
        """Pick up what other processes wrote since we last looked (through the journal, and
        with `check_source`, at most every STALE_CHECK_SECONDS, from the source itself)."""
        assert self._memory is not None
        journal = self.journal_path
        snapshot = self.snapshot_path
        if journal is not None and snapshot is not None:
            try:
                st = os.stat(journal)
            except FileNotFoundError:
                st = None
            snap_gen_changed = st is not None and st.st_ino != self._journal_ino
            if snap_gen_changed:
                # Another process compacted: reload snapshot and new journal.
                self._memory = None
                if locked:
                    self._load()
                else:
                    with self._file_lock():
                        self._load()
                return
            if st is not None and st.st_size > self._journal_pos:
                self._replay()
        now = time.monotonic()
        if check_source and now - self._checked_at >= STALE_CHECK_SECONDS:
            self._checked_at = now
            count = self._source.side_index_chunk_count()
            if count != self._memory.table.chunk_count and count != self._settled_count:
                if locked:
                    self._repair()
                else:
                    with self._file_lock():
                        self._repair()

    def _repair(self) -> bool:
        """Make the index equal to the source; True if anything had to change."""
        assert self._memory is not None
        self._checked_at = time.monotonic()
        count = self._source.side_index_chunk_count()
        theirs = self._source.side_index_article_states()
        ours = self._memory.table.article_states()
        stale = [aid for aid, state in ours.items() if theirs.get(aid) != state]
        missing = [aid for aid, state in theirs.items() if ours.get(aid) != state]
        for aid in stale:
            self._memory.remove(aid)
        if missing:
            log.info("Lexical index %s: indexing %d articles from Chroma", self._name, len(missing))
            for article in self._source.side_index_articles(missing):
                self._memory.put(article)
        changed = bool(stale or missing)
        self._settled_count = count
        if changed:
            self.rebuilds += 1
        return changed

    def _save(self) -> None:
        """Write a fresh snapshot and start an empty journal (caller holds the file lock)."""
        assert self._memory is not None
        snapshot, journal = self.snapshot_path, self.journal_path
        if snapshot is None or journal is None:
            self._journal_chunks = 0
            return
        self._memory = self._memory.compacted()
        self._generation = uuid.uuid4().hex
        arrays = self._memory.to_arrays()
        meta = {
            "format": FORMAT_VERSION,
            "tokenizer": TOKENIZER_VERSION,
            "generation": self._generation,
            "chunks": self._memory.table.chunk_count,
        }
        arrays["meta"] = np.frombuffer(json.dumps(meta).encode("utf-8"), dtype=np.uint8)
        snapshot.parent.mkdir(parents=True, exist_ok=True)
        tmp = snapshot.with_name(snapshot.name + ".tmp.npz")
        with open(tmp, "wb") as handle:
            np.savez(handle, allow_pickle=False, **arrays)
            handle.flush()
            os.fsync(handle.fileno())  # a rename of unwritten data would leave an empty file
        self._failpoints.reached("snapshot-written")
        os.replace(tmp, snapshot)
        tmp_journal = journal.with_name(journal.name + ".tmp")
        with open(tmp_journal, "wb") as handle:
            handle.write(_line({"generation": self._generation}))
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp_journal, journal)
        _fsync_dir(journal.parent)
        st = os.stat(journal)
        self._journal_ino = st.st_ino
        self._journal_pos = st.st_size
        self._journal_chunks = 0


def _line(obj: object) -> bytes:
    return (json.dumps(obj, ensure_ascii=False, separators=(",", ":")) + "\n").encode("utf-8")


def _drop_torn_line(handle: IO[bytes]) -> None:
    """Cut a last line that has no newline (a writer died writing it; the caller holds the
    file lock, so no one is writing it now): appended to, it would make the next record
    unreadable too. Leaves the handle at the end."""
    size = handle.seek(0, os.SEEK_END)
    if size == 0:
        return
    handle.seek(size - 1)
    if handle.read(1) == b"\n":
        return
    keep = 0
    end = size
    while end > 0:  # look back for the last newline, 64 kB at a time
        start = max(0, end - (1 << 16))
        handle.seek(start)
        cut = handle.read(end - start).rfind(b"\n")
        if cut >= 0:
            keep = start + cut + 1
            break
        end = start
    log.warning("Dropped a torn last line of the lexical journal (%d bytes)", size - keep)
    handle.truncate(keep)
    handle.seek(keep)


def _fsync_dir(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _complete_lines(handle: IO[bytes]) -> Iterator[bytes]:
    """Lines ending in a newline; a partial last line (being written) is left for later."""
    for raw in handle:
        if not raw.endswith(b"\n"):
            return
        yield raw
