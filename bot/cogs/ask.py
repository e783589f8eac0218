"""/ask and mentions: the same answer, acknowledged at once, computed, recorded (for the
vote buttons it carries, bot/votes.py) and rendered off the event loop, in the answering
pool (bot/workers.py), which no download or upload ever holds."""

from __future__ import annotations

import logging
from functools import partial
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot.errors import GENERIC_FAILURE, user_message
from bot.render import answer_embed, trim
from bot.scopes import home_scope, visible_scopes
from bot.votes import vote_view
from retrieval.dates import optional_day
from retrieval.feedback import AnswerRecord
from retrieval.index import SearchFilters

if TYPE_CHECKING:
    from bot.app import NewsBot

log = logging.getLogger(__name__)

NONE = discord.AllowedMentions.none()
THREAD_NAME_LIMIT = 100


def _question_in(content: str, bot_id: int) -> str:
    """A mention's text without the bot's own mentions."""
    for mention in (f"<@{bot_id}>", f"<@!{bot_id}>"):
        content = content.replace(mention, " ")
    return content.strip()


class AskCog(commands.Cog):
    def __init__(self, bot: NewsBot) -> None:
        self.bot = bot
        self.answerer = bot.services.answerer
        self.answering = bot.workers.answering

    def _filters(
        self, guild_id: int | None, source: str | None, since: str | None, until: str | None
    ) -> SearchFilters:
        return SearchFilters(
            outlets=(source.strip(),) if source and source.strip() else (),
            since=optional_day(since, end_of_day=False, name="since"),
            until=optional_day(until, end_of_day=True, name="until"),
            scopes=visible_scopes(guild_id),
        )

    def _answer_embed(
        self, question: str, filters: SearchFilters, *, scope: str, origin: str
    ) -> tuple[discord.Embed, str]:
        """The answer's embed, and its id in the feedback store, where it is recorded
        (declines too: /coverage lists them); `origin` is what asked it."""
        answer = self.answerer.answer(question, filters=filters)
        record = AnswerRecord.of(answer, scope=scope, origin=origin)
        self.bot.services.feedback.record(record)
        return answer_embed(answer), record.id

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
        # They stay on the event loop, as they must to come first: each is one linear pass
        # over an option Discord caps at 6000 characters.
        text = self.answerer.check_question(question)
        filters = self._filters(interaction.guild_id, source, since, until)
        self.bot.cooldown.check(interaction.user.id)
        await interaction.response.defer(thinking=True)
        scope, origin = home_scope(interaction.guild_id), f"interaction:{interaction.id}"
        embed, answer_id = await self.answering.run(
            partial(self._answer_embed, text, filters, scope=scope, origin=origin)
        )
        await interaction.followup.send(
            embed=embed, view=vote_view(answer_id), allowed_mentions=NONE
        )

    def _outlet_choices(
        self, scopes: tuple[str, ...], current: str
    ) -> list[app_commands.Choice[str]]:
        wanted = current.lower()
        return [
            app_commands.Choice(name=o, value=o)
            for o in self.bot.services.index.outlets(scopes=scopes)
            if wanted in o.lower() and len(o) <= 100
        ][:25]

    @ask.autocomplete("source")
    async def _source_choices(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        scopes = visible_scopes(interaction.guild_id)
        return await self.answering.run(partial(self._outlet_choices, scopes, current))

    @commands.Cog.listener()
    async def on_message(self, message: discord.Message) -> None:
        me = self.bot.user
        if me is None or message.author.bot or me not in message.mentions:
            return
        question = _question_in(message.content, me.id)
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
            guild_id = message.guild.id if message.guild else None
            filters = SearchFilters(scopes=visible_scopes(guild_id))
            answer = partial(
                self._answer_embed,
                text,
                filters,
                scope=home_scope(guild_id),
                origin=f"message:{message.id}",
            )
            async with message.channel.typing():
                embed, answer_id = await self.answering.run(answer)
            view = vote_view(answer_id)
            if self.bot.config.reply_in_thread and isinstance(message.channel, discord.TextChannel):
                thread = await message.create_thread(name=trim(text, THREAD_NAME_LIMIT))
                await thread.send(embed=embed, view=view, allowed_mentions=NONE)
            else:
                await message.reply(
                    embed=embed, view=view, mention_author=False, allowed_mentions=NONE
                )
        except Exception as exc:  # the mention path's one error boundary
            shown = user_message(exc)
            if shown is None:
                log.exception("Answering a mention failed")
                shown = GENERIC_FAILURE
            await message.reply(shown, mention_author=False, allowed_mentions=NONE)


async def setup(bot: NewsBot) -> None:
    await bot.add_cog(AskCog(bot))
