"""BM25 over the side index's chunks: postings per term (slots of the `ChunkTable` and term
frequencies), precomputed so that a query only touches the postings of its own terms, and the
ranking by them (Chroma's own sparse/BM25 search is not available in the local build).

Postings grow by appending (python arrays, turned into numpy arrays on the first query that
needs them); dead slots stay in them until the table is compacted.
"""

from __future__ import annotations

import math
from array import array
from collections import Counter, OrderedDict
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from retrieval.side_index.filters import ChunkFilter, Mask, mask
from retrieval.side_index.table import ChunkTable, array_strings, strings_array

# Standard BM25 parameters (Robertson et al.); not tuned to any data set.
BM25_K1 = 1.2
BM25_B = 0.75

_Postings = tuple[npt.NDArray[np.int32], npt.NDArray[np.float32]]
# Postings (slot and weight, 8 bytes each) whose BM25 weights are kept between queries, the
# least recently used dropped first: without a bound, a long-running bot over a million chunks
# kept a copy of every posting of every term it was ever asked about.
WEIGHT_CACHE_POSTINGS = 16_000_000


def bm25_idf(df: int, n: int) -> float:
    """BM25's inverse document frequency of a term `df` of `n` chunks hold (higher is
    rarer); answer selection and timelines weigh a question's words by it too."""
    return math.log(1.0 + (n - df + 0.5) / (df + 0.5))


