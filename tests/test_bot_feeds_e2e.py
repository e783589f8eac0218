"""The real bot against the fake Discord: `/ingest url:`, `/feeds`, background polling and
"also reported by", with pages and feeds from a loopback web server."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import discord

from bot.app import NewsBot
from bot.cogs.feeds import FeedsCog
from ingest.feeds import FeedStore
from ingest.loaders import Loaded
from newsbot.services import Services, bot_config, bot_services
from tests.fake_discord import FakeDiscord, FakeGuild
from tests.test_feeds import page, rss
from tests.test_syndication import LEAD, REWRAPPED
from tests.web_server import WebServer

MANAGE_GUILD = discord.Permissions(manage_guild=True)
HARBOUR_Q = "when will the port reopen to ferries?"


@asynccontextmanager
async def running(
    fake: FakeDiscord, services: Services, guild: FakeGuild | None, **settings: Any
) -> AsyncIterator[NewsBot]:
    """The bot as production starts it; commands sync to `guild`, or globally for None."""
    settings.setdefault("ask_cooldown_seconds", 0)
    settings.setdefault("fetch_allow_loopback", True)
    settings["guild_id"] = guild.id if guild else None
    configured = dataclasses.replace(services, settings=services.settings.replace(**settings))
    bot = NewsBot(
        bot_services(configured),
        bot_config(configured.settings),
        sync_global=guild is None,
        guild_ready_timeout=0.05,
    )
    async with fake.running(bot):
        yield bot


async def eventually(predicate: Callable[[], bool], timeout: float = 30.0) -> None:
    async with asyncio.timeout(timeout):
        while not await asyncio.to_thread(predicate):
            await asyncio.sleep(0.1)


async def test_admin_ingests_a_link_and_it_becomes_answerable(
    fake_discord: FakeDiscord, services: Services, web: WebServer
) -> None:
    guild = fake_discord.add_guild(name="News")
    alice = fake_discord.add_member(guild, name="alice", permissions=MANAGE_GUILD)
    url = web.add("/news/harbour", page("harbour"))
    async with running(fake_discord, services, guild):
        inter = await fake_discord.invoke_slash(guild, alice, "ingest", {"url": url})
        report = await inter.wait_for_response(timeout=30)
        ask = await fake_discord.invoke_slash(guild, alice, "ask", {"question": HARBOUR_Q})
        answer = await ask.wait_for_response(timeout=30)
    assert inter.acknowledged_at is not None and inter.acknowledged_at < 3
    assert report.ephemeral
    assert report.content.startswith("Added 1, updated 0, unchanged 0, failed 0.")
    embed = answer.embeds[0]
    assert "reopen to ferries next week" in embed["description"]
    assert f"<{url}>" in embed["fields"][0]["value"]


async def test_a_link_to_a_blocked_address_is_refused_and_nothing_is_stored(
    fake_discord: FakeDiscord, services: Services, web: WebServer
) -> None:
    guild = fake_discord.add_guild(name="News")
    alice = fake_discord.add_member(guild, name="alice", permissions=MANAGE_GUILD)
    url = web.redirect("/go", "http://169.254.169.254/latest/meta-data/")
    async with running(fake_discord, services, guild):
        inter = await fake_discord.invoke_slash(guild, alice, "ingest", {"url": url})
        report = await inter.wait_for_response(timeout=30)
    assert report.content.startswith("Added 0, updated 0, unchanged 0, failed 1.")
    assert "refused to connect to 169.254.169.254" in report.content
    assert services.index.stats().articles == 0


async def test_feeds_are_followed_listed_polled_and_removed_per_server(
    fake_discord: FakeDiscord, services: Services, web: WebServer
) -> None:
    first = fake_discord.add_guild(name="First")
    second = fake_discord.add_guild(name="Second")
    alice = fake_discord.add_member(first, name="alice", permissions=MANAGE_GUILD)
    bob = fake_discord.add_member(first, name="bob")
    carol = fake_discord.add_member(second, name="carol", permissions=MANAGE_GUILD)
    items = [
        {
            "title": "Harbour to reopen",
            "link": web.add("/h", page("harbour")),
            "date": "Tue, 05 Mar 2024 10:15:00 GMT",
        },
    ]
    feed = web.add("/rss", rss(items), content_type="application/rss+xml", etag='"v1"')
    async with running(fake_discord, services, None, feed_poll_seconds=0.3) as bot:
        synced = {c["name"]: c for c in fake_discord.synced_commands()}
        assert int(synced["feeds"]["default_member_permissions"]) == MANAGE_GUILD.value
        refused = await fake_discord.invoke_slash(first, bob, "feeds add", {"url": feed})
        assert (await refused.wait_for_response(timeout=10)).content.startswith(
            "Only this server's admins"
        )

        added = await fake_discord.invoke_slash(first, alice, "feeds add", {"url": feed})
        added_reply = await added.wait_for_response(timeout=30)
        assert added.acknowledged_at is not None and added.acknowledged_at < 3
        assert added_reply.ephemeral
        assert added_reply.content.startswith(f"Following **Coast Gazette** <{feed}>.\nAdded 1,")

        # The background task polls: a new entry in the feed is ingested without a command.
        items.append(
            {
                "title": "Library hours",
                "link": web.add("/l", page("library")),
                "date": "Tue, 05 Mar 2024 11:00:00 GMT",
            },
        )
        web.add("/rss", rss(items), content_type="application/rss+xml", etag='"v2"')
        await eventually(lambda: len(services.index.list_articles()) == 2)
        # The poll records its count just after the ingest: wait for that too.
        feeds = FeedStore.in_data_dir(services.settings.storage.data_dir)
        await eventually(lambda: [f.articles for f in feeds.feeds()] == [2])
        assert {a.scope for a in services.index.list_articles()} == {f"guild:{first.id}"}
        assert len(web.hits("/h")) == 1 and len(web.hits("/l")) == 1  # each entry once

        listed = await fake_discord.invoke_slash(first, alice, "feeds list")
        listed_text = (await listed.wait_for_response(timeout=30)).content
        assert f"**Coast Gazette** <{feed}>" in listed_text
        assert "2 articles ingested · last success " in listed_text

        here = await fake_discord.invoke_slash(first, bob, "ask", {"question": HARBOUR_Q})
        there = await fake_discord.invoke_slash(second, carol, "ask", {"question": HARBOUR_Q})
        assert (
            "reopen to ferries"
            in (await here.wait_for_response(timeout=30)).embeds[0]["description"]
        )
        there_reply = await there.wait_for_response(timeout=30)
        assert there_reply.embeds[0]["description"].startswith("No ingested article covers this.")
        other = await fake_discord.invoke_slash(second, carol, "feeds list")
        assert "follows no feeds yet" in (await other.wait_for_response(timeout=30)).content

        complete = await fake_discord.invoke_autocomplete(
            first, alice, "feeds remove", {"url": "coast"}, "url"
        )
        [choice] = await complete.wait_for_choices()
        assert choice == {"name": "Coast Gazette", "value": feed}
        removed = await fake_discord.invoke_slash(first, alice, "feeds remove", {"url": feed})
        assert (await removed.wait_for_response(timeout=30)).content.startswith(
            "Stopped following **Coast Gazette**."
        )
        cog = bot.get_cog("FeedsCog")  # (extensions load their own copy of the module)
        assert cog is not None and type(cog).__name__ == FeedsCog.__name__
        task = cog._task  # type: ignore[attr-defined]
    # Shut down cleanly: the polling task ended with the bot.
    assert task is not None and task.done()
    assert not fake_discord.unknown_routes


async def test_a_bad_feed_gets_a_clear_private_error(
    fake_discord: FakeDiscord, services: Services, web: WebServer
) -> None:
    guild = fake_discord.add_guild(name="News")
    alice = fake_discord.add_member(guild, name="alice", permissions=MANAGE_GUILD)
    bomb = web.add(
        "/bomb",
        '<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;&a;">]>'
        "<rss><channel><title>&b;</title></channel></rss>",
        content_type="application/rss+xml",
    )
    async with running(fake_discord, services, guild):
        inter = await fake_discord.invoke_slash(guild, alice, "feeds add", {"url": bomb})
        reply = await inter.wait_for_response(timeout=30)
        listed = await fake_discord.invoke_slash(guild, alice, "feeds list")
        listed_reply = await listed.wait_for_response(timeout=30)
    assert reply.ephemeral and "declares a DTD" in reply.content
    assert "follows no feeds yet" in listed_reply.content


async def test_a_syndicated_story_is_cited_once_with_its_other_outlets(
    fake_discord: FakeDiscord, services: Services
) -> None:
    services.ingester.ingest([Loaded("lead", LEAD), Loaded("copy", REWRAPPED)])
    guild = fake_discord.add_guild(name="News")
    bob = fake_discord.add_member(guild, name="bob")
    question = "what did the Belgian energy minister say about the gas price cap?"
    async with running(fake_discord, services, guild):
        inter = await fake_discord.invoke_slash(guild, bob, "ask", {"question": question})
        reply = await inter.wait_for_response(timeout=30)
    embed = reply.embeds[0]
    [source] = embed["fields"]
    assert source["name"].startswith("[1] " + LEAD.title)
    assert source["value"].endswith("Also reported by Valley Courier")
    assert "insurance policy" in embed["description"]
    assert json.dumps(embed).count("Valley Courier") == 1


async def test_a_server_at_its_feed_limit_is_told_to_remove_one_first(
    fake_discord: FakeDiscord, services: Services, web: WebServer
) -> None:
    first = fake_discord.add_guild(name="First")
    second = fake_discord.add_guild(name="Second")
    alice = fake_discord.add_member(first, name="alice", permissions=MANAGE_GUILD)
    carol = fake_discord.add_member(second, name="carol", permissions=MANAGE_GUILD)
    day = "Tue, 05 Mar 2024 10:15:00 GMT"
    harbour = {"title": "Harbour to reopen", "link": web.add("/h", page("harbour")), "date": day}
    library = {"title": "Library hours", "link": web.add("/l", page("library")), "date": day}
    one = web.add("/one.rss", rss([harbour]), content_type="application/rss+xml")
    two = web.add("/two.rss", rss([library]), content_type="application/rss+xml")
    async with running(fake_discord, services, None, feeds_per_server=1):
        added = await fake_discord.invoke_slash(first, alice, "feeds add", {"url": one})
        assert (await added.wait_for_response(timeout=30)).content.startswith("Following ")
        refused = await fake_discord.invoke_slash(first, alice, "feeds add", {"url": two})
        refused_reply = await refused.wait_for_response(timeout=30)
        # Another server's count is its own.
        elsewhere = await fake_discord.invoke_slash(second, carol, "feeds add", {"url": two})
        elsewhere_reply = await elsewhere.wait_for_response(timeout=30)
        listed = await fake_discord.invoke_slash(first, alice, "feeds list")
        listed_text = (await listed.wait_for_response(timeout=30)).content
    assert refused_reply.ephemeral
    assert refused_reply.content == (
        "This server follows 1 feeds and may follow at most 1: "
        "remove one with `/feeds remove` first."
    )
    assert f"<{one}>" in listed_text and f"<{two}>" not in listed_text
    assert elsewhere_reply.content.startswith("Following ")
    assert len(web.hits("/two.rss")) == 1  # fetched for the second server only
