"""/timeline: a story's key developments in date order, acknowledged at once, built and
rendered off the event loop in the answering pool (bot/workers.py). A timeline longer than
one embed continues in a thread under the reply when threads are on
(NEWSBOT_REPLY_IN_THREAD) and the bot may open one there; else the reply counts what it
leaves out."""

from __future__ import annotations

import logging
from functools import partial
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot.render import timeline_embeds, trim
from bot.scopes import visible_scopes
from retrieval.dates import optional_day
from retrieval.index import SearchFilters

if TYPE_CHECKING:
    from bot.app import NewsBot

log = logging.getLogger(__name__)

NONE = discord.AllowedMentions.none()
THREAD_NAME_LIMIT = 100


class TimelineCog(commands.Cog):
    def __init__(self, bot: NewsBot) -> None:
        self.bot = bot
        self.timelines = bot.services.timelines
        self.answering = bot.workers.answering

    def _embeds(
        self, topic: str, filters: SearchFilters, threads: bool
    ) -> tuple[list[discord.Embed], discord.Embed]:
        """The embeds to send, and the reply alone as it reads without a thread (for when
        the thread cannot be opened after all)."""
        timeline = self.timelines.build(topic, filters=filters)
        alone = timeline_embeds(timeline, threads=False)[0]
        return (timeline_embeds(timeline, threads=True) if threads else [alone]), alone

    def _thread_parent(self, interaction: discord.Interaction) -> discord.TextChannel | None:
        """Where a thread would continue the reply: its channel, when threads are on and it
        is a text channel where the bot may open a thread and write in it (not a thread, a
        DM or a forum)."""
        channel = interaction.channel
        perms = interaction.app_permissions
        if (
            self.bot.config.reply_in_thread
            and isinstance(channel, discord.TextChannel)
            and perms.create_public_threads
            and perms.send_messages_in_threads
        ):
            return channel
        return None

    @app_commands.command(
        name="timeline", description="A story's key developments in date order, quoted."
    )
    @app_commands.describe(
        topic="The story, e.g. the FTX trial",
        since="Only articles published on or after this day (YYYY-MM-DD)",
        until="Only articles published on or before this day (YYYY-MM-DD)",
    )
    async def timeline(
        self,
        interaction: discord.Interaction,
        topic: str,
        since: str | None = None,
        until: str | None = None,
    ) -> None:
        # Checks that can fail come before the acknowledgement, so their errors stay private;
        # each is one linear pass over an option Discord caps at 6000 characters.
        text = self.timelines.check_topic(topic)
        filters = SearchFilters(
            since=optional_day(since, end_of_day=False, name="since"),
            until=optional_day(until, end_of_day=True, name="until"),
            scopes=visible_scopes(interaction.guild_id),
        )
        self.bot.cooldown.check(interaction.user.id)
        await interaction.response.defer(thinking=True)
        parent = self._thread_parent(interaction)
        embeds, alone = await self.answering.run(
            partial(self._embeds, text, filters, parent is not None)
        )
        reply = await interaction.followup.send(embed=embeds[0], allowed_mentions=NONE, wait=True)
        if parent is None or len(embeds) == 1:
            return
        try:
            thread = await parent.create_thread(
                name=trim(f"Timeline: {text}", THREAD_NAME_LIMIT), message=reply
            )
        except discord.HTTPException:
            log.warning("Could not open a thread for a timeline", exc_info=True)
            await reply.edit(embed=alone, allowed_mentions=NONE)
            return
        for embed in embeds[1:]:
            await thread.send(embed=embed, allowed_mentions=NONE)


async def setup(bot: NewsBot) -> None:
    await bot.add_cog(TimelineCog(bot))
