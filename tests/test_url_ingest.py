"""`newsbot ingest URL`: pages fetched from a loopback server, extracted, flagged when cut
short; every bad case ends in a clear reason and leaves what is stored as it was."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from newsbot.cli import main
from tests.conftest import SHARED_DATA
from tests.web_server import WebServer

BENCH = SHARED_DATA / "article-extraction-benchmark"
AUTO_SHOW = "05844573ca7e1fba714d715bb11ca08c26e25328999c74a1cb3bc8a0e4399f0f"

PARAGRAPHS = [
    "The harbour master said on Monday that the port would reopen to ferries next week.",
    "Repairs to the storm-damaged sea wall cost four million euros and took three months.",
    "Fishing boats have used a temporary pier since the storm hit the coast in January.",
    "The council said the new wall was built to withstand storms twice as strong.",
]


def article_page(paragraphs: list[str] = PARAGRAPHS, head: str = "") -> str:
    body = "".join(f"<p>{p}</p>" for p in paragraphs)
    return (
        "<!DOCTYPE html><html><head><title>Harbour reopens after storm repairs</title>"
        '<meta property="og:site_name" content="Coast Gazette">'
        '<meta property="article:published_time" content="2024-03-04T09:30:00+01:00">'
        f'<meta name="author" content="Ana Reyes">{head}</head><body>'
        "<nav><a href='/'>Home</a></nav>"
        f"<article><h1>Harbour reopens after storm repairs</h1>{body}</article>"
        "<footer>Contact us</footer></body></html>"
    )


@pytest.fixture
def cli(cli: CliRunner, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    """The command line, allowed to fetch from the test's web server on 127.0.0.1."""
    monkeypatch.setenv("NEWSBOT_FETCH_ALLOW_LOOPBACK", "true")
    return cli


def sources(cli: CliRunner) -> list[dict[str, object]]:
    return list(json.loads(cli.invoke(main, ["sources", "--json"]).stdout)["articles"])


def test_a_page_is_fetched_extracted_and_answerable(cli: CliRunner, web: WebServer) -> None:
    url = web.add("/news/harbour", article_page())
    result = cli.invoke(main, ["ingest", "--json", url])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert (report["added"], report["failed"]) == (1, 0)
    assert report["items"][0]["source"] == url
    [stored] = sources(cli)
    assert stored["title"] == "Harbour reopens after storm repairs"
    assert (stored["outlet"], stored["author"], stored["url"]) == (
        "Coast Gazette",
        "Ana Reyes",
        url,
    )
    assert stored["published"] == "2024-03-04T08:30:00+00:00"  # time and zone from the page
    answer = json.loads(
        cli.invoke(main, ["ask", "--json", "when will the port reopen to ferries?"]).stdout
    )
    assert answer["answered"] and "reopen to ferries next week" in answer["quotes"][0]["text"]


@pytest.mark.skipif(not BENCH.exists(), reason="needs ../shared/data/article-extraction-benchmark")
def test_a_real_news_page_from_the_extraction_benchmark(cli: CliRunner, web: WebServer) -> None:
    html = gzip.decompress((BENCH / "html" / f"{AUTO_SHOW}.html.gz").read_bytes())
    url = web.add("/autos/la-auto-show", html)
    result = cli.invoke(main, ["ingest", url])
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("Added 1, updated 0, unchanged 0, failed 0")
    [stored] = sources(cli)
    assert stored["title"] == "New SUVs and electric vehicles highlight L.A. Auto Show"
    assert stored["outlet"] == "Connecticut Post" and stored["url"] == url


def test_a_redirected_page_is_stored_under_its_final_url(cli: CliRunner, web: WebServer) -> None:
    final = web.add("/2024/03/harbour", article_page())
    short = web.redirect("/s/h1", "/2024/03/harbour", status=301)
    assert cli.invoke(main, ["ingest", short]).exit_code == 0
    assert [a["url"] for a in sources(cli)] == [final]


