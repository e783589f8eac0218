"""Topic watches end to end: the real bot against the fake Discord (with DMs), the real model
and Chroma. Members follow topics with /watch add, admins ingest articles with /ingest or
follow a feed (the two ways the bot learns of new articles), and each new article about a
topic arrives by DM, or in the admin's channel, quoted verbatim with its citation."""

from __future__ import annotations

import json
from email.utils import format_datetime

from newsbot.services import Services
from retrieval.models import Article
from tests.fake_discord import FakeDiscord, FakeGuild, FakeMember, FakeMessage
from tests.test_bot_feeds_e2e import MANAGE_GUILD, eventually, running
from tests.test_feeds import rss
from tests.test_watch import BINANCE, HARBOUR, OPENAI, OPENAI_COPY
from tests.web_server import WebServer


async def command(
    fake: FakeDiscord, guild: FakeGuild, member: FakeMember, name: str, options: dict[str, object]
) -> FakeMessage:
    inter = await fake.invoke_slash(guild, member, name, options)
    reply = await inter.wait_for_response(timeout=30)
    assert inter.acknowledged_at is not None and inter.acknowledged_at < 3
    assert reply.ephemeral
    return reply


async def upload(
    fake: FakeDiscord, guild: FakeGuild, admin: FakeMember, *articles: Article
) -> FakeMessage:
    """/ingest file: of these articles, in this order (one JSONL file, one ingest)."""
    lines = [
        json.dumps(
            {
                "title": a.title,
                "body": a.body,
                "source": a.outlet,
                "author": a.author,
                "published_at": a.published.isoformat() if a.published else None,
                "url": a.url,
            }
        )
        for a in articles
    ]
    attachment = fake.add_attachment("news.jsonl", "\n".join(lines).encode())
    return await command(fake, guild, admin, "ingest", {"file": attachment})


def dms(fake: FakeDiscord, member: FakeMember) -> list[FakeMessage]:
    channel = fake.dm_channel(member)
    return [m for m in fake.bot_messages if channel is not None and m.channel is channel]


async def test_a_watch_gets_new_articles_about_its_topic_by_dm_and_in_a_channel(
    fake_discord: FakeDiscord, services: Services
) -> None:
    guild = fake_discord.add_guild(name="News", channels=("general", "ai-news"))
    channel = next(c for c in guild.channels.values() if c.name == "ai-news")
    alice = fake_discord.add_member(guild, name="alice", permissions=MANAGE_GUILD)
    bob = fake_discord.add_member(guild, name="bob")
    async with running(fake_discord, services, guild):
        added = await command(fake_discord, guild, bob, "watch add", {"topic": "OpenAI board"})
        assert added.content == (
            "Watching: each new article about it goes to your DMs (make sure you accept direct "
            "messages from this server's members).\n**#1** OpenAI board → your DMs"
        )
        await command(fake_discord, guild, bob, "watch add", {"topic": "binance guilty plea"})
        posted = await command(
            fake_discord, guild, alice, "watch add", {"topic": "openai board", "channel": channel}
        )
        assert posted.content == (
            f"Watching: each new article about it goes to <#{channel.id}>.\n"
            f"**#3** openai board → <#{channel.id}>"
        )
        # One ingest: an unrelated story, the OpenAI story and its syndicated copy, and a
        # Binance story last, so that its DM shows that everything before it was matched.
        report = await upload(fake_discord, guild, alice, HARBOUR, OPENAI, OPENAI_COPY, BINANCE)
        assert report.content.startswith("Added 4, updated 0, unchanged 0, failed 0.")
        await eventually(lambda: len(dms(fake_discord, bob)) == 2)
        in_channel = await fake_discord.wait_for_messages(channel=channel, timeout=30)
    first, second = dms(fake_discord, bob)
    embed = first.embeds[0]
    assert embed["title"] == OPENAI.title and embed["url"] == OPENAI.url
    assert embed["description"].startswith("New on **OpenAI board** (your watch in News)")
    quotes = [b for b in embed["description"].split("\n\n") if b.startswith("> ")]
    assert 1 <= len(quotes) <= 3
    for block in quotes:  # verbatim (this text has nothing to escape), cited [1]
        text = block.removeprefix("> ").removesuffix(" [1]")
        assert block.endswith(" [1]") and text in OPENAI.body
    (source,) = embed["fields"]
    assert source["name"] == f"[1] {OPENAI.title}"
    assert source["value"] == (
        f"TechCrunch · 2023-11-17 · Kyle Wiggers\n<{OPENAI.url}>\nAlso reported by Valley Courier"
    )
    assert embed["footer"]["text"].startswith("Watch #1 ·")
    assert second.embeds[0]["title"] == BINANCE.title
    # The channel watch: the same story once, no copy, nothing about the other stories.
    assert [m.embeds[0]["title"] for m in in_channel] == [OPENAI.title]
    assert in_channel[0].embeds[0]["description"].startswith("New on **openai board**\n\n> ")
    assert len([m for m in fake_discord.bot_messages if m.channel is channel]) == 1
    assert not fake_discord.bot_pings


