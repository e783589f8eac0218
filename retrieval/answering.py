"""From a question to an answer made of verified quotes with numbered citations.

Per question: one query embedding, one search, then sentence scoring inside the retrieved
chunks. Every quote is checked against the stored article body before it is returned.
"""

from __future__ import annotations

import logging
import math
import re
import threading
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from retrieval.embedding import Embedder
from retrieval.errors import QuestionError
from retrieval.index import IndexStats, NewsIndex, SearchFilters
from retrieval.models import Answer, Citation, Passage, Quote
from retrieval.sentences import iter_sentence_spans
from retrieval.terms import numbers, terms

log = logging.getLogger(__name__)

# How much a sentence's share of the question's (weighted) terms adds to its chunk's similarity.
LEXICAL_WEIGHT = 0.5
# Bonus for a sentence attributing a statement to the speaker a "what did X say" question names.
ATTRIBUTION_BONUS = 0.15
# Further quotes must score within this margin of the best one.
QUOTE_MARGIN = 0.2
NEAREST_ARTICLES = 3
MIN_QUOTE_WORDS = 5
STATS_TTL_SECONDS = 30.0

_ATTRIBUTION_QUESTION = re.compile(
    r"\b(?:what|how|why|when)\s+(?:did|does|do|has|have|had|is|was)\s+(?P<who>.+?)\s+"
    r"(?:say|said|tell|told|think|claim|state|announce|respond|react|warn|reply|describe)",
    re.IGNORECASE,
)
_ATTRIBUTION_CUE = re.compile(
    r"\b(?:said|says|say|told|tells|according to|stated|states|announced|claimed|claims|"
    r"warned|added|reported|wrote|noted|argued|insisted|made clear|declared)\b|[\"“”]",
    re.IGNORECASE,
)


@dataclass(frozen=True, slots=True)
class _Candidate:
    passage: Passage
    start: int  # offsets into the article body
    end: int
    text: str
    score: float
    coverage: float


class Answerer:
    def __init__(
        self,
        index: NewsIndex,
        embedder: Embedder,
        *,
        top_k: int,
        max_quotes: int,
        abstain_threshold: float,
        max_question_chars: int,
    ) -> None:
        self._index = index
        self._embedder = embedder
        self._top_k = top_k
        self._max_quotes = max_quotes
        self._threshold = abstain_threshold
        self._max_chars = max_question_chars
        self._stats: dict[tuple[str, ...] | None, tuple[float, IndexStats]] = {}
        self._stats_lock = threading.Lock()

    def check_question(self, question: str) -> str:
        text = " ".join(question.split())
        if not text:
            raise QuestionError("The question is empty: ask something about the news.")
        if len(text) > self._max_chars:
            raise QuestionError(
                f"The question is {len(text)} characters long; the limit is {self._max_chars}. "
                "Shorten it and ask again."
            )
        return text

    def search(
        self, query: str, *, k: int | None = None, filters: SearchFilters | None = None
    ) -> list[Passage]:
        text = self.check_question(query)
        vector = self._embedder.embed_query(text)
        return self._index.search(vector, k or self._top_k, filters)

    def answer(
        self, question: str, *, filters: SearchFilters | None = None, top_k: int | None = None
    ) -> Answer:
        text = self.check_question(question)
        passages = self.search(text, k=top_k, filters=filters)
        stats = self.stats(filters.scopes if filters else None)
        bodies = self._index.get_bodies([p.article_id for p in passages])
        candidates = _verified(self._candidates(text, passages), bodies)
        quotes_from = self._select(text, passages, candidates, bodies)
        if not quotes_from:
            return Answer(
                question=text,
                answered=False,
                quotes=(),
                citations=(),
                nearest=_nearest(passages),
                articles_searched=stats.articles,
                newest_published=stats.newest_published,
            )
        citations: dict[str, Citation] = {}
        quotes: list[Quote] = []
        for cand in quotes_from:
            p = cand.passage
            if p.article_id not in citations:
                citations[p.article_id] = _citation(len(citations) + 1, p)
            n = citations[p.article_id].n
            quotes.append(Quote(cand.text, n, p.article_id, cand.start, cand.end))
        return Answer(
            question=text,
            answered=True,
            quotes=tuple(quotes),
            citations=tuple(citations.values()),
            nearest=(),
            articles_searched=stats.articles,
            newest_published=stats.newest_published,
        )

    def stats(self, scopes: tuple[str, ...] | None) -> IndexStats:
        """Article count and newest date, cached briefly: they label answers, not rank them."""
        now = time.monotonic()
        with self._stats_lock:
            cached = self._stats.get(scopes)
            if cached is not None and now - cached[0] < STATS_TTL_SECONDS:
                return cached[1]
        fresh = self._index.stats(scopes=scopes)
        with self._stats_lock:
            self._stats[scopes] = (now, fresh)
        return fresh

    def invalidate_stats(self) -> None:
        with self._stats_lock:
            self._stats.clear()

    # --- quote selection -----------------------------------------------------------------

    def _candidates(self, question: str, passages: Sequence[Passage]) -> list[_Candidate]:
        q_terms = set(terms(question))
        speaker = _speaker_terms(question)
        spans: list[tuple[Passage, int, int, str, set[str]]] = []
        for p in passages:
            for s, e in iter_sentence_spans(p.text):
                sentence = p.text[s:e]
                spans.append((p, p.start + s, p.start + e, sentence, set(terms(sentence))))
        # Terms rare among the retrieved sentences tell them apart best.
        df = Counter(t for *_, ts in spans for t in ts & q_terms)
        n = max(len(spans), 1)
        weight = {t: math.log(1.0 + n / (1.0 + df[t])) for t in q_terms}
        total = sum(weight.values()) or 1.0
        out = []
        for p, start, end, sentence, ts in spans:
            coverage = sum(weight[t] for t in ts & q_terms) / total
            score = p.score + LEXICAL_WEIGHT * coverage
            if speaker and ts & speaker and _ATTRIBUTION_CUE.search(sentence):
                score += ATTRIBUTION_BONUS
            out.append(_Candidate(p, start, end, sentence, score, coverage))
        return out

    def _select(
        self,
        question: str,
        passages: Sequence[Passage],
        candidates: list[_Candidate],
        bodies: dict[str, str],
    ) -> list[_Candidate]:
        if not passages or passages[0].score < self._threshold:
            return []
        wanted = numbers(question, skip_dates=True)
        usable = [
            c
            for c in candidates
            if c.coverage > 0
            and _is_statement(c.text)
            and _mentions_numbers(c.passage, wanted, bodies)
        ]
        if not usable:
            return []
        usable.sort(key=lambda c: c.score, reverse=True)
        best = usable[0]
        chosen = [best]
        for c in usable[1:]:
            if len(chosen) >= self._max_quotes or c.score < best.score - QUOTE_MARGIN:
                break
            if any(c.text == o.text or _overlaps(c, o) for o in chosen):
                continue
            chosen.append(c)
        # Quotes of one article read best in the article's own order.
        return sorted(chosen, key=lambda c: (chosen.index(_first_of(chosen, c)), c.start))


