"""Topic watches for articles the bot did not store itself: those another process writes to
the same Chroma server (`newsbot ingest` beside the bot, in server mode), and those stored
while the bot was stopped (or left unmatched by a crash). The real bot against the fake
Discord, the real model, and a real `chroma run`."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from newsbot.services import Services, build_services
from newsbot.settings import Settings
from tests.chroma_server import chroma_server
from tests.fake_discord import FakeDiscord
from tests.test_bot_feeds_e2e import eventually, running
from tests.test_bot_watch_e2e import command, dms
from tests.test_watch import BINANCE, HARBOUR, OPENAI, ingest


@pytest.fixture(autouse=True)
def quick_rounds(monkeypatch: pytest.MonkeyPatch) -> None:
    """The bot looks at the store for other processes' articles every 0.3 s, not 60."""
    monkeypatch.setattr("bot.watch_sweep.SWEEP_SECONDS", 0.3)


def _assert_is_the_openai_post(embed: dict[str, object]) -> None:
    assert embed["title"] == OPENAI.title and embed["url"] == OPENAI.url
    description = str(embed["description"])
    assert description.startswith("New on **openai board** (your watch in News)")
    quotes = [b for b in description.split("\n\n") if b.startswith("> ")]
    assert quotes and all(b.removeprefix("> ").removesuffix(" [1]") in OPENAI.body for b in quotes)


async def test_an_article_another_process_stores_on_the_server_reaches_the_watch_once(
    fake_discord: FakeDiscord, settings: Settings, shared_model: None, tmp_path: Path
) -> None:
    guild = fake_discord.add_guild(name="News")
    bob = fake_discord.add_member(guild, name="bob")
    with chroma_server(tmp_path / "server") as port:
        server = {"chroma_host": "127.0.0.1", "chroma_port": port}
        bots = build_services(settings.replace(**server))
        # Another machine (its own data dir and BM25 index) writing the same server, as
        # `newsbot ingest` does: the bot's ingest event never hears of its articles.
        elsewhere = build_services(settings.replace(data_dir=tmp_path / "cli-host", **server))
        async with running(fake_discord, bots, guild) as bot:
            await command(fake_discord, guild, bob, "watch add", {"topic": "openai board"})
            await asyncio.to_thread(ingest, elsewhere, HARBOUR)
            await asyncio.to_thread(ingest, elsewhere, OPENAI)
            await eventually(lambda: len(dms(fake_discord, bob)) == 1)
            # Later rounds (one has matched an article stored after the post) post nothing
            # again.
            await asyncio.to_thread(ingest, elsewhere, BINANCE)
            await eventually(lambda: BINANCE.id in bot.services.watches.matched())
    (post,) = dms(fake_discord, bob)  # once, and nothing for the two other stories
    _assert_is_the_openai_post(post.embeds[0])


async def test_articles_stored_while_the_bot_was_stopped_reach_the_watch_at_its_start(
    fake_discord: FakeDiscord, services: Services
) -> None:
    guild = fake_discord.add_guild(name="News")
    bob = fake_discord.add_member(guild, name="bob")
    async with running(fake_discord, services, guild) as bot:
        await command(fake_discord, guild, bob, "watch add", {"topic": "openai board"})
        watches = bot.services.watches
        await eventually(lambda: watches.matching_started() is not None)
    # What `newsbot ingest` stores while the bot is stopped (or what the bot stored just
    # before it was killed, before matching it).
    await asyncio.to_thread(ingest, services, HARBOUR, OPENAI)
    async with running(fake_discord, services, guild):
        await eventually(lambda: len(dms(fake_discord, bob)) == 1)
        await eventually(lambda: {HARBOUR.id, OPENAI.id} <= watches.matched())
        # And a round after that: nothing is posted again.
        await asyncio.to_thread(ingest, services, BINANCE)
        await eventually(lambda: BINANCE.id in watches.matched())
    (post,) = dms(fake_discord, bob)
    _assert_is_the_openai_post(post.embeds[0])
