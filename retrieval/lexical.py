"""The lexical (BM25) index over the stored chunks, derived from Chroma, with each chunk's
vector in int8 for filtered dense search.

Chroma is the source of truth; this index is a derived copy of what it needs to rank chunks
by the words they share with a question (Chroma's own sparse/BM25 search is not available in
the local build). It lives in memory, with precomputed postings, so that a query only touches
the postings of its own terms; it persists as a snapshot (`<name>.npz`) plus an append-only
journal (`<name>.journal`) of article-level changes, so that it survives restarts, and it is
checked against Chroma (article content hashes and the chunk count) whenever it is loaded and
repaired from Chroma when it is missing or stale.

What a chunk contributes: the terms of its article's headline and of its own text (the same
`retrieval.terms.terms` normalisation the answerer uses), so that a chunk is found by the words
of its story's headline as well as its own, as the embedding model sees it.

Vectors: the index also keeps every chunk's embedding, quantised to int8 with one scale per
chunk (384 bytes a chunk; 41 MB at 100k chunks), so that a dense search restricted by a filter
(an outlet, a week, a server) compares the question with just the chunks the filter keeps, in
well under a millisecond per 5,000 chunks. Chroma's own filtered searches cost 4-300 ms at
100k chunks, and float32 copies would cost four times the memory. Quantisation moves a cosine
by at most ~0.002, far below what separates a relevant chunk from another.
"""

from __future__ import annotations

import base64
import contextlib
import json
import logging
import math
import os
import threading
import time
import uuid
from array import array
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Protocol

import numpy as np
import numpy.typing as npt

from retrieval.failpoints import NO_FAILPOINTS, Failpoints, kill_now
from retrieval.terms import terms

log = logging.getLogger(__name__)

# Bump when the text -> terms mapping changes: a snapshot of another version is rebuilt.
TOKENIZER_VERSION = 1
FORMAT_VERSION = 2  # 2: chunk vectors
# Standard BM25 parameters (Robertson et al.); not tuned to any data set.
BM25_K1 = 1.2
BM25_B = 0.75
# The journal is folded into a fresh snapshot once it holds this many chunks and a quarter
# of the index.
COMPACT_MIN_CHUNKS = 2000
COMPACT_FRACTION = 0.25
# How often a long-running reader compares its chunk count with Chroma's (another machine
# may write to a shared Chroma server).
STALE_CHECK_SECONDS = 60.0
NO_TIME = int(np.iinfo(np.int64).min)
_NO_CODE = -1
_ARRAY_DTYPES = {"f": np.float32, "i": np.int32, "q": np.int64, "b": np.int8}
# Rows of int8 vectors widened to float32 at a time by a dense scan (bounds its scratch memory).
_SCAN_BLOCK = 16384

Mask = npt.NDArray[np.bool_]


def document_terms(title: str, text: str) -> list[str]:
    """The terms a chunk is indexed under: its headline's and its own."""
    return terms(f"{title}\n{text}")


def quantize(vector: npt.ArrayLike) -> tuple[bytes, float]:
    """A vector as int8 codes and the scale that maps them back (code * scale)."""
    v = np.asarray(vector, dtype=np.float32)
    top = float(np.abs(v).max()) if v.size else 0.0
    scale = top / 127.0 if top > 0 else 1.0
    return np.round(v / scale).astype(np.int8).tobytes(), scale


@dataclass(frozen=True, slots=True)
class LexicalChunk:
    """One chunk as the lexical index keeps it: id, term frequencies and, when it has one,
    its vector quantised (`quantize`)."""

    chunk_id: str
    tf: Mapping[str, int]
    codes: bytes = b""
    scale: float = 0.0


