"""What a feed posts (bot/feed_posts.py), and where, as the feeds file stores it (also in a
feeds file from before posting existed)."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.feed_posts import FeedFilter, feed_post, opening, post_embed, select_posts
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


def test_posts_are_the_newest_stories_oldest_first_naming_their_copies_outlets() -> None:
    stories = [stored(4), stored(1), stored(3)]
    bodies = {a.id: BODY for a in stories}
    assert [a.id for a in select_posts(stories, bodies, None, 10)] == ["a1", "a3", "a4"]
    assert [a.id for a in select_posts(stories, bodies, None, 2)] == ["a3", "a4"]
    only_other = {**bodies, "a3": "Nothing about the harbour here. At all. Really."}
    kept = select_posts(stories, only_other, FeedFilter.parse("ferries"), 10)
    assert [a.id for a in kept] == ["a1", "a4"]
    # Each outlet once, in the order its copy came, never the story's own.
    copies = [stored(5, "Valley Courier", "a1"), stored(6, "coast gazette", "a1")]
    copies.append(stored(7, "VALLEY COURIER", "a1"))
    post = feed_post(stories[1], BODY, copies)
    assert post.also_reported_by == ("Valley Courier",)
    description = post_embed(post).description or ""
    assert description.endswith("Repairs cost four million euros.\nAlso reported by Valley Courier")


def test_the_post_is_inert_and_linked() -> None:
    article = stored(1, outlet="@everyone *News*", title="[click](https://evil.example) @here")
    embed = post_embed(feed_post(article, BODY, [])).to_dict()
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


def arrived(article_id: str, copy_of: str | None = None) -> ItemResult:
    return ItemResult("feed", Status.ADDED, article_id, copy_of=copy_of)


def test_the_stories_owed_to_a_channel_are_queued_posted_and_later_copies_counted(
    tmp_path: Path,
) -> None:
    store = FeedStore(tmp_path / "feeds.sqlite3")
    posts = store.posts
    news = Posting(channel_id=42)
    coast = store.add("https://coast.example/rss", "guild:1", title=None, now=START, posting=news)
    valley = store.add("https://valley.example/rss", "guild:1", title=None, now=START, posting=news)
    ingest_only = store.add("https://ledger.example/rss", "guild:1", title=None, now=START)
    # A poll's leads are owed to its channel (a copy in the same poll counts on its lead).
    store.record_entries(coast.id, [], START, [arrived("a1"), arrived("a2"), arrived("c1", "a1")])
    store.record_entries(ingest_only.id, [], START, [arrived("a3")])
    assert (posts.new(coast.id), posts.new(ingest_only.id)) == (["a1", "a2"], [])
    posts.queue(coast.id, ["a2", "a1"], ["a1", "a2"])
    [second, first] = posts.unsent(coast.id)
    assert (second.article_id, first.article_id, first.copies) == ("a2", "a1", 1)
    assert first.nonce != second.nonce and posts.feeds_owed() == [coast.id]

    # Recorded before it is sent; a try that failed stays owed, first in line.
    trying = posts.sending(second, 42, START)
    assert posts.unsent(coast.id)[0] == trying and trying.state == "sending"
    posts.posted(trying, 1001, trying.copies)
    posts.posted(posts.sending(first, 42, START), 1002, first.copies)
    assert (posts.unsent(coast.id), posts.feeds_owed(), posts.to_edit()) == ([], [], [])

    # A copy of a posted story through another feed: the post is due an edit, once.
    store.record_entries(valley.id, [], START, [arrived("c2", "a2")])
    [edit] = posts.to_edit()
    assert (edit.article_id, edit.message_id, edit.copies, edit.shown_copies) == ("a2", 1001, 1, 0)
    posts.shown(edit, edit.copies)
    assert posts.to_edit() == []

    # Moved to another channel, a post whose try failed goes there; pausing drops what was
    # not posted; past the window, a story's records go.
    store.record_entries(coast.id, [], START, [arrived("a4")])
    posts.queue(coast.id, ["a4"], ["a4"])
    posts.sending(posts.unsent(coast.id)[0], 42, START)
    store.set_posting(coast.id, Posting(channel_id=43))
    assert [p.state for p in posts.unsent(coast.id)] == ["queued"]
    store.set_posting(coast.id, Posting(channel_id=43, paused=True, pause_reason="gone"))
    assert posts.feeds_owed() == []
    store.record_entries(coast.id, [], START, [arrived("a5")])  # while paused: not owed
    assert posts.new(coast.id) == []
    store.record_entries(valley.id, [], START + timedelta(hours=49), [arrived("c3", "a2")])
    assert posts.to_edit() == []
