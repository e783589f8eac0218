"""`newsbot feeds add|list|poll|remove` against a loopback feed."""

from __future__ import annotations

import json
import re

import pytest
from click.testing import CliRunner

from newsbot.cli import main
from tests.test_feeds import page, rss
from tests.web_server import WebServer


@pytest.fixture
def cli(cli: CliRunner, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    """The command line, allowed to fetch from the test's web server on 127.0.0.1."""
    monkeypatch.setenv("NEWSBOT_FETCH_ALLOW_LOOPBACK", "true")
    return cli


def test_follow_list_poll_and_remove_a_feed(cli: CliRunner, web: WebServer) -> None:
    items = [
        {
            "title": "Harbour to reopen",
            "link": web.add("/h", page("harbour")),
            "date": "Tue, 05 Mar 2024 10:15:00 GMT",
        },
        {
            "title": "Library hours",
            "link": web.add("/l", page("library")),
            "date": "Tue, 05 Mar 2024 11:00:00 GMT",
        },
    ]
    feed = web.add("/rss", rss(items), content_type="application/rss+xml", etag='"v1"')

    added = cli.invoke(main, ["feeds", "add", feed])
    assert added.exit_code == 0, added.output
    assert added.stdout.startswith(
        f"Following Coast Gazette ({feed}): added 2, updated 0, unchanged 0, failed 0."
    )
    again = cli.invoke(main, ["feeds", "add", feed])
    assert again.exit_code == 2 and "already followed" in again.stderr

    listed = cli.invoke(main, ["feeds", "list"])
    assert "Coast Gazette\n  " + feed in listed.stdout
    assert "2 articles ingested · last success " in listed.stdout
    [status] = json.loads(cli.invoke(main, ["feeds", "list", "--json"]).stdout)["feeds"]
    assert (status["articles"], status["failures"], status["last_error"]) == (2, 0, None)

    assert "No feed is due yet" in cli.invoke(main, ["feeds", "poll"]).stdout
    polled = cli.invoke(main, ["feeds", "poll", "--all"])
    assert polled.stdout.strip() == "Polled Coast Gazette: unchanged since the last poll."
    assert web.hits("/rss")[-1].headers["If-None-Match"] == '"v1"'

    sources = json.loads(cli.invoke(main, ["sources", "--json"]).stdout)["articles"]
    assert {a["title"] for a in sources} == {"Harbour to reopen", "Library hours"}

    removed = cli.invoke(main, ["feeds", "remove", feed])
    assert removed.exit_code == 0 and removed.stdout.strip() == "Stopped following Coast Gazette."
    assert "No feeds are followed" in cli.invoke(main, ["feeds", "list"]).stdout
    missing = cli.invoke(main, ["feeds", "remove", feed])
    assert missing.exit_code == 1 and "is not followed" in missing.stderr


def test_a_link_that_is_not_a_feed_is_refused(cli: CliRunner, web: WebServer) -> None:
    url = web.add("/page", page("harbour"))
    result = cli.invoke(main, ["feeds", "add", url])
    assert result.exit_code == 2
    assert result.stderr.strip() == f"newsbot: {url} is text/html, not a feed or plain text"
    assert json.loads(cli.invoke(main, ["feeds", "list", "--json"]).stdout) == {"feeds": []}


def test_a_feed_that_breaks_the_parser_is_shown_failing_and_the_others_are_polled(
    cli: CliRunner, web: WebServer
) -> None:
    coast = web.add("/coast", rss([]), content_type="application/rss+xml")
    valley = web.add("/valley", rss([], "Valley Courier"), content_type="application/rss+xml")
    for feed in (coast, valley):
        assert cli.invoke(main, ["feeds", "add", feed]).exit_code == 0
    # feedparser itself crashes on a declared encoding that Python cannot decode with.
    undecodable = rss([]).replace('encoding="UTF-8"', 'encoding="undefined"')
    web.add("/coast", undecodable, content_type="application/rss+xml")
    library = web.add("/l", page("library"))
    items = [{"title": "Library hours", "link": library, "date": "Tue, 05 Mar 2024 11:00:00 GMT"}]
    web.add("/valley", rss(items, "Valley Courier"), content_type="application/rss+xml")

    polled = cli.invoke(main, ["feeds", "poll", "--all"])
    assert polled.exit_code == 0, polled.output
    reason = (
        f"{coast} could not be read as a feed (UnicodeError: decoding with 'undefined' codec "
        "failed (UnicodeError: undefined encoding))"
    )
    assert polled.stdout.splitlines() == [
        f"Polled Coast Gazette: failed: {reason}",
        f"Polled Valley Courier ({valley}): added 1, updated 0, unchanged 0, failed 0.",
    ]
    listed = cli.invoke(main, ["feeds", "list"]).stdout
    assert "0 articles ingested · last success " in listed
    assert "· failing (1 in a row), next try " in listed
    assert re.search(rf"\n  last error [\d-]+ [\d:]+ UTC: {re.escape(reason)}\n", listed)
    [failing, _] = json.loads(cli.invoke(main, ["feeds", "list", "--json"]).stdout)["feeds"]
    assert (failing["url"], failing["failures"], failing["last_error"]) == (coast, 1, reason)
