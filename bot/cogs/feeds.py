"""/feeds add|edit|pause|resume|remove|list for a server's admins, and the background task
that polls every followed feed (the server's feeds feed that server's articles; the command
line's feed all) and posts a feed's new stories to its channel, when it has one."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import logging
import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot.feed_posts import FeedFilter, post_embed, select_posts
from bot.permissions import require_admin
from bot.quotas import check_feed_count
from bot.render import CONTENT_LIMIT, ingest_report_text, link, safe, trim
from bot.scopes import guild_scope
from bot.workers import ShuttingDownError
from ingest.feeds import Feed, FeedPoller, PollResult, Posting, describe
from ingest.reports import ItemResult
from retrieval.errors import InputError, NotFoundError

if TYPE_CHECKING:
    from bot.app import NewsBot

log = logging.getLogger(__name__)

NONE = discord.AllowedMentions.none()
# The poll loop wakes at least this often to poll the feeds that are due.
MAX_TICK_SECONDS = 60.0
PAUSED_BY_ADMIN = "paused with /feeds pause"


def _poll_text(verb: str, result: PollResult) -> str:
    feed = result.feed
    head = (
        f"{verb} **{safe(trim(feed.name, 200))}**{_shown(feed.url)}.{_posting_text(feed.posting)}"
    )
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
        blocks.append(
            f"**{safe(trim(feed.name, 200))}**{_shown(feed.url)}\n{safe(describe(feed))}"
            f"{_posting_text(feed.posting)}"
        )
    text = ""
    for n, block in enumerate(blocks):
        more = f"\n\nand {len(blocks) - n} more feeds"
        if len(text) + len(block) + 2 + len(more) > CONTENT_LIMIT:
            return text + more
        text += ("\n\n" if text else "") + block
    return text


def _posting_text(posting: Posting) -> str:
    """Where a feed posts, as a line of its own (nothing for a feed that is only ingested)."""
    if posting.channel_id is None:
        return ""
    text = f"\nposts to <#{posting.channel_id}>"
    if posting.post_filter:
        text += f" · filter: {safe(trim(posting.post_filter, 200))}"
    if posting.paused:
        text += f"\nposting paused: {safe(posting.pause_reason or PAUSED_BY_ADMIN)}"
    return text


def _pause_reason(exc: discord.HTTPException) -> str:
    detail = f"Discord said: {exc.text or exc.status}"
    if isinstance(exc, discord.NotFound):
        return f"the channel was deleted ({detail}); pick another with /feeds edit"
    return (
        f"the bot may no longer post in the channel ({detail}); give it back its "
        "permissions, then /feeds resume"
    )


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
                    await self._post_new(result.feed, result.added)
            await asyncio.sleep(tick)

    # --- posting ---------------------------------------------------------------------------

    def _prepare_posts(self, feed: Feed, added: Sequence[ItemResult]) -> list[discord.Embed]:
        """In a worker: the embeds of the newest stories to post (filter, text, escaping)."""
        index = self.bot.services.index
        articles = index.get_articles([i.article_id for i in added if i.article_id])
        bodies = index.get_bodies([i.article_id for i in added if i.article_id and not i.copy_of])
        post_filter = feed.posting.post_filter
        feed_filter = FeedFilter.parse(post_filter) if post_filter else None
        posts = select_posts(added, articles, bodies, feed_filter, self.config.feed_posts_per_poll)
        return [post_embed(post) for post in posts]

    async def _post_new(self, feed: Feed, added: Sequence[ItemResult]) -> None:
        """Post a poll's new stories to the feed's channel; whatever goes wrong is logged, and
        never stops the polling or the command that added the feed."""
        self.bot.dispatch("articles_added", added)  # for the topic watches (cogs/watch.py)
        if feed.posting.channel_id is None or feed.posting.paused or not added:
            return
        try:
            await self._post_stories(feed, added)
        except ShuttingDownError:
            return
        except Exception:
            log.exception("Feed %s: posting its new stories failed", feed.url)

    async def _post_stories(self, feed: Feed, added: Sequence[ItemResult]) -> None:
        """One post at a time, in order (discord.py waits out the channel's rate limit, and a
        429's retry_after). A channel that is gone or closed to the bot pauses the feed's
        posting; its ingest goes on."""
        posting = feed.posting
        assert posting.channel_id is not None
        embeds = await self.bot.workers.answering.run(
            functools.partial(self._prepare_posts, feed, added)
        )
        channel = self.bot.get_partial_messageable(posting.channel_id)
        for embed in embeds:
            try:
                await channel.send(embed=embed, allowed_mentions=NONE)
            except (discord.NotFound, discord.Forbidden) as exc:
                reason = _pause_reason(exc)
                log.warning("Feed %s: posting paused: %s", feed.url, reason)
                paused = dataclasses.replace(posting, paused=True, pause_reason=reason)
                await self.bot.workers.ingesting.run(
                    functools.partial(self.poller.set_posting, feed, paused)
                )
                return
            except discord.HTTPException:
                # Anything else (a 5xx after discord.py's retries) loses this post only.
                log.warning(
                    "Feed %s: a post to %s failed", feed.url, posting.channel_id, exc_info=True
                )

    # --- commands --------------------------------------------------------------------------

    def _require_admin(self, interaction: discord.Interaction) -> str:
        require_admin(
            interaction,
            admin_role_ids=self.config.admin_role_ids,
            owner_ids=self.config.owner_ids,
        )
        assert interaction.guild_id is not None  # guild_only
        return guild_scope(interaction.guild_id)

    async def _checked_filter(self, post_filter: str | None) -> str | None:
        """The filter as typed, once it parses (in a worker: it is user input)."""
        if post_filter is None:
            return None
        await self.bot.workers.answering.run(functools.partial(FeedFilter.parse, post_filter))
        return post_filter.strip()

    async def _followed(self, scope: str, url: str) -> Feed:
        feed = await self.bot.workers.answering.run(functools.partial(self.poller.find, url, scope))
        if feed is None:
            raise NotFoundError(
                f"This server does not follow {trim(url, 200)!r}: pick a feed from the list."
            )
        return feed

    async def _save_posting(
        self, interaction: discord.Interaction, feed: Feed, posting: Posting, verb: str
    ) -> None:
        saved = await self.bot.workers.ingesting.run(
            functools.partial(self.poller.set_posting, feed, posting)
        )
        where = _posting_text(saved.posting).strip() or "it is only ingested"
        await interaction.followup.send(
            f"{verb} **{safe(trim(saved.name, 200))}**: {where}",
            ephemeral=True,
            allowed_mentions=NONE,
        )

    @feeds.command(name="add", description="Follow a feed and ingest its stories now.")
    @app_commands.describe(
        url="The feed's link (RSS or Atom)",
        channel="Post each new story there (without it, stories are only ingested)",
        post_filter='Post only stories with all these words, or a "phrase in quotes"',
    )
    @app_commands.rename(post_filter="filter")
    async def add(
        self,
        interaction: discord.Interaction,
        url: str,
        channel: discord.TextChannel | None = None,
        post_filter: str | None = None,
    ) -> None:
        scope = self._require_admin(interaction)
        await interaction.response.defer(ephemeral=True, thinking=True)
        if post_filter is not None and channel is None:
            raise InputError("A filter chooses what is posted: give a channel too.")
        posting = Posting(
            channel_id=channel.id if channel else None,
            post_filter=await self._checked_filter(post_filter),
        )
        followed = await self.bot.workers.answering.run(
            functools.partial(self.poller.feeds, [scope])
        )
        check_feed_count(len(followed), self.config.feeds_per_server)
        assert interaction.guild_id is not None  # guild_only
        self.bot.ingest_quota.check(interaction.guild_id)
        result = await self.bot.workers.fetching.run(
            functools.partial(self.poller.add, url, scope, posting=posting)
        )
        log.info("Guild %s follows %s (by %s)", interaction.guild_id, url, interaction.user.id)
        await interaction.followup.send(
            _poll_text("Following", result),
            ephemeral=True,
            allowed_mentions=NONE,
        )
        # No backlog: the first read posts only its newest stories (as any poll may).
        await self._post_new(result.feed, result.added)

    @feeds.command(name="edit", description="Change where a feed posts, or what.")
    @app_commands.describe(
        url="The feed's link (pick from the list)",
        channel="Post its new stories there from now on (and resume posting)",
        post_filter='Post only stories with all these words, or a "phrase in quotes"',
        clear_filter="Post every new story again",
    )
    @app_commands.rename(post_filter="filter")
    async def edit(
        self,
        interaction: discord.Interaction,
        url: str,
        channel: discord.TextChannel | None = None,
        post_filter: str | None = None,
        clear_filter: bool = False,
    ) -> None:
        scope = self._require_admin(interaction)
        await interaction.response.defer(ephemeral=True, thinking=True)
        if channel is None and post_filter is None and not clear_filter:
            raise InputError("Give a channel, a filter, or clear_filter: nothing to change.")
        if post_filter is not None and clear_filter:
            raise InputError("Give a filter or clear_filter, not both.")
        feed = await self._followed(scope, url)
        posting = feed.posting
        if channel is not None:
            # A new channel is a fresh start: whatever paused the old one no longer applies.
            posting = Posting(channel_id=channel.id, post_filter=posting.post_filter)
        if posting.channel_id is None:
            raise InputError("This feed posts nowhere yet: give it a channel.")
        if post_filter is not None or clear_filter:
            posting = dataclasses.replace(
                posting, post_filter=await self._checked_filter(post_filter)
            )
        await self._save_posting(interaction, feed, posting, "Changed")

    @feeds.command(name="pause", description="Stop posting a feed's stories (still ingested).")
    @app_commands.describe(url="The feed's link (pick from the list)")
    async def pause(self, interaction: discord.Interaction, url: str) -> None:
        scope = self._require_admin(interaction)
        await interaction.response.defer(ephemeral=True, thinking=True)
        feed = await self._followed(scope, url)
        if feed.posting.channel_id is None:
            raise InputError("This feed posts nowhere: there is nothing to pause.")
        paused = dataclasses.replace(feed.posting, paused=True, pause_reason=PAUSED_BY_ADMIN)
        await self._save_posting(interaction, feed, paused, "Paused")

    @feeds.command(name="resume", description="Post a paused feed's new stories again.")
    @app_commands.describe(url="The feed's link (pick from the list)")
    async def resume(self, interaction: discord.Interaction, url: str) -> None:
        scope = self._require_admin(interaction)
        await interaction.response.defer(ephemeral=True, thinking=True)
        feed = await self._followed(scope, url)
        if feed.posting.channel_id is None:
            raise InputError("This feed posts nowhere: give it a channel with /feeds edit.")
        resumed = dataclasses.replace(feed.posting, paused=False, pause_reason=None)
        await self._save_posting(interaction, feed, resumed, "Resumed")

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
    @edit.autocomplete("url")
    @pause.autocomplete("url")
    @resume.autocomplete("url")
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
