"""The contract a news index passes, one mixin per Protocol of retrieval/index.py:
`ArticleStoreContract`, `ChunkRankerContract`, `CopyStoreContract`. A test class of an
implementation subclasses those of the Protocols it implements and provides an `index`
fixture."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Protocol

from ingest.chunking import Chunker
from retrieval.embedding import Embedder
from retrieval.index import (
    COPY_OF,
    ArticleStore,
    ArticlesWithCopies,
    ChunkRanker,
    SearchFilters,
)
from retrieval.models import Article
from retrieval.terms import terms

NATO = Article(
    title="NATO responds to Russia",
    body=(
        "NATO said Russia's key demands are unacceptable.\n"
        "The alliance will deliver its written response on Wednesday.\n"
        "Diplomats met in Brussels to discuss the proposals."
    ),
    outlet="Sputnik",
    author="Morgan Artyukhina",
    published=datetime(2022, 1, 26, 17, 45, tzinfo=UTC),
    url="https://example.org/nato",
)
FTX = Article(
    title="FTX founder on trial",
    body=(
        "Sam Bankman-Fried went on trial in New York on fraud charges.\n"
        "Prosecutors said he took customer money."
    ),
    outlet="The Verge",
    published=datetime(2023, 10, 3, 12, 0, tzinfo=UTC),
    url="https://example.org/ftx",
)
UNDATED = Article(title="Undated note", body="A note without a date about gardening tomatoes.")


def store(index: ArticleStore, embedder: Embedder, article: Article, chunk_tokens: int = 12) -> int:
    chunker = Chunker(embedder, chunk_tokens=chunk_tokens, overlap_tokens=0)
    chunks = chunker.chunk(article)
    vectors = embedder.embed_documents([chunker.embedding_text(article, c.text) for c in chunks])
    index.upsert_article(article, chunks, vectors)
    return len(chunks)


class RankedArticles(ArticleStore, ChunkRanker, Protocol):
    """A ranker's tests store what they rank."""


class ArticleStoreContract:
    """`ArticleStore`: articles written, replaced, forgotten and read back."""

    def test_stores_article_record_and_exact_body(
        self, index: ArticleStore, embedder: Embedder
    ) -> None:
        n = store(index, embedder, NATO)
        assert index.stored_hashes([NATO.id, "a_missing"]) == {NATO.id: NATO.content_hash}
        record = index.get_articles([NATO.id])[NATO.id]
        assert (record.title, record.outlet, record.author, record.url) == (
            NATO.title,
            "Sputnik",
            "Morgan Artyukhina",
            NATO.url,
        )
        assert record.published == NATO.published
        assert record.chunk_count == n > 1
        assert index.get_bodies([NATO.id]) == {NATO.id: NATO.body}

    def test_forget_by_id_and_url_removes_every_chunk(
        self, index: ArticleStore, embedder: Embedder
    ) -> None:
        store(index, embedder, NATO)
        ftx_chunks = store(index, embedder, FTX)
        assert index.forget("a_unknown") is None
        removed = index.forget(NATO.id)
        assert removed is not None and removed.title == NATO.title
        assert index.count_chunks() == ftx_chunks
        assert index.forget("https://example.org/ftx/") is not None  # URL, trailing slash
        assert index.count_chunks() == 0
        assert index.list_articles() == []

    def test_lists_newest_first_and_counts(self, index: ArticleStore, embedder: Embedder) -> None:
        for article in (UNDATED, NATO, FTX):
            store(index, embedder, article)
        assert [a.id for a in index.list_articles()] == [FTX.id, NATO.id, UNDATED.id]
        stats = index.stats()
        assert stats.articles == 3
        assert stats.newest_published == FTX.published


