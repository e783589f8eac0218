"""Crash consistency with real processes: `newsbot` is killed (SIGKILL, through the
test-only NEWSBOT_FAILPOINT) at each step of the store's write paths; the store is then
reopened, and every article must be whole (its old version or its new one), findable, and
the next run must finish the job with nothing lost or stored twice.

These check what is stored, not what is quoted: every process runs on the fast fake embedder
(tests/fake_embedder.py; the children through tests/fake_newsbot.py), as the real model's
loading and embedding would be most of their time."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from newsbot.services import Services, build_services
from newsbot.settings import Settings
from retrieval.errors import ConfigError
from retrieval.failpoints import Failpoints
from retrieval.index import CHUNK_IDS
from tests.conftest import MULTIHOP_CORPUS, REPO
from tests.fake_embedder import FakeEmbedder

pytestmark = pytest.mark.skipif(not MULTIHOP_CORPUS.exists(), reason="needs ../shared/data")

# `newsbot` on the fake embedder.
NEWSBOT = [sys.executable, str(REPO / "tests" / "fake_newsbot.py")]


def _corpus(first: int, count: int) -> list[dict[str, Any]]:
    """Real articles, cut to about three chunks each."""
    articles = json.loads(MULTIHOP_CORPUS.read_text(encoding="utf-8"))
    long = [a for a in articles if len(a["body"]) > 2000][first : first + count]
    return [{**a, "body": a["body"][:1800].rsplit(" ", 1)[0]} for a in long]


def _changed(articles: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The same stories at the same URLs with new text (an update of each)."""
    return [
        {**a, "body": "Update: this story was revised after publication. " + a["body"]}
        for a in articles
    ]


def _write(path: Path, articles: list[dict[str, Any]]) -> Path:
    path.write_text(json.dumps(articles), encoding="utf-8")
    return path


