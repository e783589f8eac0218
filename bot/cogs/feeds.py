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
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, TypeVar

import aiohttp
import discord
from discord import app_commands
from discord.ext import commands

from bot.feed_posts import FeedFilter, feed_post, missing_permission, post_embed, select_posts
from bot.permissions import require_admin
from bot.quotas import check_feed_count
from bot.render import CONTENT_LIMIT, ingest_report_text, link, listing, safe, trim
from bot.scopes import guild_scope
from bot.sent_posts import sent_before
from bot.workers import ShuttingDownError
from ingest.feed_outbox import PostRecord
from ingest.feeds import Feed, FeedPoller, PollResult, Posting, describe
from retrieval.errors import InputError, NotFoundError

if TYPE_CHECKING:
    from bot.app import NewsBot

log = logging.getLogger(__name__)

T = TypeVar("T")

NONE = discord.AllowedMentions.none()
# The poll loop wakes at least this often to poll the feeds that are due (and to retry the
# posts that failed).
MAX_TICK_SECONDS = 60.0
PAUSED_BY_ADMIN = "paused with /feeds pause"
# A post or edit still unanswered after this (Discord unreachable) is tried again next poll.
POST_TIMEOUT_SECONDS = 60.0
UNKNOWN_CHANNEL = 10003  # Discord's error code


@dataclass(frozen=True, slots=True)
class _Delivery:
    """A feed's queue, ready to post: each post with its embed (None: its article is gone)."""

    feed: Feed
    posts: tuple[tuple[PostRecord, discord.Embed | None], ...]


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
    return listing(blocks, "feeds")


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


