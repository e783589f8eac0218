"""Feeds posted to a channel, after the post: a syndicated copy arriving later edits it
("Also reported by"), a post Discord fails is retried at the next poll, in order, and a post
the bot made just before it stopped is not made again. The real bot against the fake
Discord, feeds and pages from a loopback web server."""

from __future__ import annotations

import threading
from datetime import timedelta
from email.utils import format_datetime

import pytest

from ingest.feed_outbox import PostOutbox
from ingest.feeds import FeedStore
from newsbot.services import Services
from retrieval.models import Article
from tests.fake_discord import FakeDiscord
from tests.test_bot_feed_posts_e2e import (
    START,
    STORIES,
    article_page,
    command,
    entry,
    feed_xml,
    follow,
    posts,
    serve_feed,
    titles,
)
from tests.test_bot_feeds_e2e import MANAGE_GUILD, eventually, running
from tests.test_syndication import LEAD, REWRAPPED
from tests.web_server import WebServer

MESSAGES = "/channels/{channel_id}/messages"
# A third outlet running the same wire story.
THIRD = Article(
    title="Gas cap extended",
    body=REWRAPPED.body.replace("Editor's note: this story comes from our wire partners.\n", ""),
    outlet="Harbor Times",
)


def page_entries(web: WebServer, stories: list[Article], first: int = 0) -> list[dict[str, str]]:
    return [
        {
            "title": story.title,
            "link": web.add(f"/story/{n}", article_page(story)),
            "date": format_datetime(START + timedelta(hours=n), usegmt=True),
        }
        for n, story in enumerate(stories, start=first)
    ]


def sends(fake: FakeDiscord) -> list[int]:
    """The statuses of the bot's message posts to channels, in order."""
    return [r.status for r in fake.requests if r.method == "POST" and r.route == MESSAGES]


async def test_copies_arriving_later_edit_the_first_post_and_are_never_posted(
    fake_discord: FakeDiscord, services: Services, web: WebServer
) -> None:
    guild = fake_discord.add_guild(name="News")
    news = guild.default_channel
    alice = fake_discord.add_member(guild, name="alice", permissions=MANAGE_GUILD)
    wire = web.add("/wire.rss", feed_xml(page_entries(web, [LEAD])), content_type="text/xml")
    regional = web.add("/regional.rss", feed_xml([]), content_type="text/xml", etag='"v1"')
    async with running(fake_discord, services, guild, feed_poll_seconds=0.3):
        await follow(fake_discord, guild, alice, {"url": wire, "channel": news})
        await follow(fake_discord, guild, alice, {"url": regional, "channel": news})
        await eventually(lambda: len(posts(fake_discord, news)) == 1)
        [post] = posts(fake_discord, news)
        assert "Also reported by" not in post.embeds[0]["description"]

        # A later poll of another feed posting here brings a copy: the post is edited.
        copies = page_entries(web, [REWRAPPED], first=1)
        web.add("/regional.rss", feed_xml(copies), content_type="text/xml", etag='"v2"')
        await eventually(lambda: len(post.revisions) == 2)
        assert post.embeds[0]["description"].endswith("\nAlso reported by Valley Courier")
        # And another copy extends the line.
        copies += page_entries(web, [THIRD], first=2)
        web.add("/regional.rss", feed_xml(copies), content_type="text/xml", etag='"v3"')
        await eventually(lambda: len(post.revisions) == 3)
        await command(fake_discord, guild, alice, "feeds list", {})  # time for a wrong post
    assert len(services.index.list_articles()) == 3
    assert posts(fake_discord, news) == [post] and sends(fake_discord) == [200]
    assert [r.kind for r in post.revisions] == ["create", "edit", "edit"]
    embed = post.embeds[0]
    assert embed["title"] == LEAD.title
    assert embed["description"].startswith("Associated Press · ")
    assert embed["description"].endswith("\nAlso reported by Valley Courier, Harbor Times")
    assert not fake_discord.bot_pings


async def test_a_post_discord_fails_is_retried_next_poll_in_order_and_made_once(
    fake_discord: FakeDiscord, services: Services, web: WebServer
) -> None:
    guild = fake_discord.add_guild(name="News")
    news = guild.default_channel
    alice = fake_discord.add_member(guild, name="alice", permissions=MANAGE_GUILD)
    url = serve_feed(web, [entry(0)], 1)
    async with running(fake_discord, services, guild, feed_poll_seconds=0.3):
        await follow(fake_discord, guild, alice, {"url": url, "channel": news})
        await eventually(lambda: len(posts(fake_discord, news)) == 1)
        # An outage: of three new stories, the first is posted, the second is refused with
        # 503 Service Unavailable twice.
        outage = fake_discord.fail_sends(news, 2, after=1)
        serve_feed(web, [entry(n) for n in range(4)], 2)
        await eventually(lambda: len(posts(fake_discord, news)) == 4)
        listed = await command(fake_discord, guild, alice, "feeds list", {})
    assert outage.count == 0
    assert titles(fake_discord, news) == [title for title, _ in STORIES[:4]]
    # The third story waited for the second; none was posted twice.
    assert sends(fake_discord) == [200, 200, 503, 503, 200, 200]
    assert "paused" not in listed


async def test_a_post_made_just_before_the_bot_stopped_is_not_made_again(
    fake_discord: FakeDiscord, services: Services, web: WebServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    guild = fake_discord.add_guild(name="News")
    news = guild.default_channel
    alice = fake_discord.add_member(guild, name="alice", permissions=MANAGE_GUILD)
    url = serve_feed(web, [entry(0), entry(1)], 1)
    # The bot comes back after Discord's nonce check has lapsed: only the bot itself can
    # tell that its first post went out.
    fake_discord.nonce_window = 0
    frozen = threading.Event()
    feeds = FeedStore.in_data_dir(services.settings.storage.data_dir)
    try:
        with monkeypatch.context() as patch:
            # The bot stops between the first post's send and its record.
            patch.setattr(PostOutbox, "posted", lambda *_: frozen.wait())
            async with running(
                fake_discord, services, guild, feed_posts_per_poll=2, shutdown_grace_seconds=0.1
            ):
                await follow(fake_discord, guild, alice, {"url": url, "channel": news})
                await eventually(lambda: len(posts(fake_discord, news)) == 1)
        [feed] = feeds.feeds()
        assert [p.state for p in feeds.posts.unsent(feed.id)] == ["sending", "queued"]
        async with running(fake_discord, services, guild, feed_poll_seconds=0.3):
            await eventually(lambda: feeds.posts.unsent(feed.id) == [])
            await command(fake_discord, guild, alice, "feeds list", {})  # time for a repost
    finally:
        frozen.set()
    assert titles(fake_discord, news) == [STORIES[0][0], STORIES[1][0]]
    assert sends(fake_discord) == [200, 200]
