"""Members' votes on answers (retrieval/feedback.py), the questions grouped by meaning for
/coverage (retrieval/question_groups.py, with the real model), and `newsbot coverage`."""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from bot.render import (
    EMBED_TOTAL_LIMIT,
    FIELD_NAME_LIMIT,
    FIELD_VALUE_LIMIT,
    FIELDS_LIMIT,
    coverage_embed,
)
from ingest.loaders import load_file
from newsbot.cli import main
from newsbot.services import Services
from retrieval.coverage import Coverage, CoverageGroup, coverage
from retrieval.embedding import SentenceTransformerEmbedder
from retrieval.errors import NotFoundError, QuestionError
from retrieval.feedback import AnswerRecord, Decision, FeedbackStore, Vote, VoteCounts
from retrieval.models import Answer, Citation
from retrieval.question_groups import group_questions
from tests.conftest import SEED
from tests.fake_embedder import FakeEmbedder

BOB, ALICE = 111111111111111111, 222222222222222222
NOON = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
SCOPE = "guild:42"


def _answer(question: str, *, cited: tuple[str, ...] = ()) -> Answer:
    citations = tuple(
        Citation(n, aid, f"Title {n}", "Outlet", None, None, None)
        for n, aid in enumerate(cited, start=1)
    )
    return Answer(
        question=question,
        answered=bool(cited),
        quotes=(),
        citations=citations,
        nearest=(),
        articles_searched=3,
        newest_published=None,
    )


def _recorded(
    store: FeedbackStore,
    question: str,
    *,
    cited: tuple[str, ...] = (),
    origin: str = "interaction:1",
    scope: str = SCOPE,
    at: datetime = NOON,
) -> AnswerRecord:
    record = AnswerRecord.of(_answer(question, cited=cited), scope=scope, origin=origin, now=at)
    store.record(record)
    return record


@pytest.fixture
def store(tmp_path: Path) -> FeedbackStore:
    return FeedbackStore.in_data_dir(tmp_path)


def test_one_vote_per_member_per_answer_and_a_new_vote_replaces_it(store: FeedbackStore) -> None:
    answer = _recorded(store, "who won the chess olympiad?", cited=("a_1",))
    assert store.vote(answer.id, BOB, Vote.HELPFUL) is None
    assert store.vote(answer.id, BOB, Vote.WRONG_QUOTE) is Vote.HELPFUL  # replaced
    assert store.vote(answer.id, BOB, Vote.WRONG_QUOTE) is Vote.WRONG_QUOTE
    assert store.vote(answer.id, ALICE, Vote.DIDNT_ANSWER) is None
    [gap] = store.gaps()
    assert gap.record == answer and gap.record.decision is Decision.ANSWERED
    assert gap.votes == VoteCounts(helpful=0, wrong_quote=1, didnt_answer=1)
    with pytest.raises(NotFoundError, match="no longer on record"):
        store.vote("r_" + "0" * 24, BOB, Vote.HELPFUL)


def test_gaps_are_declines_and_answers_marked_wrong_or_unanswered(store: FeedbackStore) -> None:
    helpful = _recorded(store, "what did NATO say?", cited=("a_1",), origin="interaction:1")
    store.vote(helpful.id, BOB, Vote.HELPFUL)
    again = _recorded(store, "what did NATO say?", cited=("a_1",), origin="interaction:2")
    assert again.id != helpful.id  # no votes: not a gap
    declined = _recorded(store, "who won the chess olympiad?", origin="interaction:3")
    marked = _recorded(store, "bitcoin price?", cited=("a_2",), origin="message:4")
    store.vote(marked.id, ALICE, Vote.DIDNT_ANSWER)
    elsewhere = _recorded(store, "bitcoin price?", origin="interaction:5", scope="guild:7")
    # The same answer recorded again is one; asked again (another interaction), two.
    assert _recorded(store, "what did NATO say?", cited=("a_1",)).id == helpful.id
    assert [g.record.id for g in store.gaps()] == [declined.id, marked.id, elsewhere.id]
    assert [g.record.id for g in store.gaps(scopes=(SCOPE,))] == [declined.id, marked.id]
    later = _recorded(
        store, "when does the metro open?", origin="interaction:6", at=NOON.replace(hour=18)
    )
    recent = store.gaps(scopes=(SCOPE,), since=NOON + timedelta(hours=1))
    assert [g.record.id for g in recent] == [later.id]


