"""/ask and mentions: the same answer, acknowledged at once, computed off the event loop."""

from __future__ import annotations

import asyncio
import logging
import re
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot.errors import GENERIC_FAILURE, user_message
from bot.render import answer_embed, trim
from bot.scopes import visible_scopes
from retrieval.dates import parse_day
from retrieval.index import SearchFilters

if TYPE_CHECKING:
    from bot.app import NewsBot

log = logging.getLogger(__name__)

NONE = discord.AllowedMentions.none()
THREAD_NAME_LIMIT = 100


class AskCog(commands.Cog):
    def __init__(self, bot: NewsBot) -> None:
        self.bot = bot
        self.answerer = bot.services.answerer

    def _filters(
        self, guild_id: int | None, source: str | None, since: str | None, until: str | None
    ) -> SearchFilters:
        return SearchFilters(
            outlets=(source.strip(),) if source and source.strip() else (),
            since=parse_day(since, end_of_day=False, name="since") if since else None,
            until=parse_day(until, end_of_day=True, name="until") if until else None,
            scopes=visible_scopes(guild_id),
        )

    @app_commands.command(name="ask", description="Ask about the news: answered with quotes.")
    @app_commands.describe(
        question="What you want to know, e.g. what did NATO say about Russia's demands?",
        source="Only articles from this outlet",
        since="Only articles published on or after this day (YYYY-MM-DD)",
        until="Only articles published on or before this day (YYYY-MM-DD)",
    )
    async def ask(
        self,
        interaction: discord.Interaction,
        question: str,
        source: str | None = None,
        since: str | None = None,
        until: str | None = None,
    ) -> None:
        # Checks that can fail come before the acknowledgement, so their errors stay private.
        text = self.answerer.check_question(question)
        filters = self._filters(interaction.guild_id, source, since, until)
        self.bot.cooldown.check(interaction.user.id)
        await interaction.response.defer(thinking=True)
        answer = await asyncio.to_thread(self.answerer.answer, text, filters=filters)
        await interaction.followup.send(embed=answer_embed(answer), allowed_mentions=NONE)

    @ask.autocomplete("source")
    async def _source_choices(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        articles = await asyncio.to_thread(
            self.bot.services.index.list_articles, scopes=visible_scopes(interaction.guild_id)
        )
        outlets = sorted({a.outlet for a in articles if a.outlet})
        wanted = current.lower()
        return [
            app_commands.Choice(name=trim(o, 100), value=o)
            for o in outlets
            if wanted in o.lower() and len(o) <= 100
        ][:25]

    @commands.Cog.listener()
    async def on_message(self, message: discord.Message) -> None:
        me = self.bot.user
        if me is None or message.author.bot or me not in message.mentions:
            return
        question = re.sub(rf"<@!?{me.id}>", " ", message.content).strip()
        if not question:
            await message.reply(
                "Ask me about the news, e.g. “@me what did NATO say about Russia's demands?”",
                mention_author=False,
                allowed_mentions=NONE,
            )
            return
        try:
            text = self.answerer.check_question(question)
            self.bot.cooldown.check(message.author.id)
            filters = SearchFilters(
                scopes=visible_scopes(message.guild.id if message.guild else None)
            )
            async with message.channel.typing():
                answer = await asyncio.to_thread(self.answerer.answer, text, filters=filters)
            embed = answer_embed(answer)
            if self.bot.settings.reply_in_thread and isinstance(
                message.channel, discord.TextChannel
            ):
                thread = await message.create_thread(name=trim(text, THREAD_NAME_LIMIT))
                await thread.send(embed=embed, allowed_mentions=NONE)
            else:
                await message.reply(embed=embed, mention_author=False, allowed_mentions=NONE)
        except Exception as exc:  # the mention path's one error boundary
            shown = user_message(exc)
            if shown is None:
                log.exception("Answering a mention failed")
                shown = GENERIC_FAILURE
            await message.reply(shown, mention_author=False, allowed_mentions=NONE)


async def setup(bot: NewsBot) -> None:
    await bot.add_cog(AskCog(bot))
