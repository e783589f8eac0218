"""Ingest across many batches: chunking, embedding and index writes of consecutive batches
overlap, yet the report, the index and failures look exactly as if they ran one by one."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from ingest import pipeline
from ingest.loaders import Loaded, LoadFailure, LoadItem
from ingest.reports import Status
from newsbot.services import Services
from retrieval.embedding import Vectors
from retrieval.models import Article, Chunk

TOPICS = ("harbour", "council", "railway", "hospital", "school", "bridge", "museum", "airport")


def _article(i: int, version: int = 0) -> Article:
    topic = TOPICS[i % len(TOPICS)]
    return Article(
        title=f"Story {i} about the {topic}",
        body=(
            f"The {topic} in town number {i} reopened on Monday after repairs (version {version}). "
            f"Officials said the work on the {topic} cost {i * 1000 + version} euros. "
            "Residents welcomed the news at a meeting on Tuesday evening."
        ),
        url=f"https://news.test/{i}",
        outlet="Test Times",
    )


@pytest.fixture
def services(fake_services: Services) -> Services:
    """Batching and storage, not what is quoted: the fast fake embedder does."""
    return fake_services


@pytest.fixture
def small_batches(monkeypatch: pytest.MonkeyPatch) -> int:
    monkeypatch.setattr(pipeline, "ARTICLES_PER_BATCH", 4)
    return 4


def test_results_come_back_in_input_order_across_batches(
    services: Services, small_batches: int
) -> None:
    items: list[LoadItem] = [Loaded(f"a{i}", _article(i)) for i in range(10)]
    items.insert(3, LoadFailure("broken.txt", "file is empty"))
    items.append(Loaded("a2-again", _article(2)))  # unchanged within the run
    items.append(Loaded("a5-edited", _article(5, version=1)))  # changed within the run
    seen: list[int] = []
    report = services.ingester.ingest(items, on_progress=seen.append)
    assert [i.source for i in report.items] == [i.source for i in items]
    assert [i.status for i in report.items] == [
        *[Status.ADDED] * 3,
        Status.FAILED,
        *[Status.ADDED] * 7,
        Status.UNCHANGED,
        Status.UPDATED,
    ]
    assert sum(seen) == len(items) and max(seen) <= small_batches
    assert services.index.stats().articles == 10
    bodies = services.index.get_bodies([_article(5).id])
    assert "(version 1)" in bodies[_article(5).id]
    stored = sum(a.chunk_count for a in services.index.list_articles())
    assert services.index.count_chunks() == stored


def test_index_writes_are_split_to_the_stores_batch_limit(
    services: Services, small_batches: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(services.index, "_max_batch", 3)
    report = services.ingester.ingest([Loaded(f"a{i}", _article(i)) for i in range(9)])
    assert report.count(Status.ADDED) == 9
    assert services.index.count_chunks() == report.chunks_embedded >= 9
    passages = services.answerer.search("museum reopened", k=3)
    assert passages and "museum" in passages[0].text


class FailingOnCall:
    """The test's embedder, except that call number `fail_on` raises."""

    def __init__(self, services: Services, fail_on: int) -> None:
        self.calls = 0
        self._embed = services.embedder.embed_documents
        self._fail_on = fail_on

    def __call__(self, texts: Sequence[str]) -> Vectors:
        self.calls += 1
        if self.calls == self._fail_on:
            raise RuntimeError("the model ran out of memory")
        return self._embed(texts)


def test_a_failed_batch_stops_the_ingest_and_nothing_after_it_is_stored(
    services: Services, small_batches: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    failing = FailingOnCall(services, fail_on=2)
    monkeypatch.setattr(services.embedder, "embed_documents", failing)
    items = [Loaded(f"a{i}", _article(i)) for i in range(16)]
    with pytest.raises(RuntimeError, match="out of memory"):
        services.ingester.ingest(items)
    stored = {a.id for a in services.index.list_articles()}
    assert stored == {_article(i).id for i in range(4)}  # the first batch only
    assert services.index.count_chunks() == sum(
        a.chunk_count for a in services.index.list_articles()
    )
    # and a second run picks up where it stopped
    monkeypatch.setattr(services.embedder, "embed_documents", failing._embed)
    again = services.ingester.ingest(items)
    assert [i.status for i in again.items] == [Status.UNCHANGED] * 4 + [Status.ADDED] * 12


def test_a_failure_before_the_model_keeps_every_batch_before_it(
    services: Services, small_batches: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    items = [Loaded(f"a{i}", _article(i)) for i in range(16)]
    chunk = services.ingester._chunker.chunk

    def chunk_or_fail(article: Article) -> list[Chunk]:
        if article.id == _article(9).id:
            raise RuntimeError("the tokenizer crashed")
        return chunk(article)

    monkeypatch.setattr(services.ingester._chunker, "chunk", chunk_or_fail)
    with pytest.raises(RuntimeError, match="tokenizer crashed"):
        services.ingester.ingest(items)
    stored = {a.id for a in services.index.list_articles()}
    assert stored == {_article(i).id for i in range(8)}  # the two batches before it
