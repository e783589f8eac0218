"""Channels and messages: the REST routes the bot uses on them (send, edit, delete, read
history, threads, reactions, typing, members, attachments) with Discord's permission checks
(in DM channels: whether the user takes the bot's DMs), and nonce check, scripted outages,
and how every message (the bot's or a user's) is built, recorded and dispatched to the
gateway (blanked for sessions without the message_content intent)."""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Mapping, Sequence
from typing import Any

import discord
from aiohttp import web

from .gateway import (
    INTENT_DIRECT_MESSAGES,
    INTENT_MESSAGE_CONTENT,
    GatewaySession,
)
from .models import (
    CREATE_PUBLIC_THREADS,
    DM_PERMISSIONS,
    EPHEMERAL,
    LOADING,
    MANAGE_MESSAGES,
    READ_MESSAGE_HISTORY,
    SEND_MESSAGES,
    SEND_MESSAGES_IN_THREADS,
    VIEW_CHANNEL,
    FakeAttachment,
    FakeChannel,
    FakeInteraction,
    FakeMessage,
    FakeUser,
    channel_permissions,
)
from .rest import (
    DiscordError,
    RestPlumbing,
    SendOutage,
    UploadedFile,
    form_error,
    json_response,
    no_content,
    parse_id,
    single_error,
)
from .validation import (
    FormErrors,
    is_empty_message,
    validate_message,
)

SUPPRESS_EMBEDS = 1 << 2
SUPPRESS_NOTIFICATIONS = 1 << 12
# The flags a bot may set on a message it sends or edits.
SENDABLE_FLAGS = SUPPRESS_EMBEDS | SUPPRESS_NOTIFICATIONS
EMBED_LINKS = discord.Permissions(embed_links=True).value
SERVER_ERRORS = {500: "500: Internal Server Error", 503: "503: Service Unavailable"}


