"""/feeds add|remove|list for a server's admins, and the background task that polls every
followed feed (the server's feeds feed that server's articles; the command line's feed all)."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import threading
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot.permissions import require_admin
from bot.quotas import check_feed_count
from bot.render import CONTENT_LIMIT, ingest_report_text, link, safe, trim
from bot.scopes import guild_scope
from bot.workers import ShuttingDownError
from ingest.feeds import Feed, FeedPoller, PollResult, describe
from retrieval.errors import NotFoundError

if TYPE_CHECKING:
    from bot.app import NewsBot

log = logging.getLogger(__name__)

NONE = discord.AllowedMentions.none()
# The poll loop wakes at least this often to poll the feeds that are due.
MAX_TICK_SECONDS = 60.0


def _poll_text(verb: str, result: PollResult) -> str:
    feed = result.feed
    head = f"{verb} **{safe(trim(feed.name, 200))}**{_shown(feed.url)}."
    if result.error:
        return f"{head}\nIt failed: {safe(result.error)}"
    if not result.report.items:
        return f"{head}\nNo new stories in it."
    return trim(f"{head}\n{ingest_report_text(result.report)}", CONTENT_LIMIT)


def _shown(url: str) -> str:
    """A feed's address, inert (render.link); nothing when it is not a clean http(s) URL."""
    shown = link(url)
    return f" {shown}" if shown else ""


def _list_text(feeds: list[Feed]) -> str:
    if not feeds:
        return "This server follows no feeds yet: add one with `/feeds add`."
    blocks = []
    for feed in feeds:
        blocks.append(f"**{safe(trim(feed.name, 200))}**{_shown(feed.url)}\n{safe(describe(feed))}")
    text = ""
    for n, block in enumerate(blocks):
        more = f"\n\nand {len(blocks) - n} more feeds"
        if len(text) + len(block) + 2 + len(more) > CONTENT_LIMIT:
            return text + more
        text += ("\n\n" if text else "") + block
    return text


class FeedsCog(commands.Cog):
    feeds = app_commands.Group(
        name="feeds",
        description="Follow news feeds: their new stories are ingested as they appear.",
        guild_only=True,
        default_permissions=discord.Permissions(manage_guild=True),
    )

    def __init__(self, bot: NewsBot) -> None:
        self.bot = bot
        self.config = bot.config
        self.poller: FeedPoller = bot.services.poller
        self._stop = threading.Event()
        self._task: asyncio.Task[None] | None = None

    # --- background polling --------------------------------------------------------------

    async def cog_load(self) -> None:
        self._task = asyncio.create_task(self._poll_forever(), name="newsbot-feed-poller")

    async def cog_unload(self) -> None:
        self._stop.set()  # a poll in progress stops after its current feed
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _poll_forever(self) -> None:
        tick = min(MAX_TICK_SECONDS, self.config.feed_poll_seconds)
        while not self._stop.is_set():
            try:
                # In the bot's bounded fetch pool: a poll in progress is inside the shutdown
                # deadline, and does not hold a thread /ask needs.
                results = await self.bot.workers.fetching.run(
                    functools.partial(self.poller.poll_due, stop=self._stop)
                )
            except ShuttingDownError:
                return
            except Exception:
                log.exception("Polling the feeds failed")
            else:
                for result in results:
                    if result.ingested:
                        log.info("Feed %s: %d stories ingested", result.feed.url, result.ingested)
            await asyncio.sleep(tick)

    # --- commands --------------------------------------------------------------------------

    def _require_admin(self, interaction: discord.Interaction) -> str:
        require_admin(
            interaction,
            admin_role_ids=self.config.admin_role_ids,
            owner_ids=self.config.owner_ids,
        )
        assert interaction.guild_id is not None  # guild_only
        return guild_scope(interaction.guild_id)

    @feeds.command(name="add", description="Follow a feed and ingest its stories now.")
    @app_commands.describe(url="The feed's link (RSS or Atom)")
    async def add(self, interaction: discord.Interaction, url: str) -> None:
        scope = self._require_admin(interaction)
        await interaction.response.defer(ephemeral=True, thinking=True)
        followed = await self.bot.workers.answering.run(
            functools.partial(self.poller.feeds, [scope])
        )
        check_feed_count(len(followed), self.config.feeds_per_server)
        assert interaction.guild_id is not None  # guild_only
        self.bot.ingest_quota.check(interaction.guild_id)
        result = await self.bot.workers.fetching.run(functools.partial(self.poller.add, url, scope))
        log.info("Guild %s follows %s (by %s)", interaction.guild_id, url, interaction.user.id)
        await interaction.followup.send(
            _poll_text("Following", result), ephemeral=True, allowed_mentions=NONE
        )

    @feeds.command(name="remove", description="Stop following a feed (its stories stay).")
    @app_commands.describe(url="The feed's link (pick from the list)")
    async def remove(self, interaction: discord.Interaction, url: str) -> None:
        scope = self._require_admin(interaction)
        await interaction.response.defer(ephemeral=True, thinking=True)
        removed = await self.bot.workers.ingesting.run(
            functools.partial(self.poller.remove, url, scope)
        )
        if removed is None:
            raise NotFoundError(
                f"This server does not follow {trim(url, 200)!r}: pick a feed from the list."
            )
        await interaction.followup.send(
            f"Stopped following **{safe(trim(removed.name, 200))}**. Its stories stay; "
            "`/forget` removes one.",
            ephemeral=True,
            allowed_mentions=NONE,
        )

    @remove.autocomplete("url")
    async def _feed_choices(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        if interaction.guild_id is None:
            return []
        scopes = [guild_scope(interaction.guild_id)]
        followed = await self.bot.workers.answering.run(
            functools.partial(self.poller.feeds, scopes)
        )
        wanted = current.casefold()
        return [
            app_commands.Choice(name=trim(f.name, 100), value=f.url)
            for f in followed
            if len(f.url) <= 100 and (wanted in f.name.casefold() or wanted in f.url.casefold())
        ][:25]

    @feeds.command(name="list", description="The feeds this server follows, with their status.")
    async def list_feeds(self, interaction: discord.Interaction) -> None:
        scope = self._require_admin(interaction)
        await interaction.response.defer(ephemeral=True, thinking=True)
        followed = await self.bot.workers.answering.run(
            functools.partial(self.poller.feeds, [scope])
        )
        await interaction.followup.send(_list_text(followed), ephemeral=True, allowed_mentions=NONE)


async def setup(bot: NewsBot) -> None:
    await bot.add_cog(FeedsCog(bot))
