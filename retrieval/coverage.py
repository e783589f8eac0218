"""Coverage gaps: the questions the bot declined or that members marked "Wrong quote" or
"Didn't answer", grouped by meaning (retrieval/question_groups.py), each group with how often
it was asked, declined and voted on, and the articles nearest it, so that an admin sees
which news is missing and which feeds to add. `/coverage` and `newsbot coverage` show it."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from retrieval.embedding import Embedder
from retrieval.errors import QuestionError
from retrieval.feedback import AnswerFeedback, Decision, FeedbackStore, VoteCounts
from retrieval.models import Citation
from retrieval.question_groups import DEFAULT_SIMILARITY, group_questions, question_key

# The newest gaps considered: each distinct question is embedded every time.
MAX_QUESTIONS = 500

NearestArticles = Callable[[str], tuple[Citation, ...]]


@dataclass(frozen=True, slots=True)
class CoverageGroup:
    questions: tuple[str, ...]  # its distinct wordings, the most asked first
    count: int  # how many times it was asked (and declined or marked)
    declined: int
    votes: VoteCounts
    nearest: tuple[Citation, ...]  # the articles nearest its most asked wording
    last_asked: datetime

    def to_json(self) -> dict[str, object]:
        return {
            "questions": list(self.questions),
            "count": self.count,
            "declined": self.declined,
            "votes": self.votes.to_json(),
            "nearest": [c.to_json() for c in self.nearest],
            "last_asked": self.last_asked.isoformat(),
        }


@dataclass(frozen=True, slots=True)
class Coverage:
    groups: tuple[CoverageGroup, ...]  # the most asked first; at most the limit asked for
    total_groups: int
    questions: int  # answers declined or marked
    since: datetime | None

    def to_json(self) -> dict[str, object]:
        """The `newsbot coverage --json` contract."""
        return {
            "since": self.since.isoformat() if self.since else None,
            "questions": self.questions,
            "total_groups": self.total_groups,
            "groups": [g.to_json() for g in self.groups],
        }


def coverage(
    store: FeedbackStore,
    embedder: Embedder,
    nearest: NearestArticles,
    *,
    scopes: Sequence[str] | None,
    since: datetime | None = None,
    limit: int | None = None,
    similarity: float = DEFAULT_SIMILARITY,
) -> Coverage:
    """The gaps asked in `scopes` (None: everywhere) since `since`, grouped; `nearest` finds
    the articles nearest a question (the Answerer's, with the filters of the place asking).
    Only the first `limit` groups are returned, and only theirs are searched."""
    gaps = store.gaps(scopes=scopes, since=since, limit=MAX_QUESTIONS)
    groups = group_questions([g.record.question for g in gaps], embedder, similarity=similarity)
    shown = groups if limit is None else groups[:limit]
    return Coverage(
        groups=tuple(_group([gaps[i] for i in members], nearest) for members in shown),
        total_groups=len(groups),
        questions=len(gaps),
        since=since,
    )


def _group(members: list[AnswerFeedback], nearest: NearestArticles) -> CoverageGroup:
    wordings: dict[str, str] = {}  # key -> the wording as first asked
    for m in members:
        wordings.setdefault(question_key(m.record.question), m.record.question)
    asked = Counter(question_key(m.record.question) for m in members)
    order = sorted(wordings, key=lambda key: -asked[key])  # stable: first asked first on ties
    votes = VoteCounts()
    for m in members:
        votes += m.votes
    questions = tuple(wordings[key] for key in order)
    return CoverageGroup(
        questions=questions,
        count=len(members),
        declined=sum(m.record.decision is Decision.DECLINED for m in members),
        votes=votes,
        nearest=_nearest_to(questions[0], nearest),
        last_asked=max(m.record.created for m in members),
    )


def _nearest_to(question: str, nearest: NearestArticles) -> tuple[Citation, ...]:
    try:
        return nearest(question)
    except QuestionError:  # asked before NEWSBOT_MAX_QUESTION_CHARS was lowered below it
        return ()
