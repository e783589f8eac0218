"""One writer per embedded store, with real processes: a second writer is refused before it
writes anything and told what to do; readers keep working beside the writer and see what it
writes; the lock dies with its holder, even by SIGKILL."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from ingest.loaders import load_file
from newsbot.services import Services, build_services
from newsbot.settings import Settings
from retrieval.errors import StoreError
from retrieval.store_lock import StoreBusyError, lock_path_for, read_holder
from tests.conftest import MULTIHOP_CORPUS, SAMPLE_NEWS, SEED

pytestmark = pytest.mark.skipif(not SEED.exists(), reason="needs ../shared/data/seed")

NEWSBOT = str(Path(sys.executable).parent / "newsbot")
QUESTION = "what did NATO say about Russia's demands?"
KEY_QUOTE = 'key demands are "unacceptable."'

# A process that opens the store for writing as the bot does, says so, and holds it.
HOLDER = """
import sys
from newsbot.services import build_services
from retrieval.errors import StoreError
from newsbot.settings import load_settings
from retrieval.store_lock import BOT_PURPOSE
services = build_services(
    load_settings(data_dir=sys.argv[1], embedding_backend="torch-fp32"), purpose=BOT_PURPOSE
)
print("holding", flush=True)
sys.stdin.read()
"""


def _env(data_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NEWSBOT_", "DISCORD"))}
    env["NEWSBOT_DATA_DIR"] = str(data_dir)
    env["NEWSBOT_EMBEDDING_BACKEND"] = "torch-fp32"
    return env


def _newsbot(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [NEWSBOT, *args],
        env=_env(data_dir),
        cwd=data_dir.parent,
        capture_output=True,
        text=True,
        timeout=600,
        stdin=subprocess.DEVNULL,
    )


@pytest.fixture
def holder(settings: Settings) -> Iterator[subprocess.Popen[str]]:
    """A separate process holding the store's writer lock as the bot does."""
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(settings.storage.data_dir)],
        env=_env(settings.storage.data_dir),
        cwd=Path(__file__).resolve().parents[1],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "holding"
    yield proc
    if proc.poll() is None:
        proc.kill()
    proc.wait(timeout=30)


def _stored_titles(data_dir: Path) -> list[str]:
    listed = _newsbot(data_dir, "sources", "--json")
    assert listed.returncode == 0, listed.stderr
    return sorted(a["title"] for a in json.loads(listed.stdout)["articles"])


def test_a_cli_write_beside_the_bot_is_refused_and_reads_still_work(
    settings: Settings, holder: subprocess.Popen[str]
) -> None:
    data_dir = settings.storage.data_dir
    stored_before = _stored_titles(data_dir)

    refused = _newsbot(data_dir, "ingest", str(SEED))
    assert refused.returncode == 2
    message = refused.stderr.strip()
    assert message.startswith(f"newsbot: the Discord bot (pid {holder.pid}, since ")
    assert "/ingest" in message and "stop the bot" in message and "NEWSBOT_CHROMA_HOST" in message
    assert "Traceback" not in refused.stderr
    forget = _newsbot(data_dir, "forget", "no-such-article")
    assert forget.returncode == 2 and "/forget" in forget.stderr

    assert _stored_titles(data_dir) == stored_before  # nothing was written
    asked = _newsbot(data_dir, "ask", "--json", QUESTION)
    assert asked.returncode == 0, asked.stderr
    assert json.loads(asked.stdout)["quotes"] == []  # read-only beside the bot: no error

    holder.kill()  # SIGKILL: the kernel drops the lock with the process
    holder.wait(timeout=30)
    done = _newsbot(data_dir, "ingest", str(SEED))
    assert done.returncode == 0, done.stderr
    answer = json.loads(_newsbot(data_dir, "ask", "--json", QUESTION).stdout)
    assert any(KEY_QUOTE in q["text"] for q in answer["quotes"])


