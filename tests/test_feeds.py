"""Feeds: RSS and Atom from a loopback server, polled with a controllable clock."""

from __future__ import annotations

import gzip
import json
import threading
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

import pytest

from ingest.feeds import FeedError, FeedPoller, FeedStore, PollResult, parse_feed
from ingest.fetching import Fetcher, FetchError
from ingest.loaders import LoadItem
from ingest.reports import Status
from newsbot.services import Services, build_services
from newsbot.settings import Settings
from tests.conftest import SHARED_DATA
from tests.web_server import WebServer, wait_until

BENCH = SHARED_DATA / "article-extraction-benchmark"
BENCH_PAGES = (
    "05844573ca7e1fba714d715bb11ca08c26e25328999c74a1cb3bc8a0e4399f0f",
    "04a6711caa7c687592777718866e781e976e0fe684faebe8b3cedcef8cd0ea34",
)
INTERVAL = 600.0
START = datetime(2024, 3, 5, 12, 0, tzinfo=UTC)

STORIES = {
    "harbour": [
        "The harbour master said on Monday that the port would reopen to ferries next week.",
        "Repairs to the storm-damaged sea wall cost four million euros and took three months.",
        "Fishing boats have used a temporary pier since the storm hit the coast in January.",
    ],
    "library": [
        "The city library will stay open until nine on weekdays from April, the council said.",
        "Longer hours were the most common request in a survey of residents last autumn.",
        "Two new librarians will be hired to cover the evening shifts, officials added.",
    ],
    "bridge": [
        "Engineers closed the old river bridge to lorries after finding cracks in a support.",
        "Cars and buses may still cross while a full inspection is carried out this month.",
        "The detour for heavy traffic adds about fifteen minutes through the industrial zone.",
    ],
}


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


def page(story: str, head: str = "") -> str:
    body = "".join(f"<p>{p}</p>" for p in STORIES[story])
    return (
        f"<!DOCTYPE html><html><head><title>{story.title()} page</title>"
        f'<meta property="og:site_name" content="Coast Gazette">{head}</head><body>'
        f"<nav><a href='/'>Home</a></nav><article>{body}</article></body></html>"
    )


def rss(items: list[dict[str, str]], title: str = "Coast Gazette") -> str:
    parts = []
    for item in items:
        content = item.get("content")
        encoded = f"<content:encoded><![CDATA[{content}]]></content:encoded>" if content else ""
        parts.append(
            f"<item><title>{escape(item['title'])}</title><link>{item['link']}</link>"
            f"<guid>{item['link']}</guid><pubDate>{item['date']}</pubDate>"
            f"<description>{escape(item.get('summary', 'A short summary.'))}</description>"
            f"{encoded}</item>"
        )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<rss version="2.0" xmlns:content="http://purl.org/rss/1.0/modules/content/">'
        f"<channel><title>{escape(title)}</title><link>https://coast.example/</link>"
        f"<description>News</description>{''.join(parts)}</channel></rss>"
    )


def atom(entries: list[dict[str, str]], title: str = "Valley Courier") -> str:
    parts = [
        f'<entry><title>{escape(e["title"])}</title><link href="{e["link"]}"/>'
        f"<id>{e['link']}</id><published>{e['date']}</published><updated>{e['date']}</updated>"
        f"<author><name>Sam Lee</name></author><summary>Only a summary.</summary></entry>"
        for e in entries
    ]
    return (
        '<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom">'
        f"<title>{escape(title)}</title><id>urn:valley</id><updated>2024-03-05T12:00:00Z</updated>"
        f"{''.join(parts)}</feed>"
    )


def rfc822(when: datetime) -> str:
    return format_datetime(when, usegmt=True)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def poller(services: Services, clock: Clock, tmp_path: Path) -> FeedPoller:
    return make_poller(services, clock, tmp_path)