async def test_watches_see_only_their_servers_articles_and_closed_dms_are_shown(
    fake_discord: FakeDiscord, services: Services
) -> None:
    other = fake_discord.add_guild(name="Elsewhere")
    outsider = fake_discord.add_member(other, name="olga")
    guild = fake_discord.add_guild(name="News")
    alice = fake_discord.add_member(guild, name="alice", permissions=MANAGE_GUILD)
    carol = fake_discord.add_member(guild, name="carol", dms_open=False)
    bob = fake_discord.add_member(guild, name="bob")
    async with running(fake_discord, services, None) as bot:
        # Commands synced globally: both servers have /watch.
        await command(fake_discord, other, outsider, "watch add", {"topic": "openai board"})
        await command(fake_discord, guild, carol, "watch add", {"topic": "openai board"})
        await command(fake_discord, guild, bob, "watch add", {"topic": "openai board"})
        await upload(fake_discord, guild, alice, OPENAI)
        await eventually(lambda: len(dms(fake_discord, bob)) == 1)
        watches = bot.services.watches
        await eventually(lambda: watches.get(2) is not None and watches.get(2).last_error)
        listed = await command(fake_discord, guild, carol, "watch list", {})
    assert dms(fake_discord, bob)[0].embeds[0]["title"] == OPENAI.title
    # The other server cannot see the article: its watch (the oldest) posted nothing.
    assert fake_discord.dm_channel(outsider) is None
    assert not dms(fake_discord, carol)
    assert listed.content == (
        "**#2** openai board → your DMs\nlast post not delivered: your DMs are closed to this "
        "server's members: allow direct messages from server members (Privacy Settings) and "
        "the next ones will arrive"
    )


