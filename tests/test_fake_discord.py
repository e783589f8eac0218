"""Proves tests.fake_discord with the real, unmodified discord.py client (a minimal test bot)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import discord
import pytest
from discord import app_commands
from discord.ext import commands

from tests.fake_discord import FakeDiscord, FakeGuild, FakeMember

# discord.py waits this long after the last GUILD_CREATE before on_ready (default 2 s).
GUILD_READY_TIMEOUT = 0.05


@dataclass
class Recorder:
    """What the test bot saw, so tests can assert on the client side too."""

    errors: list[Exception] = field(default_factory=list)
    messages: list[discord.Message] = field(default_factory=list)
    attachment_bytes: list[bytes] = field(default_factory=list)
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    def record_error(self, exc: Exception) -> None:
        self.errors.append(exc)
        self.changed.set()

    async def wait_for_error(self, timeout: float = 5.0) -> Exception:
        async with asyncio.timeout(timeout):
            while not self.errors:
                self.changed.clear()
                await self.changed.wait()
        return self.errors[0]


def make_bot(rec: Recorder, *, intents: discord.Intents | None = None) -> commands.Bot:
    bot = commands.Bot(
        command_prefix=commands.when_mentioned,
        intents=intents or discord.Intents.default(),
        help_command=None,
        guild_ready_timeout=GUILD_READY_TIMEOUT,
    )

    @bot.tree.command(name="ask", description="Ask about the news")
    async def ask(interaction: discord.Interaction, question: str) -> None:
        await interaction.response.defer(thinking=True)
        await interaction.followup.send(f"You asked: {question}")

    @bot.tree.command(name="slow", description="Answers too late")
    async def slow(interaction: discord.Interaction) -> None:
        await asyncio.sleep(3.5)
        try:
            await interaction.response.send_message("finally")
        except discord.HTTPException as exc:
            rec.record_error(exc)

    @bot.tree.command(name="quick", description="Answers at once")
    async def quick(interaction: discord.Interaction) -> None:
        try:
            await interaction.response.send_message("first!")
        except discord.HTTPException as exc:
            rec.record_error(exc)

    @bot.tree.command(name="big", description="Sends an over-limit embed")
    async def big(interaction: discord.Interaction) -> None:
        try:
            await interaction.response.send_message(embed=discord.Embed(description="x" * 5000))
        except discord.HTTPException as exc:
            rec.record_error(exc)

    @bot.tree.command(name="announce", description="Says @everyone")
    async def announce(interaction: discord.Interaction, safe: bool) -> None:
        if safe:
            await interaction.response.send_message(
                "@everyone news!", allowed_mentions=discord.AllowedMentions.none()
            )
        else:
            await interaction.response.send_message("@everyone news!")

    @bot.tree.command(name="size", description="Reads an attachment")
    async def size(interaction: discord.Interaction, file: discord.Attachment) -> None:
        data = await file.read()
        rec.attachment_bytes.append(data)
        await interaction.response.send_message(f"{file.filename}: {len(data)} bytes")

    @bot.tree.command(name="topic", description="Autocompleted topic")
    async def topic(interaction: discord.Interaction, name: str) -> None:
        await interaction.response.send_message(name)

    @topic.autocomplete("name")
    async def topic_complete(
        interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        topics = ["politics", "science", "sports"]
        return [app_commands.Choice(name=t, value=t) for t in topics if t.startswith(current)]

    @bot.event
    async def on_message(message: discord.Message) -> None:
        if message.author.bot or bot.user not in message.mentions:
            return
        rec.messages.append(message)
        await message.reply(f"pong: {message.content}")

    return bot


@dataclass
class World:
    fake: FakeDiscord
    guild: FakeGuild
    admin: FakeMember
    user: FakeMember


@pytest.fixture
async def world() -> AsyncIterator[World]:
    async with FakeDiscord.start() as fake:
        guild = fake.add_guild(name="News Server")
        admin = fake.add_member(
            guild, name="alice", permissions=discord.Permissions(manage_guild=True)
        )
        user = fake.add_member(guild, name="bob")
        yield World(fake, guild, admin, user)


async def test_connects_and_becomes_ready_in_guild(world: World) -> None:
    bot = make_bot(Recorder())
    async with world.fake.running(bot):
        assert bot.user is not None and bot.user.id == world.fake.bot_user_id
        guild = bot.get_guild(world.guild.id)
        assert guild is not None and guild.name == "News Server"
        assert [c.name for c in guild.text_channels] == ["general"]
        assert guild.me is not None and guild.me.guild_permissions.send_messages
        assert bot.application_id == world.fake.application_id
    assert [h.kind for h in world.fake.gateway.handshakes] == ["identify"]


async def test_syncs_command_tree_to_guild(world: World) -> None:
    bot = make_bot(Recorder())
    async with world.fake.running(bot):
        target = discord.Object(id=world.guild.id)
        bot.tree.copy_global_to(guild=target)
        synced = await bot.tree.sync(guild=target)
        stored = world.fake.synced_commands(world.guild)
        assert {c.name for c in synced} == {c["name"] for c in stored}
        assert {"ask", "slow", "size", "topic"} <= {c.name for c in synced}
        assert all(c.id and c.guild_id == world.guild.id for c in synced)
        fetched = await bot.tree.fetch_commands(guild=target)
        assert {c.id for c in fetched} == {c.id for c in synced}

        # A guild command invocation carries data.guild_id and is routed by the tree.
        inter = await world.fake.invoke_slash(world.guild, world.user, "ask", {"question": "hi"})
        reply = await inter.wait_for_response()
        assert reply.content == "You asked: hi"
    assert world.fake.command_syncs == [world.guild.id]


async def test_defer_then_followup_is_recorded_in_time(world: World) -> None:
    bot = make_bot(Recorder())
    async with world.fake.running(bot):
        await bot.tree.sync()
        inter = await world.fake.invoke_slash(
            world.guild, world.user, "ask", {"question": "What happened today?"}
        )
        reply = await inter.wait_for_response(timeout=5)
    assert inter.deferred
    assert inter.acknowledged_at is not None and inter.acknowledged_at < 3.0
    assert reply is inter.original and not reply.loading and not reply.ephemeral
    assert reply.content == "You asked: What happened today?"
    # The follow-up replaced the "thinking" message, as on Discord.
    assert [r.kind for r in reply.revisions] == ["create", "followup"]
    assert reply.elapsed is not None and reply.elapsed < 3.0
    assert inter.followups == [] and inter.rejections == []


async def test_response_after_three_seconds_is_unknown_interaction(world: World) -> None:
    rec = Recorder()
    bot = make_bot(rec)
    async with world.fake.running(bot):
        await bot.tree.sync()
        inter = await world.fake.invoke_slash(world.guild, world.user, "slow")
        rejection = await inter.wait_for_rejection(timeout=6)
        error = await rec.wait_for_error()
    assert (rejection.status, rejection.code) == (404, 10062)
    assert rejection.elapsed > 3.0
    assert isinstance(error, discord.NotFound) and error.code == 10062
    assert not inter.acknowledged and inter.original is None


async def test_double_acknowledgement_is_rejected(world: World) -> None:
    # Two processes running the same bot (e.g. a forgotten dev instance) both answer.
    rec = Recorder()
    first, second = make_bot(rec), make_bot(rec)
    async with world.fake.running(first), world.fake.running(second):
        await first.tree.sync()
        inter = await world.fake.invoke_slash(world.guild, world.user, "quick")
        reply = await inter.wait_for_response()
        error = await rec.wait_for_error()
    assert reply.content == "first!"
    assert isinstance(error, discord.HTTPException) and error.code == 40060
    assert [(r.status, r.code) for r in inter.rejections] == [(400, 40060)]
    assert len(rec.errors) == 1


async def test_over_limit_embed_is_invalid_form_body(world: World) -> None:
    rec = Recorder()
    bot = make_bot(rec)
    async with world.fake.running(bot):
        await bot.tree.sync()
        inter = await world.fake.invoke_slash(world.guild, world.user, "big")
        error = await rec.wait_for_error()
    assert isinstance(error, discord.HTTPException) and error.status == 400
    assert error.code == 50035
    assert "data.embeds.0.description" in error.text
    assert inter.original is None and [r.code for r in inter.rejections] == [50035]


async def test_everyone_ping_depends_on_allowed_mentions(world: World) -> None:
    bot = make_bot(Recorder())
    async with world.fake.running(bot):
        await bot.tree.sync()
        safe = await world.fake.invoke_slash(world.guild, world.user, "announce", {"safe": True})
        unsafe = await world.fake.invoke_slash(world.guild, world.user, "announce", {"safe": False})
        safe_reply = await safe.wait_for_response()
        unsafe_reply = await unsafe.wait_for_response()
    assert safe_reply.content == unsafe_reply.content == "@everyone news!"
    assert safe_reply.allowed_mentions == {"parse": []}
    assert safe_reply.pinged == frozenset()
    assert unsafe_reply.allowed_mentions is None
    assert unsafe_reply.pinged == {"@everyone"}


async def test_mention_reaches_on_message_and_reply_is_recorded(world: World) -> None:
    rec = Recorder()
    bot = make_bot(rec)  # no message_content intent: a mention still carries the content
    fake = world.fake
    channel = world.guild.default_channel
    rule = fake.rate_limit("POST", "/channels/{channel_id}/messages", retry_after=0.05)
    async with fake.running(bot):
        sent = await fake.send_message(
            world.guild, channel, world.user, f"<@{fake.bot_user_id}> what did the senate do?"
        )
        replies = await fake.wait_for_messages(channel, lambda m: m.reference is sent)
    reply = replies[0]
    assert rec.messages[0].content == sent.content
    assert reply.content == f"pong: {sent.content}"
    assert reply.message_reference is not None
    assert reply.message_reference["message_id"] == str(sent.id)
    assert reply.type == 19 and reply.source == "channel"
    # discord.py sends no allowed_mentions by default, so the replied-to author is pinged.
    assert reply.pinged == {f"user:{world.user.id}"}
    # The first POST got a 429 and discord.py retried it.
    assert rule.hits == 1 and len(fake.bot_messages) == 1


async def test_attachment_option_and_autocomplete(world: World) -> None:
    rec = Recorder()
    bot = make_bot(rec)
    fake = world.fake
    report = fake.add_attachment("report.txt", b"breaking news", content_type="text/plain")
    async with fake.running(bot):
        await bot.tree.sync()
        inter = await fake.invoke_slash(world.guild, world.user, "size", {"file": report})
        reply = await inter.wait_for_response()
        complete = await fake.invoke_autocomplete(
            world.guild, world.user, "topic", {"name": "s"}, focused="name"
        )
        choices = await complete.wait_for_choices()
    assert rec.attachment_bytes == [b"breaking news"]
    assert reply.content == "report.txt: 13 bytes"
    assert [c["value"] for c in choices] == ["science", "sports"]


async def test_privileged_intent_without_enablement_closes_4014(world: World) -> None:
    intents = discord.Intents.default()
    intents.message_content = True
    bot = make_bot(Recorder(), intents=intents)
    with pytest.raises(discord.PrivilegedIntentsRequired):
        async with world.fake.running(bot):
            pass
    assert bot.is_closed()
    assert [(h.kind, h.close_code) for h in world.fake.gateway.handshakes] == [("rejected", 4014)]


async def test_enabled_privileged_intent_is_accepted() -> None:
    async with FakeDiscord.start(privileged_intents=discord.Intents(message_content=True)) as fake:
        fake.add_guild()
        intents = discord.Intents.default()
        intents.message_content = True
        bot = make_bot(Recorder(), intents=intents)
        async with fake.running(bot):
            assert bot.application_flags.gateway_message_content


@pytest.mark.parametrize(("resumable", "expected"), [(True, "resume"), (False, "identify")])
async def test_reconnects_after_gateway_drop(world: World, resumable: bool, expected: str) -> None:
    bot = make_bot(Recorder())
    fake = world.fake
    async with fake.running(bot):
        await bot.tree.sync()
        await fake.drop_gateway(resumable=resumable)
        handshake = await fake.wait_for_reconnect(timeout=10)
        question = {"question": "still there?"}
        inter = await fake.invoke_slash(world.guild, world.user, "ask", question)
        reply = await inter.wait_for_response()
    assert handshake.kind == expected
    if resumable:
        assert handshake.path == "/resume-gateway/"
    assert reply.content == "You asked: still there?"
