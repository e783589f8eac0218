"""Questions grouped by meaning: the wordings of one question together, other questions apart.

Agglomerative, with average linkage: the distinct questions (case and spacing ignored) are
embedded, each starts a group, and the two most similar groups are merged while their
similarity reaches `similarity`. Two groups' similarity is the mean cosine similarity of
their questions, each counted as often as it was asked. Deterministic, and the groups do not
depend on the order the questions come in (but for exact ties).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from retrieval.embedding import Embedder, Vectors

# With all-MiniLM-L6-v2, rewordings of a question score about 0.7-0.95 with each other, and so
# do questions on one narrow topic ("who was the best player at the chess olympiad?" and "who
# won it?": the same news answers both); another question about a place or a thing already
# asked about, about 0.5-0.67; unrelated ones, below 0.4 (tests/test_feedback.py).
DEFAULT_SIMILARITY = 0.7
# Questions embedded per model call (embed_queries takes a few at a time, on one thread).
EMBED_BATCH = 32


def question_key(question: str) -> str:
    """What makes two questions the same wording: case and spacing ignored."""
    return " ".join(question.split()).casefold()


def group_questions(
    questions: Sequence[str], embedder: Embedder, *, similarity: float = DEFAULT_SIMILARITY
) -> list[list[int]]:
    """The questions' indexes, one list per group, each in the order asked; the group asked
    most first (ties: the group asked first)."""
    by_key: dict[str, list[int]] = {}
    for i, question in enumerate(questions):
        by_key.setdefault(question_key(question), []).append(i)
    distinct = list(by_key.values())  # in the order first asked
    if not distinct:
        return []
    vectors = _embed([questions[asked[0]] for asked in distinct], embedder)
    scores = (vectors @ vectors.T).astype(np.float64)
    np.fill_diagonal(scores, -np.inf)
    weights = np.array([len(asked) for asked in distinct], dtype=np.float64)
    members: list[list[int]] = [[d] for d in range(len(distinct))]
    while True:  # ends when no two groups are similar enough (a lone group scores -inf)
        i, j = divmod(int(np.argmax(scores)), len(distinct))
        if scores[i, j] < similarity:
            break
        i, j = min(i, j), max(i, j)  # the merged group keeps the earlier one's place
        merged = (weights[i] * scores[i] + weights[j] * scores[j]) / (weights[i] + weights[j])
        scores[i, :] = merged
        scores[:, i] = merged
        scores[i, i] = -np.inf
        scores[j, :] = -np.inf  # j is gone
        scores[:, j] = -np.inf
        weights[i] += weights[j]
        members[i] += members[j]
        members[j] = []
    groups = [sorted(q for d in group for q in distinct[d]) for group in members if group]
    groups.sort(key=lambda group: (-len(group), group[0]))
    return groups


def _embed(texts: list[str], embedder: Embedder) -> Vectors:
    batches = range(0, len(texts), EMBED_BATCH)
    return np.concatenate([embedder.embed_queries(texts[i : i + EMBED_BATCH]) for i in batches])
