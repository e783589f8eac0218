"""A story's timeline: its key developments in date order, one verbatim quote per article.

For a topic ("the FTX trial"), many more passages are retrieved than an answer quotes from
(the same hybrid search as `newsbot search`), grouped by article (syndicated copies have no
chunks of their own, so each story is found once, through its lead, and cited with the
outlets of its copies). An article is kept when it is about the topic rather than mentioning
it: it holds most of the topic's rare words, mentions them repeatedly, and its best passage
is close to the topic (thresholds calibrated on the dev stories of
bench/data/timeline_stories.jsonl by bench/timeline.py). From each kept article, the sentence
that best states what happened: its opening sentences and those of its retrieved passages,
ranked by their similarity to the topic (at sentence level, as answer quotes are) and their
share of its words; each checked to be verbatim in the stored body. Undated articles cannot
be placed and are left out. At most `max_entries` entries, the most relevant, in date order.

One entry per article rather than per day: outlets' reports of the same day usually differ
(one witness each at a trial, a match report and its analysis), every entry stays one
article with one citation, and the reader sees which outlets covered the story when.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import islice

from retrieval.answering import Answerer, AnswerIndex
from retrieval.errors import QuestionError
from retrieval.index import SearchFilters
from retrieval.models import Citation, Passage, Quote, nearest_citations
from retrieval.sentences import iter_sentence_spans
from retrieval.side_index.bm25 import bm25_idf
from retrieval.syndication import with_copies
from retrieval.terms import terms

# Passages retrieved for a topic (an answer reads NEWSBOT_TOP_K, 10): a story's articles,
# up to NEWSBOT_MAX_CHUNKS_PER_ARTICLE chunks each.
TOPIC_PASSAGES = 90
# How many times a topic word counts at most, in an article's mentions of the topic.
MENTIONS_SATURATE = 10
# An article's opening sentences are candidates too: a report's lead states its news.
OPENING_SENTENCES = 3
# Candidates of one article embedded at sentence level (the best by their words first).
SENTENCES_PER_ARTICLE = 3
# A quote's length in words: shorter is a fragment (a heading, a caption); longer is a
# paragraph the cleaner could not split, too long for a line of a timeline.
MIN_QUOTE_WORDS = 6
MAX_QUOTE_WORDS = 70
# How much the share of the topic's words adds to a sentence's similarity, and an opening
# sentence's preference.
COVERAGE_WEIGHT = 0.5
OPENING_BONUS = 0.1
NEAREST_ARTICLES = 3
# A statement ends as a sentence does (not a heading, a "MORE: ..." link or a question).
_STATEMENT_END = re.compile(r"[.!…][\"'”’)\]]*$")
# Not news but its furniture: embedded posts, links, photo credits.
_FURNITURE = re.compile(
    r"pic\.twitter\.com|https?://|www\.|\(@\w+\)|getty images|\bphoto:|\(ap photo|\| reuters",
    re.IGNORECASE,
)


@dataclass(frozen=True, slots=True)
class OnTopic:
    """When an article is about the topic (the defaults are calibrated on the dev stories of
    bench/data/timeline_stories.jsonl; bench/timeline.py sweeps them)."""

    # The share of the topic's words the article holds, weighted by rarity in the index.
    min_coverage: float = 0.7
    # How often it mentions them: the weighted mean of their counts, each counted up to
    # MENTIONS_SATURATE, over MENTIONS_SATURATE (0.3: about three times each), so that an
    # article naming the story in passing is not taken for one about it.
    min_mentions: float = 0.3
    # Its best passage's similarity (cosine) to the topic.
    min_similarity: float = 0.35

    def holds(self, found: Sequence[Passage], body: str, weights: Mapping[str, float]) -> bool:
        if not weights or max(_similarity(p) for p in found) < self.min_similarity:
            return False
        counts = Counter(terms(f"{found[0].title}\n{body}"))
        total = sum(weights.values())
        coverage = sum(w for t, w in weights.items() if counts[t]) / total
        mentions = sum(w * min(counts[t], MENTIONS_SATURATE) for t, w in weights.items())
        return coverage >= self.min_coverage and mentions / total / MENTIONS_SATURATE >= (
            self.min_mentions
        )


@dataclass(frozen=True, slots=True)
class TimelineEntry:
    """One development: the day its article was published and the article's sentence that
    states it (verbatim: `body[quote.start:quote.end] == quote.text`)."""

    published: datetime
    quote: Quote
    # How close the article is to the topic (its best passage's cosine): which articles a
    # timeline keeps when more are about the topic than it has room for. Not in the JSON.
    relevance: float

    @property
    def day(self) -> str:
        return self.published.astimezone(UTC).date().isoformat()

    def to_json(self) -> dict[str, object]:
        return {
            "date": self.day,
            "quote": {"text": self.quote.text, "citation": self.quote.citation},
        }


@dataclass(frozen=True, slots=True)
class Timeline:
    topic: str
    entries: tuple[TimelineEntry, ...]  # in date order; citation n is the n-th entry's
    citations: tuple[Citation, ...]
    # When no article covers the topic: the articles nearest it.
    nearest: tuple[Citation, ...]
    articles_searched: int
    newest_published: datetime | None

    def to_json(self) -> dict[str, object]:
        """The `newsbot timeline --json` contract."""
        return {
            "topic": self.topic,
            "entries": [e.to_json() for e in self.entries],
            "citations": [c.to_json() for c in self.citations],
            "nearest": [c.to_json() for c in self.nearest],
        }


@dataclass(frozen=True, slots=True)
class _Sentence:
    passage: Passage  # the article's passage (the source of its citation)
    start: int  # offsets into the article body
    end: int
    text: str
    coverage: float  # share of the topic's words, weighted by rarity
    opening: bool  # one of the article's first sentences


class TimelineBuilder:
    def __init__(
        self,
        answerer: Answerer,
        index: AnswerIndex,
        *,
        max_entries: int,
        max_topic_chars: int,
        on_topic: OnTopic | None = None,
    ) -> None:
        self._answerer = answerer
        self._on_topic = on_topic or OnTopic()
        self._index = index
        self._max_entries = max_entries
        self._max_chars = max_topic_chars

    def check_topic(self, topic: str) -> str:
        text = " ".join(topic.split())
        if not text:
            raise QuestionError("The topic is empty: name a story, e.g. “the FTX trial”.")
        if len(text) > self._max_chars:
            raise QuestionError(
                f"The topic is {len(text)} characters long; the limit is {self._max_chars}. "
                "Name the story in fewer words."
            )
        return text

    def build(self, topic: str, *, filters: SearchFilters | None = None) -> Timeline:
        text = self.check_topic(topic)
        passages = self._answerer.search(text, k=TOPIC_PASSAGES, filters=filters)
        stats = self._answerer.stats(filters.scopes if filters else None)
        by_article: dict[str, list[Passage]] = {}
        for p in passages:
            by_article.setdefault(p.article_id, []).append(p)
        weights = self._term_weights(text, filters)
        bodies = self._index.get_bodies(list(by_article))
        relevant = [
            (max(_similarity(p) for p in found), found)
            for found in by_article.values()
            if found[0].published is not None
            and self._on_topic.holds(found, bodies.get(found[0].article_id, ""), weights)
        ]
        relevant.sort(key=lambda r: r[0], reverse=True)
        chosen = self._quotes(text, relevant, bodies, weights)
        chosen.sort(key=lambda c: (_published(c[1].passage), c[1].passage.article_id))
        citations: list[Citation] = []
        entries: list[TimelineEntry] = []
        for relevance, s in chosen:
            p = s.passage
            citations.append(p.citation(len(citations) + 1))
            quote = Quote(s.text, len(citations), p.article_id, s.start, s.end)
            entries.append(TimelineEntry(_published(p), quote, relevance))
        nearest = () if entries else nearest_citations(passages, NEAREST_ARTICLES)
        return Timeline(
            topic=text,
            entries=tuple(entries),
            citations=with_copies(citations, self._index),  # "also reported by"
            nearest=with_copies(nearest, self._index),
            articles_searched=stats.articles,
            newest_published=stats.newest_published,
        )

    def _term_weights(self, text: str, filters: SearchFilters | None) -> dict[str, float]:
        """The topic's words (not the outlets and times it names), each weighted by its
        rarity in the index (BM25's idf): "trial" counts less than "bankman"."""
        plan = self._answerer.plan(text, filters)
        words = list(dict.fromkeys(plan.lexical_terms or terms(text)))
        df, n = self._index.document_frequencies(words)
        return {t: bm25_idf(d, n) for t, d in df.items() if d}

    def _quotes(
        self,
        topic: str,
        relevant: Sequence[tuple[float, list[Passage]]],
        bodies: Mapping[str, str],
        weights: Mapping[str, float],
    ) -> list[tuple[float, _Sentence]]:
        """Each kept article's best sentence, for the max_entries most relevant articles
        with a sentence to quote; an article whose best sentences another entry already
        quotes (a copy the syndication check missed) is left out."""
        candidates: list[tuple[float, list[_Sentence]]] = []
        for relevance, found in relevant:
            if len(candidates) == self._max_entries:
                break
            body = bodies.get(found[0].article_id, "")
            ranked = sorted(
                _sentences(found, body, weights),
                key=lambda s: s.coverage + (OPENING_BONUS if s.opening else 0.0),
                reverse=True,
            )
            if ranked:
                candidates.append((relevance, ranked[:SENTENCES_PER_ARTICLE]))
        texts = [s.text for _, ranked in candidates for s in ranked]
        similarities = self._answerer.sentence_similarities(topic, texts)
        similarity = dict(zip(texts, similarities, strict=True))
        chosen: list[tuple[float, _Sentence]] = []
        quoted: set[str] = set()
        for relevance, ranked in candidates:
            order = sorted(ranked, key=lambda s: _score(s, similarity[s.text]), reverse=True)
            best = next((s for s in order if _normal(s.text) not in quoted), None)
            if best is not None:
                quoted.add(_normal(best.text))
                chosen.append((relevance, best))
        return chosen


def _sentences(
    found: Sequence[Passage], body: str, weights: Mapping[str, float]
) -> Iterator[_Sentence]:
    """The article's opening sentences and those of its retrieved passages that can be
    quoted: statements of a line's length, verbatim in the stored body, holding one of
    the topic's words."""
    total = sum(weights.values())
    # (start, end, text, opening): the opening's from the body itself, the passages' as
    # retrieved, and kept only where the body still holds them to the character.
    spans = [
        (s, e, body[s:e], True) for s, e in islice(iter_sentence_spans(body), OPENING_SENTENCES)
    ]
    for p in found:
        spans += [
            (p.start + s, p.start + e, p.text[s:e], False) for s, e in iter_sentence_spans(p.text)
        ]
    seen: set[int] = set()
    for start, end, text, is_opening in spans:
        if start in seen or body[start:end] != text or not _quotable(text):
            continue
        seen.add(start)
        held = set(terms(text))
        coverage = sum(w for t, w in weights.items() if t in held) / total
        if coverage > 0:
            yield _Sentence(found[0], start, end, text, coverage, is_opening)


def _quotable(text: str) -> bool:
    words = len(text.split())
    return (
        MIN_QUOTE_WORDS <= words <= MAX_QUOTE_WORDS
        and _STATEMENT_END.search(text) is not None
        and _FURNITURE.search(text) is None
    )


def _score(s: _Sentence, similarity: float) -> float:
    return similarity + COVERAGE_WEIGHT * s.coverage + (OPENING_BONUS if s.opening else 0.0)


def _published(p: Passage) -> datetime:
    assert p.published is not None  # undated articles were left out
    return p.published


def _similarity(p: Passage) -> float:
    return p.similarity if p.similarity is not None else p.score


def _normal(text: str) -> str:
    return " ".join(text.casefold().split())