def make_poller(services: Services, clock: Clock, tmp_path: Path) -> FeedPoller:
    return FeedPoller(
        FeedStore(tmp_path / "data" / "feeds.sqlite3"),
        Fetcher(allow_loopback=True, resolver=lambda host, port: []),
        services.ingester,
        interval=INTERVAL,
        clock=clock,
    )


def titles(services: Services) -> set[str]:
    return {a.title for a in services.index.list_articles()}


def follow_two_empty_feeds(web: WebServer, poller: FeedPoller) -> tuple[str, str]:
    """Coast Gazette, then Valley Courier (with an ETag), followed with no entries yet."""
    coast = web.add("/coast", rss([]), content_type="application/rss+xml")
    valley = web.add(
        "/valley", rss([], "Valley Courier"), content_type="application/rss+xml", etag='"v1"'
    )
    poller.add(coast)
    poller.add(valley)
    return coast, valley


def test_rss_with_full_content_is_ingested_without_fetching_pages(
    web: WebServer, poller: FeedPoller, services: Services
) -> None:
    link = web.url("/news/harbour")
    feed = web.add(
        "/rss",
        rss(
            [
                {
                    "title": "Harbour to reopen",
                    "link": link,
                    "date": "Tue, 05 Mar 2024 10:15:00 +0100",
                    "content": "".join(f"<p>{p}</p>" for p in STORIES["harbour"]),
                }
            ]
        ),
        content_type="application/rss+xml",
    )
    result = poller.add(feed)
    assert (result.ingested, result.error) == (1, None)
    assert web.hits("/news/harbour") == []
    [article] = services.index.list_articles()
    assert (article.title, article.outlet, article.url) == (
        "Harbour to reopen",
        "Coast Gazette",
        link,
    )
    assert article.published == datetime(2024, 3, 5, 9, 15, tzinfo=UTC)  # the feed's time
    [status] = poller.feeds()
    assert (status.title, status.articles, status.last_success) == ("Coast Gazette", 1, START)
    answer = services.answerer.answer("when will the port reopen to ferries?")
    assert answer.answered and answer.citations[0].url == link


@pytest.mark.skipif(not BENCH.exists(), reason="needs ../shared/data/article-extraction-benchmark")
def test_atom_summaries_are_ingested_from_their_pages(
    web: WebServer, poller: FeedPoller, services: Services
) -> None:
    entries = []
    for n, key in enumerate(BENCH_PAGES):
        html = gzip.decompress((BENCH / "html" / f"{key}.html.gz").read_bytes())
        entries.append(
            {
                "title": f"Benchmark story {n}",
                "link": web.add(f"/story/{n}", html),
                "date": f"2019-11-2{n}T08:00:00Z",
            }
        )
    day_only = '<meta name="date" content="2024-03-05">'
    entries.append(
        {
            "title": "Bridge closed to lorries",
            "link": web.add("/story/bridge", page("bridge", day_only)),
            "date": "2024-03-05T14:20:00+01:00",
        }
    )
    result = poller.add(web.add("/atom", atom(entries), content_type="application/atom+xml"))
    assert result.ingested == 3 and result.report.count(Status.FAILED) == 0
    assert all(len(web.hits(f"/story/{n}")) == 1 for n in (0, 1, "bridge"))
    assert titles(services) == {
        "Benchmark story 0",
        "Benchmark story 1",
        "Bridge closed to lorries",
    }
    bridge = next(a for a in services.index.list_articles() if a.title.startswith("Bridge"))
    # The page gives only the day; the feed gives the time of day and the zone.
    assert bridge.published == datetime(2024, 3, 5, 13, 20, tzinfo=UTC)
    assert bridge.outlet == "Coast Gazette"  # the page's own site name wins over the feed's


