"""Which stored articles the topic watches have not been matched against yet, whichever
process stored them: the bot itself (/ingest, its feeds), or, in server mode, `newsbot
ingest` and `newsbot feeds poll` beside it; and what a crash left unmatched.

The watch cog (bot/cogs/watch.py) asks for them each round: at once when the bot stores
articles, and every SWEEP_SECONDS for the others. The article records the store holds are
compared with those already matched (the `matched` table of the watches file, kept in
memory too); each new lead article is due, in the order it was stored. An article is marked
matched once its posts are recorded, so a crash in between matches it again, and the
watches' record of what they posted (WatchStore.claim) keeps it from being posted twice.

Not due, and marked matched at once: syndicated copies (their story is matched as its lead),
and what was stored before matching began on this watches file (the first start marks every
stored article matched: old news is not posted). A lead the store holds but this process's
search cannot find yet (server mode: its BM25 index follows other processes' commits within
a second) waits for a later round, for UNSEARCHABLE_WAIT at most.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime, timedelta

from bot.watches import WatchStore
from retrieval.chroma_index import ChromaIndex
from retrieval.chroma_records import batched
from retrieval.models import StoredArticle

log = logging.getLogger(__name__)

# How often the store is looked at for articles this process did not store itself (the
# command line's, in server mode; what a crash left unmatched). What the bot stores is
# matched at once.
SWEEP_SECONDS = 60.0
# Machines' clocks differ by less than this (as retrieval/change_log.py assumes).
CLOCK_SKEW = timedelta(seconds=120)
# A lead the store holds but search does not find is matched no later than this after it
# was stored (then given up, with a warning).
UNSEARCHABLE_WAIT = timedelta(minutes=10)
# A due article whose matching fails is tried again this many rounds, then given up.
MAX_TRIES = 3
_READ_BATCH = 500


class NewArticles:
    """The articles due to be matched. Used by one task at a time (in worker threads)."""

    def __init__(self, index: ChromaIndex, store: WatchStore) -> None:
        self._index = index
        self._store = store
        self._matched: set[str] | None = None  # the store's `matched`, once read
        self._started: datetime | None = None
        self._failures: dict[str, int] = {}

    def due(self, hinted: Sequence[str], now: datetime) -> list[str]:
        """The new lead articles, oldest first. `hinted`: the leads this process has just
        stored, in the order it stored them (stored at once, they tie on their time); they
        are due even if matched before (forgotten and stored again)."""
        stored = self._index.article_ids()
        order = {aid: n for n, aid in enumerate(hinted)}
        if self._started is None:
            self._started = self._store.start_matching([a for a in stored if a not in order], now)
        if self._matched is None:
            self._matched = self._store.matched()
        matched = self._matched
        listed = set(stored)
        self._forget_gone(matched - listed)
        fresh = [a for a in stored if a not in matched or a in order]
        records = self._records(fresh)
        skip: list[str] = [a for a in fresh if a not in records]  # forgotten meanwhile
        leads: list[StoredArticle] = []
        for article in records.values():
            old = article.ingested_at < self._started - CLOCK_SKEW and article.id not in order
            if article.copy_of is not None or not article.chunk_count or old:
                skip.append(article.id)
            else:
                leads.append(article)
        found = self._index.searchable([a.id for a in leads])
        ready = []
        for article in leads:
            if article.id in found:
                ready.append(article)
            elif now - article.ingested_at > UNSEARCHABLE_WAIT:
                log.warning("Article %s is stored but not searchable: not matched", article.id)
                skip.append(article.id)
        self.done(skip)
        # Stored at once, articles tie on their time: then in the order given, or listed.
        position = {aid: n for n, aid in enumerate(fresh)}
        ready.sort(key=lambda a: (a.ingested_at, order.get(a.id, len(order)), position[a.id]))
        return [a.id for a in ready]

    def done(self, article_ids: Sequence[str]) -> None:
        """These articles have been matched (their posts recorded), or never will be."""
        if not article_ids:
            return
        self._store.mark_matched(article_ids)
        if self._matched is not None:
            self._matched.update(article_ids)
        for aid in article_ids:
            self._failures.pop(aid, None)

    def failed(self, article_id: str) -> None:
        """Matching the article failed: it stays due, MAX_TRIES rounds at most."""
        tries = self._failures.get(article_id, 0) + 1
        self._failures[article_id] = tries
        if tries >= MAX_TRIES:
            log.warning("Article %s: matching failed %d times, given up", article_id, tries)
            self.done([article_id])

    def _records(self, article_ids: Sequence[str]) -> dict[str, StoredArticle]:
        found: dict[str, StoredArticle] = {}
        for batch in batched(list(article_ids), _READ_BATCH):
            found.update(self._index.get_articles(batch))
        return found

    def _forget_gone(self, missing: set[str]) -> None:
        """Matched articles the listing lacks, once the store confirms they are gone (a
        listing may miss records written while it was read): stored again, they are new."""
        if not missing:
            return
        still = self._records(sorted(missing))
        gone = [a for a in missing if a not in still]
        if gone:
            self._store.unmark_matched(gone)
            assert self._matched is not None
            self._matched.difference_update(gone)