class Bm25Postings:
    """Each term's postings over a table's slots, and BM25 scores from them."""

    def __init__(self, table: ChunkTable, *, k1: float = BM25_K1, b: float = BM25_B) -> None:
        self.k1 = k1
        self.b = b
        self._table = table
        self._vocab: dict[str, int] = {}
        self._post_docs: list[array[int]] = []
        self._post_tf: list[array[int]] = []
        # Live postings and their weights: valid for one version of the table.
        self._weight_cache: OrderedDict[int, _Postings] = OrderedDict()
        self._weight_cache_size = 0
        self._weights_version = -1

    def add(self, slot: int, tf: Mapping[str, int]) -> None:
        """Post a new slot's term frequencies."""
        for term, count in tf.items():
            tid = self._vocab.get(term)
            if tid is None:
                tid = len(self._post_docs)
                self._vocab[term] = tid
                self._post_docs.append(array("i"))
                self._post_tf.append(array("i"))
            self._post_docs[tid].append(slot)
            self._post_tf[tid].append(count)

    # --- reading -------------------------------------------------------------------------

    def search(
        self, query_terms: Sequence[str], k: int, flt: ChunkFilter | None = None
    ) -> list[tuple[str, float]]:
        """The k best (chunk id, BM25 score) pairs for these query terms, best first.

        A term repeated in the query counts once per repetition. Ties go to the older slot.
        """
        table = self._table
        if k <= 0 or table.alive_count == 0:
            return []
        docs_parts: list[npt.NDArray[np.int32]] = []
        weight_parts: list[npt.NDArray[np.float32]] = []
        for term, qtf in Counter(query_terms).items():
            tid = self._vocab.get(term)
            if tid is None:
                continue
            docs, weights = self._term_weights(tid)
            if docs.size:
                docs_parts.append(docs)
                weight_parts.append(weights * np.float32(qtf))
        if not docs_parts:
            return []
        docs = np.concatenate(docs_parts)
        # One dense accumulator over the slots: no sorting of the postings.
        scores = np.bincount(docs, weights=np.concatenate(weight_parts), minlength=table.slot_count)
        if flt is not None and not flt.empty:
            keep: Mask = mask(table, flt)
            scores[~keep] = 0.0
        hits = np.flatnonzero(scores > 0)
        if hits.size > k:
            # The k best, and any tied with the k-th (so ties resolve the same way always).
            kth = np.partition(scores[hits], hits.size - k)[hits.size - k]
            hits = hits[scores[hits] >= kth]
        # Best first; among equal scores, the lower slot (the earlier stored) first.
        order = hits[np.lexsort((hits, -scores[hits]))][:k]
        out = []
        for slot in order:
            cid = table.slot_chunk[int(slot)]
            if cid is not None:
                out.append((cid, float(scores[slot])))
        return out

    def document_frequencies(self, query_terms: Sequence[str]) -> tuple[dict[str, int], int]:
        """How many live chunks hold each term, and how many live chunks there are."""
        found: dict[str, int] = {}
        for term in query_terms:
            tid = self._vocab.get(term)
            found[term] = 0 if tid is None else int(self._term_weights(tid)[0].size)
        return found, self._table.alive_count

    def _postings(self, tid: int) -> _Postings:
        # Copies: an array cannot grow while numpy holds a view of its buffer.
        return (
            np.frombuffer(self._post_docs[tid], dtype=np.int32).copy(),
            np.frombuffer(self._post_tf[tid], dtype=np.int32).astype(np.float32),
        )

    def _term_weights(self, tid: int) -> _Postings:
        """A term's live postings and their BM25 weights (idf included), cached until the
        next write changes document counts or lengths (WEIGHT_CACHE_POSTINGS at most)."""
        table = self._table
        cache = self._weight_cache
        if self._weights_version != table.version:
            cache.clear()
            self._weight_cache_size = 0
            self._weights_version = table.version
        cached = cache.get(tid)
        if cached is not None:
            cache.move_to_end(tid)
            return cached
        columns = table.columns()
        n = table.alive_count
        avgdl = table.alive_length / n if n else 1.0
        docs, tf = self._postings(tid)
        live = columns.alive[docs]
        docs, tf = docs[live], tf[live]
        df = docs.size
        if df:
            idf = bm25_idf(df, n)
            norm = self.k1 * (1.0 - self.b + self.b * columns.length[docs] / avgdl)
            weights = (idf * tf * (self.k1 + 1.0) / (tf + norm)).astype(np.float32)
        else:
            weights = np.zeros(0, dtype=np.float32)
        cache[tid] = (docs, weights)
        self._weight_cache_size += docs.size
        while self._weight_cache_size > WEIGHT_CACHE_POSTINGS and len(cache) > 1:
            _, (dropped, _) = cache.popitem(last=False)
            self._weight_cache_size -= dropped.size
        return docs, weights

    # --- compaction and the snapshot -------------------------------------------------------

    def compacted(self, table: ChunkTable, alive: Mask) -> Bm25Postings:
        """These postings over `table`, the compaction of this one's table to its `alive`
        slots (terms no live chunk uses dropped)."""
        remap = np.cumsum(alive, dtype=np.int64) - 1
        fresh = Bm25Postings(table, k1=self.k1, b=self.b)
        for term, tid in self._vocab.items():
            docs, tf = self._postings(tid)
            keep = alive[docs]
            if not keep.any():
                continue
            fresh._vocab[term] = len(fresh._post_docs)
            fresh._post_docs.append(array("i", remap[docs[keep]].astype(np.int32).tobytes()))
            fresh._post_tf.append(array("i", tf[keep].astype(np.int32).tobytes()))
        return fresh

    def to_arrays(self) -> dict[str, npt.NDArray[Any]]:
        """The postings' part of the snapshot (of a compacted index)."""
        terms_list = list(self._vocab)
        offsets = np.zeros(len(terms_list) + 1, dtype=np.int64)
        for i, term in enumerate(terms_list):
            offsets[i + 1] = offsets[i] + len(self._post_docs[self._vocab[term]])
        docs = np.empty(int(offsets[-1]), dtype=np.int32)
        tfs = np.empty(int(offsets[-1]), dtype=np.int32)
        for i, term in enumerate(terms_list):
            tid = self._vocab[term]
            docs[offsets[i] : offsets[i + 1]] = np.frombuffer(self._post_docs[tid], np.int32)
            tfs[offsets[i] : offsets[i + 1]] = np.frombuffer(self._post_tf[tid], np.int32)
        return {"terms": strings_array(terms_list), "offsets": offsets, "docs": docs, "tfs": tfs}

    @classmethod
    def from_arrays(cls, table: ChunkTable, arrays: Mapping[str, npt.NDArray[Any]]) -> Bm25Postings:
        postings = cls(table)
        terms_list = array_strings(arrays["terms"])
        offsets = arrays["offsets"]
        docs = arrays["docs"].astype(np.int32)
        tfs = arrays["tfs"].astype(np.int32)
        for i, term in enumerate(terms_list):
            postings._vocab[term] = i
            postings._post_docs.append(array("i", docs[offsets[i] : offsets[i + 1]].tobytes()))
            postings._post_tf.append(array("i", tfs[offsets[i] : offsets[i + 1]].tobytes()))
        return postings