class ChunkRankerContract:
    """`ChunkRanker`: dense and BM25 rankings that follow every write, and passages."""

    def test_search_returns_spans_of_the_body_best_first(
        self, index: RankedArticles, embedder: Embedder
    ) -> None:
        store(index, embedder, NATO)
        store(index, embedder, FTX)
        passages = index.search(embedder.embed_query("Bankman-Fried fraud trial"), 5)
        assert passages[0].article_id == FTX.id
        assert [p.score for p in passages] == sorted((p.score for p in passages), reverse=True)
        bodies = {NATO.id: NATO.body, FTX.id: FTX.body}
        for p in passages:
            assert bodies[p.article_id][p.start : p.end] == p.text

    def test_changed_article_replaces_all_its_chunks(
        self, index: RankedArticles, embedder: Embedder
    ) -> None:
        store(index, embedder, NATO)
        store(index, embedder, FTX)
        edited = Article(
            title=NATO.title,
            body="NATO rejected the proposals outright.",
            outlet=NATO.outlet,
            published=NATO.published,
            url=NATO.url,
        )
        assert edited.id == NATO.id
        store(index, embedder, edited)
        texts = [p.text for p in index.search(embedder.embed_query("NATO"), 50)]
        assert "NATO rejected the proposals outright." in texts
        assert not any("unacceptable" in t for t in texts)
        assert index.stored_hashes([NATO.id]) == {NATO.id: edited.content_hash}
        assert index.count_chunks() == 1 + index.get_articles([FTX.id])[FTX.id].chunk_count

    def test_filters_by_outlet_date_and_scope(
        self, index: RankedArticles, embedder: Embedder
    ) -> None:
        store(index, embedder, NATO)
        store(index, embedder, FTX)
        guild = Article(title="Local council news", body="The council met.", scope="guild:1")
        store(index, embedder, guild)
        q = embedder.embed_query("news")

        def ids(filters: SearchFilters) -> set[str]:
            return {p.article_id for p in index.search(q, 20, filters)}

        assert ids(SearchFilters(outlets=("The Verge",))) == {FTX.id}
        assert ids(SearchFilters(since=datetime(2023, 1, 1, tzinfo=UTC))) == {FTX.id}
        assert ids(SearchFilters(until=datetime(2023, 1, 1, tzinfo=UTC))) == {NATO.id}
        assert ids(SearchFilters(scopes=("global",))) == {NATO.id, FTX.id}
        assert ids(SearchFilters(scopes=("global", "guild:1"))) == {NATO.id, FTX.id, guild.id}
        assert ids(SearchFilters(article_ids=(FTX.id,))) == {FTX.id}
        assert ids(SearchFilters(article_ids=(FTX.id, guild.id))) == {FTX.id, guild.id}
        assert ids(SearchFilters(article_ids=(guild.id,), scopes=("global",))) == set()
        assert ids(SearchFilters(article_ids=())) == set()
        assert index.find_article(guild.id, scopes=("global", "guild:2")) is None

    def test_an_update_keeps_nothing_of_the_old_version(
        self, index: RankedArticles, embedder: Embedder
    ) -> None:
        store(index, embedder, NATO)
        rewritten = Article(title=NATO.title, body=NATO.body + " More later.", url=NATO.url)
        store(index, embedder, rewritten)
        record = index.get_articles([NATO.id])[NATO.id]
        assert (record.author, record.outlet, record.published) == (None, None, None)
        passages = index.search(embedder.embed_query("NATO"), 20)
        assert passages and all(p.author is None and p.outlet is None for p in passages)

    # --- hybrid retrieval: the BM25 ranking stays equal to what is stored ----------------

    def test_lexical_ranking_follows_every_update_and_forget(
        self, index: RankedArticles, embedder: Embedder
    ) -> None:
        def found(query: str, filters: SearchFilters | None = None) -> set[str]:
            ids = [cid for cid, _ in index.rank_lexical(terms(query), 20, filters)]
            return {p.article_id for p in index.get_passages(ids).values()}

        store(index, embedder, NATO)
        store(index, embedder, FTX)
        assert found("unacceptable demands") == {NATO.id}
        assert found("Bankman-Fried prosecutors") == {FTX.id}
        assert found("Bankman-Fried NATO", SearchFilters(outlets=("Sputnik",))) == {NATO.id}
        assert found("NATO Bankman", SearchFilters(since=datetime(2023, 1, 1, tzinfo=UTC))) == {
            FTX.id
        }
        assert found("Bankman-Fried NATO", SearchFilters(article_ids=(NATO.id,))) == {NATO.id}
        store(index, embedder, Article(title="NATO", body="Talks collapsed.", url=NATO.url))
        assert found("unacceptable demands") == set()
        assert found("talks collapsed") == {NATO.id}
        index.forget(FTX.id)
        assert found("Bankman-Fried prosecutors") == set()
        assert index.outlets() == []

    def test_passages_by_id_are_body_spans_with_their_similarity(
        self, index: RankedArticles, embedder: Embedder
    ) -> None:
        store(index, embedder, NATO)
        store(index, embedder, FTX)
        query = embedder.embed_query("Bankman-Fried fraud trial")
        ranked = index.rank_dense(query, 3)
        assert [s for _, s in ranked] == sorted((s for _, s in ranked), reverse=True)
        passages = index.get_passages([cid for cid, _ in ranked], vector=query)
        bodies = {NATO.id: NATO.body, FTX.id: FTX.body}
        for cid, similarity in ranked:
            p = passages[cid]
            assert bodies[p.article_id][p.start : p.end] == p.text
            assert p.similarity is not None and abs(p.similarity - similarity) < 1e-4
        assert index.outlets() == ["Sputnik", "The Verge"]


