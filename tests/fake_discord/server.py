"""``FakeDiscord``: an aiohttp server on 127.0.0.1 speaking enough of Discord's REST API and
gateway for an unmodified discord.py client, plus the driver API tests use to act as users."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import secrets
import time
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NoReturn
from urllib.parse import quote

import discord
import discord.gateway
import discord.http
import yarl
from aiohttp import BodyPartReader, web

from .gateway import (
    INTENT_GUILD_MEMBERS,
    INTENT_GUILD_PRESENCES,
    INTENT_MESSAGE_CONTENT,
    FakeGateway,
    GatewaySession,
    Handshake,
)
from .models import (
    CREATE_PUBLIC_THREADS,
    DEFAULT_EVERYONE_PERMISSIONS,
    EPHEMERAL,
    LOADING,
    MANAGE_MESSAGES,
    MENTION_EVERYONE,
    READ_MESSAGE_HISTORY,
    SEND_MESSAGES,
    SEND_MESSAGES_IN_THREADS,
    VIEW_CHANNEL,
    CallbackAttempt,
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
    Rejection,
    SnowflakeFactory,
    channel_permissions,
)
from .validation import (
    FormErrors,
    is_empty_message,
    validate_choices,
    validate_message,
)

log = logging.getLogger("fake_discord")

API_PREFIX = "/api/v10"
SUPPRESS_EMBEDS = 1 << 2
SUPPRESS_NOTIFICATIONS = 1 << 12
_SENDABLE_FLAGS = SUPPRESS_EMBEDS | SUPPRESS_NOTIFICATIONS
_COMMAND_NAME_RE = re.compile(r"^[-_'\w]{1,32}$")
_FILES_FIELD_RE = re.compile(r"^files\[(\d+)\]$")

# Application flags Discord sets when a privileged intent is enabled in the developer portal.
_APP_FLAG_PRESENCE = 1 << 12
_APP_FLAG_GUILD_MEMBERS = 1 << 14
_APP_FLAG_MESSAGE_CONTENT = 1 << 18

_BODY_KEY = web.RequestKey("fake_discord_body", object)

_ALLOWED_CALLBACKS = {2: (4, 5, 9), 4: (8,)}  # interaction type -> callback types


class DiscordError(Exception):
    """Raised inside handlers; becomes a Discord-shaped JSON error response."""

    def __init__(
        self, status: int, code: int, message: str, errors: FormErrors | None = None
    ) -> None:
        super().__init__(f"{status} {code} {message}")
        self.status = status
        self.code = code
        self.message = message
        self.errors = errors

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"message": self.message, "code": self.code}
        if self.errors:
            body["errors"] = self.errors.tree
        return body


def form_error(errors: FormErrors) -> DiscordError:
    return DiscordError(400, 50035, "Invalid Form Body", errors)


def json_response(
    data: Any, status: int = 200, headers: Mapping[str, str] | None = None
) -> web.Response:
    # Exactly "application/json": discord.py compares the header verbatim, and aiohttp's
    # json_response appends a charset.
    return web.Response(
        status=status,
        body=json.dumps(data).encode(),
        headers={"Content-Type": "application/json", **(headers or {})},
    )


def no_content() -> web.Response:
    return web.Response(status=204)


@dataclass(eq=False)
class UploadedFile:
    index: int
    filename: str
    data: bytes
    content_type: str | None


@dataclass(eq=False)
class RecordedRequest:
    method: str
    path: str  # without the /api/v10 prefix
    route: str  # the route template, e.g. "/channels/{channel_id}/messages"
    status: int
    body: Any
    at: float


@dataclass(eq=False)
class RateLimitRule:
    method: str
    route: str
    remaining: int
    retry_after: float
    is_global: bool
    hits: int = 0


@contextlib.contextmanager
def patch_discord_endpoints(api_base: str, gateway_url: str) -> Iterator[None]:
    """Points discord.py's REST base and default gateway at the fake, restoring them after.

    Both are process-wide class attributes, so only one fake can be active at a time.
    """
    old_base = discord.http.Route.BASE
    old_gateway = discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY
    discord.http.Route.BASE = api_base
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(gateway_url)
    try:
        yield
    finally:
        discord.http.Route.BASE = old_base
        discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = old_gateway


def _intents_value(value: discord.Intents | int) -> int:
    return value.value if isinstance(value, discord.Intents) else int(value)


def _permissions_value(value: discord.Permissions | int | None, default: int = 0) -> int:
    if value is None:
        return default
    return value.value if isinstance(value, discord.Permissions) else int(value)


class FakeDiscord:
    """A fake Discord on 127.0.0.1. Use ``async with FakeDiscord.start(...) as fake:``.

    Options (keyword-only, also accepted by :meth:`start`):

    - ``privileged_intents``: the privileged intents "enabled in the developer portal"
      (``discord.Intents`` or int). Default: none, like a new application; IDENTIFY asking for
      more is closed with 4014.
    - ``interaction_timeout``: seconds to acknowledge an interaction (3.0, as Discord).
    - ``heartbeat_interval_ms``, ``compress_gateway`` (honour ``zlib-stream``),
      ``attachment_size_limit``, ``bot_name``, ``token``.
    - ``fail_on_unknown_routes``: raise at exit if the bot hit an endpoint the fake lacks, or a
      handler crashed (default True).
    """

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
        self.gateway = FakeGateway(
            self, heartbeat_interval_ms=heartbeat_interval_ms, compress=compress_gateway
        )

        self.users: dict[int, FakeUser] = {self.bot_user.id: self.bot_user}
        self.guilds: dict[int, FakeGuild] = {}
        self.channels: dict[int, FakeChannel] = {}
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

        self._runner: web.AppRunner | None = None
        self.port = 0

    # -- lifecycle ----------------------------------------------------------------------------

    @classmethod
    @contextlib.asynccontextmanager
    async def start(cls, **options: Any) -> AsyncIterator[FakeDiscord]:
        """Serves on 127.0.0.1 (a free port), patches discord.py's endpoints, restores them and
        stops after. Raises at exit (if the body did not) when unknown routes were hit."""
        fake = cls(**options)
        await fake._serve()
        try:
            with patch_discord_endpoints(fake.api_base, fake.gateway_url):
                yield fake
        finally:
            await fake.close()
        fake.check_health()

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

    async def _serve(self) -> None:
        app = web.Application(middlewares=[self._middleware], client_max_size=64 * 1024 * 1024)
        self._add_routes(app)
        self._runner = web.AppRunner(app, shutdown_timeout=1.0, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = self._runner.addresses[0][1]

    async def close(self) -> None:
        await self.gateway.close()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    def check_health(self) -> None:
        problems = [f"unknown route: {r}" for r in self.unknown_routes]
        problems += [f"handler crashed: {e}" for e in self.internal_errors]
        if problems and self.fail_on_unknown_routes:
            raise AssertionError("fake_discord: " + "; ".join(problems))

    @contextlib.asynccontextmanager
    async def running(
        self, client: discord.Client, *, ready_timeout: float = 10.0
    ) -> AsyncIterator[discord.Client]:
        """Runs ``client.start(fake.token)`` until ``on_ready``; closes the client on exit.

        If the client fails to start (bad token, 4014 ...), that exception is raised here.
        """
        task = asyncio.create_task(client.start(self.token), name="fake-discord-client")
        try:
            loop = asyncio.get_running_loop()
            deadline = loop.time() + ready_timeout
            while not client.is_ready():
                if task.done():
                    task.result()
                    raise RuntimeError("client.start() returned before the client was ready")
                if loop.time() > deadline:
                    raise AssertionError(
                        f"fake_discord: client not ready after {ready_timeout}s "
                        f"(handshakes={self.gateway.handshakes})"
                    )
                await asyncio.sleep(0.01)
            yield client
        finally:
            if not client.is_closed():
                await client.close()
            done, _ = await asyncio.wait({task}, timeout=5.0)
            if task in done:
                if not task.cancelled():
                    task.exception()  # retrieved; already raised above if it mattered
            else:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task

    # -- world building -----------------------------------------------------------------------

    def add_user(self, name: str, *, bot: bool = False, locale: str = "en-US") -> FakeUser:
        user = FakeUser(id=self.ids.next(), name=name, bot=bot, locale=locale)
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
    ) -> FakeMember:
        """A member (new user unless ``user`` is given, to share one across guilds).

        ``permissions`` creates a role "<name> perms" with them and assigns it.
        """
        if user is None:
            if name is None:
                raise ValueError("add_member needs a name or a user")
            user = self.add_user(name, bot=bot, locale=locale)
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

    # -- recorded data ------------------------------------------------------------------------

    @property
    def bot_messages(self) -> list[FakeMessage]:
        """Everything the bot sent (channel messages, interaction responses, follow-ups)."""
        return [m for m in self.messages if m.author is self.bot_user]

    @property
    def bot_pings(self) -> frozenset[str]:
        """Every ping any bot message asked for (see ``FakeMessage.pinged``)."""
        return frozenset().union(*(m.pinged for m in self.bot_messages))

    def replies_to(self, message: FakeMessage) -> list[FakeMessage]:
        return [m for m in self.messages if m.reference is message]

    def synced_commands(self, guild: FakeGuild | None = None) -> list[dict[str, Any]]:
        return self.commands.get(guild.id if guild else None, [])

    def rate_limit(
        self,
        method: str,
        route: str,
        *,
        count: int = 1,
        retry_after: float = 0.05,
        is_global: bool = False,
    ) -> RateLimitRule:
        """Answers the next ``count`` matching requests with 429 (plus ``Via``, so discord.py
        retries instead of assuming a Cloudflare ban). ``route`` is a template such as
        ``"/channels/{channel_id}/messages"`` or a concrete path, without ``/api/v10``."""
        rule = RateLimitRule(method.upper(), route, count, retry_after, is_global)
        self.rate_limits.append(rule)
        return rule

    async def wait_for_messages(
        self,
        channel: FakeChannel | None = None,
        predicate: Callable[[FakeMessage], bool] | None = None,
        *,
        count: int = 1,
        timeout: float = 5.0,
        after: FakeMessage | None = None,
        from_bot: bool = True,
    ) -> list[FakeMessage]:
        """The first ``count`` recorded messages (by default: the bot's, visible, not deleted,
        not still "thinking") in ``channel`` matching ``predicate``, sent after ``after``."""

        def matching() -> list[FakeMessage]:
            return [
                m
                for m in self.messages
                if (channel is None or m.channel is channel)
                and (not from_bot or m.author is self.bot_user)
                and (after is None or m.id > after.id)
                and not m.deleted
                and not m.loading
                and (predicate is None or predicate(m))
            ]

        def check() -> list[FakeMessage] | None:
            found = matching()
            return found[:count] if len(found) >= count else None

        return await self.notifier.wait_until(
            check,
            timeout,
            lambda: f"wanted {count} message(s), have {matching()}; all: {self.messages[-10:]}",
        )

    # -- acting as users ----------------------------------------------------------------------

    def dispatch(self, event: str, data: dict[str, Any]) -> int:
        """Sends a raw gateway event to every session (for events the driver lacks)."""
        return self.gateway.dispatch(event, data)

    async def send_message(
        self,
        guild: FakeGuild,
        channel: FakeChannel,
        author: FakeMember,
        content: str = "",
        *,
        embeds: Sequence[dict[str, Any]] = (),
        attachments: Sequence[FakeAttachment] = (),
        reply_to: FakeMessage | None = None,
        mention_author: bool = True,
        mentions: Sequence[FakeMember | FakeUser] = (),
    ) -> FakeMessage:
        """A user posts a message; MESSAGE_CREATE goes to the bot.

        Mentions are parsed from ``content`` (``<@id>``) as Discord does; ``mentions`` adds more.
        A reply with ``mention_author`` mentions the replied-to author. Sessions without the
        message_content intent get empty content/embeds/attachments unless the bot is mentioned,
        exactly like Discord.
        """
        if channel.guild is not guild or author.guild is not guild:
            raise ValueError("channel and author must belong to guild")
        msg = FakeMessage(
            id=self.ids.next(),
            channel=channel,
            author=author.user,
            source="user",
            created=time.monotonic(),
            created_ts=time.time(),
            type=19 if reply_to else 0,
            reference=reply_to,
        )
        if reply_to is not None:
            msg.message_reference = {
                "type": 0,
                "message_id": str(reply_to.id),
                "channel_id": str(reply_to.channel.id),
                "guild_id": str(guild.id),
            }
        msg.apply(
            "create",
            content=content,
            embeds=list(embeds),
            flags=0,
            allowed_mentions=None,
            attachments=list(attachments),
            components=[],
            replied_user_id=reply_to.author.id if reply_to and mention_author else None,
        )
        if not channel_permissions(author, channel) & MENTION_EVERYONE:
            # Discord only honours @everyone/@here from members allowed to use them.
            msg.pinged = frozenset(t for t in msg.pinged if not t.startswith("@"))
            msg.mention_everyone = False
        extra = {f"user:{m.id}" for m in mentions}
        msg.pinged = msg.pinged | extra
        msg.mention_users = self._users_from_pings(msg.pinged)
        self._record(msg)
        self._dispatch_message("MESSAGE_CREATE", msg)
        await self.gateway.flush()
        return msg

    async def invoke_slash(
        self,
        guild: FakeGuild,
        member: FakeMember,
        name: str,
        options: Mapping[str, Any] | None = None,
        *,
        channel: FakeChannel | None = None,
        require_synced: bool = True,
    ) -> FakeInteraction:
        """``member`` runs ``/name`` (``"group sub"`` for subcommands) in ``channel`` (default:
        the guild's first text channel). Dispatches INTERACTION_CREATE type 2.

        Option values: str, int, float, bool, FakeMember/FakeUser, FakeRole, FakeChannel,
        FakeAttachment; resolved data is filled in. With ``require_synced`` (default), the
        command must have been synced, and options are checked against its schema like the
        Discord client does (types, required, choices, ranges).
        """
        return await self._invoke(
            2, guild, member, name, options or {}, channel, require_synced, focused=None
        )

    async def invoke_autocomplete(
        self,
        guild: FakeGuild,
        member: FakeMember,
        name: str,
        options: Mapping[str, Any],
        focused: str,
        *,
        channel: FakeChannel | None = None,
        require_synced: bool = True,
    ) -> FakeInteraction:
        """The user is typing option ``focused`` (its value in ``options`` is the typed text).
        Dispatches INTERACTION_CREATE type 4; read ``await inter.wait_for_choices()``."""
        if focused not in options:
            raise ValueError(f"focused option {focused!r} must be in options")
        return await self._invoke(
            4, guild, member, name, options, channel, require_synced, focused=focused
        )

    async def drop_gateway(self, *, code: int | None = None, resumable: bool = True) -> None:
        """Drops every gateway connection: no close frame (like a network failure) unless
        ``code`` is given. With ``resumable=False`` the next RESUME gets INVALID_SESSION, so the
        client must IDENTIFY again. Events dispatched meanwhile are replayed on RESUME, and lost
        when the session is invalidated (as on Discord)."""
        await self.gateway.drop(code=code, resumable=resumable)

    async def wait_for_reconnect(self, timeout: float = 10.0) -> Handshake:
        """The first successful IDENTIFY or RESUME after the last ``drop_gateway``."""
        return await self.gateway.wait_for_reconnect(timeout)

    async def _invoke(
        self,
        type_: int,
        guild: FakeGuild,
        member: FakeMember,
        name: str,
        options: Mapping[str, Any],
        channel: FakeChannel | None,
        require_synced: bool,
        *,
        focused: str | None,
    ) -> FakeInteraction:
        if member.guild is not guild:
            raise ValueError(f"{member!r} is not in {guild!r}")
        channel = channel or guild.default_channel
        if channel.guild is not guild:
            raise ValueError(f"{channel!r} is not in {guild!r}")
        if not self.gateway.sessions:
            raise RuntimeError("fake_discord: no bot session is connected to the gateway")
        path = name.split()
        command, is_guild_command = self._find_command(guild, path[0])
        if command is None and require_synced:
            raise LookupError(
                f"/{path[0]} is not synced for {guild!r} or globally (synced: "
                f"{ {k: [c['name'] for c in v] for k, v in self.commands.items()} }); "
                "Discord users cannot run it. Pass require_synced=False to skip this check."
            )
        resolved: dict[str, dict[str, Any]] = {}
        schema = command.get("options", []) if command is not None else None
        built = self._build_options(member, channel, path, options, schema, resolved, focused)
        data: dict[str, Any] = {
            "id": command["id"] if command else str(self.ids.next()),
            "name": path[0],
            "type": 1,
            "options": built,
        }
        if resolved:
            data["resolved"] = resolved
        if is_guild_command:
            data["guild_id"] = str(guild.id)

        interaction_id = self.ids.next()
        token = f"fake-interaction-{secrets.token_urlsafe(24)}"
        member_perms = channel_permissions(member, channel)
        payload: dict[str, Any] = {
            "id": str(interaction_id),
            "application_id": str(self.application_id),
            "type": type_,
            "data": data,
            "guild_id": str(guild.id),
            "guild": {"id": str(guild.id), "locale": guild.preferred_locale, "features": []},
            "channel_id": str(channel.id),
            "channel": {**channel.payload(), "permissions": str(member_perms)},
            "member": member.payload(permissions=member_perms),
            "token": token,
            "version": 1,
            "app_permissions": str(channel_permissions(self.bot_member(guild), channel)),
            "locale": member.user.locale,
            "guild_locale": guild.preferred_locale,
            "entitlements": [],
            "entitlement_sku_ids": [],
            "authorizing_integration_owners": {"0": str(guild.id)},
            "context": 0,
            "attachment_size_limit": self.attachment_size_limit,
        }
        interaction = FakeInteraction(
            notifier=self.notifier,
            id=interaction_id,
            application_id=self.application_id,
            token=token,
            type=type_,
            name=name,
            member=member,
            channel=channel,
            payload=payload,
        )
        self.interactions[interaction_id] = interaction
        self._interactions_by_token[token] = interaction
        self.gateway.dispatch("INTERACTION_CREATE", payload)
        await self.gateway.flush()
        return interaction

    def _find_command(self, guild: FakeGuild, name: str) -> tuple[dict[str, Any] | None, bool]:
        for scope, is_guild in ((guild.id, True), (None, False)):
            for command in self.commands.get(scope, []):
                if command["name"] == name and command.get("type", 1) == 1:
                    return command, is_guild
        return None, False

    def _build_options(
        self,
        member: FakeMember,
        channel: FakeChannel,
        path: list[str],
        values: Mapping[str, Any],
        schema: list[dict[str, Any]] | None,
        resolved: dict[str, dict[str, Any]],
        focused: str | None,
    ) -> list[dict[str, Any]]:
        if len(path) > 1:
            sub_spec = None
            if schema is not None:
                sub_spec = next(
                    (o for o in schema if o["name"] == path[1] and o["type"] in (1, 2)), None
                )
                if sub_spec is None:
                    raise LookupError(f"no subcommand {path[1]!r} in synced command")
            inner = self._build_options(
                member,
                channel,
                path[1:],
                values,
                sub_spec.get("options", []) if sub_spec else None,
                resolved,
                focused,
            )
            kind = sub_spec["type"] if sub_spec else (2 if len(path) > 2 else 1)
            return [{"name": path[1], "type": kind, "options": inner}]

        by_name = {o["name"]: o for o in schema} if schema is not None else None
        if by_name is not None:
            unknown = set(values) - set(by_name)
            if unknown:
                raise ValueError(f"options {sorted(unknown)} not in synced schema {list(by_name)}")
            if focused is None:
                missing = [n for n, o in by_name.items() if o.get("required") and n not in values]
                if missing:
                    raise ValueError(f"required options missing: {missing}")
        built: list[dict[str, Any]] = []
        for name, value in values.items():
            spec = by_name[name] if by_name is not None else None
            opt_type = spec["type"] if spec else _infer_option_type(value)
            if name == focused:
                # Autocomplete sends what the user has typed so far, as text.
                built.append({"name": name, "type": opt_type, "value": str(value), "focused": True})
                continue
            wire = self._option_value(member, channel, name, opt_type, value, resolved)
            if spec is not None:
                _check_option_constraints(name, spec, value)
            built.append({"name": name, "type": opt_type, "value": wire})
        return built

    def _option_value(
        self,
        member: FakeMember,
        channel: FakeChannel,
        name: str,
        opt_type: int,
        value: Any,
        resolved: dict[str, dict[str, Any]],
    ) -> Any:
        def wrong() -> TypeError:
            return TypeError(f"option {name!r} (type {opt_type}) cannot take {value!r}")

        if opt_type == 3:
            if not isinstance(value, str):
                raise wrong()
            return value
        if opt_type == 4:
            if isinstance(value, bool) or not isinstance(value, int):
                raise wrong()
            return value
        if opt_type == 5:
            if not isinstance(value, bool):
                raise wrong()
            return value
        if opt_type == 10:
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise wrong()
            return value
        if opt_type in (6, 9) and isinstance(value, FakeMember | FakeUser):
            user = value.user if isinstance(value, FakeMember) else value
            resolved.setdefault("users", {})[str(user.id)] = user.payload()
            if isinstance(value, FakeMember):
                perms = channel_permissions(value, channel)
                resolved.setdefault("members", {})[str(user.id)] = value.payload(
                    include_user=False, permissions=perms
                )
            return str(user.id)
        if opt_type in (8, 9) and isinstance(value, FakeRole):
            resolved.setdefault("roles", {})[str(value.id)] = value.payload()
            return str(value.id)
        if opt_type == 7 and isinstance(value, FakeChannel):
            perms = channel_permissions(member, value)
            data = {
                k: v
                for k, v in value.payload().items()
                if k in ("id", "name", "type", "parent_id", "thread_metadata", "guild_id")
            }
            resolved.setdefault("channels", {})[str(value.id)] = {
                **data,
                "permissions": str(perms),
            }
            return str(value.id)
        if opt_type == 11 and isinstance(value, FakeAttachment):
            resolved.setdefault("attachments", {})[str(value.id)] = value.payload()
            return str(value.id)
        raise wrong()

    # -- recording helpers --------------------------------------------------------------------

    def _record(self, msg: FakeMessage) -> None:
        self.messages.append(msg)
        self._messages_by_id[msg.id] = msg
        if msg.channel.is_thread:
            msg.channel.message_count += 1
        self.notifier.notify()

    def _users_from_pings(self, pinged: frozenset[str]) -> list[FakeUser]:
        ids = sorted(int(t[5:]) for t in pinged if t.startswith("user:"))
        return [self.users[i] for i in ids if i in self.users]

    def _dispatch_message(self, event: str, msg: FakeMessage) -> None:
        if msg.ephemeral:
            return  # ephemeral messages never reach the gateway
        full = msg.payload()
        exempt = (
            msg.author is self.bot_user
            or self.bot_user in msg.mention_users
            or msg.interaction is not None
        )

        def for_session(session: GatewaySession) -> dict[str, Any]:
            if exempt or session.intents & INTENT_MESSAGE_CONTENT:
                return full
            # Without the message_content intent Discord blanks these fields, except in
            # messages that mention the bot.
            return {**full, "content": "", "embeds": [], "attachments": [], "components": []}

        self.gateway.dispatch(event, for_session)

    def application_flags(self) -> int:
        flags = 0
        if self.privileged_intents & INTENT_GUILD_PRESENCES:
            flags |= _APP_FLAG_PRESENCE
        if self.privileged_intents & INTENT_GUILD_MEMBERS:
            flags |= _APP_FLAG_GUILD_MEMBERS
        if self.privileged_intents & INTENT_MESSAGE_CONTENT:
            flags |= _APP_FLAG_MESSAGE_CONTENT
        return flags

    def ready_payload(self, session: GatewaySession) -> dict[str, Any]:
        data: dict[str, Any] = {
            "v": 10,
            "user": {**self.bot_user.payload(), "verified": True, "mfa_enabled": False},
            "guilds": [{"id": str(g), "unavailable": True} for g in self.guilds],
            "session_id": session.id,
            "session_type": "normal",
            "resume_gateway_url": self.resume_gateway_url,
            "application": {"id": str(self.application_id), "flags": self.application_flags()},
            "private_channels": [],
            "relationships": [],
            "presences": [],
            "guild_join_requests": [],
            "geo_ordered_rtc_regions": ["fake"],
            "user_settings": {},
            "auth": {},
            "_trace": ["fake-discord"],
        }
        if session.shard is not None:
            data["shard"] = session.shard
        return data

    # -- HTTP plumbing ------------------------------------------------------------------------

    def _add_routes(self, app: web.Application) -> None:
        p = API_PREFIX
        r = app.router
        r.add_get("/gateway/", self.gateway.handle)
        r.add_get("/resume-gateway/", self.gateway.handle)
        r.add_get("/attachments/{attachment_id}/{filename}", self._get_attachment)
        r.add_get(p + "/gateway", self._get_gateway)
        r.add_get(p + "/gateway/bot", self._get_gateway_bot)
        r.add_get(p + "/users/@me", self._get_me)
        r.add_get(p + "/users/{user_id}", self._get_user)
        r.add_get(p + "/oauth2/applications/@me", self._get_application)
        r.add_get(p + "/applications/@me", self._get_application)
        r.add_get(p + "/applications/{application_id}/commands", self._get_commands)
        r.add_put(p + "/applications/{application_id}/commands", self._put_commands)
        guild_commands = p + "/applications/{application_id}/guilds/{guild_id}/commands"
        r.add_get(guild_commands, self._get_commands)
        r.add_put(guild_commands, self._put_commands)
        r.add_get(p + "/guilds/{guild_id}/members/{user_id}", self._get_member)
        r.add_get(p + "/channels/{channel_id}", self._get_channel)
        r.add_get(p + "/channels/{channel_id}/messages", self._get_messages)
        r.add_post(p + "/channels/{channel_id}/messages", self._post_message)
        message = p + "/channels/{channel_id}/messages/{message_id}"
        r.add_get(message, self._get_message)
        r.add_patch(message, self._patch_message)
        r.add_delete(message, self._delete_message)
        r.add_post(message + "/threads", self._post_thread)
        reaction = message + "/reactions/{emoji}/@me"
        r.add_put(reaction, self._put_reaction)
        r.add_delete(reaction, self._delete_reaction)
        r.add_post(p + "/channels/{channel_id}/typing", self._post_typing)
        r.add_post(p + "/interactions/{interaction_id}/{token}/callback", self._post_callback)
        webhook = p + "/webhooks/{application_id}/{token}"
        r.add_post(webhook, self._post_followup)
        r.add_get(webhook + "/messages/{message_id}", self._get_webhook_message)
        r.add_patch(webhook + "/messages/{message_id}", self._patch_webhook_message)
        r.add_delete(webhook + "/messages/{message_id}", self._delete_webhook_message)
        r.add_route("*", "/{tail:.*}", self._unknown_route)

    @web.middleware
    async def _middleware(
        self, request: web.Request, handler: Callable[[web.Request], Any]
    ) -> web.StreamResponse:
        resource = request.match_info.route.resource
        template = resource.canonical if resource is not None else request.path
        path = request.path.removeprefix(API_PREFIX)
        route = template.removeprefix(API_PREFIX)
        response: web.StreamResponse
        try:
            self._check_auth(request, path)
            limited = self._take_rate_limit(request.method, route, path)
            response = limited if limited is not None else await handler(request)
        except DiscordError as exc:
            if exc.status >= 500 or exc.code == 0:
                log.warning("fake_discord: %s %s -> %s", request.method, path, exc)
            response = json_response(exc.body(), exc.status)
        except Exception as exc:
            # A 5xx would make discord.py retry for ~25 s; answer 400 and fail at exit instead.
            log.exception("fake_discord: handler for %s %s crashed", request.method, path)
            self.internal_errors.append(f"{request.method} {path}: {exc!r}")
            response = json_response(
                {"message": f"fake_discord internal error: {exc!r}", "code": 0}, 400
            )
        if not request.path.startswith(("/gateway/", "/resume-gateway/")):
            self.requests.append(
                RecordedRequest(
                    request.method,
                    path,
                    route,
                    response.status,
                    request.get(_BODY_KEY),
                    time.monotonic(),
                )
            )
        return response

    def _check_auth(self, request: web.Request, path: str) -> None:
        if not request.path.startswith(API_PREFIX):
            return
        # Interaction callbacks and webhooks are authenticated by their token, not the bot's.
        if path.startswith(("/interactions/", "/webhooks/")):
            return
        if request.headers.get("Authorization") != f"Bot {self.token}":
            raise DiscordError(401, 0, "401: Unauthorized")

    def _take_rate_limit(self, method: str, route: str, path: str) -> web.Response | None:
        for rule in self.rate_limits:
            if rule.remaining <= 0 or rule.method not in (method, "*"):
                continue
            if rule.route not in (route, path):
                continue
            rule.remaining -= 1
            rule.hits += 1
            headers = {
                "Via": "1.1 google",  # without it discord.py assumes a Cloudflare ban
                "Retry-After": str(max(1, round(rule.retry_after))),
                "X-RateLimit-Limit": "5",
                "X-RateLimit-Remaining": "0",
                "X-RateLimit-Reset-After": str(rule.retry_after),
                "X-RateLimit-Scope": "global" if rule.is_global else "user",
            }
            if rule.is_global:
                headers["X-RateLimit-Global"] = "true"
            body = {
                "message": "You are being rate limited.",
                "retry_after": rule.retry_after,
                "global": rule.is_global,
            }
            return json_response(body, 429, headers)
        return None

    async def _unknown_route(self, request: web.Request) -> web.Response:
        entry = f"{request.method} {request.path}"
        self.unknown_routes.append(entry)
        log.error(
            "fake_discord: UNHANDLED ROUTE %s -- the bot called an endpoint the fake does not "
            "implement; add it to tests/fake_discord/server.py",
            entry,
        )
        return json_response({"message": "404: Not Found", "code": 0}, 404)

    async def _read_body(self, request: web.Request) -> tuple[Any, list[UploadedFile]]:
        files: list[UploadedFile] = []
        payload: Any = {}
        if request.content_type.startswith("multipart/"):
            reader = await request.multipart()
            async for part in reader:
                if not isinstance(part, BodyPartReader):
                    continue
                field_name = part.name or ""
                if field_name == "payload_json":
                    payload = json.loads(await part.text())
                    continue
                match = _FILES_FIELD_RE.match(field_name)
                if part.filename is not None:
                    files.append(
                        UploadedFile(
                            index=int(match.group(1)) if match else len(files),
                            filename=part.filename,
                            data=bytes(await part.read()),
                            content_type=part.headers.get("Content-Type"),
                        )
                    )
                else:
                    payload[field_name] = await part.text()
        elif request.can_read_body:
            text = await request.text()
            payload = json.loads(text) if text else {}
        request[_BODY_KEY] = payload
        total = sum(len(f.data) for f in files)
        if total > self.attachment_size_limit:
            raise DiscordError(413, 40005, "Request entity too large")
        return payload, files

    # -- lookups ------------------------------------------------------------------------------

    def _channel(self, request: web.Request) -> FakeChannel:
        channel = self.channels.get(_int(request.match_info["channel_id"]))
        if channel is None:
            raise DiscordError(404, 10003, "Unknown Channel")
        perms = channel_permissions(self.bot_member(channel.guild), channel)
        if not perms & VIEW_CHANNEL:
            raise DiscordError(403, 50001, "Missing Access")
        return channel

    def _channel_message(self, request: web.Request, channel: FakeChannel) -> FakeMessage:
        msg = self._messages_by_id.get(_int(request.match_info["message_id"]))
        if msg is None or msg.channel is not channel or msg.deleted or msg.ephemeral:
            raise DiscordError(404, 10008, "Unknown Message")
        return msg

    def _interaction_for_webhook(self, request: web.Request) -> FakeInteraction:
        inter = self._interactions_by_token.get(request.match_info["token"])
        if inter is None or _int(request.match_info["application_id"]) != self.application_id:
            raise DiscordError(404, 10015, "Unknown Webhook")
        if inter.age() > self.interaction_token_ttl:
            raise DiscordError(401, 50027, "Invalid Webhook Token")
        if not inter.acknowledged:
            # Follow-ups and edits only exist once the interaction has been responded to.
            self._reject(inter, request, DiscordError(404, 10015, "Unknown Webhook"))
        return inter

    def _reject(
        self, inter: FakeInteraction, request: web.Request, error: DiscordError
    ) -> NoReturn:
        inter.rejections.append(
            Rejection(
                request.method,
                request.path.removeprefix(API_PREFIX),
                error.status,
                error.code,
                error.message,
                inter.age(),
            )
        )
        self.notifier.notify()
        raise error

    def _check_app(self, request: web.Request) -> None:
        if _int(request.match_info["application_id"]) != self.application_id:
            raise DiscordError(403, 50001, "Missing Access")

    # -- message building ---------------------------------------------------------------------

    def _attachments(
        self,
        listed: Any,
        files: list[UploadedFile],
        existing: Sequence[FakeAttachment],
    ) -> list[FakeAttachment]:
        uploaded = {f.index: self._store_upload(f) for f in files}
        if listed is None:
            return [*existing, *uploaded.values()]
        keep: list[FakeAttachment] = []
        by_id = {a.id: a for a in existing}
        for item in listed:
            ref = _int(item.get("id", -1))
            if ref in uploaded:
                attachment = uploaded.pop(ref)
                attachment.description = item.get("description")
                keep.append(attachment)
            elif ref in by_id:
                keep.append(by_id[ref])
        return keep + list(uploaded.values())

    def _store_upload(self, upload: UploadedFile) -> FakeAttachment:
        return self.add_attachment(upload.filename, upload.data, content_type=upload.content_type)

    def _validate(self, payload: Mapping[str, Any], prefix: Sequence[str] = ()) -> None:
        errors = FormErrors()
        validate_message(payload, errors, prefix)
        if errors:
            raise form_error(errors)

    def _create_message(
        self,
        *,
        channel: FakeChannel,
        source: str,
        payload: Mapping[str, Any],
        files: list[UploadedFile],
        flags: int,
        interaction: FakeInteraction | None = None,
        reference: FakeMessage | None = None,
        message_reference: dict[str, Any] | None = None,
        type_: int = 0,
    ) -> FakeMessage:
        attachments = self._attachments(payload.get("attachments"), files, [])
        if is_empty_message(payload, len(attachments)) and not flags & LOADING:
            raise DiscordError(400, 50006, "Cannot send an empty message")
        msg = FakeMessage(
            id=self.ids.next(),
            channel=channel,
            author=self.bot_user,
            source=source,
            created=time.monotonic(),
            created_ts=time.time(),
            tts=bool(payload.get("tts")),
            type=type_,
            nonce=payload.get("nonce"),
            reference=reference,
            message_reference=message_reference,
            interaction=interaction,
        )
        msg.apply(
            "create",
            content=payload.get("content") or "",
            embeds=list(payload.get("embeds") or []),
            flags=flags,
            allowed_mentions=payload.get("allowed_mentions"),
            attachments=attachments,
            components=list(payload.get("components") or []),
            replied_user_id=reference.author.id if reference else None,
        )
        msg.mention_users = self._users_from_pings(msg.pinged)
        self._record(msg)
        self._dispatch_message("MESSAGE_CREATE", msg)
        return msg

    def _edit_message(
        self,
        msg: FakeMessage,
        payload: Mapping[str, Any],
        files: list[UploadedFile],
        *,
        kind: str = "edit",
        flags: int | None = None,
    ) -> FakeMessage:
        # Absent keys keep the current value; explicit nulls clear it, as on Discord.
        content = payload.get("content", msg.content)
        embeds = payload.get("embeds", msg.embeds)
        components = payload.get("components", msg.components)
        attachments = self._attachments(payload.get("attachments"), files, msg.attachments)
        merged = {"content": content, "embeds": embeds, "components": components}
        if is_empty_message(merged, len(attachments)):
            raise DiscordError(400, 50006, "Cannot send an empty message")
        if flags is None:
            # Ephemerality is fixed at creation; edits may only toggle the sendable flags.
            sendable = payload.get("flags") or 0 if "flags" in payload else msg.flags
            flags = (msg.flags & EPHEMERAL) | (sendable & _SENDABLE_FLAGS)
        msg.apply(
            kind,
            content=content or "",
            embeds=list(embeds or []),
            flags=flags,
            allowed_mentions=payload.get("allowed_mentions"),
            attachments=attachments,
            components=list(components or []),
        )
        msg.mention_users = self._users_from_pings(msg.pinged)
        self.notifier.notify()
        self._dispatch_message("MESSAGE_UPDATE", msg)
        return msg

    def _delete(self, msg: FakeMessage) -> None:
        msg.deleted = True
        self.notifier.notify()
        if not msg.ephemeral:
            self.gateway.dispatch(
                "MESSAGE_DELETE",
                {
                    "id": str(msg.id),
                    "channel_id": str(msg.channel.id),
                    "guild_id": str(msg.guild.id),
                },
            )

    # -- REST: identity -----------------------------------------------------------------------

    async def _get_gateway(self, request: web.Request) -> web.Response:
        return json_response({"url": self.gateway_url.rstrip("/")})

    async def _get_gateway_bot(self, request: web.Request) -> web.Response:
        return json_response(
            {
                "url": self.gateway_url.rstrip("/"),
                "shards": 1,
                "session_start_limit": {
                    "total": 1000,
                    "remaining": 999,
                    "reset_after": 14_400_000,
                    "max_concurrency": 1,
                },
            }
        )

    async def _get_me(self, request: web.Request) -> web.Response:
        return json_response(
            {**self.bot_user.payload(), "verified": True, "mfa_enabled": False, "email": None}
        )

    async def _get_user(self, request: web.Request) -> web.Response:
        user = self.users.get(_int(request.match_info["user_id"]))
        if user is None:
            raise DiscordError(404, 10013, "Unknown User")
        return json_response(user.payload())

    async def _get_application(self, request: web.Request) -> web.Response:
        return json_response(
            {
                "id": str(self.application_id),
                "name": self.bot_user.name,
                "icon": None,
                "description": "",
                "summary": "",
                "type": None,
                "rpc_origins": [],
                "bot_public": True,
                "bot_require_code_grant": False,
                "bot": self.bot_user.payload(),
                "owner": self.owner_user.payload(),
                "team": None,
                "verify_key": "0" * 64,
                "flags": self.application_flags(),
                "tags": [],
                "redirect_uris": [],
                "interactions_endpoint_url": None,
                "role_connections_verification_url": None,
                "approximate_guild_count": len(self.guilds),
                "integration_types_config": {"0": {}},
            }
        )

    # -- REST: application commands -----------------------------------------------------------

    def _command_scope(self, request: web.Request) -> int | None:
        self._check_app(request)
        if "guild_id" not in request.match_info:
            return None
        guild_id = _int(request.match_info["guild_id"])
        if guild_id not in self.guilds:
            raise DiscordError(404, 10004, "Unknown Guild")
        return guild_id

    async def _get_commands(self, request: web.Request) -> web.Response:
        return json_response(self.commands.get(self._command_scope(request), []))

    async def _put_commands(self, request: web.Request) -> web.Response:
        scope = self._command_scope(request)
        body, _ = await self._read_body(request)
        if not isinstance(body, list):
            raise form_error(_single_error([], "BASE_TYPE_ARRAY", "Must be an array."))
        errors = FormErrors()
        _validate_commands(body, errors)
        if errors:
            raise form_error(errors)
        stored = []
        for command in body:
            kind = command.get("type", 1)
            key = (scope, command["name"], kind)
            # Discord keeps a command's id across syncs when name and type are unchanged.
            command_id = self._command_ids.setdefault(key, self.ids.next())
            entry = {
                "description": "",
                "options": [],
                "default_member_permissions": None,
                "dm_permission": True,
                "nsfw": False,
                "contexts": None,
                "integration_types": [0],
                **command,
                "id": str(command_id),
                "application_id": str(self.application_id),
                "version": str(self.ids.next()),
                "type": kind,
            }
            if scope is not None:
                entry["guild_id"] = str(scope)
            stored.append(entry)
        self.commands[scope] = stored
        self.command_syncs.append(scope)
        self.notifier.notify()
        return json_response(stored)

    # -- REST: guilds, channels, messages -----------------------------------------------------

    async def _get_member(self, request: web.Request) -> web.Response:
        guild = self.guilds.get(_int(request.match_info["guild_id"]))
        if guild is None:
            raise DiscordError(404, 10004, "Unknown Guild")
        member = guild.members.get(_int(request.match_info["user_id"]))
        if member is None:
            raise DiscordError(404, 10007, "Unknown Member")
        return json_response(member.payload())

    async def _get_channel(self, request: web.Request) -> web.Response:
        return json_response(self._channel(request).payload())

    async def _get_messages(self, request: web.Request) -> web.Response:
        channel = self._channel(request)
        limit = min(int(request.query.get("limit", 50)), 100)
        before = _int(request.query.get("before", "0")) or None
        after = _int(request.query.get("after", "0")) or None
        found = [
            m
            for m in self.messages
            if m.channel is channel
            and not m.deleted
            and not m.ephemeral
            and (before is None or m.id < before)
            and (after is None or m.id > after)
        ]
        found.sort(key=lambda m: m.id, reverse=after is None)
        return json_response([m.payload() for m in found[:limit]])

    async def _get_message(self, request: web.Request) -> web.Response:
        channel = self._channel(request)
        return json_response(self._channel_message(request, channel).payload())

    async def _post_message(self, request: web.Request) -> web.Response:
        channel = self._channel(request)
        perms = channel_permissions(self.bot_member(channel.guild), channel)
        send = SEND_MESSAGES_IN_THREADS if channel.is_thread else SEND_MESSAGES
        if not perms & send:
            raise DiscordError(403, 50013, "Missing Permissions")
        payload, files = await self._read_body(request)
        self._validate(payload)
        message_reference = payload.get("message_reference")
        reference = None
        if message_reference is not None and message_reference.get("type", 0) == 0:
            if not perms & READ_MESSAGE_HISTORY:
                raise DiscordError(403, 50013, "Missing Permissions")
            reference = self._messages_by_id.get(_int(message_reference.get("message_id", 0)))
            if reference is None or reference.channel is not channel or reference.deleted:
                reference = None
                if message_reference.get("fail_if_not_exists", True):
                    raise form_error(
                        _single_error(
                            ["message_reference"], "REPLIES_UNKNOWN_MESSAGE", "Unknown message"
                        )
                    )
        msg = self._create_message(
            channel=channel,
            source="channel",
            payload=payload,
            files=files,
            flags=(payload.get("flags") or 0) & _SENDABLE_FLAGS,
            reference=reference,
            message_reference=(
                {
                    "type": 0,
                    "message_id": str(reference.id),
                    "channel_id": str(channel.id),
                    "guild_id": str(channel.guild.id),
                }
                if reference
                else None
            ),
            type_=19 if reference else 0,
        )
        return json_response(msg.payload())

    async def _patch_message(self, request: web.Request) -> web.Response:
        channel = self._channel(request)
        msg = self._channel_message(request, channel)
        if msg.author is not self.bot_user:
            raise DiscordError(403, 50005, "Cannot edit a message authored by another user")
        payload, files = await self._read_body(request)
        self._validate(payload)
        return json_response(self._edit_message(msg, payload, files).payload())

    async def _delete_message(self, request: web.Request) -> web.Response:
        channel = self._channel(request)
        msg = self._channel_message(request, channel)
        perms = channel_permissions(self.bot_member(channel.guild), channel)
        if msg.author is not self.bot_user and not perms & MANAGE_MESSAGES:
            raise DiscordError(403, 50013, "Missing Permissions")
        self._delete(msg)
        return no_content()

    async def _post_thread(self, request: web.Request) -> web.Response:
        channel = self._channel(request)
        msg = self._channel_message(request, channel)
        if channel.type not in (0, 5):
            raise DiscordError(400, 50024, "Cannot execute action on this channel type")
        if not channel_permissions(self.bot_member(channel.guild), channel) & (
            CREATE_PUBLIC_THREADS
        ):
            raise DiscordError(403, 50013, "Missing Permissions")
        if msg.thread is not None:
            raise DiscordError(400, 160004, "A thread has already been created for this message")
        payload, _ = await self._read_body(request)
        name = payload.get("name")
        if not isinstance(name, str) or not 1 <= len(name) <= 100:
            raise form_error(
                _single_error(
                    ["name"], "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 100 in length."
                )
            )
        # Discord gives a thread started from a message the message's id.
        thread = FakeChannel(
            id=msg.id,
            guild=channel.guild,
            name=name,
            type=11,
            parent=channel,
            owner_id=self.bot_user.id,
        )
        channel.guild.channels[thread.id] = thread
        self.channels[thread.id] = thread
        msg.thread = thread
        self.notifier.notify()
        self.gateway.dispatch("THREAD_CREATE", {**thread.payload(), "newly_created": True})
        return json_response(thread.payload(), 201)

    async def _put_reaction(self, request: web.Request) -> web.Response:
        channel = self._channel(request)
        msg = self._channel_message(request, channel)
        msg.reactions.append(request.match_info["emoji"])
        self.notifier.notify()
        return no_content()

    async def _delete_reaction(self, request: web.Request) -> web.Response:
        channel = self._channel(request)
        msg = self._channel_message(request, channel)
        emoji = request.match_info["emoji"]
        if emoji in msg.reactions:
            msg.reactions.remove(emoji)
        return no_content()

    async def _post_typing(self, request: web.Request) -> web.Response:
        self.typing.append((self._channel(request), time.monotonic()))
        self.notifier.notify()
        return no_content()

    async def _get_attachment(self, request: web.Request) -> web.Response:
        attachment = self.attachments.get(_int(request.match_info["attachment_id"]))
        if attachment is None or request.match_info["filename"] != attachment.filename:
            return web.Response(status=404, text="Not Found")
        return web.Response(
            body=attachment.data,
            headers={"Content-Type": attachment.content_type or "application/octet-stream"},
        )

    # -- REST: interactions and their webhooks ------------------------------------------------

    async def _post_callback(self, request: web.Request) -> web.StreamResponse:
        inter = self.interactions.get(_int(request.match_info["interaction_id"]))
        if inter is None or inter.token != request.match_info["token"]:
            raise DiscordError(404, 10062, "Unknown interaction")
        body, files = await self._read_body(request)
        elapsed = inter.age()
        response_type = body.get("type") if isinstance(body, dict) else None
        data = body.get("data") if isinstance(body, dict) else None
        attempt = CallbackAttempt(type=response_type or 0, data=data, elapsed=elapsed, status=0)
        inter.callbacks.append(attempt)
        try:
            result = self._handle_callback(inter, request, response_type, data or {}, files)
        except DiscordError as exc:
            attempt.status = exc.status
            raise
        attempt.status = 200
        inter.response_type = response_type
        inter.acknowledged_at = elapsed
        self.notifier.notify()
        if request.query.get("with_response", "").lower() not in ("1", "true"):
            return no_content()
        return json_response(result)

    def _handle_callback(
        self,
        inter: FakeInteraction,
        request: web.Request,
        response_type: Any,
        data: dict[str, Any],
        files: list[UploadedFile],
    ) -> dict[str, Any]:
        if inter.acknowledged:
            self._reject(
                inter,
                request,
                DiscordError(400, 40060, "Interaction has already been acknowledged."),
            )
        if inter.age() > self.interaction_timeout:
            self._reject(inter, request, DiscordError(404, 10062, "Unknown interaction"))
        if response_type not in _ALLOWED_CALLBACKS.get(inter.type, ()):
            self._reject(
                inter,
                request,
                form_error(
                    _single_error(
                        ["type"],
                        "INTERACTION_RESPONSE_TYPE_INVALID",
                        f"Invalid response type {response_type} for interaction type {inter.type}",
                    )
                ),
            )
        message: FakeMessage | None = None
        if response_type == 4:
            try:
                self._validate(data, ["data"])
                message = self._create_message(
                    channel=inter.channel,
                    source="interaction_response",
                    payload=data,
                    files=files,
                    flags=(data.get("flags") or 0) & (EPHEMERAL | _SENDABLE_FLAGS),
                    interaction=inter,
                    type_=20,
                )
            except DiscordError as exc:
                self._reject(inter, request, exc)
            inter.original = message
        elif response_type == 5:
            flags = LOADING | ((data.get("flags") or 0) & EPHEMERAL)
            message = self._create_message(
                channel=inter.channel,
                source="interaction_response",
                payload={},
                files=[],
                flags=flags,
                interaction=inter,
                type_=20,
            )
            inter.original = message
        elif response_type == 8:
            errors = FormErrors()
            validate_choices(data.get("choices"), errors)
            if errors:
                self._reject(inter, request, form_error(errors))
            inter.choices = list(data["choices"])
        elif response_type == 9:
            inter.modal = data
        result: dict[str, Any] = {
            "interaction": {
                "id": str(inter.id),
                "type": inter.type,
                "response_message_id": str(message.id) if message else None,
                "response_message_loading": response_type == 5,
                "response_message_ephemeral": bool(message and message.ephemeral),
            },
            "resource": {"type": response_type},
        }
        if message is not None:
            result["resource"]["message"] = message.payload(with_member=False)
        return result

    async def _post_followup(self, request: web.Request) -> web.Response:
        inter = self._interaction_for_webhook(request)
        payload, files = await self._read_body(request)
        try:
            self._validate(payload)
        except DiscordError as exc:
            self._reject(inter, request, exc)
        original = inter.original
        try:
            if inter.deferred and original is not None and original.loading:
                # As on Discord, the first follow-up after a defer replaces the "thinking"
                # message, keeping the defer's ephemerality.
                extra = (payload.get("flags") or 0) & _SENDABLE_FLAGS
                keep = original.flags & EPHEMERAL
                msg = self._edit_message(
                    original, payload, files, kind="followup", flags=keep | extra
                )
            else:
                msg = self._create_message(
                    channel=inter.channel,
                    source="followup",
                    payload=payload,
                    files=files,
                    flags=(payload.get("flags") or 0) & (EPHEMERAL | _SENDABLE_FLAGS),
                    interaction=inter,
                )
                inter.followups.append(msg)
        except DiscordError as exc:
            self._reject(inter, request, exc)
        self.notifier.notify()
        if request.query.get("wait", "").lower() in ("1", "true"):
            return json_response(msg.payload(with_member=False))
        return no_content()

    def _webhook_message(self, request: web.Request, inter: FakeInteraction) -> FakeMessage:
        message_id = request.match_info["message_id"]
        if message_id == "@original":
            msg = inter.original
        else:
            msg = next((m for m in inter.messages if str(m.id) == message_id), None)
        if msg is None or msg.deleted:
            self._reject(inter, request, DiscordError(404, 10008, "Unknown Message"))
        return msg

    async def _get_webhook_message(self, request: web.Request) -> web.Response:
        inter = self._interaction_for_webhook(request)
        return json_response(self._webhook_message(request, inter).payload(with_member=False))

    async def _patch_webhook_message(self, request: web.Request) -> web.Response:
        inter = self._interaction_for_webhook(request)
        msg = self._webhook_message(request, inter)
        payload, files = await self._read_body(request)
        try:
            self._validate(payload)
            self._edit_message(msg, payload, files)
        except DiscordError as exc:
            self._reject(inter, request, exc)
        return json_response(msg.payload(with_member=False))

    async def _delete_webhook_message(self, request: web.Request) -> web.Response:
        inter = self._interaction_for_webhook(request)
        self._delete(self._webhook_message(request, inter))
        return no_content()


def _int(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return -1


def _single_error(path: list[str | int], code: str, message: str) -> FormErrors:
    errors = FormErrors()
    errors.add(path, code, message)
    return errors


def _infer_option_type(value: Any) -> int:
    if isinstance(value, bool):
        return 5
    if isinstance(value, int):
        return 4
    if isinstance(value, float):
        return 10
    if isinstance(value, str):
        return 3
    if isinstance(value, FakeMember | FakeUser):
        return 6
    if isinstance(value, FakeChannel):
        return 7
    if isinstance(value, FakeRole):
        return 8
    if isinstance(value, FakeAttachment):
        return 11
    raise TypeError(f"cannot infer an option type for {value!r}")


def _check_option_constraints(name: str, spec: Mapping[str, Any], value: Any) -> None:
    """What the Discord client enforces before sending an interaction."""
    choices = spec.get("choices")
    if choices and value not in [c["value"] for c in choices]:
        raise ValueError(f"option {name!r}: {value!r} is not one of the choices {choices}")
    if isinstance(value, str):
        if spec.get("min_length") is not None and len(value) < spec["min_length"]:
            raise ValueError(f"option {name!r} shorter than min_length {spec['min_length']}")
        if spec.get("max_length") is not None and len(value) > spec["max_length"]:
            raise ValueError(f"option {name!r} longer than max_length {spec['max_length']}")
    elif isinstance(value, int | float) and not isinstance(value, bool):
        if spec.get("min_value") is not None and value < spec["min_value"]:
            raise ValueError(f"option {name!r} below min_value {spec['min_value']}")
        if spec.get("max_value") is not None and value > spec["max_value"]:
            raise ValueError(f"option {name!r} above max_value {spec['max_value']}")
    channel_types = spec.get("channel_types")
    if isinstance(value, FakeChannel) and channel_types and value.type not in channel_types:
        raise ValueError(f"option {name!r}: channel type {value.type} not allowed")


def _validate_commands(commands: list[Any], errors: FormErrors) -> None:
    """A subset of Discord's command checks (discord.py validates most of it locally)."""
    seen: set[tuple[str, int]] = set()
    for i, command in enumerate(commands):
        name = command.get("name")
        kind = command.get("type", 1)
        if not isinstance(name, str) or not _COMMAND_NAME_RE.match(name):
            errors.add([i, "name"], "APPLICATION_COMMAND_INVALID_NAME", "Command name is invalid")
            continue
        if kind == 1 and name != name.lower():
            errors.add([i, "name"], "APPLICATION_COMMAND_INVALID_NAME", "Command name is invalid")
        if (name, kind) in seen:
            errors.add(
                [i, "name"],
                "APPLICATION_COMMANDS_DUPLICATE_NAME",
                f"Application command names must be unique: {name}",
            )
        seen.add((name, kind))
        description = command.get("description", "")
        if kind == 1 and not 1 <= len(description) <= 100:
            errors.add(
                [i, "description"],
                "BASE_TYPE_BAD_LENGTH",
                "Must be between 1 and 100 in length.",
            )
        options = command.get("options") or []
        if len(options) > 25:
            errors.add([i, "options"], "BASE_TYPE_MAX_LENGTH", "Must be 25 or fewer in length.")
        seen_optional = False
        for j, option in enumerate(options):
            if option.get("type") in (1, 2):
                continue
            if option.get("required"):
                if seen_optional:
                    errors.add(
                        [i, "options", j, "required"],
                        "APPLICATION_COMMAND_OPTIONS_REQUIRED_INVALID",
                        "Required options must be placed before non-required options",
                    )
            else:
                seen_optional = True


__all__ = [
    "DiscordError",
    "FakeDiscord",
    "RateLimitRule",
    "RecordedRequest",
    "patch_discord_endpoints",
]
