"""The fake's world: users, guilds, channels, messages, interactions, and their wire payloads."""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import discord

from .validation import compute_pings, embed_texts, mention_tokens

DISCORD_EPOCH_MS = 1_420_070_400_000

EPHEMERAL = 1 << 6
LOADING = 1 << 7

P = discord.Permissions
ALL_PERMISSIONS = P.all().value
ADMINISTRATOR = P(administrator=True).value
VIEW_CHANNEL = P(view_channel=True).value
SEND_MESSAGES = P(send_messages=True).value
SEND_MESSAGES_IN_THREADS = P(send_messages_in_threads=True).value
READ_MESSAGE_HISTORY = P(read_message_history=True).value
MANAGE_MESSAGES = P(manage_messages=True).value
CREATE_PUBLIC_THREADS = P(create_public_threads=True).value
MENTION_EVERYONE = P(mention_everyone=True).value
# Discord strips these when a member cannot send in the channel.
_SEND_DEPENDENT = P(
    send_tts_messages=True, mention_everyone=True, embed_links=True, attach_files=True
)

DEFAULT_EVERYONE_PERMISSIONS = P(
    view_channel=True,
    send_messages=True,
    send_messages_in_threads=True,
    create_public_threads=True,
    embed_links=True,
    attach_files=True,
    add_reactions=True,
    read_message_history=True,
    use_external_emojis=True,
    use_application_commands=True,
    change_nickname=True,
    create_instant_invite=True,
    connect=True,
    speak=True,
)

THREAD_TYPES = (10, 11, 12)
# What anyone may do in a DM channel (DMs have no roles or overwrites).
DM_PERMISSIONS = P(
    view_channel=True,
    send_messages=True,
    embed_links=True,
    attach_files=True,
    add_reactions=True,
    read_message_history=True,
).value

T = TypeVar("T")


def iso(ts: float) -> str:
    return datetime.datetime.fromtimestamp(ts, datetime.UTC).isoformat()


class SnowflakeFactory:
    """Real-looking, strictly increasing snowflakes, so ``created_at`` and ordering behave."""

    def __init__(self) -> None:
        self._last = 0

    def next(self) -> int:
        candidate = (int(time.time() * 1000) - DISCORD_EPOCH_MS) << 22
        self._last = max(candidate, self._last + 1)
        return self._last


class Notifier:
    """Wakes every waiter whenever the fake records something."""

    def __init__(self) -> None:
        self._event = asyncio.Event()

    def notify(self) -> None:
        self._event.set()
        self._event = asyncio.Event()

    async def wait_until(
        self, check: Callable[[], T | None], timeout: float, what: Callable[[], str]
    ) -> T:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            result = check()
            if result is not None:
                return result
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise AssertionError(f"fake_discord: timed out after {timeout:.1f}s: {what()}")
            event = self._event
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(event.wait(), remaining)


@dataclass(eq=False)
class FakeUser:
    id: int
    name: str
    global_name: str | None = None
    bot: bool = False
    locale: str = "en-US"
    # Privacy setting "Allow direct messages from server members": off, the bot's DMs to
    # this user are refused (403, 50007).
    dms_open: bool = True

    @property
    def mention(self) -> str:
        return f"<@{self.id}>"

    def payload(self) -> dict[str, Any]:
        return {
            "id": str(self.id),
            "username": self.name,
            "discriminator": "0",
            "global_name": self.global_name,
            "avatar": None,
            "bot": self.bot,
            "public_flags": 0,
            "flags": 0,
            "banner": None,
            "accent_color": None,
            "avatar_decoration_data": None,
        }

    def __repr__(self) -> str:
        return f"<FakeUser {self.name} id={self.id}>"


@dataclass(eq=False)
class FakeRole:
    id: int
    guild: FakeGuild
    name: str
    permissions: int = 0
    position: int = 0
    mentionable: bool = False
    managed: bool = False
    hoist: bool = False
    color: int = 0
    bot_id: int | None = None

    @property
    def mention(self) -> str:
        return "@everyone" if self.id == self.guild.id else f"<@&{self.id}>"

    def payload(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "id": str(self.id),
            "name": self.name,
            "permissions": str(self.permissions),
            "position": self.position,
            "color": self.color,
            "colors": {
                "primary_color": self.color,
                "secondary_color": None,
                "tertiary_color": None,
            },
            "hoist": self.hoist,
            "managed": self.managed,
            "mentionable": self.mentionable,
            "icon": None,
            "unicode_emoji": None,
            "flags": 0,
        }
        if self.bot_id is not None:
            data["tags"] = {"bot_id": str(self.bot_id)}
        return data

    def __repr__(self) -> str:
        return f"<FakeRole {self.name} id={self.id}>"


