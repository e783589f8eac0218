"""What a feed posts (bot/feed_posts.py), and where, as the feeds file stores it (also in a
feeds file from before posting existed)."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.feed_posts import FeedFilter, opening, post_embed, select_posts
from bot.render import safe
from ingest.feeds import FeedStore, Posting
from ingest.reports import ItemResult, Status
from retrieval.errors import InputError
from retrieval.models import StoredArticle

START = datetime(2024, 3, 5, 8, 0, tzinfo=UTC)
BODY = "The port reopens to ferries next week.\nRepairs cost four million euros. They took long."


def stored(
    n: int, outlet: str = "Coast Gazette", copy_of: str | None = None, title: str | None = None
) -> StoredArticle:
    return StoredArticle(
        id=f"a{n}",
        title=title or f"Story {n}",
        outlet=outlet,
        author=None,
        published=START + timedelta(hours=n),
        updated=None,
        url=f"https://coast.example/{n}",
        category=None,
        scope="guild:1",
        content_hash="",
        chunk_count=1,
        ingested_at=START,
        copy_of=copy_of,
    )


def added(article: StoredArticle) -> ItemResult:
    return ItemResult("feed", Status.ADDED, article.id, article.title, copy_of=article.copy_of)


def test_bare_words_must_all_appear_as_words_and_a_phrase_as_is() -> None:
    words = FeedFilter.parse("Ferries  PORT")
    assert words.matches("Harbour news", BODY)
    assert not words.matches("Harbour news", "The port is closed.")
    assert not FeedFilter.parse("ort").matches("", BODY)  # whole words only
    phrase = FeedFilter.parse('"four  million euros" port')
    assert phrase.matches("", BODY)
    assert not FeedFilter.parse('"million four"').matches("", BODY)
    assert FeedFilter.parse('"reopens to').matches("", BODY)  # an unclosed quote runs to the end


@pytest.mark.parametrize("text", ["", '" "', "…", "x" * 201])
def test_a_filter_without_words_or_too_long_is_refused(text: str) -> None:
    with pytest.raises(InputError):
        FeedFilter.parse(text)


def test_matching_is_linear_in_the_text() -> None:
    body = "a " * 200_000 + "b"
    assert FeedFilter.parse('"a a a a a a a a a a a a a a a a a a a b" a').matches("", body)


def test_the_opening_is_one_or_two_sentences_verbatim() -> None:
    assert (
        opening(BODY) == "The port reopens to ferries next week.\nRepairs cost four million euros."
    )
    long = "A " + "very " * 120 + "long first sentence. A second one."
    assert opening(long) == long.removesuffix(" A second one.")


def test_posts_are_the_newest_leads_oldest_first_with_their_copies_outlets() -> None:
    lead, copy, other, newest = stored(1), stored(2, "Valley Courier", "a1"), stored(3), stored(4)
    articles = {a.id: a for a in (lead, copy, other, newest)}
    bodies = dict.fromkeys(articles, BODY)
    items = [added(a) for a in (newest, lead, copy, other)]
    posts = select_posts(items, articles, bodies, None, 10)
    assert [p.article.id for p in posts] == ["a1", "a3", "a4"]  # never the copy itself
    assert posts[0].also_reported_by == ("Valley Courier",)
    assert [p.article.id for p in select_posts(items, articles, bodies, None, 2)] == ["a3", "a4"]
    only_other = {**bodies, "a3": "Nothing about the harbour here. At all. Really."}
    kept = select_posts(items, articles, only_other, FeedFilter.parse("ferries"), 10)
    assert [p.article.id for p in kept] == ["a1", "a4"]


def test_the_post_is_inert_and_linked() -> None:
    article = stored(1, outlet="@everyone *News*", title="[click](https://evil.example) @here")
    [post] = select_posts([added(article)], {"a1": article}, {"a1": BODY}, None, 5)
    embed = post_embed(post).to_dict()
    assert embed["url"] == "https://coast.example/1"
    assert embed["title"] == safe(article.title) == "\\[click](https://evil.example) @\u200bhere"
    published = int(START.timestamp()) + 3600
    assert embed["description"].startswith(f"@\u200beveryone \\*News\\* · <t:{published}:f>\n")


def test_an_older_feeds_file_gains_the_posting_columns(tmp_path: Path) -> None:
    path = tmp_path / "feeds.sqlite3"
    with sqlite3.connect(path) as db:  # the schema as released before posting
        db.execute(
            "CREATE TABLE feeds (id INTEGER PRIMARY KEY, url TEXT NOT NULL, url_key TEXT NOT NULL,"
            " scope TEXT NOT NULL, title TEXT, added_at TEXT NOT NULL, etag TEXT,"
            " last_modified TEXT, last_checked TEXT, last_success TEXT, last_error TEXT,"
            " last_error_at TEXT, failures INTEGER NOT NULL DEFAULT 0, next_poll TEXT NOT NULL,"
            " articles INTEGER NOT NULL DEFAULT 0, UNIQUE (url_key, scope))"
        )
        db.execute(
            "INSERT INTO feeds (url, url_key, scope, added_at, next_poll, articles) VALUES "
            "('https://coast.example/rss', 'https://coast.example/rss', 'guild:1', ?, ?, 3)",
            (START.isoformat(), START.isoformat()),
        )
    db.close()
    store = FeedStore(path)
    [feed] = store.feeds()
    assert (feed.articles, feed.posting) == (3, Posting())
    posting = Posting(channel_id=42, post_filter="ferries", paused=True, pause_reason="gone")
    store.set_posting(feed.id, posting)
    assert FeedStore(path).feeds()[0].posting == posting  # and opening it again is fine
    new = store.add("https://valley.example/rss", "guild:1", title=None, now=START, posting=posting)
    assert store.get(new.id) == new and new.posting == posting
