"""From a question to an answer made of verified quotes with numbered citations.

Per question: one query embedding, the question read for outlets and times
(retrieval/query_understanding.py), one hybrid search (retrieval/hybrid.py: dense + BM25,
one lane per outlet named), then sentence scoring inside the retrieved chunks. `search` and
`answer` share that retrieval, so `newsbot search` shows exactly the chunks an answer is
drawn from. Every quote is checked against the stored article body before it is returned.
"""

from __future__ import annotations

import itertools
import logging
import math
import re
import threading
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from datetime import time as day_time
from functools import lru_cache

from retrieval.embedding import Embedder
from retrieval.errors import QuestionError
from retrieval.hybrid import FusionConfig, hybrid_search
from retrieval.index import IndexStats, NewsIndex, SearchFilters
from retrieval.models import Answer, Citation, Passage, Quote
from retrieval.query_understanding import QueryPlan, TimeRange, understand
from retrieval.sentences import iter_sentence_spans
from retrieval.syndication import with_copies
from retrieval.terms import numbers, terms

log = logging.getLogger(__name__)

# How much a sentence's share of the question's (weighted) terms adds to its chunk's similarity.
LEXICAL_WEIGHT = 0.5
# Bonus for a sentence attributing a statement to the speaker a "what did X say" question names.
ATTRIBUTION_BONUS = 0.15
# What a two-sentence quote pays for its length: it wins only by adding to the first.
PAIR_COST = 0.05
# A sentence that carries on from the one before ("He said...", "'...,' she added").
_CONTINUES = re.compile(
    r"^[\"“'‘]?(?:he|she|they|it|this|that|these|those|his|her|their)\b"
    r"|^[\"“'‘].*[\"”'’]\s*,?\s*(?:he|she|they)\s+(?:said|added|told|says|stated|wrote)",
    re.IGNORECASE,
)
_PRONOUN_CUE = re.compile(r"^(?:.*\b)?(?:he|she|they)\s+\w+$", re.IGNORECASE)
# Times of day and ISO timestamps ("13:41:30", "2023-10-04T21:11:57+00:00") are when, not
# numbers an answer must contain.
_TIMESTAMP = re.compile(
    r"\b\d{4}-\d{2}-\d{2}[T ]\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?"
    r"|\b\d{1,2}:\d{2}(?::\d{2})?\b"
)
# Further quotes must score within this margin of the best one.
QUOTE_MARGIN = 0.2
NEAREST_ARTICLES = 3
MIN_QUOTE_WORDS = 5
STATS_TTL_SECONDS = 30.0
# Chunks read to date an event ("before the trial").
EVENT_HITS = 5

