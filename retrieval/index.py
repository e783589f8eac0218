"""What the rest of the product asks of the news index, cut by what its callers need:
`ArticleStore` (write, forget and read articles), `ChunkRanker` (rank chunks for a question)
and `CopyStore` (syndicated copies and other fields kept on article records); and the values
they trade in (`SearchFilters`, `IndexStats`, the record fields callers read and write).

`retrieval.chroma_index.ChromaIndex` implements all of them. Callers type what they are given
with the narrowest of these that they use:
- ingest/pipeline.py: ArticleStore;
- retrieval/hybrid.py, the answerer's key-word check: ChunkRanker;
- retrieval/syndication.py: CopyStore;
- ingest/syndication.py, ingest/repair.py: ArticlesWithCopies;
- retrieval/answering.py: all three (its `AnswerIndex`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from retrieval.embedding import Vectors
from retrieval.models import Article, Chunk, Passage, StoredArticle

MetaValue = str | int | float | bool
# Field of a copy's record: the id of its lead article (named as stores already hold it).
COPY_OF = "duplicate_of"
# Field of a lead's record: its chunks' ids, space-separated. The record is the commit
# point of an article's write: a chunk counts (is searched, quoted, indexed) only while its
# article's record names it, so a reader sees the old version or the new one, whole.
# Records from before this field count every chunk of their article.
CHUNK_IDS = "chunk_ids"


def named_chunks(meta: Mapping[str, Any]) -> set[str] | None:
    """The chunk ids a record names (None: a record from before they were kept, which
    counts every chunk of its article)."""
    value = meta.get(CHUNK_IDS)
    return set(value.split()) if isinstance(value, str) else None


def epoch_seconds(value: datetime | None) -> int | None:
    """A time as the index keeps it for filtering (`published_ts`): whole seconds."""
    return int(value.timestamp()) if value is not None else None


@dataclass(frozen=True, slots=True)
class SearchFilters:
    """Restrictions on what a search may return. `scopes=None` means every scope."""

    outlets: tuple[str, ...] = ()
    since: datetime | None = None
    until: datetime | None = None
    scopes: tuple[str, ...] | None = None
    # (since, until) pairs: when given, a result must fall in one of them.
    windows: tuple[tuple[datetime | None, datetime | None], ...] = ()
    # When given, only these articles' chunks (a watched topic is matched against the one
    # article just ingested: retrieval/watching.py).
    article_ids: tuple[str, ...] | None = None


@dataclass(frozen=True, slots=True)
class IndexStats:
    articles: int
    newest_published: datetime | None


class ArticleStore(Protocol):
    """Articles with their chunks: written, replaced, forgotten, and read back."""

    def stored_hashes(self, article_ids: Sequence[str]) -> dict[str, str]:
        """Content hash of each of these articles that the index already holds."""
        ...

    def upsert_article(self, article: Article, chunks: Sequence[Chunk], vectors: Vectors) -> None:
        """Store an article and its chunks, replacing whatever it had before."""
        ...

    def upsert_articles(self, items: Sequence[tuple[Article, Sequence[Chunk], Vectors]]) -> None:
        """`upsert_article` for many articles, in as few writes as the store allows."""
        ...

    def forget(
        self, id_or_url: str, *, scopes: tuple[str, ...] | None = None
    ) -> StoredArticle | None: ...

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


class ChunkRanker(Protocol):
    """The stored chunks ranked for a question (retrieval/hybrid.py), and read as passages."""

    def search(
        self, vector: Vectors, k: int, filters: SearchFilters | None = None
    ) -> list[Passage]: ...

    def rank_dense(
        self, vector: Vectors, n: int, filters: SearchFilters | None = None
    ) -> list[tuple[str, float]]:
        """The n chunks nearest the query vector: (chunk id, cosine), best first."""
        ...

    def rank_lexical(
        self, query_terms: Sequence[str], n: int, filters: SearchFilters | None = None
    ) -> list[tuple[str, float]]:
        """The n chunks best matching these terms by BM25: (chunk id, score), best first."""
        ...

    def document_frequencies(self, query_terms: Sequence[str]) -> tuple[dict[str, int], int]:
        """How many stored chunks hold each term, and how many chunks there are."""
        ...

    def get_passages(
        self, chunk_ids: Sequence[str], *, vector: Vectors | None = None
    ) -> dict[str, Passage]:
        """These chunks as passages (score 0), with their cosine similarity to `vector`."""
        ...

    def outlets(self, *, scopes: tuple[str, ...] | None = None) -> list[str]:
        """The distinct outlets of the searchable chunks in these scopes."""
        ...


class CopyStore(Protocol):
    """Syndicated copies (kept by ingest/syndication.py) and the article record fields that link
    and describe them."""

    def store_copy(self, article: Article, lead_id: str) -> None:
        """Store `article` as a copy of the stored article `lead_id`: its record and body,
        no chunks (search finds the lead; answers name the copy's outlet)."""
        ...

    def copies_of(self, lead_ids: Sequence[str]) -> dict[str, list[StoredArticle]]:
        """The stored copies of each of these articles, oldest first."""
        ...

    def article_fields(
        self, keys: Sequence[str], *, ids: Sequence[str] | None = None
    ) -> dict[str, dict[str, MetaValue]]:
        """These metadata fields (those present) of every article record, or of `ids`."""
        ...

    def update_article_fields(self, updates: Mapping[str, Mapping[str, MetaValue | None]]) -> None:
        """Set metadata fields of article records (None removes a field)."""
        ...


class ArticlesWithCopies(ArticleStore, CopyStore, Protocol):
    """What keeping copies needs: the articles, and their copies (ingest/syndication.py,
    ingest/repair.py)."""
