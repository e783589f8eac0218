"""/sources for everyone; /ingest and /forget for a server's admins.

What blocks runs in the bot's pools (bot/workers.py): reading the index and rendering lists
in `answering`, downloads in `fetching`, and reading uploads (the parsing of anything a user
sent) and writing the index in `ingesting`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot.permissions import require_admin
from bot.render import forgotten_text, ingest_report_text, sources_embed, trim
from bot.scopes import guild_scope, visible_scopes
from ingest.forgetting import Forgotten, forget_story
from ingest.loaders import LoadItem, article_from_text, load_bytes
from ingest.reports import IngestReport
from ingest.webpages import load_url
from retrieval.dates import optional_day
from retrieval.errors import InputError, NotFoundError
from retrieval.models import GLOBAL_SCOPE, StoredArticle

if TYPE_CHECKING:
    from bot.app import NewsBot

log = logging.getLogger(__name__)

NONE = discord.AllowedMentions.none()
SOURCES_SHOWN = 10


def _matches(article: StoredArticle, query: str) -> bool:
    q = query.lower()
    return q in article.title.lower() or q in (article.outlet or "").lower()


class LibraryCog(commands.Cog):
    def __init__(self, bot: NewsBot) -> None:
        self.bot = bot
        self.services = bot.services
        self.config = bot.config
        self.workers = bot.workers

    def _require_admin(self, interaction: discord.Interaction) -> None:
        require_admin(
            interaction,
            admin_role_ids=self.config.admin_role_ids,
            owner_ids=self.config.owner_ids,
        )

    @app_commands.command(name="sources", description="The newest ingested articles.")
    @app_commands.describe(query="Only articles whose title or outlet contains this")
    async def sources(self, interaction: discord.Interaction, query: str | None = None) -> None:
        # It reads every article record of the server: as costly as a question, so as rationed.
        self.bot.sources_cooldown.check(interaction.user.id)
        await interaction.response.defer(thinking=True)
        scopes = visible_scopes(interaction.guild_id)
        embed = await self.workers.answering.run(partial(self._sources_embed, scopes, query))
        await interaction.followup.send(embed=embed, allowed_mentions=NONE)

    def _sources_embed(self, scopes: tuple[str, ...], query: str | None) -> discord.Embed:
        articles = self.services.index.list_articles(scopes=scopes)
        if query:
            articles = [a for a in articles if _matches(a, query)]
        return sources_embed(articles[:SOURCES_SHOWN], total=len(articles), query=query)

    @app_commands.command(name="ingest", description="Add an article to this server's news.")
    @app_commands.describe(
        file="An article file: .txt, .html, .json or .jsonl",
        text="Or paste the article text",
        title="Title of the pasted text",
        url="Or a link to an article page to fetch (with text: the pasted article's link)",
        outlet="Outlet of the pasted article",
        published="Publication day of the pasted article (YYYY-MM-DD)",
    )
    @app_commands.guild_only()
    @app_commands.default_permissions(manage_guild=True)
    async def ingest(
        self,
        interaction: discord.Interaction,
        file: discord.Attachment | None = None,
        text: str | None = None,
        title: str | None = None,
        url: str | None = None,
        outlet: str | None = None,
        published: str | None = None,
    ) -> None:
        self._require_admin(interaction)
        assert interaction.guild_id is not None  # guild_only
        scope = guild_scope(interaction.guild_id)
        fetch = url if file is None and text is None else None
        if fetch is None and (file is None) == (text is None):
            raise InputError("Give a file, text or a url to ingest (one of them).")
        limit = self.config.max_file_bytes
        if file is not None and file.size > limit:
            raise InputError(
                f"{file.filename} is {file.size:,} bytes, over the {limit:,}-byte limit."
            )
        when = optional_day(published, end_of_day=False, name="published")
        # Counted once the command is valid: a mistake does not use up the server's quota.
        self.bot.ingest_quota.check(interaction.guild_id)
        await interaction.response.defer(ephemeral=True, thinking=True)
        if fetch is not None:
            # A page is read where it was downloaded: one job, bounded by the fetch deadline.
            fetched = await self.workers.fetching.run(
                partial(load_url, fetch, self.services.fetcher, scope=scope)
            )

            def load() -> list[LoadItem]:
                return fetched

        elif file is not None:
            data, name = await file.read(), file.filename

            def load() -> list[LoadItem]:
                return load_bytes(data, name=name, max_bytes=limit, scope=scope)

        else:
            assert text is not None

            def load() -> list[LoadItem]:
                return [
                    article_from_text(
                        text, title=title, url=url, outlet=outlet, published=when, scope=scope
                    )
                ]

        report, reply = await self.workers.ingesting.run(partial(self._ingest, load))
        self.services.answerer.invalidate_stats()
        self.bot.dispatch("articles_added", report.items)  # for the topic watches (cogs/watch.py)
        log.info(
            "Guild %s ingest by %s: %s", interaction.guild_id, interaction.user.id, report.to_json()
        )
        await interaction.followup.send(reply, ephemeral=True, allowed_mentions=NONE)

    def _ingest(self, load: Callable[[], list[LoadItem]]) -> tuple[IngestReport, str]:
        report = self.services.ingester.ingest(load())
        return report, ingest_report_text(report)

    def _forgettable_scopes(self, interaction: discord.Interaction) -> tuple[str, ...]:
        assert interaction.guild_id is not None
        own = (guild_scope(interaction.guild_id),)
        # Articles from the command line are shared by every server: only owners remove them.
        return (*own, GLOBAL_SCOPE) if interaction.user.id in self.config.owner_ids else own

    @app_commands.command(name="forget", description="Remove an article from this server's news.")
    @app_commands.describe(article="The article's title (pick from the list), id or URL")
    @app_commands.guild_only()
    @app_commands.default_permissions(manage_guild=True)
    async def forget(self, interaction: discord.Interaction, article: str) -> None:
        self._require_admin(interaction)
        scopes = self._forgettable_scopes(interaction)
        await interaction.response.defer(ephemeral=True, thinking=True)
        forgotten, reply = await self.workers.ingesting.run(partial(self._forget, article, scopes))
        if forgotten is None:
            raise NotFoundError(
                f"No article of this server has the id or URL {trim(article, 200)!r}: "
                "pick one from the list."
            )
        self.services.answerer.invalidate_stats()
        await interaction.followup.send(reply, ephemeral=True, allowed_mentions=NONE)

    def _forget(self, article: str, scopes: tuple[str, ...]) -> tuple[Forgotten | None, str]:
        services = self.services
        forgotten = forget_story(services.index, services.ingester, article, scopes=scopes)
        if forgotten is None:
            return None, ""
        # The answers that cited it let go of it (retrieval/feedback.py).
        services.feedback.drop_articles([forgotten.article.id])
        return forgotten, forgotten_text(forgotten)

    @forget.autocomplete("article")
    async def _article_choices(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        if interaction.guild_id is None:
            return []
        scopes = self._forgettable_scopes(interaction)
        return await self.workers.answering.run(partial(self._article_choices_in, scopes, current))

    def _article_choices_in(
        self, scopes: tuple[str, ...], current: str
    ) -> list[app_commands.Choice[str]]:
        return [
            app_commands.Choice(name=trim(a.title, 100), value=a.id)
            for a in self.services.index.list_articles(scopes=scopes)
            if _matches(a, current)
        ][:25]


async def setup(bot: NewsBot) -> None:
    await bot.add_cog(LibraryCog(bot))
