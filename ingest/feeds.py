"""RSS and Atom feeds: followed per scope (the command line's global scope, or a Discord
server), polled on an interval with conditional requests, backing off when they fail.

Feed XML is always bytes newsbot fetched itself (`ingest.fetching`), handed to feedparser as
a stream so that it never fetches or opens anything on its own, and refused if it declares
XML entities (the way entity-expansion bombs work). New entries are ingested once: from the
feed's full content when it carries the article, else from the entry's page.

Feeds, their state and the entries already seen live in a small SQLite file next to the
index (DATA_DIR/feeds.sqlite3), so they survive restarts. A feed may also be posted to a
Discord channel: its posting settings and the stories owed to its channel are stored here
(ingest/feed_outbox.py: each poll records what it added there), but posting itself is the
bot's job (bot/cogs/feeds.py).
"""

from __future__ import annotations

import calendar
import hashlib
import io
import logging
import sqlite3
import threading
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import feedparser

from ingest.decoding import declares_dtd
from ingest.feed_outbox import POSTS_SCHEMA, PostOutbox, drop_unsent, moved, record_arrivals
from ingest.fetching import FEED_TYPES, TEXT_TYPES, Fetcher, FetchError
from ingest.loaders import Loaded, LoadFailure, LoadItem, article_from_text, extract_html
from ingest.pipeline import Ingester
from ingest.reports import IngestReport, ItemResult, Status
from ingest.webpages import load_page, truncation_reason
from retrieval.dates import parse_stored_time
from retrieval.errors import InputError, NewsbotError
from retrieval.models import GLOBAL_SCOPE, Article, normalize_url
from retrieval.sqlite_files import transaction as sqlite_transaction

log = logging.getLogger(__name__)

# Newest entries considered per poll (a feed's first poll can list hundreds).
MAX_ENTRIES_PER_POLL = 50
# An entry whose page cannot be fetched is tried again on later polls, this many times.
MAX_ENTRY_ATTEMPTS = 3
# A failing feed waits twice as long after each failure, up to this.
MAX_BACKOFF = timedelta(hours=24)
# An unforeseen error's own message, in a feed's or an entry's failure, is cut to this.
MAX_ERROR_DETAIL = 200
FEED_FETCH_TYPES = FEED_TYPES | TEXT_TYPES  # some servers label feeds text/plain


Clock = Callable[[], datetime]


def _now() -> datetime:
    return datetime.now(UTC)


class FeedError(InputError):
    """A feed that cannot be read; the message says why."""


# --------------------------------------------------------------------------- parsing


@dataclass(frozen=True, slots=True)
class FeedEntry:
    key: str  # the entry's id (guid), else its link, else a hash of its title and date
    link: str | None
    title: str | None
    author: str | None
    published: datetime | None
    summary: str | None  # HTML or text
    content: str | None  # the full content's HTML, when the feed carries it


@dataclass(frozen=True, slots=True)
class ParsedFeed:
    title: str | None
    entries: tuple[FeedEntry, ...]


def parse_feed(data: bytes, *, url: str, content_type: str = "application/xml") -> ParsedFeed:
    """Parse feed bytes (RSS 0.9x/1.0/2.0, Atom). Refuses any DTD, in any encoding."""
    if declares_dtd(data, content_type=content_type):
        raise FeedError(
            f"{url} declares a DTD (as XML entity-expansion bombs do), which no news feed "
            "needs; it was not read. Ask its publisher for a plain RSS or Atom feed."
        )
    try:
        parsed: Any = feedparser.parse(
            io.BytesIO(data),  # a stream: feedparser never fetches or opens a path itself
            response_headers={"content-location": url, "content-type": content_type},
            sanitize_html=True,
        )
    except Exception as exc:
        # Third-party parsing of someone else's bytes (an unknown declared encoding, a
        # character reference to a surrogate): a crash there is a feed that cannot be read.
        log.warning("feedparser failed on %s", url, exc_info=True)
        raise FeedError(f"{url} could not be read as a feed ({_unforeseen(exc)})") from None
    if not parsed.get("version") and not parsed.entries:
        problem = parsed.get("bozo_exception")
        detail = f": {problem}" if problem else ""
        raise FeedError(f"{url} is not an RSS or Atom feed{detail}")
    feed = parsed.feed
    return ParsedFeed(
        title=_text(feed.get("title")),
        entries=tuple(_entry(e) for e in parsed.entries),
    )


