"""The `newsbot` command line, as other programs and people use it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from newsbot.cli import main
from tests.conftest import SEED

pytestmark = pytest.mark.skipif(not SEED.exists(), reason="needs ../shared/data/seed")

SEED_TITLE = (
    "NATO About to Give Written Response to Russia's Security Guarantees Proposals, Report Claims"
)
CITATION_KEYS = {
    "n",
    "article_id",
    "title",
    "outlet",
    "author",
    "published",
    "url",
    "also_reported_by",
}


def _json_lines(output: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in output.splitlines() if line.strip()]


def test_console_script_ingests_the_seed_and_answers_with_the_json_contract(
    tmp_path: Path,
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSBOT_")}
    env["NEWSBOT_DATA_DIR"] = str(tmp_path / "data")
    newsbot = Path(sys.executable).parent / "newsbot"
    ingest = subprocess.run(
        [newsbot, "ingest", str(SEED)], env=env, cwd=tmp_path, capture_output=True, text=True
    )
    assert ingest.returncode == 0, ingest.stderr
    assert ingest.stdout.startswith("Added 1, updated 0, unchanged 0, failed 0")
    ask = subprocess.run(
        [newsbot, "ask", "--json", "what did NATO say about Russia's demands?"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert ask.returncode == 0, ask.stderr
    answer = json.loads(ask.stdout)
    assert set(answer) == {
        "question",
        "answered",
        "quotes",
        "citations",
        "nearest",
        "short_answer",
        "parts",
        "written",
    }
    assert answer["written"] is None  # NEWSBOT_LLM_URL is empty: off
    assert answer["answered"] is True
    quote = next(
        q for q in answer["quotes"] if 'Russia\'s key demands are "unacceptable."' in q["text"]
    )
    cited = answer["citations"][quote["citation"] - 1]
    assert set(cited) == CITATION_KEYS
    assert cited["title"] == SEED_TITLE
    assert (cited["outlet"], cited["author"]) == ("Sputnik", "Morgan Artyukhina")
    assert cited["published"].startswith("2022-01-26T17:45")


def test_ingest_json_report_and_failures(cli: CliRunner, tmp_path: Path) -> None:
    (tmp_path / "broken.jsonl").write_text('{"title": "A", "body": "Text here."}\n{"title": \n')
    result = cli.invoke(main, ["ingest", "--json", str(SEED), str(tmp_path / "broken.jsonl")])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert (report["added"], report["failed"]) == (2, 1)
    failure = next(i for i in report["items"] if i["status"] == "failed")
    assert "line 2" in failure["reason"] and failure["source"].endswith("broken.jsonl#line 2")


def test_ingest_exits_1_when_nothing_could_be_ingested(cli: CliRunner, tmp_path: Path) -> None:
    (tmp_path / "empty.txt").write_text("")
    result = cli.invoke(main, ["ingest", str(tmp_path / "empty.txt"), str(tmp_path / "nope.txt")])
    assert result.exit_code == 1
    assert "empty.txt: " in result.stderr and "nope.txt: " in result.stderr


def test_search_json_returns_the_stored_chunk_texts_ranked(cli: CliRunner) -> None:
    cli.invoke(main, ["ingest", str(SEED)])
    result = cli.invoke(main, ["search", "--json", "--top-k", "3", "NATO written response"])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert payload["query"] == "NATO written response"
    ranks = [r["rank"] for r in payload["results"]]
    assert ranks == [1, 2, 3]
    body = SEED_BODY(cli)
    for r in payload["results"]:
        assert r["text"] in body and r["title"] == SEED_TITLE and r["outlet"] == "Sputnik"


def SEED_BODY(cli: CliRunner) -> str:
    out = cli.invoke(main, ["extract", "--json", str(SEED)]).stdout
    return str(json.loads(out)["body"])


def test_ask_and_search_read_one_query_per_line_from_stdin(cli: CliRunner) -> None:
    cli.invoke(main, ["ingest", str(SEED)])
    questions = "what did NATO say about Russia's demands?\n\nwho won the 2022 World Cup final?\n"
    answers = _json_lines(cli.invoke(main, ["ask", "-"], input=questions).stdout)
    assert [a.get("answered") for a in answers] == [True, None, False]  # (None: the blank line)
    results = _json_lines(cli.invoke(main, ["search", "-"], input="NATO\nUkraine\n").stdout)
    assert [r["query"] for r in results] == ["NATO", "Ukraine"]


def test_a_bad_line_gets_an_error_line_and_the_stream_goes_on(cli: CliRunner) -> None:
    cli.invoke(main, ["ingest", str(SEED)])
    lines = ["what did NATO say about Russia's demands?", "x" * 400, "", "NATO response"]
    for command, key in (("ask", "question"), ("search", "query")):
        result = cli.invoke(main, [command, "-"], input="\n".join(lines) + "\n")
        assert result.exit_code == 0, result.output
        out = _json_lines(result.stdout)
        assert [o[key] for o in out] == lines  # one line out per line in, in order
        assert "error" not in out[0] and "error" not in out[3]
        assert "400 characters long; the limit is 300" in str(out[1]["error"])
        assert "empty" in str(out[2]["error"])


def test_extract_shows_what_would_be_stored_without_storing(cli: CliRunner) -> None:
    result = cli.invoke(main, ["extract", "--json", str(SEED)])
    article = json.loads(result.stdout)
    assert article["title"] == SEED_TITLE
    assert article["published"] == "2022-01-26T17:45:00+00:00"
    assert article["updated"] == "2022-01-26T18:14:00+00:00"
    assert article["body"].startswith("According to US Secretary of State Antony Blinken")
    assert json.loads(cli.invoke(main, ["sources", "--json"]).stdout) == {"articles": []}


def test_sources_and_forget(cli: CliRunner, tmp_path: Path) -> None:
    (tmp_path / "later.json").write_text(
        json.dumps(
            {
                "title": "Later story",
                "body": "Something happened later.",
                "source": "Wire",
                "published_at": "2023-05-01T10:00:00+00:00",
                "url": "https://example.org/later",
            }
        )
    )
    cli.invoke(main, ["ingest", str(SEED), str(tmp_path / "later.json")])
    listed = json.loads(cli.invoke(main, ["sources", "--json"]).stdout)["articles"]
    assert [a["title"] for a in listed] == ["Later story", SEED_TITLE]
    assert all(a["copy_of"] is None and a["duplicate_of"] is None for a in listed)
    gone = cli.invoke(main, ["forget", "https://example.org/later"])
    assert gone.exit_code == 0 and "Later story" in gone.stdout
    missing = cli.invoke(main, ["forget", "https://example.org/later"])
    assert missing.exit_code == 1 and "newsbot sources" in missing.stderr
    listed = json.loads(cli.invoke(main, ["sources", "--json"]).stdout)["articles"]
    assert [a["title"] for a in listed] == [SEED_TITLE]


def test_chat_answers_until_quit(cli: CliRunner) -> None:
    cli.invoke(main, ["ingest", str(SEED)])
    result = cli.invoke(
        main, ["chat"], input="what did NATO say about Russia's demands?\n" + "x" * 400 + "\nquit\n"
    )
    assert result.exit_code == 0
    assert 'key demands are "unacceptable."' in result.stdout
    assert "[1] " + SEED_TITLE in result.stdout
    assert "the limit is 300" in result.stdout


def test_an_invalid_setting_stops_with_one_line(
    cli: CliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NEWSBOT_CHUNK_TOKENS", "-5")
    result = cli.invoke(main, ["sources"])
    assert result.exit_code == 2
    assert result.stderr.strip().count("\n") == 0
    assert "NEWSBOT_CHUNK_TOKENS" in result.stderr


def test_titles_from_the_web_cannot_drive_the_terminal(cli: CliRunner, tmp_path: Path) -> None:
    """Escape codes in a stored title (set the window title, clear the screen, the C1 CSI)
    reach neither the text output nor, raw, the JSON output."""
    hostile = "Markets rally\x1b]0;pwned\x07\x1b[2J\x9b31m today"
    article = {
        "title": hostile,
        "body": "Stocks rose on Tuesday as investors welcomed the rate decision. " * 5,
        "url": "https://example.org/markets",
        "source": "Example News",
    }
    (tmp_path / "a.json").write_text(json.dumps([article]), encoding="utf-8")
    assert cli.invoke(main, ["ingest", str(tmp_path / "a.json")]).exit_code == 0
    text = cli.invoke(main, ["sources"]).stdout
    assert "Markets rally" in text and "today" in text
    assert not any(ch in text for ch in "\x1b\x07\x9b")
    raw = cli.invoke(main, ["sources", "--json"]).stdout
    assert not any(ch in raw for ch in "\x1b\x07\x9b")
    assert json.loads(raw)["articles"][0]["title"] == hostile  # the contract keeps the text


def test_one_unreadable_file_fails_alone_and_the_batch_is_stored(
    cli: CliRunner, tmp_path: Path
) -> None:
    (tmp_path / "nested.json").write_text("[" * 200_000, encoding="utf-8")
    (tmp_path / "bad.txt").write_bytes(b"\xff\xfe\x00\xd8 broken \x00" * 100)
    result = cli.invoke(
        main,
        ["ingest", "--json", str(tmp_path / "nested.json"), str(tmp_path / "bad.txt"), str(SEED)],
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["added"] == 1
    failed = {
        Path(i["source"]).name: i["reason"] for i in report["items"] if i["status"] == "failed"
    }
    assert failed.get("nested.json")


def test_a_directory_ingest_does_not_follow_a_link_out_of_it(
    cli: CliRunner, tmp_path: Path
) -> None:
    news = tmp_path / "news"
    news.mkdir()
    (news / "seed.txt").write_bytes(SEED.read_bytes())
    secret = tmp_path / "secret.env"
    secret.write_text("DISCORD_TOKEN=abc.def.ghi\n" * 40, encoding="utf-8")
    (news / "story.txt").symlink_to(secret)
    result = cli.invoke(main, ["ingest", "--json", str(news)])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["added"] == 1
    [skipped] = [i for i in report["items"] if i["status"] == "failed"]
    assert skipped["source"].endswith("story.txt") and "never follows" in skipped["reason"]
    stored = cli.invoke(main, ["search", "--json", "DISCORD_TOKEN abc"]).stdout
    assert "abc.def.ghi" not in stored


def test_a_date_past_the_calendar_is_a_clear_error(cli: CliRunner) -> None:
    """An offset that takes a day past year 1 in UTC said OverflowError with a traceback."""
    cli.invoke(main, ["ingest", str(SEED)])
    result = cli.invoke(main, ["ask", "--since", "0001-01-01T00:00:00+01:00", "NATO response"])
    assert result.exit_code != 0 and isinstance(result.exception, SystemExit)
    assert "--since '0001-01-01T00:00:00+01:00' is out of range" in result.stderr
    assert "use a day between 0001-01-02 and 9999-12-30" in result.stderr
