"""Retention in the bot: with NEWSBOT_RETENTION_DAYS set, what is older is forgotten once at
start and then daily (ingest/retention.py), and so are the questions and votes recorded
before then (retrieval/feedback.py). Off the event loop, a batch at a time: finding the
old articles runs on the answer pool, each batch its own job on the write pool, so questions
are answered and other writes wait at most a batch while it runs."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from datetime import datetime
from typing import TYPE_CHECKING

from discord.ext import commands

from bot.workers import ShuttingDownError
from ingest.retention import PruneReport, cutoff, forget_batch, prune_batches
from retrieval.feedback import FeedbackStore

if TYPE_CHECKING:
    from bot.app import NewsBot

log = logging.getLogger(__name__)

PRUNE_EVERY_SECONDS = 24 * 3600.0


class RetentionCog(commands.Cog):
    def __init__(self, bot: NewsBot) -> None:
        self.bot = bot
        self.days = bot.config.retention_days
        self._task: asyncio.Task[None] | None = None

    async def cog_load(self) -> None:
        if self.days:
            self._task = asyncio.create_task(self._prune_daily(), name="newsbot-retention")

    async def cog_unload(self) -> None:
        if self._task is not None:
            self._task.cancel()  # a batch in progress finishes on its thread
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _prune_daily(self) -> None:
        while True:
            try:
                report = await self.prune_once()
            except ShuttingDownError:
                return
            except Exception:
                log.exception("Pruning the articles older than %d days failed", self.days)
            else:
                log.info(
                    "Retention: %d articles older than %s forgotten, in %d batches",
                    report.forgotten,
                    report.older_than.isoformat(),
                    report.batches,
                )
            await asyncio.sleep(PRUNE_EVERY_SECONDS)

    async def prune_once(self) -> PruneReport:
        services = self.bot.services
        older_than = cutoff(self.days)
        batches = await self.bot.workers.answering.run(
            functools.partial(prune_batches, services.index, older_than)
        )
        forgotten: list[str] = []
        for batch in batches:
            forgotten += await self.bot.workers.ingesting.run(
                functools.partial(forget_batch, services.index, services.ingester, batch)
            )
        if forgotten:
            services.answerer.invalidate_stats()
        # The questions and votes older than the articles kept go too, and the answers
        # that cited a forgotten article let go of it.
        answers = await self.bot.workers.ingesting.run(
            functools.partial(forget_feedback, services.feedback, older_than, forgotten)
        )
        if answers:
            log.info("Retention: %d answers older than %s forgotten", answers, older_than)
        return PruneReport(len(forgotten), len(batches), older_than, tuple(forgotten))


def forget_feedback(feedback: FeedbackStore, older_than: datetime, forgotten: list[str]) -> int:
    """In a worker: the answers (with their votes) asked before the cut-off, and forgotten
    articles' ids in the others; how many answers went."""
    feedback.drop_articles(forgotten)
    return feedback.prune(older_than)


async def setup(bot: NewsBot) -> None:
    await bot.add_cog(RetentionCog(bot))
