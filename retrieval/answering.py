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
from collections import Counter, OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from datetime import time as day_time
from functools import lru_cache
from typing import Protocol

import numpy as np

from retrieval.answer_types import (
    AnswerType,
    answer_spans,
    expected_type,
    question_parts,
    short_answer_span,
)
from retrieval.chat_words import as_meant
from retrieval.embedding import Embedder, Vectors
from retrieval.errors import QuestionError
from retrieval.hybrid import FusionConfig, hybrid_search
from retrieval.index import ArticleStore, ChunkRanker, CopyStore, IndexStats, SearchFilters
from retrieval.models import (
    Answer,
    AnswerPart,
    Citation,
    Passage,
    Quote,
    ShortAnswer,
    WrittenAnswer,
    nearest_citations,
)
from retrieval.predicates import asked_predicates, states
from retrieval.query_understanding import QueryPlan, TimeRange, domains_by_outlet, understand
from retrieval.selection import (
    ATTRIBUTION_PRIOR,
    SelectorModel,
    answerable_features,
    is_short,
    log_words,
    rank_score,
    second_stage_picks,
    weighted_share,
    with_gaps,
)
from retrieval.sentences import iter_sentence_spans
from retrieval.side_index.bm25 import bm25_idf
from retrieval.syndication import with_copies
from retrieval.terms import STOPWORDS, fold_accents, numbers, terms
from retrieval.word_forms import mentioned
from retrieval.written import Writer

log = logging.getLogger(__name__)

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
# Candidates the selector scores (each embedded at sentence level), and of one article.
SECOND_STAGE = 8
SECOND_STAGE_PER_ARTICLE = 2
# What of a candidate the model reads: the cost grows with length and count (8 x 24 words
# ~ 25 ms on one core with openvino-int8; 16 whole sentences ~ 100 ms).
SENTENCE_WORDS = 24
# How far around a retrieved chunk its article's sentences are candidates too.
NEIGHBOUR_CHARS = 800
QUERY_CACHE = 256
# A sentence starting this early is one of the article's first (a lead often answers).
LEAD_CHARS = 300
SENTENCE_CACHE = 4096
# A question word this rare in the index (BM25 idf; in about 1 in 150 chunks) is a key word:
# an article without it is likely about something else ("microsoft's revenue" from Apple's).
KEY_IDF = 5.0
_ENDS_SENTENCE = re.compile(r"[.!?…][\"'”’)\]]*\s*$")
_WORDS = re.compile(r"[a-z0-9]+")
# The owner in a possessive ("microsoft's revenue", "kelce’s games").
_POSSESSOR = re.compile(r"\b([A-Za-z0-9]+)['’]s\b")
# Quotes of one article in an answer (the answer is often the sentence next to the best).
QUOTES_PER_ARTICLE = 2
# Quotes for each part of a question asked in several parts.
PART_QUOTES = 2
_PRONOUN = re.compile(r"\b(?:he|she|it|they|him|her|them|his|its|their|this|that)\b", re.I)
NEAREST_ARTICLES = 3
MIN_QUOTE_WORDS = 5
STATS_TTL_SECONDS = 30.0
DOMAINS_TTL_SECONDS = 600.0
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
    coverage: float  # share of the question's terms (weighted by rarity among the sentences)
    attributed: bool = False
    pair: bool = False
    neighbour: bool = False  # from the text around a retrieved chunk, not the chunk


@dataclass(frozen=True, slots=True)
class ScoredCandidate:
    """A candidate quote with the selector's signals and its probability of answering."""

    candidate: _Candidate
    features: dict[str, float]
    probability: float

    @property
    def text(self) -> str:
        return self.candidate.text

    @property
    def article_id(self) -> str:
        return self.candidate.passage.article_id


class AnswerIndex(ArticleStore, ChunkRanker, CopyStore, Protocol):
    """What answering reads: chunks ranked for a question and read as passages, the bodies
    quotes are verified against and the index's counts, the copies that "also reported" a
    story and the outlets' URLs."""


