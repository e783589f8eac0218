"""Feeds posted to a channel, end to end: the real bot against the fake Discord (with
Discord's per-channel rate limit), feeds and pages from a loopback web server."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import aiohttp
import discord

from ingest.feeds import FeedStore
from newsbot.services import Services
from retrieval.models import Article
from tests.fake_discord import FakeChannel, FakeDiscord, FakeGuild, FakeMember, FakeMessage
from tests.test_bot_feeds_e2e import MANAGE_GUILD, eventually, running
from tests.test_syndication import LEAD, REWRAPPED
from tests.web_server import WebServer

# Seven stories with nothing in common, so that none is taken for another's copy.
STORIES = [
    (
        "Harbour to reopen",
        "The harbour master said on Monday that the port would reopen to ferries next week. "
        "Repairs to the storm-damaged sea wall cost four million euros and took three months. "
        "Fishing boats have used a temporary pier since the storm hit the coast in January.",
    ),
    (
        "Library hours extended",
        "The city library will stay open until nine on weekdays from April, the council said. "
        "Longer hours were the most common request in a survey of residents last autumn. "
        "Two new librarians will be hired to cover the evening shifts, officials added.",
    ),
    (
        "Bridge closed to lorries",
        "Engineers closed the old river bridge to lorries after finding cracks in a support. "
        "Cars and buses may still cross while a full inspection is carried out this month. "
        "The detour for heavy traffic adds about fifteen minutes through the industrial zone.",
    ),
    (
        "School choir wins award",
        "A primary school choir from the valley won first prize at the national festival. "
        "Forty pupils sang three folk songs arranged by their music teacher, Ms Okafor. "
        "Parents raised the money for the coach trip with a bake sale in the spring.",
    ),
    (
        "Tram line opening delayed",
        "Testing problems have pushed back the opening of the eastern tram line until June. "
        "Signals installed by a subcontractor failed safety checks twice during the winter. "
        "Commuters will keep using replacement buses, which run every ten minutes at peak.",
    ),
    (
        "Orchard harvest best in years",
        "Apple growers on the southern slopes expect their largest harvest in a decade. "
        "A mild spring without late frost let the blossom set fruit across every orchard. "
        "Cider makers have already booked extra pressing days at the cooperative mill.",
    ),
    (
        "Museum returns stolen painting",
        "A landscape stolen from the town museum long ago was handed back by a collector. "
        "Detectives traced the canvas through an auction catalogue published in Vienna. "
        "The painting goes on show again next month after cleaning by a restorer.",
    ),
]
START = datetime(2024, 3, 5, 8, 0, tzinfo=UTC)


def entry(n: int, hours: int | None = None) -> dict[str, str]:
    """Story `n` as a feed entry carrying its whole text, published `hours` after START."""
    title, body = STORIES[n]
    published = START + timedelta(hours=n if hours is None else hours)
    return {
        "title": title,
        "link": f"https://coast.example/{n}",
        "date": format_datetime(published, usegmt=True),
        "content": "".join(f"<p>{s}.</p>" for s in body.removesuffix(".").split(". ")),
    }


def feed_xml(entries: list[dict[str, str]]) -> str:
    from tests.test_feeds import rss

    return rss(sorted(entries, key=lambda e: e["link"], reverse=True))  # any order will do


def serve_feed(web: WebServer, entries: list[dict[str, str]], version: int) -> str:
    return web.add(
        "/rss", feed_xml(entries), content_type="application/rss+xml", etag=f'"v{version}"'
    )


def posts(fake: FakeDiscord, channel: FakeChannel) -> list[FakeMessage]:
    return [
        m
        for m in fake.bot_messages
        if m.channel is channel and m.source == "channel" and not m.deleted
    ]


def stories(fake: FakeDiscord, channel: FakeChannel) -> list[FakeMessage]:
    """The bot's story posts (its messages with an embed) in the channel."""
    return [m for m in posts(fake, channel) if m.embeds]


def titles(fake: FakeDiscord, channel: FakeChannel) -> list[str]:
    return [m.embeds[0]["title"] for m in posts(fake, channel)]


async def follow(
    fake: FakeDiscord, guild: FakeGuild, admin: FakeMember, options: dict[str, object]
) -> str:
    added = await fake.invoke_slash(guild, admin, "feeds add", options)
    return (await added.wait_for_response(timeout=60)).content


async def command(
    fake: FakeDiscord, guild: FakeGuild, admin: FakeMember, name: str, options: dict[str, object]
) -> str:
    inter = await fake.invoke_slash(guild, admin, name, options)
    return (await inter.wait_for_response(timeout=30)).content


