"""Server mode with real processes: `chroma run` on 127.0.0.1, a bot process and a CLI
ingest on two "machines" (two data dirs, so two BM25 indexes) writing at the same time.
Both finish, each sees the other's articles, and the store is whole."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests.chroma_server import chroma_server
from tests.conftest import MULTIHOP_CORPUS

pytestmark = pytest.mark.skipif(not MULTIHOP_CORPUS.exists(), reason="needs ../shared/data")

NEWSBOT = str(Path(sys.executable).parent / "newsbot")

# The bot's side, as the bot does it: services opened for writing under the bot's name,
# articles ingested through its pipeline (what /ingest and the feed poller call), and
# then, on request, its own searches for the titles it is sent.
BOT = """
import json, sys
from pathlib import Path
from ingest.loaders import load_file
from newsbot.services import build_services
from newsbot.settings import load_settings
from retrieval.store_lock import BOT_PURPOSE
services = build_services(load_settings(), purpose=BOT_PURPOSE)
print("ready", flush=True)
sys.stdin.readline()  # "go": the CLI is writing now
report = services.ingester.ingest(load_file(Path(sys.argv[1]), max_bytes=10**8))
print(json.dumps({"failed": report.to_json()["failed"], "added": report.to_json()["added"]}),
      flush=True)
for title in sys.stdin:
    hits = services.answerer.search(title.strip(), k=10)
    print(json.dumps([h.title for h in hits]), flush=True)
"""


def _env(data_dir: Path, port: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NEWSBOT_", "DISCORD"))}
    return env | {
        "NEWSBOT_DATA_DIR": str(data_dir),
        "NEWSBOT_CHROMA_HOST": "127.0.0.1",
        "NEWSBOT_CHROMA_PORT": str(port),
        "NEWSBOT_EMBEDDING_BACKEND": "torch-fp32",
    }


def _articles(first: int, count: int) -> list[dict[str, Any]]:
    corpus = json.loads(MULTIHOP_CORPUS.read_text(encoding="utf-8"))
    return [{**a, "body": a["body"][:2500]} for a in corpus[first : first + count]]


def _wait_for_articles(port: int, writer: subprocess.Popen[str]) -> None:
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    client = chromadb.HttpClient(
        host="127.0.0.1", port=port, settings=ChromaSettings(anonymized_telemetry=False)
    )
    deadline = time.monotonic() + 300
    while True:
        assert writer.poll() is None, writer.communicate()
        assert time.monotonic() < deadline
        try:
            if client.get_collection("news-articles").count():
                return
        except Exception:  # not created yet
            pass
        time.sleep(0.2)


def test_the_bot_and_a_cli_ingest_write_one_server_at_once(tmp_path: Path) -> None:
    bots, clis = _articles(0, 30), _articles(300, 150)  # the CLI writes three batches
    (tmp_path / "bot.json").write_text(json.dumps(bots), encoding="utf-8")
    (tmp_path / "cli.json").write_text(json.dumps(clis), encoding="utf-8")
    bot_dir, cli_dir = tmp_path / "bot-host", tmp_path / "cli-host"
    with chroma_server(tmp_path / "server") as port:
        bot = subprocess.Popen(
            [sys.executable, "-c", BOT, str(tmp_path / "bot.json")],
            env=_env(bot_dir, port),
            cwd=Path(__file__).resolve().parents[1],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            assert bot.stdin is not None and bot.stdout is not None
            assert bot.stdout.readline().strip() == "ready", bot.stderr
            cli = subprocess.Popen(
                [NEWSBOT, "ingest", "--json", str(tmp_path / "cli.json")],
                env=_env(cli_dir, port),
                cwd=tmp_path,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            _wait_for_articles(port, cli)  # its first batch is in: two more to go
            bot.stdin.write("go\n")
            bot.stdin.flush()
            line = bot.stdout.readline()
            assert line, bot.communicate(timeout=30)[1][-3000:]
            bot_report = json.loads(line)
            assert cli.poll() is None, "the CLI ingest ended before the bot wrote"
            assert bot_report == {"failed": 0, "added": 30}
            out, err = cli.communicate(timeout=600)
            assert cli.returncode == 0, err
            assert json.loads(out)["failed"] == 0

            # The bot finds the CLI's articles (its BM25 index follows the change log).
            for article in clis[:5]:
                bot.stdin.write(article["title"] + "\n")
                bot.stdin.flush()
                assert article["title"] in json.loads(bot.stdout.readline())
            # The CLI's machine finds the bot's.
            for article in bots[:5]:
                found = subprocess.run(
                    [NEWSBOT, "search", "--json", article["title"]],
                    env=_env(cli_dir, port),
                    cwd=tmp_path,
                    capture_output=True,
                    text=True,
                    timeout=300,
                )
                assert found.returncode == 0, found.stderr
                titles = [r["title"] for r in json.loads(found.stdout)["results"]]
                assert article["title"] in titles
            checked = subprocess.run(
                [NEWSBOT, "check", "--json"],
                env=_env(cli_dir, port),
                cwd=tmp_path,
                capture_output=True,
                text=True,
                timeout=300,
            )
            report = json.loads(checked.stdout)["found"]
            assert checked.returncode == 0 and report["whole"], report
            assert report["articles"] + report["copies"] == 180
        finally:
            if bot.poll() is None:
                bot.kill()
            bot.wait(timeout=30)