class Answerer:
    def __init__(
        self,
        index: AnswerIndex,
        embedder: Embedder,
        *,
        top_k: int,
        max_quotes: int,
        abstain_threshold: float,
        max_question_chars: int,
        fusion: FusionConfig | None = None,
        question_hints: bool = True,
        selector: SelectorModel | None = None,
        answer_threshold: float | None = None,
        writer: Writer | None = None,
    ) -> None:
        self._index = index
        self._writer = writer
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
        self._selector = selector or SelectorModel.load()
        if answer_threshold is not None:
            self._selector = replace(
                self._selector,
                answer_threshold=answer_threshold,
                short_answer_threshold=answer_threshold,
            )
        self._sentence_vectors: OrderedDict[str, Vectors] = OrderedDict()
        self._query_vectors: OrderedDict[str, Vectors] = OrderedDict()
        self._domains: tuple[float, dict[str, tuple[str, ...]]] | None = None

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
        text = as_meant(self.check_question(query))
        return self._retrieve(text, k or self._top_k, filters)[0]

    def nearest(
        self, question: str, *, filters: SearchFilters | None = None
    ) -> tuple[Citation, ...]:
        """The articles nearest a question, as a decline lists them ("the nearest articles
        are"), with the outlets of their copies."""
        return with_copies(
            nearest_citations(self.search(question, filters=filters), NEAREST_ARTICLES), self._index
        )

    def _retrieve(
        self, text: str, k: int, filters: SearchFilters | None
    ) -> tuple[list[Passage], QueryPlan]:
        given = filters or SearchFilters()
        plan = self.plan(text, given)
        vector = self._query_vector(text)
        if plan.time_filter is not None and given.since is None and given.until is None:
            period = plan.time_filter
            narrowed = replace(given, since=period.since, until=period.until)
            found = hybrid_search(self._index, vector, plan, narrowed, k, self._fusion)
            if found:
                return found, plan
            # Nothing was published then: the period the question names ranks instead.
            plan = replace(
                plan, time_filter=None, time_preferences=(period, *plan.time_preferences)
            )
        return hybrid_search(self._index, vector, plan, given, k, self._fusion), plan

    def plan(self, question: str, filters: SearchFilters | None = None) -> QueryPlan:
        """What the question says about outlets and times (see query_understanding.py),
        read against the outlets in the index and its newest article's date."""
        text = " ".join(question.split())
        if not self._hints:
            return QueryPlan(question=text, lexical_terms=tuple(terms(text)))
        scopes = filters.scopes if filters else None
        newest = self.stats(scopes).newest_published
        plan = understand(
            text,
            outlets=self._outlet_names(scopes),
            reference=newest or datetime.now(UTC),
            outlet_domains=self._outlet_domains(),
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

    def _outlet_domains(self) -> dict[str, tuple[str, ...]]:
        """Outlet -> the hosts of its articles' URLs (for short names: "nytimes", "nyt").
        A read of every article record: kept for DOMAINS_TTL_SECONDS (an outlet's domains
        rarely change), or until this process writes."""
        now = time.monotonic()
        with self._stats_lock:
            if self._domains is not None and now - self._domains[0] < DOMAINS_TTL_SECONDS:
                return self._domains[1]
        fields = self._index.article_fields(("outlet", "url"))
        fresh = domains_by_outlet(
            (str(f.get("outlet") or ""), str(f.get("url") or "")) for f in fields.values()
        )
        with self._stats_lock:
            self._domains = (now, fresh)
        return fresh

    def answer(
        self, question: str, *, filters: SearchFilters | None = None, top_k: int | None = None
    ) -> Answer:
        """Quotes that answer the question, one set per part of it ("how old was he, and
        why were they docked points?" is two), or none: "no ingested article covers this"."""
        text = self.check_question(question)
        parts = question_parts(as_meant(text))
        found: list[tuple[str, list[Passage], list[_Candidate], float | None]] = []
        for i, part in enumerate(parts):
            # A later part leans on the first for what "it" or "he" is.
            search_text = part if i == 0 or not _PRONOUN.search(part) else f"{parts[0]} {part}"
            passages, plan, scored, _ = self._scored(search_text, filters, top_k, asked=part)
            support = max((_similarity(c.candidate.passage) for c in scored), default=None)
            share = self._max_quotes if len(parts) == 1 else PART_QUOTES
            # (The whole question's length chooses the answerable model: a part of a long
            # question is not one typed in chat.)
            chosen = stating_first(part, self._choose(scored, share, text))
            miss = near_miss(part, plan, chosen, self._index) if chosen else None
            if miss is not None:
                log.debug("Declined %r: %s", part, miss)
                chosen = []
            found.append((part, passages, chosen, support))
        stats = self.stats(filters.scopes if filters else None)
        supports = [s for *_, s in found if s is not None]
        support = max(supports) if supports else None
        if not any(chosen for _, _, chosen, _ in found):
            nearest = nearest_citations(
                [p for _, passages, _, _ in found for p in passages], NEAREST_ARTICLES
            )
            return Answer(
                question=text,
                answered=False,
                quotes=(),
                citations=(),
                nearest=with_copies(nearest, self._index),  # "also reported by"
                articles_searched=stats.articles,
                newest_published=stats.newest_published,
                support=support,
                parts=tuple(AnswerPart(part, False, (), None) for part in parts)
                if len(parts) > 1
                else (),
            )
        citations: dict[str, Citation] = {}
        quotes: list[Quote] = []
        answer_parts: list[AnswerPart] = []
        for part, _, chosen, _ in found:
            indexes: list[int] = []
            for cand in chosen:
                p = cand.passage
                if p.article_id not in citations:
                    citations[p.article_id] = p.citation(len(citations) + 1)
                quote = Quote(
                    cand.text, citations[p.article_id].n, p.article_id, cand.start, cand.end
                )
                if quote not in quotes:
                    quotes.append(quote)
                indexes.append(quotes.index(quote))
            short = _short_answer(part, quotes[indexes[0]]) if indexes else None
            answer_parts.append(AnswerPart(part, bool(indexes), tuple(indexes), short))
        quoted = tuple(quotes)
        return Answer(
            question=text,
            answered=True,
            quotes=quoted,
            citations=with_copies(tuple(citations.values()), self._index),  # "also reported by"
            nearest=(),
            articles_searched=stats.articles,
            newest_published=stats.newest_published,
            support=support,
            short_answer=answer_parts[0].short_answer if len(parts) == 1 else None,
            parts=tuple(answer_parts) if len(parts) > 1 else (),
            written=self._written(text, quoted),
        )

    def _written(self, question: str, quotes: tuple[Quote, ...]) -> WrittenAnswer | None:
        """The model's checked answer over the verified quotes, when a writer is set."""
        if self._writer is None:
            return None
        bodies = self._index.get_bodies(list(dict.fromkeys(q.article_id for q in quotes)))
        return self._writer.write(question, quotes, bodies)

    def score_candidates(
        self,
        question: str,
        *,
        filters: SearchFilters | None = None,
        every: bool = False,
        per_article: int = SECOND_STAGE_PER_ARTICLE,
    ) -> list[ScoredCandidate]:
        """An answer's candidates with the selector's signals, best first: the second
        stage's, at most `per_article` of an article (with `every`, every candidate goes
        through the second stage; what bench/train_selector.py learns the weights from)."""
        text = as_meant(self.check_question(question))
        return self._scored(text, filters, None, every=every, per_article=per_article)[2]

    def _scored(
        self,
        text: str,
        filters: SearchFilters | None,
        top_k: int | None,
        *,
        every: bool = False,
        asked: str | None = None,
        per_article: int = SECOND_STAGE_PER_ARTICLE,
    ) -> tuple[list[Passage], QueryPlan, list[ScoredCandidate], dict[str, str]]:
        """Retrieval for `text`, then the candidates scored; `asked` (default `text`) is the
        question whose kind of answer is looked for. Also the articles' bodies."""
        passages, plan = self._retrieve(text, top_k or self._top_k, filters)
        bodies = self._index.get_bodies([p.article_id for p in passages])
        candidates = _verified(self._candidates(text, plan, passages, bodies), bodies)
        usable = [
            c
            for c in _quotable(text, passages, candidates, bodies)
            if _similarity(c.passage) >= self._threshold
        ]
        ranked = self._rank(
            asked or text, plan, passages, usable, bodies, every=every, per_article=per_article
        )
        return passages, plan, ranked, bodies

    def _rank(
        self,
        question: str,
        plan: QueryPlan,
        passages: Sequence[Passage],
        usable: list[_Candidate],
        bodies: dict[str, str],
        *,
        every: bool = False,
        per_article: int = SECOND_STAGE_PER_ARTICLE,
    ) -> list[ScoredCandidate]:
        """The first stage scores every candidate on cheap signals; its best few (at most
        `per_article` of an article) are embedded at sentence level and scored again by the
        second."""
        if not usable:
            return []
        model = self._selector
        q_terms = list(dict.fromkeys(plan.lexical_terms or tuple(terms(question))))
        df, chunk_count = self._index.document_frequencies(q_terms)
        idf = _idf(df, chunk_count)
        key = {t for t in q_terms if df[t] and idf[t] >= KEY_IDF and not t.isdigit()}
        unknown = unknown_words(q_terms, df, passages)
        asked = expected_type(question)
        rank_of = {p.chunk_id: r for r, p in enumerate(passages)}
        contexts: dict[str, frozenset[str]] = {}
        articles: dict[str, frozenset[str]] = {}
        first: list[tuple[float, _Candidate, dict[str, float]]] = []
        for c in usable:
            p = c.passage
            sentence_terms = _text_terms(c.text)
            if p.chunk_id not in contexts:
                contexts[p.chunk_id] = _text_terms(f"{p.title}\n{p.text}")
            if p.article_id not in articles:
                body = bodies.get(p.article_id, "")
                articles[p.article_id] = _text_terms(p.title) | _text_terms(body)
            article = articles[p.article_id]
            found = bool(answer_spans(c.text, asked, question))
            features = {
                "chunk_similarity": _similarity(p),
                "coverage": c.coverage,
                "key_coverage": weighted_share(sentence_terms, idf),
                "context_coverage": weighted_share(sentence_terms | contexts[p.chunk_id], idf),
                "article_coverage": weighted_share(article, idf),
                "type_found": float(found),
                "type_missing": float(asked is not AnswerType.NONE and not found),
                "attribution": float(c.attributed),
                "passage_rank": rank_score(rank_of.get(p.chunk_id, len(passages))),
                "pair": float(c.pair),
                "lead": float(c.start < LEAD_CHARS),
                "log_words": log_words(c.text),
                "statement_end": float(_ENDS_SENTENCE.search(c.text) is not None),
                "missing_key": float(bool(key - article)),
                "unknown_word": float(bool(unknown)),
                "neighbour": float(c.neighbour),
            }
            prior = ATTRIBUTION_PRIOR if c.attributed else 0.0
            first.append((model.first.probability(features, prior=prior), c, features))
        first.sort(key=lambda f: f[0], reverse=True)
        keys = [(c.passage.article_id, c.text) for _, c, _ in first]
        n, cap = (len(first), len(first)) if every else (SECOND_STAGE, per_article)
        holds = [f["type_found"] > 0 for _, _, f in first]
        picked = [first[i] for i in second_stage_picks(keys, n, cap, holds)]
        sims = self.sentence_similarities(question, [c.text for _, c, _ in picked])
        fulls = with_gaps(
            [
                {**features, "sentence_similarity": sim, "first_stage": p1}
                for (p1, _, features), sim in zip(picked, sims, strict=True)
            ]
        )
        scored = []
        for (_, c, _), full in zip(picked, fulls, strict=True):
            prior = ATTRIBUTION_PRIOR if c.attributed else 0.0
            scored.append(ScoredCandidate(c, full, model.second.probability(full, prior=prior)))
        scored.sort(key=lambda s: s.probability, reverse=True)
        return scored

    def answerable(self, scored: Sequence[ScoredCandidate], question: str | None) -> float:
        """The probability that the best candidates answer the question at all (a topic,
        None, is judged by the general model; see SelectorModel.answerable_for)."""
        if not scored:
            return 0.0
        best = scored[0]
        second = next((s.probability for s in scored if s.article_id != best.article_id), 0.0)
        features = answerable_features(best.probability, second, scored)
        model, _ = self._selector.answerable_for(question)
        return model.probability(features)

    def _query_vector(self, text: str) -> Vectors:
        """The question's vector (retrieval and sentence scoring share it)."""
        with self._stats_lock:
            found = self._query_vectors.get(text)
        if found is None:
            found = self._embedder.embed_query(text)
            with self._stats_lock:
                self._query_vectors[text] = found
                while len(self._query_vectors) > QUERY_CACHE:
                    self._query_vectors.popitem(last=False)
        return found

    def sentence_similarities(self, question: str, sentences: list[str]) -> list[float]:
        """Cosine of the question with each sentence, judged on its first SENTENCE_WORDS
        words (the cost of the model grows with length; vectors of recent sentences are
        kept: follow-up questions meet the same ones)."""
        q = self._query_vector(question)
        with self._stats_lock:
            cached = {t: v for t in sentences if (v := self._sentence_vectors.get(t)) is not None}
        missing = [t for t in dict.fromkeys(sentences) if t not in cached]
        if missing:
            texts = [" ".join(t.split()[:SENTENCE_WORDS]) for t in missing]
            # One batch shape: OpenVINO compiles kernels for each new input shape.
            texts += [texts[-1]] * (-len(texts) % SECOND_STAGE)
            vectors = self._embedder.embed_queries(texts)
            with self._stats_lock:
                for t, v in zip(missing, vectors[: len(missing)], strict=True):
                    cached[t] = v
                    self._sentence_vectors[t] = v
                    self._sentence_vectors.move_to_end(t)
                while len(self._sentence_vectors) > SENTENCE_CACHE:
                    self._sentence_vectors.popitem(last=False)
        return [float(np.dot(cached[t], q)) for t in sentences]

    def _choose(
        self, scored: list[ScoredCandidate], max_quotes: int, question: str
    ) -> list[_Candidate]:
        """The quotes to show: none if the question does not look answerable ("no ingested
        article covers this"); else the most probable candidates above the quote threshold,
        at most QUOTES_PER_ARTICLE of an article: the best first, then by article."""
        model = self._selector
        if not scored or self.answerable(scored, question) < model.answerable_for(question)[1]:
            return []
        chosen = [scored[0].candidate]
        per_article = Counter([scored[0].article_id])
        for s in scored[1:]:
            if len(chosen) >= max_quotes or s.probability < model.quote_threshold:
                break
            c = s.candidate
            if per_article[s.article_id] >= QUOTES_PER_ARTICLE or any(
                _overlaps(c, o) for o in chosen
            ):
                continue
            per_article[s.article_id] += 1
            chosen.append(c)
        # The best first (the short answer is taken from it); the rest by article, each
        # article's in its own order.
        rest = sorted(chosen[1:], key=lambda c: (chosen.index(_first_of(chosen, c)), c.start))
        return [chosen[0], *rest]

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
            self._domains = None

    # --- quote selection -----------------------------------------------------------------

    def _candidates(
        self,
        question: str,
        plan: QueryPlan,
        passages: Sequence[Passage],
        bodies: Mapping[str, str],
    ) -> list[_Candidate]:
        """Every sentence of the retrieved chunks and of the text around them (NEIGHBOUR_CHARS
        each side), and every two neighbouring sentences of a chunk's paragraph where the
        second adds to the first (more of the question's terms, or the attribution of its
        statement), each with its coverage of the question's terms."""
        # The question's own words: not the outlets and dates it names (those chose where
        # to look), nor words about news itself.
        q_terms = set(plan.lexical_terms) or set(terms(question))
        speaker = _speaker_terms(_blank(question, plan.spans))
        spans: list[tuple[Passage, int, int, str, frozenset[str]]] = []
        for p in passages:
            for s, e in iter_sentence_spans(p.text):
                sentence = p.text[s:e]
                spans.append((p, p.start + s, p.start + e, sentence, _text_terms(sentence)))
        neighbours = [
            (p, s, e, sentence, _text_terms(sentence))
            for p, s, e, sentence in _neighbour_sentences(passages, bodies)
        ]
        spans_and_neighbours = [*spans, *neighbours]
        # Terms rare among the retrieved sentences tell them apart best.
        df = Counter(t for *_, ts in spans_and_neighbours for t in ts & q_terms)
        n = max(len(spans_and_neighbours), 1)
        weight = {t: math.log(1.0 + n / (1.0 + df[t])) for t in q_terms}
        total = sum(weight.values()) or 1.0

        def scored(p: Passage, start: int, end: int, text: str, ts: frozenset[str]) -> _Candidate:
            coverage = sum(weight[t] for t in ts & q_terms) / total
            attributed = bool(speaker and ts & speaker and _attributes_to(text, speaker))
            return _Candidate(p, start, end, text, coverage, attributed)

        out = [scored(*span) for span in spans]
        out += [replace(scored(*span), neighbour=True) for span in neighbours]
        for (p, s1, e1, _, ts1), (p2, s2, e2, t2, ts2) in itertools.pairwise(spans):
            if p2 is not p or "\n" in p.text[e1 - p.start : s2 - p.start]:
                continue
            adds_terms = bool((ts2 - ts1) & q_terms)
            attributes = bool(speaker) and _CONTINUES.match(t2) is not None
            if not (adds_terms or attributes):
                continue
            pair = scored(p, s1, e2, p.text[s1 - p.start : e2 - p.start], ts1 | ts2)
            out.append(replace(pair, pair=True))
        return out


def _neighbour_sentences(
    passages: Sequence[Passage], bodies: Mapping[str, str]
) -> list[tuple[Passage, int, int, str]]:
    """The whole sentences of an article's text within NEIGHBOUR_CHARS of its retrieved
    chunks and outside all of them, each with the chunk it neighbours: the answer often sits
    just before or after the chunk that matched the question (the sentence with the score,
    after the paragraph that names both teams)."""
    covered: dict[str, list[tuple[int, int]]] = {}
    for p in passages:
        covered.setdefault(p.article_id, []).append((p.start, p.start + len(p.text)))
    found: list[tuple[Passage, int, int, str]] = []
    seen: set[tuple[str, int]] = set()
    for p in passages:
        body = bodies.get(p.article_id)
        if body is None:
            continue
        lo = max(0, p.start - NEIGHBOUR_CHARS)
        hi = min(len(body), p.start + len(p.text) + NEIGHBOUR_CHARS)
        window = body[lo:hi]
        spans = list(iter_sentence_spans(window))
        for i, (s, e) in enumerate(spans):
            if (i == 0 and lo > 0) or (i == len(spans) - 1 and hi < len(body)):
                continue  # may be cut off by the window
            start, end = lo + s, lo + e
            if (p.article_id, start) in seen or any(
                a < end and start < b for a, b in covered[p.article_id]
            ):
                continue
            seen.add((p.article_id, start))
            found.append((p, start, end, window[s:e]))
    return found


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


def _overlaps(a: _Candidate, b: _Candidate) -> bool:
    return a.passage.article_id == b.passage.article_id and a.start < b.end and b.start < a.end


def _first_of(chosen: list[_Candidate], c: _Candidate) -> _Candidate:
    return next(o for o in chosen if o.passage.article_id == c.passage.article_id)


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


@lru_cache(maxsize=16384)
def _text_terms(text: str) -> frozenset[str]:
    """A text's terms, read once per text (article bodies meet many questions)."""
    return frozenset(terms(text))


def _short_answer(question: str, quote: Quote) -> ShortAnswer | None:
    """The asked-for span of the top quote (a date, amount, count, name or score), verbatim."""
    span = short_answer_span(quote.text, expected_type(question), question)
    if span is None:
        return None
    return ShortAnswer(quote.text[span[0] : span[1]], quote.citation)


def near_miss(
    question: str, plan: QueryPlan, chosen: Sequence[_Candidate], index: ChunkRanker
) -> str | None:
    """Why quotes the selector would show do not answer although they are on topic (None:
    they may): the question asks for a kind of answer (an amount, a date, a name...) that
    none of them holds ("how much did google pay to settle" answered "they all settled");
    or none of them holds any of the question's key words (rare in the index), so they are
    about the topic, not the thing asked ("who won the carabao cup final" answered with
    another final)."""
    asked = expected_type(question)
    # (A reason is often given without a word that says so: "Directors said he had not been
    # candid" answers "why was he removed".)
    if asked not in (AnswerType.NONE, AnswerType.REASON) and not any(
        answer_spans(c.text, asked, question) for c in chosen
    ):
        return f"no {asked.value} in the quotes"
    # A long question (MultiHop-RAG's are ~40 words) names more than a few quotes hold.
    if is_short(question):
        q_terms = list(dict.fromkeys(plan.lexical_terms or tuple(terms(question))))
        owners = [fold_accents(m).lower() for m in _POSSESSOR.findall(question)]
        df, chunk_count = index.document_frequencies(list(dict.fromkeys([*q_terms, *owners])))
        idf = _idf(df, chunk_count)
        key = {t for t in q_terms if df[t] and idf[t] >= KEY_IDF and not t.isdigit()}
        if key and not mentioned(key, (c.text for c in chosen)):
            return f"none of {sorted(key)} in the quotes"
        # Whose thing is asked ("microsoft's revenue") when no stored article names them (and
        # the word is no typo of one) is what no article covers: not Apple's results.
        unknown = unknown_words(owners, df, [c.passage for c in chosen]) if owners else []
        if unknown:
            return f"no article names {unknown}"
        # The first quote is the answer (the short answer is taken from it; see
        # stating_first); a later one that says "won" of another match does not make it one.
        for predicate in asked_predicates(question):
            if not states(predicate, [chosen[0].text]):
                return f"nothing in the quotes says '{predicate.name}'"
    return None


def stating_first(question: str, chosen: list[_Candidate]) -> list[_Candidate]:
    """The quotes with the first that says what the question asks to have happened (see
    retrieval/predicates.py) moved to the front, when the best does not and the next does:
    "how much did Chelsea pay for Palmer" is answered by "a deal worth...", not by "Palmer
    scored a penalty" beside it."""
    asked = asked_predicates(question)
    if len(chosen) < 2 or not asked or all(states(p, [chosen[0].text]) for p in asked):
        return chosen
    if all(states(p, [chosen[1].text]) for p in asked):
        return [chosen[1], chosen[0], *chosen[2:]]
    return chosen


def unknown_words(
    q_terms: Sequence[str], df: dict[str, int], passages: Sequence[Passage]
) -> list[str]:
    """The question's words that no stored chunk holds and that are not a typo of a word of
    the retrieved passages ("sridevi" is unknown; "mcuh" is "much"): what no article covers."""
    # (Letters and two-letter forms, "v" in "leipzig v dortmund", say nothing of coverage.)
    absent = [t for t in q_terms if df.get(t, 0) == 0 and not t.isdigit() and len(t) > 2]
    if not absent:
        return []
    vocabulary = _Vocabulary(passages)
    return [t for t in absent if not vocabulary.near(t)]


class _Vocabulary:
    """The words of the retrieved passages (stopwords too) and their one-letter deletions:
    a question word one edit from one of them is a typo of it ("mcuh", "plmer")."""

    def __init__(self, passages: Sequence[Passage]) -> None:
        words: set[str] = set()
        for p in passages:
            words.update(_WORDS.findall(fold_accents(f"{p.title}\n{p.text}").lower()))
        words |= STOPWORDS
        self._near = words | {d for w in words for d in _deletions(w)}

    def near(self, term: str) -> bool:
        return term in self._near or any(d in self._near for d in _deletions(term))


def _deletions(word: str) -> set[str]:
    return {word[:i] + word[i + 1 :] for i in range(len(word))} if len(word) > 3 else set()


def _idf(df: dict[str, int], n: int) -> dict[str, float]:
    """BM25's inverse document frequency of each term (higher is rarer)."""
    return {t: bm25_idf(d, n) for t, d in df.items()}