def _newsbot(
    settings: Settings, *args: str, failpoint: str = "", env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """`newsbot ARGS` in a child process on the test's data dir; `env`: settings added."""
    child = {k: v for k, v in os.environ.items() if not k.startswith(("NEWSBOT_", "DISCORD"))}
    child |= {
        "NEWSBOT_DATA_DIR": str(settings.storage.data_dir),
        "NEWSBOT_EMBEDDING_BACKEND": "torch-fp32",
        "NEWSBOT_FAILPOINT": failpoint,
        **(env or {}),
    }
    return subprocess.run(
        [*NEWSBOT, *args],
        env=child,
        cwd=settings.storage.data_dir.parent,
        capture_output=True,
        text=True,
        timeout=600,
        stdin=subprocess.DEVNULL,
    )


def _open(settings: Settings, *, read_only: bool = False) -> Services:
    """Services as a newly started process has them: this test process's earlier Chroma
    clients loaded the vector index before the subprocesses wrote, and a reader's loaded
    vector index does not learn of another process's new chunks (what `newsbot check`
    in its own process does not suffer from)."""
    from chromadb.api.shared_system_client import SharedSystemClient

    SharedSystemClient.clear_system_cache()
    return build_services(settings, read_only=read_only, embedder=FakeEmbedder())


def _killed(result: subprocess.CompletedProcess[str]) -> None:
    assert result.returncode == -signal.SIGKILL, (result.returncode, result.stderr[-2000:])


def _assert_whole(services: Services, versions: dict[str, set[str]]) -> None:
    """Every article of `versions` (url -> bodies it may have) is stored with one of its
    bodies, all its chunks, and nothing else; a search for its text finds it."""
    index = services.index
    report = index.check()
    assert report.whole, report.to_json()
    stored = {a.url: a for a in index.list_articles()}
    bodies = index.get_bodies([a.id for a in stored.values()])
    for url, allowed in versions.items():
        if url not in stored:
            continue
        article = stored[url]
        assert bodies[article.id] in allowed, f"{url}: a body of neither version"
        if article.copy_of is not None:
            continue
        chunks = index.chunk_collection.get(
            where={"article_id": article.id}, include=["documents", "metadatas"]
        )
        assert len(chunks["ids"]) == article.chunk_count
        body = bodies[article.id]
        for text, meta in zip(chunks["documents"], chunks["metadatas"], strict=True):
            assert body[meta["start"] : meta["end"]] == text  # of this version only
        hits = services.answerer.search(article.title, k=20)
        assert article.id in {h.article_id for h in hits}, f"{article.title!r} not findable"


@pytest.fixture
def stored_v1(settings: Settings, tmp_path: Path) -> tuple[list[dict[str, Any]], Path]:
    """Twelve articles ingested (by a process that finished)."""
    v1 = _corpus(0, 12)
    done = _newsbot(settings, "ingest", str(_write(tmp_path / "v1.json", v1)))
    assert done.returncode == 0, done.stderr
    return v1, tmp_path


@pytest.mark.parametrize(
    "failpoint",
    ["chunks-written", "record-written", "old-chunks-deleted", "journal-torn"],
)
def test_a_kill_at_any_step_of_an_update_leaves_each_article_whole(
    settings: Settings,
    stored_v1: tuple[list[dict[str, Any]], Path],
    failpoint: str,
) -> None:
    v1, tmp_path = stored_v1
    v2 = _changed(v1[:8]) + _corpus(12, 4)  # eight updates, four new articles
    batch = _write(tmp_path / "v2.json", v2)
    _killed(_newsbot(settings, "ingest", str(batch), failpoint=failpoint))

    versions = {a["url"]: {a["body"].strip()} for a in v1}
    for a in v2:
        versions.setdefault(a["url"], set()).add(a["body"].strip())
    # A reader before any writer reopens: whole already (the record is the commit point).
    reader = _open(settings, read_only=True)
    _assert_whole_for_reader(reader, versions)
    writer = _open(settings)  # repairs on open
    _assert_whole(writer, versions)
    writer.close()

    finished = _newsbot(settings, "ingest", "--json", str(batch))
    assert finished.returncode == 0, finished.stderr
    report = json.loads(finished.stdout)
    assert report["failed"] == 0
    again = json.loads(_newsbot(settings, "ingest", "--json", str(batch)).stdout)
    assert again["unchanged"] == len(v2)
    final = _open(settings, read_only=True)
    _assert_whole(final, {a["url"]: {a["body"].strip()} for a in v2})
    assert len(final.index.list_articles()) == len(v1) + 4


def _assert_whole_for_reader(reader: Services, versions: dict[str, set[str]]) -> None:
    """What a reader shows: each found chunk is a slice of its article's stored body."""
    index = reader.index
    stored = index.list_articles()
    bodies = index.get_bodies([a.id for a in stored])
    for article in stored:
        assert bodies[article.id] in versions[article.url or ""]
        hits = reader.answerer.search(article.title, k=30)
        for hit in hits:
            assert bodies[hit.article_id][hit.start : hit.end] == hit.text


def test_four_kills_during_a_corpus_ingest_then_a_full_run_leave_the_store_whole(
    settings: Settings, tmp_path: Path
) -> None:
    corpus = _corpus(0, 150)
    batch = _write(tmp_path / "corpus.json", corpus)
    # Three batches (64, 64, 22): the first run dies before the second batch's commit, the
    # second while journaling the BM25 index after a commit, the third after a commit and
    # its clean-up, the fourth before writing anything.
    for failpoint in (
        "chunks-written:2",
        "journal-torn:10",
        "old-chunks-deleted:1",
        "intent-written:1",
    ):
        _killed(_newsbot(settings, "ingest", str(batch), failpoint=failpoint))
    full = _newsbot(settings, "ingest", "--json", str(batch))
    assert full.returncode == 0, full.stderr
    assert json.loads(full.stdout)["failed"] == 0
    services = _open(settings, read_only=True)
    stored = services.index.list_articles()
    assert {a.url for a in stored} == {a["url"] for a in corpus}
    assert services.index.check().whole
    checked = _newsbot(settings, "check", "--json")
    assert checked.returncode == 0 and json.loads(checked.stdout)["found"]["whole"]
    again = json.loads(_newsbot(settings, "ingest", "--json", str(batch)).stdout)
    assert again["unchanged"] == len(corpus) and again["chunks_embedded"] == 0


@pytest.mark.parametrize("failpoint", ["record-written", "record-deleted"])
def test_a_kill_while_forgetting_a_lead_loses_none_of_its_copies(
    settings: Settings, tmp_path: Path, failpoint: str
) -> None:
    lead = _corpus(0, 1)[0]
    copies = [
        {**lead, "source": outlet, "url": f"https://{outlet.lower()}.example/story"}
        for outlet in ("Wire", "Daily")
    ]
    done = _newsbot(settings, "ingest", str(_write(tmp_path / "story.json", [lead, *copies])))
    assert done.returncode == 0, done.stderr
    _killed(_newsbot(settings, "forget", lead["url"], failpoint=failpoint))

    services = _open(settings)  # repairs on open
    stored = {a.url: a for a in services.index.list_articles()}
    for copy in copies:
        assert copy["url"] in stored, "a copy was lost"
    leads = {a.id for a in stored.values() if a.copy_of is None and a.chunk_count}
    for copy in stored.values():
        assert copy.copy_of is None or copy.copy_of in leads
    assert services.index.check().whole
    hits = services.answerer.search(lead["title"], k=10)
    assert hits and hits[0].article_id in leads  # the story is still found
    services.close()
    # Forgetting it again finishes the job.
    again = _newsbot(settings, "forget", lead["url"])
    if lead["url"] in {a.url for a in _open(settings, read_only=True).index.list_articles()}:
        assert again.returncode == 0, again.stderr


def test_check_finds_and_repairs_what_older_versions_left(
    settings: Settings, fake_services: Services, tmp_path: Path
) -> None:
    """Before records named their chunks, a crash mid-update could leave a record whose
    chunks are another version's (the article unfindable, for good), and chunks without
    any record. `newsbot check` reports both; `--repair` fixes them."""
    v1 = _corpus(0, 3)
    from ingest.loaders import load_file

    fake_services.ingester.ingest(load_file(_write(tmp_path / "v1.json", v1), max_bytes=10**8))
    index = fake_services.index
    first, second = index.list_articles()[:2]
    # The old format: records without chunk ids.
    index.update_article_fields({a.id: {CHUNK_IDS: None} for a in index.list_articles()})
    # `first`: its chunks replaced by another text's (new chunks in, old out, record old).
    old = index.chunk_collection.get(
        where={"article_id": first.id}, include=["metadatas", "embeddings"]
    )
    index.chunk_collection.delete(ids=old["ids"])
    index.chunk_collection.add(
        ids=[f"{i}-other" for i in old["ids"]],
        embeddings=old["embeddings"],
        documents=["a text of another version"] * len(old["ids"]),
        metadatas=old["metadatas"],
    )
    # An orphan: chunks of an article that has no record.
    index.chunk_collection.add(
        ids=["c_orphan"],
        embeddings=[old["embeddings"][0]],
        documents=["orphan text"],
        metadatas=[{**old["metadatas"][0], "article_id": "a_nobody"}],
    )
    fake_services.close()

    found = _newsbot(settings, "check", "--json")
    assert found.returncode == 1
    report = json.loads(found.stdout)["found"]
    assert not report["whole"]
    assert report["needs_embedding"] == [first.id]
    assert report["orphan_chunks"] == len(old["ids"]) + 1
    text = _newsbot(settings, "check")
    assert "NOT whole" in text.stdout and "newsbot check --repair" in text.stdout

    repaired = _newsbot(settings, "check", "--repair", "--json")
    assert repaired.returncode == 0, repaired.stdout + repaired.stderr
    result = json.loads(repaired.stdout)
    assert result["repairs"]["reembedded"] == [first.id] and result["after"]["whole"]
    reader = _open(settings, read_only=True)
    for article in (first, second):
        hits = reader.answerer.search(article.title, k=10)
        assert article.id in {h.article_id for h in hits}


def test_a_failpoint_that_does_not_exist_is_refused() -> None:
    with pytest.raises(ConfigError, match="NEWSBOT_FAILPOINT='chunks-writen' is not a failpoint"):
        Failpoints("chunks-writen")
    assert Failpoints("").due("chunks-written") is False
