"""The side index: its BM25 ranking, its filters, its int8 vectors, and staying equal to
Chroma through updates, forgets, restarts, a lost or stale copy, and another writer."""

from __future__ import annotations

import itertools
import json
import math
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from retrieval.chroma_index import ChromaIndex
from retrieval.embedding import Embedder
from retrieval.index import SearchFilters
from retrieval.models import Article
from retrieval.side_index.articles import IndexedArticle
from retrieval.side_index.filters import ChunkFilter, outlets
from retrieval.side_index.memory import SideIndex
from retrieval.side_index.persisted import PersistentSideIndex
from retrieval.terms import terms
from tests.index_contract import FTX, NATO, store

MODEL = "all-MiniLM-L6-v2"


def article(
    aid: str,
    chunks: Sequence[str],
    *,
    title: str = "",
    outlet: str | None = "Wire",
    ts: int | None = 1_700_000_000,
    scope: str = "global",
    content_hash: str | None = None,
) -> IndexedArticle:
    return IndexedArticle.from_texts(
        article_id=aid,
        content_hash=content_hash or f"h-{aid}-{len(chunks)}-{chunks[0] if chunks else ''}",
        title=title,
        outlet=outlet,
        published_ts=ts,
        scope=scope,
        chunks=[(f"{aid}:{i}", text) for i, text in enumerate(chunks)],
    )


def ids(results: list[tuple[str, float]]) -> list[str]:
    return [cid for cid, _ in results]


def same(a: list[tuple[str, float]], b: list[tuple[str, float]]) -> bool:
    return ids(a) == ids(b) and [s for _, s in a] == pytest.approx([s for _, s in b])


# --- ranking ---------------------------------------------------------------------------------


def test_bm25_scores_are_the_textbook_formula() -> None:
    side = SideIndex(k1=1.2, b=0.75)
    side.put(article("a", ["apple banana", "banana cherry cherry", "durian"]))
    got = dict(side.bm25.search(["cherry"], 10))
    n, df, avgdl = 3, 1, (2 + 3 + 1) / 3
    idf = math.log(1 + (n - df + 0.5) / (df + 0.5))
    tf, dl = 2, 3
    assert got == {"a:1": pytest.approx(idf * tf * 2.2 / (tf + 1.2 * (0.25 + 0.75 * dl / avgdl)))}


def test_rare_terms_outrank_common_ones_and_the_headline_counts() -> None:
    side = SideIndex()
    side.put(article("a", ["the market fell sharply today", "markets were calm"]))
    side.put(article("b", ["the market rose on Nvidia earnings"]))
    side.put(article("c", ["quarterly results"], title="Nvidia beats forecasts"))
    assert ids(side.bm25.search(terms("Nvidia market"), 10))[:2] == ["b:0", "c:0"]
    assert ids(side.bm25.search(terms("unheard-of words"), 10)) == []


def test_cached_term_weights_stay_within_their_bound_and_rank_the_same(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from retrieval.side_index import bm25

    words = [f"w{i}" for i in range(40)]
    texts = [" ".join(words[j] for j in range(40) if (i + j) % 3) for i in range(300)]
    queries = [[words[i], words[(i * 7) % 40]] for i in range(40)]
    unbounded = SideIndex()
    unbounded.put(article("a", texts))
    expected = [unbounded.bm25.search(q, 5) for q in queries]
    monkeypatch.setattr(bm25, "WEIGHT_CACHE_POSTINGS", 600)  # three terms' postings
    bounded = SideIndex()
    bounded.put(article("a", texts))
    for _ in range(2):  # the second round meets evicted terms again
        for q, want in zip(queries, expected, strict=True):
            assert same(bounded.bm25.search(q, 5), want)
            assert bounded.bm25._weight_cache_size <= 600
    assert len(bounded.bm25._weight_cache) < len(unbounded.bm25._weight_cache)


def test_names_typed_without_their_accents_are_found() -> None:
    side = SideIndex()
    side.put(article("a", ["Beyoncé’s Renaissance film opened in 2,000 theaters."]))
    side.put(article("b", ["Tadej Pogačar won the stage."]))
    side.put(article("c", ["A film opened in theaters."]))
    assert ids(side.bm25.search(terms("beyonce"), 10)) == ["a:0"]
    assert ids(side.bm25.search(terms("pogacar"), 10)) == ["b:0"]


def test_filters_by_outlet_time_windows_and_scope() -> None:
    side = SideIndex()
    side.put(article("a", ["budget vote"], outlet="Verge", ts=100))
    side.put(article("b", ["budget vote"], outlet="Engadget", ts=200))
    side.put(article("c", ["budget vote"], outlet=None, ts=None, scope="guild:1"))
    q = terms("budget vote")

    def found(flt: ChunkFilter) -> set[str]:
        return {cid.split(":")[0] for cid, _ in side.bm25.search(q, 10, flt)}

    assert found(ChunkFilter()) == {"a", "b", "c"}
    assert found(ChunkFilter(outlets=("Engadget",))) == {"b"}
    assert found(ChunkFilter(outlets=("Nobody",))) == set()
    assert found(ChunkFilter(since_ts=150)) == {"b"}
    assert found(ChunkFilter(until_ts=150)) == {"a"}
    assert found(ChunkFilter(windows=((None, 100), (190, 210)))) == {"a", "b"}
    assert found(ChunkFilter(scopes=("global",))) == {"a", "b"}
    assert found(ChunkFilter(scopes=("guild:1",))) == {"c"}
    assert outlets(side.table) == ["Engadget", "Verge"]
    assert outlets(side.table, ("guild:1",)) == []


def test_replacing_and_removing_articles_is_exact() -> None:
    side = SideIndex()
    side.put(article("a", ["alpha beta", "gamma"]))
    side.put(article("b", ["beta delta"]))
    side.put(article("a", ["epsilon"]))  # a changed: all its old chunks go
    assert ids(side.bm25.search(["alpha"], 10)) == [] and ids(side.bm25.search(["gamma"], 10)) == []
    assert ids(side.bm25.search(["epsilon"], 10)) == ["a:0"]
    assert side.table.chunk_count == 2
    assert side.remove("b") and not side.remove("b")
    assert ids(side.bm25.search(["beta"], 10)) == []
    assert side.table.chunk_count == 1 and side.table.article_hashes().keys() == {"a"}
    # Document frequencies follow: "epsilon" is now in every live chunk.
    fresh = SideIndex()
    fresh.put(article("a", ["epsilon"]))
    assert same(side.bm25.search(["epsilon"], 10), fresh.bm25.search(["epsilon"], 10))


def test_compaction_and_the_snapshot_arrays_keep_every_result() -> None:
    side = SideIndex()
    for i in range(30):
        side.put(article(f"x{i}", [f"story {i} about topic{i % 4}", "shared words here"], ts=i))
    for i in range(0, 30, 3):
        side.remove(f"x{i}")
    side.put(article("x1", ["rewritten story about topic9"]))
    queries = [terms("topic1 story"), terms("shared words"), terms("topic9")]
    flt = ChunkFilter(since_ts=10)
    before = [side.bm25.search(q, 50) for q in queries] + [side.bm25.search(queries[0], 50, flt)]
    for other in (side.compacted(), SideIndex.from_arrays(side.to_arrays())):
        after = [other.bm25.search(q, 50) for q in queries] + [
            other.bm25.search(queries[0], 50, flt)
        ]
        assert all(same(x, y) for x, y in zip(after, before, strict=True))
        assert other.table.slot_count == other.table.chunk_count == side.table.chunk_count
        assert other.table.article_hashes() == side.table.article_hashes()


# --- vectors: filtered dense search over the int8 copies ----------------------------------------


def unit_rows(n: int, seed: int) -> np.ndarray:
    rows = np.random.default_rng(seed).normal(size=(n, 384)).astype(np.float32)
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def with_vectors(aid: str, texts: Sequence[str], rows: np.ndarray, **kw: Any) -> IndexedArticle:
    plain = article(aid, texts, **kw)
    return IndexedArticle.from_texts(
        article_id=aid,
        content_hash=plain.content_hash,
        title="",
        outlet=plain.outlet,
        published_ts=plain.published_ts,
        scope=plain.scope,
        chunks=[(c.chunk_id, text) for c, text in zip(plain.chunks, texts, strict=True)],
        vectors=rows,
    )


# int8 with one scale per vector moves a cosine by at most ~0.002.
QUANTISATION = 0.004


def assert_nearest(got: list[tuple[str, float]], exact: dict[str, float], k: int) -> None:
    """`got` is the k best of `exact` (id -> true cosine), best first, up to quantisation."""
    assert len(got) == min(k, len(exact))
    chosen = ids(got)
    assert [s for _, s in got] == pytest.approx([exact[c] for c in chosen], abs=QUANTISATION)
    true = [exact[c] for c in chosen]
    assert all(a >= b - QUANTISATION for a, b in itertools.pairwise(true))
    left_out = [v for c, v in exact.items() if c not in set(chosen)]
    assert not left_out or min(true) >= max(left_out) - QUANTISATION


def test_nearest_ranks_the_filtered_chunks_by_cosine_within_quantisation() -> None:
    rows = unit_rows(40, seed=1)
    side = SideIndex()
    for i in range(20):
        outlet = "Reuters" if i % 2 else "BBC"
        texts = [f"story {i}", f"more {i}"]
        side.put(with_vectors(f"a{i}", texts, rows[2 * i : 2 * i + 2], outlet=outlet, ts=i))
    query = unit_rows(1, seed=2)[0]
    exact = {f"a{r // 2}:{r % 2}": float(rows[r] @ query) for r in range(40)}
    reuters_late = {c: v for c, v in exact.items() if int(c[1:].split(":")[0]) % 2}
    reuters_late = {c: v for c, v in reuters_late.items() if int(c[1:].split(":")[0]) >= 5}
    assert_nearest(
        side.vectors.nearest(query, 6, ChunkFilter(outlets=("Reuters",), since_ts=5)),
        reuters_late,
        6,
    )
    assert_nearest(side.vectors.nearest(query, 100), exact, 100)
    assert_nearest(side.vectors.nearest(query, 3), exact, 3)
    assert side.vectors.nearest(query, 5, ChunkFilter(outlets=("Nobody",))) == []


def test_vectors_follow_replacements_compaction_and_the_snapshot() -> None:
    rows = unit_rows(12, seed=3)
    side = SideIndex()
    for i in range(5):
        side.put(with_vectors(f"x{i}", ["one", "two"], rows[2 * i : 2 * i + 2]))
    side.put(with_vectors("x1", ["changed"], rows[10:11]))  # x1's old vectors go
    side.remove("x3")
    side.put(article("plain", ["no vector here"]))  # BM25 only: never a dense hit
    query = rows[3]  # x1's old second chunk
    before = side.vectors.nearest(query, 20)
    assert "x1:1" not in ids(before) and "plain:0" not in ids(before)
    assert len(before) == 7  # x0, x2, x4 two each, x1 one
    for other in (side.compacted(), SideIndex.from_arrays(side.to_arrays())):
        assert ids(other.vectors.nearest(query, 20)) == ids(before)
        assert [s for _, s in other.vectors.nearest(query, 20)] == pytest.approx(
            [s for _, s in before]
        )


def test_vectors_survive_the_journal_and_a_restart(tmp_path: Path) -> None:
    source = FakeSource()
    first = PersistentSideIndex(tmp_path, "news", source)
    rows = unit_rows(4, seed=4)
    write(first, source, with_vectors("a", ["solar panels", "roof tiles"], rows[:2]))
    write(first, source, with_vectors("b", ["wind farms", "sea cables"], rows[2:]))
    expected = first.nearest(rows[2], 4)
    assert ids(expected)[0] == "b:0"
    again = PersistentSideIndex(tmp_path, "news", source)  # replays the journal
    assert again.nearest(rows[2], 4) == expected and again.rebuilds == 0


# --- the store: persistence and repair, against a fake Chroma ---------------------------------


class FakeSource:
    def __init__(self) -> None:
        self.articles: dict[str, IndexedArticle] = {}
        self.reads = 0

    def side_index_article_states(self) -> dict[str, tuple[str, int]]:
        return {a.article_id: (a.content_hash, len(a.chunks)) for a in self.articles.values()}

    def side_index_chunk_count(self) -> int:
        return sum(len(a.chunks) for a in self.articles.values())

    def side_index_articles(self, article_ids: Sequence[str]) -> Iterator[IndexedArticle]:
        for aid in article_ids:
            if aid in self.articles:
                self.reads += 1
                yield self.articles[aid]


def write(store_: PersistentSideIndex, source: FakeSource, a: IndexedArticle) -> None:
    """What ChromaIndex does: the source first, then the side index."""
    source.articles[a.article_id] = a
    store_.put(a)


def test_the_store_survives_a_restart_without_reading_the_source(tmp_path: Path) -> None:
    source = FakeSource()
    first = PersistentSideIndex(tmp_path, "news", source)
    write(first, source, article("a", ["solar panels on the roof"]))
    write(first, source, article("b", ["wind farms at sea"]))
    source.articles.pop("b")
    first.remove("b")
    reads = source.reads
    again = PersistentSideIndex(tmp_path, "news", source)
    assert ids(again.search(["solar"], 5)) == ["a:0"]
    assert ids(again.search(["wind"], 5)) == []
    assert (again.rebuilds, source.reads) == (0, reads)


def test_a_missing_or_unreadable_copy_is_rebuilt_from_the_source(tmp_path: Path) -> None:
    source = FakeSource()
    first = PersistentSideIndex(tmp_path, "news", source)
    for i in range(3):
        write(first, source, article(f"a{i}", [f"report number{i}"]))
    for path in (first.snapshot_path, first.journal_path):
        assert path is not None
        path.unlink(missing_ok=True)
    rebuilt = PersistentSideIndex(tmp_path, "news", source)
    assert ids(rebuilt.search(["number2"], 5)) == ["a2:0"] and rebuilt.rebuilds == 1
    assert rebuilt.snapshot_path is not None
    rebuilt.snapshot_path.write_bytes(b"not a snapshot")
    again = PersistentSideIndex(tmp_path, "news", source)
    assert ids(again.search(["number1"], 5)) == ["a1:0"] and again.rebuilds == 1


@pytest.mark.parametrize("damage", ["empty", "truncated"])
def test_an_empty_or_truncated_snapshot_is_rebuilt_and_searches_still_work(
    tmp_path: Path, damage: str
) -> None:
    source = FakeSource()
    first = PersistentSideIndex(tmp_path, "news", source)
    for i in range(3):
        write(first, source, article(f"a{i}", [f"report number{i}"]))
    first._save()
    snapshot = first.snapshot_path
    assert snapshot is not None
    data = snapshot.read_bytes()
    snapshot.write_bytes(b"" if damage == "empty" else data[: len(data) // 2])
    again = PersistentSideIndex(tmp_path, "news", source)
    assert ids(again.search(["number1"], 5)) == ["a1:0"] and again.rebuilds == 1


def test_a_torn_journal_line_does_not_take_the_next_record_with_it(tmp_path: Path) -> None:
    source = FakeSource()
    first = PersistentSideIndex(tmp_path, "news", source)
    write(first, source, article("a", ["report about harbours"]))
    journal = first.journal_path
    assert journal is not None
    with open(journal, "ab") as handle:  # a writer died half-way through a line
        handle.write(b'{"put":"x","article_id":"x","chu')
    second = PersistentSideIndex(tmp_path, "news", source)
    write(second, source, article("b", ["report about lighthouses"]))
    lines = journal.read_bytes().splitlines()
    assert all(json.loads(line) for line in lines)  # the torn line is gone, none unreadable
    source.reads = 0
    third = PersistentSideIndex(tmp_path, "news", source)
    assert ids(third.search(terms("lighthouses"), 5)) == ["b:0"]
    assert (third.rebuilds, source.reads) == (0, 0)  # from the journal, not a repair


def test_chunks_no_record_names_do_not_start_a_repair_on_every_check(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A crash's leftover chunks count in Chroma but belong to no article: the check finds
    the articles equal and does not repeat the repair every minute."""
    source = FakeSource()
    store_ = PersistentSideIndex(tmp_path, "news", source)
    write(store_, source, article("a", ["report about harbours"]))
    write(store_, source, article("b", ["report about lighthouses"]))
    monkeypatch.setattr(source, "side_index_chunk_count", lambda: 6)  # 4 orphan chunks
    monkeypatch.setattr("retrieval.side_index.persisted.STALE_CHECK_SECONDS", 0.0)
    store_.search(terms("harbours"), 5)
    repairs = store_.rebuilds
    reads = source.reads
    for _ in range(3):
        assert ids(store_.search(terms("harbours"), 5)) == ["a:0"]
    assert (store_.rebuilds, source.reads) == (repairs, reads)


def test_a_writer_does_not_scan_every_record_before_each_write(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Mid-write the source already holds the article being written, so its count always
    differs there: the writer must not start a repair (a scan of every article record) for
    it, while a read still finds what another machine wrote to the source."""
    source = FakeSource()
    store_ = PersistentSideIndex(tmp_path, "news", source)
    write(store_, source, article("a", ["report about harbours"]))
    scans: list[int] = []
    real_states = source.side_index_article_states

    def counted_states() -> dict[str, tuple[str, int]]:
        scans.append(1)
        return real_states()

    monkeypatch.setattr(source, "side_index_article_states", counted_states)
    monkeypatch.setattr("retrieval.side_index.persisted.STALE_CHECK_SECONDS", 0.0)
    for i in range(5):
        write(store_, source, article(f"b{i}", [f"harbours report number {i}"]))
    assert scans == []
    assert len(store_.search(terms("harbours"), 10)) == 6
    source.articles["z"] = article("z", ["lighthouses written by another machine"])
    assert ids(store_.search(terms("lighthouses"), 5)) == ["z:0"]
    assert scans


def test_changes_the_copy_missed_are_repaired_when_it_loads(tmp_path: Path) -> None:
    source = FakeSource()
    first = PersistentSideIndex(tmp_path, "news", source)
    write(first, source, article("a", ["old text about ferries"]))
    write(first, source, article("b", ["text about trains"]))
    # Chroma changed behind the side index's back (a crash between the two writes).
    source.articles["a"] = article("a", ["new text about buses"])
    source.articles.pop("b")
    source.articles["c"] = article("c", ["text about trams"])
    again = PersistentSideIndex(tmp_path, "news", source)
    assert ids(again.search(terms("ferries trains"), 5)) == []
    assert ids(again.search(terms("buses"), 5)) == ["a:0"]
    assert ids(again.search(terms("trams"), 5)) == ["c:0"]
    assert again.rebuilds == 1


def test_another_writer_sharing_the_directory_is_caught_up_with(tmp_path: Path) -> None:
    source = FakeSource()
    reader = PersistentSideIndex(tmp_path, "news", source)
    writer = PersistentSideIndex(tmp_path, "news", source)
    write(writer, source, article("a", ["first story about volcanoes"]))
    assert ids(reader.search(terms("volcanoes"), 5)) == ["a:0"]
    write(writer, source, article("b", ["second story about volcanoes"]))
    source.articles.pop("a")
    writer.remove("a")
    assert ids(reader.search(terms("volcanoes"), 5)) == ["b:0"]


# --- with Chroma -----------------------------------------------------------------------------


def lexical_ids(index: ChromaIndex, query: str, filters: SearchFilters | None = None) -> set[str]:
    return {cid for cid, _ in index.rank_lexical(terms(query), 50, filters)}


def article_ids(index: ChromaIndex, query: str) -> set[str]:
    found = index.get_passages(sorted(lexical_ids(index, query)))
    return {p.article_id for p in found.values()}


def test_chroma_writes_keep_the_lexical_index_exact(tmp_path: Path, embedder: Embedder) -> None:
    index = ChromaIndex.persistent(tmp_path / "chroma", "news", embedding_model=MODEL)
    store(index, embedder, NATO)
    store(index, embedder, FTX)
    assert article_ids(index, "unacceptable demands") == {NATO.id}
    assert article_ids(index, "Bankman-Fried fraud") == {FTX.id}
    edited = Article(title=NATO.title, body="NATO rejected the proposals outright.", url=NATO.url)
    store(index, embedder, edited)
    assert article_ids(index, "unacceptable") == set()
    assert article_ids(index, "rejected proposals") == {NATO.id}
    assert index.forget(FTX.id) is not None
    assert article_ids(index, "Bankman-Fried fraud") == set()
    # Every chunk Chroma holds, and no other, is in the side index.
    chroma_ids = {cid for cid, _, _ in index.iter_chunks()}
    assert index.side_index.index().table.chunk_ids() == chroma_ids
    assert index.outlets() == []  # the edited NATO story has no outlet; FTX is gone


def test_the_lexical_index_survives_restarts_and_is_rebuilt_when_lost(
    tmp_path: Path, embedder: Embedder
) -> None:
    first = ChromaIndex.persistent(tmp_path / "chroma", "news", embedding_model=MODEL)
    store(first, embedder, NATO)
    store(first, embedder, FTX)
    expected = first.rank_lexical(terms("NATO trial fraud Russia"), 20)
    question = embedder.embed_query("What did NATO say about Russia?")
    nearest = first.side_index.nearest(question, 20)
    assert len(nearest) == first.count_chunks()
    del first
    again = ChromaIndex.persistent(tmp_path / "chroma", "news", embedding_model=MODEL)
    assert again.rank_lexical(terms("NATO trial fraud Russia"), 20) == expected
    assert again.side_index.rebuilds == 0
    for path in (tmp_path / "chroma-lexical").iterdir():
        path.unlink()
    rebuilt = ChromaIndex.persistent(tmp_path / "chroma", "news", embedding_model=MODEL)
    assert same(rebuilt.rank_lexical(terms("NATO trial fraud Russia"), 20), expected)
    assert rebuilt.side_index.rebuilds == 1
    assert rebuilt.side_index.nearest(question, 20) == nearest  # vectors read back from Chroma
    assert rebuilt.outlets() == ["Sputnik", "The Verge"]
    dated = SearchFilters(since=datetime(2023, 1, 1, tzinfo=UTC))
    assert {
        rebuilt.get_passages([c])[c].article_id for c in lexical_ids(rebuilt, "NATO fraud", dated)
    } == {FTX.id}


def test_an_outlet_whose_story_is_stored_as_a_copy_finds_the_lead(
    tmp_path: Path, embedder: Embedder
) -> None:
    index = ChromaIndex.persistent(tmp_path / "chroma", "news", embedding_model=MODEL)
    store(index, embedder, FTX)
    store(index, embedder, NATO)
    wire = Article(
        title=FTX.title, body=FTX.body, outlet="Wire Service", url="https://example.org/wire"
    )
    index.store_copy(wire, FTX.id)
    assert "Wire Service" in index.outlets()
    only_wire = SearchFilters(outlets=("Wire Service",))
    assert article_ids_in(index, "Bankman-Fried trial NATO", only_wire) == {FTX.id}
    dense = index.rank_dense(embedder.embed_query("NATO Russia"), 10, only_wire)
    assert {index.get_passages([c])[c].article_id for c, _ in dense} == {FTX.id}
    assert article_ids_in(index, "NATO", SearchFilters(outlets=("Sputnik",))) == {NATO.id}


def article_ids_in(index: ChromaIndex, query: str, filters: SearchFilters) -> set[str]:
    found = index.get_passages(sorted(lexical_ids(index, query, filters)))
    return {p.article_id for p in found.values()}