@dataclass(frozen=True, slots=True)
class LexicalArticle:
    """An article's chunks and the metadata searches filter on."""

    article_id: str
    content_hash: str
    outlet: str | None
    published_ts: int | None
    scope: str
    chunks: tuple[LexicalChunk, ...]

    @classmethod
    def from_texts(
        cls,
        *,
        article_id: str,
        content_hash: str,
        title: str,
        outlet: str | None,
        published_ts: int | None,
        scope: str,
        chunks: Iterable[tuple[str, str]],
        vectors: npt.ArrayLike | None = None,
    ) -> LexicalArticle:
        """From (chunk id, chunk text) pairs and, one row per chunk, their vectors: the only
        place chunk text is tokenised."""
        pairs = list(chunks)
        rows = np.asarray(vectors, dtype=np.float32) if vectors is not None else None
        if rows is not None and len(rows) != len(pairs):
            raise ValueError("one vector per chunk")
        return cls(
            article_id=article_id,
            content_hash=content_hash,
            outlet=outlet,
            published_ts=published_ts,
            scope=scope,
            chunks=tuple(
                LexicalChunk(
                    cid,
                    Counter(document_terms(title, text)),
                    *(quantize(rows[i]) if rows is not None else ()),
                )
                for i, (cid, text) in enumerate(pairs)
            ),
        )

    def to_json(self) -> dict[str, object]:
        return {
            "put": self.article_id,
            "hash": self.content_hash,
            "outlet": self.outlet,
            "ts": self.published_ts,
            "scope": self.scope,
            "chunks": [
                [c.chunk_id, dict(c.tf)]
                + ([base64.b64encode(c.codes).decode("ascii"), c.scale] if c.codes else [])
                for c in self.chunks
            ],
        }

    @classmethod
    def from_json(cls, obj: Mapping[str, Any]) -> LexicalArticle:
        return cls(
            article_id=str(obj["put"]),
            content_hash=str(obj["hash"]),
            outlet=obj.get("outlet"),
            published_ts=obj.get("ts"),
            scope=str(obj.get("scope", "")),
            chunks=tuple(
                LexicalChunk(str(row[0]), dict(row[1]))
                if len(row) == 2
                else LexicalChunk(str(row[0]), dict(row[1]), base64.b64decode(row[2]), row[3])
                for row in obj["chunks"]
            ),
        )


@dataclass(frozen=True, slots=True)
class LexicalFilter:
    """What a lexical search may return; mirrors `retrieval.index.SearchFilters`, in
    timestamps. `windows` are (since, until) pairs of which a chunk must fall in one."""

    outlets: tuple[str, ...] = ()
    # Articles that count as from `outlets` too (leads of syndicated copies).
    outlet_articles: tuple[str, ...] = ()
    since_ts: int | None = None
    until_ts: int | None = None
    windows: tuple[tuple[int | None, int | None], ...] = ()
    scopes: tuple[str, ...] | None = None

    @property
    def empty(self) -> bool:
        return (
            not self.outlets
            and self.since_ts is None
            and self.until_ts is None
            and not self.windows
            and self.scopes is None
        )


class ChunkSelection:
    """The live chunks a filter lets through, for a dense search restricted to them
    (`ChromaIndex.rank_dense`: Chroma's own metadata filter costs 50-300 ms at 100k chunks)."""

    def __init__(self, keep: Mask, slot_of: Mapping[str, int], total: int) -> None:
        self._keep = keep
        self._slot_of = slot_of
        self.size = int(np.count_nonzero(keep))
        self.total = total  # live chunks in the index

    def __contains__(self, chunk_id: object) -> bool:
        slot = self._slot_of.get(chunk_id) if isinstance(chunk_id, str) else None
        return slot is not None and slot < len(self._keep) and bool(self._keep[slot])