def _first_of(chosen: list[_Candidate], c: _Candidate) -> _Candidate:
    return next(o for o in chosen if o.passage.article_id == c.passage.article_id)


def _overlaps(a: _Candidate, b: _Candidate) -> bool:
    return a.passage.article_id == b.passage.article_id and a.start < b.end and b.start < a.end


def _is_statement(sentence: str) -> bool:
    """Questions and fragments (subheadings, captions) make poor quotes."""
    return not sentence.rstrip("\"'”’ ").endswith("?") and len(sentence.split()) >= MIN_QUOTE_WORDS


def _verified(candidates: list[_Candidate], bodies: dict[str, str]) -> list[_Candidate]:
    """Keep only sentences that are, to the character, in the stored article body."""
    kept = []
    for c in candidates:
        body = bodies.get(c.passage.article_id)
        if body is not None and body[c.start : c.end] == c.text:
            kept.append(c)
        else:
            log.warning("Dropped a quote not found verbatim in article %s", c.passage.article_id)
    return kept


def _mentions_numbers(passage: Passage, wanted: set[str], bodies: dict[str, str]) -> bool:
    """A question naming a year or number is only answered by an article that mentions it
    (or was published that year): "the 2022 final" is not answered from the 2023 one."""
    if not wanted:
        return True
    found = numbers(bodies.get(passage.article_id, ""))
    if passage.published is not None:
        found.add(str(passage.published.year))
    return wanted <= found


def _speaker_terms(question: str) -> set[str]:
    match = _ATTRIBUTION_QUESTION.search(question)
    return set(terms(match.group("who"))) if match else set()


def _citation(n: int, p: Passage) -> Citation:
    return Citation(
        n=n,
        article_id=p.article_id,
        title=p.title,
        outlet=p.outlet,
        author=p.author,
        published=p.published,
        url=p.url,
    )


def _nearest(passages: Sequence[Passage]) -> tuple[Citation, ...]:
    seen: dict[str, Citation] = {}
    for p in passages:
        if p.article_id not in seen and len(seen) < NEAREST_ARTICLES:
            seen[p.article_id] = _citation(len(seen) + 1, p)
    return tuple(seen.values())
