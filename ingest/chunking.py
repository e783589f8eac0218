"""Sentence-aware chunking bounded by the embedding model's own tokenizer.

Chunks are spans of the cleaned body (`chunk.text == body[chunk.start:chunk.end]`), so a
quote found in a chunk is, by construction, a verbatim part of the article.
"""

from __future__ import annotations

from dataclasses import dataclass

from retrieval.embedding import Embedder
from retrieval.models import Article, Chunk
from retrieval.sentences import iter_sentence_spans


@dataclass(frozen=True, slots=True)
class _Unit:
    start: int
    end: int
    tokens: int


# The headline may always take this many tokens, even where full-size chunks leave less room.
_MIN_HEADLINE_TOKENS = 32


class Chunker:
    """Packs whole sentences into chunks of at most `chunk_tokens` tokens, with the trailing
    sentences of each chunk (up to `overlap_tokens`) repeated at the start of the next.

    The headline is embedded with every chunk, so its tokens count against the model's limit:
    nothing is ever silently truncated by the model. It gets what a full-size chunk leaves of
    that limit (at least `_MIN_HEADLINE_TOKENS`, at most half): a longer title is cut for
    embedding, so that a scraped "title" the length of a paragraph does not shrink the chunks.
    """

    def __init__(self, embedder: Embedder, *, chunk_tokens: int, overlap_tokens: int) -> None:
        self._embedder = embedder
        self._chunk_tokens = chunk_tokens
        self._overlap_tokens = overlap_tokens
        max_tokens = embedder.max_tokens
        self._headline_tokens = min(
            max(max_tokens - chunk_tokens, _MIN_HEADLINE_TOKENS), max_tokens // 2
        )

    def headline(self, article: Article) -> str:
        """The title as embedded: whole, or cut to its share of tokens at the last word that
        fits whole (at a token boundary when a single word is too long)."""
        title = article.title
        offsets = self._embedder.token_offsets(title)
        if len(offsets) <= self._headline_tokens:
            return title
        cut = offsets[self._headline_tokens][0]  # where the first token that does not fit starts
        head = title[:cut]
        if not title[cut - 1 : cut + 1].isalnum() or len(head.split()) < 2:
            return head.rstrip()
        return head.rsplit(maxsplit=1)[0]

    def embedding_text(self, article: Article, chunk_text: str) -> str:
        """What the model embeds for a chunk: the headline gives every chunk its story's
        context."""
        return f"{self.headline(article)}\n{chunk_text}"

    def budget_for(self, article: Article) -> int:
        headline_tokens = self._embedder.count_tokens([self.headline(article) + "\n"])[0]
        room = self._embedder.max_tokens - headline_tokens
        return max(16, min(self._chunk_tokens, room))

    def chunk(self, article: Article) -> list[Chunk]:
        body = article.body
        budget = self.budget_for(article)
        units = self._units(body, budget)
        chunks: list[Chunk] = []
        i = 0
        while i < len(units):
            j = i
            total = 0
            while j < len(units) and (j == i or total + units[j].tokens <= budget):
                total += units[j].tokens
                j += 1
            start, end = units[i].start, units[j - 1].end
            chunks.append(
                Chunk(
                    article_id=article.id,
                    position=len(chunks),
                    start=start,
                    end=end,
                    text=body[start:end],
                    token_count=total,
                )
            )
            if j >= len(units):
                break
            # Step back over trailing sentences for the overlap, but always move forward.
            back = j
            carried = 0
            while back - 1 > i and carried + units[back - 1].tokens <= self._overlap_tokens:
                back -= 1
                carried += units[back].tokens
            i = back
        return chunks

    def _units(self, body: str, budget: int) -> list[_Unit]:
        spans = list(iter_sentence_spans(body))
        counts = self._embedder.count_tokens([body[s:e] for s, e in spans])
        units: list[_Unit] = []
        for (start, end), tokens in zip(spans, counts, strict=True):
            if tokens <= budget:
                units.append(_Unit(start, end, tokens))
            else:
                units.extend(self._split_long(body, start, end, budget))
        return units

    def _split_long(self, body: str, start: int, end: int, budget: int) -> list[_Unit]:
        """A sentence longer than the budget is cut at token boundaries."""
        offsets = self._embedder.token_offsets(body[start:end])
        pieces: list[_Unit] = []
        for k in range(0, len(offsets), budget):
            window = offsets[k : k + budget]
            piece_start = start + window[0][0]
            piece_end = start + (
                offsets[k + budget][0] if k + budget < len(offsets) else end - start
            )
            while piece_end > piece_start and body[piece_end - 1].isspace():
                piece_end -= 1
            pieces.append(_Unit(piece_start, piece_end, len(window)))
        return pieces
