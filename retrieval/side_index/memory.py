"""The side index in memory: the slot table with its BM25 postings and its chunk vectors,
written together so that the three always describe the same slots, and turned into and
read back from the snapshot's arrays."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import numpy.typing as npt

from retrieval.side_index.articles import IndexedArticle
from retrieval.side_index.bm25 import BM25_B, BM25_K1, Bm25Postings
from retrieval.side_index.table import ChunkTable
from retrieval.side_index.vectors import ChunkVectors

# The snapshot's arrays, in the order the file holds them.
SNAPSHOT_ARRAYS = (
    "terms",
    "offsets",
    "docs",
    "tfs",
    "chunk_ids",
    "len",
    "article",
    "outlet",
    "scope",
    "ts",
    "scale",
    "vectors",
    "articles",
    "hashes",
    "outlets",
    "scopes",
)


class SideIndex:
    """`table` (the slots), `bm25` (lexical ranking) and `vectors` (filtered dense search).
    Not thread-safe: `persisted.PersistentSideIndex` serialises its use."""

    def __init__(self, *, k1: float = BM25_K1, b: float = BM25_B) -> None:
        self.table = ChunkTable()
        self.bm25 = Bm25Postings(self.table, k1=k1, b=b)
        self.vectors = ChunkVectors(self.table)

    @classmethod
    def _of(cls, table: ChunkTable, bm25: Bm25Postings, vectors: ChunkVectors) -> SideIndex:
        index = cls.__new__(cls)
        index.table, index.bm25, index.vectors = table, bm25, vectors
        return index

    def put(self, article: IndexedArticle) -> None:
        """Index an article's chunks, replacing whatever the article had before."""
        slots = self.table.put(article)
        for slot, chunk in zip(slots, article.chunks, strict=True):
            self.vectors.add(slot, chunk)
            self.bm25.add(slot, chunk.tf)

    def remove(self, article_id: str) -> bool:
        return self.table.remove(article_id)

    def compacted(self) -> SideIndex:
        """A copy without dead slots (slots renumbered; terms and articles no live chunk
        uses dropped)."""
        if self.table.is_compact:
            return self
        alive = self.table.alive_mask()
        slots = np.flatnonzero(alive)
        table = self.table.compacted(slots)
        return SideIndex._of(
            table, self.bm25.compacted(table, alive), self.vectors.compacted(table, slots)
        )

    def to_arrays(self) -> dict[str, npt.NDArray[Any]]:
        """The index as arrays (dead slots dropped): what the snapshot file holds."""
        live = self.compacted()
        parts = {**live.bm25.to_arrays(), **live.table.to_arrays(), **live.vectors.to_arrays()}
        return {key: parts[key] for key in SNAPSHOT_ARRAYS}

    @classmethod
    def from_arrays(cls, arrays: Mapping[str, npt.NDArray[Any]]) -> SideIndex:
        table = ChunkTable.from_arrays(arrays)
        return cls._of(
            table, Bm25Postings.from_arrays(table, arrays), ChunkVectors.from_arrays(table, arrays)
        )