def _entry(e: Any) -> FeedEntry:
    link = _text(e.get("link"))
    title = _text(e.get("title"))
    published = _struct_time(e.get("published_parsed")) or _struct_time(e.get("updated_parsed"))
    content = None
    for part in e.get("content") or ():
        value = part.get("value")
        if isinstance(value, str) and value.strip():
            content = value
            break
    key = _text(e.get("id")) or link
    if not key:
        basis = f"{title or ''}\x00{published.isoformat() if published else ''}"
        key = "sha256:" + hashlib.sha256(basis.encode("utf-8")).hexdigest()[:32]
    summary = e.get("summary")
    return FeedEntry(
        key=key,
        link=link,
        title=title,
        author=_text(e.get("author")),
        published=published,
        summary=summary if isinstance(summary, str) and summary.strip() else None,
        content=content,
    )


def _struct_time(value: Any) -> datetime | None:
    if value is None:
        return None
    try:
        return datetime.fromtimestamp(calendar.timegm(value), UTC)
    except (TypeError, ValueError, OverflowError):
        return None


def _text(value: object) -> str | None:
    if not isinstance(value, str):
        return None
    value = " ".join(value.split())
    return value or None


def _unforeseen(exc: Exception) -> str:
    """An error no check foresaw, in words: its type and (the start of) its message."""
    detail = str(exc)
    if len(detail) > MAX_ERROR_DETAIL:
        detail = detail[:MAX_ERROR_DETAIL] + "…"
    return f"{type(exc).__name__}: {detail}" if detail else type(exc).__name__


# --------------------------------------------------------------------------- storage


@dataclass(frozen=True, slots=True)
class Posting:
    """Where a feed's new stories are posted (the bot's business; stored with the feed)."""

    channel_id: int | None = None  # None: the feed is only ingested
    post_filter: str | None = None  # the admin's words or phrase, as typed
    paused: bool = False
    pause_reason: str | None = None  # why it is paused (an admin, or a failed post)

    @property
    def active(self) -> bool:
        return self.channel_id is not None and not self.paused

    def to_json(self) -> dict[str, object]:
        return {
            "channel_id": self.channel_id,
            "filter": self.post_filter,
            "paused": self.paused,
            "pause_reason": self.pause_reason,
        }


# A feed that is only ingested, never posted (as feeds followed from the command line are).
INGEST_ONLY = Posting()


@dataclass(frozen=True, slots=True)
class Feed:
    id: int
    url: str
    scope: str
    title: str | None
    added_at: datetime
    etag: str | None
    last_modified: str | None
    last_checked: datetime | None
    last_success: datetime | None
    last_error: str | None
    last_error_at: datetime | None
    failures: int
    next_poll: datetime
    articles: int  # articles ingested from it so far
    posting: Posting = INGEST_ONLY

    @property
    def name(self) -> str:
        return self.title or self.url

    def to_json(self) -> dict[str, object]:
        return {
            "url": self.url,
            "scope": self.scope,
            "title": self.title,
            "added_at": self.added_at.isoformat(),
            "last_checked": _iso(self.last_checked),
            "last_success": _iso(self.last_success),
            "last_error": self.last_error,
            "last_error_at": _iso(self.last_error_at),
            "failures": self.failures,
            "next_poll": self.next_poll.isoformat(),
            "articles": self.articles,
            "posting": self.posting.to_json(),
        }