def test_new_entries_are_ingested_once_and_unchanged_feeds_cost_one_request(
    web: WebServer, poller: FeedPoller, services: Services, clock: Clock
) -> None:
    items = [
        {
            "title": "Harbour to reopen",
            "link": web.add("/h", page("harbour")),
            "date": rfc822(START),
        },
        {"title": "Library hours", "link": web.add("/l", page("library")), "date": rfc822(START)},
    ]
    feed = web.add("/rss", rss(items), content_type="application/rss+xml", etag='"v1"')
    assert poller.add(feed).ingested == 2

    clock.advance(INTERVAL - 1)
    assert poller.poll_due() == []  # not due yet: nothing fetched
    assert len(web.hits("/rss")) == 1

    clock.advance(1)
    [unchanged] = poller.poll_due()
    assert unchanged.not_modified and unchanged.ingested == 0
    assert len(web.hits("/rss")) == 2 and web.hits("/rss")[-1].headers["If-None-Match"] == '"v1"'
    assert len(web.hits("/h")) == len(web.hits("/l")) == 1  # one conditional request, no more

    items.insert(
        0, {"title": "Bridge closed", "link": web.add("/b", page("bridge")), "date": rfc822(START)}
    )
    web.add("/rss", rss(items), content_type="application/rss+xml", etag='"v2"')
    clock.advance(INTERVAL)
    [changed] = poller.poll_due()
    assert changed.ingested == 1 and [i.title for i in changed.report.items] == ["Bridge closed"]
    assert len(web.hits("/h")) == len(web.hits("/l")) == len(web.hits("/b")) == 1
    assert titles(services) == {"Harbour to reopen", "Library hours", "Bridge closed"}
    assert poller.feeds()[0].articles == 3


def test_a_failing_feed_backs_off_and_recovers(
    web: WebServer, poller: FeedPoller, services: Services, clock: Clock
) -> None:
    items = [{"title": "Harbour", "link": web.add("/h", page("harbour")), "date": rfc822(START)}]
    feed = web.add("/rss", rss(items), content_type="application/rss+xml")
    poller.add(feed)
    web.add("/rss", "down for maintenance", status=503, content_type="text/plain")

    clock.advance(INTERVAL)
    [failed] = poller.poll_due()
    assert failed.error is not None and "503" in failed.error
    assert failed.feed.failures == 1
    assert failed.feed.next_poll == clock.now + timedelta(seconds=2 * INTERVAL)
    requests = len(web.hits("/rss"))

    clock.advance(INTERVAL)
    assert poller.poll_due() == [] and len(web.hits("/rss")) == requests  # backing off
    clock.advance(INTERVAL)
    [again] = poller.poll_due()
    assert again.feed.failures == 2
    assert again.feed.next_poll == clock.now + timedelta(seconds=4 * INTERVAL)

    items.append(
        {"title": "Library", "link": web.add("/l", page("library")), "date": rfc822(START)}
    )
    web.add("/rss", rss(items), content_type="application/rss+xml")
    clock.advance(4 * INTERVAL)
    [recovered] = poller.poll_due()
    assert recovered.error is None and recovered.ingested == 1
    status = recovered.feed
    assert (status.failures, status.last_success, status.articles) == (0, clock.now, 2)
    assert status.last_error is not None and "503" in status.last_error
    assert status.next_poll == clock.now + timedelta(seconds=INTERVAL)


def test_feeds_and_their_state_survive_a_restart(
    web: WebServer, services: Services, clock: Clock, tmp_path: Path
) -> None:
    items = [{"title": "Harbour", "link": web.add("/h", page("harbour")), "date": rfc822(START)}]
    feed = web.add("/rss", rss(items), content_type="application/rss+xml", etag='"v1"')
    make_poller(services, clock, tmp_path).add(feed)
    restarted = make_poller(services, clock, tmp_path)
    [status] = restarted.feeds()
    assert (status.url, status.articles, status.etag) == (feed, 1, '"v1"')
    clock.advance(INTERVAL)
    [result] = restarted.poll_due()
    assert result.not_modified and web.hits("/rss")[-1].headers["If-None-Match"] == '"v1"'