@dataclass(eq=False)
class Overwrite:
    target_id: int
    kind: int  # 0 role, 1 member, as on the wire
    allow: int
    deny: int

    def payload(self) -> dict[str, Any]:
        return {
            "id": str(self.target_id),
            "type": self.kind,
            "allow": str(self.allow),
            "deny": str(self.deny),
        }


DM_CHANNEL = 1


@dataclass(eq=False)
class FakeChannel:
    """A guild's channel or thread, or a DM channel (type 1: no guild, one recipient)."""

    id: int
    guild: FakeGuild | None
    name: str
    type: int = 0
    position: int = 0
    parent: FakeChannel | None = None
    topic: str | None = None
    overwrites: list[Overwrite] = field(default_factory=list)
    owner_id: int | None = None  # threads only
    created_ts: float = field(default_factory=time.time)
    message_count: int = 0
    recipient: FakeUser | None = None  # DM channels only

    @property
    def is_thread(self) -> bool:
        return self.type in THREAD_TYPES

    @property
    def is_dm(self) -> bool:
        return self.type == DM_CHANNEL

    @property
    def server(self) -> FakeGuild:
        """The guild of a guild channel (a DM channel has none)."""
        if self.guild is None:
            raise ValueError(f"{self!r} is a DM channel: it has no guild")
        return self.guild

    @property
    def mention(self) -> str:
        return f"<#{self.id}>"

    def payload(self) -> dict[str, Any]:
        if self.recipient is not None:
            return {
                "id": str(self.id),
                "type": DM_CHANNEL,
                "last_message_id": None,
                "recipients": [self.recipient.payload()],
                "flags": 0,
            }
        data: dict[str, Any] = {
            "id": str(self.id),
            "type": self.type,
            "guild_id": str(self.server.id),
            "name": self.name,
            "position": self.position,
            "permission_overwrites": [o.payload() for o in self.overwrites],
            "nsfw": False,
            "parent_id": str(self.parent.id) if self.parent else None,
            "rate_limit_per_user": 0,
            "flags": 0,
        }
        if self.type in (0, 5):
            data.update(topic=self.topic, last_message_id=None, default_auto_archive_duration=1440)
        if self.type in (2, 13):
            data.update(bitrate=64000, user_limit=0, rtc_region=None)
        if self.is_thread:
            data.update(
                owner_id=str(self.owner_id) if self.owner_id else None,
                last_message_id=None,
                message_count=self.message_count,
                member_count=1,
                total_message_sent=self.message_count,
                thread_metadata={
                    "archived": False,
                    "auto_archive_duration": 1440,
                    "archive_timestamp": iso(self.created_ts),
                    "locked": False,
                    "create_timestamp": iso(self.created_ts),
                },
            )
            del data["permission_overwrites"]
            del data["position"]
        return data

    def __repr__(self) -> str:
        if self.recipient is not None:
            return f"<FakeChannel DM with {self.recipient.name} id={self.id}>"
        return f"<FakeChannel #{self.name} id={self.id} type={self.type}>"


@dataclass(eq=False)
class FakeMember:
    user: FakeUser
    guild: FakeGuild
    roles: list[FakeRole] = field(default_factory=list)
    nick: str | None = None
    joined_ts: float = field(default_factory=time.time)

    @property
    def id(self) -> int:
        return self.user.id

    @property
    def name(self) -> str:
        return self.user.name

    @property
    def mention(self) -> str:
        return self.user.mention

    def payload(
        self, *, include_user: bool = True, permissions: int | None = None
    ) -> dict[str, Any]:
        data: dict[str, Any] = {
            "roles": [str(r.id) for r in self.roles],
            "nick": self.nick,
            "avatar": None,
            "banner": None,
            "joined_at": iso(self.joined_ts),
            "premium_since": None,
            "deaf": False,
            "mute": False,
            "pending": False,
            "flags": 0,  # discord.py 2.7 requires it
            "communication_disabled_until": None,
        }
        if include_user:
            data["user"] = self.user.payload()
        if permissions is not None:
            data["permissions"] = str(permissions)
        return data

    def __repr__(self) -> str:
        return f"<FakeMember {self.name} id={self.id} guild={self.guild.name!r}>"


