"""Topic watches (/watch): who follows which topic in which server, and where its new
articles go (a channel, or the owner's DMs). They live in a small SQLite file in the data dir
(DATA_DIR/watches.sqlite3), next to the index and the feeds, and survive restarts.

Watches are a Discord feature (owners, channels and DMs are Discord's), so they are kept by
the bot, not the ingest layer: nothing below the bot reads them. Each article a watch
posts is recorded with it when it matches, before it is sent, and marked posted after (see
OwedPost), so that a post Discord fails is tried again and no article is posted to a watch
twice (an article forgotten and ingested again, a restart in the middle of posting). The
articles already matched against the watches are recorded too, so that an article any
process stored (the bot, or `newsbot ingest` beside it in server mode) is matched once
(bot/watch_sweep.py).
"""

from __future__ import annotations

import json
import secrets
import sqlite3
from collections.abc import Iterable
from contextlib import AbstractContextManager
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar

from bot.quotas import QuotaError
from retrieval.dates import parse_stored_time
from retrieval.errors import InputError
from retrieval.sqlite_files import transaction

_SCHEMA = """
CREATE TABLE IF NOT EXISTS watches (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    guild_id INTEGER NOT NULL,
    owner_id INTEGER NOT NULL,
    channel_id INTEGER,  -- NULL: posted to the owner by DM
    topic TEXT NOT NULL,
    topic_key TEXT NOT NULL,
    created_at TEXT NOT NULL,
    last_error TEXT,  -- why the last post could not be delivered (cleared by the next one)
    last_error_at TEXT
);
-- A member watches a topic once per place (a channel, or DM: NULL, which UNIQUE would not
-- compare equal to another NULL).
CREATE UNIQUE INDEX IF NOT EXISTS one_watch_per_place
    ON watches (guild_id, owner_id, ifnull(channel_id, 0), topic_key);
CREATE INDEX IF NOT EXISTS watches_by_owner ON watches (owner_id);
-- Each article a watch posts (or owes): recorded when it matched, before it is sent.
CREATE TABLE IF NOT EXISTS posted (
    watch_id INTEGER NOT NULL REFERENCES watches(id) ON DELETE CASCADE,
    article_id TEXT NOT NULL,
    posted_at TEXT NOT NULL,  -- when it matched
    PRIMARY KEY (watch_id, article_id)
);
-- The articles the watches have been matched against (or that never will be: copies, and
-- what was stored before matching began), so that each stored article is matched once,
-- whichever process stored it (bot/watch_sweep.py).
CREATE TABLE IF NOT EXISTS matched (article_id TEXT PRIMARY KEY) WITHOUT ROWID;
-- One row: when matching began on this watches file. Articles stored before it are old news.
CREATE TABLE IF NOT EXISTS matching (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    started_at TEXT NOT NULL
);
"""
# The delivery of each post (see OwedPost), added to `posted` (older files gain the columns
# when opened; their rows were posted).
_POST_COLUMNS = {
    "state": "TEXT NOT NULL DEFAULT 'posted'",  # owed | sending | posted | dropped
    "embed": "TEXT",  # the post (Discord's embed JSON), until it is posted or dropped
    "nonce": "INTEGER",  # sent with every try: Discord returns the first message for a repeat
    "target_id": "INTEGER",  # the channel (or DM channel) of the last try
    "attempted_at": "TEXT",
    "message_id": "INTEGER",
}
# A post still not delivered this long after it matched (a long Discord outage) is dropped.
OWED_WINDOW = timedelta(hours=48)
_COLUMNS = "id, guild_id, owner_id, channel_id, topic, created_at, last_error, last_error_at"


@dataclass(frozen=True, slots=True)
class Watch:
    id: int
    guild_id: int  # the server it was made in: it sees what that server sees
    owner_id: int
    channel_id: int | None  # None: by DM to the owner
    topic: str
    created_at: datetime
    last_error: str | None = None
    last_error_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class OwedPost:
    """A hit on its way to its watch's place. Recorded as *owed* when it matched, *sending*
    (with the time of the try) before each try and *posted* after, so a post Discord fails
    (or a crash cuts off) is tried again, in order, and one whose outcome is unknown (sending)
    is first looked for where it was sent, then sent with the same nonce: it arrives once."""

    watch: Watch
    article_id: str
    state: str  # owed | sending
    embed: dict[str, Any]
    nonce: int
    target_id: int | None  # where the last try was sent (sending)
    attempted_at: datetime | None


def topic_key(topic: str) -> str:
    """What makes two topics the same watch: case and spacing ignored."""
    return " ".join(topic.casefold().split())


