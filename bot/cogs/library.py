"""/sources for everyone; /ingest and /forget for a server's admins."""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot.permissions import require_admin
from bot.render import ingest_report_text, safe, sources_embed, trim
from bot.scopes import guild_scope, visible_scopes
from ingest.dedupe import forget_story
from ingest.fetching import Fetcher
from ingest.loaders import LoadItem, article_from_text, load_bytes
from ingest.webpages import load_url
from retrieval.dates import parse_day
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
        self.settings = bot.settings

    def _require_admin(self, interaction: discord.Interaction) -> None:
        require_admin(
            interaction,
            admin_role_ids=self.settings.admin_role_ids,
            owner_ids=self.settings.owner_ids,
        )

    @app_commands.command(name="sources", description="The newest ingested articles.")
    @app_commands.describe(query="Only articles whose title or outlet contains this")
    async def sources(self, interaction: discord.Interaction, query: str | None = None) -> None:
        await interaction.response.defer(thinking=True)
        articles = await asyncio.to_thread(
            self.services.index.list_articles, scopes=visible_scopes(interaction.guild_id)
        )
        if query:
            articles = [a for a in articles if _matches(a, query)]
        embed = sources_embed(articles[:SOURCES_SHOWN], total=len(articles), query=query)
        await interaction.followup.send(embed=embed, allowed_mentions=NONE)

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
        limit = self.settings.max_file_bytes
        if file is not None and file.size > limit:
            raise InputError(
                f"{file.filename} is {file.size:,} bytes, over the {limit:,}-byte limit."
            )
        when = parse_day(published, end_of_day=False, name="published") if published else None
        await interaction.response.defer(ephemeral=True, thinking=True)
        items: list[LoadItem]
        if fetch is not None:
            fetcher = Fetcher.from_settings(self.settings)
            items = await asyncio.to_thread(load_url, fetch, fetcher, scope=scope)
        elif file is not None:
            data = await file.read()
            items = load_bytes(data, name=file.filename, max_bytes=limit, scope=scope)
        else:
            assert text is not None
            items = [
                article_from_text(
                    text, title=title, url=url, outlet=outlet, published=when, scope=scope
                )
            ]
        report = await asyncio.to_thread(self.services.ingester.ingest, items)
        self.services.answerer.invalidate_stats()
        log.info(
            "Guild %s ingest by %s: %s", interaction.guild_id, interaction.user.id, report.to_json()
        )
        await interaction.followup.send(
            ingest_report_text(report), ephemeral=True, allowed_mentions=NONE
        )

    def _forgettable_scopes(self, interaction: discord.Interaction) -> tuple[str, ...]:
        assert interaction.guild_id is not None
        own = (guild_scope(interaction.guild_id),)
        # Articles from the command line are shared by every server: only owners remove them.
        return (*own, GLOBAL_SCOPE) if interaction.user.id in self.settings.owner_ids else own

    @app_commands.command(name="forget", description="Remove an article from this server's news.")
    @app_commands.describe(article="The article's title (pick from the list), id or URL")
    @app_commands.guild_only()
    @app_commands.default_permissions(manage_guild=True)
    async def forget(self, interaction: discord.Interaction, article: str) -> None:
        self._require_admin(interaction)
        scopes = self._forgettable_scopes(interaction)
        await interaction.response.defer(ephemeral=True, thinking=True)
        forgotten = await asyncio.to_thread(
            forget_story, self.services.index, self.services.ingester, article, scopes=scopes
        )
        if forgotten is None:
            raise NotFoundError(
                f"No article of this server has the id or URL {trim(article, 200)!r}: "
                "pick one from the list."
            )
        self.services.answerer.invalidate_stats()
        removed = forgotten.article
        text = f"Forgot “{trim(removed.title, 300)}” ({removed.chunk_count} chunks)."
        if forgotten.promoted is not None:
            copy = forgotten.promoted
            text += f" Its copy from {safe(copy.outlet or copy.title)} now stands in for it."
        await interaction.followup.send(text, ephemeral=True, allowed_mentions=NONE)

    @forget.autocomplete("article")
    async def _article_choices(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        if interaction.guild_id is None:
            return []
        articles = await asyncio.to_thread(
            self.services.index.list_articles, scopes=self._forgettable_scopes(interaction)
        )
        return [
            app_commands.Choice(name=trim(a.title, 100), value=a.id)
            for a in articles
            if _matches(a, current)
        ][:25]


async def setup(bot: NewsBot) -> None:
    await bot.add_cog(LibraryCog(bot))
