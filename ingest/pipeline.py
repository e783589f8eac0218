"""The ingest pipeline: loaded articles in, chunks and vectors stored, a report out.

Unchanged articles are recognised by their content hash before any chunking or model work,
and chunks of many articles are embedded together (the model sorts one call's inputs by
length, so bigger calls waste less padding). Chunking, embedding and index writes of
consecutive batches overlap, and the index writes a whole batch at once.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import CancelledError, Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from itertools import islice
from typing import Protocol

from ingest.chunking import Chunker
from ingest.loaders import Loaded, LoadFailure, LoadItem
from ingest.reports import IngestReport, ItemResult, Status
from retrieval.embedding import Embedder, Vectors
from retrieval.errors import InputError
from retrieval.index import ArticleStore
from retrieval.models import Article, Chunk, StoredArticle

log = logging.getLogger(__name__)

# How many articles are looked up, chunked and embedded together.
ARTICLES_PER_BATCH = 64
# Batches chunked ahead of the index writes (bounds memory on huge inputs).
BATCHES_IN_FLIGHT = 2


ProgressCallback = Callable[[int], None]


@dataclass(frozen=True, slots=True)
class Admission:
    """What to do with an article about to be stored."""

    article: Article  # possibly marked updated
    copy_of: str | None = None  # the lead's id when the article is a copy


class SyndicationTracking(Protocol):
    """What the pipeline asks of a syndication tracker (copies and update times;
    `ingest.syndication.SyndicationTracker`). Defined here so that the pipeline depends on
    no tracker."""

    def begin(self) -> None:
        """An ingest run starts: catch up with what other processes stored."""

    def admit(self, article: Article, status: Status) -> Admission:
        """For each article that will be stored (added or updated): store it as is, marked
        updated, or as a copy of a lead?"""

    def after_batch(self, leads: Sequence[Article], copies: Sequence[tuple[Article, str]]) -> None:
        """A batch's leads are stored: record them, and store its copies."""

    def stored_as_lead(self, article: Article) -> None:
        """An article was stored as a lead outside a batch."""