async def test_caps_admin_channels_list_and_remove(
    fake_discord: FakeDiscord, services: Services
) -> None:
    guild = fake_discord.add_guild(name="News", channels=("general", "news"))
    channel = next(c for c in guild.channels.values() if c.name == "news")
    alice = fake_discord.add_member(guild, name="alice", permissions=MANAGE_GUILD)
    bob = fake_discord.add_member(guild, name="bob")
    dave = fake_discord.add_member(guild, name="dave")
    caps = {"watches_per_user": 2, "watches_per_server": 3}
    async with running(fake_discord, services, guild, **caps):
        refused = await command(
            fake_discord, guild, bob, "watch add", {"topic": "ftx trial", "channel": channel}
        )
        assert refused.content.startswith("Only this server's admins")
        await command(fake_discord, guild, bob, "watch add", {"topic": "ftx trial"})
        await command(fake_discord, guild, bob, "watch add", {"topic": "openai board"})
        capped = await command(fake_discord, guild, bob, "watch add", {"topic": "binance"})
        assert capped.content == (
            "You have 2 watches in this server and may have at most 2: remove one with "
            "`/watch remove` first."
        )
        await command(
            fake_discord,
            guild,
            alice,
            "watch add",
            {"topic": "tesla cybertruck", "channel": channel},
        )
        full = await command(fake_discord, guild, dave, "watch add", {"topic": "binance"})
        assert full.content.startswith("This server has 3 watches and may have at most 3")
        empty = await command(fake_discord, guild, dave, "watch add", {"topic": "the of"})
        assert empty.content.startswith("Name the topic with the words")

        mine = await command(fake_discord, guild, bob, "watch list", {})
        assert mine.content == "**#1** ftx trial → your DMs\n\n**#2** openai board → your DMs"
        # An admin sees the server's channel watches too; nobody sees another's DMs.
        admin = await command(fake_discord, guild, alice, "watch list", {})
        assert admin.content == f"**#3** tesla cybertruck → <#{channel.id}>"
        complete = await fake_discord.invoke_autocomplete(
            guild, bob, "watch remove", {"watch": "open"}, "watch"
        )
        choices = await complete.wait_for_choices()
        assert choices == [{"name": "#2 openai board → DM", "value": 2}]
        others = await command(fake_discord, guild, dave, "watch remove", {"watch": 2})
        assert others.content.startswith("You have no watch #2 in this server")
        removed = await command(fake_discord, guild, bob, "watch remove", {"watch": 2})
        assert removed.content == "Stopped watching:\n**#2** openai board → your DMs"
        after = await command(fake_discord, guild, bob, "watch list", {})
        assert after.content == "**#1** ftx trial → your DMs"
        # /forget-me deletes a member's watches with the rest of what is kept of them.
        forgot = await command(fake_discord, guild, bob, "forget-me", {})
        assert forgot.content.startswith(
            "Deleted everything newsbot kept about you (votes: 0, topic watches: 1)."
        )
        gone = await command(fake_discord, guild, bob, "watch list", {})
        assert gone.content.startswith("You watch no topics here yet")
        await command(fake_discord, guild, alice, "watch remove", {"watch": 3})
    synced = {c["name"]: c for c in fake_discord.synced_commands(guild)}["watch"]
    shapes = {
        sub["name"]: [(o["name"], o["type"], o.get("autocomplete", False)) for o in sub["options"]]
        for sub in synced["options"]
    }
    assert shapes == {
        "add": [("topic", 3, False), ("channel", 7, False)],
        "list": [],
        "remove": [("watch", 4, True)],
    }
    # A server's command, open to every member (the channel option is checked when run).
    assert synced["dm_permission"] is False and synced["default_member_permissions"] is None


async def test_an_article_a_followed_feed_brings_in_reaches_the_watch(
    fake_discord: FakeDiscord, services: Services, web: WebServer
) -> None:
    guild = fake_discord.add_guild(name="News")
    alice = fake_discord.add_member(guild, name="alice", permissions=MANAGE_GUILD)
    bob = fake_discord.add_member(guild, name="bob")

    def entry(article: Article) -> dict[str, str]:
        assert article.published is not None
        return {
            "title": article.title,
            "link": article.url or "",
            "date": format_datetime(article.published, usegmt=True),
            "content": "".join(f"<p>{p}</p>" for p in article.body.split("\n")),
        }

    url = web.add("/rss", rss([]), content_type="application/rss+xml", etag='"v1"')
    async with running(fake_discord, services, guild, feed_poll_seconds=0.3):
        await command(fake_discord, guild, bob, "watch add", {"topic": "openai board"})
        await command(fake_discord, guild, alice, "feeds add", {"url": url})
        # The next poll finds two new entries: the watch gets the one about its topic.
        items = [entry(BINANCE), entry(OPENAI)]
        web.add("/rss", rss(items), content_type="application/rss+xml", etag='"v2"')
        await eventually(lambda: len(dms(fake_discord, bob)) == 1)
    (post,) = dms(fake_discord, bob)
    assert post.embeds[0]["title"] == OPENAI.title
    assert "board" in post.embeds[0]["description"]