def test_remove_member_deletes_their_votes_only(store: FeedbackStore) -> None:
    first = _recorded(store, "who won the chess olympiad?", origin="interaction:1")
    second = _recorded(store, "bitcoin price?", cited=("a_2",), origin="interaction:2")
    store.vote(first.id, BOB, Vote.DIDNT_ANSWER)
    store.vote(second.id, BOB, Vote.WRONG_QUOTE)
    store.vote(second.id, ALICE, Vote.WRONG_QUOTE)
    assert store.remove_member(BOB) == 2
    assert store.remove_member(BOB) == 0
    by_id = {g.record.id: g.votes for g in store.gaps()}
    assert by_id == {first.id: VoteCounts(), second.id: VoteCounts(wrong_quote=1)}


def test_nothing_but_the_question_is_stored(store: FeedbackStore) -> None:
    answer = _recorded(store, "who won the chess olympiad?", cited=("a_1", "a_2"))
    store.vote(answer.id, BOB, Vote.WRONG_QUOTE)
    with sqlite3.connect(store.path) as db:
        tables = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        rows = {t: db.execute(f"SELECT * FROM {t}").fetchall() for t in tables}
    assert rows == {
        "answers": [
            (
                answer.id,
                SCOPE,
                "who won the chess olympiad?",
                '["a_1", "a_2"]',
                "answered",
                "2026-03-02T12:00:00.000000+00:00",
            )
        ],
        "votes": [(answer.id, BOB, "wrong_quote")],
    }


QUESTIONS = [
    "who won the chess olympiad?",  # 0
    "what is the price of bitcoin today?",  # 1
    "Which country won the Chess Olympiad?",  # 2
    "when does the new metro line open in Lyon?",  # 3
    "how much is one bitcoin worth now?",  # 4
    "WHO WON THE CHESS   OLYMPIAD?",  # 5: the same wording as 0
    "who won the world cup final?",  # 6
    "when will Lyon's new metro line open?",  # 7
    "what did the mayor of Lyon say about the metro?",  # 8
    "is bitcoin a good investment?",  # 9
    "bitcoin price",  # 10
]


def test_rewordings_are_grouped_and_other_questions_kept_apart(
    embedder: SentenceTransformerEmbedder,
) -> None:
    groups = group_questions(QUESTIONS, embedder)
    # Most asked first (0 and 5 are one wording asked twice), each group in the order asked.
    assert groups == [[0, 2, 5], [1, 4, 10], [3, 7], [6], [8], [9]]
    last = len(QUESTIONS) - 1
    backwards = group_questions(QUESTIONS[::-1], embedder)
    assert {frozenset(last - i for i in g) for g in backwards} == {frozenset(g) for g in groups}


