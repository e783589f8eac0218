"""The part of store repair that needs the model: articles whose chunks are missing or
unreadable are chunked and embedded again from their stored bodies, and copies whose lead
is gone become leads (retrieval/consistency.py finds both)."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from ingest.pipeline import Ingester, article_from_record
from retrieval.consistency import StoreCheck
from retrieval.errors import NewsbotError
from retrieval.index import COPY_OF, ArticlesWithCopies
from retrieval.models import StoredArticle

log = logging.getLogger(__name__)


@dataclass(slots=True)
class Reembedded:
    articles: list[str] = field(default_factory=list)
    promoted_copies: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)  # article id -> why

    def to_json(self) -> dict[str, object]:
        return {
            "reembedded": sorted(self.articles),
            "promoted_copies": sorted(self.promoted_copies),
            "failed": dict(sorted(self.failed.items())),
        }


def reembed(index: ArticlesWithCopies, ingester: Ingester, report: StoreCheck) -> Reembedded:
    """Store again, from their records and bodies, the articles `report` says need it."""
    done = Reembedded()
    broken = list(dict.fromkeys(report.needs_embedding))
    records = index.get_articles(broken + report.stranded_copies)
    bodies = index.get_bodies(list(records))
    for aid in broken:
        if aid in records and _store(ingester, records[aid], bodies.get(aid, ""), done):
            done.articles.append(aid)
    # Copies of one lost lead: the oldest becomes the lead, the others its copies.
    by_lead: dict[str, list[str]] = {}
    for aid in report.stranded_copies:
        record = records.get(aid)
        if record is not None:
            by_lead.setdefault(record.copy_of or "", []).append(aid)
    for copies in by_lead.values():
        copies.sort(key=lambda c: (records[c].ingested_at, c))
        first, rest = copies[0], copies[1:]
        if not _store(ingester, records[first], bodies.get(first, ""), done):
            continue
        done.promoted_copies.append(first)
        if rest:
            index.update_article_fields({c: {COPY_OF: first} for c in rest})
    if done.articles or done.promoted_copies or done.failed:
        log.warning(
            "Store repair: %d articles embedded again, %d copies made leads, %d failed",
            len(done.articles),
            len(done.promoted_copies),
            len(done.failed),
        )
    return done


def _store(ingester: Ingester, record: StoredArticle, body: str, done: Reembedded) -> bool:
    try:
        ingester.store_as_lead(article_from_record(record, body))
    except NewsbotError as exc:
        done.failed[record.id] = exc.user_message
        return False
    return True