@dataclass(eq=False)
class FakeGuild:
    id: int
    name: str
    owner_id: int = 0
    roles: dict[int, FakeRole] = field(default_factory=dict)
    channels: dict[int, FakeChannel] = field(default_factory=dict)
    members: dict[int, FakeMember] = field(default_factory=dict)
    preferred_locale: str = "en-US"
    joined_ts: float = field(default_factory=time.time)

    @property
    def everyone(self) -> FakeRole:
        return self.roles[self.id]

    @property
    def text_channels(self) -> list[FakeChannel]:
        return [c for c in self.channels.values() if c.type == 0]

    @property
    def default_channel(self) -> FakeChannel:
        return self.text_channels[0]

    def payload(self) -> dict[str, Any]:
        """A full GUILD_CREATE payload."""
        top = [c for c in self.channels.values() if not c.is_thread]
        threads = [c for c in self.channels.values() if c.is_thread]
        text = self.text_channels
        return {
            "id": str(self.id),
            "name": self.name,
            "icon": None,
            "splash": None,
            "discovery_splash": None,
            "banner": None,
            "description": None,
            "owner_id": str(self.owner_id),
            "afk_channel_id": None,
            "afk_timeout": 300,
            "verification_level": 0,
            "default_message_notifications": 1,
            "explicit_content_filter": 0,
            "mfa_level": 0,
            "nsfw_level": 0,
            "premium_tier": 0,
            "premium_subscription_count": 0,
            "premium_progress_bar_enabled": False,
            "preferred_locale": self.preferred_locale,
            "features": [],
            "application_id": None,
            "system_channel_id": str(text[0].id) if text else None,
            "system_channel_flags": 0,
            "rules_channel_id": None,
            "public_updates_channel_id": None,
            "safety_alerts_channel_id": None,
            "vanity_url_code": None,
            "max_members": 500000,
            "max_video_channel_users": 25,
            "max_stage_video_channel_users": 50,
            "joined_at": iso(self.joined_ts),
            "large": False,
            "unavailable": False,
            "lazy": True,
            # member_count == len(members) makes discord.py consider the guild chunked.
            "member_count": len(self.members),
            "roles": [r.payload() for r in self.roles.values()],
            "emojis": [],
            "stickers": [],
            "channels": [c.payload() for c in top],
            "threads": [c.payload() for c in threads],
            "members": [m.payload() for m in self.members.values()],
            "voice_states": [],
            "presences": [],
            "stage_instances": [],
            "guild_scheduled_events": [],
            "soundboard_sounds": [],
        }

    def __repr__(self) -> str:
        return f"<FakeGuild {self.name} id={self.id}>"


def base_permissions(member: FakeMember) -> int:
    guild = member.guild
    if member.id == guild.owner_id:
        return ALL_PERMISSIONS
    perms = guild.everyone.permissions
    for role in member.roles:
        perms |= role.permissions
    return ALL_PERMISSIONS if perms & ADMINISTRATOR else perms


def channel_permissions(member: FakeMember, channel: FakeChannel) -> int:
    """Discord's permission algorithm: base roles, then @everyone/role/member overwrites."""
    perms = base_permissions(member)
    if perms & ADMINISTRATOR:
        return ALL_PERMISSIONS
    source = channel.parent if channel.is_thread and channel.parent else channel
    role_ids = {r.id for r in member.roles}
    by_target = {o.target_id: o for o in source.overwrites}
    everyone = by_target.get(member.guild.id)
    if everyone:
        perms = (perms & ~everyone.deny) | everyone.allow
    allow = deny = 0
    for o in source.overwrites:
        if o.kind == 0 and o.target_id in role_ids:
            allow |= o.allow
            deny |= o.deny
    perms = (perms & ~deny) | allow
    own = by_target.get(member.id)
    if own and own.kind == 1:
        perms = (perms & ~own.deny) | own.allow
    if not perms & VIEW_CHANNEL:
        return 0
    send = SEND_MESSAGES_IN_THREADS if channel.is_thread else SEND_MESSAGES
    if not perms & send:
        perms &= ~_SEND_DEPENDENT.value
    return perms