async def test_new_stories_are_posted_in_order_within_the_channel_rate_limit(
    fake_discord: FakeDiscord, services: Services, web: WebServer
) -> None:
    guild = fake_discord.add_guild(name="News", channels=("general", "news"))
    news = next(c for c in guild.channels.values() if c.name == "news")
    alice = fake_discord.add_member(guild, name="alice", permissions=MANAGE_GUILD)
    url = serve_feed(web, [], 1)
    settings = {"feed_poll_seconds": 0.3, "feed_posts_per_poll": 10}
    async with running(fake_discord, services, guild, **settings):
        reply = await follow(fake_discord, guild, alice, {"url": url, "channel": news})
        assert reply.startswith(f"Following **Coast Gazette** <{url}>.\nposts to <#{news.id}>")
        # Seven new entries in one poll: more than the channel takes in 5 seconds.
        serve_feed(web, [entry(n) for n in range(7)], 2)
        await eventually(lambda: len(posts(fake_discord, news)) == 7, timeout=60)
    sent = posts(fake_discord, news)
    assert titles(fake_discord, news) == [title for title, _ in STORIES]  # published order
    # discord.py waited for the window (X-RateLimit-Remaining: 0) instead of being refused.
    assert sent[5].created - sent[0].created >= 4.5
    assert not [r for r in fake_discord.requests if r.status == 429]
    embed = sent[0].embeds[0]
    assert embed["url"] == "https://coast.example/0"
    published = int(START.timestamp())
    assert embed["description"].startswith(f"Coast Gazette · <t:{published}:f>\n")
    # The first two sentences, verbatim (one paragraph each).
    assert embed["description"].endswith(
        "The harbour master said on Monday that the port would reopen to ferries next week.\n"
        "Repairs to the storm-damaged sea wall cost four million euros and took three months."
    )
    assert not posts(fake_discord, guild.default_channel)
    assert not fake_discord.bot_pings


async def _fill_window(fake: FakeDiscord, channel: FakeChannel, full: asyncio.Event) -> int:
    """Keep the channel's send window full, as another process of the bot (another shard,
    the bot before its restart) posting there would, until the bot's own send is refused
    with a 429; how many of its sends Discord refused (the others created a message)."""
    url = f"{fake.api_base}/channels/{channel.id}/messages"
    route = "/channels/{channel_id}/messages"
    refused = 0
    async with aiohttp.ClientSession(headers={"Authorization": f"Bot {fake.token}"}) as http:
        while sum(r.status == 429 and r.route == route for r in fake.requests) == refused:
            async with http.post(url, json={"content": "another process"}) as response:
                if response.status == 429:
                    refused += 1
                    full.set()
            await asyncio.sleep(0.05)
    return refused


async def test_posts_due_while_the_channel_is_rate_limited_wait_out_the_429_in_order(
    fake_discord: FakeDiscord, services: Services, web: WebServer
) -> None:
    guild = fake_discord.add_guild(name="News", channels=("general", "news"))
    news = next(c for c in guild.channels.values() if c.name == "news")
    alice = fake_discord.add_member(guild, name="alice", permissions=MANAGE_GUILD)
    url = serve_feed(web, [], 1)
    async with running(fake_discord, services, guild, feed_poll_seconds=0.3):
        await follow(fake_discord, guild, alice, {"url": url, "channel": news})
        full = asyncio.Event()
        filler = asyncio.create_task(_fill_window(fake_discord, news, full))
        await asyncio.wait_for(full.wait(), timeout=30)
        # Three new stories are due while the window is full: discord.py has seen no
        # rate-limit headers for this channel yet, so its first post gets a 429.
        serve_feed(web, [entry(n) for n in range(3)], 2)
        refused_filler = await asyncio.wait_for(filler, timeout=60)
        await eventually(lambda: len(stories(fake_discord, news)) == 3, timeout=60)
        await command(fake_discord, guild, alice, "feeds list", {})  # time for a wrong post
    refused = [r for r in fake_discord.requests if r.status == 429]
    assert len(refused) > refused_filler  # the bot's own post was refused, and retried
    # Each story once, in order; the other process's messages are all that is besides.
    assert [m.embeds[0]["title"] for m in stories(fake_discord, news)] == [
        title for title, _ in STORIES[:3]
    ]
    assert {m.content for m in posts(fake_discord, news) if not m.embeds} == {"another process"}


