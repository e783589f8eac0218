"""Members' feedback on answers, kept to find the questions the news does not cover.

Each answer the bot sends is recorded: its id, the scope it was asked in (a server's, or
the global one outside servers), the question as asked, the ids of the articles it cites
and whether it answered or declined. Members vote on it with its buttons ("Helpful",
"Wrong quote", "Didn't answer"): one vote per member per answer, a later one replacing it.
Nothing else is kept: no names, no other text of any message, not who asked; a member's
id is kept only with their vote, so that it counts once and can be deleted
(`remove_member`, for /forget-me).

The votes live in a small SQLite file next to the index (DATA_DIR/feedback.sqlite3), like
the feeds file. Retention (NEWSBOT_RETENTION_DAYS, `newsbot prune`) deletes the answers
asked before its cut-off with their votes (`prune`), and a forgotten article leaves the
answers that cited it (`drop_articles`); the entry layer calls both where it forgets.
This module is in retrieval/ because the bot (which writes it) and the command line (which
reads it beside the running bot) both use it, and it is about answers: it needs nothing from
the layers above.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any, ClassVar

from retrieval.dates import parse_stored_time
from retrieval.errors import NotFoundError
from retrieval.models import Answer
from retrieval.sqlite_files import transaction


class Vote(StrEnum):
    HELPFUL = "helpful"
    WRONG_QUOTE = "wrong_quote"
    DIDNT_ANSWER = "didnt_answer"


# Votes that mark an answer as a gap in the news covered (as a decline does).
GAP_VOTES = (Vote.WRONG_QUOTE, Vote.DIDNT_ANSWER)


class Decision(StrEnum):
    ANSWERED = "answered"
    DECLINED = "declined"


def make_answer_id(*, question: str, scope: str, cited: Sequence[str], origin: str) -> str:
    """An answer's id, from its content and from where it was asked (`origin`: the
    interaction or message that asked it), so that asking the same twice is two answers."""
    h = hashlib.sha256()
    for part in (question, scope, *cited, origin):
        h.update(part.encode("utf-8"))
        h.update(b"\x00")
    return "r_" + h.hexdigest()[:24]


@dataclass(frozen=True, slots=True)
class AnswerRecord:
    """What is kept of an answer: the question, and nothing else of any message."""

    id: str
    scope: str
    question: str
    cited: tuple[str, ...]  # the cited articles' ids (none for a decline)
    decision: Decision
    created: datetime

    @classmethod
    def of(
        cls, answer: Answer, *, scope: str, origin: str, now: datetime | None = None
    ) -> AnswerRecord:
        cited = tuple(c.article_id for c in answer.citations)
        return cls(
            id=make_answer_id(question=answer.question, scope=scope, cited=cited, origin=origin),
            scope=scope,
            question=answer.question,
            cited=cited,
            decision=Decision.ANSWERED if answer.answered else Decision.DECLINED,
            created=now or datetime.now(UTC),
        )


@dataclass(frozen=True, slots=True)
class VoteCounts:
    helpful: int = 0
    wrong_quote: int = 0
    didnt_answer: int = 0

    def __add__(self, other: VoteCounts) -> VoteCounts:
        return VoteCounts(
            self.helpful + other.helpful,
            self.wrong_quote + other.wrong_quote,
            self.didnt_answer + other.didnt_answer,
        )

    def to_json(self) -> dict[str, int]:
        return {
            Vote.HELPFUL: self.helpful,
            Vote.WRONG_QUOTE: self.wrong_quote,
            Vote.DIDNT_ANSWER: self.didnt_answer,
        }


@dataclass(frozen=True, slots=True)
class AnswerFeedback:
    record: AnswerRecord
    votes: VoteCounts


_SCHEMA = """
CREATE TABLE IF NOT EXISTS answers (
    answer_id TEXT PRIMARY KEY,
    scope TEXT NOT NULL,
    question TEXT NOT NULL,
    cited TEXT NOT NULL,  -- a JSON list of article ids
    decision TEXT NOT NULL,  -- answered | declined
    created TEXT NOT NULL  -- ISO 8601, UTC, microseconds: sorts as it reads
);
CREATE INDEX IF NOT EXISTS answers_by_scope ON answers (scope, created);
CREATE TABLE IF NOT EXISTS votes (
    answer_id TEXT NOT NULL REFERENCES answers(answer_id) ON DELETE CASCADE,
    member_id INTEGER NOT NULL,
    vote TEXT NOT NULL,  -- helpful | wrong_quote | didnt_answer
    PRIMARY KEY (answer_id, member_id)
);
CREATE INDEX IF NOT EXISTS votes_by_member ON votes (member_id);
"""


def _stored(value: datetime) -> str:
    return value.astimezone(UTC).isoformat(timespec="microseconds")


class FeedbackStore:
    """The feedback file. Each call opens its own connection, so any thread may use it, and
    another process (`newsbot coverage`) may read it while the bot writes it."""

    # What /forget-me calls what this keeps of a member (bot/config.py, MemberDataHolder).
    member_data_name: ClassVar[str] = "votes"

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        with self._connect() as db:
            db.executescript(_SCHEMA)

    @classmethod
    def in_data_dir(cls, data_dir: Path) -> FeedbackStore:
        return cls(data_dir / "feedback.sqlite3")

    def _connect(self) -> AbstractContextManager[sqlite3.Connection]:
        return transaction(self.path)

    def record(self, answer: AnswerRecord) -> None:
        """Keep an answer that was sent (once: its id derives from its content)."""
        with self._connect() as db:
            db.execute(
                "INSERT OR IGNORE INTO answers (answer_id, scope, question, cited, decision, "
                "created) VALUES (?, ?, ?, ?, ?, ?)",
                (
                    answer.id,
                    answer.scope,
                    answer.question,
                    json.dumps(list(answer.cited)),
                    answer.decision.value,
                    _stored(answer.created),
                ),
            )

    def vote(self, answer_id: str, member_id: int, vote: Vote) -> Vote | None:
        """Store a member's vote on an answer, replacing the one they gave it before; that
        earlier vote, or None. NotFoundError when the answer is not on record."""
        with self._connect() as db:
            known = db.execute("SELECT 1 FROM answers WHERE answer_id = ?", (answer_id,))
            if known.fetchone() is None:
                raise NotFoundError(
                    "That answer is no longer on record, so the vote was not stored: "
                    "ask again and vote on the new answer."
                )
            before = db.execute(
                "SELECT vote FROM votes WHERE answer_id = ? AND member_id = ?",
                (answer_id, member_id),
            ).fetchone()
            db.execute(
                "INSERT INTO votes (answer_id, member_id, vote) VALUES (?, ?, ?) "
                "ON CONFLICT (answer_id, member_id) DO UPDATE SET vote = excluded.vote",
                (answer_id, member_id, vote.value),
            )
        return Vote(before[0]) if before else None

    def remove_member(self, user_id: int) -> int:
        """Delete every vote of a member; how many there were."""
        with self._connect() as db:
            return db.execute("DELETE FROM votes WHERE member_id = ?", (user_id,)).rowcount

    def prune(self, older_than: datetime) -> int:
        """Retention: delete the answers asked before `older_than`, with their votes; how
        many answers that was."""
        with self._connect() as db:
            return db.execute(
                "DELETE FROM answers WHERE created < ?", (_stored(older_than),)
            ).rowcount  # their votes go with them (ON DELETE CASCADE)

    def drop_articles(self, article_ids: Sequence[str]) -> int:
        """Forgotten articles leave the answers that cited them (the answers and their votes
        stay, for /coverage); how many answers changed."""
        gone = set(article_ids)
        if not gone:
            return 0
        with self._connect() as db:
            rows = db.execute("SELECT answer_id, cited FROM answers WHERE cited != '[]'")
            changed = []
            for answer_id, cited in rows.fetchall():
                ids = json.loads(cited)
                kept = [a for a in ids if a not in gone]
                if len(kept) != len(ids):
                    changed.append((json.dumps(kept), answer_id))
            db.executemany("UPDATE answers SET cited = ? WHERE answer_id = ?", changed)
        return len(changed)

    def gaps(
        self,
        *,
        scopes: Sequence[str] | None = None,
        since: datetime | None = None,
        limit: int = 500,
    ) -> list[AnswerFeedback]:
        """The answers that declined or that a member voted "Wrong quote" or "Didn't
        answer", with all their votes: the newest `limit` of those asked in `scopes` (None:
        every scope) since `since`, oldest first."""
        where: list[str] = []
        params: list[Any] = []
        if scopes is not None:
            where.append(f"a.scope IN ({', '.join('?' * len(scopes))})")
            params += list(scopes)
        if since is not None:
            where.append("a.created >= ?")
            params.append(_stored(since))
        counts = ", ".join(f"COUNT(CASE WHEN v.vote = '{v.value}' THEN 1 END)" for v in Vote)
        gap_votes = ", ".join(f"'{v.value}'" for v in GAP_VOTES)
        query = (
            f"SELECT a.answer_id, a.scope, a.question, a.cited, a.decision, a.created, {counts} "
            "FROM answers a LEFT JOIN votes v ON v.answer_id = a.answer_id "
            + (f"WHERE {' AND '.join(where)} " if where else "")
            + "GROUP BY a.answer_id "
            f"HAVING a.decision = '{Decision.DECLINED.value}' "
            f"OR COUNT(CASE WHEN v.vote IN ({gap_votes}) THEN 1 END) > 0 "
            "ORDER BY a.created DESC, a.answer_id LIMIT ?"
        )
        with self._connect() as db:
            rows = db.execute(query, (*params, limit)).fetchall()
        return [_feedback(row) for row in reversed(rows)]


def _feedback(row: Sequence[Any]) -> AnswerFeedback:
    created = parse_stored_time(row[5])
    assert created is not None  # written by record()
    return AnswerFeedback(
        record=AnswerRecord(
            id=str(row[0]),
            scope=str(row[1]),
            question=str(row[2]),
            cited=tuple(json.loads(row[3])),
            decision=Decision(row[4]),
            created=created,
        ),
        votes=VoteCounts(int(row[6]), int(row[7]), int(row[8])),
    )