def _check_can_post(channel: discord.abc.GuildChannel) -> None:
    missing = missing_permission(channel)
    if missing is not None:
        raise InputError(
            f"I can't post in <#{channel.id}>: give me the **{missing}** permission there "
            "(in the channel's settings, Permissions), then try again."
        )


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
        self.outbox = self.poller.store.posts
        self._stop = threading.Event()
        self._delivering = asyncio.Lock()
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
                    self.bot.dispatch("articles_added", result.added)  # for cogs/watch.py
            # The polls recorded what each feed owes its channel (ingest/feed_outbox.py): new
            # stories, posts that failed before, copies of posted stories.
            await self._post_owed()
            await asyncio.sleep(tick)

    # --- posting ---------------------------------------------------------------------------

    async def _post_owed(self) -> None:
        """Every feed's posts owed, then the edits naming new copies. Whatever goes wrong is
        logged, and never stops the polling."""
        try:
            for feed_id in await self._in_worker(self.outbox.feeds_owed):
                await self._deliver(feed_id)
            await self._show_new_copies()
        except ShuttingDownError:
            return
        except Exception:
            log.exception("Posting the feeds' stories failed")

    async def _in_worker(self, work: Callable[[], T]) -> T:
        """Feeds-file and index reads and writes: short, on the answering pool."""
        return await self.bot.workers.answering.run(work)

    def _embeds(self, posts: Sequence[PostRecord]) -> dict[str, discord.Embed]:
        """In a worker: each post's embed, from its article as stored now (with every copy
        of it so far); none for an article forgotten meanwhile."""
        if not posts:  # most rounds: nothing is owed
            return {}
        index = self.bot.services.index
        articles = index.get_articles([p.article_id for p in posts])
        bodies = index.get_bodies(list(articles))
        copies = index.copies_of(list(articles))
        return {
            aid: post_embed(feed_post(article, bodies.get(aid, ""), copies.get(aid, ())))
            for aid, article in articles.items()
        }

    def _delivery(self, feed_id: int) -> _Delivery | None:
        """In a worker: which of the feed's new stories it posts (filter, per-poll limit),
        queued after those still owed, and the whole queue with its embeds."""
        feed = self.poller.store.get(feed_id)
        if feed is None or not feed.posting.active:
            return None
        new = self.outbox.new(feed.id)
        if new:
            index = self.bot.services.index
            stories = index.get_articles(new)
            bodies = index.get_bodies(list(stories))
            post_filter = feed.posting.post_filter
            feed_filter = FeedFilter.parse(post_filter) if post_filter else None
            limit = self.config.feed_posts_per_poll
            chosen = select_posts(list(stories.values()), bodies, feed_filter, limit)
            self.outbox.queue(feed.id, [story.id for story in chosen], new)
        # Read before the embeds: a copy counted here is in the index already.
        queue = self.outbox.unsent(feed.id)
        embeds = self._embeds(queue)
        return _Delivery(feed, tuple((post, embeds.get(post.article_id)) for post in queue))

    async def _deliver(self, feed_id: int) -> None:
        """Post what a feed owes its channel, one post at a time, in order (discord.py waits
        out the channel's rate limit, and a 429's retry_after). A post that fails for
        Discord's own trouble stops the feed's posting until the next poll, which starts
        again from it; a channel that is gone or closed to the bot pauses it."""
        async with self._delivering:  # one delivery at a time: a post is never sent twice
            delivery = await self._in_worker(functools.partial(self._delivery, feed_id))
            if delivery is None:
                return
            feed = delivery.feed
            assert feed.posting.channel_id is not None  # active
            missing = self._missing_permission(feed.posting.channel_id)
            if missing is not None:
                reason = f"the bot lacks the {missing} permission in the channel; grant it, then "
                await self._pause(feed, reason + "/feeds resume")
                return
            for post, embed in delivery.posts:
                if not await self._deliver_post(feed, post, embed):
                    return

    def _missing_permission(self, channel_id: int) -> str | None:
        channel = self.bot.get_channel(channel_id)
        if isinstance(channel, discord.abc.GuildChannel):
            return missing_permission(channel)
        return None  # not a channel the bot knows of: Discord's answer to the post tells

    async def _deliver_post(
        self, feed: Feed, post: PostRecord, embed: discord.Embed | None
    ) -> bool:
        """Deliver one post; False when the feed's next posts must wait (or not be made)."""
        if embed is None:  # its article was forgotten meanwhile
            await self._in_worker(functools.partial(self.outbox.drop, post))
            return True
        channel_id = feed.posting.channel_id
        assert channel_id is not None
        try:
            if post.state == "sending":
                assert post.channel_id is not None and post.attempted_at is not None
                sent = await sent_before(
                    self.bot,
                    post.channel_id,
                    post.attempted_at,
                    lambda e: (e.title, e.url) == (embed.title, embed.url),
                )
                if sent is not None:
                    await self._in_worker(
                        functools.partial(self.outbox.posted, post, sent.id, post.copies)
                    )
                    return True
            # Recorded before it is sent (see ingest/feed_outbox.py): a crash from here on
            # leaves it "sending", and the next try looks for it before posting again.
            post = await self._in_worker(
                functools.partial(self.outbox.sending, post, channel_id, datetime.now(UTC))
            )
            async with asyncio.timeout(POST_TIMEOUT_SECONDS):
                message = await self.bot.get_partial_messageable(channel_id).send(
                    embed=embed, nonce=post.nonce, allowed_mentions=NONE
                )
        except (discord.Forbidden, discord.NotFound) as exc:
            if isinstance(exc, discord.NotFound) and exc.code != UNKNOWN_CHANNEL:
                # Its nonce names a message of ours deleted meanwhile: a moderator removed it.
                await self._in_worker(functools.partial(self.outbox.drop, post))
                return True
            await self._pause(feed, _pause_reason(exc))
            return False
        except discord.HTTPException as exc:
            if exc.status < 500:  # Discord refuses this post itself: lose it, post the rest
                log.warning("Feed %s: Discord refused a post", feed.url, exc_info=True)
                await self._in_worker(functools.partial(self.outbox.drop, post))
                return True
            log.warning("Feed %s: a post failed (%s); tried again next poll", feed.url, exc)
            return False
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            log.warning("Feed %s: a post failed (%r); tried again next poll", feed.url, exc)
            return False
        await self._in_worker(functools.partial(self.outbox.posted, post, message.id, post.copies))
        return True

    async def _pause(self, feed: Feed, reason: str) -> None:
        log.warning("Feed %s: posting paused: %s", feed.url, reason)
        paused = dataclasses.replace(feed.posting, paused=True, pause_reason=reason)
        await self._in_worker(functools.partial(self.poller.set_posting, feed, paused))

    def _copy_edits(self) -> list[tuple[PostRecord, discord.Embed]]:
        """In a worker: the posts whose story got copies since, with their new embeds."""
        due = self.outbox.to_edit()
        embeds = self._embeds(due)
        for post in due:
            if post.article_id not in embeds:  # forgotten meanwhile
                self.outbox.drop(post)
        return [(post, embeds[post.article_id]) for post in due if post.article_id in embeds]

    async def _show_new_copies(self) -> None:
        """Edit each post whose story was syndicated since: "Also reported by" names the
        copies' outlets (the post is never made twice)."""
        async with self._delivering:
            for post, embed in await self._in_worker(self._copy_edits):
                assert post.channel_id is not None and post.message_id is not None
                channel = self.bot.get_partial_messageable(post.channel_id)
                try:
                    async with asyncio.timeout(POST_TIMEOUT_SECONDS):
                        await channel.get_partial_message(post.message_id).edit(
                            embed=embed, allowed_mentions=NONE
                        )
                except discord.HTTPException as exc:
                    if exc.status >= 500:
                        log.warning("A post's edit failed (%s); tried again next poll", exc)
                        return
                    # The message or its channel is gone or closed to the bot: nothing to
                    # show there any more.
                    log.info("Post %s cannot be edited: %s", post.message_id, exc)
                    await self._in_worker(functools.partial(self.outbox.drop, post))
                    continue
                except (aiohttp.ClientError, OSError, TimeoutError) as exc:
                    log.warning("A post's edit failed (%r); tried again next poll", exc)
                    return
                await self._in_worker(functools.partial(self.outbox.shown, post, post.copies))

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
        if channel is not None:
            _check_can_post(channel)
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
        self.bot.dispatch("articles_added", result.added)  # for the topic watches (cogs/watch.py)
        await interaction.followup.send(
            _poll_text("Following", result),
            ephemeral=True,
            allowed_mentions=NONE,
        )
        # No backlog: the first read posts only its newest stories (as any poll may).
        await self._post_owed()

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
            _check_can_post(channel)
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
        channel = self.bot.get_channel(feed.posting.channel_id)
        if not isinstance(channel, discord.abc.GuildChannel):
            raise InputError("Its channel is gone: pick another with /feeds edit.")
        _check_can_post(channel)
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
