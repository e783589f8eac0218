"""The ingest pipeline: loaded articles in, chunks and vectors stored, a report out.

Unchanged articles are recognised by their content hash before any chunking or model work,
and chunks of many articles are embedded together (the model sorts one call's inputs by
length, so bigger calls waste less padding).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from enum import StrEnum
from itertools import islice

from ingest.chunking import Chunker, embedding_text
from ingest.loaders import Loaded, LoadFailure, LoadItem
from retrieval.embedding import Embedder
from retrieval.index import NewsIndex
from retrieval.models import Chunk

log = logging.getLogger(__name__)

# How many articles are looked up, chunked and embedded together.
ARTICLES_PER_BATCH = 64


class Status(StrEnum):
    ADDED = "added"
    UPDATED = "updated"
    UNCHANGED = "unchanged"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class ItemResult:
    source: str
    status: Status
    article_id: str | None = None
    title: str | None = None
    chunks: int = 0
    reason: str | None = None

    def to_json(self) -> dict[str, object]:
        return {
            "source": self.source,
            "status": self.status.value,
            "article_id": self.article_id,
            "title": self.title,
            "chunks": self.chunks,
            "reason": self.reason,
        }


@dataclass(slots=True)
class IngestReport:
    items: list[ItemResult] = field(default_factory=list)
    seconds: float = 0.0

    def count(self, status: Status) -> int:
        return sum(1 for item in self.items if item.status is status)

    @property
    def chunks_embedded(self) -> int:
        return sum(i.chunks for i in self.items if i.status in (Status.ADDED, Status.UPDATED))

    @property
    def chunks_per_second(self) -> float:
        return self.chunks_embedded / self.seconds if self.seconds > 0 else 0.0

    @property
    def ingested_anything(self) -> bool:
        return any(i.status is not Status.FAILED for i in self.items)

    def to_json(self) -> dict[str, object]:
        return {
            "added": self.count(Status.ADDED),
            "updated": self.count(Status.UPDATED),
            "unchanged": self.count(Status.UNCHANGED),
            "failed": self.count(Status.FAILED),
            "chunks_embedded": self.chunks_embedded,
            "seconds": round(self.seconds, 3),
            "chunks_per_second": round(self.chunks_per_second, 1),
            "items": [i.to_json() for i in self.items],
        }


ProgressCallback = Callable[[int], None]


class Ingester:
    def __init__(self, index: NewsIndex, embedder: Embedder, chunker: Chunker) -> None:
        self._index = index
        self._embedder = embedder
        self._chunker = chunker

    def ingest(
        self, items: Iterable[LoadItem], *, on_progress: ProgressCallback | None = None
    ) -> IngestReport:
        """Store every loaded article; `on_progress(n)` is told after each n items are done."""
        report = IngestReport()
        started = time.perf_counter()
        seen: dict[str, str] = {}  # article id -> content hash, within this run
        for batch in _batches(iter(items), ARTICLES_PER_BATCH):
            results = self._ingest_batch(batch, seen)
            report.items.extend(results)
            if on_progress is not None:
                on_progress(len(batch))
        report.seconds = time.perf_counter() - started
        return report

    def _ingest_batch(self, batch: list[LoadItem], seen: dict[str, str]) -> list[ItemResult]:
        loaded = [item for item in batch if isinstance(item, Loaded)]
        stored = self._index.stored_hashes([item.article.id for item in loaded])
        results: dict[int, ItemResult] = {}
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
        chunked: list[tuple[int, Loaded, Status, list[Chunk]]] = []
        for pos, item, status in todo:
            if last_pos[item.article.id] != pos:
                results[pos] = ItemResult(
                    item.source, Status.UNCHANGED, item.article.id, item.article.title
                )
                continue
            chunks = self._chunker.chunk(item.article)
            if not chunks:
                results[pos] = ItemResult(
                    item.source, Status.FAILED, reason="article has no body text"
                )
                continue
            chunked.append((pos, item, status, chunks))
        texts = [
            embedding_text(item.article, c.text) for _, item, _, chunks in chunked for c in chunks
        ]
        vectors = self._embedder.embed_documents(texts) if texts else None
        offset = 0
        for pos, item, status, chunks in chunked:
            assert vectors is not None
            article_vectors = vectors[offset : offset + len(chunks)]
            offset += len(chunks)
            self._index.upsert_article(item.article, chunks, article_vectors)
            results[pos] = ItemResult(
                item.source, status, item.article.id, item.article.title, len(chunks)
            )
            log.debug("%s %s (%d chunks)", status.value, item.article.id, len(chunks))
        return [results[pos] for pos in range(len(batch))]


def _batches(items: Iterator[LoadItem], size: int) -> Iterator[list[LoadItem]]:
    while batch := list(islice(items, size)):
        yield batch