def test_two_cli_ingests_at_once_one_refuses_and_succeeds_afterwards(
    settings: Settings, tmp_path: Path
) -> None:
    # A first ingest long enough to still be running when the second starts.
    articles = json.loads(MULTIHOP_CORPUS.read_text(encoding="utf-8"))[:40]
    batch = tmp_path / "batch.json"
    batch.write_text(json.dumps(articles), encoding="utf-8")
    data_dir = settings.storage.data_dir
    first = subprocess.Popen(
        [NEWSBOT, "ingest", str(batch)],
        env=_env(data_dir),
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    lock = lock_path_for(settings.storage.resolved_chroma_path)
    deadline = time.monotonic() + 120
    while (found := read_holder(lock)) is None or found.pid != first.pid:
        assert first.poll() is None, first.communicate()
        assert time.monotonic() < deadline
        time.sleep(0.05)

    second = _newsbot(data_dir, "ingest", str(SAMPLE_NEWS))
    assert first.poll() is None, "the first ingest ended before the second tried"
    assert second.returncode == 2
    assert second.stderr.startswith(f"newsbot: `newsbot ingest` (pid {first.pid}, since ")
    assert "Run this again when it has finished" in second.stderr

    _, err = first.communicate(timeout=600)
    assert first.returncode == 0, err
    again = _newsbot(data_dir, "ingest", str(SAMPLE_NEWS))
    assert again.returncode == 0, again.stderr

    # Every article is stored, every chunk belongs to one, and every vector reads back.
    services = build_services(settings, read_only=True)
    stored = services.index.list_articles()
    assert {a["url"] for a in articles} <= {a.url for a in stored}
    assert any(a.title.startswith("NATO About to Give Written Response") for a in stored)
    chunks = services.index._chunks.get(include=["metadatas", "embeddings"])
    assert len(chunks["ids"]) == sum(a.chunk_count for a in stored)
    assert {m["article_id"] for m in chunks["metadatas"]} <= {a.id for a in stored}
    assert len(chunks["embeddings"]) == len(chunks["ids"])
    checked = _newsbot(data_dir, "check", "--json")
    assert checked.returncode == 0 and json.loads(checked.stdout)["found"]["whole"]


def test_a_reader_sees_what_the_writer_added_after_it_opened(
    settings: Settings, services: Services
) -> None:
    """The reader's Chroma vectors do not know the writer's new chunks ("Error finding id"):
    it still answers from them."""
    sample = sorted(p for p in SAMPLE_NEWS.iterdir() if p.suffix == ".json")[:3]
    for path in sample:
        services.ingester.ingest(load_file(path, max_bytes=10**7))
    services.close()
    reader = build_services(settings, read_only=True, embedder=services.embedder)
    reader.answerer.answer(QUESTION)  # its vector segment is loaded now
    written = _newsbot(settings.storage.data_dir, "ingest", str(SEED))  # another process writes
    assert written.returncode == 0, written.stderr
    reader.answerer.invalidate_stats()
    answer = reader.answerer.answer(QUESTION)
    assert any(KEY_QUOTE in q.text for q in answer.quotes)


def test_in_one_process_the_lock_is_shared_and_let_go_by_the_last(settings: Settings) -> None:
    first = build_services(settings, purpose="first")
    second = build_services(settings, purpose="second")  # same process: shared
    lock = lock_path_for(settings.storage.resolved_chroma_path)
    holder = read_holder(lock)
    assert holder is not None and holder.purpose == "first" and holder.pid == os.getpid()
    first.close()
    assert read_holder(lock) is not None  # `second` still holds it
    second.close()
    assert read_holder(lock) is None


def test_opening_for_writing_beside_a_holder_raises_and_reading_does_not(
    settings: Settings, holder: subprocess.Popen[str]
) -> None:
    with pytest.raises(StoreBusyError, match=r"^the Discord bot \(pid \d+"):
        build_services(settings, purpose="`newsbot ingest`")
    reader = build_services(settings, read_only=True)
    assert reader.index.stats().articles == 0
    with pytest.raises(StoreError, match="read-only"):
        reader.index.forget("anything")
