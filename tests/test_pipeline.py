"""Ingest through the real pipeline: real model, real Chroma, real files."""

from __future__ import annotations

from pathlib import Path

import pytest

from ingest.loaders import Loaded, LoadFailure, LoadItem, load_file
from ingest.reports import Status
from newsbot.services import Services
from retrieval.models import Article
from tests.conftest import SEED

pytestmark = pytest.mark.skipif(not SEED.exists(), reason="needs ../shared/data/seed")


def _loaded(*articles: Article) -> list[LoadItem]:
    return [Loaded(f"item{i}", a) for i, a in enumerate(articles)]


class CountingEmbeds:
    def __init__(self, services: Services, monkeypatch: pytest.MonkeyPatch) -> None:
        self.texts = 0
        original = services.embedder.embed_documents

        def counting(texts):  # type: ignore[no-untyped-def]
            self.texts += len(texts)
            return original(texts)

        monkeypatch.setattr(services.embedder, "embed_documents", counting)


def test_ingesting_the_same_article_again_embeds_and_adds_nothing(
    services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = services.ingester.ingest(load_file(SEED, max_bytes=10**7))
    assert [i.status for i in first.items] == [Status.ADDED]
    chunks = services.index.count_chunks()
    assert chunks == first.items[0].chunks > 0
    counter = CountingEmbeds(services, monkeypatch)
    again = services.ingester.ingest(load_file(SEED, max_bytes=10**7))
    assert [i.status for i in again.items] == [Status.UNCHANGED]
    assert counter.texts == 0
    assert services.index.count_chunks() == chunks


def test_a_changed_article_at_the_same_url_replaces_its_chunks(services: Services) -> None:
    old = Article(
        title="Council vote", body="The council approved the budget.", url="https://x.test/a"
    )
    new = Article(
        title="Council vote",
        body="The council rejected the budget after a long debate.",
        url="https://x.test/a",
    )
    services.ingester.ingest(_loaded(old))
    report = services.ingester.ingest(_loaded(new))
    assert report.items[0].status is Status.UPDATED
    texts = [p.text for p in services.answerer.search("council budget", k=10)]
    assert texts == ["The council rejected the budget after a long debate."]


def test_bad_items_fail_with_reasons_and_the_rest_is_ingested(
    services: Services, tmp_path: Path
) -> None:
    services.ingester.ingest(load_file(SEED, max_bytes=10**7))
    (tmp_path / "empty.txt").write_text("")
    (tmp_path / "good.txt").write_text(
        "Harbour reopens\nThe harbour reopened on Monday after repairs to the sea wall.\n"
    )
    items = load_file(tmp_path / "empty.txt", max_bytes=10**7) + load_file(
        tmp_path / "good.txt", max_bytes=10**7
    )
    report = services.ingester.ingest(items)
    assert [i.status for i in report.items] == [Status.FAILED, Status.ADDED]
    assert isinstance(items[0], LoadFailure)
    assert "empty" in (report.items[0].reason or "")
    # what was stored before is still there
    assert {a.title for a in services.index.list_articles()} == {
        "NATO About to Give Written Response to Russia's Security Guarantees Proposals, "
        "Report Claims",
        "Harbour reopens",
    }


def test_the_same_article_twice_in_one_batch_is_stored_once(services: Services) -> None:
    a = Article(title="Storm", body="A storm hit the coast overnight.", url="https://x.test/s")
    report = services.ingester.ingest(_loaded(a, a))
    assert sorted(i.status for i in report.items) == [Status.ADDED, Status.UNCHANGED]
    assert services.index.stats().articles == 1
