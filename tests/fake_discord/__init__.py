"""A fake Discord (REST + gateway) on 127.0.0.1 for running the real discord.py client in tests.

Typical use::

    async with FakeDiscord.start() as fake:
        guild = fake.add_guild(name="News Server")
        user = fake.add_member(guild, name="bob")
        async with fake.running(make_bot()):
            inter = await fake.invoke_slash(guild, user, "ask", {"question": "..."})
            reply = await inter.wait_for_response()

See README.md in this directory for what a bot author must know (guild_ready_timeout, privileged
intents, the 3-second rule, ping semantics, unknown routes). ``FakeDiscordThread`` runs the fake
on a thread of its own, so that a bot whose event loop stalls cannot stall the fake's clock.
"""

from .gateway import GatewaySession, Handshake
from .models import (
    CallbackAttempt,
    FakeAttachment,
    FakeChannel,
    FakeGuild,
    FakeInteraction,
    FakeMember,
    FakeMessage,
    FakeRole,
    FakeUser,
    MessageRevision,
    Rejection,
)
from .server import (
    DiscordError,
    FakeDiscord,
    RateLimitRule,
    RecordedRequest,
    patch_discord_endpoints,
)
from .threaded import FakeDiscordThread
from .validation import compute_pings, mention_tokens

__all__ = [
    "CallbackAttempt",
    "DiscordError",
    "FakeAttachment",
    "FakeChannel",
    "FakeDiscord",
    "FakeDiscordThread",
    "FakeGuild",
    "FakeInteraction",
    "FakeMember",
    "FakeMessage",
    "FakeRole",
    "FakeUser",
    "GatewaySession",
    "Handshake",
    "MessageRevision",
    "RateLimitRule",
    "RecordedRequest",
    "Rejection",
    "compute_pings",
    "mention_tokens",
    "patch_discord_endpoints",
]