_SCHEMA = """
CREATE TABLE IF NOT EXISTS feeds (
    id INTEGER PRIMARY KEY,
    url TEXT NOT NULL,
    url_key TEXT NOT NULL,
    scope TEXT NOT NULL,
    title TEXT,
    added_at TEXT NOT NULL,
    etag TEXT,
    last_modified TEXT,
    last_checked TEXT,
    last_success TEXT,
    last_error TEXT,
    last_error_at TEXT,
    failures INTEGER NOT NULL DEFAULT 0,
    next_poll TEXT NOT NULL,
    articles INTEGER NOT NULL DEFAULT 0,
    UNIQUE (url_key, scope)
);
CREATE TABLE IF NOT EXISTS entries (
    feed_id INTEGER NOT NULL REFERENCES feeds(id) ON DELETE CASCADE,
    key TEXT NOT NULL,
    state TEXT NOT NULL,  -- done | retry | failed
    attempts INTEGER NOT NULL DEFAULT 0,
    reason TEXT,
    seen_at TEXT NOT NULL,
    PRIMARY KEY (feed_id, key)
);
"""

# Columns added after the first release: added to older feeds files when they are opened.
_ADDED_COLUMNS = (
    ("post_channel_id", "INTEGER"),
    ("post_filter", "TEXT"),
    ("posting_paused", "INTEGER NOT NULL DEFAULT 0"),
    ("pause_reason", "TEXT"),
)

_FEED_COLUMNS = (
    "id, url, scope, title, added_at, etag, last_modified, last_checked, last_success, "
    "last_error, last_error_at, failures, next_poll, articles, "
    "post_channel_id, post_filter, posting_paused, pause_reason"
)


class FeedStore:
    """The feeds file. Each call opens its own connection, so any thread may use it. Its
    `posts` are the stories owed to the feeds' channels (ingest/feed_outbox.py)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        with self.transaction() as db:
            db.executescript(_SCHEMA + POSTS_SCHEMA)
            present = {row[1] for row in db.execute("PRAGMA table_info(feeds)")}
            for name, kind in _ADDED_COLUMNS:
                if name not in present:
                    db.execute(f"ALTER TABLE feeds ADD COLUMN {name} {kind}")
        self.posts = PostOutbox(self.transaction)

    @classmethod
    def in_data_dir(cls, data_dir: Path) -> FeedStore:
        return cls(data_dir / "feeds.sqlite3")

    def transaction(self) -> AbstractContextManager[sqlite3.Connection]:
        return sqlite_transaction(self.path)

    def add(
        self,
        url: str,
        scope: str,
        *,
        title: str | None,
        now: datetime,
        posting: Posting = INGEST_ONLY,
    ) -> Feed:
        with self.transaction() as db:
            try:
                db.execute(
                    "INSERT INTO feeds (url, url_key, scope, title, added_at, next_poll) "
                    "VALUES (?, ?, ?, ?, ?, ?)",
                    (url, normalize_url(url), scope, title, now.isoformat(), now.isoformat()),
                )
            except sqlite3.IntegrityError:
                raise InputError(f"{url} is already followed here.") from None
        found = self.find(url, scope)
        assert found is not None
        if posting != found.posting:
            self.set_posting(found.id, posting)
            found = replace(found, posting=posting)
        return found

    def set_posting(self, feed_id: int, posting: Posting) -> None:
        with self.transaction() as db:
            before = db.execute("SELECT post_channel_id FROM feeds WHERE id = ?", (feed_id,))
            (channel_before,) = before.fetchone() or (None,)
            db.execute(
                "UPDATE feeds SET post_channel_id = ?, post_filter = ?, posting_paused = ?, "
                "pause_reason = ? WHERE id = ?",
                (
                    posting.channel_id,
                    posting.post_filter,
                    int(posting.paused),
                    posting.pause_reason,
                    feed_id,
                ),
            )
            if not posting.active:
                drop_unsent(db, feed_id)
            elif posting.channel_id != channel_before:
                moved(db, feed_id)

    def find(self, url: str, scope: str) -> Feed | None:
        with self.transaction() as db:
            row = db.execute(
                f"SELECT {_FEED_COLUMNS} FROM feeds WHERE url_key = ? AND scope = ?",
                (normalize_url(url), scope),
            ).fetchone()
        return _feed(row) if row else None

    def get(self, feed_id: int) -> Feed | None:
        with self.transaction() as db:
            row = db.execute(f"SELECT {_FEED_COLUMNS} FROM feeds WHERE id = ?", (feed_id,))
            found = row.fetchone()
        return _feed(found) if found else None

    def remove(self, url: str, scope: str) -> Feed | None:
        found = self.find(url, scope)
        if found is not None:
            with self.transaction() as db:
                db.execute("DELETE FROM feeds WHERE id = ?", (found.id,))
        return found

    def feeds(self, scopes: Sequence[str] | None = None) -> list[Feed]:
        with self.transaction() as db:
            rows = db.execute(f"SELECT {_FEED_COLUMNS} FROM feeds ORDER BY added_at, id")
            feeds = [_feed(row) for row in rows.fetchall()]
        return [f for f in feeds if scopes is None or f.scope in scopes]

    def due(self, now: datetime) -> list[Feed]:
        return [f for f in self.feeds() if f.next_poll <= now]

    def entry_states(self, feed_id: int) -> dict[str, tuple[str, int]]:
        with self.transaction() as db:
            rows = db.execute(
                "SELECT key, state, attempts FROM entries WHERE feed_id = ?", (feed_id,)
            ).fetchall()
        return {key: (state, attempts) for key, state, attempts in rows}

    def record_entries(
        self,
        feed_id: int,
        outcomes: Sequence[tuple[str, str, int, str | None]],
        now: datetime,
        added: Sequence[ItemResult] = (),
    ) -> None:
        """(key, state, attempts, reason) of each entry handled by a poll, and the articles
        it added: new stories for the feed's channel, and copies of posted ones."""
        leads = [i.article_id for i in added if i.article_id and i.copy_of is None]
        copied = [i.copy_of for i in added if i.copy_of is not None]
        with self.transaction() as db:
            db.executemany(
                "INSERT INTO entries (feed_id, key, state, attempts, reason, seen_at) "
                "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (feed_id, key) DO UPDATE SET "
                "state = excluded.state, attempts = excluded.attempts, reason = excluded.reason",
                [(feed_id, k, s, a, r, now.isoformat()) for k, s, a, r in outcomes],
            )
            record_arrivals(db, feed_id, leads, copied, now)

    def update(self, feed_id: int, **values: object) -> None:
        allowed = set(_FEED_COLUMNS.split(", ")) - {"id", "url", "scope", "added_at"}
        assert set(values) <= allowed, set(values) - allowed
        assignments = ", ".join(f"{name} = ?" for name in values)
        params = [v.isoformat() if isinstance(v, datetime) else v for v in values.values()]
        with self.transaction() as db:
            db.execute(f"UPDATE feeds SET {assignments} WHERE id = ?", (*params, feed_id))


def _feed(row: Sequence[Any]) -> Feed:
    return Feed(
        id=int(row[0]),
        url=str(row[1]),
        scope=str(row[2]),
        title=row[3],
        added_at=parse_stored_time(row[4]) or datetime.fromtimestamp(0, UTC),
        etag=row[5],
        last_modified=row[6],
        last_checked=parse_stored_time(row[7]),
        last_success=parse_stored_time(row[8]),
        last_error=row[9],
        last_error_at=parse_stored_time(row[10]),
        failures=int(row[11]),
        next_poll=parse_stored_time(row[12]) or datetime.fromtimestamp(0, UTC),
        articles=int(row[13]),
        posting=Posting(
            channel_id=int(row[14]) if row[14] is not None else None,
            post_filter=row[15],
            paused=bool(row[16]),
            pause_reason=row[17],
        ),
    )


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


# --------------------------------------------------------------------------- polling


@dataclass(slots=True)
class PollResult:
    feed: Feed  # its state after the poll
    report: IngestReport = field(default_factory=IngestReport)
    not_modified: bool = False
    error: str | None = None  # the feed itself failed (fetch, parse, ingest or anything else)

    @property
    def ingested(self) -> int:
        return self.report.count(Status.ADDED) + self.report.count(Status.UPDATED)

    @property
    def added(self) -> list[ItemResult]:
        """The articles this poll newly added (leads and copies), oldest entry first."""
        return [item for item in self.report.items if item.status is Status.ADDED]


@dataclass(frozen=True, slots=True)
class _IngestedEntries:
    """A poll's new entries (oldest first), as ingested, with their states before it."""

    entries: list[FeedEntry]
    report: IngestReport
    states: dict[str, tuple[str, int]]  # key -> (state, attempts so far)


class FeedPoller:
    """Follows feeds and ingests their new entries. Thread-safe: polls run one at a time,
    and adding a feed holds them up only while it writes the feed's state."""

    def __init__(
        self,
        store: FeedStore,
        fetcher: Fetcher,
        ingester: Ingester,
        *,
        interval: float,
        clock: Clock = _now,
        on_ingested: Callable[[], None] | None = None,
    ) -> None:
        self.store = store
        self._fetcher = fetcher
        self._ingester = ingester
        self._interval = timedelta(seconds=interval)
        self._clock = clock
        self._on_ingested = on_ingested
        self._lock = threading.Lock()

    # --- following -----------------------------------------------------------------------

    def add(
        self, url: str, scope: str = GLOBAL_SCOPE, *, posting: Posting = INGEST_ONLY
    ) -> PollResult:
        """Follow a feed: it is fetched and read now (a link that is not a readable feed is
        refused and nothing is stored), and its entries are ingested."""
        url = url.strip()
        if self.store.find(url, scope) is not None:
            raise InputError(f"{url} is already followed here.")
        now = self._clock()
        result = self._fetcher.fetch(url, allowed_types=FEED_FETCH_TYPES)
        parsed = parse_feed(result.content, url=result.url, content_type=result.content_type)
        # The entries' pages (up to MAX_ENTRIES_PER_POLL of them) are fetched and ingested
        # before the lock is taken: polls wait only while the new feed and its entries'
        # states are written. The feed is not stored yet, so no poll reads it meanwhile.
        ingested = self._ingest_new_entries(parsed, scope, states={})
        with self._lock:
            feed = self.store.add(url, scope, title=parsed.title, now=now, posting=posting)
            return self._record(feed, parsed, ingested, result.etag, result.last_modified, now)

    def remove(self, url: str, scope: str = GLOBAL_SCOPE) -> Feed | None:
        """Stop following a feed (the articles it brought stay)."""
        return self.store.remove(url.strip(), scope)

    def feeds(self, scopes: Sequence[str] | None = None) -> list[Feed]:
        return self.store.feeds(scopes)

    def find(self, url: str, scope: str = GLOBAL_SCOPE) -> Feed | None:
        return self.store.find(url.strip(), scope)

    def set_posting(self, feed: Feed, posting: Posting) -> Feed:
        """Change where (and whether) a feed's new stories are posted."""
        self.store.set_posting(feed.id, posting)
        return replace(self._reload(feed), posting=posting)

    # --- polling -------------------------------------------------------------------------

    def poll_due(self, stop: threading.Event | None = None) -> list[PollResult]:
        """Poll every feed whose time has come (until `stop` is set)."""
        results = []
        for feed in self.store.due(self._clock()):
            if stop is not None and stop.is_set():
                break
            results.append(self.poll(feed))
        return results

    def poll_all(self, scopes: Sequence[str] | None = None) -> list[PollResult]:
        return [self.poll(feed) for feed in self.store.feeds(scopes)]

    def poll(self, feed: Feed) -> PollResult:
        """Poll one feed. Whatever goes wrong is that feed's failure, recorded in its state
        (so `poll_due` goes on with the next feed)."""
        with self._lock:
            current = self.store.get(feed.id)
            if current is None:  # removed meanwhile
                return PollResult(feed, error="no longer followed")
            now = self._clock()
            try:
                return self._poll(current, now)
            except Exception as exc:
                return self._failed(current, exc, now)

    def _poll(self, feed: Feed, now: datetime) -> PollResult:
        result = self._fetcher.fetch(
            feed.url,
            allowed_types=FEED_FETCH_TYPES,
            etag=_sendable(feed.etag),
            last_modified=_sendable(feed.last_modified),
        )
        if result.not_modified:
            self.store.update(
                feed.id,
                last_checked=now,
                last_success=now,
                failures=0,
                next_poll=now + self._interval,
            )
            log.debug("feed %s not modified", feed.url)
            return PollResult(self._reload(feed), not_modified=True)
        parsed = parse_feed(result.content, url=result.url, content_type=result.content_type)
        ingested = self._ingest_new_entries(parsed, feed.scope, self.store.entry_states(feed.id))
        return self._record(feed, parsed, ingested, result.etag, result.last_modified, now)

    def _failed(self, feed: Feed, exc: Exception, now: datetime) -> PollResult:
        if isinstance(exc, NewsbotError):  # FetchError, FeedError, StoreError...
            reason, with_traceback = exc.user_message, False
        else:
            reason, with_traceback = f"unexpected error ({_unforeseen(exc)})", True
        failures = feed.failures + 1
        self.store.update(
            feed.id,
            last_checked=now,
            last_error=reason,
            last_error_at=now,
            failures=failures,
            next_poll=now + self._backoff(failures),
        )
        # An error meant for users says it all; anything else is a bug worth its traceback.
        log.warning(
            "feed %s failed (%d in a row): %s", feed.url, failures, reason, exc_info=with_traceback
        )
        return PollResult(self._reload(feed), error=reason)

    def _backoff(self, failures: int) -> timedelta:
        """The interval, doubled for each failure in a row, up to MAX_BACKOFF (or the interval
        itself when it is longer). Doubled step by step, stopping at the cap: the interval
        times 2**failures overflows timedelta after a few dozen failures."""
        cap = max(MAX_BACKOFF, self._interval)
        delay = self._interval
        for _ in range(failures):
            if delay >= cap:
                break
            delay *= 2
        return min(delay, cap)

    def _ingest_new_entries(
        self, parsed: ParsedFeed, scope: str, states: dict[str, tuple[str, int]]
    ) -> _IngestedEntries:
        fresh = [
            e
            for e in parsed.entries[:MAX_ENTRIES_PER_POLL]
            if states.get(e.key, ("new", 0))[0] not in ("done", "failed")
        ]
        fresh.reverse()  # oldest first: the first outlet to run a story becomes its lead
        items = [self._entry_item(e, parsed, scope) for e in fresh]
        report = self._ingester.ingest(items) if items else IngestReport()
        return _IngestedEntries(fresh, report, states)

    def _record(
        self,
        feed: Feed,
        parsed: ParsedFeed,
        ingested: _IngestedEntries,
        etag: str | None,
        last_modified: str | None,
        now: datetime,
    ) -> PollResult:
        """Write a successful read's outcome: each entry's state, then the feed's."""
        report = ingested.report
        outcomes: list[tuple[str, str, int, str | None]] = []
        errors: list[str] = []
        for entry, done in zip(ingested.entries, report.items, strict=True):
            attempts = ingested.states.get(entry.key, ("new", 0))[1] + 1
            if done.status is Status.FAILED:
                state = "failed" if attempts >= MAX_ENTRY_ATTEMPTS else "retry"
                outcomes.append((entry.key, state, attempts, done.reason))
                errors.append(f"{done.source}: {done.reason}")
            else:
                outcomes.append((entry.key, "done", attempts, None))
        result = PollResult(feed, report)
        self.store.record_entries(feed.id, outcomes, now, result.added)
        retrying = any(state == "retry" for _, state, _, _ in outcomes)
        values: dict[str, object] = {
            "title": parsed.title or feed.title,
            "last_checked": now,
            "last_success": now,
            "failures": 0,
            "next_poll": now + self._interval,
            "articles": feed.articles + result.ingested,
            # Entries to retry: keep the old validators, so the next poll reads the feed again.
            "etag": feed.etag if retrying else etag,
            "last_modified": feed.last_modified if retrying else last_modified,
        }
        if errors:
            more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
            values.update(last_error=f"{errors[0]}{more}", last_error_at=now)
        self.store.update(feed.id, **values)
        if result.ingested and self._on_ingested is not None:
            self._on_ingested()
        log.info(
            "feed %s: %d new entries, %d ingested, %d failed",
            feed.url,
            len(ingested.entries),
            result.ingested,
            len(errors),
        )
        result.feed = self._reload(feed)
        return result

    def _reload(self, feed: Feed) -> Feed:
        return self.store.get(feed.id) or feed

    # --- entries -------------------------------------------------------------------------

    def _entry_item(self, entry: FeedEntry, feed: ParsedFeed, scope: str) -> LoadItem:
        """The entry as an ingest item; whatever goes wrong reading it is its own failure,
        so the feed's other entries are still ingested."""
        source = entry.link or f"{entry.title or 'entry'} ({entry.key})"
        try:
            return self._load_entry(entry, feed, scope, source)
        except Exception as exc:
            # Third-party parsing of someone else's page (an unknown charset, JSON nested
            # past the recursion limit, a date that overflows in UTC) crashed.
            log.warning("feed entry %s could not be read", source, exc_info=True)
            return LoadFailure(source, f"the entry could not be read ({_unforeseen(exc)})")

    def _load_entry(self, entry: FeedEntry, feed: ParsedFeed, scope: str, source: str) -> LoadItem:
        if entry.content:
            item = extract_html(entry.content, url=entry.link, scope=scope, source=source)
            if isinstance(item, Loaded) and truncation_reason(item.article.body) is None:
                return _with_entry(item, entry, feed, from_feed=True)
        if entry.link:
            try:
                page = self._fetcher.fetch(entry.link)
            except FetchError as exc:
                return LoadFailure(source, exc.user_message)
            loaded = load_page(page, source=source, scope=scope)
            if len(loaded) != 1:
                return LoadFailure(source, "the entry's link is not a single article")
            return _with_entry(loaded[0], entry, feed, from_feed=False)
        if entry.summary:
            # No link: the feed's text is all there is (if it is a whole article).
            text = extract_html(entry.summary, url=None, scope=scope, source=source)
            body = text.article.body if isinstance(text, Loaded) else entry.summary
            reason = truncation_reason(body)
            if reason is None:
                item = article_from_text(body, scope=scope, source=source)
                return _with_entry(item, entry, feed, from_feed=True)
            return LoadFailure(source, f"the entry has only a summary ({reason}) and no link")
        return LoadFailure(source, "the entry has neither text nor a link")


def _sendable(validator: str | None) -> str | None:
    """A stored ETag or Last-Modified as it may go back in a request: HTTP headers carry
    only ASCII, so a server's non-ASCII validator is not sent (the feed is read in full)."""
    return validator if validator is not None and validator.isascii() else None


def _with_entry(item: LoadItem, entry: FeedEntry, feed: ParsedFeed, *, from_feed: bool) -> LoadItem:
    """The article with the feed's metadata where it is better: the entry's headline, the
    feed's name as the outlet (unless the page names its site), and the entry's time of
    publication when the page gives none or only the day."""
    if not isinstance(item, Loaded):
        return item
    article: Article = item.article
    outlet = article.outlet
    if feed.title and (from_feed or outlet is None or _is_host_name(outlet, article.url)):
        outlet = feed.title
    published = article.published
    if entry.published is not None and (
        published is None
        or (_is_day_only(published) and abs(entry.published - published) <= timedelta(days=1))
    ):
        published = entry.published
    updated = replace(
        article,
        title=entry.title or article.title,
        author=article.author or entry.author,
        outlet=outlet,
        published=published,
        url=article.url or entry.link,
        id="",  # recomputed (from the URL, or the content when there is none)
    )
    return Loaded(item.source, updated)


def _is_host_name(outlet: str, url: str | None) -> bool:
    """trafilatura names the site after the host when a page does not name itself."""
    host = (urlsplit(url).hostname or "") if url else ""
    return bool(host) and outlet.casefold().removeprefix("www.") in host.casefold()


def _is_day_only(value: datetime) -> bool:
    return (value.hour, value.minute, value.second, value.microsecond) == (0, 0, 0, 0)


def describe(feed: Feed) -> str:
    """One feed's status in words (plain text)."""
    parts = [f"{feed.articles} article{'s' if feed.articles != 1 else ''} ingested"]
    if feed.last_success is not None:
        parts.append(f"last success {_when(feed.last_success)}")
    else:
        parts.append("never read yet")
    if feed.failures:
        parts.append(f"failing ({feed.failures} in a row), next try {_when(feed.next_poll)}")
    else:
        parts.append(f"next poll {_when(feed.next_poll)}")
    text = " · ".join(parts)
    if feed.last_error and feed.last_error_at is not None:
        text += f"\nlast error {_when(feed.last_error_at)}: {feed.last_error}"
    return text


def _when(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
