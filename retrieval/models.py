"""Domain objects. All are frozen; ids derive from content."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

GLOBAL_SCOPE = "global"


def _digest(*parts: str) -> str:
    h = hashlib.sha256()
    for part in parts:
        h.update(part.encode("utf-8"))
        h.update(b"\x00")
    return h.hexdigest()


def normalize_url(url: str) -> str:
    """The form of a URL used for identity: no fragment, no trailing slash."""
    url = url.strip().split("#", 1)[0]
    return url.rstrip("/") if url.count("/") > 3 else url


def make_article_id(*, url: str | None, title: str, body: str, scope: str = GLOBAL_SCOPE) -> str:
    """Stable id: from the URL when there is one (so an edited story keeps its id),
    else from the content. The scope is part of it so that two servers never share an article."""
    basis = ("url", normalize_url(url)) if url else ("content", title.strip(), body.strip())
    prefix = () if scope == GLOBAL_SCOPE else (scope,)
    return "a_" + _digest(*prefix, *basis)[:24]


def content_hash(title: str, body: str) -> str:
    return _digest(title, body)[:32]


@dataclass(frozen=True, slots=True)
class Article:
    """A cleaned article, ready to be chunked. `body` is the text every quote is checked against."""

    title: str
    body: str
    outlet: str | None = None
    author: str | None = None
    published: datetime | None = None
    updated: datetime | None = None
    url: str | None = None
    category: str | None = None
    description: str | None = None
    scope: str = GLOBAL_SCOPE
    id: str = field(default="")

    def __post_init__(self) -> None:
        if not self.id:
            object.__setattr__(
                self,
                "id",
                make_article_id(url=self.url, title=self.title, body=self.body, scope=self.scope),
            )

    @property
    def content_hash(self) -> str:
        return content_hash(self.title, self.body)


@dataclass(frozen=True, slots=True)
class Chunk:
    """A span of an article's body: `text == article.body[start:end]`."""

    article_id: str
    position: int
    start: int
    end: int
    text: str
    token_count: int

    @property
    def id(self) -> str:
        return "c_" + _digest(self.article_id, str(self.start), self.text)[:24]


@dataclass(frozen=True, slots=True)
class StoredArticle:
    """An article's record in the index (its body is fetched separately, when needed)."""

    id: str
    title: str
    outlet: str | None
    author: str | None
    published: datetime | None
    updated: datetime | None
    url: str | None
    category: str | None
    scope: str
    content_hash: str
    chunk_count: int
    ingested_at: datetime
    # A syndicated copy (the same wire story from another outlet) names its lead article:
    # it is stored with its record and body, but no chunks of its own.
    copy_of: str | None = None


@dataclass(frozen=True, slots=True)
class Passage:
    """A retrieved chunk with its score (higher is better: cosine similarity from a dense
    search, the fused rank score from `Answerer.search`) and its cosine similarity to the
    query (None where it was not computed)."""

    chunk_id: str
    article_id: str
    text: str
    start: int
    end: int
    score: float
    title: str
    outlet: str | None
    author: str | None
    published: datetime | None
    url: str | None
    similarity: float | None = None

    def citation(self, n: int) -> Citation:
        """This passage's article, cited as source [n]."""
        return Citation(
            n=n,
            article_id=self.article_id,
            title=self.title,
            outlet=self.outlet,
            author=self.author,
            published=self.published,
            url=self.url,
        )


def nearest_citations(passages: Sequence[Passage], limit: int) -> tuple[Citation, ...]:
    """The first `limit` articles among ranked passages, cited in that order: what a reply
    that covers nothing lists as the nearest articles."""
    seen: dict[str, Citation] = {}
    for p in passages:
        if p.article_id not in seen and len(seen) < limit:
            seen[p.article_id] = p.citation(len(seen) + 1)
    return tuple(seen.values())


@dataclass(frozen=True, slots=True)
class Citation:
    n: int
    article_id: str
    title: str
    outlet: str | None
    author: str | None
    published: datetime | None
    url: str | None
    # Outlets that published a copy of this article (it is cited once, for all of them).
    also_reported_by: tuple[str, ...] = ()

    def to_json(self) -> dict[str, object]:
        return {
            "n": self.n,
            "article_id": self.article_id,
            "title": self.title,
            "outlet": self.outlet,
            "author": self.author,
            "published": self.published.isoformat() if self.published else None,
            "url": self.url,
            "also_reported_by": list(self.also_reported_by),
        }


@dataclass(frozen=True, slots=True)
class Quote:
    """A verbatim span of a cited article: `article.body[start:end] == text`."""

    text: str
    citation: int
    article_id: str
    start: int
    end: int


@dataclass(frozen=True, slots=True)
class ShortAnswer:
    """The asked-for span (a date, amount, count, name or score), verbatim from the top
    quote, shown first."""

    text: str
    citation: int

    def to_json(self) -> dict[str, object]:
        return {"text": self.text, "citation": self.citation}


@dataclass(frozen=True, slots=True)
class AnswerPart:
    """One part of a question asked in several ("..., and why were they docked points?"):
    which of the answer's quotes answer it (indexes into `Answer.quotes`)."""

    question: str
    answered: bool
    quotes: tuple[int, ...]
    short_answer: ShortAnswer | None

    def to_json(self) -> dict[str, object]:
        return {
            "question": self.question,
            "answered": self.answered,
            "quotes": list(self.quotes),
            "short_answer": self.short_answer.to_json() if self.short_answer else None,
        }


@dataclass(frozen=True, slots=True)
class WrittenAnswer:
    """A local model's short answer in its own words, shown before the quotes: only the
    sentences that passed the grounding check (retrieval/written.py); `dropped` counts the
    sentences the check failed, not those cut unchecked past its limit (`written.ground`)."""

    text: str
    model: str
    dropped: int

    def to_json(self) -> dict[str, object]:
        return {"text": self.text, "model": self.model, "dropped": self.dropped}


@dataclass(frozen=True, slots=True)
class Answer:
    question: str
    answered: bool
    quotes: tuple[Quote, ...]
    citations: tuple[Citation, ...]
    nearest: tuple[Citation, ...]
    articles_searched: int
    newest_published: datetime | None
    # How well the best passage that could be quoted matches the question (its cosine
    # similarity; None when no passage had a quotable sentence): what the abstention
    # threshold is compared with. Not part of the JSON contract.
    support: float | None = None
    short_answer: ShortAnswer | None = None
    # For a question asked in several parts, one entry each (empty for one part).
    parts: tuple[AnswerPart, ...] = ()
    # The checked written answer (NEWSBOT_LLM_URL); None when off, failed or nothing passed.
    written: WrittenAnswer | None = None

    def to_json(self) -> dict[str, object]:
        """The `newsbot ask --json` contract."""
        return {
            "question": self.question,
            "answered": self.answered,
            "quotes": [{"text": q.text, "citation": q.citation} for q in self.quotes],
            "citations": [c.to_json() for c in self.citations],
            "nearest": [c.to_json() for c in self.nearest],
            "short_answer": self.short_answer.to_json() if self.short_answer else None,
            "parts": [p.to_json() for p in self.parts],
            "written": self.written.to_json() if self.written else None,
        }
