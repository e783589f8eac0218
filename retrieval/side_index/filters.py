"""Which slots a search may return: `ChunkFilter` (a search's restrictions, in timestamps),
the mask of the live slots that pass one, the `ChunkSelection` a filtered dense search checks
hits against, and the counts read per scope (outlets, articles, the newest date)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from retrieval.side_index.table import NO_CODE, NO_TIME, ChunkTable

Mask = npt.NDArray[np.bool_]


@dataclass(frozen=True, slots=True)
class ChunkFilter:
    """What a side-index search may return; mirrors `retrieval.index.SearchFilters`, in
    timestamps. `windows` are (since, until) pairs of which a chunk must fall in one."""

    outlets: tuple[str, ...] = ()
    # Articles that count as from `outlets` too (leads of syndicated copies).
    outlet_articles: tuple[str, ...] = ()
    since_ts: int | None = None
    until_ts: int | None = None
    windows: tuple[tuple[int | None, int | None], ...] = ()
    scopes: tuple[str, ...] | None = None
    article_ids: tuple[str, ...] | None = None  # only these articles' chunks

    @property
    def empty(self) -> bool:
        return (
            not self.outlets
            and self.since_ts is None
            and self.until_ts is None
            and not self.windows
            and self.scopes is None
            and self.article_ids is None
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


def mask(table: ChunkTable, flt: ChunkFilter) -> Mask:
    """Slots that are alive and pass the filter."""
    columns = table.columns()
    keep = columns.alive.copy()
    if flt.outlets:
        by_outlet = np.isin(columns.outlet, table.outlet_codes(flt.outlets))
        if flt.outlet_articles:
            article = np.frombuffer(table.article, dtype=np.int32)
            by_outlet |= np.isin(article, table.article_codes(flt.outlet_articles))
        keep &= by_outlet
    if flt.scopes is not None:
        keep &= np.isin(columns.scope, table.scope_codes(flt.scopes))
    if flt.article_ids is not None:
        article = np.frombuffer(table.article, dtype=np.int32)
        keep &= np.isin(article, table.article_codes(flt.article_ids))
    ts = columns.ts
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


def select(table: ChunkTable, flt: ChunkFilter) -> ChunkSelection:
    """The live chunks passing the filter now (chunks written later are not in it)."""
    return ChunkSelection(mask(table, flt), table.slot_of, table.alive_count)


def outlets(table: ChunkTable, scopes: tuple[str, ...] | None = None) -> list[str]:
    """Distinct outlets of the live chunks in these scopes (all scopes with None)."""
    columns = table.columns()
    live = columns.alive
    if scopes is not None:
        live = live & np.isin(columns.scope, table.scope_codes(scopes))
    codes = np.unique(columns.outlet[live])
    return sorted(table.outlets[c] for c in codes if c != NO_CODE)


def article_summary(
    table: ChunkTable, scopes: tuple[str, ...] | None = None
) -> tuple[int, int | None]:
    """How many articles these scopes hold (all scopes with None) and the newest one's
    publication timestamp (None when none is dated)."""
    wanted = None if scopes is None else set(table.scope_codes(scopes).tolist())
    count = 0
    newest: int | None = None
    for slots in table.article_slots.values():
        first = slots[0]  # an article's chunks share its scope and date
        if wanted is not None and table.scope[first] not in wanted:
            continue
        count += 1
        ts = table.ts[first]
        if ts != NO_TIME and (newest is None or ts > newest):
            newest = ts
    return count, newest