async def test_a_first_read_posts_only_its_newest_and_a_filter_keeps_others_out(
    fake_discord: FakeDiscord, services: Services, web: WebServer
) -> None:
    guild = fake_discord.add_guild(name="News", channels=("general", "news"))
    news = next(c for c in guild.channels.values() if c.name == "news")
    alice = fake_discord.add_member(guild, name="alice", permissions=MANAGE_GUILD)
    url = serve_feed(web, [entry(n) for n in range(4)], 1)
    other = web.add(
        "/other.rss",
        feed_xml([entry(4), entry(5), entry(6)]),
        content_type="application/rss+xml",
    )
    async with running(fake_discord, services, guild, feed_posts_per_poll=2):
        await follow(fake_discord, guild, alice, {"url": url, "channel": news})
        await eventually(lambda: len(posts(fake_discord, news)) == 2)
        # No backlog: the two newest of four are posted, all four are ingested.
        assert titles(fake_discord, news) == ["Bridge closed to lorries", "School choir wins award"]
        assert len(services.index.list_articles()) == 4

        # Bare words must all appear (in any case, as whole words); a quoted phrase as is.
        reply = await follow(
            fake_discord,
            guild,
            alice,
            {"url": other, "channel": news, "filter": 'SIGNALS "winter" tram'},
        )
        assert 'filter: SIGNALS "winter" tram' in reply
        await eventually(lambda: len(posts(fake_discord, news)) == 3)
        assert len(services.index.list_articles()) == 7
    assert titles(fake_discord, news)[2:] == ["Tram line opening delayed"]


def article_page(article: Article) -> str:
    paragraphs = "".join(f"<p>{p}</p>" for p in article.body.split("\n"))
    return (
        f"<!DOCTYPE html><html><head><title>{article.title}</title>"
        f'<meta property="og:site_name" content="{article.outlet}"></head><body>'
        f"<article>{paragraphs}</article></body></html>"
    )


async def test_a_syndicated_copy_is_posted_once_under_its_lead(
    fake_discord: FakeDiscord, services: Services, web: WebServer
) -> None:
    guild = fake_discord.add_guild(name="News")
    alice = fake_discord.add_member(guild, name="alice", permissions=MANAGE_GUILD)
    items = [
        {
            "title": story.title,
            "link": web.add(f"/{n}", article_page(story)),
            "date": format_datetime(START + timedelta(hours=n), usegmt=True),
        }
        for n, story in enumerate([LEAD, REWRAPPED])
    ]
    url = serve_feed(web, items, 1)
    async with running(fake_discord, services, guild):
        await follow(fake_discord, guild, alice, {"url": url, "channel": guild.default_channel})
        await eventually(lambda: len(posts(fake_discord, guild.default_channel)) == 1)
        # A second post would have come right after the first: give it that time.
        await command(fake_discord, guild, alice, "feeds list", {})
    assert len(services.index.list_articles()) == 2
    [post] = posts(fake_discord, guild.default_channel)
    assert len(post.revisions) == 1  # the line is there from the start, not edited in
    assert post.embeds[0]["title"] == LEAD.title
    description = post.embeds[0]["description"]
    assert description.startswith("Associated Press · ")
    assert description.endswith("\nAlso reported by Valley Courier")


