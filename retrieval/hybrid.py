"""Hybrid retrieval: dense and BM25 rankings fused by reciprocal rank, one lane per outlet a
question names, merged fairly, with a cap on chunks per article.

For one question (see `QueryPlan`):

1. Lanes: one per outlet group named (explicitly with `--source`/`/ask source:` or in the
   question), else one lane over everything the filters allow.
2. In each lane, the dense ranking (cosine, Chroma) and the lexical ranking (BM25) of the
   `candidates` best chunks are fused by weighted reciprocal rank fusion,
   score = sum of weight / (rrf_k + rank). Times the question only prefers (named days,
   "latest") add the same two rankings restricted to those times, at `time_weight`.
3. Lanes are merged fairly: the first of every lane, then the second of every lane, ...;
   within one such tier, the higher fused score first.
4. Diversity: at most `max_per_article` chunks of one article in the results, unless
   there is nothing else to show.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from retrieval.embedding import Vectors
from retrieval.index import ChunkRanker, SearchFilters
from retrieval.models import Passage
from retrieval.query_understanding import QueryPlan


@dataclass(frozen=True, slots=True)
class FusionConfig:
    rrf_k: int = 60
    dense_weight: float = 0.3
    lexical_weight: float = 1.0
    # Weight (relative to the above) of the rankings restricted to preferred times.
    time_weight: float = 0.5
    # Chunks taken from each ranking before fusion.
    candidates: int = 60
    # At most this many chunks of one article in the results; 0: no cap.
    max_per_article: int = 3


Ranked = list[tuple[str, float]]


def rrf(rankings: Sequence[tuple[Sequence[str], float]], k: int) -> Ranked:
    """Weighted reciprocal rank fusion: each ranking adds weight / (k + rank) to every id it
    holds (rank from 1). Best first; equal scores keep the order ids were first seen in."""
    scores: dict[str, float] = {}
    for ids, weight in rankings:
        if weight <= 0:
            continue
        for rank, cid in enumerate(ids, start=1):
            scores[cid] = scores.get(cid, 0.0) + weight / (k + rank)
    order = {cid: i for i, cid in enumerate(scores)}
    return sorted(scores.items(), key=lambda item: (-item[1], order[item[0]]))


def fair_merge(lanes: Sequence[Ranked]) -> Ranked:
    """Round-robin over lanes by rank; within a rank, the higher score first (ties: the
    earlier lane). An id already taken is skipped."""
    merged: Ranked = []
    seen: set[str] = set()
    depth = max((len(lane) for lane in lanes), default=0)
    for rank in range(depth):
        tier = [(lane[rank], i) for i, lane in enumerate(lanes) if rank < len(lane)]
        tier.sort(key=lambda item: (-item[0][1], item[1]))
        for (cid, score), _ in tier:
            if cid not in seen:
                seen.add(cid)
                merged.append((cid, score))
    return merged


def diversify(passages: Sequence[Passage], max_per_article: int) -> list[Passage]:
    """At most `max_per_article` passages of one article first (0: no cap); the passages
    over the cap follow, in order, for when nothing else is left."""
    if max_per_article <= 0:
        return list(passages)
    kept: list[Passage] = []
    over: list[Passage] = []
    count: dict[str, int] = {}
    for p in passages:
        n = count.get(p.article_id, 0)
        (kept if n < max_per_article else over).append(p)
        count[p.article_id] = n + 1
    return kept + over


def lane_filters(plan: QueryPlan, filters: SearchFilters) -> list[SearchFilters]:
    """One filter per lane: one per explicit outlet, else one per outlet group the
    question names, else the filters as they are."""
    if len(filters.outlets) > 1:
        return [replace(filters, outlets=(o,)) for o in filters.outlets]
    if filters.outlets or not plan.outlet_groups:
        return [filters]
    return [replace(filters, outlets=group) for group in plan.outlet_groups]


def hybrid_search(
    index: ChunkRanker,
    vector: Vectors,
    plan: QueryPlan,
    filters: SearchFilters,
    k: int,
    config: FusionConfig,
) -> list[Passage]:
    """The k best passages for a question; `Passage.score` is the fused score."""
    if k <= 0:
        return []
    n = max(config.candidates, k)
    windows = tuple((t.since, t.until) for t in plan.time_preferences)
    lanes: list[Ranked] = []
    for flt in lane_filters(plan, filters):
        rankings: list[tuple[Sequence[str], float]] = []
        variants = [(flt, 1.0)]
        if windows and not flt.windows:
            variants.append((replace(flt, windows=windows), config.time_weight))
        for f, weight in variants:
            if config.dense_weight > 0:
                dense = index.rank_dense(vector, n, f)
                rankings.append(([cid for cid, _ in dense], config.dense_weight * weight))
            if config.lexical_weight > 0 and plan.lexical_terms:
                lexical = index.rank_lexical(plan.lexical_terms, n, f)
                rankings.append(([cid for cid, _ in lexical], config.lexical_weight * weight))
        lanes.append(rrf(rankings, config.rrf_k))
    merged = fair_merge(lanes)
    # Fetch enough to fill k after the per-article cap.
    pool = merged[: k * max(1, 3 if config.max_per_article else 1)]
    found = index.get_passages([cid for cid, _ in pool], vector=vector)
    ranked = [replace(found[cid], score=score) for cid, score in pool if cid in found]
    return diversify(ranked, config.max_per_article)[:k]