class MessageRoutes(RestPlumbing):
    """Channel and message routes, and the message records they and the driver share."""

    # -- driver -------------------------------------------------------------------------------

    def fail_sends(
        self, channel: FakeChannel, count: int, *, status: int = 503, after: int = 0
    ) -> SendOutage:
        """An outage: after ``after`` more sends to ``channel`` succeed, its next ``count``
        message sends answer ``status`` (503 Service Unavailable, or 500 Internal Server
        Error, which discord.py retries itself, waiting 1, 3, 5, 7 s) and create nothing."""
        if status not in SERVER_ERRORS:
            raise ValueError(f"status must be one of {sorted(SERVER_ERRORS)}")
        outage = SendOutage(status, count, let_through=after)
        self.send_outages[channel.id] = outage
        return outage

    # -- recording ----------------------------------------------------------------------------

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
            or msg.channel.is_dm  # the message_content intent never blanks DMs
        )

        def for_session(session: GatewaySession) -> dict[str, Any]:
            if exempt or session.intents & INTENT_MESSAGE_CONTENT:
                return full
            # Without the message_content intent Discord blanks these fields, except in
            # messages that mention the bot.
            return {**full, "content": "", "embeds": [], "attachments": [], "components": []}

        # Direct messages come with the direct-messages intent, not the guild-messages one.
        intents = INTENT_DIRECT_MESSAGES if msg.channel.is_dm else None
        self.gateway.dispatch(event, for_session, intents=intents)

    # -- message building ---------------------------------------------------------------------

    def _bot_permissions(self, channel: FakeChannel) -> int:
        """The bot's permissions in a channel; in a DM, all that a DM has (no roles there)."""
        if channel.is_dm:
            return DM_PERMISSIONS
        return channel_permissions(self.bot_member(channel.server), channel)

    def _channel(self, request: web.Request) -> FakeChannel:
        channel = self.channels.get(parse_id(request.match_info["channel_id"]))
        if channel is None:
            raise DiscordError(404, 10003, "Unknown Channel")
        if channel.is_dm:
            return channel  # the bot is always in its own DM channels
        perms = self._bot_permissions(channel)
        if not perms & VIEW_CHANNEL:
            raise DiscordError(403, 50001, "Missing Access")
        return channel

    def _channel_message(self, request: web.Request, channel: FakeChannel) -> FakeMessage:
        msg = self._messages_by_id.get(parse_id(request.match_info["message_id"]))
        if msg is None or msg.channel is not channel or msg.deleted or msg.ephemeral:
            raise DiscordError(404, 10008, "Unknown Message")
        return msg

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
            ref = parse_id(item.get("id", -1))
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
            flags = (msg.flags & EPHEMERAL) | (sendable & SENDABLE_FLAGS)
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
            deleted = {"id": str(msg.id), "channel_id": str(msg.channel.id)}
            if msg.guild is not None:
                deleted["guild_id"] = str(msg.guild.id)
            self.gateway.dispatch("MESSAGE_DELETE", deleted)

    # -- REST: guilds, channels, messages -----------------------------------------------------

    async def _get_member(self, request: web.Request) -> web.Response:
        guild = self.guilds.get(parse_id(request.match_info["guild_id"]))
        if guild is None:
            raise DiscordError(404, 10004, "Unknown Guild")
        member = guild.members.get(parse_id(request.match_info["user_id"]))
        if member is None:
            raise DiscordError(404, 10007, "Unknown Member")
        return json_response(member.payload())

    async def _get_channel(self, request: web.Request) -> web.Response:
        return json_response(self._channel(request).payload())

    async def _get_messages(self, request: web.Request) -> web.Response:
        channel = self._channel(request)
        if not self._bot_permissions(channel) & READ_MESSAGE_HISTORY:
            return json_response([])  # as Discord: no error, no messages
        limit = min(int(request.query.get("limit", 50)), 100)
        before = parse_id(request.query.get("before", "0")) or None
        after = parse_id(request.query.get("after", "0")) or None
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

    def _take_channel_send(
        self, channel: FakeChannel
    ) -> tuple[web.Response | None, dict[str, str]]:
        """Discord's per-channel send limit: a 429 (with `retry_after` and the rate-limit
        headers discord.py reads) when the channel's window is full, else the headers that
        come with the message, which let discord.py wait before it would be refused."""
        limit, window = self.channel_send_limit
        now = time.monotonic()
        sends = self.channel_sends.setdefault(channel.id, deque())
        while sends and sends[0] <= now - window:
            sends.popleft()
        if len(sends) >= limit:
            reset_after = math.ceil((sends[0] + window - now) * 1000) / 1000
            headers = self._channel_limit_headers(limit, 0, reset_after)
            headers["Via"] = "1.1 google"  # without it discord.py assumes a Cloudflare ban
            headers["Retry-After"] = str(max(1, math.ceil(reset_after)))
            body = {"message": "You are being rate limited.", "retry_after": reset_after}
            return json_response({**body, "global": False}, 429, headers), headers
        sends.append(now)
        reset_after = math.ceil((sends[0] + window - now) * 1000) / 1000
        return None, self._channel_limit_headers(limit, limit - len(sends), reset_after)

    @staticmethod
    def _channel_limit_headers(limit: int, remaining: int, reset_after: float) -> dict[str, str]:
        return {
            "X-RateLimit-Limit": str(limit),
            "X-RateLimit-Remaining": str(remaining),
            "X-RateLimit-Reset": f"{time.time() + reset_after:.3f}",
            "X-RateLimit-Reset-After": f"{reset_after:.3f}",
            "X-RateLimit-Bucket": "fake-channel-messages",
            "X-RateLimit-Scope": "user",
        }

    def _check_dm_open(self, channel: FakeChannel) -> None:
        """Discord delivers a bot's DM only to a user who shares a server with it and allows
        DMs from server members; else 403, 50007."""
        user = channel.recipient
        assert user is not None
        shares_guild = any(user.id in g.members for g in self.guilds.values())
        if not (user.dms_open and shares_guild):
            raise DiscordError(403, 50007, "Cannot send messages to this user")

    async def _post_message(self, request: web.Request) -> web.Response:
        self._take_outage(parse_id(request.match_info["channel_id"]))
        channel = self._channel(request)
        if channel.is_dm:
            self._check_dm_open(channel)
        perms = self._bot_permissions(channel)
        send = SEND_MESSAGES_IN_THREADS if channel.is_thread else SEND_MESSAGES
        if not perms & send:
            raise DiscordError(403, 50013, "Missing Permissions")
        limited, limit_headers = self._take_channel_send(channel)
        if limited is not None:
            return limited
        payload, files = await self._read_body(request)
        self._validate(payload)
        if not perms & EMBED_LINKS and payload.get("embeds"):
            # Discord drops the embeds of a member without Embed Links, and refuses a
            # message that was only embeds.
            payload = {**payload, "embeds": []}
            if is_empty_message(payload, len(files) + len(payload.get("attachments") or [])):
                raise DiscordError(403, 50013, "Missing Permissions")
        repeated = self._nonce_repeated(payload)
        if repeated is not None:
            return json_response(repeated.payload(), headers=limit_headers)
        message_reference = payload.get("message_reference")
        reference = None
        if message_reference is not None and message_reference.get("type", 0) == 0:
            if not perms & READ_MESSAGE_HISTORY:
                raise DiscordError(403, 50013, "Missing Permissions")
            reference = self._messages_by_id.get(parse_id(message_reference.get("message_id", 0)))
            if reference is None or reference.channel is not channel or reference.deleted:
                reference = None
                if message_reference.get("fail_if_not_exists", True):
                    raise form_error(
                        single_error(
                            ["message_reference"], "REPLIES_UNKNOWN_MESSAGE", "Unknown message"
                        )
                    )
        msg = self._create_message(
            channel=channel,
            source="channel",
            payload=payload,
            files=files,
            flags=(payload.get("flags") or 0) & SENDABLE_FLAGS,
            reference=reference,
            message_reference=(
                {
                    "type": 0,
                    "message_id": str(reference.id),
                    "channel_id": str(channel.id),
                    **({"guild_id": str(channel.guild.id)} if channel.guild else {}),
                }
                if reference
                else None
            ),
            type_=19 if reference else 0,
        )
        outage = self.send_outages.get(channel.id)
        if outage is not None and outage.let_through > 0:
            outage.let_through -= 1
        return json_response(msg.payload(), headers=limit_headers)

    def _take_outage(self, channel_id: int) -> None:
        outage = self.send_outages.get(channel_id)
        if outage is not None and outage.let_through == 0 and outage.count > 0:
            outage.count -= 1
            raise DiscordError(outage.status, 0, SERVER_ERRORS[outage.status])

    def _nonce_repeated(self, payload: Mapping[str, Any]) -> FakeMessage | None:
        """The bot's recent message with this send's nonce, when it asks Discord to enforce it."""
        nonce = payload.get("nonce")
        if nonce is None or not payload.get("enforce_nonce"):
            return None
        since = time.monotonic() - self.nonce_window
        for msg in reversed(self.messages):
            if msg.created < since:
                break
            if msg.author is self.bot_user and msg.nonce == nonce:
                if msg.deleted:  # as discord.py documents it: NotFound
                    raise DiscordError(404, 10008, "Unknown Message")
                return msg
        return None

    async def _patch_message(self, request: web.Request) -> web.Response:
        channel = self._channel(request)
        msg = self._channel_message(request, channel)
        if msg.author is not self.bot_user:
            raise DiscordError(403, 50005, "Cannot edit a message authored by another user")
        payload, files = await self._read_body(request)
        self._validate(payload)
        perms = self._bot_permissions(channel)
        if not perms & EMBED_LINKS and payload.get("embeds"):
            # Discord ignores the embeds of an edit without Embed Links (and an edit left
            # empty is refused as one).
            payload = {**payload, "embeds": []}
        return json_response(self._edit_message(msg, payload, files).payload())

    async def _delete_message(self, request: web.Request) -> web.Response:
        channel = self._channel(request)
        msg = self._channel_message(request, channel)
        if msg.author is not self.bot_user:
            if channel.is_dm:
                raise DiscordError(403, 50003, "Cannot execute action on a DM channel")
            perms = self._bot_permissions(channel)
            if not perms & MANAGE_MESSAGES:
                raise DiscordError(403, 50013, "Missing Permissions")
        self._delete(msg)
        return no_content()

    async def _post_thread(self, request: web.Request) -> web.Response:
        channel = self._channel(request)
        msg = self._channel_message(request, channel)
        if channel.type not in (0, 5):
            raise DiscordError(400, 50024, "Cannot execute action on this channel type")
        if not self._bot_permissions(channel) & CREATE_PUBLIC_THREADS:
            raise DiscordError(403, 50013, "Missing Permissions")
        if msg.thread is not None:
            raise DiscordError(400, 160004, "A thread has already been created for this message")
        payload, _ = await self._read_body(request)
        name = payload.get("name")
        if not isinstance(name, str) or not 1 <= len(name) <= 100:
            raise form_error(
                single_error(
                    ["name"], "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 100 in length."
                )
            )
        # Discord gives a thread started from a message the message's id.
        thread = FakeChannel(
            id=msg.id,
            guild=channel.server,
            name=name,
            type=11,
            parent=channel,
            owner_id=self.bot_user.id,
        )
        channel.server.channels[thread.id] = thread
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
        attachment = self.attachments.get(parse_id(request.match_info["attachment_id"]))
        if attachment is None or request.match_info["filename"] != attachment.filename:
            return web.Response(status=404, text="Not Found")
        return web.Response(
            body=attachment.data,
            headers={"Content-Type": attachment.content_type or "application/octet-stream"},
        )
