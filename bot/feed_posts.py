"""What a feed posts to its channel: the filter an admin gave (words or a phrase), which of a
poll's new articles pass it, and each one's compact embed.

Everything here reads user input or article text (and escaping it runs regexes), so the cog
runs it in a worker pool, never on the event loop. Matching is regex-free and linear in the
text.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

import discord

from bot.render import DESCRIPTION_LIMIT, TITLE_LIMIT, link, safe, trim
from ingest.reports import ItemResult
from retrieval.errors import InputError
from retrieval.models import StoredArticle
from retrieval.sentences import iter_sentence_spans

MAX_FILTER_CHARS = 200
# The opening shown: the first sentence, and the second too while both fit in this.
OPENING_CHARS = 500
POST_COLOUR = discord.Colour.dark_teal()


def _words(text: str) -> list[str]:
    """Case-folded words: runs of letters and digits (everything else separates them)."""
    return "".join(c if c.isalnum() else " " for c in text.casefold()).split()


@dataclass(frozen=True, slots=True)
class FeedFilter:
    """A feed's filter: each phrase ("in double quotes") must appear as is, word for word, and
    each bare word must appear too (anywhere, as a whole word), in the title or the body."""

    phrases: tuple[str, ...]  # words joined by single spaces
    words: frozenset[str]

    @classmethod
    def parse(cls, text: str) -> FeedFilter:
        if len(text) > MAX_FILTER_CHARS:
            raise InputError(f"A filter may be at most {MAX_FILTER_CHARS} characters long.")
        phrases: list[str] = []
        words: set[str] = set()
        # Between quotes (even-numbered pieces are outside): an unclosed quote runs to the end.
        for n, piece in enumerate(text.split('"')):
            found = _words(piece)
            if n % 2:
                if found:
                    phrases.append(" ".join(found))
            else:
                words.update(found)
        if not phrases and not words:
            raise InputError("A filter needs at least one word (letters or digits).")
        return cls(tuple(phrases), frozenset(words))

    def matches(self, title: str, body: str) -> bool:
        found = _words(title) + _words(body)
        present = set(found)
        if not self.words <= present:
            return False
        # Spaces around both: a phrase matches whole words only ("port" is not in "support").
        joined = f" {' '.join(found)} "
        return all(f" {phrase} " in joined for phrase in self.phrases)


@dataclass(frozen=True, slots=True)
class FeedPost:
    article: StoredArticle
    opening: str  # the first one or two sentences of its stored body, verbatim
    also_reported_by: tuple[str, ...]  # outlets of its copies that came in the same poll


def opening(body: str) -> str:
    spans: list[tuple[int, int]] = []
    for start, end in iter_sentence_spans(body):
        if spans and end - spans[0][0] > OPENING_CHARS:
            break
        spans.append((start, end))
        if len(spans) == 2:
            break
    if not spans:
        return ""
    return body[spans[0][0] : spans[-1][1]]


def select_posts(
    added: Sequence[ItemResult],
    articles: Mapping[str, StoredArticle],
    bodies: Mapping[str, str],
    feed_filter: FeedFilter | None,
    limit: int,
) -> list[FeedPost]:
    """The newest `limit` lead articles of a poll that pass the filter, oldest first. A copy
    is never posted itself: it is named under its lead when both came in this poll."""
    outlets: dict[str, list[str]] = {}
    for item in added:
        copy = articles.get(item.article_id or "")
        if item.copy_of is not None and copy is not None and copy.outlet:
            outlets.setdefault(item.copy_of, []).append(copy.outlet)
    posts = []
    for item in added:
        article = articles.get(item.article_id or "")
        if item.copy_of is not None or article is None:
            continue
        body = bodies.get(article.id, "")
        if feed_filter is not None and not feed_filter.matches(article.title, body):
            continue
        others = dict.fromkeys(o for o in outlets.get(article.id, ()) if o != article.outlet)
        posts.append(FeedPost(article, opening(body), tuple(others)))
    posts.sort(key=lambda p: p.article.published or p.article.ingested_at)
    return posts[-limit:]


def _timestamp(value: datetime) -> str:
    return f"<t:{int(value.timestamp())}:f>"


def post_embed(post: FeedPost) -> discord.Embed:
    article = post.article
    shown = link(article.url)
    embed = discord.Embed(
        title=trim(safe(article.title), TITLE_LIMIT),
        url=shown[1:-1] if shown else None,  # the cleaned URL, without link()'s brackets
        colour=POST_COLOUR,
    )
    head = [safe(article.outlet or "unknown outlet")]
    if article.published is not None:
        head.append(_timestamp(article.published))
    lines = [" · ".join(head)]
    if post.opening:
        lines.append(safe(post.opening))
    if post.also_reported_by:
        lines.append("Also reported by " + safe(", ".join(post.also_reported_by)))
    embed.description = trim("\n".join(lines), DESCRIPTION_LIMIT)
    return embed
