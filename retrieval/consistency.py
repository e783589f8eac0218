"""Finding and repairing what a crash (or an older version's write order) left behind.

The states a store can be found in, each checked here:
- chunks no record names (an interrupted write or forget): invisible to readers, deleted;
- records naming chunks that are not stored, or whose chunks' vectors cannot be read back:
  the article cannot be searched as it is, so it is chunked and embedded again from its
  stored body (by the ingest layer: `needs_embedding`);
- records from before records named their chunks: a chunk whose text is not its article's
  stored body at its offsets belongs to another version (the "vanished update" state of
  older versions) and goes; the others are named;
- copies whose lead is gone (an interrupted forget): they become leads again (ingest layer);
- a BM25 index that disagrees with the records: those articles are indexed again.

`check_store(index, ids=None)` looks at every article, `ids` at those only (what a writer's
unfinished write intents name: the cheap repair on open).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from retrieval.index import CHUNK_IDS, COPY_OF, MetaValue, named_chunks
from retrieval.models import StoredArticle
from retrieval.side_index.persisted import PersistentSideIndex

log = logging.getLogger(__name__)


class CheckedStore(Protocol):
    """What the check reads and repairs of a store (`ChromaIndex` is one): its Chroma
    collections as they are, and the side index derived from them."""

    @property
    def chunk_collection(self) -> Any: ...

    @property
    def article_collection(self) -> Any: ...

    @property
    def side_index(self) -> PersistentSideIndex: ...

    def delete_chunks(self, chunk_ids: Sequence[str]) -> None: ...

    def get_articles(self, article_ids: Sequence[str]) -> dict[str, StoredArticle]: ...

    def get_bodies(self, article_ids: Sequence[str]) -> dict[str, str]: ...

    def update_article_fields(
        self, updates: Mapping[str, Mapping[str, MetaValue | None]]
    ) -> None: ...


_PAGE = 2000


@dataclass(slots=True)
class StoreCheck:
    articles: int = 0
    copies: int = 0
    chunks: int = 0
    orphan_chunks: list[str] = field(default_factory=list)
    # Leads whose chunks are missing, stale or unreadable: to chunk and embed again.
    needs_embedding: list[str] = field(default_factory=list)
    stranded_copies: list[str] = field(default_factory=list)
    unnamed_records: int = 0  # records from before they named their chunks
    lexical_disagrees: int = 0
    repaired: bool = False

    @property
    def whole(self) -> bool:
        return not (
            self.orphan_chunks
            or self.needs_embedding
            or self.stranded_copies
            or self.lexical_disagrees
        )

    def to_json(self) -> dict[str, object]:
        return {
            "whole": self.whole,
            "articles": self.articles,
            "copies": self.copies,
            "chunks": self.chunks,
            "orphan_chunks": len(self.orphan_chunks),
            "needs_embedding": sorted(self.needs_embedding),
            "stranded_copies": sorted(self.stranded_copies),
            "unnamed_records": self.unnamed_records,
            "lexical_disagrees": self.lexical_disagrees,
            "repaired": self.repaired,
        }


def check_store(
    index: CheckedStore, *, ids: Iterable[str] | None = None, repair: bool = False
) -> StoreCheck:
    """What is wrong with the store (or with articles `ids`); with `repair`, fix what the
    index can fix itself (orphans, names, the BM25 index). `needs_embedding` and
    `stranded_copies` are left to the caller, who has the model (ingest/repair.py)."""
    wanted = None if ids is None else sorted(set(ids))
    records = _records(index, wanted)
    report = StoreCheck()
    leads = {aid for aid, meta in records.items() if _is_lead(meta)}
    copies = {aid: str(meta[COPY_OF]) for aid, meta in records.items() if meta.get(COPY_OF)}
    report.articles, report.copies = len(leads), len(copies)
    elsewhere = index.get_articles(sorted(set(copies.values()) - leads))
    for aid, lead_id in copies.items():
        if lead_id in leads:
            continue
        lead = elsewhere.get(lead_id)
        if lead is None or lead.copy_of is not None or not lead.chunk_count:
            report.stranded_copies.append(aid)
    present: dict[str, set[str]] = {}
    legacy_rows: dict[str, list[tuple[str, int, int, str]]] = {}
    for cid, aid, meta, text in _chunks(index, wanted):
        report.chunks += 1
        record = records.get(aid)
        if record is None or aid not in leads:
            report.orphan_chunks.append(cid)
            continue
        named = named_chunks(record)
        if named is None:
            legacy_rows.setdefault(aid, []).append(
                (cid, int(meta.get("start", 0)), int(meta.get("end", 0)), text)
            )
        elif cid in named:
            present.setdefault(aid, set()).add(cid)
        else:
            report.orphan_chunks.append(cid)
    # Records of older versions: a chunk is this version's when the body says so.
    newly_named: dict[str, str] = {}
    if legacy_rows or any(named_chunks(records[a]) is None for a in leads):
        legacy = [a for a in leads if named_chunks(records[a]) is None]
        report.unnamed_records = len(legacy)
        bodies = _bodies(index, legacy)
        for aid in legacy:
            body = bodies.get(aid, "")
            good: list[str] = []
            for cid, start, end, text in legacy_rows.get(aid, []):
                if body[start:end] == text:
                    good.append(cid)
                else:
                    report.orphan_chunks.append(cid)
            present[aid] = set(good)
            if len(good) == int(records[aid].get("chunk_count", 0)):
                newly_named[aid] = " ".join(good)
    for aid in leads:
        named = named_chunks(records[aid])
        incomplete = bool(named - present.get(aid, set())) if named is not None else None
        if incomplete or (incomplete is None and aid not in newly_named):
            report.needs_embedding.append(aid)
    report.needs_embedding += [
        aid for aid in _unreadable(index, present) if aid not in set(report.needs_embedding)
    ]
    lexical = index.side_index.article_states(wanted)
    for aid in leads:
        meta = records[aid]
        if lexical.get(aid) != (str(meta.get("content_hash", "")), int(meta.get("chunk_count", 0))):
            report.lexical_disagrees += 1
    stray = [aid for aid in lexical if aid not in leads]
    report.lexical_disagrees += len(stray)
    if not repair:
        return report
    if report.orphan_chunks:
        log.warning("Store repair: deleting %d chunks no article names", len(report.orphan_chunks))
        index.delete_chunks(report.orphan_chunks)
    if newly_named:
        index.update_article_fields({aid: {CHUNK_IDS: value} for aid, value in newly_named.items()})
    broken = set(report.needs_embedding)
    refresh = [aid for aid in leads if aid not in broken] + stray
    if wanted is not None:
        refresh = sorted(set(refresh) | (set(wanted) - set(records)))
    if report.lexical_disagrees or report.orphan_chunks or wanted is not None:
        index.side_index.refresh(refresh, keep=[a for a in leads if a not in broken])
    report.repaired = True
    return report


def _is_lead(meta: dict[str, Any]) -> bool:
    return not meta.get(COPY_OF) and int(meta.get("chunk_count", 0) or 0) > 0


def _records(index: CheckedStore, ids: Sequence[str] | None) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    collection = index.article_collection
    if ids is not None:
        for lo in range(0, len(ids), _PAGE):
            got = collection.get(ids=list(ids[lo : lo + _PAGE]), include=["metadatas"])
            for aid, meta in zip(got["ids"], got["metadatas"] or [], strict=True):
                found[aid] = dict(meta or {})
        return found
    offset = 0
    while True:
        got = collection.get(include=["metadatas"], limit=_PAGE, offset=offset)
        for aid, meta in zip(got["ids"], got["metadatas"] or [], strict=True):
            found[aid] = dict(meta or {})
        if len(got["ids"]) < _PAGE:
            return found
        offset += len(got["ids"])


def _chunks(
    index: CheckedStore, ids: Sequence[str] | None
) -> Iterator[tuple[str, str, dict[str, Any], str]]:
    """Every chunk (of these articles) as (chunk id, article id, metadata, text)."""
    collection = index.chunk_collection
    pages: Iterator[dict[str, Any]]
    if ids is not None:
        pages = (
            collection.get(
                where={"article_id": {"$in": list(ids[lo : lo + 100])}},
                include=["metadatas", "documents"],
            )
            for lo in range(0, len(ids), 100)
        )
    else:
        pages = _paged(collection)
    for got in pages:
        for cid, meta, doc in zip(
            got["ids"], got["metadatas"] or [], got["documents"] or [], strict=True
        ):
            m = dict(meta or {})
            yield cid, str(m.get("article_id", "")), m, doc or ""


def _paged(collection: Any) -> Iterator[dict[str, Any]]:
    offset = 0
    while True:
        got = collection.get(include=["metadatas", "documents"], limit=_PAGE, offset=offset)
        if not got["ids"]:
            return
        yield got
        offset += len(got["ids"])


def _bodies(index: CheckedStore, ids: Sequence[str]) -> dict[str, str]:
    found: dict[str, str] = {}
    for lo in range(0, len(ids), 200):
        found.update(index.get_bodies(list(ids[lo : lo + 200])))
    return found


def _unreadable(index: CheckedStore, present: dict[str, set[str]]) -> list[str]:
    """Articles some of whose chunks' vectors Chroma cannot read back."""
    collection = index.chunk_collection
    broken: list[str] = []
    batch: list[tuple[str, str]] = []

    def flush() -> None:
        ids = [cid for cid, _ in batch]
        try:
            got = collection.get(ids=ids, include=["embeddings"])
            vectors = got["embeddings"] if got["embeddings"] is not None else []
            readable = {
                cid
                for cid, vector in zip(got["ids"], vectors, strict=True)
                if vector is not None and len(vector)
            }
        except Exception as exc:  # Chroma raises InternalError ("Error getting embedding")
            log.warning("Chroma cannot read back %d chunks' vectors: %s", len(ids), exc)
            readable = _readable_one_by_one(collection, ids)
        broken.extend({aid for cid, aid in batch if cid not in readable})
        batch.clear()

    for aid, cids in present.items():
        for cid in cids:
            batch.append((cid, aid))
            if len(batch) >= _PAGE:
                flush()
    if batch:
        flush()
    return sorted(set(broken))


def _readable_one_by_one(collection: Any, ids: Sequence[str]) -> set[str]:
    readable: set[str] = set()
    for cid in ids:
        try:
            got = collection.get(ids=[cid], include=["embeddings"])
        except Exception:  # each failure is the finding
            continue
        if got["ids"] and got["embeddings"] is not None and len(got["embeddings"][0]):
            readable.add(cid)
    return readable