class WatchStore:
    """The watches file. Each call opens its own connection, so any thread may use it."""

    # What /forget-me calls what this keeps of a member (bot/config.py, MemberDataHolder).
    member_data_name: ClassVar[str] = "topic watches"

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        with self._connect() as db:
            db.executescript(_SCHEMA)
            have = {str(row[1]) for row in db.execute("PRAGMA table_info(posted)")}
            for name, kind in _POST_COLUMNS.items():
                if name not in have:
                    db.execute(f"ALTER TABLE posted ADD COLUMN {name} {kind}")

    @classmethod
    def in_data_dir(cls, data_dir: Path) -> WatchStore:
        return cls(data_dir / "watches.sqlite3")

    def _connect(self) -> AbstractContextManager[sqlite3.Connection]:
        return transaction(self.path)

    def add(
        self,
        *,
        guild_id: int,
        owner_id: int,
        channel_id: int | None,
        topic: str,
        per_user: int,
        per_server: int,
    ) -> Watch:
        """A new watch, unless the owner or the server has reached its cap (QuotaError) or
        the owner already watches this topic there (InputError). Counted and written in one
        transaction, so two commands at once cannot both pass a cap."""
        now = datetime.now(UTC)
        with self._connect() as db:
            db.execute("BEGIN IMMEDIATE")  # the counts hold until the insert
            mine = _count(db, "guild_id = ? AND owner_id = ?", guild_id, owner_id)
            if mine >= per_user:
                raise QuotaError(
                    f"You have {mine} watches in this server and may have at most {per_user}: "
                    "remove one with `/watch remove` first."
                )
            server = _count(db, "guild_id = ?", guild_id)
            if server >= per_server:
                raise QuotaError(
                    f"This server has {server} watches and may have at most {per_server}: "
                    "one must be removed with `/watch remove` first."
                )
            try:
                cursor = db.execute(
                    "INSERT INTO watches (guild_id, owner_id, channel_id, topic, topic_key, "
                    "created_at) VALUES (?, ?, ?, ?, ?, ?)",
                    (guild_id, owner_id, channel_id, topic, topic_key(topic), now.isoformat()),
                )
            except sqlite3.IntegrityError:
                where = f"in <#{channel_id}>" if channel_id is not None else "by DM"
                raise InputError(f"You already watch that topic here ({where}).") from None
        assert cursor.lastrowid is not None
        return Watch(cursor.lastrowid, guild_id, owner_id, channel_id, topic, now)

    def get(self, watch_id: int) -> Watch | None:
        with self._connect() as db:
            row = db.execute(f"SELECT {_COLUMNS} FROM watches WHERE id = ?", (watch_id,))
            found = row.fetchone()
        return _watch(found) if found else None

    def in_guild(self, guild_id: int) -> list[Watch]:
        """A server's watches, oldest first."""
        return self._select("guild_id = ?", guild_id)

    def every(self) -> list[Watch]:
        """Every watch of every server, oldest first."""
        return self._select("1 = 1")

    def _select(self, where: str, *params: object) -> list[Watch]:
        with self._connect() as db:
            rows = db.execute(f"SELECT {_COLUMNS} FROM watches WHERE {where} ORDER BY id", params)
            return [_watch(row) for row in rows.fetchall()]

    def remove(self, watch_id: int) -> Watch | None:
        found = self.get(watch_id)
        if found is not None:
            with self._connect() as db:
                db.execute("DELETE FROM watches WHERE id = ?", (watch_id,))
        return found

    def remove_member(self, user_id: int) -> int:
        """Delete every watch a member made, in every server (what they posted goes with
        them); how many there were."""
        with self._connect() as db:
            return db.execute("DELETE FROM watches WHERE owner_id = ?", (user_id,)).rowcount

    def claim(self, watch_id: int, article_id: str, embed: dict[str, Any]) -> bool:
        """Record that the watch owes this post (the article's embed): False when it has
        posted or owes the article already (or the watch is gone), so that it is not posted
        twice. Recorded before it is sent: see OwedPost."""
        now = datetime.now(UTC).isoformat()
        with self._connect() as db:
            try:
                db.execute(
                    "INSERT INTO posted (watch_id, article_id, posted_at, state, embed, nonce) "
                    "VALUES (?, ?, ?, 'owed', ?, ?)",
                    (watch_id, article_id, now, json.dumps(embed), secrets.randbits(63)),
                )
            except sqlite3.IntegrityError:  # posted already, or the watch was removed
                return False
        return True

    def owed(self, now: datetime) -> list[OwedPost]:
        """The posts not delivered yet, in the order they matched (those older than
        OWED_WINDOW are dropped)."""
        cutoff = (now - OWED_WINDOW).isoformat()
        columns = ", ".join(f"w.{c.strip()}" for c in _COLUMNS.split(","))
        with self._connect() as db:
            db.execute(
                "UPDATE posted SET state = 'dropped', embed = NULL "
                "WHERE state IN ('owed', 'sending') AND posted_at < ?",
                (cutoff,),
            )
            rows = db.execute(
                f"SELECT {columns}, p.article_id, p.state, p.embed, p.nonce, p.target_id, "
                "p.attempted_at FROM posted p JOIN watches w ON w.id = p.watch_id "
                "WHERE p.state IN ('owed', 'sending') ORDER BY p.rowid"
            ).fetchall()
        return [
            OwedPost(
                watch=_watch(row[:8]),
                article_id=str(row[8]),
                state=str(row[9]),
                embed=json.loads(row[10]),
                nonce=int(row[11]),
                target_id=int(row[12]) if row[12] is not None else None,
                attempted_at=parse_stored_time(row[13]),
            )
            for row in rows
        ]

    def sending(self, post: OwedPost, target_id: int, now: datetime) -> OwedPost | None:
        """Record a try before it is made (None: the watch was removed meanwhile)."""
        with self._connect() as db:
            changed = db.execute(
                "UPDATE posted SET state = 'sending', target_id = ?, attempted_at = ? "
                "WHERE watch_id = ? AND article_id = ? AND state IN ('owed', 'sending')",
                (target_id, now.isoformat(), post.watch.id, post.article_id),
            ).rowcount
        if not changed:
            return None
        return replace(post, state="sending", target_id=target_id, attempted_at=now)

    def delivered(self, post: OwedPost, message_id: int | None) -> None:
        """The post arrived (`message_id`), or never will (None: dropped); it stays recorded,
        so that it is not posted again."""
        state = "posted" if message_id is not None else "dropped"
        with self._connect() as db:
            db.execute(
                "UPDATE posted SET state = ?, message_id = ?, embed = NULL "
                "WHERE watch_id = ? AND article_id = ?",
                (state, message_id, post.watch.id, post.article_id),
            )

    def matching_started(self) -> datetime | None:
        """When matching began on this file (None: not yet)."""
        with self._connect() as db:
            row = db.execute("SELECT started_at FROM matching WHERE id = 1").fetchone()
        return parse_stored_time(row[0]) if row else None

    def start_matching(self, stored: Iterable[str], now: datetime) -> datetime:
        """Begin matching: the articles stored now count as matched (they are not new); when
        it began (an earlier start, if another process was first)."""
        with self._connect() as db:
            db.execute("BEGIN IMMEDIATE")
            row = db.execute("SELECT started_at FROM matching WHERE id = 1").fetchone()
            if row is not None:
                return parse_stored_time(row[0]) or now
            db.executemany(
                "INSERT OR IGNORE INTO matched (article_id) VALUES (?)", [(a,) for a in stored]
            )
            db.execute("INSERT INTO matching (id, started_at) VALUES (1, ?)", (now.isoformat(),))
        return now

    def matched(self) -> set[str]:
        """The articles already matched against the watches."""
        with self._connect() as db:
            return {str(row[0]) for row in db.execute("SELECT article_id FROM matched")}

    def mark_matched(self, article_ids: Iterable[str]) -> None:
        with self._connect() as db:
            db.executemany(
                "INSERT OR IGNORE INTO matched (article_id) VALUES (?)",
                [(a,) for a in article_ids],
            )

    def unmark_matched(self, article_ids: Iterable[str]) -> None:
        """Forget these (forgotten) articles: stored again, they are new again."""
        with self._connect() as db:
            db.executemany("DELETE FROM matched WHERE article_id = ?", [(a,) for a in article_ids])

    def set_delivery(self, watch_id: int, error: str | None) -> None:
        """Why the watch's last post failed (shown in /watch list), or None once one arrives."""
        at = datetime.now(UTC).isoformat() if error is not None else None
        with self._connect() as db:
            db.execute(
                "UPDATE watches SET last_error = ?, last_error_at = ? WHERE id = ?",
                (error, at, watch_id),
            )


def _count(db: sqlite3.Connection, where: str, *params: object) -> int:
    return int(db.execute(f"SELECT COUNT(*) FROM watches WHERE {where}", params).fetchone()[0])


def _watch(row: Any) -> Watch:
    return Watch(
        id=int(row[0]),
        guild_id=int(row[1]),
        owner_id=int(row[2]),
        channel_id=int(row[3]) if row[3] is not None else None,
        topic=str(row[4]),
        created_at=parse_stored_time(row[5]) or datetime.fromtimestamp(0, UTC),
        last_error=row[6],
        last_error_at=parse_stored_time(row[7]),
    )
