"""Who the bot is and where to connect: the gateway URLs, users (@me), the application and
its flags (privileged intents enabled "in the developer portal"), and the READY payload the
gateway sends."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from .gateway import (
    INTENT_GUILD_MEMBERS,
    INTENT_GUILD_PRESENCES,
    INTENT_MESSAGE_CONTENT,
    GatewaySession,
)
from .rest import DiscordError, RestPlumbing, json_response, parse_id

# Application flags Discord sets when a privileged intent is enabled in the developer portal.
_APP_FLAG_PRESENCE = 1 << 12
_APP_FLAG_GUILD_MEMBERS = 1 << 14
_APP_FLAG_MESSAGE_CONTENT = 1 << 18


class IdentityRoutes(RestPlumbing):
    """GET /gateway, /gateway/bot, /users/..., /applications/@me; READY for the gateway."""

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
        user = self.users.get(parse_id(request.match_info["user_id"]))
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