@dataclass(eq=False)
class FakeAttachment:
    """A file the fake serves over HTTP, either registered by a test or uploaded by the bot."""

    id: int
    filename: str
    data: bytes
    url: str
    content_type: str | None = None
    description: str | None = None
    ephemeral: bool = False

    @property
    def size(self) -> int:
        return len(self.data)

    def payload(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "id": str(self.id),
            "filename": self.filename,
            "size": self.size,
            "url": self.url,
            "proxy_url": self.url,
            "content_type": self.content_type,
            "description": self.description,
            "width": None,
            "height": None,
            "flags": 0,
        }
        if self.ephemeral:
            data["ephemeral"] = True
        return data


@dataclass(eq=False)
class MessageRevision:
    """One state of a message: its creation, or an edit."""

    kind: str  # "create", "edit", or "followup" (a follow-up that replaced a deferred response)
    at: float  # time.monotonic()
    elapsed: float | None  # seconds since the interaction (or replied-to message) was created
    content: str
    embeds: list[dict[str, Any]]
    flags: int
    allowed_mentions: dict[str, Any] | None
    pinged: frozenset[str]
    attachments: list[FakeAttachment]
    components: list[dict[str, Any]]


@dataclass(eq=False)
class FakeMessage:
    """A message as the fake recorded it. Edits update it in place; ``revisions`` keeps history.

    ``pinged`` is the union of the pings of every revision, as ``"@everyone"``, ``"@here"``,
    ``"user:ID"``, ``"role:ID"``. It is computed from ``content`` only, under the sent
    ``allowed_mentions`` (see :func:`compute_pings`): Discord never pings from embed text.
    The author's own mention is left out (nobody is notified about their own message).
    ``embed_mentions`` lists mention syntax found in embeds, which renders but notifies nobody.
    """

    id: int
    channel: FakeChannel
    author: FakeUser
    source: str  # "user", "channel", "interaction_response", "followup"
    created: float  # time.monotonic()
    created_ts: float
    content: str = ""
    embeds: list[dict[str, Any]] = field(default_factory=list)
    flags: int = 0
    allowed_mentions: dict[str, Any] | None = None
    components: list[dict[str, Any]] = field(default_factory=list)
    attachments: list[FakeAttachment] = field(default_factory=list)
    tts: bool = False
    type: int = 0
    nonce: str | int | None = None
    reference: FakeMessage | None = None
    message_reference: dict[str, Any] | None = None
    interaction: FakeInteraction | None = None
    pinged: frozenset[str] = frozenset()
    mention_everyone: bool = False
    mention_users: list[FakeUser] = field(default_factory=list)
    mention_roles: list[int] = field(default_factory=list)
    revisions: list[MessageRevision] = field(default_factory=list)
    deleted: bool = False
    edited_ts: float | None = None
    reactions: list[str] = field(default_factory=list)
    thread: FakeChannel | None = None

    @property
    def guild(self) -> FakeGuild | None:
        """None for a direct message."""
        return self.channel.guild

    @property
    def ephemeral(self) -> bool:
        return bool(self.flags & EPHEMERAL)

    @property
    def loading(self) -> bool:
        """A deferred response still showing "Bot is thinking..."."""
        return bool(self.flags & LOADING)

    @property
    def origin(self) -> float | None:
        if self.interaction is not None:
            return self.interaction.created
        if self.reference is not None:
            return self.reference.created
        return None

    @property
    def elapsed(self) -> float | None:
        """Seconds from the interaction's (or replied-to message's) creation to this message."""
        origin = self.origin
        return None if origin is None else self.created - origin

    @property
    def embed_mentions(self) -> frozenset[str]:
        return frozenset(mention_tokens("\n".join(embed_texts(self.embeds))))

    @property
    def text(self) -> str:
        """Content plus all embed text: handy for "does the answer mention X" assertions."""
        return "\n".join([self.content, *embed_texts(self.embeds)])

    def apply(
        self,
        kind: str,
        *,
        content: str,
        embeds: list[dict[str, Any]],
        flags: int,
        allowed_mentions: dict[str, Any] | None,
        attachments: list[FakeAttachment],
        components: list[dict[str, Any]],
        replied_user_id: int | None = None,
    ) -> MessageRevision:
        now = time.monotonic()
        origin = self.origin
        pinged = compute_pings(content, allowed_mentions, replied_user_id=replied_user_id)
        # Nobody is notified about their own message.
        pinged = pinged - {f"user:{self.author.id}"}
        self.content = content
        self.embeds = [dict(e, type=e.get("type", "rich")) for e in embeds]
        self.flags = flags
        self.allowed_mentions = allowed_mentions
        self.attachments = attachments
        self.components = components
        self.pinged = self.pinged | pinged
        self.mention_everyone = "@everyone" in pinged or "@here" in pinged
        self.mention_roles = sorted(int(t[5:]) for t in pinged if t.startswith("role:"))
        if kind != "create":
            self.edited_ts = time.time()
        revision = MessageRevision(
            kind=kind,
            at=now,
            elapsed=None if origin is None else now - origin,
            content=content,
            embeds=self.embeds,
            flags=flags,
            allowed_mentions=allowed_mentions,
            pinged=pinged,
            attachments=list(attachments),
            components=components,
        )
        self.revisions.append(revision)
        return revision

    def payload(self, *, with_member: bool = True) -> dict[str, Any]:
        guild = self.guild
        data: dict[str, Any] = {
            "id": str(self.id),
            "channel_id": str(self.channel.id),
            "author": self.author.payload(),
            "content": self.content,
            "timestamp": iso(self.created_ts),
            "edited_timestamp": iso(self.edited_ts) if self.edited_ts else None,
            "tts": self.tts,
            "mention_everyone": self.mention_everyone,
            "mentions": [self._mention_payload(u) for u in self.mention_users],
            "mention_roles": [str(r) for r in self.mention_roles],
            "attachments": [a.payload() for a in self.attachments],
            "embeds": self.embeds,
            "reactions": [],
            "pinned": False,
            "type": self.type,
            "flags": self.flags,
            "components": self.components,
        }
        if self.nonce is not None:
            data["nonce"] = self.nonce
        if guild is None:  # a direct message: no guild, no members
            return data
        data["guild_id"] = str(guild.id)
        member = guild.members.get(self.author.id)
        if with_member and member is not None and self.interaction is None:
            data["member"] = member.payload(include_user=False)
        if self.interaction is not None:
            inter = self.interaction
            data["webhook_id"] = str(inter.application_id)
            data["application_id"] = str(inter.application_id)
            metadata: dict[str, Any] = {
                "id": str(inter.id),
                "type": inter.type,
                "user": inter.member.user.payload(),
                "authorizing_integration_owners": {"0": str(guild.id)},
            }
            if inter.message is not None:  # a component's: names the message clicked
                metadata["interacted_message_id"] = str(inter.message.id)
            else:
                metadata |= {"name": inter.name, "command_type": 1}
            data["interaction_metadata"] = metadata
        if self.message_reference is not None:
            data["message_reference"] = self.message_reference
            if self.reference is not None:
                data["referenced_message"] = (
                    None if self.reference.deleted else self.reference.payload(with_member=False)
                )
        if self.thread is not None:
            data["thread"] = self.thread.payload()
        return data

    def _mention_payload(self, user: FakeUser) -> dict[str, Any]:
        data = user.payload()
        member = self.guild.members.get(user.id) if self.guild is not None else None
        if member is not None:
            data["member"] = member.payload(include_user=False)
        return data

    def __repr__(self) -> str:
        preview = self.content if len(self.content) <= 40 else self.content[:37] + "..."
        return (
            f"<FakeMessage id={self.id} {self.source} by {self.author.name} in "
            f"#{self.channel.name} {preview!r} embeds={len(self.embeds)} flags={self.flags}>"
        )


@dataclass(eq=False)
class Rejection:
    """A request about an interaction that the fake refused, as Discord would."""

    method: str
    path: str
    status: int
    code: int
    message: str
    elapsed: float


@dataclass(eq=False)
class CallbackAttempt:
    type: int
    data: dict[str, Any] | None
    elapsed: float
    status: int


class FakeInteraction:
    """An interaction the fake dispatched, and everything the bot did about it.

    Timing is measured from ``created`` (``time.monotonic()`` when INTERACTION_CREATE was queued
    for the gateway), like Discord's 3 s clock.
    """

    def __init__(
        self,
        *,
        notifier: Notifier,
        id: int,
        application_id: int,
        token: str,
        type: int,
        name: str,
        member: FakeMember,
        channel: FakeChannel,
        payload: dict[str, Any],
        message: FakeMessage | None = None,
    ) -> None:
        self._notifier = notifier
        self.id = id
        self.application_id = application_id
        self.token = token
        self.type = type  # 2 application command, 3 message component, 4 autocomplete
        self.name = name  # the command's, or the clicked component's custom id
        self.message = message  # the message whose component was clicked
        self.member = member
        self.channel = channel
        self.payload = payload
        self.created = time.monotonic()
        self.response_type: int | None = None
        self.acknowledged_at: float | None = None
        self.original: FakeMessage | None = None
        self.followups: list[FakeMessage] = []
        self.callbacks: list[CallbackAttempt] = []
        self.rejections: list[Rejection] = []
        self.choices: list[dict[str, Any]] | None = None
        self.modal: dict[str, Any] | None = None

    @property
    def guild(self) -> FakeGuild:
        return self.channel.server

    @property
    def user(self) -> FakeUser:
        return self.member.user

    @property
    def acknowledged(self) -> bool:
        return self.response_type is not None

    @property
    def deferred(self) -> bool:
        return self.response_type == 5

    @property
    def ephemeral(self) -> bool:
        return self.original is not None and self.original.ephemeral

    @property
    def messages(self) -> list[FakeMessage]:
        """Original response (if any) then follow-ups, deleted ones included."""
        return ([self.original] if self.original else []) + self.followups

    def age(self) -> float:
        return time.monotonic() - self.created

    def _describe(self) -> str:
        return (
            f"/{self.name} (interaction {self.id}): response_type={self.response_type}, "
            f"original={self.original!r}, followups={self.followups!r}, "
            f"rejections={[(r.status, r.code, r.message) for r in self.rejections]}"
        )

    async def wait_for_ack(self, timeout: float = 5.0) -> float:
        """Seconds from creation to the first accepted callback (defer or response)."""
        return await self._notifier.wait_until(
            lambda: self.acknowledged_at, timeout, lambda: f"no acknowledgement: {self._describe()}"
        )

    async def wait_for_response(self, timeout: float = 5.0) -> FakeMessage:
        """The visible response: the original message once it is no longer "thinking" (a defer
        is completed by an @original edit or, as on Discord, by the first follow-up).

        Fails fast if the interaction was rejected before being acknowledged (e.g. 10062).
        """

        def check() -> FakeMessage | None:
            if self.original is not None and not self.original.loading:
                return self.original
            if self.rejections and not self.acknowledged:
                raise AssertionError(f"fake_discord: interaction rejected: {self._describe()}")
            return None

        return await self._notifier.wait_until(
            check, timeout, lambda: f"no visible response: {self._describe()}"
        )

    async def wait_for_followups(self, count: int = 1, timeout: float = 5.0) -> list[FakeMessage]:
        """The first ``count`` follow-up messages that were not folded into a deferred original."""
        return await self._notifier.wait_until(
            lambda: self.followups[:count] if len(self.followups) >= count else None,
            timeout,
            lambda: f"fewer than {count} follow-ups: {self._describe()}",
        )

    async def wait_for_choices(self, timeout: float = 5.0) -> list[dict[str, Any]]:
        """Autocomplete result choices (``[{"name": ..., "value": ...}]``)."""
        return await self._notifier.wait_until(
            lambda: self.choices, timeout, lambda: f"no autocomplete result: {self._describe()}"
        )

    async def wait_for_rejection(self, timeout: float = 5.0) -> Rejection:
        return await self._notifier.wait_until(
            lambda: self.rejections[0] if self.rejections else None,
            timeout,
            lambda: f"no rejected request: {self._describe()}",
        )

    def __repr__(self) -> str:
        return f"<FakeInteraction /{self.name} id={self.id} type={self.type}>"
