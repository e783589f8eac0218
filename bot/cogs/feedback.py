"""Feedback: the vote buttons on every answer (registered here, bot/votes.py), `/coverage`
for a server's admins (the questions declined or marked there, grouped by meaning, with the
nearest articles) and `/forget-me` for everyone (deletes what the bot keeps about them).

Grouping embeds questions and finding the nearest articles searches the index: both run in
the answering pool, as /ask does; so do /forget-me's small deletes, which no download or
upload may hold up."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot.permissions import require_admin
from bot.render import coverage_embed, forget_me_text
from bot.scopes import guild_scope, visible_scopes
from bot.votes import VoteButton
from retrieval.coverage import coverage
from retrieval.index import SearchFilters

if TYPE_CHECKING:
    from bot.app import NewsBot

log = logging.getLogger(__name__)

NONE = discord.AllowedMentions.none()
# Groups shown by /coverage (each an embed field; their nearest articles are searched).
COVERAGE_GROUPS_SHOWN = 10


class FeedbackCog(commands.Cog):
    def __init__(self, bot: NewsBot) -> None:
        self.bot = bot
        self.services = bot.services
        self.config = bot.config
        self.answering = bot.workers.answering

    async def cog_load(self) -> None:
        # Clicks on any answer's buttons, sent before a restart too, reach VoteButton.
        self.bot.add_dynamic_items(VoteButton)

    async def cog_unload(self) -> None:
        self.bot.remove_dynamic_items(VoteButton)

    @app_commands.command(
        name="coverage",
        description="Questions the news here does not answer, grouped, with the nearest articles.",
    )
    @app_commands.describe(days="Only questions asked in the last N days (default: all kept)")
    @app_commands.guild_only()
    @app_commands.default_permissions(manage_guild=True)
    async def coverage(
        self,
        interaction: discord.Interaction,
        days: app_commands.Range[int, 1, 3650] | None = None,
    ) -> None:
        require_admin(
            interaction, admin_role_ids=self.config.admin_role_ids, owner_ids=self.config.owner_ids
        )
        assert interaction.guild_id is not None  # guild_only
        await interaction.response.defer(ephemeral=True, thinking=True)
        embed = await self.answering.run(partial(self._coverage_embed, interaction.guild_id, days))
        await interaction.followup.send(embed=embed, ephemeral=True, allowed_mentions=NONE)

    def _coverage_embed(self, guild_id: int, days: int | None) -> discord.Embed:
        since = datetime.now(UTC) - timedelta(days=days) if days else None
        # The server's own questions; their nearest articles among those it may see.
        filters = SearchFilters(scopes=visible_scopes(guild_id))
        report = coverage(
            self.services.feedback,
            self.services.embedder,
            partial(self.services.answerer.nearest, filters=filters),
            scopes=(guild_scope(guild_id),),
            since=since,
            limit=COVERAGE_GROUPS_SHOWN,
        )
        return coverage_embed(report, days=days)

    @app_commands.command(
        name="forget-me", description="Delete everything newsbot keeps about you."
    )
    async def forget_me(self, interaction: discord.Interaction) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        removed = await self.answering.run(partial(self._forget, interaction.user.id))
        log.info("/forget-me deleted %s", removed)  # not whose: that is what was asked
        await interaction.followup.send(
            forget_me_text(removed), ephemeral=True, allowed_mentions=NONE
        )

    def _forget(self, user_id: int) -> list[tuple[str, int]]:
        return [
            (holder.member_data_name, holder.remove_member(user_id))
            for holder in self.services.member_data
        ]


async def setup(bot: NewsBot) -> None:
    await bot.add_cog(FeedbackCog(bot))
