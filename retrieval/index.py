"""The news index: Chroma holds every chunk (with its vector) and every article (with its
full body, the text quotes are verified against).

`NewsIndex` is the protocol the rest of the product uses; `ChromaIndex` is the one
implementation (embedded `PersistentClient`, or a Chroma server). Only this module imports
chromadb.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from retrieval.embedding import Vectors
from retrieval.errors import ConfigError, StoreError
from retrieval.models import GLOBAL_SCOPE, Article, Chunk, Passage, StoredArticle, normalize_url

log = logging.getLogger(__name__)

_ARTICLES_SUFFIX = "-articles"


@dataclass(frozen=True, slots=True)
class SearchFilters:
    """Restrictions on what a search may return. `scopes=None` means every scope."""

    outlets: tuple[str, ...] = ()
    since: datetime | None = None
    until: datetime | None = None
    scopes: tuple[str, ...] | None = None


@dataclass(frozen=True, slots=True)
class IndexStats:
    articles: int
    newest_published: datetime | None


class NewsIndex(Protocol):
    def stored_hashes(self, article_ids: Sequence[str]) -> dict[str, str]:
        """Content hash of each of these articles that the index already holds."""
        ...

    def upsert_article(self, article: Article, chunks: Sequence[Chunk], vectors: Vectors) -> None:
        """Store an article and its chunks, replacing whatever it had before."""
        ...

    def forget(
        self, id_or_url: str, *, scopes: tuple[str, ...] | None = None
    ) -> StoredArticle | None: ...

    def search(
        self, vector: Vectors, k: int, filters: SearchFilters | None = None
    ) -> list[Passage]: ...

    def get_articles(self, article_ids: Sequence[str]) -> dict[str, StoredArticle]: ...

    def get_bodies(self, article_ids: Sequence[str]) -> dict[str, str]:
        """The stored body text (what quotes are verified against) of each found article."""
        ...

    def stats(self, *, scopes: tuple[str, ...] | None = None) -> IndexStats: ...

    def list_articles(self, *, scopes: tuple[str, ...] | None = None) -> list[StoredArticle]:
        """Every article in these scopes, newest first (undated last)."""
        ...

    def find_article(
        self, id_or_url: str, *, scopes: tuple[str, ...] | None = None
    ) -> StoredArticle | None: ...

    def count_chunks(self) -> int: ...


def _ts(value: datetime | None) -> int | None:
    return int(value.timestamp()) if value is not None else None


def _iso(value: datetime | None) -> str | None:
    return value.astimezone(UTC).isoformat() if value is not None else None


def _parse_iso(value: Any) -> datetime | None:
    return datetime.fromisoformat(value) if isinstance(value, str) and value else None


def _clean(meta: dict[str, Any]) -> dict[str, Any]:
    """Chroma metadata may not hold None."""
    return {k: v for k, v in meta.items() if v is not None}


def _where(filters: SearchFilters | None) -> dict[str, Any] | None:
    if filters is None:
        return None
    clauses: list[dict[str, Any]] = []
    if filters.outlets:
        outlets = list(filters.outlets)
        clauses.append(
            {"outlet": outlets[0]} if len(outlets) == 1 else {"outlet": {"$in": outlets}}
        )
    if filters.since is not None:
        clauses.append({"published_ts": {"$gte": _ts(filters.since)}})
    if filters.until is not None:
        clauses.append({"published_ts": {"$lte": _ts(filters.until)}})
    if filters.scopes is not None:
        clauses.append({"scope": {"$in": list(filters.scopes)}})
    if not clauses:
        return None
    return clauses[0] if len(clauses) == 1 else {"$and": clauses}


class ChromaIndex:
    """Two collections: `<name>` holds chunks, `<name>-articles` holds whole articles.

    An article's vector is the normalised mean of its chunks' vectors: a real summary of the
    story, used for "nearest articles" and kept so the collection needs no embedding function.
    """

    def __init__(self, client: Any, collection: str, *, embedding_model: str) -> None:
        self._client = client
        self._model = embedding_model
        metadata = {"hnsw:space": "cosine", "embedding_model": embedding_model}
        try:
            self._chunks = client.get_or_create_collection(
                collection, metadata=metadata, embedding_function=None
            )
            self._articles = client.get_or_create_collection(
                collection + _ARTICLES_SUFFIX, metadata=metadata, embedding_function=None
            )
        except Exception as exc:
            raise StoreError(f"Cannot open the Chroma collection {collection!r}: {exc}") from exc
        stored_model = (self._chunks.metadata or {}).get("embedding_model")
        if stored_model is not None and stored_model != embedding_model:
            raise ConfigError(
                f"The collection {collection!r} was built with the embedding model "
                f"{stored_model!r}, but NEWSBOT_EMBEDDING_MODEL is {embedding_model!r}. "
                "Vectors of different models cannot be mixed: set NEWSBOT_EMBEDDING_MODEL back, "
                "or use another NEWSBOT_COLLECTION or NEWSBOT_DATA_DIR."
            )
        self._max_batch = int(client.get_max_batch_size())

    @classmethod
    def persistent(cls, path: Path, collection: str, *, embedding_model: str) -> ChromaIndex:
        import chromadb
        from chromadb.config import Settings as ChromaSettings

        path.mkdir(parents=True, exist_ok=True)
        client = chromadb.PersistentClient(
            path=str(path), settings=ChromaSettings(anonymized_telemetry=False)
        )
        return cls(client, collection, embedding_model=embedding_model)

    @classmethod
    def http(cls, host: str, port: int, collection: str, *, embedding_model: str) -> ChromaIndex:
        import chromadb
        from chromadb.config import Settings as ChromaSettings

        try:
            client = chromadb.HttpClient(
                host=host, port=port, settings=ChromaSettings(anonymized_telemetry=False)
            )
        except Exception as exc:
            raise StoreError(
                f"Cannot reach the Chroma server at {host}:{port} (NEWSBOT_CHROMA_HOST): {exc}"
            ) from exc
        return cls(client, collection, embedding_model=embedding_model)

    # --- writing -------------------------------------------------------------------------

    def stored_hashes(self, article_ids: Sequence[str]) -> dict[str, str]:
        if not article_ids:
            return {}
        found: dict[str, str] = {}
        for batch in _batched(list(dict.fromkeys(article_ids)), self._max_batch):
            got = self._articles.get(ids=batch, include=["metadatas"])
            for aid, meta in zip(got["ids"], got["metadatas"] or [], strict=True):
                found[aid] = str((meta or {}).get("content_hash", ""))
        return found

    def upsert_article(self, article: Article, chunks: Sequence[Chunk], vectors: Vectors) -> None:
        if len(chunks) != len(vectors):
            raise ValueError("one vector per chunk")
        if not chunks:
            raise ValueError("an article needs at least one chunk")
        now = datetime.now(UTC)
        old_ids = set(self._chunk_ids_of(article.id))
        base = {
            "article_id": article.id,
            "title": article.title,
            "outlet": article.outlet,
            "author": article.author,
            "url": article.url,
            "published": _iso(article.published),
            "published_ts": _ts(article.published),
            "category": article.category,
            "scope": article.scope,
        }
        ids = [c.id for c in chunks]
        metas = [
            _clean(
                {
                    **base,
                    "position": c.position,
                    "start": c.start,
                    "end": c.end,
                    "tokens": c.token_count,
                }
            )
            for c in chunks
        ]
        # New chunks go in before the old ones go out: a crash in between leaves extra
        # chunks (cleaned up by the next ingest, whose hash differs) but never loses any.
        for lo in range(0, len(ids), self._max_batch):
            hi = lo + self._max_batch
            self._chunks.upsert(
                ids=ids[lo:hi],
                embeddings=vectors[lo:hi],
                documents=[c.text for c in chunks[lo:hi]],
                metadatas=metas[lo:hi],
            )
        stale = sorted(old_ids - set(ids))
        for batch in _batched(stale, self._max_batch):
            self._chunks.delete(ids=batch)
        mean = np.asarray(vectors, dtype=np.float32).mean(axis=0)
        norm = float(np.linalg.norm(mean)) or 1.0
        article_meta = _clean(
            {
                **{k: v for k, v in base.items() if k != "article_id"},
                "url_key": normalize_url(article.url) if article.url else None,
                "updated": _iso(article.updated),
                "description": article.description,
                "content_hash": article.content_hash,
                "chunk_count": len(chunks),
                "ingested_at": now.isoformat(),
            }
        )
        self._articles.upsert(
            ids=[article.id],
            embeddings=[mean / norm],
            documents=[article.body],
            metadatas=[article_meta],
        )

    def forget(
        self, id_or_url: str, *, scopes: tuple[str, ...] | None = None
    ) -> StoredArticle | None:
        found = self.find_article(id_or_url, scopes=scopes)
        if found is None:
            return None
        for batch in _batched(self._chunk_ids_of(found.id), self._max_batch):
            self._chunks.delete(ids=batch)
        self._articles.delete(ids=[found.id])
        return found

    def _chunk_ids_of(self, article_id: str) -> list[str]:
        return list(self._chunks.get(where={"article_id": article_id}, include=[])["ids"])

    # --- reading -------------------------------------------------------------------------

    def search(
        self, vector: Vectors, k: int, filters: SearchFilters | None = None
    ) -> list[Passage]:
        if k <= 0:
            return []
        result = self._chunks.query(
            query_embeddings=[np.asarray(vector, dtype=np.float32)],
            n_results=k,
            where=_where(filters),
            include=["documents", "metadatas", "distances"],
        )
        passages: list[Passage] = []
        for cid, doc, meta, dist in zip(
            result["ids"][0],
            (result["documents"] or [[]])[0],
            (result["metadatas"] or [[]])[0],
            (result["distances"] or [[]])[0],
            strict=True,
        ):
            m = meta or {}
            passages.append(
                Passage(
                    chunk_id=cid,
                    article_id=str(m["article_id"]),
                    text=doc or "",
                    start=int(m.get("start", 0)),
                    end=int(m.get("end", 0)),
                    score=1.0 - float(dist),
                    title=str(m.get("title", "")),
                    outlet=m.get("outlet"),
                    author=m.get("author"),
                    published=_parse_iso(m.get("published")),
                    url=m.get("url"),
                )
            )
        return passages

    def get_articles(self, article_ids: Sequence[str]) -> dict[str, StoredArticle]:
        if not article_ids:
            return {}
        got = self._articles.get(ids=list(dict.fromkeys(article_ids)), include=["metadatas"])
        return {
            aid: _stored(aid, meta or {})
            for aid, meta in zip(got["ids"], got["metadatas"] or [], strict=True)
        }

    def get_bodies(self, article_ids: Sequence[str]) -> dict[str, str]:
        if not article_ids:
            return {}
        got = self._articles.get(ids=list(dict.fromkeys(article_ids)), include=["documents"])
        return {aid: doc or "" for aid, doc in zip(got["ids"], got["documents"] or [], strict=True)}

    def stats(self, *, scopes: tuple[str, ...] | None = None) -> IndexStats:
        articles = self.list_articles(scopes=scopes)
        newest = next((a.published for a in articles if a.published is not None), None)
        return IndexStats(articles=len(articles), newest_published=newest)

    def list_articles(self, *, scopes: tuple[str, ...] | None = None) -> list[StoredArticle]:
        where = {"scope": {"$in": list(scopes)}} if scopes is not None else None
        got = self._articles.get(where=where, include=["metadatas"])
        articles = [
            _stored(aid, meta or {})
            for aid, meta in zip(got["ids"], got["metadatas"] or [], strict=True)
        ]
        return sorted(articles, key=_newest_first)

    def find_article(
        self, id_or_url: str, *, scopes: tuple[str, ...] | None = None
    ) -> StoredArticle | None:
        key = id_or_url.strip()
        if not key:
            return None
        by_id = self.get_articles([key]).get(key)
        candidates = [by_id] if by_id is not None else []
        if not candidates and "://" in key:
            got = self._articles.get(where={"url_key": normalize_url(key)}, include=["metadatas"])
            candidates = [
                _stored(aid, meta or {})
                for aid, meta in zip(got["ids"], got["metadatas"] or [], strict=True)
            ]
        for article in candidates:
            if scopes is None or article.scope in scopes:
                return article
        return None

    def count_chunks(self) -> int:
        return int(self._chunks.count())


def _newest_first(article: StoredArticle) -> tuple[int, float]:
    if article.published is None:
        return (1, 0.0)
    return (0, -article.published.timestamp())


def _stored(article_id: str, meta: dict[str, Any]) -> StoredArticle:
    return StoredArticle(
        id=article_id,
        title=str(meta.get("title", "")),
        outlet=meta.get("outlet"),
        author=meta.get("author"),
        published=_parse_iso(meta.get("published")),
        updated=_parse_iso(meta.get("updated")),
        url=meta.get("url"),
        category=meta.get("category"),
        scope=str(meta.get("scope", GLOBAL_SCOPE)),
        content_hash=str(meta.get("content_hash", "")),
        chunk_count=int(meta.get("chunk_count", 0)),
        ingested_at=_parse_iso(meta.get("ingested_at")) or datetime.fromtimestamp(0, UTC),
    )


def _batched(items: Iterable[str], size: int) -> Iterable[list[str]]:
    batch: list[str] = []
    for item in items:
        batch.append(item)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch
