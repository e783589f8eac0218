"""The stories owed to feeds' channels and the posts made there: the `posts` table of the
feeds file (ingest/feeds.py), which the bot delivers from (bot/cogs/feeds.py).

A poll that adds stories to a feed with an active channel records each lead as *new*, in the
transaction that records its entries, so a crash cannot lose them. The bot picks which of
them to post (its filter, the per-poll limit), *queues* those in order and drops the rest,
then delivers the queue one post at a time: a post is recorded as *sending* (with the time
of the attempt) before it is sent and as *posted* (with the message's id) after. A crash or
a failure between the two leaves it *sending*, with an unknown outcome: the next try first
looks for the message in the channel, then sends with the same nonce (which Discord checks
for a few minutes), so a story is posted once. The order is record, send, record because
the other one (send, then record) reposts whatever a crash caught in between.

Each syndicated copy that arrives later counts on its lead's posts (`copies`, bumped in the
transaction that records the poll that brought it); a post whose count is past the one its
message shows (`shown_copies`) is due an edit naming the copies' outlets.

A story's record is kept for SYNDICATION_WINDOW after it arrived: copies arriving later do
not edit its post, and a story still not delivered by then (a long Discord outage) is
dropped. Pausing a feed drops what it had not posted.
"""

from __future__ import annotations

import secrets
import sqlite3
from collections.abc import Callable, Iterable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, Literal

from retrieval.dates import parse_stored_time

SYNDICATION_WINDOW = timedelta(hours=48)

PostState = Literal["new", "queued", "sending", "posted"]

POSTS_SCHEMA = """
CREATE TABLE IF NOT EXISTS posts (
    feed_id INTEGER NOT NULL REFERENCES feeds(id) ON DELETE CASCADE,
    article_id TEXT NOT NULL,
    state TEXT NOT NULL,  -- new | queued | sending | posted
    position INTEGER NOT NULL DEFAULT 0,  -- delivery order among the feed's queued posts
    nonce INTEGER NOT NULL,
    channel_id INTEGER,  -- where it was sent (sending, posted)
    message_id INTEGER,  -- posted
    copies INTEGER NOT NULL DEFAULT 0,
    shown_copies INTEGER NOT NULL DEFAULT 0,
    arrived_at TEXT NOT NULL,
    attempted_at TEXT,
    PRIMARY KEY (feed_id, article_id)
);
CREATE INDEX IF NOT EXISTS posts_by_article ON posts (article_id);
"""

_COLUMNS = (
    "feed_id, article_id, state, nonce, channel_id, message_id, copies, shown_copies, attempted_at"
)
_UNSENT = "('new', 'queued', 'sending')"


@dataclass(frozen=True, slots=True)
class PostRecord:
    """One story of a feed on its way to the feed's channel, or posted there."""

    feed_id: int
    article_id: str
    state: PostState
    nonce: int  # sent with every try: Discord returns the first message for a repeated one
    channel_id: int | None
    message_id: int | None
    copies: int  # syndicated copies of it that arrived since it did
    shown_copies: int  # of those, how many its message counted when last sent or edited
    attempted_at: datetime | None  # the last try to send it


def record_arrivals(
    db: sqlite3.Connection,
    feed_id: int,
    lead_ids: Sequence[str],
    copied_lead_ids: Sequence[str],
    now: datetime,
) -> None:
    """A poll's new leads become the feed's new posts (if it posts now: read here, in the
    poll's transaction, so a pause meanwhile holds), its copies count on their leads' posts
    (any feed's), and records past the window go."""
    db.executemany(
        "INSERT OR IGNORE INTO posts (feed_id, article_id, state, nonce, arrived_at) "
        "SELECT id, ?, 'new', ?, ? FROM feeds "
        "WHERE id = ? AND post_channel_id IS NOT NULL AND posting_paused = 0",
        [(aid, _nonce(), now.isoformat(), feed_id) for aid in lead_ids],
    )
    db.executemany(
        "UPDATE posts SET copies = copies + 1 WHERE article_id = ?",
        [(lead,) for lead in copied_lead_ids],
    )
    db.execute("DELETE FROM posts WHERE arrived_at < ?", ((now - SYNDICATION_WINDOW).isoformat(),))


def drop_unsent(db: sqlite3.Connection, feed_id: int) -> None:
    """A paused feed's stories are not posted later."""
    db.execute(f"DELETE FROM posts WHERE feed_id = ? AND state IN {_UNSENT}", (feed_id,))