def test_entry_pages_that_fail_are_retried_then_given_up(
    web: WebServer, poller: FeedPoller, services: Services, clock: Clock
) -> None:
    items = [
        {"title": "Gone", "link": web.url("/missing"), "date": rfc822(START)},
        {"title": "Harbour", "link": web.add("/h", page("harbour")), "date": rfc822(START)},
        {
            "title": "Teaser",
            "link": web.add(
                "/teaser",
                "<html><body><article><p>The mayor said the budget vote would be close. "
                "Subscribe to read more…</p></article></body></html>",
            ),
            "date": rfc822(START),
        },
    ]
    feed = web.add("/rss", rss(items), content_type="application/rss+xml", etag='"v1"')
    first = poller.add(feed)
    assert first.ingested == 1
    reasons = {i.source: i.reason for i in first.report.items if i.reason}
    assert "answered 404 Not Found" in reasons[web.url("/missing")]
    assert reasons[web.url("/teaser")].startswith("the page's text looks cut short")
    assert titles(services) == {"Harbour"}
    assert "(and 1 more)" in (first.feed.last_error or "")
    for _ in range(3):
        clock.advance(INTERVAL)
        poller.poll_due()
    # Tried three times in all (no conditional request while entries wait for a retry).
    assert len(web.hits("/missing")) == len(web.hits("/teaser")) == 3
    assert len(web.hits("/h")) == 1


_ENTITY_BOMB = (
    '<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY a "aaaaaaaaaa">'
    '<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;"><!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;">]>'
    '<rss version="2.0"><channel><title>&c;</title></channel></rss>'
)


@pytest.mark.parametrize(
    ("body", "content_type", "message"),
    [
        (_ENTITY_BOMB, "application/rss+xml", "declares a DTD"),
        # Once read past the refusal: the entities hid behind the encoding's NULs.
        (_ENTITY_BOMB.encode("utf-32"), "application/rss+xml", "declares a DTD"),
        (_ENTITY_BOMB.encode("utf-32-be"), "application/rss+xml", "declares a DTD"),
        (_ENTITY_BOMB.encode("utf-16-le"), "application/rss+xml", "declares a DTD"),
        (
            '<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
            '<rss version="2.0"><channel><title>&x;</title></channel></rss>',
            "application/rss+xml",
            "declares a DTD",
        ),
        ("<html><body><p>Not a feed</p></body></html>", "text/html", "is text/html, not a feed"),
        ("just some words", "text/plain", "is not an RSS or Atom feed"),
        (
            '<?xml version="1.0" encoding="undefined"?>'
            '<rss version="2.0"><channel><title>Coast Gazette</title></channel></rss>',
            "application/rss+xml",
            "could not be read as a feed",
        ),
    ],
    ids=[
        "entity-bomb",
        "entity-bomb-utf32",
        "entity-bomb-utf32-no-bom",
        "entity-bomb-utf16-no-bom",
        "external-entity",
        "html",
        "text",
        "unknown-encoding",
    ],
)
def test_bad_feeds_are_refused_and_nothing_is_stored(
    web: WebServer,
    poller: FeedPoller,
    services: Services,
    body: str | bytes,
    content_type: str,
    message: str,
) -> None:
    url = web.add("/bad", body, content_type=content_type)
    with pytest.raises((FeedError, FetchError), match=message):
        poller.add(url)
    assert poller.feeds() == [] and services.index.list_articles() == []


def test_feedparser_is_only_given_bytes(web: WebServer, tmp_path: Path) -> None:
    secret = tmp_path / "secret.xml"
    secret.write_text(rss([{"title": "Secret", "link": "https://x.example/s", "date": "x"}]))
    for data in (str(secret).encode(), web.url("/rss").encode(), secret.as_uri().encode()):
        with pytest.raises(FeedError, match="is not an RSS or Atom feed"):
            parse_feed(data, url="https://feeds.example/rss")
    assert web.requests == []


def test_removed_feeds_are_no_longer_polled(
    web: WebServer, poller: FeedPoller, clock: Clock
) -> None:
    items = [{"title": "Harbour", "link": web.add("/h", page("harbour")), "date": rfc822(START)}]
    feed = web.add("/rss", rss(items), content_type="application/rss+xml")
    poller.add(feed)
    with pytest.raises(Exception, match="already followed"):
        poller.add(feed)
    assert poller.remove(feed) is not None and poller.feeds() == []
    clock.advance(INTERVAL)
    assert poller.poll_due() == [] and len(web.hits("/rss")) == 1


