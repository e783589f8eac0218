"""Citations of syndicated stories: the lead article is cited once, and the outlets that
published copies of it (stored without chunks by ingest/syndication.py) are named with it."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from urllib.parse import urlsplit

from retrieval.index import CopyStore
from retrieval.models import Citation, StoredArticle


def with_copies(citations: Sequence[Citation], index: CopyStore) -> tuple[Citation, ...]:
    """The citations, each with `also_reported_by` naming its copies' outlets."""
    if not citations:
        return tuple(citations)
    copies = index.copies_of([c.article_id for c in citations])
    if not copies:
        return tuple(citations)
    return tuple(
        dataclasses.replace(
            c, also_reported_by=copy_outlets(c.outlet, copies.get(c.article_id, ()))
        )
        for c in citations
    )


def copy_outlets(outlet: str | None, copies: Sequence[StoredArticle]) -> tuple[str, ...]:
    """The names to show for an article's copies (each once, never its own `outlet`)."""
    own = (outlet or "").casefold()
    names: dict[str, str] = {}
    for copy in copies:
        name = copy.outlet or _host(copy.url) or copy.title
        key = name.casefold()
        if key != own and key not in names:
            names[key] = name
    return tuple(names.values())


def _host(url: str | None) -> str | None:
    if not url:
        return None
    host = urlsplit(url).hostname or ""
    return host.removeprefix("www.") or None