_ATTRIBUTION_QUESTION = re.compile(
    r"\b(?:what|how|why|when)\s+(?:did|does|do|has|have|had|is|was)\s+(?P<who>.+?)\s+"
    r"(?:say|said|tell|told|think|claim|state|announce|respond|react|warn|reply|describe|"
    r"comment|explain|mean|argue|predict|promise|admit|deny|suggest|write|quote)",
    re.IGNORECASE,
)
_ATTRIBUTION_CUE = re.compile(
    r"\b(?:said|says|say|told|tells|according to|stated|states|announced|claimed|claims|"
    r"warned|added|reported|wrote|noted|argued|insisted|made clear|declared|quoted|quotes|"
    r"commented|explained|admitted|denied|testified|posted|tweeted)\b|[\"“”]",
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
        fusion: FusionConfig | None = None,
        question_hints: bool = True,
    ) -> None:
        self._index = index
        self._embedder = embedder
        self._top_k = top_k
        self._max_quotes = max_quotes
        self._threshold = abstain_threshold
        self._max_chars = max_question_chars
        self._fusion = fusion or FusionConfig()
        self._hints = question_hints
        self._stats: dict[tuple[str, ...] | None, tuple[float, IndexStats]] = {}
        self._outlets: dict[tuple[str, ...] | None, tuple[float, list[str]]] = {}
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
        """The k best chunks for a question, ranked; what `answer` quotes from."""
        text = self.check_question(query)
        return self._retrieve(text, k or self._top_k, filters)[0]

    def _retrieve(
        self, text: str, k: int, filters: SearchFilters | None
    ) -> tuple[list[Passage], QueryPlan]:
        base = filters or SearchFilters()
        plan = self.plan(text, base)
        if plan.time_filter is not None and base.since is None and base.until is None:
            base = replace(base, since=plan.time_filter.since, until=plan.time_filter.until)
        vector = self._embedder.embed_query(text)
        return hybrid_search(self._index, vector, plan, base, k, self._fusion), plan

    def plan(self, question: str, filters: SearchFilters | None = None) -> QueryPlan:
        """What the question says about outlets and times (see query_understanding.py),
        read against the outlets in the index and its newest article's date."""
        text = " ".join(question.split())
        if not self._hints:
            return QueryPlan(question=text, lexical_terms=tuple(terms(text)))
        scopes = filters.scopes if filters else None
        newest = self.stats(scopes).newest_published
        plan = understand(
            text, outlets=self._outlet_names(scopes), reference=newest or datetime.now(UTC)
        )
        if plan.event is not None:
            plan = self._resolve_event(plan, filters or SearchFilters())
        return plan

    def _resolve_event(self, plan: QueryPlan, filters: SearchFilters) -> QueryPlan:
        """An event as a time ("before the trial"): its date is that of the article that best
        matches the event's words with the question's (the story most about it), read as a
        day; articles before (after) it are preferred."""
        assert plan.event is not None
        event_terms = tuple(terms(plan.event.phrase))
        if not event_terms:
            return plan
        hits = self._index.rank_lexical(event_terms + plan.lexical_terms, EVENT_HITS, filters)
        found = self._index.get_passages([cid for cid, _ in hits])
        dated = [
            found[cid].published
            for cid, _ in hits
            if cid in found
            and set(event_terms) <= set(terms(f"{found[cid].title}\n{found[cid].text}"))
        ]
        event_day = next((d for d in dated if d is not None), None)
        if event_day is None:
            return plan
        start = datetime.combine(event_day.astimezone(UTC).date(), day_time.min, tzinfo=UTC)
        if plan.event.relation == "before":
            rng = TimeRange(None, start - timedelta(microseconds=1), plan.event.phrase)
        else:
            rng = TimeRange(start, None, plan.event.phrase)
        return replace(plan, time_preferences=(*plan.time_preferences, rng))

    def _outlet_names(self, scopes: tuple[str, ...] | None) -> list[str]:
        now = time.monotonic()
        with self._stats_lock:
            cached = self._outlets.get(scopes)
            if cached is not None and now - cached[0] < STATS_TTL_SECONDS:
                return cached[1]
        fresh = self._index.outlets(scopes=scopes)
        with self._stats_lock:
            self._outlets[scopes] = (now, fresh)
        return fresh

    def answer(
        self, question: str, *, filters: SearchFilters | None = None, top_k: int | None = None
    ) -> Answer:
        text = self.check_question(question)
        passages, plan = self._retrieve(text, top_k or self._top_k, filters)
        stats = self.stats(filters.scopes if filters else None)
        bodies = self._index.get_bodies([p.article_id for p in passages])
        candidates = _verified(self._candidates(text, plan, passages), bodies)
        usable = _quotable(text, passages, candidates, bodies)
        support = max((_similarity(c.passage) for c in usable), default=None)
        quotes_from = self._select(usable)
        if not quotes_from:
            return Answer(
                question=text,
                answered=False,
                quotes=(),
                citations=(),
                nearest=with_copies(_nearest(passages), self._index),  # "also reported by"
                articles_searched=stats.articles,
                newest_published=stats.newest_published,
                support=support,
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
            citations=with_copies(tuple(citations.values()), self._index),  # "also reported by"
            nearest=(),
            articles_searched=stats.articles,
            newest_published=stats.newest_published,
            support=support,
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
            self._outlets.clear()

    # --- quote selection -----------------------------------------------------------------

    def _candidates(
        self, question: str, plan: QueryPlan, passages: Sequence[Passage]
    ) -> list[_Candidate]:
        """Every sentence of the retrieved chunks, and every two neighbouring sentences of a
        paragraph where the second adds to the first (more of the question's terms, or the
        attribution of its statement), scored by how well they match the question."""
        # The question's own words: not the outlets and dates it names (those chose where
        # to look), nor words about news itself.
        q_terms = set(plan.lexical_terms) or set(terms(question))
        speaker = _speaker_terms(_blank(question, plan.spans))
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

        def scored(p: Passage, start: int, end: int, text: str, ts: set[str]) -> _Candidate:
            coverage = sum(weight[t] for t in ts & q_terms) / total
            score = _similarity(p) + LEXICAL_WEIGHT * coverage
            if speaker and ts & speaker and _attributes_to(text, speaker):
                score += ATTRIBUTION_BONUS
            return _Candidate(p, start, end, text, score, coverage)

        out = [scored(*span) for span in spans]
        for (p, s1, e1, _, ts1), (p2, s2, e2, t2, ts2) in itertools.pairwise(spans):
            if p2 is not p or "\n" in p.text[e1 - p.start : s2 - p.start]:
                continue
            adds_terms = bool((ts2 - ts1) & q_terms)
            attributes = bool(speaker) and _CONTINUES.match(t2) is not None
            if not (adds_terms or attributes):
                continue
            pair = scored(p, s1, e2, p.text[s1 - p.start : e2 - p.start], ts1 | ts2)
            out.append(replace(pair, score=pair.score - PAIR_COST))
        return out

    def _select(self, quotable: list[_Candidate]) -> list[_Candidate]:
        """The best quotes, from passages that match the question well enough (at least
        the abstention threshold): none means "no ingested article covers this"."""
        usable = [c for c in quotable if _similarity(c.passage) >= self._threshold]
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


def _quotable(
    question: str,
    passages: Sequence[Passage],
    candidates: list[_Candidate],
    bodies: dict[str, str],
) -> list[_Candidate]:
    """Sentences that could answer: statements sharing a term with the question, from
    articles that mention the numbers it names."""
    wanted = numbers(_TIMESTAMP.sub(" ", question), skip_dates=True)
    known = {p.article_id: _numbers_of(p, bodies) for p in passages} if wanted else {}
    if wanted and not wanted <= set().union(*known.values()):
        return []  # a number the question names is in none of the articles found
    return [
        c
        for c in candidates
        if c.coverage > 0
        and _is_statement(c.text)
        and (not wanted or bool(wanted & known[c.passage.article_id]))
    ]


def _blank(text: str, spans: Sequence[tuple[int, int]]) -> str:
    for s, e in sorted(spans, reverse=True):
        text = text[:s] + " " * (e - s) + text[e:]
    return text


def _similarity(p: Passage) -> float:
    return p.similarity if p.similarity is not None else p.score


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


def _numbers_of(passage: Passage, bodies: dict[str, str]) -> set[str]:
    """The numbers an article mentions, and the year it was published. A question naming a
    year or number is only answered from articles that mention it (each quote's article
    at least one of them, all of them among the articles retrieved): "the 2022 final" is
    not answered from the 2023 one."""
    found = set(_body_numbers(bodies.get(passage.article_id, "")))
    if passage.published is not None:
        found.add(str(passage.published.year))
    return found


@lru_cache(maxsize=512)
def _body_numbers(body: str) -> frozenset[str]:
    """A body's numbers, read once per body text rather than once per question."""
    return frozenset(numbers(body))


def _attributes_to(text: str, speaker: set[str]) -> bool:
    """Whether the text gives a statement to the speaker: the speaker shortly before a
    verb of saying ("Bankman-Fried told reporters", "X, the CEO, said"), right after one
    ("according to X", "said X"), or quoted with a pronoun after a sentence naming them
    ("... Bankman-Fried. 'I made mistakes,' he said")."""
    for cue in _ATTRIBUTION_CUE.finditer(text):
        if cue.group().strip() in {'"', "“", "”"}:
            continue
        lead = text[max(0, cue.start() - 60) : cue.start()]
        before = terms(lead)[-4:]
        # "said X" names the speaker only after a quotation ('"...," said X'), and
        # "according to X" always; "prosecutors said X stole" is about X.
        speaker_follows = cue.group().lower() == "according to" or bool(
            re.search(r"[\"”'’],?\s*$", lead)
        )
        after = terms(text[cue.end() : cue.end() + 40])[:3] if speaker_follows else []
        if speaker & set(before) or speaker & set(after):
            return True
        if _PRONOUN_CUE.match(text[max(0, cue.start() - 6) : cue.end()].strip()):
            return True
    return False


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
