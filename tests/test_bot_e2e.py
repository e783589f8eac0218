"""The real bot, the real discord.py client, real Chroma and model, against a fake Discord on
127.0.0.1 that behaves like Discord on the wire (3-second rule, limits, pings)."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import discord
import pytest

from bot.app import NewsBot, serve
from ingest.loaders import Loaded, load_file
from newsbot.services import Services, bot_config, bot_services, build_services
from newsbot.settings import Settings
from retrieval.models import Article
from retrieval.store_lock import BOT_PURPOSE
from tests.conftest import SEED
from tests.fake_discord import FakeDiscord, FakeGuild, FakeMessage

pytestmark = pytest.mark.skipif(not SEED.exists(), reason="needs ../shared/data/seed")

QUESTION = "what did NATO say about Russia's demands?"
KEY_QUOTE = 'key demands are "unacceptable."'
SEED_TITLE = (
    "NATO About to Give Written Response to Russia's Security Guarantees Proposals, Report Claims"
)
MANAGE_GUILD = discord.Permissions(manage_guild=True)


@pytest.fixture
def seeded(services: Services) -> Services:
    services.ingester.ingest(load_file(SEED, max_bytes=10**7))
    return services


def _configured(services: Services, **settings: Any) -> Services:
    settings.setdefault("ask_cooldown_seconds", 0)
    return dataclasses.replace(services, settings=services.settings.replace(**settings))


@asynccontextmanager
async def running(
    fake: FakeDiscord, services: Services, guild: FakeGuild | None = None, **settings: Any
) -> AsyncIterator[NewsBot]:
    """Start the bot as production does; commands sync to `guild` (the dev guild) or globally."""
    configured = _configured(services, guild_id=guild.id if guild else None, **settings)
    bot = NewsBot(
        bot_services(configured),
        bot_config(configured.settings),
        sync_global=guild is None,
        guild_ready_timeout=0.05,
    )
    async with fake.running(bot):
        yield bot


def _embed_text(message: FakeMessage) -> str:
    return json.dumps(message.embeds, ensure_ascii=False)


async def test_ask_is_acknowledged_at_once_and_answered_with_the_quote(
    fake_discord: FakeDiscord, seeded: Services
) -> None:
    guild = fake_discord.add_guild(name="News")
    bob = fake_discord.add_member(guild, name="bob")
    async with running(fake_discord, seeded, guild):
        inter = await fake_discord.invoke_slash(guild, bob, "ask", {"question": QUESTION})
        reply = await inter.wait_for_response(timeout=30)
    assert inter.deferred and inter.acknowledged_at is not None and inter.acknowledged_at < 3
    assert not reply.ephemeral
    embed = reply.embeds[0]
    assert embed["title"] == QUESTION
    assert KEY_QUOTE in embed["description"] and embed["description"].startswith("> ")
    assert embed["fields"][0]["name"] == "[1] " + SEED_TITLE
    assert embed["fields"][0]["value"].startswith("Sputnik · 2022-01-26 · Morgan Artyukhina")
    assert reply.allowed_mentions is not None and reply.allowed_mentions["parse"] == []
    assert not inter.rejections


async def test_a_mention_gets_the_same_answer_as_a_reply(
    fake_discord: FakeDiscord, seeded: Services
) -> None:
    guild = fake_discord.add_guild(name="News")
    bob = fake_discord.add_member(guild, name="bob")
    async with running(fake_discord, seeded, guild):
        asked = await fake_discord.send_message(
            guild,
            guild.default_channel,
            bob,
            content=f"<@{fake_discord.bot_user_id}> {QUESTION}",
        )
        [reply] = await fake_discord.wait_for_messages(
            guild.default_channel, lambda m: m.reference is asked, timeout=30
        )
    assert KEY_QUOTE in reply.embeds[0]["description"]
    assert reply.pinged == frozenset()  # not even the asker is pinged


async def test_admin_ingests_an_attachment_and_it_becomes_answerable(
    fake_discord: FakeDiscord, services: Services
) -> None:
    guild = fake_discord.add_guild(name="News")
    alice = fake_discord.add_member(guild, name="alice", permissions=MANAGE_GUILD)
    article = {
        "title": "Harbour reopens after storm repairs",
        "body": "The harbour master said the port would reopen to ferries on Monday morning. "
        "Repairs to the sea wall cost four million euros.",
        "source": "Coast Gazette",
        "published_at": "2024-03-02T09:00:00+00:00",
        "url": "https://coast.example/harbour",
    }
    upload = fake_discord.add_attachment("harbour.json", json.dumps(article).encode())
    async with running(fake_discord, services, guild):
        inter = await fake_discord.invoke_slash(guild, alice, "ingest", {"file": upload})
        report = await inter.wait_for_response(timeout=30)
        assert report.ephemeral
        assert report.content.startswith("Added 1, updated 0, unchanged 0, failed 0.")
        ask = await fake_discord.invoke_slash(
            guild, alice, "ask", {"question": "when will the harbour reopen to ferries?"}
        )
        answer = await ask.wait_for_response(timeout=30)
    embed = answer.embeds[0]
    assert "reopen to ferries on Monday morning" in embed["description"]
    assert embed["fields"][0]["value"].startswith("Coast Gazette · 2024-03-02")


async def test_a_non_admin_is_refused_and_nothing_changes(
    fake_discord: FakeDiscord, services: Services
) -> None:
    guild = fake_discord.add_guild(name="News")
    bob = fake_discord.add_member(guild, name="bob")
    async with running(fake_discord, services, guild):
        synced = {c["name"]: c for c in fake_discord.synced_commands(guild)}
        assert int(synced["ingest"]["default_member_permissions"]) == MANAGE_GUILD.value
        inter = await fake_discord.invoke_slash(
            guild, bob, "ingest", {"text": "Secret plans were revealed today by the mayor."}
        )
        refusal = await inter.wait_for_response(timeout=10)
    assert refusal.ephemeral
    assert refusal.content.startswith("Only this server's admins")
    assert services.index.stats().articles == 0


async def test_quoted_mentions_never_ping(fake_discord: FakeDiscord, services: Services) -> None:
    guild = fake_discord.add_guild(name="News")
    bob = fake_discord.add_member(guild, name="bob")
    text = f"The prankster posted @everyone and @here and <@{bob.id}> in the town forum on Friday."
    services.ingester.ingest([Loaded("t", Article(title="Forum prank", body=text))])
    async with running(fake_discord, services, guild):
        inter = await fake_discord.invoke_slash(
            guild, bob, "ask", {"question": "what did the prankster post in the town forum?"}
        )
        reply = await inter.wait_for_response(timeout=30)
        mention = await fake_discord.send_message(
            guild,
            guild.default_channel,
            bob,
            content=f"<@{fake_discord.bot_user_id}> what did the prankster post in the forum?",
        )
        await fake_discord.wait_for_messages(
            guild.default_channel, lambda m: m.reference is mention, timeout=30
        )
    assert "prankster posted" in reply.embeds[0]["description"]
    assert fake_discord.bot_pings == frozenset()


async def test_an_answer_with_many_long_sources_stays_within_limits(
    fake_discord: FakeDiscord, services: Services, tmp_path: Path
) -> None:
    services = build_services(
        services.settings.replace(data_dir=tmp_path / "many", max_quotes=10, top_k=30)
    )
    articles = [
        Article(
            title=f"Budget report number {i} " + "with an extremely long headline " * 7,
            body=("The city council said the budget for road repairs would rise sharply. " * 3)
            + f"Officials in district {i} said the road repair budget was discussed at length.",
            outlet="Council News " + "Network " * 20,
            url=f"https://council.example/{i}/" + "segment/" * 60,
        )
        for i in range(14)
    ]
    services.ingester.ingest([Loaded(str(i), a) for i, a in enumerate(articles)])
    guild = fake_discord.add_guild(name="News")
    bob = fake_discord.add_member(guild, name="bob")
    async with running(fake_discord, services, guild):
        inter = await fake_discord.invoke_slash(
            guild, bob, "ask", {"question": "what did officials say about the road repair budget?"}
        )
        reply = await inter.wait_for_response(timeout=30)
    assert not inter.rejections and not fake_discord.unknown_routes
    embed = reply.embeds[0]
    assert embed["description"].count("> ") >= 5  # many quotes, many sources: all trimmed to fit
    assert len(embed["fields"]) <= 25
    assert any("more source" in f["value"] for f in embed["fields"])


async def test_twenty_concurrent_asks_are_all_acknowledged_and_answered(
    fake_discord: FakeDiscord, seeded: Services
) -> None:
    guild = fake_discord.add_guild(name="News")
    users = [fake_discord.add_member(guild, name=f"user{i}") for i in range(20)]
    async with running(fake_discord, seeded, guild, ask_cooldown_seconds=10):
        interactions = await asyncio.gather(
            *(fake_discord.invoke_slash(guild, u, "ask", {"question": QUESTION}) for u in users)
        )
        replies = await asyncio.gather(*(i.wait_for_response(timeout=60) for i in interactions))
    assert all(i.acknowledged_at is not None and i.acknowledged_at < 3 for i in interactions)
    assert all(KEY_QUOTE in r.embeds[0]["description"] for r in replies)


async def test_a_servers_articles_are_invisible_to_other_servers(
    fake_discord: FakeDiscord, services: Services
) -> None:
    first = fake_discord.add_guild(name="First")
    second = fake_discord.add_guild(name="Second")
    alice = fake_discord.add_member(first, name="alice", permissions=MANAGE_GUILD)
    carol = fake_discord.add_member(second, name="carol")
    body = "The lighthouse keeper said the lamp was replaced with a modern LED beacon this week."
    async with running(fake_discord, services):
        added = await fake_discord.invoke_slash(
            first, alice, "ingest", {"text": body, "title": "Lighthouse gets LED beacon"}
        )
        assert "Added 1" in (await added.wait_for_response(timeout=30)).content
        question = {"question": "what did the lighthouse keeper say about the lamp?"}
        here = await fake_discord.invoke_slash(first, alice, "ask", question)
        there = await fake_discord.invoke_slash(second, carol, "ask", question)
        here_reply = await here.wait_for_response(timeout=30)
        there_reply = await there.wait_for_response(timeout=30)
        listed = await fake_discord.invoke_slash(second, carol, "sources")
        listed_reply = await listed.wait_for_response(timeout=30)
    assert "LED beacon" in here_reply.embeds[0]["description"]
    assert "Lighthouse" not in _embed_text(there_reply)
    assert there_reply.embeds[0]["description"].startswith("No ingested article covers this.")
    assert "Lighthouse" not in _embed_text(listed_reply)


async def test_the_bot_keeps_answering_after_the_gateway_drops(
    fake_discord: FakeDiscord, seeded: Services
) -> None:
    guild = fake_discord.add_guild(name="News")
    bob = fake_discord.add_member(guild, name="bob")
    async with running(fake_discord, seeded, guild):
        await fake_discord.drop_gateway()
        await fake_discord.wait_for_reconnect(timeout=20)
        inter = await fake_discord.invoke_slash(guild, bob, "ask", {"question": QUESTION})
        reply = await inter.wait_for_response(timeout=30)
    assert KEY_QUOTE in reply.embeds[0]["description"]


async def test_overlong_questions_and_cooldowns_get_private_clear_errors(
    fake_discord: FakeDiscord, seeded: Services
) -> None:
    guild = fake_discord.add_guild(name="News")
    bob = fake_discord.add_member(guild, name="bob")
    async with running(fake_discord, seeded, guild, ask_cooldown_seconds=60):
        long = await fake_discord.invoke_slash(guild, bob, "ask", {"question": "why " * 100})
        long_reply = await long.wait_for_response(timeout=10)
        first = await fake_discord.invoke_slash(guild, bob, "ask", {"question": QUESTION})
        await first.wait_for_response(timeout=30)
        again = await fake_discord.invoke_slash(guild, bob, "ask", {"question": QUESTION})
        again_reply = await again.wait_for_response(timeout=10)
    assert long_reply.ephemeral and "the limit is 300" in long_reply.content
    assert again_reply.ephemeral
    assert again_reply.content.startswith("You're asking too fast: try again in ")


async def test_a_bug_is_reported_without_internals(
    fake_discord: FakeDiscord, seeded: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("database password is hunter2")

    monkeypatch.setattr(seeded.answerer, "answer", broken)
    guild = fake_discord.add_guild(name="News")
    bob = fake_discord.add_member(guild, name="bob")
    async with running(fake_discord, seeded, guild):
        inter = await fake_discord.invoke_slash(guild, bob, "ask", {"question": QUESTION})
        reply = await inter.wait_for_response(timeout=30)
    assert "Something went wrong" in reply.content
    assert "hunter2" not in reply.content


async def test_admin_forgets_an_article_picked_by_autocomplete(
    fake_discord: FakeDiscord, services: Services
) -> None:
    guild = fake_discord.add_guild(name="News")
    alice = fake_discord.add_member(guild, name="alice", permissions=MANAGE_GUILD)
    async with running(fake_discord, services, guild):
        added = await fake_discord.invoke_slash(
            guild,
            alice,
            "ingest",
            {"text": "The museum said it would open late on Fridays.", "title": "Museum hours"},
        )
        await added.wait_for_response(timeout=30)
        complete = await fake_discord.invoke_autocomplete(
            guild, alice, "forget", {"article": "muse"}, "article"
        )
        choices = await complete.wait_for_choices()
        assert [c["name"] for c in choices] == ["Museum hours"]
        forget = await fake_discord.invoke_slash(
            guild, alice, "forget", {"article": choices[0]["value"]}
        )
        done = await forget.wait_for_response(timeout=30)
    assert done.ephemeral and done.content.startswith("Forgot “Museum hours”")
    assert services.index.stats().articles == 0


async def test_serve_runs_the_bot_until_sigterm_and_closes_cleanly(
    fake_discord: FakeDiscord, seeded: Services
) -> None:
    guild = fake_discord.add_guild(name="News")
    bob = fake_discord.add_member(guild, name="bob")
    services = _configured(seeded, guild_id=guild.id)
    task = asyncio.create_task(
        serve(bot_services(services), bot_config(services.settings), fake_discord.token)
    )
    # Commands sync in setup_hook, before the gateway connects: wait for both.
    async with asyncio.timeout(30):
        while not (fake_discord.synced_commands(guild) and fake_discord.gateway.sessions):
            await asyncio.sleep(0.05)
    inter = await fake_discord.invoke_slash(guild, bob, "ask", {"question": QUESTION})
    assert KEY_QUOTE in (await inter.wait_for_response(timeout=30)).embeds[0]["description"]
    os.kill(os.getpid(), signal.SIGTERM)
    await asyncio.wait_for(task, timeout=10)
    assert task.exception() is None


def test_python_m_bot_without_a_token_says_how_to_get_one(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NEWSBOT_", "DISCORD"))}
    env["NEWSBOT_DATA_DIR"] = str(tmp_path / "data")
    done = subprocess.run(
        [sys.executable, "-m", "bot"], env=env, cwd=tmp_path, capture_output=True, text=True
    )
    assert done.returncode == 2
    assert done.stderr.strip() == (
        "newsbot: DISCORD_TOKEN is not set: put the bot token in .env "
        "(see README.md, 'Discord set-up')."
    )


async def test_mentions_can_be_answered_in_a_new_thread(
    fake_discord: FakeDiscord, seeded: Services
) -> None:
    guild = fake_discord.add_guild(name="News")
    bob = fake_discord.add_member(guild, name="bob")
    async with running(fake_discord, seeded, guild, reply_in_thread=True):
        asked = await fake_discord.send_message(
            guild, guild.default_channel, bob, content=f"<@{fake_discord.bot_user_id}> {QUESTION}"
        )
        [answer] = await fake_discord.wait_for_messages(
            None, lambda m: m.channel.is_thread, timeout=30
        )
    assert asked.thread is not None and answer.channel is asked.thread
    assert asked.thread.name == QUESTION
    assert KEY_QUOTE in answer.embeds[0]["description"]


async def test_a_cli_ingest_while_the_bot_runs_is_refused_and_slash_ingest_works(
    fake_discord: FakeDiscord, settings: Settings, shared_model: None
) -> None:
    services = build_services(settings, purpose=BOT_PURPOSE)  # as `newsbot bot` opens it
    guild = fake_discord.add_guild(name="News")
    alice = fake_discord.add_member(guild, name="alice", permissions=MANAGE_GUILD)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NEWSBOT_", "DISCORD"))}
    env |= {
        "NEWSBOT_DATA_DIR": str(settings.storage.data_dir),
        "NEWSBOT_EMBEDDING_BACKEND": "torch-fp32",
    }
    newsbot = str(Path(sys.executable).parent / "newsbot")
    async with running(fake_discord, services, guild):
        refused = await asyncio.to_thread(
            subprocess.run,
            [newsbot, "ingest", str(SEED)],
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        body = "The harbour master said the new ferry pier opens to passengers on Monday."
        added = await fake_discord.invoke_slash(
            guild, alice, "ingest", {"text": body, "title": "Ferry pier opens"}
        )
        assert "Added 1" in (await added.wait_for_response(timeout=30)).content
        asked = await fake_discord.invoke_slash(
            guild, alice, "ask", {"question": "when does the new ferry pier open?"}
        )
        reply = await asked.wait_for_response(timeout=30)
    assert refused.returncode == 2
    assert refused.stderr.startswith(f"newsbot: the Discord bot (pid {os.getpid()}, since ")
    assert "/ingest" in refused.stderr
    assert "new ferry pier opens" in reply.embeds[0]["description"]
    services.close()


async def test_a_day_out_of_range_gets_a_private_clear_error(
    fake_discord: FakeDiscord, services: Services
) -> None:
    guild = fake_discord.add_guild(name="News")
    bob = fake_discord.add_member(guild, name="bob")
    since = "9999-12-31T23:59:59-01:00"  # a day after 9999-12-31 in UTC
    async with running(fake_discord, services, guild):
        inter = await fake_discord.invoke_slash(
            guild, bob, "ask", {"question": QUESTION, "since": since}
        )
        reply = await inter.wait_for_response(timeout=30)
    assert reply.ephemeral
    assert reply.content == (
        f"since {since!r} is out of range: use a day between 0001-01-02 and 9999-12-30."
    )


async def test_source_autocomplete_offers_the_outlets_without_reading_every_article(
    fake_discord: FakeDiscord, seeded: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    guild = fake_discord.add_guild(name="News")
    bob = fake_discord.add_member(guild, name="bob")
    every_article = seeded.index.list_articles
    reads: list[object] = []

    def counted(**kwargs: Any) -> Any:
        reads.append(kwargs)
        return every_article(**kwargs)

    monkeypatch.setattr(seeded.index, "list_articles", counted)
    async with running(fake_discord, seeded, guild):
        complete = await fake_discord.invoke_autocomplete(
            guild, bob, "ask", {"question": QUESTION, "source": "sput"}, "source"
        )
        choices = await complete.wait_for_choices(timeout=30)
    assert choices == [{"name": "Sputnik", "value": "Sputnik"}]
    assert reads == []  # one keystroke, no read of every article record


async def test_sources_has_a_cooldown_per_user(fake_discord: FakeDiscord, seeded: Services) -> None:
    guild = fake_discord.add_guild(name="News")
    bob = fake_discord.add_member(guild, name="bob")
    carol = fake_discord.add_member(guild, name="carol")
    async with running(fake_discord, seeded, guild, sources_cooldown_seconds=60):
        first = await fake_discord.invoke_slash(guild, bob, "sources")
        listed = await first.wait_for_response(timeout=30)
        again = await fake_discord.invoke_slash(guild, bob, "sources")
        refused = await again.wait_for_response(timeout=30)
        other = await fake_discord.invoke_slash(guild, carol, "sources")
        other_listed = await other.wait_for_response(timeout=30)
    assert SEED_TITLE.split(",")[0] in listed.embeds[0]["description"]
    assert refused.ephemeral and refused.content.startswith("You're asking too fast: try again in ")
    assert other_listed.embeds == listed.embeds


async def test_a_server_over_its_hourly_ingest_quota_is_told_its_limit_and_when_to_retry(
    fake_discord: FakeDiscord, services: Services
) -> None:
    first = fake_discord.add_guild(name="First")
    second = fake_discord.add_guild(name="Second")
    alice = fake_discord.add_member(first, name="alice", permissions=MANAGE_GUILD)
    dave = fake_discord.add_member(second, name="dave", permissions=MANAGE_GUILD)

    def story(n: int) -> dict[str, str]:
        return {"text": f"The council approved budget number {n} for the new library on Monday."}

    async with running(fake_discord, services, ingests_per_server_per_hour=2):
        replies = []
        for n, (guild, admin) in enumerate([(first, alice)] * 3 + [(second, dave)]):
            inter = await fake_discord.invoke_slash(guild, admin, "ingest", story(n))
            replies.append(await inter.wait_for_response(timeout=30))
    added = [r.content.startswith("Added 1, ") for r in replies]
    assert added == [True, True, False, True]  # the other server has its own quota
    over = replies[2]
    assert over.ephemeral
    assert over.content.startswith(
        "This server may use /ingest at most 2 times an hour: try again in "
    )
    assert over.content.endswith(" min.")
    assert services.index.stats().articles == 3


async def test_the_forget_reply_shows_the_title_as_text(
    fake_discord: FakeDiscord, services: Services
) -> None:
    guild = fake_discord.add_guild(name="News")
    alice = fake_discord.add_member(guild, name="alice", permissions=MANAGE_GUILD)
    title = "[Verify your account](https://evil.example) **now**"
    async with running(fake_discord, services, guild):
        added = await fake_discord.invoke_slash(
            guild, alice, "ingest", {"text": "The museum will open late.", "title": title}
        )
        await added.wait_for_response(timeout=30)
        [article] = services.index.list_articles()
        forget = await fake_discord.invoke_slash(guild, alice, "forget", {"article": article.id})
        done = await forget.wait_for_response(timeout=30)
    assert done.content == (
        "Forgot “\\[Verify your account](https://evil.example) \\*\\*now\\*\\*” (1 chunks)."
    )
