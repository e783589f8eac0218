"""/watch add|list|remove: members follow topics ("openai board"); each newly ingested
article about one is posted to them by DM, or, for an admin's watch, to a channel.

Discord does not let a command that has subcommands be invoked itself, so the issue's
`/watch topic:` is `/watch add topic:` beside `/watch list` and `/watch remove`.

A background task matches every stored article not matched yet (bot/watch_sweep.py): at
once when this process stores articles (the `articles_added` event, dispatched with an
ingest's items by /ingest and by the feed poller), and every minute for what other
processes stored (in server mode, `newsbot ingest` and `newsbot feeds poll` beside the
bot) or a crash left unmatched. Each new lead article (a syndicated copy is never posted:
its story was matched as its lead) is matched against the watches of the servers that can
see it (bot/scopes.py), one job per server and topic on the answering pool
(retrieval/watching.py: /ask's scoring, against that article only), and each hit is posted
once per watch: recorded as owed, then delivered, each place's posts in order (bot/watches.py,
OwedPost). A post Discord fails for its own trouble is tried again next round, before that
place's later posts. A post that cannot be delivered (DMs closed, channel gone or closed to
the bot) is logged and its reason shown in /watch list; the watch stays and the next hit is
tried again.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import aiohttp
import discord
from discord import app_commands
from discord.ext import commands

from bot import watch_sweep
from bot.permissions import is_admin, require_admin
from bot.scopes import visible_scopes
from bot.sent_posts import sent_before
from bot.watch_posts import hit_embed, list_text, where
from bot.watches import OwedPost, Watch, topic_key
from bot.workers import ShuttingDownError
from ingest.reports import ItemResult, Status
from retrieval.errors import NotFoundError
from retrieval.watching import check_topic

if TYPE_CHECKING:
    from bot.app import NewsBot

log = logging.getLogger(__name__)

NONE = discord.AllowedMentions.none()
DMS_CLOSED = 50007  # Discord: "Cannot send messages to this user"
CHOICE_LIMIT = 100  # an autocomplete choice's name
# A post still unanswered after this (Discord unreachable) is tried again next round.
POST_TIMEOUT_SECONDS = 60.0


def _undelivered(watch: Watch, exc: discord.HTTPException) -> str:
    """Why a post did not arrive, as /watch list shows it."""
    if watch.channel_id is None:
        if exc.code == DMS_CLOSED:
            return (
                "your DMs are closed to this server's members: allow direct messages from "
                "server members (Privacy Settings) and the next ones will arrive"
            )
        return f"Discord refused the DM ({exc.text or exc.status})"
    if isinstance(exc, discord.NotFound):
        return "the channel was deleted: remove this watch and add it again with another channel"
    return (
        f"the bot may not post in <#{watch.channel_id}> (Discord said: {exc.text or exc.status}); "
        "give it back its permissions there"
    )


class WatchCog(commands.Cog):
    watch = app_commands.Group(
        name="watch",
        description="Follow a topic: each new article about it is sent to you.",
        guild_only=True,
    )

    def __init__(self, bot: NewsBot) -> None:
        self.bot = bot
        self.config = bot.config
        self.store = bot.services.watches
        self.matcher = bot.services.matcher
        self._new = watch_sweep.NewArticles(bot.services.index, self.store)
        self._hinted: list[str] = []  # leads this process just stored, in order
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def cog_load(self) -> None:
        self._task = asyncio.create_task(self._match_forever(), name="newsbot-watch-matching")

    async def cog_unload(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def _is_admin(self, interaction: discord.Interaction) -> bool:
        return is_admin(
            interaction.user,
            admin_role_ids=self.config.admin_role_ids,
            owner_ids=self.config.owner_ids,
        )

    # --- commands --------------------------------------------------------------------------

    @watch.command(name="add", description="Follow a topic: new articles about it come to you.")
    @app_commands.describe(
        topic="What to follow, e.g. openai board or michigan sign stealing",
        channel="Post them to this channel instead of your DMs (admins only)",
    )
    async def add(
        self,
        interaction: discord.Interaction,
        topic: str,
        channel: discord.TextChannel | None = None,
    ) -> None:
        if channel is not None:
            require_admin(
                interaction,
                admin_role_ids=self.config.admin_role_ids,
                owner_ids=self.config.owner_ids,
            )
        assert interaction.guild_id is not None  # guild_only
        await interaction.response.defer(ephemeral=True, thinking=True)
        text = await self.bot.workers.answering.run(functools.partial(check_topic, topic))
        watch = await self.bot.workers.ingesting.run(
            functools.partial(
                self.store.add,
                guild_id=interaction.guild_id,
                owner_id=interaction.user.id,
                channel_id=channel.id if channel else None,
                topic=text,
                per_user=self.config.watches_per_user,
                per_server=self.config.watches_per_server,
            )
        )
        log.info("Guild %s: watch %d by %s", interaction.guild_id, watch.id, interaction.user.id)
        shown = await self.bot.workers.answering.run(
            functools.partial(list_text, [watch], interaction.user.id)
        )
        note = (
            " (make sure you accept direct messages from this server's members)"
            if channel is None
            else ""
        )
        await interaction.followup.send(
            f"Watching: each new article about it goes to {where(watch)}{note}.\n{shown}",
            ephemeral=True,
            allowed_mentions=NONE,
        )

    def _visible(self, guild_id: int, user_id: int, admin: bool) -> list[Watch]:
        """The watches a member may list and remove here: their own, and for an admin every
        channel watch of the server."""
        return [
            w
            for w in self.store.in_guild(guild_id)
            if w.owner_id == user_id or (admin and w.channel_id is not None)
        ]

    @watch.command(name="list", description="Your watches in this server.")
    async def list_watches(self, interaction: discord.Interaction) -> None:
        assert interaction.guild_id is not None  # guild_only
        admin = self._is_admin(interaction)
        await interaction.response.defer(ephemeral=True, thinking=True)
        user_id = interaction.user.id
        watches = await self.bot.workers.answering.run(
            functools.partial(self._visible, interaction.guild_id, user_id, admin)
        )
        text = await self.bot.workers.answering.run(functools.partial(list_text, watches, user_id))
        await interaction.followup.send(text, ephemeral=True, allowed_mentions=NONE)

    @watch.command(name="remove", description="Stop following a topic.")
    @app_commands.describe(watch_id="The watch (pick from the list)")
    @app_commands.rename(watch_id="watch")
    async def remove(self, interaction: discord.Interaction, watch_id: int) -> None:
        assert interaction.guild_id is not None  # guild_only
        admin = self._is_admin(interaction)
        await interaction.response.defer(ephemeral=True, thinking=True)
        visible = await self.bot.workers.answering.run(
            functools.partial(self._visible, interaction.guild_id, interaction.user.id, admin)
        )
        if watch_id not in {w.id for w in visible}:
            raise NotFoundError(
                f"You have no watch #{watch_id} in this server: pick one from the list."
            )
        removed = await self.bot.workers.ingesting.run(
            functools.partial(self.store.remove, watch_id)
        )
        if removed is None:  # removed meanwhile
            raise NotFoundError(f"Watch #{watch_id} was already removed.")
        shown = await self.bot.workers.answering.run(
            functools.partial(list_text, [removed], interaction.user.id)
        )
        await interaction.followup.send(
            f"Stopped watching:\n{shown}", ephemeral=True, allowed_mentions=NONE
        )

    @remove.autocomplete("watch_id")
    async def _watch_choices(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[int]]:
        if interaction.guild_id is None:
            return []
        watches = await self.bot.workers.answering.run(
            functools.partial(
                self._visible,
                interaction.guild_id,
                interaction.user.id,
                self._is_admin(interaction),
            )
        )
        # On the event loop: a few linear passes over strings of at most 100 characters.
        wanted = current.casefold()
        choices = []
        for w in watches:
            place = "DM" if w.channel_id is None else self._channel_name(w.channel_id)
            name = f"#{w.id} {w.topic} → {place}"
            if wanted in name.casefold():
                shown = name if len(name) <= CHOICE_LIMIT else name[: CHOICE_LIMIT - 1] + "…"
                choices.append(app_commands.Choice(name=shown, value=w.id))
        return choices[:25]

    def _channel_name(self, channel_id: int) -> str:
        channel = self.bot.get_channel(channel_id)
        return f"#{channel.name}" if isinstance(channel, discord.abc.GuildChannel) else "a channel"

    # --- new articles ----------------------------------------------------------------------

    @commands.Cog.listener()
    async def on_articles_added(self, items: Sequence[ItemResult]) -> None:
        """An ingest of this process stored articles: match its new leads now (the next
        round, which also finds what other processes stored)."""
        leads = [
            i.article_id
            for i in items
            if i.status is Status.ADDED and i.copy_of is None and i.article_id
        ]
        if leads:
            self._hinted.extend(leads)
            self._wake.set()

    async def _match_forever(self) -> None:
        """Each round: the stored articles not matched yet (bot/watch_sweep.py) against the
        watches. Whatever goes wrong is logged, and the next round tries again."""
        await self.bot.wait_until_ready()  # posts name their server
        while True:
            self._wake.clear()
            try:
                await self._match_new()
            except ShuttingDownError:
                return
            except Exception:
                log.exception("Matching new articles against the watches failed")
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(watch_sweep.SWEEP_SECONDS):
                    await self._wake.wait()

    async def _match_new(self) -> None:
        """A round: the posts earlier rounds still owe, then each new article's (matched,
        recorded as owed, then delivered)."""
        hinted, self._hinted = self._hinted, []
        workers = self.bot.workers
        waiting: set[tuple[str, int]] = set()  # places whose posts wait for the next round
        await self._deliver_owed(waiting)
        now = datetime.now(UTC)
        due = await workers.answering.run(functools.partial(self._new.due, hinted, now))
        for article_id in due:
            try:
                await self._notify(article_id)
            except ShuttingDownError:
                raise
            except Exception:
                log.exception("Matching article %s against the watches failed", article_id)
                await workers.ingesting.run(functools.partial(self._new.failed, article_id))
                continue
            await workers.ingesting.run(functools.partial(self._new.done, [article_id]))
            await self._deliver_owed(waiting)

    def _watchers(self, article_id: str) -> list[list[Watch]]:
        """The watches that can see the article (those of every server for one ingested from
        the command line, else its server's), one group per server and topic."""
        found = self.bot.services.index.get_articles([article_id]).get(article_id)
        if found is None:  # forgotten meanwhile
            return []
        groups: dict[tuple[int, str], list[Watch]] = {}
        for w in self.store.every():
            if found.scope in visible_scopes(w.guild_id):
                groups.setdefault((w.guild_id, topic_key(w.topic)), []).append(w)
        return list(groups.values())

    async def _notify(self, article_id: str) -> None:
        """Match the article against every watch that can see it; record the hits as owed."""
        workers = self.bot.workers
        groups = await workers.answering.run(functools.partial(self._watchers, article_id))
        for group in groups:
            guild = self.bot.get_guild(group[0].guild_id)
            server = guild.name if guild is not None else "a server"
            await workers.answering.run(functools.partial(self._match, article_id, group, server))

    def _match(self, article_id: str, group: Sequence[Watch], server: str) -> None:
        """In a worker: one server's watches of one topic against the article; each that
        has not posted it yet owes its post (WatchStore.claim)."""
        scopes = visible_scopes(group[0].guild_id)
        hit = self.matcher.match(group[0].topic, article_id, scopes=scopes)
        if hit is None:
            return
        log.info("Article %s matches %r (%.2f)", article_id, hit.topic, hit.score)
        for w in group:
            self.store.claim(w.id, article_id, dict(hit_embed(hit, w, server).to_dict()))

    def _owed(self) -> list[OwedPost]:
        """In a worker: the posts owed, in order; those whose article was forgotten
        meanwhile are dropped."""
        owed = self.store.owed(datetime.now(UTC))
        if not owed:  # most rounds
            return []
        stored = self.bot.services.index.get_articles([p.article_id for p in owed])
        for post in owed:
            if post.article_id not in stored:
                self.store.delivered(post, None)
        return [p for p in owed if p.article_id in stored]

    async def _deliver_owed(self, waiting: set[tuple[str, int]]) -> None:
        """Deliver the posts owed, in order, one at a time. A place (a channel, a member's
        DMs) where a post failed for Discord's own trouble gets its next posts in the next
        round, after that one, so they keep their order."""
        for post in await self.bot.workers.answering.run(self._owed):
            place = _place(post.watch)
            if place not in waiting and not await self._deliver(post):
                waiting.add(place)

    async def _deliver(self, post: OwedPost) -> bool:
        """Post one hit (discord.py waits out the channel's rate limit and retries a 429);
        False when it failed for Discord's own trouble (a 5xx, a network error, no answer in
        time) and is tried again next round. An undeliverable post (DMs closed, channel gone
        or closed to the bot) is dropped and its reason recorded; the watch stays."""
        watch = post.watch
        ingesting = self.bot.workers.ingesting
        embed = discord.Embed.from_dict(post.embed)
        try:
            async with asyncio.timeout(POST_TIMEOUT_SECONDS):
                if watch.channel_id is None:
                    target: (
                        discord.DMChannel | discord.PartialMessageable
                    ) = await self.bot.create_dm(discord.Object(id=watch.owner_id))
                else:
                    target = self.bot.get_partial_messageable(watch.channel_id)
                target_id = target.id
                if post.state == "sending" and post.attempted_at is not None:
                    sent = await sent_before(
                        self.bot, post.target_id or target_id, post.attempted_at, _same(embed)
                    )
                    if sent is not None:
                        await ingesting.run(functools.partial(self.store.delivered, post, sent.id))
                        return True
                # Recorded before it is sent (see bot/watches.py, OwedPost): a crash from
                # here on leaves it "sending", and the next try looks for it first.
                trying = await ingesting.run(
                    functools.partial(self.store.sending, post, target_id, datetime.now(UTC))
                )
                if trying is None:  # the watch was removed meanwhile
                    return True
                message = await target.send(embed=embed, nonce=trying.nonce, allowed_mentions=NONE)
        except (discord.Forbidden, discord.NotFound) as exc:
            reason = _undelivered(watch, exc)
            log.warning("Watch %d: a post was not delivered: %s", watch.id, reason)
            await ingesting.run(functools.partial(self.store.delivered, post, None))
            await ingesting.run(functools.partial(self.store.set_delivery, watch.id, reason))
            return True
        except discord.HTTPException as exc:
            if exc.status < 500:  # Discord refuses this post itself: lose it, post the rest
                log.warning("Watch %d: Discord refused a post", watch.id, exc_info=True)
                await ingesting.run(functools.partial(self.store.delivered, post, None))
                return True
            log.warning("Watch %d: a post failed (%s); tried again next round", watch.id, exc)
            return False
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            log.warning("Watch %d: a post failed (%r); tried again next round", watch.id, exc)
            return False
        await ingesting.run(functools.partial(self.store.delivered, post, message.id))
        if watch.last_error is not None:
            await ingesting.run(functools.partial(self.store.set_delivery, watch.id, None))
        return True


def _place(watch: Watch) -> tuple[str, int]:
    """Where a watch posts: its channel, or its owner's DMs."""
    if watch.channel_id is None:
        return ("dm", watch.owner_id)
    return ("channel", watch.channel_id)


def _same(embed: discord.Embed) -> Callable[[discord.Embed], bool]:
    """Whether a message's embed is this post: the article (title, link) and the watch (its
    footer names it)."""
    key = (embed.title, embed.url, embed.footer.text)
    return lambda e: (e.title, e.url, e.footer.text) == key


async def setup(bot: NewsBot) -> None:
    await bot.add_cog(WatchCog(bot))
