"""A fast, deterministic stand-in for the real embedding model, for tests that check what is
stored, acknowledged or repaired rather than which sentence is quoted or how well.

Each word (lower-cased `\\w+`) hashes to one of 384 dimensions with a sign (the hashing
trick), so texts that share words are nearer; vectors are L2-normalised, the same dimension
as all-MiniLM-L6-v2's. Tokens are words and punctuation marks, counted and truncated the way
the chunker expects (at `max_tokens`, as the real model truncates). Its own name and backend
make an index built with it refuse real vectors, and the other way round.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence

import numpy as np

from retrieval.embedding import Vectors

FAKE_MODEL_NAME = "fake-hashed-words"
FAKE_BACKEND = "fake-hashed-words"
DIMENSION = 384  # all-MiniLM-L6-v2's
# all-MiniLM-L6-v2's max_seq_length (256) less [CLS] and [SEP].
MAX_TOKENS = 254

_TOKEN = re.compile(r"\w+|[^\w\s]")
_WORD = re.compile(r"\w+")


def _feature(word: str) -> tuple[int, float]:
    """The dimension and sign a word adds to: stable across processes (unlike `hash`)."""
    digest = hashlib.blake2b(word.encode("utf-8"), digest_size=8).digest()
    value = int.from_bytes(digest, "little")
    return value % DIMENSION, 1.0 if value >> 63 else -1.0


class FakeEmbedder:
    """Satisfies `retrieval.embedding.Embedder`; loads nothing and is safe across threads."""

    name = FAKE_MODEL_NAME
    backend = FAKE_BACKEND
    max_tokens = MAX_TOKENS

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        return [len(_TOKEN.findall(text)) for text in texts]

    def token_offsets(self, text: str) -> list[tuple[int, int]]:
        return [m.span() for m in _TOKEN.finditer(text)]

    def _vector(self, text: str) -> Vectors:
        spans = self.token_offsets(text)
        # What the model reads: the first `max_tokens` tokens, as the real one truncates.
        read = text[: spans[self.max_tokens - 1][1]] if len(spans) > self.max_tokens else text
        vector = np.zeros(DIMENSION, dtype=np.float32)
        # A text without words still gets a unit vector, as the real model gives one.
        for word in _WORD.findall(read.lower()) or [""]:
            dim, sign = _feature(word)
            vector[dim] += sign
        norm = float(np.linalg.norm(vector))
        if norm == 0.0:  # the words' signs cancelled out exactly
            dim, sign = _feature("")
            vector[dim] = sign
            norm = 1.0
        return np.asarray(vector / norm, dtype=np.float32)

    def embed_documents(self, texts: Sequence[str]) -> Vectors:
        if not texts:
            return np.zeros((0, 0), dtype=np.float32)  # as the real embedders return
        return np.stack([self._vector(text) for text in texts])

    def embed_query(self, text: str) -> Vectors:
        return self._vector(text)

    def embed_queries(self, texts: Sequence[str]) -> Vectors:
        return self.embed_documents(texts)