def moved(db: sqlite3.Connection, feed_id: int) -> None:
    """A feed posts to another channel now: what it owes goes there, even a post whose
    last try (in the old channel) failed."""
    db.execute(
        "UPDATE posts SET state = 'queued' WHERE feed_id = ? AND state = 'sending'", (feed_id,)
    )


def _nonce() -> int:
    # Positive and within 64 bits, as Discord's nonces are (sent as a string of digits).
    return secrets.randbits(63)


class PostOutbox:
    """The posts table, through the feeds file's transactions (any thread may use it)."""

    def __init__(self, transaction: Callable[[], AbstractContextManager[sqlite3.Connection]]):
        self._transaction = transaction

    def new(self, feed_id: int) -> list[str]:
        """The feed's new stories (article ids), in the order they arrived."""
        with self._transaction() as db:
            rows = db.execute(
                "SELECT article_id FROM posts WHERE feed_id = ? AND state = 'new' ORDER BY rowid",
                (feed_id,),
            ).fetchall()
        return [str(row[0]) for row in rows]

    def queue(self, feed_id: int, chosen: Sequence[str], considered: Iterable[str]) -> None:
        """Queue `chosen` (in this order, after what is queued already) and drop the other
        `considered` new stories."""
        with self._transaction() as db:
            (last,) = db.execute(
                "SELECT COALESCE(MAX(position), 0) FROM posts WHERE feed_id = ?", (feed_id,)
            ).fetchone()
            db.executemany(
                "UPDATE posts SET state = 'queued', position = ? "
                "WHERE feed_id = ? AND article_id = ? AND state = 'new'",
                [(last + n, feed_id, aid) for n, aid in enumerate(chosen, start=1)],
            )
            skipped = set(considered) - set(chosen)
            db.executemany(
                "DELETE FROM posts WHERE feed_id = ? AND article_id = ? AND state = 'new'",
                [(feed_id, aid) for aid in skipped],
            )

    def unsent(self, feed_id: int) -> list[PostRecord]:
        """The feed's queued posts (and those whose last try failed), in delivery order."""
        return self._select(
            "feed_id = ? AND state IN ('queued', 'sending') ORDER BY position", (feed_id,)
        )

    def feeds_owed(self) -> list[int]:
        """The feeds with stories not posted yet."""
        with self._transaction() as db:
            rows = db.execute(f"SELECT DISTINCT feed_id FROM posts WHERE state IN {_UNSENT}")
            return sorted(int(row[0]) for row in rows.fetchall())

    def sending(self, post: PostRecord, channel_id: int, now: datetime) -> PostRecord:
        """Record a try before it is made (see the module's docstring)."""
        self._set(post, state="sending", channel_id=channel_id, attempted_at=now.isoformat())
        return replace(post, state="sending", channel_id=channel_id, attempted_at=now)

    def posted(self, post: PostRecord, message_id: int, shown_copies: int) -> None:
        self._set(post, state="posted", message_id=message_id, shown_copies=shown_copies)

    def to_edit(self) -> list[PostRecord]:
        """Posts with copies that arrived after their message was last written."""
        return self._select("state = 'posted' AND copies > shown_copies ORDER BY rowid", ())

    def shown(self, post: PostRecord, shown_copies: int) -> None:
        self._set(post, shown_copies=shown_copies)

    def drop(self, post: PostRecord) -> None:
        """Forget a post: one that can never be made, or a message that is gone."""
        with self._transaction() as db:
            db.execute(
                "DELETE FROM posts WHERE feed_id = ? AND article_id = ?",
                (post.feed_id, post.article_id),
            )

    def _select(self, condition: str, params: tuple[Any, ...]) -> list[PostRecord]:
        with self._transaction() as db:
            rows = db.execute(f"SELECT {_COLUMNS} FROM posts WHERE {condition}", params)
            return [_record(row) for row in rows.fetchall()]

    def _set(self, post: PostRecord, **values: object) -> None:
        assignments = ", ".join(f"{name} = ?" for name in values)
        with self._transaction() as db:
            db.execute(
                f"UPDATE posts SET {assignments} WHERE feed_id = ? AND article_id = ?",
                (*values.values(), post.feed_id, post.article_id),
            )


def _record(row: Sequence[Any]) -> PostRecord:
    return PostRecord(
        feed_id=int(row[0]),
        article_id=str(row[1]),
        state=row[2],
        nonce=int(row[3]),
        channel_id=int(row[4]) if row[4] is not None else None,
        message_id=int(row[5]) if row[5] is not None else None,
        copies=int(row[6]),
        shown_copies=int(row[7]),
        attempted_at=parse_stored_time(row[8]),
    )
