"""Whether a post whose last try had an unknown outcome (its answer was lost, or the bot
stopped before recording it) was made after all: the bot's message of that post in the
channel since that try. Feed posts (bot/cogs/feeds.py) and watch posts (bot/cogs/watch.py)
look before they send such a post again."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

import discord

if TYPE_CHECKING:
    from discord.ext import commands

# The channel's messages since a little before the try (clocks differ) are searched, this
# many at most.
SENT_SEARCH_LIMIT = 100
CLOCK_SLACK = timedelta(seconds=30)


async def sent_before(
    bot: commands.Bot,
    channel_id: int,
    attempted_at: datetime,
    same: Callable[[discord.Embed], bool],
) -> discord.Message | None:
    """The bot's message in the channel (or DM channel) since `attempted_at` with an embed
    that is `same` post; None when there is none, or the bot may not read the channel's
    history (then only Discord's check of the post's nonce guards the retry)."""
    cached = bot.get_channel(channel_id)
    if (
        isinstance(cached, discord.abc.GuildChannel)
        and not cached.permissions_for(cached.guild.me).read_message_history
    ):
        return None
    since = discord.utils.time_snowflake(attempted_at - CLOCK_SLACK)
    channel = bot.get_partial_messageable(channel_id)
    async for message in channel.history(limit=SENT_SEARCH_LIMIT, after=discord.Object(since)):
        if message.author == bot.user and any(same(e) for e in message.embeds):
            return message
    return None
