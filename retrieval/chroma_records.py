"""How Chroma's records read back as the product's values: an article record's metadata as a
`StoredArticle`, a chunk record as a `Passage`, and the times records keep as ISO text."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from retrieval.dates import parse_stored_time
from retrieval.index import COPY_OF
from retrieval.models import GLOBAL_SCOPE, Passage, StoredArticle


def iso(value: datetime | None) -> str | None:
    return value.astimezone(UTC).isoformat() if value is not None else None


def stored_article(article_id: str, meta: Mapping[str, Any]) -> StoredArticle:
    return StoredArticle(
        id=article_id,
        title=str(meta.get("title", "")),
        outlet=meta.get("outlet"),
        author=meta.get("author"),
        published=parse_stored_time(meta.get("published")),
        updated=parse_stored_time(meta.get("updated")),
        url=meta.get("url"),
        category=meta.get("category"),
        scope=str(meta.get("scope", GLOBAL_SCOPE)),
        content_hash=str(meta.get("content_hash", "")),
        chunk_count=int(meta.get("chunk_count", 0)),
        ingested_at=parse_stored_time(meta.get("ingested_at")) or datetime.fromtimestamp(0, UTC),
        copy_of=meta.get(COPY_OF),
    )


def chunk_passage(
    chunk_id: str,
    document: str | None,
    meta: Mapping[str, Any] | None,
    *,
    score: float,
    similarity: float | None,
) -> Passage:
    m = meta or {}
    return Passage(
        chunk_id=chunk_id,
        article_id=str(m["article_id"]),
        text=document or "",
        start=int(m.get("start", 0)),
        end=int(m.get("end", 0)),
        score=score,
        title=str(m.get("title", "")),
        outlet=m.get("outlet"),
        author=m.get("author"),
        published=parse_stored_time(m.get("published")),
        url=m.get("url"),
        similarity=similarity,
    )


def newest_first(article: StoredArticle) -> tuple[int, float]:
    """Sort key: dated articles newest first, then the undated."""
    if article.published is None:
        return (1, 0.0)
    return (0, -article.published.timestamp())


def batched(items: Iterable[str], size: int) -> Iterable[list[str]]:
    batch: list[str] = []
    for item in items:
        batch.append(item)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch
