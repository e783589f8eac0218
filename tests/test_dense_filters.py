"""Filtered dense search (outlets, dates, scopes, articles) finds what Chroma's own metadata filter
finds, by both routes: the chunks the filter keeps compared here (the side index's int8
vectors), or an over-fetch from Chroma's whole index with the others dropped."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from ingest.loaders import Loaded
from newsbot.services import Services
from retrieval import chroma_index
from retrieval.filter_translation import chroma_where
from retrieval.index import SearchFilters
from retrieval.models import Article, make_article_id

OUTLETS = ("Reuters", "The Verge", "BBC")
# int8 vectors with one scale each move a cosine by at most ~0.002.
QUANTISATION = 0.004
DAY0 = datetime(2023, 10, 1, tzinfo=UTC)


def _articles() -> list[Article]:
    found = []
    for i in range(12):
        found.append(
            Article(
                title=f"Port strike day {i}",
                body=(
                    f"Dock workers at port {i} went on strike over pay. "
                    f"The union said talks with the operator had failed on day {i}. "
                    "Shipping companies warned of delays to deliveries."
                ),
                outlet=OUTLETS[i % 3],
                published=DAY0 + timedelta(days=i),
                url=f"https://news.test/strike/{i}",
                scope="global" if i % 4 else "guild:7",
            )
        )
    return found


def _id(n: int) -> str:
    return make_article_id(url=f"https://news.test/strike/{n}", title="", body="")


FILTERS = [
    SearchFilters(),
    SearchFilters(article_ids=(_id(3),)),
    SearchFilters(article_ids=(_id(3), _id(4)), scopes=("global",)),  # 4 is guild:7's
    SearchFilters(outlets=("The Verge",)),
    SearchFilters(outlets=("Reuters", "BBC")),
    SearchFilters(since=DAY0 + timedelta(days=5)),
    SearchFilters(since=DAY0 + timedelta(days=2), until=DAY0 + timedelta(days=6)),
    SearchFilters(scopes=("global",)),
    SearchFilters(scopes=("global", "guild:7"), outlets=("BBC",)),
]


@pytest.mark.parametrize("route", ["compared here", "over-fetch"])
def test_filtered_dense_search_finds_what_chromas_filter_finds(
    services: Services, monkeypatch: pytest.MonkeyPatch, route: str
) -> None:
    if route == "over-fetch":
        monkeypatch.setattr(chroma_index, "DENSE_SCAN_MAX", 0)
    services.ingester.ingest([Loaded(a.url or "", a) for a in _articles()])
    index = services.index
    assert index.count_chunks() >= 12
    vector = services.embedder.embed_query("dock workers strike")
    for filters in FILTERS:
        expected = index._chunks.query(
            query_embeddings=[vector], n_results=50, where=chroma_where(filters), include=[]
        )["ids"][0]
        got = [cid for cid, _ in index.rank_dense(vector, 50, filters)]
        assert expected and set(got) == set(expected), filters
        # Best first by the true cosine; chunks compared here use int8 vectors, which
        # may swap two whose cosines are within the quantisation error.
        stored = index._chunks.get(ids=got, include=["embeddings"])
        cosine = dict(zip(stored["ids"], np.asarray(stored["embeddings"]) @ vector, strict=True))
        true = [float(cosine[cid]) for cid in got]
        assert all(a >= b - QUANTISATION for a, b in itertools.pairwise(true)), filters


def test_a_filter_that_keeps_nothing_finds_nothing(services: Services) -> None:
    services.ingester.ingest([Loaded(a.url or "", a) for a in _articles()])
    vector = services.embedder.embed_query("dock workers strike")
    assert services.index.rank_dense(vector, 10, SearchFilters(outlets=("Nobody",))) == []


def test_a_question_asked_again_after_an_ingest_finds_the_new_article(
    services: Services,
) -> None:
    services.ingester.ingest([Loaded(a.url or "", a) for a in _articles()])
    vector = services.embedder.embed_query("ferry timetable changes for the winter")
    before = services.index.rank_dense(vector, 5, SearchFilters(scopes=("global",)))
    ferry = Article(
        title="Winter ferry timetable",
        body="The ferry company changed its timetable for the winter months.",
        url="https://news.test/ferry",
    )
    services.ingester.ingest([Loaded("ferry", ferry)])
    for filters in (None, SearchFilters(scopes=("global",))):
        after = services.index.rank_dense(vector, 5, filters)
        assert after[0][0] not in {cid for cid, _ in before}
        assert services.index.get_passages([after[0][0]])[after[0][0]].article_id == ferry.id
