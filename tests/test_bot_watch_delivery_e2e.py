"""Topic watch posts Discord fails, or that the bot's stop cuts off: a DM refused with a 5xx
arrives in the next round, in order, once; a DM sent just before the bot stopped (before it
was recorded) is not sent again. The real bot against the fake Discord (with DMs and its
scripted outages), the real model and Chroma."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import pytest

from bot.watches import WatchStore
from newsbot.services import Services
from tests.fake_discord import FakeDiscord, FakeMember
from tests.test_bot_feeds_e2e import MANAGE_GUILD, eventually, running
from tests.test_bot_watch_e2e import command, dms, upload
from tests.test_watch import BINANCE, HARBOUR, OPENAI

MESSAGES = "/channels/{channel_id}/messages"


@pytest.fixture(autouse=True)
def quick_rounds(monkeypatch: pytest.MonkeyPatch) -> None:
    """A round every 0.3 s, not every minute: the next round's retry comes soon."""
    monkeypatch.setattr("bot.watch_sweep.SWEEP_SECONDS", 0.3)


def dm_sends(fake: FakeDiscord, member: FakeMember) -> list[int]:
    """The statuses of the bot's message sends to the member's DM channel, in order."""
    channel = fake.dm_channel(member)
    assert channel is not None
    path = MESSAGES.format(channel_id=channel.id)
    return [r.status for r in fake.requests if r.method == "POST" and r.path == path]


def dm_titles(fake: FakeDiscord, member: FakeMember) -> list[str]:
    return [m.embeds[0]["title"] for m in dms(fake, member)]


async def test_a_dm_discord_fails_arrives_next_round_in_order_and_once(
    fake_discord: FakeDiscord, services: Services
) -> None:
    guild = fake_discord.add_guild(name="News")
    alice = fake_discord.add_member(guild, name="alice", permissions=MANAGE_GUILD)
    bob = fake_discord.add_member(guild, name="bob")
    async with running(fake_discord, services, guild):
        for topic in ("openai board", "binance guilty plea", "harbour sea wall"):
            await command(fake_discord, guild, bob, "watch add", {"topic": topic})
        await upload(fake_discord, guild, alice, OPENAI)
        await eventually(lambda: len(dms(fake_discord, bob)) == 1)
        # An outage: Discord answers bob's next two DMs with 503 Service Unavailable.
        channel = fake_discord.dm_channel(bob)
        assert channel is not None
        outage = fake_discord.fail_sends(channel, 2)
        await upload(fake_discord, guild, alice, BINANCE, HARBOUR)
        await eventually(lambda: len(dms(fake_discord, bob)) == 3)
        listed = await command(fake_discord, guild, bob, "watch list", {})
        await command(fake_discord, guild, alice, "watch list", {})  # time for a wrong post
    assert outage.count == 0
    assert dm_titles(fake_discord, bob) == [OPENAI.title, BINANCE.title, HARBOUR.title]
    # The Binance post failed twice (this round, the next), and the harbour post waited for
    # it; none was sent twice.
    assert dm_sends(fake_discord, bob) == [200, 503, 503, 200, 200]
    assert "not delivered" not in listed.content


async def test_a_dm_sent_just_before_the_bot_stopped_is_not_sent_again(
    fake_discord: FakeDiscord, services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    guild = fake_discord.add_guild(name="News")
    alice = fake_discord.add_member(guild, name="alice", permissions=MANAGE_GUILD)
    bob = fake_discord.add_member(guild, name="bob")
    # The bot comes back after Discord's nonce check has lapsed: only the bot itself can
    # tell that its DM went out.
    fake_discord.nonce_window = 0
    frozen = threading.Event()
    watches = WatchStore.in_data_dir(services.settings.storage.data_dir)
    try:
        with monkeypatch.context() as patch:
            # The bot stops between the DM's send and its record.
            patch.setattr(WatchStore, "delivered", lambda *_: frozen.wait())
            async with running(fake_discord, services, guild, shutdown_grace_seconds=0.1):
                await command(fake_discord, guild, bob, "watch add", {"topic": "openai board"})
                await upload(fake_discord, guild, alice, OPENAI)
                await eventually(lambda: len(dms(fake_discord, bob)) == 1)
        assert [p.state for p in watches.owed(datetime.now(UTC))] == ["sending"]
        async with running(fake_discord, services, guild):
            await eventually(lambda: watches.owed(datetime.now(UTC)) == [])
            await command(fake_discord, guild, bob, "watch list", {})  # time for a repost
    finally:
        frozen.set()
    assert dm_titles(fake_discord, bob) == [OPENAI.title]
    assert dm_sends(fake_discord, bob) == [200]
