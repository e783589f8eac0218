"""Every chunk's embedding in int8 (one scale per chunk, `articles.quantize`), one row per slot
of the `ChunkTable`, and the dense search over them that a filtered search needs.

384 bytes a chunk (41 MB at 100k chunks), so that a dense search restricted by a filter (an
outlet, a week, a server) compares the question with just the chunks the filter keeps, in
well under a millisecond per 5,000 chunks. Chroma's own filtered searches cost 4-300 ms at
100k chunks, and float32 copies would cost four times the memory. Quantisation moves a cosine
by at most ~0.002, far below what separates a relevant chunk from another.
"""

from __future__ import annotations

from array import array
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from retrieval.side_index.articles import IndexedChunk
from retrieval.side_index.filters import ChunkFilter, mask
from retrieval.side_index.table import ChunkTable

# Rows of int8 vectors widened to float32 at a time by a dense scan (bounds its scratch memory).
_SCAN_BLOCK = 16384


class ChunkVectors:
    """The int8 vector and scale of each slot of a table (scale 0: the chunk has none, and
    is indexed for BM25 alone)."""

    def __init__(self, table: ChunkTable) -> None:
        self._table = table
        self._scale = array("f")  # by slot; 0.0: the chunk has no vector
        self._rows: npt.NDArray[np.int8] = np.zeros((0, 0), dtype=np.int8)  # row = slot
        self._np_scale: npt.NDArray[np.float32] | None = None

    def add(self, slot: int, chunk: IndexedChunk) -> None:
        """Row `slot` (zeros, scale 0, for a chunk without a vector): once there is a vector,
        there is a row for every slot."""
        self._scale.append(chunk.scale if chunk.codes else 0.0)
        self._np_scale = None
        rows, dim = self._rows.shape
        codes = np.frombuffer(chunk.codes, dtype=np.int8)
        if codes.size and dim and codes.size != dim:
            raise ValueError(f"a vector of {codes.size} dimensions in an index of {dim}")
        dim = dim or codes.size
        if not dim:
            return
        if slot >= rows:  # grow by half (amortised appends), keeping what is there
            grown = np.zeros((max(slot + 1, rows + rows // 2, 256), dim), dtype=np.int8)
            if rows:
                grown[:rows] = self._rows
            self._rows = grown
        if codes.size:
            self._rows[slot] = codes

    def _scales(self) -> npt.NDArray[np.float32]:
        if self._np_scale is None:
            self._np_scale = np.frombuffer(self._scale, dtype=np.float32).copy()
        return self._np_scale

    # --- reading -------------------------------------------------------------------------

    def nearest(
        self, vector: npt.ArrayLike, k: int, flt: ChunkFilter | None = None
    ) -> list[tuple[str, float]]:
        """The k chunks (passing the filter) whose vectors are nearest the (unit) vector, by
        cosine, best first; ties go to the older slot. Chunks without a vector (indexed for
        BM25 alone) are not candidates."""
        table = self._table
        if k <= 0 or table.alive_count == 0 or not self._rows.size:
            return []
        keep = mask(table, flt) if flt is not None and not flt.empty else table.columns().alive
        keep = keep & (self._scales() > 0)
        slots = np.flatnonzero(keep)
        if not slots.size:
            return []
        query = np.asarray(vector, dtype=np.float32).reshape(-1)
        sims = np.empty(slots.size, dtype=np.float32)
        for lo in range(0, slots.size, _SCAN_BLOCK):
            block = slots[lo : lo + _SCAN_BLOCK]
            sims[lo : lo + block.size] = self._rows[block].astype(np.float32) @ query
        sims *= self._scales()[slots]
        if slots.size > k:
            best = np.argpartition(-sims, k - 1)[:k]
            slots, sims = slots[best], sims[best]
        order = np.lexsort((slots, -sims))
        return [(str(table.slot_chunk[int(slots[i])]), float(sims[i])) for i in order]

    def similarities(self, chunk_ids: Sequence[str], vector: npt.ArrayLike) -> dict[str, float]:
        """Cosine of the (unit) vector with each listed live chunk that has a vector, from the
        int8 copies (within ~0.002 of the float32 ones)."""
        table = self._table
        query = np.asarray(vector, dtype=np.float32).reshape(-1)
        found: dict[str, float] = {}
        for cid in chunk_ids:
            slot = table.slot_of.get(cid)
            if slot is None or not table.alive[slot] or self._scale[slot] <= 0:
                continue
            row = self._rows[slot].astype(np.float32)
            found[cid] = float(row @ query) * self._scale[slot]
        return found

    # --- compaction and the snapshot -------------------------------------------------------

    def compacted(self, table: ChunkTable, slots: npt.NDArray[np.intp]) -> ChunkVectors:
        """These slots' rows, renumbered in order, for `table` (their compacted table)."""
        fresh = ChunkVectors(table)
        fresh._scale = array("f", np.frombuffer(self._scale, dtype=np.float32)[slots].tobytes())
        if self._rows.size:
            fresh._rows = self._rows[slots]
        return fresh

    def to_arrays(self) -> dict[str, npt.NDArray[Any]]:
        """The vectors' part of the snapshot (of a compacted index)."""
        return {
            "scale": np.frombuffer(self._scale, dtype=np.float32).copy(),
            "vectors": self._rows[: self._table.slot_count],
        }

    @classmethod
    def from_arrays(cls, table: ChunkTable, arrays: Mapping[str, npt.NDArray[Any]]) -> ChunkVectors:
        vectors = cls(table)
        vectors._scale = array("f", arrays["scale"].astype(np.float32).tobytes())
        vectors._rows = arrays["vectors"].astype(np.int8, copy=False)
        return vectors