@pytest.mark.parametrize(
    ("body", "content_type", "outcome"),
    [
        # Each of these once raised out of the poll and stopped every feed after it.
        (page("bridge"), "text/html; charset=undefined", "Broken"),
        ("[" * 100_000 + "]" * 100_000, "application/json", "the JSON is nested too deeply"),
        (
            json.dumps(
                {
                    "title": "Bridge closed",
                    "body": " ".join(STORIES["bridge"]),
                    "published": "0001-01-01T00:00:00+01:00",  # before year 1 in UTC
                }
            ),
            "application/json",
            "Broken",
        ),
        # What no loader foresaw (here: a bug, simulated) fails that entry alone too.
        (page("bridge"), "text/html", "the entry could not be read (RuntimeError"),
    ],
    ids=["charset-undefined", "deep-json", "year-1-date", "unforeseen-crash"],
)
def test_a_hostile_entry_page_is_read_or_fails_alone(
    web: WebServer,
    poller: FeedPoller,
    services: Services,
    clock: Clock,
    monkeypatch: pytest.MonkeyPatch,
    body: str,
    content_type: str,
    outcome: str,
) -> None:
    """`outcome`: the title the entry is stored under (the feed's), or how its failure
    starts."""
    coast, valley = follow_two_empty_feeds(web, poller)
    broken = web.add("/broken", body, content_type=content_type)
    if outcome.startswith("the entry could not be read"):
        real = FeedPoller._load_entry

        def crashing(self: FeedPoller, entry: Any, *args: Any) -> LoadItem:
            if entry.link == broken:
                raise RuntimeError("an unforeseen bug")
            return real(self, entry, *args)

        monkeypatch.setattr(FeedPoller, "_load_entry", crashing)
    harbour = web.add("/h", page("harbour"))
    coast_items = [
        {"title": "Harbour", "link": harbour, "date": rfc822(START)},
        {"title": "Broken", "link": broken, "date": rfc822(START)},
    ]
    web.add("/coast", rss(coast_items), content_type="application/rss+xml")
    library = web.add("/l", page("library"))
    valley_items = [{"title": "Library", "link": library, "date": rfc822(START)}]
    web.add("/valley", rss(valley_items, "Valley Courier"), content_type="application/rss+xml")

    clock.advance(INTERVAL)
    coast_result, valley_result = poller.poll_due()
    assert (coast_result.feed.url, valley_result.feed.url) == (coast, valley)
    assert (valley_result.error, valley_result.ingested) == (None, 1)
    assert coast_result.error is None and coast_result.feed.failures == 0
    failed = [i for i in coast_result.report.items if i.status is Status.FAILED]
    if outcome.startswith("the "):
        [failure] = failed
        assert failure.source == broken and (failure.reason or "").startswith(outcome)
        assert titles(services) == {"Harbour", "Library"}
        assert coast_result.feed.last_error == f"{broken}: {failure.reason}"
        clock.advance(INTERVAL)
        poller.poll_due()  # the failed entry is retried like any failed page; not the others
        fetched = 0 if "RuntimeError" in outcome else 2  # the simulated bug comes before it
        assert (len(web.hits("/broken")), len(web.hits("/h")), len(web.hits("/l"))) == (
            fetched,
            1,
            1,
        )
    else:
        assert failed == []
        assert titles(services) == {"Harbour", "Library", outcome}