async def test_posting_pauses_resumes_moves_and_stops_when_the_channel_is_deleted(
    fake_discord: FakeDiscord, services: Services, web: WebServer
) -> None:
    guild = fake_discord.add_guild(name="News", channels=("general", "news"))
    general = guild.default_channel
    news = next(c for c in guild.channels.values() if c.name == "news")
    alice = fake_discord.add_member(guild, name="alice", permissions=MANAGE_GUILD)
    entries = [entry(0)]
    url = serve_feed(web, entries, 1)

    async def publish(n: int) -> None:
        """A new entry, and two more reads of the feed (so its poll has been posted)."""
        entries.append(entry(n))
        serve_feed(web, entries, n + 1)
        await eventually(lambda: len(services.index.list_articles()) == n + 1)
        hits = len(web.hits("/rss"))
        await eventually(lambda: len(web.hits("/rss")) >= hits + 2)

    async with running(fake_discord, services, guild, feed_poll_seconds=0.3):
        [group] = [c for c in fake_discord.synced_commands(guild) if c["name"] == "feeds"]
        options = {sub["name"]: sub["options"] for sub in group["options"]}
        for name in ("edit", "pause", "resume", "remove"):
            assert options[name][0]["name"] == "url" and options[name][0]["autocomplete"]
        assert [o["name"] for o in options["add"]] == ["url", "channel", "filter"]
        assert [o["name"] for o in options["edit"]] == ["url", "channel", "filter", "clear_filter"]
        await follow(fake_discord, guild, alice, {"url": url, "channel": news})
        await eventually(lambda: len(posts(fake_discord, news)) == 1)

        paused = await command(fake_discord, guild, alice, "feeds pause", {"url": url})
        assert "posting paused: paused with /feeds pause" in paused
        await publish(1)  # ingested, not posted
        resumed = await command(fake_discord, guild, alice, "feeds resume", {"url": url})
        assert resumed.startswith(f"Resumed **Coast Gazette**: posts to <#{news.id}>")
        await publish(2)
        assert titles(fake_discord, news) == ["Harbour to reopen", "Bridge closed to lorries"]

        edit = {"url": url, "channel": general, "filter": "choir"}
        moved = await command(fake_discord, guild, alice, "feeds edit", edit)
        assert moved == f"Changed **Coast Gazette**: posts to <#{general.id}> · filter: choir"
        await publish(3)
        await publish(4)  # not about the choir
        assert titles(fake_discord, general) == ["School choir wins award"]
        cleared = {"url": url, "clear_filter": True}
        assert "filter" not in await command(fake_discord, guild, alice, "feeds edit", cleared)

        fake_discord.delete_channel(general)
        await publish(5)  # still ingested; the post is refused (404 Unknown Channel)
        listed = await command(fake_discord, guild, alice, "feeds list", {})
        assert (
            "posting paused: the channel was deleted (Discord said: Unknown Channel); "
            "pick another with /feeds edit"
        ) in listed
        assert "6 articles ingested" in listed
        await publish(6)  # and goes on being ingested, with no more tries to post
    refused = [r for r in fake_discord.requests if r.status == 404 and "/messages" in r.path]
    assert len(refused) == 1
    assert titles(fake_discord, news) == ["Harbour to reopen", "Bridge closed to lorries"]


def refusal(channel: FakeChannel, permission: str) -> str:
    return (
        f"I can't post in <#{channel.id}>: give me the **{permission}** permission there "
        "(in the channel's settings, Permissions), then try again."
    )


async def test_posting_needs_its_permissions_up_front_and_pauses_when_one_is_taken_away(
    fake_discord: FakeDiscord, services: Services, web: WebServer
) -> None:
    guild = fake_discord.add_guild(name="News", channels=("general", "news"))
    news = next(c for c in guild.channels.values() if c.name == "news")
    alice = fake_discord.add_member(guild, name="alice", permissions=MANAGE_GUILD)
    me = fake_discord.bot_member(guild)
    closed = discord.PermissionOverwrite(send_messages=False)
    staff = fake_discord.add_channel(guild, "staff", overwrites={me: closed})
    url = serve_feed(web, [entry(0)], 1)
    feeds = FeedStore.in_data_dir(services.settings.storage.data_dir)
    async with running(fake_discord, services, guild, feed_poll_seconds=0.3):
        refused = await follow(fake_discord, guild, alice, {"url": url, "channel": staff})
        assert refused == refusal(staff, "Send Messages")
        assert (feeds.feeds(), web.hits("/rss"), services.index.list_articles()) == ([], [], [])

        await follow(fake_discord, guild, alice, {"url": url, "channel": news})
        await eventually(lambda: len(posts(fake_discord, news)) == 1)
        # An admin takes Embed Links away in the channel: the next story is not posted.
        fake_discord.set_permissions(news, me, discord.PermissionOverwrite(embed_links=False))
        serve_feed(web, [entry(0), entry(1)], 2)
        await eventually(lambda: [f.posting.paused for f in feeds.feeds()] == [True])
        listed = await command(fake_discord, guild, alice, "feeds list", {})
        resumed = await command(fake_discord, guild, alice, "feeds resume", {"url": url})
        edit = {"url": url, "channel": staff}
        moved = await command(fake_discord, guild, alice, "feeds edit", edit)
    assert (
        "2 articles ingested · last success" in listed
        and f"posts to <#{news.id}>\nposting paused: the bot lacks the Embed Links permission "
        "in the channel; grant it, then /feeds resume"
        in listed
    )
    assert resumed == refusal(news, "Embed Links")
    assert moved == refusal(staff, "Send Messages")
    assert titles(fake_discord, news) == [STORIES[0][0]]
    assert [r.status for r in fake_discord.requests if r.route.endswith("/messages")] == [200]