class Ingester:
    """Three stages run side by side, one batch of articles apart: this thread looks up
    content hashes, cleans up duplicates and chunks batch n+1 while a worker embeds batch n
    (the model releases the GIL and uses every core it was given) and another writes batch
    n-1 to the index. Batches are written in order; if one fails, none after it is."""

    def __init__(
        self,
        index: ArticleStore,
        embedder: Embedder,
        chunker: Chunker,
        *,
        tracker: SyndicationTracking | None = None,
    ) -> None:
        self._index = index
        self._embedder = embedder
        self._chunker = chunker
        self._tracker = tracker  # syndicated copies and update times (ingest/syndication.py)

    def ingest(
        self, items: Iterable[LoadItem], *, on_progress: ProgressCallback | None = None
    ) -> IngestReport:
        """Store every loaded article; `on_progress(n)` is told after each n items are done."""
        report = IngestReport()
        started = time.perf_counter()
        if self._tracker is not None:
            self._tracker.begin()
        seen: dict[str, str] = {}  # article id -> content hash, within this run
        failed = threading.Event()
        in_flight: deque[tuple[int, Future[list[ItemResult]]]] = deque()

        def collect() -> None:
            size, stored = in_flight.popleft()
            report.items.extend(stored.result())
            if on_progress is not None:
                on_progress(size)

        with (
            ThreadPoolExecutor(1, thread_name_prefix="ingest-embed") as embedding,
            ThreadPoolExecutor(1, thread_name_prefix="ingest-write") as writing,
        ):
            try:
                for batch in _batches(iter(items), ARTICLES_PER_BATCH):
                    prepared = self._prepare(batch, seen)
                    vectors = embedding.submit(self._embed, prepared, failed)
                    stored = writing.submit(self._store, prepared, vectors, failed)
                    in_flight.append((len(batch), stored))
                    while len(in_flight) > BATCHES_IN_FLIGHT:
                        collect()
                while in_flight:
                    collect()
            except KeyboardInterrupt:
                failed.set()  # stop now: what is not written yet is ingested next time
                raise
            # Any other failure here leaves the batches before it to finish writing, as
            # if they had run one by one.
        report.seconds = time.perf_counter() - started
        return report

    def store_as_lead(self, article: Article) -> int:
        """Chunk, embed and store one article as a lead, whatever is stored under its id
        (a copy being promoted, a damaged article being repaired); the number of chunks.
        One index write replaces its record, so a crash leaves the old one or the new one."""
        chunks = self._chunker.chunk(article)
        if not chunks:
            raise InputError(f"{article.id} has no body text to store.")
        vectors = self._embedder.embed_documents(
            [self._chunker.embedding_text(article, c.text) for c in chunks]
        )
        self._index.upsert_articles([(article, chunks, vectors)])
        if self._tracker is not None:
            self._tracker.stored_as_lead(article)
        return len(chunks)

    def _prepare(self, batch: list[LoadItem], seen: dict[str, str]) -> _Prepared:
        """Everything before the model: unchanged articles and failures are settled here."""
        loaded = [item for item in batch if isinstance(item, Loaded)]
        stored = self._index.stored_hashes([item.article.id for item in loaded])
        prepared = _Prepared(len(batch))
        results = prepared.results
        todo: list[tuple[int, Loaded, Status]] = []
        for pos, item in enumerate(batch):
            if isinstance(item, LoadFailure):
                results[pos] = ItemResult(item.source, Status.FAILED, reason=item.reason)
                continue
            article = item.article
            previous = seen.get(article.id, stored.get(article.id))
            seen[article.id] = article.content_hash
            if previous == article.content_hash:
                results[pos] = ItemResult(item.source, Status.UNCHANGED, article.id, article.title)
            else:
                status = Status.ADDED if previous is None else Status.UPDATED
                todo.append((pos, item, status))
        # A later copy of the same article in this batch wins; earlier ones count as unchanged.
        last_pos = {item.article.id: pos for pos, item, _ in todo}
        for pos, item, status in todo:
            if last_pos[item.article.id] != pos:
                results[pos] = ItemResult(
                    item.source, Status.UNCHANGED, item.article.id, item.article.title
                )
                continue
            if self._tracker is not None:  # --- ingest/syndication.py: a copy gets no chunks
                admission = self._tracker.admit(item.article, status)
                item = Loaded(item.source, admission.article)
                if admission.copy_of is not None:
                    prepared.copies.append((pos, item, status, admission.copy_of))
                    continue
            chunks = self._chunker.chunk(item.article)
            if not chunks:
                results[pos] = ItemResult(
                    item.source, Status.FAILED, reason="article has no body text"
                )
                continue
            prepared.chunked.append((pos, item, status, chunks))
        return prepared

    def _embed(self, prepared: _Prepared, failed: threading.Event) -> Vectors | None:
        texts = [
            self._chunker.embedding_text(item.article, c.text)
            for _, item, _, chunks in prepared.chunked
            for c in chunks
        ]
        if not texts or failed.is_set():
            return None
        return self._embedder.embed_documents(texts)

    def _store(
        self, prepared: _Prepared, vectors: Future[Vectors | None], failed: threading.Event
    ) -> list[ItemResult]:
        try:
            return self._write(prepared, vectors.result(), failed)
        except BaseException:
            failed.set()  # nothing after a failed batch is written
            raise

    def _write(
        self, prepared: _Prepared, vectors: Vectors | None, failed: threading.Event
    ) -> list[ItemResult]:
        if failed.is_set():
            raise CancelledError("an earlier batch failed")
        results = prepared.results
        stored: list[tuple[Article, Sequence[Chunk], Vectors]] = []
        offset = 0
        for pos, item, status, chunks in prepared.chunked:
            assert vectors is not None
            stored.append((item.article, chunks, vectors[offset : offset + len(chunks)]))
            offset += len(chunks)
            results[pos] = ItemResult(
                item.source, status, item.article.id, item.article.title, len(chunks)
            )
            log.debug("%s %s (%d chunks)", status.value, item.article.id, len(chunks))
        if stored:
            self._index.upsert_articles(stored)
        if self._tracker is not None:  # --- ingest/syndication.py: signatures saved, copies stored
            self._tracker.after_batch(
                [item.article for _, item, _, _ in prepared.chunked],
                [(item.article, lead) for _, item, _, lead in prepared.copies],
            )
            for pos, item, status, lead in prepared.copies:
                article = item.article
                results[pos] = ItemResult(
                    item.source, status, article.id, article.title, copy_of=lead
                )
        return [results[pos] for pos in range(prepared.size)]


@dataclass(slots=True)
class _Prepared:
    """A batch after the hash checks and chunking: what is left for the model and the index."""

    size: int
    results: dict[int, ItemResult] = field(default_factory=dict)
    chunked: list[tuple[int, Loaded, Status, list[Chunk]]] = field(default_factory=list)
    copies: list[tuple[int, Loaded, Status, str]] = field(default_factory=list)


def article_from_record(record: StoredArticle, body: str) -> Article:
    """A stored article rebuilt from its record and body (to store it again with
    `Ingester.store_as_lead`)."""
    return Article(
        title=record.title,
        body=body,
        outlet=record.outlet,
        author=record.author,
        published=record.published,
        updated=record.updated,
        url=record.url,
        category=record.category,
        scope=record.scope,
        id=record.id,
    )


def _batches(items: Iterator[LoadItem], size: int) -> Iterator[list[LoadItem]]:
    while batch := list(islice(items, size)):
        yield batch