class CopyStoreContract:
    """`CopyStore`: syndicated copies, and fields kept on article records."""

    def test_counts_and_dates_per_scope_include_copies(
        self, index: ArticlesWithCopies, embedder: Embedder
    ) -> None:
        local = Article(
            title="Local council news",
            body="The council met on Tuesday about the new library.",
            published=datetime(2021, 5, 1, tzinfo=UTC),
            scope="guild:1",
        )
        for article in (NATO, FTX, local):
            store(index, embedder, article)
        wire = Article(
            title=NATO.title,
            body=NATO.body,
            outlet="Wire Service",
            published=datetime(2024, 2, 1, tzinfo=UTC),  # reprinted later than any lead
            url="https://example.org/wire-nato",
        )
        index.store_copy(wire, NATO.id)
        everything = index.stats()
        assert (everything.articles, everything.newest_published) == (4, wire.published)
        shared = index.stats(scopes=("global",))
        assert (shared.articles, shared.newest_published) == (3, wire.published)
        guild = index.stats(scopes=("guild:1",))
        assert (guild.articles, guild.newest_published) == (1, local.published)
        assert index.stats(scopes=("guild:2",)).articles == 0
        assert len(index.list_articles(scopes=("global",))) == 3
        index.forget(FTX.id)
        assert index.stats(scopes=("global",)).articles == 2

    def test_copies_are_found_oldest_first_and_record_fields_are_kept(
        self, index: ArticlesWithCopies, embedder: Embedder
    ) -> None:
        store(index, embedder, NATO)
        first = Article(
            title=NATO.title, body=NATO.body, outlet="Wire Service", url="https://example.org/w1"
        )
        second = Article(
            title=NATO.title, body=NATO.body, outlet="Other Wire", url="https://example.org/w2"
        )
        index.store_copy(first, NATO.id)
        index.store_copy(second, NATO.id)
        copies = index.copies_of([NATO.id, FTX.id])
        assert list(copies) == [NATO.id]
        assert [c.id for c in copies[NATO.id]] == [first.id, second.id]
        assert all(c.copy_of == NATO.id and c.chunk_count == 0 for c in copies[NATO.id])
        assert index.get_bodies([first.id]) == {first.id: NATO.body}
        assert index.article_fields([COPY_OF, "outlet"], ids=[NATO.id, first.id]) == {
            NATO.id: {"outlet": "Sputnik"},
            first.id: {COPY_OF: NATO.id, "outlet": "Wire Service"},
        }
        index.update_article_fields({first.id: {"note": "kept"}})
        assert index.article_fields(["note"]) == {
            NATO.id: {},
            first.id: {"note": "kept"},
            second.id: {},
        }
        index.update_article_fields({first.id: {"note": None}})
        assert index.article_fields(["note"], ids=[first.id]) == {first.id: {}}
