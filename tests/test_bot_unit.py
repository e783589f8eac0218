"""Cooldowns and permission checks, with mocks spec'd on real discord.py objects."""

from __future__ import annotations

from unittest import mock

import discord
import pytest

from bot.cooldown import CooldownError, UserCooldown
from bot.errors import NotAdminError, user_message
from bot.permissions import is_admin, require_admin
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
