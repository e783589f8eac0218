"""Forgetting a story: an article leaves the index, and when it was the lead of copies
(syndicated copies, `ingest.syndication`), its oldest copy takes its place."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from ingest.pipeline import Ingester, article_from_record
from retrieval.errors import NewsbotError, StoreError
from retrieval.index import COPY_OF, ArticlesWithCopies
from retrieval.models import StoredArticle

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Forgotten:
    article: StoredArticle
    # When a lead with copies is forgotten, its oldest copy is stored (chunked) in its place.
    promoted: StoredArticle | None = None


def forget_story(
    index: ArticlesWithCopies,
    ingester: Ingester,
    id_or_url: str,
    *,
    scopes: tuple[str, ...] | None = None,
) -> Forgotten | None:
    """Forget an article; if it was the lead of copies, the oldest copy becomes the lead
    (stored with chunks) and the others are re-attached to it.

    The order never loses a copy: the copy is promoted first (its record is replaced by a
    lead's, in one write), the others are pointed at it, and only then is the old lead
    forgotten. A crash in between leaves both leads, never a copy without a lead. If the
    copy cannot be promoted, nothing is forgotten (StoreError says why)."""
    found = index.find_article(id_or_url, scopes=scopes)
    if found is None:
        return None
    copies = [] if found.copy_of is not None else index.copies_of([found.id]).get(found.id, [])
    if not copies:
        removed = index.forget(found.id)
        return Forgotten(removed) if removed is not None else None
    first, rest = copies[0], copies[1:]
    body = index.get_bodies([first.id]).get(first.id, "")
    try:
        ingester.store_as_lead(article_from_record(first, body))
    except NewsbotError as exc:
        raise StoreError(
            f"“{found.title}” was not forgotten: its copy from {first.outlet or first.id} "
            f"would have to take its place and could not be stored ({exc.user_message}). "
            "Nothing was changed."
        ) from exc
    if rest:
        index.update_article_fields({c.id: {COPY_OF: first.id} for c in rest})
    removed = index.forget(found.id)
    log.info("forgot %s; its copy %s stands in for it", found.id, first.id)
    return Forgotten(removed or found, first)
