"""Retention: articles published (or, undated, ingested) before a cut-off are forgotten, with
their syndicated copies, chunks and side-index entries, a bounded batch at a time.

Each article goes through the one forget path (`forget_story`), so every write keeps its
commit point and write intent: a prune killed mid-batch leaves each article whole or gone,
and running it again forgets the rest. A batch is the unit a caller schedules: the bot runs
each as its own job on its write pool, so questions are answered between batches."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from ingest.forgetting import forget_story
from ingest.pipeline import Ingester
from retrieval.index import ArticlesWithCopies
from retrieval.models import StoredArticle

log = logging.getLogger(__name__)

# Articles per batch: small enough that a batch takes seconds, so a writer waiting behind it
# (an /ingest, a feed poll) is not held up long.
BATCH_ARTICLES = 100


@dataclass(frozen=True, slots=True)
class PruneReport:
    forgotten: int
    batches: int
    older_than: datetime
    # The ids of the articles forgotten (what else refers to them lets go of them too).
    article_ids: tuple[str, ...] = ()

    def to_json(self) -> dict[str, object]:
        """`newsbot prune --json`."""
        return {
            "forgotten": self.forgotten,
            "batches": self.batches,
            "older_than": self.older_than.isoformat(),
        }


def cutoff(days: int, now: datetime | None = None) -> datetime:
    """The moment `days` days before `now`: articles older than it are pruned."""
    return (now or datetime.now(UTC)) - timedelta(days=days)


def _age_from(article: StoredArticle) -> datetime:
    when = article.published or article.ingested_at
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)


def prune_batches(
    index: ArticlesWithCopies, older_than: datetime, *, batch_size: int = BATCH_ARTICLES
) -> list[list[StoredArticle]]:
    """The articles to forget, in batches, every old copy before any old lead: a lead whose
    copies are all old is then forgotten without one of them being promoted in its place (a
    lead with a copy still young has that copy promoted, as `forget_story` does)."""
    old = [a for a in index.list_articles() if _age_from(a) < older_than]
    ordered = [a for a in old if a.copy_of is not None] + [a for a in old if a.copy_of is None]
    return [ordered[lo : lo + batch_size] for lo in range(0, len(ordered), batch_size)]


def forget_batch(
    index: ArticlesWithCopies, ingester: Ingester, batch: list[StoredArticle]
) -> list[str]:
    """Forget one batch; the ids of those that were still there to forget."""
    return [a.id for a in batch if forget_story(index, ingester, a.id) is not None]


def prune(
    index: ArticlesWithCopies,
    ingester: Ingester,
    older_than: datetime,
    *,
    batch_size: int = BATCH_ARTICLES,
    progress: Callable[[int, int, int], None] | None = None,
) -> PruneReport:
    """Forget every article older than `older_than`, batch by batch; `progress(batch done,
    batches, forgotten so far)` after each."""
    batches = prune_batches(index, older_than, batch_size=batch_size)
    forgotten: list[str] = []
    for n, batch in enumerate(batches, 1):
        forgotten += forget_batch(index, ingester, batch)
        done = len(forgotten)
        log.info("prune: batch %d of %d done, %d articles forgotten", n, len(batches), done)
        if progress is not None:
            progress(n, len(batches), done)
    return PruneReport(len(forgotten), len(batches), older_than, tuple(forgotten))
