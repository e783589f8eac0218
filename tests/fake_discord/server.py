"""``FakeDiscord``: an aiohttp server on 127.0.0.1 speaking enough of Discord's REST API and
gateway for an unmodified discord.py client, plus the driver API tests use to act as users.

The class is put together from one module per responsibility: `state` (the world and its
building), `rest` (plumbing every route shares), `identity` (gateway URLs, users, the
application, READY), `commands` (command sync and invoking them), `messages` (channels and
messages), `direct` (DM channels) and `interactions` (callbacks and webhooks); this module
starts and stops the server, routes requests to those handlers and holds the rest of the
driver API."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

import discord
from aiohttp import web

from .commands import CommandRoutes
from .direct import DirectMessageRoutes
from .gateway import Handshake
from .identity import IdentityRoutes
from .interactions import InteractionRoutes
from .models import (
    MENTION_EVERYONE,
    FakeAttachment,
    FakeChannel,
    FakeGuild,
    FakeMember,
    FakeMessage,
    FakeUser,
    channel_permissions,
)
from .rest import API_PREFIX, DiscordError, RateLimitRule, RecordedRequest, patch_discord_endpoints


class FakeDiscord(InteractionRoutes, CommandRoutes, IdentityRoutes, DirectMessageRoutes):
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
    - ``channel_send_limit``: (messages, seconds) each channel takes, as Discord's (5, 5.0).
    """

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

    async def drop_gateway(self, *, code: int | None = None, resumable: bool = True) -> None:
        """Drops every gateway connection: no close frame (like a network failure) unless
        ``code`` is given. With ``resumable=False`` the next RESUME gets INVALID_SESSION, so the
        client must IDENTIFY again. Events dispatched meanwhile are replayed on RESUME, and lost
        when the session is invalidated (as on Discord)."""
        await self.gateway.drop(code=code, resumable=resumable)

    async def wait_for_reconnect(self, timeout: float = 10.0) -> Handshake:
        """The first successful IDENTIFY or RESUME after the last ``drop_gateway``."""
        return await self.gateway.wait_for_reconnect(timeout)

    # -- routes -------------------------------------------------------------------------------

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
        r.add_post(p + "/users/@me/channels", self._post_dm_channel)
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


__all__ = [
    "DiscordError",
    "FakeDiscord",
    "RateLimitRule",
    "RecordedRequest",
    "patch_discord_endpoints",
]
