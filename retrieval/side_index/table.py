"""The slot table the side index is made of: one slot per indexed chunk, holding its id, its
article, outlet, scope, publication time and length in terms, and whether it is live. BM25
postings (`bm25`), chunk vectors (`vectors`) and filter masks (`filters`) are all indexed by
these slots.

Slots grow by appending (python arrays, turned into numpy arrays on the first read that needs
them); a replaced or removed chunk leaves a dead slot behind until `compacted()`.
"""

from __future__ import annotations

from array import array
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from retrieval.side_index.articles import IndexedArticle

# The publication time of an undated chunk.
NO_TIME = int(np.iinfo(np.int64).min)
# The outlet code of a chunk without an outlet.
NO_CODE = -1
_ARRAY_DTYPES = {"f": np.float32, "i": np.int32, "q": np.int64, "b": np.int8}


@dataclass(frozen=True, slots=True)
class SlotColumns:
    """The per-slot columns as numpy arrays, as of one version of the table."""

    length: npt.NDArray[np.float32]
    outlet: npt.NDArray[np.int32]
    scope: npt.NDArray[np.int32]
    ts: npt.NDArray[np.int64]
    alive: npt.NDArray[np.bool_]


class ChunkTable:
    """Slots and what each holds; the parts of the side index read these columns directly
    (and write only through `put` and `remove`)."""

    def __init__(self) -> None:
        self.slot_chunk: list[str | None] = []  # each slot's chunk id; None once dead
        self.slot_of: dict[str, int] = {}  # each live chunk's slot
        self.length = array("f")  # terms in the chunk (BM25's document length)
        self.article = array("i")
        self.outlet = array("i")
        self.scope = array("i")
        self.ts = array("q")
        self.alive = array("b")
        self.articles: list[str] = []
        self.article_code: dict[str, int] = {}
        self.article_slots: dict[str, list[int]] = {}
        self.article_hash: dict[str, str] = {}
        self.outlets: list[str] = []
        self.outlet_code: dict[str, int] = {}
        self.scopes: list[str] = []
        self.scope_code: dict[str, int] = {}
        self.alive_count = 0
        self.alive_length = 0.0
        # Bumped by every write: what the caches of the other parts are valid for.
        self.version = 0
        self._columns: SlotColumns | None = None

    # --- size and identity ---------------------------------------------------------------

    @property
    def chunk_count(self) -> int:
        return self.alive_count

    @property
    def slot_count(self) -> int:
        return len(self.slot_chunk)

    @property
    def is_compact(self) -> bool:
        """No dead slots, and no article code left without a live chunk."""
        return self.alive_count == len(self.slot_chunk) and len(self.article_slots) == len(
            self.articles
        )

    def article_hashes(self) -> dict[str, str]:
        return dict(self.article_hash)

    def article_states(self) -> dict[str, tuple[str, int]]:
        """Each article's content hash and how many live chunks it has."""
        return {
            aid: (self.article_hash.get(aid, ""), sum(1 for s in slots if self.alive[s]))
            for aid, slots in self.article_slots.items()
        }

    def has_chunk(self, chunk_id: str) -> bool:
        return chunk_id in self.slot_of

    def chunk_ids(self) -> set[str]:
        return set(self.slot_of)

    # --- writing -------------------------------------------------------------------------

    def put(self, article: IndexedArticle) -> list[int]:
        """New slots for an article's chunks (in their order), replacing whatever the article
        had before; the caller fills the other parts' rows of these slots."""
        self.remove(article.article_id)
        if not article.chunks:
            return []
        acode = self._code(self.article_code, self.articles, article.article_id)
        ocode = (
            self._code(self.outlet_code, self.outlets, article.outlet)
            if article.outlet
            else NO_CODE
        )
        scode = self._code(self.scope_code, self.scopes, article.scope)
        ts = article.published_ts if article.published_ts is not None else NO_TIME
        slots = []
        for chunk in article.chunks:
            if chunk.chunk_id in self.slot_of:  # the same text in another article's chunk
                self._kill(self.slot_of[chunk.chunk_id])
            slot = len(self.slot_chunk)
            self.slot_chunk.append(chunk.chunk_id)
            self.slot_of[chunk.chunk_id] = slot
            length = float(sum(chunk.tf.values()))
            self.length.append(length)
            self.article.append(acode)
            self.outlet.append(ocode)
            self.scope.append(scode)
            self.ts.append(ts)
            self.alive.append(1)
            self.alive_count += 1
            self.alive_length += length
            slots.append(slot)
        self.article_slots[article.article_id] = slots
        self.article_hash[article.article_id] = article.content_hash
        self._changed()
        return slots

    def remove(self, article_id: str) -> bool:
        slots = self.article_slots.pop(article_id, None)
        self.article_hash.pop(article_id, None)
        if slots is None:
            return False
        for slot in slots:
            self._kill(slot)
        self._changed()
        return True

    def _kill(self, slot: int) -> None:
        if not self.alive[slot]:
            return
        self.alive[slot] = 0
        self.alive_count -= 1
        self.alive_length -= self.length[slot]
        cid = self.slot_chunk[slot]
        if cid is not None and self.slot_of.get(cid) == slot:
            del self.slot_of[cid]
        self.slot_chunk[slot] = None
        self._changed()

    def _changed(self) -> None:
        """After a write: liveness, document counts and lengths may have changed."""
        self.version += 1
        self._columns = None

    @staticmethod
    def _code(codes: dict[str, int], names: list[str], name: str) -> int:
        code = codes.get(name)
        if code is None:
            code = len(names)
            codes[name] = code
            names.append(name)
        return code

    # --- reading -------------------------------------------------------------------------

    def columns(self) -> SlotColumns:
        """The per-slot columns as numpy arrays (cached until the next write)."""
        if self._columns is None:
            self._columns = SlotColumns(
                length=np.frombuffer(self.length, dtype=np.float32).copy(),
                outlet=np.frombuffer(self.outlet, dtype=np.int32).copy(),
                scope=np.frombuffer(self.scope, dtype=np.int32).copy(),
                ts=np.frombuffer(self.ts, dtype=np.int64).copy(),
                alive=np.frombuffer(self.alive, dtype=np.int8).astype(bool),
            )
        return self._columns

    def outlet_codes(self, names: Iterable[str]) -> npt.NDArray[np.int32]:
        return _codes(self.outlet_code, names)

    def scope_codes(self, names: Iterable[str]) -> npt.NDArray[np.int32]:
        return _codes(self.scope_code, names)

    def article_codes(self, article_ids: Iterable[str]) -> npt.NDArray[np.int32]:
        return _codes(self.article_code, article_ids)

    # --- compaction and the snapshot -------------------------------------------------------

    def alive_mask(self) -> npt.NDArray[np.bool_]:
        return np.frombuffer(self.alive, dtype=np.int8).astype(bool)

    def compacted(self, slots: npt.NDArray[np.intp]) -> ChunkTable:
        """A table of just these (live) slots, renumbered in order; articles no live chunk
        uses dropped."""
        fresh = ChunkTable()
        fresh.slot_chunk = [self.slot_chunk[s] for s in slots]
        fresh.slot_of = {str(cid): i for i, cid in enumerate(fresh.slot_chunk)}
        for name in ("length", "outlet", "scope", "ts"):
            old: array[Any] = getattr(self, name)
            values = np.frombuffer(old, dtype=_ARRAY_DTYPES[old.typecode])[slots]
            setattr(fresh, name, array(old.typecode, values.tobytes()))
        for slot in slots:
            aid = self.articles[self.article[slot]]
            fresh.article.append(self._code(fresh.article_code, fresh.articles, aid))
        fresh.alive = array("b", bytes([1]) * len(slots))
        fresh.outlets, fresh.outlet_code = list(self.outlets), dict(self.outlet_code)
        fresh.scopes, fresh.scope_code = list(self.scopes), dict(self.scope_code)
        for new_slot, code in enumerate(fresh.article):
            fresh.article_slots.setdefault(fresh.articles[code], []).append(new_slot)
        fresh.article_hash = {a: self.article_hash[a] for a in fresh.article_slots}
        fresh.alive_count = len(slots)
        fresh.alive_length = float(np.sum(np.frombuffer(fresh.length, dtype=np.float32)))
        return fresh

    def to_arrays(self) -> dict[str, npt.NDArray[Any]]:
        """The table's part of the snapshot (of a compacted table)."""
        hashes = [self.article_hash[a] for a in self.articles]
        return {
            "chunk_ids": strings_array([str(c) for c in self.slot_chunk]),
            "len": np.frombuffer(self.length, dtype=np.float32).copy(),
            "article": np.frombuffer(self.article, dtype=np.int32).copy(),
            "outlet": np.frombuffer(self.outlet, dtype=np.int32).copy(),
            "scope": np.frombuffer(self.scope, dtype=np.int32).copy(),
            "ts": np.frombuffer(self.ts, dtype=np.int64).copy(),
            "articles": strings_array(self.articles),
            "hashes": strings_array(hashes),
            "outlets": strings_array(self.outlets),
            "scopes": strings_array(self.scopes),
        }

    @classmethod
    def from_arrays(cls, arrays: Mapping[str, npt.NDArray[Any]]) -> ChunkTable:
        table = cls()
        chunk_ids = array_strings(arrays["chunk_ids"])
        table.slot_chunk = list(chunk_ids)
        table.slot_of = {cid: slot for slot, cid in enumerate(chunk_ids)}
        table.length = array("f", arrays["len"].astype(np.float32).tobytes())
        table.article = array("i", arrays["article"].astype(np.int32).tobytes())
        table.outlet = array("i", arrays["outlet"].astype(np.int32).tobytes())
        table.scope = array("i", arrays["scope"].astype(np.int32).tobytes())
        table.ts = array("q", arrays["ts"].astype(np.int64).tobytes())
        table.alive = array("b", bytes([1]) * len(chunk_ids))
        table.articles = array_strings(arrays["articles"])
        table.article_code = {a: i for i, a in enumerate(table.articles)}
        hashes = array_strings(arrays["hashes"])
        table.outlets = array_strings(arrays["outlets"])
        table.outlet_code = {o: i for i, o in enumerate(table.outlets)}
        table.scopes = array_strings(arrays["scopes"])
        table.scope_code = {s: i for i, s in enumerate(table.scopes)}
        for slot, code in enumerate(table.article):
            table.article_slots.setdefault(table.articles[code], []).append(slot)
        table.article_hash = {
            table.articles[code]: hashes[code]
            for code in range(len(table.articles))
            if table.articles[code] in table.article_slots
        }
        table.alive_count = len(chunk_ids)
        table.alive_length = float(np.sum(arrays["len"], dtype=np.float64))
        return table


def _codes(codes: Mapping[str, int], names: Iterable[str]) -> npt.NDArray[np.int32]:
    return np.asarray([codes[n] for n in names if n in codes], dtype=np.int32)


def strings_array(items: Sequence[str]) -> npt.NDArray[np.uint8]:
    """Strings as one UTF-8 buffer (newline-separated; none of ours holds a newline): how the
    snapshot holds lists of strings."""
    return np.frombuffer("\n".join(items).encode("utf-8"), dtype=np.uint8)


def array_strings(buf: npt.NDArray[Any]) -> list[str]:
    """`strings_array` read back."""
    text = bytes(buf.astype(np.uint8)).decode("utf-8")
    return text.split("\n") if text else []
