"""The bot cannot be stalled: hostile uploads and slow links leave /ask answered at once, and
SIGTERM stops `python -m bot` within its deadline even while a download hangs.

The fake Discord runs on a thread of its own here (FakeDiscordThread), as Discord runs on
machines of its own: a stalled bot loop cannot stall the fake's 3-second clock.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import ingest.loaders
from ingest.loaders import load_file
from newsbot.services import Services
from tests.conftest import REPO, SEED
from tests.fake_discord import (
    FakeDiscord,
    FakeDiscordThread,
    FakeGuild,
    FakeInteraction,
    FakeMember,
)
from tests.test_bot_e2e import KEY_QUOTE, MANAGE_GUILD, QUESTION, running
from tests.web_server import WebServer

pytestmark = pytest.mark.skipif(not SEED.exists(), reason="needs ../shared/data/seed")

# 80 KB of spaces and punctuation, as a hostile upload might be.
HOSTILE = ((" " * 40 + ".,;:!?-\n") * 2000)[:80_000].encode()
# Longer than any test here waits: what is still downloading when a test ends is abandoned.
SLOW_SECONDS = 300.0
SLOW_PAGE = "<html><body><article><p>Never sent.</p></article></body></html>"
RESTARTING = "The bot is restarting, so that was not finished: try again in a minute."


@pytest.fixture
def seeded(services: Services) -> Services:
    services.ingester.ingest(load_file(SEED, max_bytes=10**7))
    return services


class HeldParse:
    """Uploads whose reading takes until the test releases it (or HOLD_SECONDS), as a
    hostile upload's may: what matters is what the bot does meanwhile."""

    HOLD_SECONDS = 20.0

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.started = threading.Event()
        self._released = threading.Event()
        read = ingest.loaders.load_bytes

        def held(*args: Any, **kwargs: Any) -> Any:
            self.started.set()
            self._released.wait(self.HOLD_SECONDS)
            return read(*args, **kwargs)

        # Where the library cog takes it from when the bot loads it (after this).
        monkeypatch.setattr(ingest.loaders, "load_bytes", held)

    def release(self) -> None:
        self._released.set()


async def _ask_once_reading(
    fake: FakeDiscord, guild: FakeGuild, member: FakeMember, parse: HeldParse
) -> FakeInteraction:
    """On the fake's loop: /ask as soon as the upload is being read."""
    async with asyncio.timeout(60):
        while not parse.started.is_set():
            await asyncio.sleep(0.01)
    return await fake.invoke_slash(guild, member, "ask", {"question": QUESTION})


async def eventually(predicate: Callable[[], bool], timeout: float = 60.0) -> None:
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.05)


def _shown(interaction: FakeInteraction) -> bool:
    return interaction.original is not None and not interaction.original.loading