def test_a_cut_short_page_is_flagged_and_not_stored(cli: CliRunner, web: WebServer) -> None:
    teaser = web.add(
        "/paywalled",
        article_page(
            [
                "The harbour master said on Monday that the port would reopen to ferries soon.",
                "Subscribe to continue reading this story and support local journalism…",
            ]
        ),
    )
    result = cli.invoke(main, ["ingest", "--json", teaser])
    assert result.exit_code == 1
    [item] = json.loads(result.stdout)["items"]
    assert item["status"] == "failed"
    assert item["reason"].startswith("the page's text looks cut short (only 2 sentences of text)")
    assert sources(cli) == []


@pytest.mark.parametrize(
    ("setup", "env", "reason"),
    [
        (lambda w: w.redirect("/x", "http://169.254.169.254/latest/meta-data/"), {}, "link-local"),
        (lambda w: w.redirect("/x", "http://10.1.2.3/"), {}, "refused to connect to 10.1.2.3"),
        (
            lambda w: w.add("/x", "<p>late</p>", delay=5.0),
            {"NEWSBOT_FETCH_READ_TIMEOUT_SECONDS": "0.2"},
            "stopped answering",
        ),
        (
            lambda w: w.add("/x", "<p>" + "x" * 3000 + "</p>"),
            {"NEWSBOT_FETCH_MAX_BYTES": "2000"},
            "over the 2,000-byte download limit",
        ),
        (lambda w: w.add("/x", b"GIF89a", content_type="image/gif"), {}, "is image/gif, not"),
        (
            lambda w: w.add("/x", "<rss version='2.0'/>", content_type="application/rss+xml"),
            {},
            "this link is a feed, not an article: add it with `newsbot feeds add`",
        ),
        (
            lambda w: w.add("/x", article_page()),
            {"NEWSBOT_FETCH_ALLOW_LOOPBACK": "false"},
            "loopback address",
        ),
        (
            lambda w: w.add("/x", "<html><body><nav>Home</nav></body></html>"),
            {},
            "no article text found",
        ),
    ],
    ids=["metadata", "private", "slow", "oversized", "image", "feed", "loopback", "no-text"],
)
def test_bad_links_fail_with_a_reason_and_change_nothing(
    cli: CliRunner,
    web: WebServer,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    setup: object,
    env: dict[str, str],
    reason: str,
) -> None:
    good = web.add("/good", article_page())
    assert cli.invoke(main, ["ingest", good]).exit_code == 0
    before = sources(cli)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    url = setup(web)  # type: ignore[operator]
    result = cli.invoke(main, ["ingest", url])
    assert result.exit_code == 1
    assert f"failed: {url}: " in result.stderr and reason in result.stderr
    assert sources(cli) == before


def test_a_server_trickling_its_headers_fails_at_the_deadline(
    cli: CliRunner, web: WebServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NEWSBOT_FETCH_DEADLINE_SECONDS", "1")
    url = web.add("/trickle", article_page(), trickle=0.2)  # ~20 s of headers
    result = cli.invoke(main, ["ingest", url])
    assert result.exit_code == 1
    assert (
        f"failed: {url}: {url} took more than 1 s to download: the server is too slow or "
        "stopped answering; try again later"
    ) in result.stderr
    assert sources(cli) == []


def test_files_and_links_ingest_together(cli: CliRunner, web: WebServer, tmp_path: Path) -> None:
    (tmp_path / "note.txt").write_text(
        "Library hours\nThe library will open late on Fridays from next month, the mayor said.\n"
    )
    url = web.add("/harbour", article_page())
    text_url = web.add(
        "/bulletin.txt",
        "Bridge closed\nThe old bridge is closed for repairs until May, engineers said today.\n",
        content_type="text/plain; charset=utf-8",
    )
    result = cli.invoke(main, ["ingest", "--json", str(tmp_path / "note.txt"), url, text_url])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["added"] == 3
    titles = {a["title"] for a in sources(cli)}
    assert titles == {"Library hours", "Harbour reopens after storm repairs", "Bridge closed"}