def test_a_non_ascii_etag_is_not_sent_back(
    web: WebServer, poller: FeedPoller, services: Services, clock: Clock
) -> None:
    coast = web.add("/coast", rss([]), content_type="application/rss+xml", etag='"caf\u00e9"')
    valley = web.add("/valley", rss([], "Valley Courier"), content_type="application/rss+xml")
    poller.add(coast)
    poller.add(valley)
    items = [{"title": "Harbour", "link": web.add("/h", page("harbour")), "date": rfc822(START)}]
    web.add("/coast", rss(items), content_type="application/rss+xml", etag='"caf\u00e9"')

    clock.advance(INTERVAL)
    coast_result, valley_result = poller.poll_due()
    assert (coast_result.error, coast_result.ingested) == (None, 1)
    assert "If-None-Match" not in web.hits("/coast")[-1].headers  # read in full instead
    assert valley_result.error is None
    assert titles(services) == {"Harbour"}


def test_a_feed_failing_for_weeks_waits_a_day_at_most(
    web: WebServer, poller: FeedPoller, clock: Clock
) -> None:
    coast, valley = follow_two_empty_feeds(web, poller)
    web.add("/coast", "down for maintenance", status=503, content_type="text/plain")
    waits = []
    for _ in range(40):  # past the 37 doublings of the interval that overflow timedelta
        clock.now = poller.feeds()[0].next_poll
        results = poller.poll_due()
        failed = results[0].feed
        waits.append(failed.next_poll - clock.now)
    assert waits[:3] == [timedelta(seconds=INTERVAL * n) for n in (2, 4, 8)]
    assert max(waits) == waits[-1] == timedelta(days=1)
    assert (failed.url, failed.failures) == (coast, 40)
    assert "503" in (failed.last_error or "")
    assert [r.feed.url for r in results] == [coast, valley]
    assert results[1].not_modified  # the other feed is polled as usual


def test_a_feed_whose_articles_cannot_be_stored_fails_alone_and_loses_nothing(
    web: WebServer,
    poller: FeedPoller,
    services: Services,
    settings: Settings,
    clock: Clock,
    tmp_path: Path,
) -> None:
    coast, valley = follow_two_empty_feeds(web, poller)
    items = [{"title": "Harbour", "link": web.add("/h", page("harbour")), "date": rfc822(START)}]
    web.add("/coast", rss(items), content_type="application/rss+xml")
    services.close()  # the index may no longer be written

    clock.advance(INTERVAL)
    coast_result, valley_result = poller.poll_due()
    assert (coast_result.feed.url, valley_result.feed.url) == (coast, valley)
    assert coast_result.error is not None and "read-only (or closed)" in coast_result.error
    status = coast_result.feed
    assert (status.failures, status.last_error) == (1, coast_result.error)
    assert status.next_poll == clock.now + timedelta(seconds=2 * INTERVAL)
    assert valley_result.not_modified

    reopened = build_services(settings)
    clock.now = status.next_poll
    [recovered, _] = make_poller(reopened, clock, tmp_path).poll_due()
    assert (recovered.error, recovered.ingested, recovered.feed.failures) == (None, 1, 0)
    assert titles(reopened) == {"Harbour"}


def test_polls_go_on_while_a_feed_is_added(
    web: WebServer, poller: FeedPoller, services: Services, clock: Clock
) -> None:
    valley = web.add(
        "/valley", rss([], "Valley Courier"), content_type="application/rss+xml", etag='"v1"'
    )
    poller.add(valley)
    slow = web.add("/slow", page("harbour"), delay=3.0)
    items = [{"title": "Harbour", "link": slow, "date": rfc822(START)}]
    coast = web.add("/coast", rss(items), content_type="application/rss+xml")

    clock.advance(INTERVAL)
    added: list[PollResult] = []
    adding = threading.Thread(target=lambda: added.append(poller.add(coast)))
    adding.start()
    assert wait_until(lambda: bool(web.hits("/slow")))
    [polled] = poller.poll_due()  # while the new feed's entry page is still on its way
    assert (polled.feed.url, polled.not_modified) == (valley, True)
    assert adding.is_alive()
    adding.join(timeout=30)
    [result] = added
    assert (result.feed.url, result.ingested) == (coast, 1)
    assert titles(services) == {"Harbour"}
    assert {f.url for f in poller.feeds()} == {valley, coast}
