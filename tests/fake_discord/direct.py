"""Direct messages: the bot opens a DM channel with a user (`POST /users/@me/channels`), as
discord.py's `User.send` and `Client.create_dm` do, and sends to it through the ordinary
`POST /channels/{id}/messages` (messages.py, which refuses a user who does not take the
bot's DMs with 403, 50007). Tests find a user's DM channel with `dm_channel(user)`."""

from __future__ import annotations

from aiohttp import web

from .models import DM_CHANNEL, FakeChannel, FakeMember, FakeUser
from .rest import DiscordError, RestPlumbing, form_error, json_response, parse_id, single_error


class DirectMessageRoutes(RestPlumbing):
    """POST /users/@me/channels, and the DM channels it opened."""

    def dm_channel(self, who: FakeUser | FakeMember) -> FakeChannel | None:
        """The DM channel the bot opened with this user (None: it never did)."""
        user = who.user if isinstance(who, FakeMember) else who
        return self.dm_channels.get(user.id)

    async def _post_dm_channel(self, request: web.Request) -> web.Response:
        payload, _ = await self._read_body(request)
        raw = payload.get("recipient_id") if isinstance(payload, dict) else None
        if raw is None:
            raise form_error(
                single_error(["recipient_id"], "BASE_TYPE_REQUIRED", "This field is required")
            )
        user = self.users.get(parse_id(raw))
        if user is None:
            raise DiscordError(404, 10013, "Unknown User")
        # Opening a DM channel always works (and gives the same one again); whether a
        # message may be sent to it is decided when one is sent.
        channel = self.dm_channels.get(user.id)
        if channel is None:
            channel = FakeChannel(
                id=self.ids.next(), guild=None, name="", type=DM_CHANNEL, recipient=user
            )
            self.channels[channel.id] = channel
            self.dm_channels[user.id] = channel
            self.notifier.notify()
        return json_response(channel.payload())