@pytest.mark.skipif(not SEED.exists(), reason="needs ../shared/data/seed")
def test_coverage_command_line_json_beside_the_running_bot(
    services: Services, cli: CliRunner
) -> None:
    # `services` holds the store's writer lock, as the running bot does.
    services.ingester.ingest(load_file(SEED, max_bytes=10**7))
    store = FeedbackStore.in_data_dir(services.settings.storage.data_dir)

    def asked(question: str, origin: str, scope: str = SCOPE) -> AnswerRecord:
        record = AnswerRecord.of(services.answerer.answer(question), scope=scope, origin=origin)
        store.record(record)
        return record

    asked("who won the chess olympiad?", "interaction:1")
    asked("Which country won the Chess Olympiad?", "message:2")
    nato = asked("what did NATO say about Russia's demands?", "interaction:3")
    store.vote(nato.id, BOB, Vote.WRONG_QUOTE)
    asked("who won the chess olympiad?", "interaction:4", scope="guild:7")

    everywhere = cli.invoke(main, ["coverage", "--json"])
    assert everywhere.exit_code == 0, everywhere.output
    report = json.loads(everywhere.stdout)
    assert set(report) == {"since", "questions", "total_groups", "groups"}
    assert (report["since"], report["questions"], report["total_groups"]) == (None, 4, 2)
    chess, marked = report["groups"]
    assert set(chess) == {"questions", "count", "declined", "votes", "nearest", "last_asked"}
    assert chess["questions"] == [
        "who won the chess olympiad?",
        "Which country won the Chess Olympiad?",
    ]
    assert (chess["count"], chess["declined"]) == (3, 3)
    assert chess["votes"] == {"helpful": 0, "wrong_quote": 0, "didnt_answer": 0}
    [nearest] = chess["nearest"]  # as `ask --json` cites an article
    assert set(nearest) == set(Citation(1, "", "", None, None, None, None).to_json())
    assert nearest["outlet"] == "Sputnik"
    assert marked["questions"] == [nato.question] and marked["declined"] == 0
    assert marked["votes"] == {"helpful": 0, "wrong_quote": 1, "didnt_answer": 0}

    one_server = json.loads(cli.invoke(main, ["coverage", "--json", "--server", "7"]).stdout)
    assert [(g["questions"], g["count"]) for g in one_server["groups"]] == [
        (["who won the chess olympiad?"], 1)
    ]
    text = cli.invoke(main, ["coverage", "--days", "1"])
    assert text.exit_code == 0, text.output
    assert text.stdout.startswith("4 questions declined or marked")
    assert "1. “who won the chess olympiad?”\n   asked 3×, declined 3;" in text.stdout


def test_the_coverage_embed_of_many_long_groups_stays_within_every_limit() -> None:
    long_question = "@everyone **why** " + "did the harbour council delay the ferry? " * 7
    nearest = tuple(
        Citation(n, f"a_{n}", "Harbour " * 40, "Coast Gazette " * 10, None, NOON, "https://x.test/")
        for n in range(1, 4)
    )
    group = CoverageGroup(
        questions=tuple(f"{long_question} {n}" for n in range(6)),
        count=6,
        declined=4,
        votes=VoteCounts(helpful=1, wrong_quote=2, didnt_answer=3),
        nearest=nearest,
        last_asked=NOON,
    )
    report = Coverage(groups=(group,) * 10, total_groups=40, questions=240, since=None)
    embed = coverage_embed(report, days=30)
    assert len(embed) <= EMBED_TOTAL_LIMIT and len(embed.fields) <= FIELDS_LIMIT
    assert all(
        len(f.name or "") <= FIELD_NAME_LIMIT and 0 < len(f.value or "") <= FIELD_VALUE_LIMIT
        for f in embed.fields
    )
    assert embed.title == "Coverage gaps in the last 30 days"
    first = embed.fields[0]
    assert first.name is not None and first.name.startswith("1. “@\u200beveryone \\*\\*why\\*\\*")
    assert first.value is not None and first.value.startswith(
        "Asked 6× · declined 4 · wrong quote 2 · didn't answer 3 · helpful 1\nAlso asked: "
    )
    assert embed.fields[-1].value is not None and embed.fields[-1].value.endswith("more groups")


def test_a_question_too_long_to_search_now_is_shown_without_nearest_articles(
    store: FeedbackStore, fake_embedder: FakeEmbedder
) -> None:
    _recorded(store, "why " * 100)

    def too_long(question: str) -> tuple[Citation, ...]:
        raise QuestionError("The question is 400 characters long; the limit is 300.")

    [group] = coverage(store, fake_embedder, too_long, scopes=None).groups
    assert group.questions == ("why " * 100,) and group.nearest == ()
