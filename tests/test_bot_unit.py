"""Cooldowns, quotas, option parsing, the worker pools and permission checks, with mocks
spec'd on real discord.py objects."""

from __future__ import annotations

import asyncio
import threading
from unittest import mock

import discord
import pytest

from bot.cooldown import CooldownError, UserCooldown
from bot.errors import NotAdminError, user_message
from bot.permissions import is_admin, require_admin
from bot.quotas import HourlyQuota, QuotaError, check_feed_count
from bot.workers import ShuttingDownError, Workers, WorkPool
from retrieval.errors import QuestionError


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_cooldown_is_per_user_and_says_when_to_retry() -> None:
    clock = FakeClock()
    cooldown = UserCooldown(10, clock=clock)
    cooldown.check(1)
    cooldown.check(2)
    clock.now += 3.2
    with pytest.raises(CooldownError) as info:
        cooldown.check(1)
    assert info.value.user_message == "You're asking too fast: try again in 7 s."
    clock.now += 7
    cooldown.check(1)


def _member(
    *, manage_guild: bool = False, role_ids: tuple[int, ...] = (), user_id: int = 5
) -> mock.Mock:
    member = mock.create_autospec(discord.Member, instance=True)
    member.id = user_id
    member.guild_permissions = discord.Permissions(manage_guild=manage_guild)
    roles = []
    for rid in role_ids:
        role = mock.create_autospec(discord.Role, instance=True)
        role.id = rid
        roles.append(role)
    member.roles = roles
    return member


def test_admins_are_managers_listed_roles_or_owners() -> None:
    settings = {"admin_role_ids": (42,), "owner_ids": (7,)}
    assert is_admin(_member(manage_guild=True), **settings)
    assert is_admin(_member(role_ids=(42,)), **settings)
    assert is_admin(_member(user_id=7), **settings)
    assert not is_admin(_member(role_ids=(41,)), **settings)
    plain_user = mock.create_autospec(discord.User, instance=True)
    plain_user.id = 8
    assert not is_admin(plain_user, **settings)


def test_a_refused_user_gets_a_clear_message() -> None:
    interaction = mock.create_autospec(discord.Interaction, instance=True)
    interaction.user = _member()
    with pytest.raises(NotAdminError) as info:
        require_admin(interaction, admin_role_ids=(), owner_ids=())
    assert user_message(info.value) == (
        "Only this server's admins (Manage Server permission) can do that. Nothing was changed."
    )


def test_user_errors_are_shown_and_bugs_are_not() -> None:
    command = mock.create_autospec(discord.app_commands.Command, instance=True)
    command.name = "ask"
    wrapped = discord.app_commands.CommandInvokeError(command, QuestionError("Too long."))
    assert user_message(wrapped) == "Too long."
    assert user_message(RuntimeError("secret internals")) is None


def test_the_ingest_quota_is_per_server_and_says_when_to_retry() -> None:
    clock = FakeClock()
    quota = HourlyQuota(2, "/ingest", clock=clock)
    quota.check(1)
    clock.now += 600
    quota.check(1)
    quota.check(2)
    with pytest.raises(QuotaError) as info:
        quota.check(1)
    assert info.value.user_message == (
        "This server may use /ingest at most 2 times an hour: try again in 50 min."
    )
    clock.now += 3000  # the first use is an hour old: one use is free again
    quota.check(1)
    with pytest.raises(QuotaError) as info:
        quota.check(1)
    assert info.value.user_message.endswith("try again in 10 min.")


def test_a_server_following_its_limit_of_feeds_is_refused_another() -> None:
    check_feed_count(19, 20)
    with pytest.raises(QuotaError) as info:
        check_feed_count(20, 20)
    assert info.value.user_message == (
        "This server follows 20 feeds and may follow at most 20: "
        "remove one with `/feeds remove` first."
    )


async def test_work_not_started_when_the_pool_closes_is_refused_with_a_reason() -> None:
    pool = WorkPool("test", 1)
    release = threading.Event()
    running = asyncio.ensure_future(pool.run(lambda: release.wait(30)))
    queued = asyncio.ensure_future(pool.run(lambda: "never"))
    while not pool.running():
        await asyncio.sleep(0.01)
    pool.close()
    with pytest.raises(ShuttingDownError):
        await queued
    with pytest.raises(ShuttingDownError):
        await pool.run(lambda: "too late")
    release.set()
    assert await running is True  # what was running finishes


async def test_shutdown_waits_for_work_that_ends_in_time_and_abandons_the_rest() -> None:
    workers = Workers(answer_threads=1, fetch_threads=1, ingest_threads=1)
    quick, stuck = threading.Event(), threading.Event()
    answer = asyncio.ensure_future(workers.answering.run(lambda: quick.wait(30)))
    download = asyncio.ensure_future(workers.fetching.run(lambda: stuck.wait(30)))
    while workers.running() < 2:
        await asyncio.sleep(0.01)
    workers.close()
    asyncio.get_running_loop().call_soon(quick.set)
    await workers.finish(grace=0.5)
    assert await answer is True
    with pytest.raises(ShuttingDownError) as info:
        await download
    assert info.value.user_message == (
        "The bot is restarting, so that was not finished: try again in a minute."
    )
    assert workers.running() == 1  # its thread runs on, and ends with the process
    stuck.set()


def test_a_command_discord_knows_but_the_bot_no_longer_has_gets_a_clear_message() -> None:
    # While the bot shuts down, its commands are gone before it disconnects.
    gone = discord.app_commands.CommandNotFound("feeds", [])
    assert user_message(gone) == "That command is not available right now: try again in a minute."