class Bm25:
    """An in-memory BM25 index over slots, with postings per term and incremental updates.

    Postings grow by appending (python arrays, turned into numpy arrays on the first query
    that needs them); removed chunks leave dead slots behind until `compacted()`.
    """

    def __init__(self, *, k1: float = BM25_K1, b: float = BM25_B) -> None:
        self.k1 = k1
        self.b = b
        self._vocab: dict[str, int] = {}
        self._post_docs: list[array[int]] = []
        self._post_tf: list[array[int]] = []
        self._np_cache: dict[int, tuple[npt.NDArray[np.int32], npt.NDArray[np.float32]]] = {}
        self._chunk_ids: list[str | None] = []
        self._slot_of: dict[str, int] = {}
        self._len = array("f")
        self._article = array("i")
        self._outlet = array("i")
        self._scope = array("i")
        self._ts = array("q")
        self._alive = array("b")
        self._scale = array("f")  # 0.0: the chunk has no vector
        self._vectors: npt.NDArray[np.int8] = np.zeros((0, 0), dtype=np.int8)  # row = slot
        self._np_meta: dict[str, npt.NDArray[Any]] | None = None
        self._weight_cache: dict[int, tuple[npt.NDArray[np.int32], npt.NDArray[np.float32]]] = {}
        self._articles: list[str] = []
        self._article_code: dict[str, int] = {}
        self._article_slots: dict[str, list[int]] = {}
        self._article_hash: dict[str, str] = {}
        self._outlets: list[str] = []
        self._outlet_code: dict[str, int] = {}
        self._scopes: list[str] = []
        self._scope_code: dict[str, int] = {}
        self._alive_count = 0
        self._alive_len = 0.0

    # --- size and identity ---------------------------------------------------------------

    @property
    def chunk_count(self) -> int:
        return self._alive_count

    @property
    def slot_count(self) -> int:
        return len(self._chunk_ids)

    def article_hashes(self) -> dict[str, str]:
        return dict(self._article_hash)

    def article_states(self) -> dict[str, tuple[str, int]]:
        """Each article's content hash and how many live chunks it has."""
        return {
            aid: (self._article_hash.get(aid, ""), sum(1 for s in slots if self._alive[s]))
            for aid, slots in self._article_slots.items()
        }

    def has_chunk(self, chunk_id: str) -> bool:
        return chunk_id in self._slot_of

    def chunk_ids(self) -> set[str]:
        return set(self._slot_of)

    def outlets(self, scopes: tuple[str, ...] | None = None) -> list[str]:
        """Distinct outlets of the live chunks in these scopes (all scopes with None)."""
        meta = self._meta()
        live = meta["alive"]
        if scopes is not None:
            live = live & np.isin(meta["scope"], self._codes(self._scope_code, scopes))
        codes = np.unique(meta["outlet"][live])
        return sorted(self._outlets[c] for c in codes if c != _NO_CODE)

    def article_summary(self, scopes: tuple[str, ...] | None = None) -> tuple[int, int | None]:
        """How many articles these scopes hold (all scopes with None) and the newest one's
        publication timestamp (None when none is dated)."""
        wanted = None if scopes is None else set(self._codes(self._scope_code, scopes).tolist())
        count = 0
        newest: int | None = None
        for slots in self._article_slots.values():
            first = slots[0]  # an article's chunks share its scope and date
            if wanted is not None and self._scope[first] not in wanted:
                continue
            count += 1
            ts = self._ts[first]
            if ts != NO_TIME and (newest is None or ts > newest):
                newest = ts
        return count, newest

    # --- writing -------------------------------------------------------------------------

    def put(self, article: LexicalArticle) -> None:
        """Index an article's chunks, replacing whatever the article had before."""
        self.remove(article.article_id)
        if not article.chunks:
            return
        acode = self._code(self._article_code, self._articles, article.article_id)
        ocode = (
            self._code(self._outlet_code, self._outlets, article.outlet)
            if article.outlet
            else _NO_CODE
        )
        scode = self._code(self._scope_code, self._scopes, article.scope)
        ts = article.published_ts if article.published_ts is not None else NO_TIME
        slots = []
        for chunk in article.chunks:
            if chunk.chunk_id in self._slot_of:  # the same text in another article's chunk
                self._kill(self._slot_of[chunk.chunk_id])
            slot = len(self._chunk_ids)
            self._chunk_ids.append(chunk.chunk_id)
            self._slot_of[chunk.chunk_id] = slot
            length = float(sum(chunk.tf.values()))
            self._len.append(length)
            self._article.append(acode)
            self._outlet.append(ocode)
            self._scope.append(scode)
            self._ts.append(ts)
            self._alive.append(1)
            self._put_vector(slot, chunk)
            self._alive_count += 1
            self._alive_len += length
            for term, count in chunk.tf.items():
                tid = self._vocab.get(term)
                if tid is None:
                    tid = len(self._post_docs)
                    self._vocab[term] = tid
                    self._post_docs.append(array("i"))
                    self._post_tf.append(array("i"))
                self._post_docs[tid].append(slot)
                self._post_tf[tid].append(count)
                self._np_cache.pop(tid, None)
            slots.append(slot)
        self._article_slots[article.article_id] = slots
        self._article_hash[article.article_id] = article.content_hash
        self._invalidate()

    def _put_vector(self, slot: int, chunk: LexicalChunk) -> None:
        """Row `slot` of the vectors (zeros, scale 0, for a chunk without one): once there is
        a vector, there is a row for every slot."""
        self._scale.append(chunk.scale if chunk.codes else 0.0)
        rows, dim = self._vectors.shape
        codes = np.frombuffer(chunk.codes, dtype=np.int8)
        if codes.size and dim and codes.size != dim:
            raise ValueError(f"a vector of {codes.size} dimensions in an index of {dim}")
        dim = dim or codes.size
        if not dim:
            return
        if slot >= rows:  # grow by half (amortised appends), keeping what is there
            grown = np.zeros((max(slot + 1, rows + rows // 2, 256), dim), dtype=np.int8)
            if rows:
                grown[:rows] = self._vectors
            self._vectors = grown
        if codes.size:
            self._vectors[slot] = codes

    def remove(self, article_id: str) -> bool:
        slots = self._article_slots.pop(article_id, None)
        self._article_hash.pop(article_id, None)
        if slots is None:
            return False
        for slot in slots:
            self._kill(slot)
        self._invalidate()
        return True

    def _kill(self, slot: int) -> None:
        if not self._alive[slot]:
            return
        self._alive[slot] = 0
        self._alive_count -= 1
        self._alive_len -= self._len[slot]
        cid = self._chunk_ids[slot]
        if cid is not None and self._slot_of.get(cid) == slot:
            del self._slot_of[cid]
        self._chunk_ids[slot] = None
        self._invalidate()

    @staticmethod
    def _code(codes: dict[str, int], names: list[str], name: str) -> int:
        code = codes.get(name)
        if code is None:
            code = len(names)
            codes[name] = code
            names.append(name)
        return code

    @staticmethod
    def _codes(codes: dict[str, int], names: Iterable[str]) -> npt.NDArray[np.int32]:
        return np.asarray([codes[n] for n in names if n in codes], dtype=np.int32)

    # --- reading -------------------------------------------------------------------------

    def _invalidate(self) -> None:
        """After a write: document counts and lengths changed."""
        self._np_meta = None
        self._weight_cache.clear()

    def _meta(self) -> dict[str, npt.NDArray[Any]]:
        if self._np_meta is None:
            self._np_meta = {
                "len": np.frombuffer(self._len, dtype=np.float32).copy(),
                "outlet": np.frombuffer(self._outlet, dtype=np.int32).copy(),
                "scope": np.frombuffer(self._scope, dtype=np.int32).copy(),
                "ts": np.frombuffer(self._ts, dtype=np.int64).copy(),
                "alive": np.frombuffer(self._alive, dtype=np.int8).astype(bool),
                "scale": np.frombuffer(self._scale, dtype=np.float32).copy(),
            }
        return self._np_meta

    def _postings(self, tid: int) -> tuple[npt.NDArray[np.int32], npt.NDArray[np.float32]]:
        cached = self._np_cache.get(tid)
        if cached is None:
            cached = (
                np.frombuffer(self._post_docs[tid], dtype=np.int32).copy(),
                np.frombuffer(self._post_tf[tid], dtype=np.int32).astype(np.float32),
            )
            self._np_cache[tid] = cached
        return cached

    def mask(self, flt: LexicalFilter) -> Mask:
        """Slots that are alive and pass the filter."""
        meta = self._meta()
        keep = meta["alive"].copy()
        if flt.outlets:
            by_outlet = np.isin(meta["outlet"], self._codes(self._outlet_code, flt.outlets))
            if flt.outlet_articles:
                article = np.frombuffer(self._article, dtype=np.int32)
                codes = self._codes(self._article_code, flt.outlet_articles)
                by_outlet |= np.isin(article, codes)
            keep &= by_outlet
        if flt.scopes is not None:
            keep &= np.isin(meta["scope"], self._codes(self._scope_code, flt.scopes))
        ts = meta["ts"]
        dated = ts != NO_TIME
        if flt.since_ts is not None:
            keep &= dated & (ts >= flt.since_ts)
        if flt.until_ts is not None:
            keep &= dated & (ts <= flt.until_ts)
        if flt.windows:
            inside = np.zeros_like(keep)
            for since, until in flt.windows:
                w = dated.copy()
                if since is not None:
                    w &= ts >= since
                if until is not None:
                    w &= ts <= until
                inside |= w
            keep &= inside
        return keep

    def select(self, flt: LexicalFilter) -> ChunkSelection:
        """The live chunks passing the filter now (chunks written later are not in it)."""
        return ChunkSelection(self.mask(flt), self._slot_of, self._alive_count)

    def search(
        self, query_terms: Sequence[str], k: int, flt: LexicalFilter | None = None
    ) -> list[tuple[str, float]]:
        """The k best (chunk id, BM25 score) pairs for these query terms, best first.

        A term repeated in the query counts once per repetition. Ties go to the older slot.
        """
        if k <= 0 or self._alive_count == 0:
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
        scores = np.bincount(
            docs, weights=np.concatenate(weight_parts), minlength=len(self._chunk_ids)
        )
        if flt is not None and not flt.empty:
            scores[~self.mask(flt)] = 0.0
        hits = np.flatnonzero(scores > 0)
        if hits.size > k:
            # The k best, and any tied with the k-th (so ties resolve the same way always).
            kth = np.partition(scores[hits], hits.size - k)[hits.size - k]
            hits = hits[scores[hits] >= kth]
        # Best first; among equal scores, the lower slot (the earlier stored) first.
        order = hits[np.lexsort((hits, -scores[hits]))][:k]
        out = []
        for slot in order:
            cid = self._chunk_ids[int(slot)]
            if cid is not None:
                out.append((cid, float(scores[slot])))
        return out

    def nearest(
        self, vector: npt.ArrayLike, k: int, flt: LexicalFilter | None = None
    ) -> list[tuple[str, float]]:
        """The k chunks (passing the filter) whose vectors are nearest the (unit) vector, by
        cosine, best first; ties go to the older slot. Chunks without a vector (indexed for
        BM25 alone) are not candidates."""
        if k <= 0 or self._alive_count == 0 or not self._vectors.size:
            return []
        meta = self._meta()
        keep = self.mask(flt) if flt is not None and not flt.empty else meta["alive"].copy()
        keep &= meta["scale"] > 0
        slots = np.flatnonzero(keep)
        if not slots.size:
            return []
        query = np.asarray(vector, dtype=np.float32).reshape(-1)
        sims = np.empty(slots.size, dtype=np.float32)
        for lo in range(0, slots.size, _SCAN_BLOCK):
            block = slots[lo : lo + _SCAN_BLOCK]
            sims[lo : lo + block.size] = self._vectors[block].astype(np.float32) @ query
        sims *= meta["scale"][slots]
        if slots.size > k:
            best = np.argpartition(-sims, k - 1)[:k]
            slots, sims = slots[best], sims[best]
        order = np.lexsort((slots, -sims))
        return [(str(self._chunk_ids[int(slots[i])]), float(sims[i])) for i in order]

    def document_frequencies(self, query_terms: Sequence[str]) -> tuple[dict[str, int], int]:
        """How many live chunks hold each term, and how many live chunks there are."""
        found: dict[str, int] = {}
        for term in query_terms:
            tid = self._vocab.get(term)
            found[term] = 0 if tid is None else int(self._term_weights(tid)[0].size)
        return found, self._alive_count

    def similarities(self, chunk_ids: Sequence[str], vector: npt.ArrayLike) -> dict[str, float]:
        """Cosine of the (unit) vector with each listed live chunk that has a vector, from the
        int8 copies (within ~0.002 of the float32 ones)."""
        query = np.asarray(vector, dtype=np.float32).reshape(-1)
        found: dict[str, float] = {}
        for cid in chunk_ids:
            slot = self._slot_of.get(cid)
            if slot is None or not self._alive[slot] or self._scale[slot] <= 0:
                continue
            row = self._vectors[slot].astype(np.float32)
            found[cid] = float(row @ query) * self._scale[slot]
        return found

    def _term_weights(self, tid: int) -> tuple[npt.NDArray[np.int32], npt.NDArray[np.float32]]:
        """A term's live postings and their BM25 weights (idf included), cached until the
        next write changes document counts or lengths."""
        cached = self._weight_cache.get(tid)
        if cached is not None:
            return cached
        meta = self._meta()
        n = self._alive_count
        avgdl = self._alive_len / n if n else 1.0
        docs, tf = self._postings(tid)
        live = meta["alive"][docs]
        docs, tf = docs[live], tf[live]
        df = docs.size
        if df:
            idf = math.log(1.0 + (n - df + 0.5) / (df + 0.5))
            norm = self.k1 * (1.0 - self.b + self.b * meta["len"][docs] / avgdl)
            weights = (idf * tf * (self.k1 + 1.0) / (tf + norm)).astype(np.float32)
        else:
            weights = np.zeros(0, dtype=np.float32)
        self._weight_cache[tid] = (docs, weights)
        return docs, weights

    # --- snapshot ------------------------------------------------------------------------

    def compacted(self) -> Bm25:
        """A copy without dead slots (slots renumbered; terms and articles no live chunk
        uses dropped)."""
        if self._alive_count == len(self._chunk_ids) and len(self._article_slots) == len(
            self._articles
        ):
            return self
        alive = np.frombuffer(self._alive, dtype=np.int8).astype(bool)
        remap = np.cumsum(alive, dtype=np.int64) - 1
        fresh = Bm25(k1=self.k1, b=self.b)
        for term, tid in self._vocab.items():
            docs, tf = self._postings(tid)
            keep = alive[docs]
            if not keep.any():
                continue
            fresh._vocab[term] = len(fresh._post_docs)
            fresh._post_docs.append(array("i", remap[docs[keep]].astype(np.int32).tobytes()))
            fresh._post_tf.append(array("i", tf[keep].astype(np.int32).tobytes()))
        slots = np.flatnonzero(alive)
        fresh._chunk_ids = [self._chunk_ids[s] for s in slots]
        fresh._slot_of = {str(cid): i for i, cid in enumerate(fresh._chunk_ids)}
        for name in ("_len", "_outlet", "_scope", "_ts", "_scale"):
            old: array[Any] = getattr(self, name)
            values = np.frombuffer(old, dtype=_ARRAY_DTYPES[old.typecode])[slots]
            setattr(fresh, name, array(old.typecode, values.tobytes()))
        for slot in slots:
            aid = self._articles[self._article[slot]]
            fresh._article.append(self._code(fresh._article_code, fresh._articles, aid))
        fresh._alive = array("b", bytes([1]) * len(slots))
        if self._vectors.size:
            fresh._vectors = self._vectors[slots]
        fresh._outlets, fresh._outlet_code = list(self._outlets), dict(self._outlet_code)
        fresh._scopes, fresh._scope_code = list(self._scopes), dict(self._scope_code)
        for new_slot, code in enumerate(fresh._article):
            fresh._article_slots.setdefault(fresh._articles[code], []).append(new_slot)
        fresh._article_hash = {a: self._article_hash[a] for a in fresh._article_slots}
        fresh._alive_count = len(slots)
        fresh._alive_len = float(np.sum(np.frombuffer(fresh._len, dtype=np.float32)))
        return fresh

    def to_arrays(self) -> dict[str, npt.NDArray[Any]]:
        """The index as arrays (dead slots dropped): what the snapshot file holds."""
        live = self.compacted()
        terms_list = list(live._vocab)
        offsets = np.zeros(len(terms_list) + 1, dtype=np.int64)
        for i, term in enumerate(terms_list):
            offsets[i + 1] = offsets[i] + len(live._post_docs[live._vocab[term]])
        docs = np.empty(int(offsets[-1]), dtype=np.int32)
        tfs = np.empty(int(offsets[-1]), dtype=np.int32)
        for i, term in enumerate(terms_list):
            tid = live._vocab[term]
            docs[offsets[i] : offsets[i + 1]] = np.frombuffer(live._post_docs[tid], np.int32)
            tfs[offsets[i] : offsets[i + 1]] = np.frombuffer(live._post_tf[tid], np.int32)
        hashes = [live._article_hash[a] for a in live._articles]
        return {
            "terms": _strings(terms_list),
            "offsets": offsets,
            "docs": docs,
            "tfs": tfs,
            "chunk_ids": _strings([str(c) for c in live._chunk_ids]),
            "len": np.frombuffer(live._len, dtype=np.float32).copy(),
            "article": np.frombuffer(live._article, dtype=np.int32).copy(),
            "outlet": np.frombuffer(live._outlet, dtype=np.int32).copy(),
            "scope": np.frombuffer(live._scope, dtype=np.int32).copy(),
            "ts": np.frombuffer(live._ts, dtype=np.int64).copy(),
            "scale": np.frombuffer(live._scale, dtype=np.float32).copy(),
            "vectors": live._vectors[: len(live._chunk_ids)],
            "articles": _strings(live._articles),
            "hashes": _strings(hashes),
            "outlets": _strings(live._outlets),
            "scopes": _strings(live._scopes),
        }

    @classmethod
    def from_arrays(cls, arrays: Mapping[str, npt.NDArray[Any]]) -> Bm25:
        bm = cls()
        terms_list = _unstrings(arrays["terms"])
        offsets = arrays["offsets"]
        docs = arrays["docs"].astype(np.int32)
        tfs = arrays["tfs"].astype(np.int32)
        for i, term in enumerate(terms_list):
            bm._vocab[term] = i
            bm._post_docs.append(array("i", docs[offsets[i] : offsets[i + 1]].tobytes()))
            bm._post_tf.append(array("i", tfs[offsets[i] : offsets[i + 1]].tobytes()))
        chunk_ids = _unstrings(arrays["chunk_ids"])
        bm._chunk_ids = list(chunk_ids)
        bm._slot_of = {cid: slot for slot, cid in enumerate(chunk_ids)}
        bm._len = array("f", arrays["len"].astype(np.float32).tobytes())
        bm._article = array("i", arrays["article"].astype(np.int32).tobytes())
        bm._outlet = array("i", arrays["outlet"].astype(np.int32).tobytes())
        bm._scope = array("i", arrays["scope"].astype(np.int32).tobytes())
        bm._ts = array("q", arrays["ts"].astype(np.int64).tobytes())
        bm._alive = array("b", bytes([1]) * len(chunk_ids))
        bm._scale = array("f", arrays["scale"].astype(np.float32).tobytes())
        bm._vectors = arrays["vectors"].astype(np.int8, copy=False)
        bm._articles = _unstrings(arrays["articles"])
        bm._article_code = {a: i for i, a in enumerate(bm._articles)}
        hashes = _unstrings(arrays["hashes"])
        bm._outlets = _unstrings(arrays["outlets"])
        bm._outlet_code = {o: i for i, o in enumerate(bm._outlets)}
        bm._scopes = _unstrings(arrays["scopes"])
        bm._scope_code = {s: i for i, s in enumerate(bm._scopes)}
        for slot, code in enumerate(bm._article):
            bm._article_slots.setdefault(bm._articles[code], []).append(slot)
        bm._article_hash = {
            bm._articles[code]: hashes[code]
            for code in range(len(bm._articles))
            if bm._articles[code] in bm._article_slots
        }
        bm._alive_count = len(chunk_ids)
        bm._alive_len = float(np.sum(arrays["len"], dtype=np.float64))
        return bm


def _strings(items: Sequence[str]) -> npt.NDArray[np.uint8]:
    """Strings as one UTF-8 buffer (newline-separated; none of ours holds a newline)."""
    return np.frombuffer("\n".join(items).encode("utf-8"), dtype=np.uint8)


def _unstrings(buf: npt.NDArray[Any]) -> list[str]:
    text = bytes(buf.astype(np.uint8)).decode("utf-8")
    return text.split("\n") if text else []


class ChunkSource(Protocol):
    """What the lexical index is derived from (Chroma, through `ChromaIndex`)."""

    def lexical_article_states(self) -> dict[str, tuple[str, int]]:
        """Every stored (lead) article's content hash and chunk count, as its record says."""
        ...

    def lexical_chunk_count(self) -> int: ...

    def lexical_articles(self, article_ids: Sequence[str]) -> Iterator[LexicalArticle]:
        """These articles, with the stored chunks their records name."""
        ...


class LexicalStore:
    """A `Bm25` kept equal to Chroma: loaded lazily, written through on every change,
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
        self._bm: Bm25 | None = None
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

    def index(self) -> Bm25:
        """The current index: loaded (and checked against the source) on first use, then
        caught up with other processes' journal entries on every call."""
        with self._lock:
            if self._bm is None:
                with self._file_lock():
                    self._load()
            else:
                self._catch_up()
            assert self._bm is not None
            return self._bm

    def search(
        self, query_terms: Sequence[str], k: int, flt: LexicalFilter | None = None
    ) -> list[tuple[str, float]]:
        with self._lock:
            return self.index().search(query_terms, k, flt)

    def outlets(self, scopes: tuple[str, ...] | None = None) -> list[str]:
        with self._lock:
            return self.index().outlets(scopes)

    def select(self, flt: LexicalFilter) -> ChunkSelection:
        with self._lock:
            return self.index().select(flt)

    def article_summary(self, scopes: tuple[str, ...] | None = None) -> tuple[int, int | None]:
        with self._lock:
            return self.index().article_summary(scopes)

    def nearest(
        self, vector: npt.ArrayLike, k: int, flt: LexicalFilter | None = None
    ) -> list[tuple[str, float]]:
        with self._lock:
            return self.index().nearest(vector, k, flt)

    def document_frequencies(self, query_terms: Sequence[str]) -> tuple[dict[str, int], int]:
        with self._lock:
            return self.index().document_frequencies(query_terms)

    def similarities(self, chunk_ids: Sequence[str], vector: npt.ArrayLike) -> dict[str, float]:
        with self._lock:
            return self.index().similarities(chunk_ids, vector)

    def known(self, chunk_ids: Iterable[str]) -> set[str]:
        """Those of these chunks that the index holds: the committed ones (a record names
        them), since it learns of an article's chunks only after its record is written."""
        with self._lock:
            bm = self.index()
            return {cid for cid in chunk_ids if bm.has_chunk(cid)}

    def article_states(
        self, article_ids: Iterable[str] | None = None
    ) -> dict[str, tuple[str, int]]:
        with self._lock:
            states = self.index().article_states()
        if article_ids is None:
            return states
        return {aid: states[aid] for aid in article_ids if aid in states}

    def refresh(self, article_ids: Sequence[str], *, keep: Iterable[str]) -> None:
        """Index these articles again from the source: those in `keep` as stored, the others
        removed (repair)."""
        kept = set(keep)
        found = {
            a.article_id: a
            for a in self._source.lexical_articles([aid for aid in article_ids if aid in kept])
        }
        for aid in article_ids:
            if aid in found:
                self.put(found[aid])
            else:
                self.remove(aid)

    # --- writing -------------------------------------------------------------------------

    def put(self, article: LexicalArticle) -> None:
        self._write(article.to_json(), lambda bm: bm.put(article), len(article.chunks))

    def remove(self, article_id: str) -> None:
        self._write({"del": article_id}, lambda bm: bm.remove(article_id), 1)

    def _write(self, record: dict[str, Any], apply: Callable[[Bm25], object], size: int) -> None:
        with self._lock, self._file_lock():
            if self._bm is None:
                self._load()
            else:
                self._catch_up(locked=True)
            assert self._bm is not None
            apply(self._bm)
            if self._bm.slot_count > 2 * self._bm.chunk_count + COMPACT_MIN_CHUNKS:
                self._bm = self._bm.compacted()  # replaced chunks leave dead slots behind
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
                COMPACT_MIN_CHUNKS, COMPACT_FRACTION * self._bm.chunk_count
            ):
                self._save()

    # --- loading, checking, saving --------------------------------------------------------

    def _load(self) -> None:
        started = time.perf_counter()
        bm: Bm25 | None = None
        snapshot = self.snapshot_path
        if snapshot is not None and snapshot.exists():
            try:
                with np.load(snapshot, allow_pickle=False) as data:
                    meta = json.loads(bytes(data["meta"]).decode("utf-8"))
                    if (
                        meta.get("format") == FORMAT_VERSION
                        and meta.get("tokenizer") == TOKENIZER_VERSION
                    ):
                        bm = Bm25.from_arrays({key: data[key] for key in data.files})
                        self._generation = str(meta.get("generation", ""))
                    else:
                        log.info("Lexical index %s is of another version: rebuilding", snapshot)
            except Exception as exc:  # EOFError, BadZipFile, ...: any damage rebuilds
                log.warning("Lexical index %s is unreadable (%s): rebuilding", snapshot, exc)
                bm = None
        self._bm = bm if bm is not None else Bm25()
        if bm is None:
            self._generation = ""
        self._journal_pos = 0
        self._journal_ino = 0
        self._journal_chunks = 0
        self._replay()
        repaired = self._repair()
        if (
            repaired
            or bm is None
            or self._journal_chunks
            >= max(COMPACT_MIN_CHUNKS, COMPACT_FRACTION * self._bm.chunk_count)
        ):
            self._save()
        log.debug(
            "Lexical index %s: %d chunks, loaded in %.2f s",
            self._name,
            self._bm.chunk_count,
            time.perf_counter() - started,
        )

    def _replay(self) -> None:
        """Apply journal entries past what this process has read (generation permitting)."""
        journal = self.journal_path
        assert self._bm is not None
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
                    article = LexicalArticle.from_json(entry)
                    self._bm.put(article)
                    self._journal_chunks += len(article.chunks)
                elif "del" in entry:
                    self._bm.remove(str(entry["del"]))
                    self._journal_chunks += 1
            self._journal_pos = pos
            self._journal_ino = st.st_ino

    def _catch_up(self, *, locked: bool = False) -> None:
        """Pick up what other processes wrote since we last looked."""
        assert self._bm is not None
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
                self._bm = None
                if locked:
                    self._load()
                else:
                    with self._file_lock():
                        self._load()
                return
            if st is not None and st.st_size > self._journal_pos:
                self._replay()
        now = time.monotonic()
        if now - self._checked_at >= STALE_CHECK_SECONDS:
            self._checked_at = now
            count = self._source.lexical_chunk_count()
            if count != self._bm.chunk_count and count != self._settled_count:
                if locked:
                    self._repair()
                else:
                    with self._file_lock():
                        self._repair()

    def _repair(self) -> bool:
        """Make the index equal to the source; True if anything had to change."""
        assert self._bm is not None
        self._checked_at = time.monotonic()
        count = self._source.lexical_chunk_count()
        theirs = self._source.lexical_article_states()
        ours = self._bm.article_states()
        stale = [aid for aid, state in ours.items() if theirs.get(aid) != state]
        missing = [aid for aid, state in theirs.items() if ours.get(aid) != state]
        for aid in stale:
            self._bm.remove(aid)
        if missing:
            log.info("Lexical index %s: indexing %d articles from Chroma", self._name, len(missing))
            for article in self._source.lexical_articles(missing):
                self._bm.put(article)
        changed = bool(stale or missing)
        self._settled_count = count
        if changed:
            self.rebuilds += 1
        return changed

    def _save(self) -> None:
        """Write a fresh snapshot and start an empty journal (caller holds the file lock)."""
        assert self._bm is not None
        snapshot, journal = self.snapshot_path, self.journal_path
        if snapshot is None or journal is None:
            self._journal_chunks = 0
            return
        self._bm = self._bm.compacted()
        self._generation = uuid.uuid4().hex
        arrays = self._bm.to_arrays()
        meta = {
            "format": FORMAT_VERSION,
            "tokenizer": TOKENIZER_VERSION,
            "generation": self._generation,
            "chunks": self._bm.chunk_count,
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
