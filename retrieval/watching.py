"""Whether a newly ingested article is about a watched topic ("openai board"), and which of
its sentences show it.

The topic is scored as /ask scores a question (retrieval/answering.py): the same hybrid
retrieval and two-stage sentence selector, restricted to the one new article
(`SearchFilters.article_ids`) and to the scopes the watch may see. The article is about the
topic when it holds the topic's words (ARTICLE_COVERAGE) and the answer selector's
answerable probability (what /ask declines on) reaches the watch threshold, which
bench/watch.py calibrates on labelled topics over MultiHop-RAG (docs/benchmarks.md). A hit
quotes the best sentence and up to two more of the article, each verified verbatim against
the stored body (as every quote is).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from retrieval.answering import Answerer, ScoredCandidate
from retrieval.errors import InputError
from retrieval.index import CopyStore, SearchFilters
from retrieval.models import Citation, Quote
from retrieval.syndication import with_copies
from retrieval.terms import terms

MAX_TOPIC_CHARS = 100
# The article must hold the topic's words: this share of them, each weighted by its rarity
# in the index (BM25 idf), so that a common word of the topic ("trial") may be missing from
# it but not a rare one ("ftx"). A passing mention in an article about something else holds
# the rare words too; the threshold is what tells those apart.
ARTICLE_COVERAGE = 0.9
# The article's sentences scored at sentence level: all of /ask's second stage (which takes
# at most 2 of an article when it compares several).
SENTENCES_SCORED = 8
# Sentences a hit quotes: the best, and up to two more at least half as probable.
HIT_QUOTES = 3
EXTRA_QUOTE_SHARE = 0.5


def check_topic(topic: str) -> str:
    """The topic as watched (whitespace collapsed), or InputError saying what is wrong."""
    text = " ".join(topic.split())
    if len(text) > MAX_TOPIC_CHARS:
        raise InputError(
            f"A topic may be at most {MAX_TOPIC_CHARS} characters long; this one is {len(text)}."
        )
    if not terms(text):
        raise InputError(
            "Name the topic with the words an article about it would use, "
            "e.g. “openai board” or “michigan sign stealing”."
        )
    return text


@dataclass(frozen=True, slots=True)
class WatchHit:
    """A new article about a watched topic: its best-matching sentences (verbatim, best
    first) and its citation (with the outlets of its syndicated copies)."""

    topic: str
    score: float  # TopicMatcher.score: what the threshold was compared with
    quotes: tuple[Quote, ...]
    citation: Citation


class TopicMatcher:
    def __init__(self, answerer: Answerer, index: CopyStore, *, threshold: float) -> None:
        self._answerer = answerer
        self._index = index
        self.threshold = threshold

    def candidates(
        self, topic: str, article_id: str, *, scopes: tuple[str, ...] | None = None
    ) -> list[ScoredCandidate]:
        """The article's sentences scored for the topic, best first (none when the article
        is not in `scopes`, has no chunks, as a syndicated copy has none, or shares no word
        with the topic)."""
        filters = SearchFilters(scopes=scopes, article_ids=(article_id,))
        return self._answerer.score_candidates(
            check_topic(topic), filters=filters, per_article=SENTENCES_SCORED
        )

    def score(self, scored: Sequence[ScoredCandidate]) -> float:
        """How surely the article is about the topic, from its scored sentences: 0 when it
        lacks the topic's words, else the probability that its best sentences answer it."""
        if not scored or scored[0].features["article_coverage"] < ARTICLE_COVERAGE:
            return 0.0
        return self._answerer.answerable(scored, None)

    def match(
        self, topic: str, article_id: str, *, scopes: tuple[str, ...] | None = None
    ) -> WatchHit | None:
        """The hit when the article is about the topic, else None."""
        scored = self.candidates(topic, article_id, scopes=scopes)
        score = self.score(scored)
        if not scored or score < self.threshold:
            return None
        chosen = _quoted(scored)
        best = chosen[0].candidate.passage
        (citation,) = with_copies((best.citation(1),), self._index)
        ordered = [chosen[0], *sorted(chosen[1:], key=lambda s: s.candidate.start)]
        quotes = tuple(
            Quote(s.text, 1, s.article_id, s.candidate.start, s.candidate.end) for s in ordered
        )
        return WatchHit(check_topic(topic), score, quotes, citation)


def _quoted(scored: Sequence[ScoredCandidate]) -> list[ScoredCandidate]:
    """The best sentence, then the next best at least EXTRA_QUOTE_SHARE as probable that
    overlap none chosen (a pair of sentences overlaps its parts), up to HIT_QUOTES."""
    chosen = [scored[0]]
    for s in scored[1:]:
        if len(chosen) >= HIT_QUOTES or s.probability < EXTRA_QUOTE_SHARE * scored[0].probability:
            break
        c = s.candidate
        if any(c.start < o.candidate.end and o.candidate.start < c.end for o in chosen):
            continue
        chosen.append(s)
    return chosen
