"""What the side index keeps of an article: each chunk's terms and int8 vector, and the
metadata filters use; and the JSON form the journal writes it in.

What a chunk contributes: the terms of its article's headline and of its own text (the same
`retrieval.terms.terms` normalisation the answerer uses), so that a chunk is found by the words
of its story's headline as well as its own, as the embedding model sees it.
"""

from __future__ import annotations

import base64
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from retrieval.terms import terms


def document_terms(title: str, text: str) -> list[str]:
    """The terms a chunk is indexed under: its headline's and its own."""
    return terms(f"{title}\n{text}")


def quantize(vector: npt.ArrayLike) -> tuple[bytes, float]:
    """A vector as int8 codes and the scale that maps them back (code * scale)."""
    v = np.asarray(vector, dtype=np.float32)
    top = float(np.abs(v).max()) if v.size else 0.0
    scale = top / 127.0 if top > 0 else 1.0
    return np.round(v / scale).astype(np.int8).tobytes(), scale


@dataclass(frozen=True, slots=True)
class IndexedChunk:
    """One chunk as the side index keeps it: id, term frequencies and, when it has one,
    its vector quantised (`quantize`)."""

    chunk_id: str
    tf: Mapping[str, int]
    codes: bytes = b""
    scale: float = 0.0


@dataclass(frozen=True, slots=True)
class IndexedArticle:
    """An article's chunks and the metadata searches filter on."""

    article_id: str
    content_hash: str
    outlet: str | None
    published_ts: int | None
    scope: str
    chunks: tuple[IndexedChunk, ...]

    @classmethod
    def from_texts(
        cls,
        *,
        article_id: str,
        content_hash: str,
        title: str,
        outlet: str | None,
        published_ts: int | None,
        scope: str,
        chunks: Iterable[tuple[str, str]],
        vectors: npt.ArrayLike | None = None,
    ) -> IndexedArticle:
        """From (chunk id, chunk text) pairs and, one row per chunk, their vectors: the only
        place chunk text is tokenised."""
        pairs = list(chunks)
        rows = np.asarray(vectors, dtype=np.float32) if vectors is not None else None
        if rows is not None and len(rows) != len(pairs):
            raise ValueError("one vector per chunk")
        return cls(
            article_id=article_id,
            content_hash=content_hash,
            outlet=outlet,
            published_ts=published_ts,
            scope=scope,
            chunks=tuple(
                IndexedChunk(
                    cid,
                    Counter(document_terms(title, text)),
                    *(quantize(rows[i]) if rows is not None else ()),
                )
                for i, (cid, text) in enumerate(pairs)
            ),
        )

    def to_json(self) -> dict[str, object]:
        return {
            "put": self.article_id,
            "hash": self.content_hash,
            "outlet": self.outlet,
            "ts": self.published_ts,
            "scope": self.scope,
            "chunks": [
                [c.chunk_id, dict(c.tf)]
                + ([base64.b64encode(c.codes).decode("ascii"), c.scale] if c.codes else [])
                for c in self.chunks
            ],
        }

    @classmethod
    def from_json(cls, obj: Mapping[str, Any]) -> IndexedArticle:
        return cls(
            article_id=str(obj["put"]),
            content_hash=str(obj["hash"]),
            outlet=obj.get("outlet"),
            published_ts=obj.get("ts"),
            scope=str(obj.get("scope", "")),
            chunks=tuple(
                IndexedChunk(str(row[0]), dict(row[1]))
                if len(row) == 2
                else IndexedChunk(str(row[0]), dict(row[1]), base64.b64decode(row[2]), row[3])
                for row in obj["chunks"]
            ),
        )
