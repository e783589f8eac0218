"""The fake's world: its users, guilds, roles, channels, members, attachments, and the
records of what happened (messages, interactions, synced commands, requests); how tests build
that world (each addition dispatched to connected bots as Discord does); and the fake's own
addresses."""

from __future__ import annotations

import secrets
from collections import deque
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import quote

import discord
from aiohttp import web

from .gateway import FakeGateway
from .models import (
    DEFAULT_EVERYONE_PERMISSIONS,
    FakeAttachment,
    FakeChannel,
    FakeGuild,
    FakeInteraction,
    FakeMember,
    FakeMessage,
    FakeRole,
    FakeUser,
    Notifier,
    Overwrite,
    SnowflakeFactory,
    channel_permissions,
)

if TYPE_CHECKING:
    from .rest import RateLimitRule, RecordedRequest, SendOutage
    from .server import FakeDiscord

API_PREFIX = "/api/v10"


def _intents_value(value: discord.Intents | int) -> int:
    return value.value if isinstance(value, discord.Intents) else int(value)


def _permissions_value(value: discord.Permissions | int | None, default: int = 0) -> int:
    if value is None:
        return default
    return value.value if isinstance(value, discord.Permissions) else int(value)


class DiscordState:
    """What the fake knows; the route and driver mixins of `FakeDiscord` read and change it."""

    def __init__(
        self,
        *,
        token: str | None = None,
        bot_name: str = "NewsBot",
        privileged_intents: discord.Intents | int = 0,
        interaction_timeout: float = 3.0,
        interaction_token_ttl: float = 15 * 60.0,
        heartbeat_interval_ms: int = 41_250,
        compress_gateway: bool = True,
        attachment_size_limit: int = 10 * 1024 * 1024,
        fail_on_unknown_routes: bool = True,
        channel_send_limit: tuple[int, float] = (5, 5.0),
    ) -> None:
        self.ids = SnowflakeFactory()
        self.notifier = Notifier()
        self.token = token or f"fake.{secrets.token_urlsafe(24)}"
        self.application_id = self.ids.next()
        # Modern applications share their id with their bot user.
        self.bot_user = FakeUser(id=self.application_id, name=bot_name, bot=True)
        self.owner_user = FakeUser(id=self.ids.next(), name="app-owner")
        self.privileged_intents = _intents_value(privileged_intents)
        self.interaction_timeout = interaction_timeout
        self.interaction_token_ttl = interaction_token_ttl
        self.attachment_size_limit = attachment_size_limit
        self.fail_on_unknown_routes = fail_on_unknown_routes
        # Discord's limit on sending messages to one channel: 5 per 5 seconds.
        self.channel_send_limit = channel_send_limit
        self.channel_sends: dict[int, deque[float]] = {}  # channel id -> send times
        self.gateway = FakeGateway(
            cast("FakeDiscord", self),
            heartbeat_interval_ms=heartbeat_interval_ms,
            compress=compress_gateway,
        )

        self.users: dict[int, FakeUser] = {self.bot_user.id: self.bot_user}
        self.guilds: dict[int, FakeGuild] = {}
        self.channels: dict[int, FakeChannel] = {}
        self.dm_channels: dict[int, FakeChannel] = {}  # recipient's user id -> DM channel
        self.messages: list[FakeMessage] = []
        self._messages_by_id: dict[int, FakeMessage] = {}
        self.interactions: dict[int, FakeInteraction] = {}
        self._interactions_by_token: dict[str, FakeInteraction] = {}
        self.commands: dict[int | None, list[dict[str, Any]]] = {}
        self.command_syncs: list[int | None] = []
        self._command_ids: dict[tuple[int | None, str, int], int] = {}
        self.attachments: dict[int, FakeAttachment] = {}
        self.requests: list[RecordedRequest] = []
        self.unknown_routes: list[str] = []
        self.internal_errors: list[str] = []
        self.typing: list[tuple[FakeChannel, float]] = []
        self.rate_limits: list[RateLimitRule] = []
        self.send_outages: dict[int, SendOutage] = {}  # channel id -> its failing sends
        # A send repeating a nonce the bot used this recently returns the first message
        # (Discord's enforce_nonce: "the past few minutes").
        self.nonce_window = 300.0

        self._runner: web.AppRunner | None = None
        self.port = 0

    # -- addresses ----------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def api_base(self) -> str:
        return self.base_url + API_PREFIX

    @property
    def gateway_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/gateway/"

    @property
    def resume_gateway_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/resume-gateway/"

    @property
    def bot_user_id(self) -> int:
        return self.bot_user.id

    # -- world building -----------------------------------------------------------------------

    def add_user(
        self, name: str, *, bot: bool = False, locale: str = "en-US", dms_open: bool = True
    ) -> FakeUser:
        """A user; with ``dms_open=False`` they refuse DMs from server members (the bot's)."""
        user = FakeUser(id=self.ids.next(), name=name, bot=bot, locale=locale, dms_open=dms_open)
        self.users[user.id] = user
        return user

    def add_guild(
        self,
        name: str = "Test Guild",
        *,
        channels: Sequence[str] = ("general",),
        everyone_permissions: discord.Permissions | int | None = None,
        bot_permissions: discord.Permissions | int | None = None,
        locale: str = "en-US",
    ) -> FakeGuild:
        """A guild with an @everyone role, text ``channels``, an owner, and the bot as a member
        (with a managed role carrying ``bot_permissions``, default: @everyone's)."""
        guild = FakeGuild(id=self.ids.next(), name=name, preferred_locale=locale)
        everyone = _permissions_value(everyone_permissions, DEFAULT_EVERYONE_PERMISSIONS.value)
        guild.roles[guild.id] = FakeRole(
            id=guild.id, guild=guild, name="@everyone", permissions=everyone
        )
        self.guilds[guild.id] = guild
        for channel_name in channels:
            self._new_channel(guild, channel_name, type=0)
        owner = self._new_member(guild, self.add_user(f"{name} owner"))
        guild.owner_id = owner.id
        bot_role = FakeRole(
            id=self.ids.next(),
            guild=guild,
            name=self.bot_user.name,
            permissions=_permissions_value(bot_permissions, everyone),
            position=1,
            managed=True,
            bot_id=self.bot_user.id,
        )
        guild.roles[bot_role.id] = bot_role
        self._new_member(guild, self.bot_user, roles=[bot_role])
        self.gateway.dispatch("GUILD_CREATE", lambda _s: guild.payload())
        return guild

    def add_role(
        self,
        guild: FakeGuild,
        name: str,
        *,
        permissions: discord.Permissions | int | None = None,
        mentionable: bool = False,
    ) -> FakeRole:
        role = FakeRole(
            id=self.ids.next(),
            guild=guild,
            name=name,
            permissions=_permissions_value(permissions),
            position=len(guild.roles),
            mentionable=mentionable,
        )
        guild.roles[role.id] = role
        self.gateway.dispatch(
            "GUILD_ROLE_CREATE", {"guild_id": str(guild.id), "role": role.payload()}
        )
        return role

    def add_channel(
        self,
        guild: FakeGuild,
        name: str,
        *,
        type: int = 0,
        topic: str | None = None,
        overwrites: Mapping[FakeRole | FakeMember, discord.PermissionOverwrite] | None = None,
    ) -> FakeChannel:
        channel = self._new_channel(guild, name, type=type, topic=topic)
        for target, overwrite in (overwrites or {}).items():
            allow, deny = overwrite.pair()
            kind = 0 if isinstance(target, FakeRole) else 1
            channel.overwrites.append(Overwrite(target.id, kind, allow.value, deny.value))
        self.gateway.dispatch("CHANNEL_CREATE", channel.payload())
        return channel

    def set_permissions(
        self,
        channel: FakeChannel,
        target: FakeRole | FakeMember,
        overwrite: discord.PermissionOverwrite | None,
    ) -> None:
        """Sets (None: removes) `target`'s overwrite on a channel, as an admin editing the
        channel's permissions would; the bot is told (CHANNEL_UPDATE), so discord.py's
        `permissions_for` sees it, and every route checks it from then on."""
        channel.overwrites = [o for o in channel.overwrites if o.target_id != target.id]
        if overwrite is not None:
            allow, deny = overwrite.pair()
            kind = 0 if isinstance(target, FakeRole) else 1
            channel.overwrites.append(Overwrite(target.id, kind, allow.value, deny.value))
        self.gateway.dispatch("CHANNEL_UPDATE", channel.payload())

    def delete_channel(self, channel: FakeChannel) -> None:
        """Deletes a channel, as a server's admin would: the bot is told (CHANNEL_DELETE), and
        from then on every route on it answers 404 Unknown Channel (10003)."""
        channel.server.channels.pop(channel.id, None)
        self.channels.pop(channel.id, None)
        self.gateway.dispatch("CHANNEL_DELETE", channel.payload())

    def add_member(
        self,
        guild: FakeGuild,
        name: str | None = None,
        *,
        user: FakeUser | None = None,
        permissions: discord.Permissions | int | None = None,
        roles: Sequence[FakeRole] = (),
        nick: str | None = None,
        bot: bool = False,
        locale: str = "en-US",
        dms_open: bool = True,
    ) -> FakeMember:
        """A member (new user unless ``user`` is given, to share one across guilds).

        ``permissions`` creates a role "<name> perms" with them and assigns it;
        ``dms_open=False``: a new user who refuses DMs from server members.
        """
        if user is None:
            if name is None:
                raise ValueError("add_member needs a name or a user")
            user = self.add_user(name, bot=bot, locale=locale, dms_open=dms_open)
        all_roles = list(roles)
        if permissions is not None:
            perm_role = FakeRole(
                id=self.ids.next(),
                guild=guild,
                name=f"{user.name} perms",
                permissions=_permissions_value(permissions),
                position=len(guild.roles),
            )
            guild.roles[perm_role.id] = perm_role
            self.gateway.dispatch(
                "GUILD_ROLE_CREATE", {"guild_id": str(guild.id), "role": perm_role.payload()}
            )
            all_roles.append(perm_role)
        member = self._new_member(guild, user, roles=all_roles, nick=nick)
        self.gateway.dispatch("GUILD_MEMBER_ADD", {**member.payload(), "guild_id": str(guild.id)})
        return member

    def add_attachment(
        self,
        filename: str,
        data: bytes,
        *,
        content_type: str | None = None,
        description: str | None = None,
    ) -> FakeAttachment:
        """A file served by the fake at ``attachment.url`` (use as an attachment option)."""
        attachment_id = self.ids.next()
        attachment = FakeAttachment(
            id=attachment_id,
            filename=filename,
            data=data,
            url=f"{self.base_url}/attachments/{attachment_id}/{quote(filename)}",
            content_type=content_type,
            description=description,
        )
        self.attachments[attachment_id] = attachment
        return attachment

    def bot_member(self, guild: FakeGuild) -> FakeMember:
        return guild.members[self.bot_user.id]

    def permissions_for(self, member: FakeMember, channel: FakeChannel) -> discord.Permissions:
        return discord.Permissions(channel_permissions(member, channel))

    def _new_channel(
        self, guild: FakeGuild, name: str, *, type: int, topic: str | None = None
    ) -> FakeChannel:
        channel = FakeChannel(
            id=self.ids.next(),
            guild=guild,
            name=name,
            type=type,
            position=len(guild.channels),
            topic=topic,
        )
        guild.channels[channel.id] = channel
        self.channels[channel.id] = channel
        return channel

    def _new_member(
        self,
        guild: FakeGuild,
        user: FakeUser,
        *,
        roles: Sequence[FakeRole] = (),
        nick: str | None = None,
    ) -> FakeMember:
        if user.id in guild.members:
            raise ValueError(f"{user!r} is already a member of {guild!r}")
        member = FakeMember(user=user, guild=guild, roles=list(roles), nick=nick)
        guild.members[user.id] = member
        return member
