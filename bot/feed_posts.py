"""What a feed posts to its channel: the filter an admin gave (words or a phrase), which of a
poll's new articles pass it, each one's compact embed (naming the outlets of its syndicated
copies), and the permissions the bot needs there.

The filter, the selection and the embeds read user input or article text (and escaping it
runs regexes), so the cog runs them in a worker pool, never on the event loop. Matching is
regex-free and linear in the text.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

import discord

from bot.render import DESCRIPTION_LIMIT, TITLE_LIMIT, link, safe, trim
from retrieval.errors import InputError
from retrieval.models import StoredArticle
from retrieval.sentences import iter_sentence_spans
from retrieval.syndication import copy_outlets

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
    also_reported_by: tuple[str, ...]  # outlets of its syndicated copies


def feed_post(article: StoredArticle, body: str, copies: Sequence[StoredArticle]) -> FeedPost:
    return FeedPost(article, opening(body), copy_outlets(article.outlet, copies))


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
    stories: Sequence[StoredArticle],
    bodies: Mapping[str, str],
    feed_filter: FeedFilter | None,
    limit: int,
) -> list[StoredArticle]:
    """The newest `limit` of a poll's new stories (its lead articles: a copy is named under
    its lead, never posted itself) that pass the filter, oldest first."""
    passed = [
        story
        for story in stories
        if feed_filter is None or feed_filter.matches(story.title, bodies.get(story.id, ""))
    ]
    passed.sort(key=lambda story: story.published or story.ingested_at)
    return passed[-limit:]


# What the bot must be allowed in a channel to post a feed there, as Discord names it. Each
# needs the one before: without it Discord (and discord.py's permissions_for) drops it too.
POSTING_PERMISSIONS = (
    ("view_channel", "View Channel"),
    ("send_messages", "Send Messages"),
    ("embed_links", "Embed Links"),
)


def missing_permission(channel: discord.abc.GuildChannel) -> str | None:
    """The first posting permission the bot lacks in `channel` (by what it knows of the
    server), or None."""
    granted = channel.permissions_for(channel.guild.me)
    return next((name for flag, name in POSTING_PERMISSIONS if not getattr(granted, flag)), None)


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
