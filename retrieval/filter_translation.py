"""`SearchFilters` in the terms of the two places a search runs: Chroma's `where` clause and
the side index's `ChunkFilter`. Either way `outlet_articles` count as from the filter's
outlets (leads of their syndicated copies)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from retrieval.index import SearchFilters, epoch_seconds
from retrieval.side_index.filters import ChunkFilter


def chroma_where(
    filters: SearchFilters | None, outlet_articles: Sequence[str] = ()
) -> dict[str, Any] | None:
    """Chroma's where clause (None: no restriction)."""
    if filters is None:
        return None
    clauses: list[dict[str, Any]] = []
    if filters.outlets:
        outlets = list(filters.outlets)
        clause: dict[str, Any] = (
            {"outlet": outlets[0]} if len(outlets) == 1 else {"outlet": {"$in": outlets}}
        )
        if outlet_articles:
            clause = {"$or": [clause, {"article_id": {"$in": list(outlet_articles)}}]}
        clauses.append(clause)
    if filters.since is not None:
        clauses.append({"published_ts": {"$gte": epoch_seconds(filters.since)}})
    if filters.until is not None:
        clauses.append({"published_ts": {"$lte": epoch_seconds(filters.until)}})
    if filters.scopes is not None:
        clauses.append({"scope": {"$in": list(filters.scopes)}})
    if filters.windows:
        windows = [_range_clause(since, until) for since, until in filters.windows]
        clauses.append(windows[0] if len(windows) == 1 else {"$or": windows})
    if filters.article_ids is not None:
        # None is everything; no article has the empty id, so an empty list keeps nothing
        # (Chroma refuses `$in: []`).
        ids = list(filters.article_ids) or [""]
        clauses.append({"article_id": ids[0]} if len(ids) == 1 else {"article_id": {"$in": ids}})
    if not clauses:
        return None
    return clauses[0] if len(clauses) == 1 else {"$and": clauses}


def _range_clause(since: datetime | None, until: datetime | None) -> dict[str, Any]:
    parts: list[dict[str, Any]] = []
    if since is not None:
        parts.append({"published_ts": {"$gte": epoch_seconds(since)}})
    if until is not None:
        parts.append({"published_ts": {"$lte": epoch_seconds(until)}})
    if not parts:  # an open window: any dated article
        parts.append({"published_ts": {"$gte": -(2**62)}})
    return parts[0] if len(parts) == 1 else {"$and": parts}


def chunk_filter(
    filters: SearchFilters | None, outlet_articles: Sequence[str] = ()
) -> ChunkFilter | None:
    """The side index's filter (None: no restriction)."""
    if filters is None:
        return None
    return ChunkFilter(
        outlets=filters.outlets,
        outlet_articles=tuple(outlet_articles),
        since_ts=epoch_seconds(filters.since),
        until_ts=epoch_seconds(filters.until),
        windows=tuple((epoch_seconds(a), epoch_seconds(b)) for a, b in filters.windows),
        scopes=filters.scopes,
        article_ids=filters.article_ids,
    )