async def test_an_ask_sent_while_an_upload_is_read_is_acknowledged_and_answered(
    seeded: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    parse = HeldParse(monkeypatch)
    with FakeDiscordThread.start() as remote:
        fake = remote.fake
        guild = fake.add_guild(name="News")
        alice = fake.add_member(guild, name="alice", permissions=MANAGE_GUILD)
        bob = fake.add_member(guild, name="bob")
        upload = fake.add_attachment("hostile.txt", HOSTILE)
        async with running(fake, seeded, guild):
            try:
                ingest = await remote.run(
                    fake.invoke_slash(guild, alice, "ingest", {"file": upload})
                )
                ask = await asyncio.wrap_future(
                    remote.call(_ask_once_reading(fake, guild, bob, parse))
                )
                answer = await remote.run(ask.wait_for_response(timeout=60))
                read_meanwhile = not _shown(ingest)
            finally:
                parse.release()
            report = await remote.run(ingest.wait_for_response(timeout=60))
    assert ask.acknowledged_at is not None and ask.acknowledged_at < 3
    assert KEY_QUOTE in answer.embeds[0]["description"]
    assert read_meanwhile  # answered while the upload was still being read
    assert report.ephemeral and report.content.startswith("Added 1, ")


async def test_an_ask_during_a_hostile_upload_and_six_slow_link_ingests_is_answered_at_once(
    seeded: Services, web: WebServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    parse = HeldParse(monkeypatch)
    slow = [web.add(f"/slow/{n}", SLOW_PAGE, delay=SLOW_SECONDS) for n in range(6)]
    with FakeDiscordThread.start() as remote:
        fake = remote.fake
        guild = fake.add_guild(name="News")
        alice = fake.add_member(guild, name="alice", permissions=MANAGE_GUILD)
        bob = fake.add_member(guild, name="bob")
        upload = fake.add_attachment("hostile.txt", HOSTILE)
        settings = {
            "fetch_allow_loopback": True,
            "fetch_read_timeout_seconds": SLOW_SECONDS,
            # The downloads still running at the end are abandoned, and their users told.
            "shutdown_grace_seconds": 0.5,
        }
        async with running(fake, seeded, guild, **settings):
            try:
                fetches = [
                    await remote.run(fake.invoke_slash(guild, alice, "ingest", {"url": url}))
                    for url in slow
                ]
                await eventually(
                    lambda: all(f.acknowledged for f in fetches) and bool(web.requests)
                )
                ingest = await remote.run(
                    fake.invoke_slash(guild, alice, "ingest", {"file": upload})
                )
                ask = await asyncio.wrap_future(
                    remote.call(_ask_once_reading(fake, guild, bob, parse))
                )
                answer = await remote.run(ask.wait_for_response(timeout=60))
                still_downloading = [f for f in fetches if not _shown(f)]
                read_meanwhile = not _shown(ingest)
            finally:
                parse.release()
            report = await remote.run(ingest.wait_for_response(timeout=60))
        told = [await remote.run(f.wait_for_response(timeout=30)) for f in fetches]
    assert ask.acknowledged_at is not None and ask.acknowledged_at < 3
    assert KEY_QUOTE in answer.embeds[0]["description"]
    assert len(still_downloading) == 6 and read_meanwhile
    assert report.content.startswith("Added 1, ")
    assert all(t.ephemeral and t.content == RESTARTING for t in told)


# `python -m bot`, pointed at the fake Discord (argv: its API base and gateway URLs).
PYTHON_M_BOT = """
import runpy, sys
from tests.fake_discord import patch_discord_endpoints
with patch_discord_endpoints(sys.argv[1], sys.argv[2]):
    runpy.run_module("bot", run_name="__main__", alter_sys=True)
"""


async def test_sigterm_stops_python_m_bot_within_its_deadline_while_a_download_hangs(
    fake_discord: FakeDiscord, web: WebServer, tmp_path: Path
) -> None:
    guild = fake_discord.add_guild(name="News")
    alice = fake_discord.add_member(guild, name="alice", permissions=MANAGE_GUILD)
    slow = web.add("/slow", SLOW_PAGE, delay=SLOW_SECONDS)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NEWSBOT_", "DISCORD"))}
    env |= {
        "PYTHONPATH": str(REPO),
        "DISCORD_TOKEN": fake_discord.token,
        "NEWSBOT_DATA_DIR": str(tmp_path / "data"),
        "NEWSBOT_GUILD_ID": str(guild.id),
        "NEWSBOT_EMBEDDING_BACKEND": "torch-fp32",
        "NEWSBOT_FETCH_ALLOW_LOOPBACK": "true",
        "NEWSBOT_FETCH_READ_TIMEOUT_SECONDS": str(SLOW_SECONDS),
        "NEWSBOT_SHUTDOWN_GRACE_SECONDS": "2",
    }
    log = tmp_path / "bot.log"
    with log.open("wb") as stderr:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            PYTHON_M_BOT,
            fake_discord.api_base,
            fake_discord.gateway_url,
            env=env,
            cwd=tmp_path,
            stderr=stderr,
        )
    try:
        # Commands are synced before the bot connects to the gateway, which comes next.
        await eventually(
            lambda: (
                bool(fake_discord.synced_commands(guild) and fake_discord.gateway.sessions)
                or process.returncode is not None
            ),
            timeout=180,
        )
        ingest = await fake_discord.invoke_slash(guild, alice, "ingest", {"url": slow})
        await eventually(lambda: bool(web.hits("/slow")))
        process.send_signal(signal.SIGTERM)
        told = await ingest.wait_for_response(timeout=60)
        # Within the 2 s deadline and the moment to tell users; it used to wait for the
        # download, as long as the server held it.
        code = await asyncio.wait_for(process.wait(), timeout=60)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert code == 0
    assert told.ephemeral and told.content == RESTARTING
    assert "1 fetching job(s) still running after 2 s are abandoned" in log.read_text()
