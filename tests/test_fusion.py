"""Reciprocal rank fusion, fair merging of outlet lanes and the per-article cap, on a fake
index whose rankings are given, so every expected order can be worked out by hand."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

import numpy as np
import pytest

from retrieval.embedding import Vectors
from retrieval.hybrid import FusionConfig, diversify, fair_merge, hybrid_search, rrf
from retrieval.index import SearchFilters
from retrieval.models import Passage
from retrieval.query_understanding import QueryPlan, TimeRange


def test_rrf_adds_weight_over_k_plus_rank() -> None:
    fused = rrf([(["a", "b", "c"], 1.0), (["c", "a"], 0.5)], k=10)
    scores = dict(fused)
    assert scores["a"] == pytest.approx(1 / 11 + 0.5 / 12)
    assert scores["b"] == pytest.approx(1 / 12)
    assert scores["c"] == pytest.approx(1 / 13 + 0.5 / 11)
    assert [cid for cid, _ in fused] == ["a", "c", "b"]


def test_rrf_weights_decide_between_rankings_that_disagree() -> None:
    dense, lexical = ["d1", "l1"], ["l1", "d1"]
    assert rrf([(dense, 1.0), (lexical, 0.3)], k=60)[0][0] == "d1"
    assert rrf([(dense, 0.3), (lexical, 1.0)], k=60)[0][0] == "l1"
    # Found by both at rank 2 beats found by one only, at rank 1.
    assert rrf([(["d1", "x"], 1.0), (["l1", "x"], 1.0)], k=60)[0][0] == "x"


def test_rrf_ignores_zero_weight_rankings_and_breaks_ties_by_first_seen() -> None:
    assert rrf([(["a"], 0.0), (["b"], 1.0)], k=60) == [("b", pytest.approx(1 / 61))]
    assert [cid for cid, _ in rrf([(["p"], 1.0), (["q"], 1.0)], k=60)] == ["p", "q"]


def test_fair_merge_takes_one_of_each_lane_per_round_stronger_first() -> None:
    lane_a = [("a1", 0.02), ("a2", 0.01), ("a3", 0.005)]
    lane_b = [("b1", 0.03), ("a2", 0.02)]
    merged = fair_merge([lane_a, lane_b])
    # Round 1: b1 (0.03) before a1 (0.02); round 2: a2 once; round 3: a3.
    assert [cid for cid, _ in merged] == ["b1", "a1", "a2", "a3"]


def _passage(cid: str, article: str, score: float = 0.0) -> Passage:
    return Passage(
        chunk_id=cid,
        article_id=article,
        text=cid,
        start=0,
        end=len(cid),
        score=score,
        title=article,
        outlet=None,
        author=None,
        published=None,
        url=None,
    )


def test_diversify_caps_chunks_per_article_and_keeps_the_rest_last() -> None:
    ranked = [_passage(f"c{i}", "A") for i in range(4)] + [_passage("d", "B")]
    assert [p.chunk_id for p in diversify(ranked, 2)] == ["c0", "c1", "d", "c2", "c3"]
    assert [p.chunk_id for p in diversify(ranked, 0)] == ["c0", "c1", "c2", "c3", "d"]


@dataclass
class FakeIndex:
    """Rankings per outlet; every call is recorded."""

    dense: dict[str, list[str]]
    lexical: dict[str, list[str]]
    article: dict[str, str]
    calls: list[tuple[str, SearchFilters | None]] = field(default_factory=list)

    def _lane(self, table: dict[str, list[str]], filters: SearchFilters | None) -> list[str]:
        outlets = filters.outlets if filters and filters.outlets else tuple(table)
        ids = [cid for o in outlets for cid in table.get(o, [])]
        if filters and filters.windows:
            ids = [cid for cid in ids if cid.endswith("-dated")]
        return ids

    def rank_dense(
        self, vector: Vectors, n: int, filters: SearchFilters | None = None
    ) -> list[tuple[str, float]]:
        self.calls.append(("dense", filters))
        return [(cid, 0.5) for cid in self._lane(self.dense, filters)[:n]]

    def rank_lexical(
        self, query_terms: Sequence[str], n: int, filters: SearchFilters | None = None
    ) -> list[tuple[str, float]]:
        self.calls.append(("lexical", filters))
        return [(cid, 5.0) for cid in self._lane(self.lexical, filters)[:n]]

    def get_passages(
        self, chunk_ids: Sequence[str], *, vector: Vectors | None = None
    ) -> dict[str, Passage]:
        return {cid: _passage(cid, self.article[cid]) for cid in chunk_ids}


VECTOR = np.zeros(3, dtype=np.float32)


def _search(
    index: FakeIndex, plan: QueryPlan, filters: SearchFilters | None = None, k: int = 10
) -> list[str]:
    config = FusionConfig(rrf_k=60, dense_weight=0.5, lexical_weight=1.0, max_per_article=2)
    found = hybrid_search(index, VECTOR, plan, filters or SearchFilters(), k, config)  # type: ignore[arg-type]
    return [p.chunk_id for p in found]


def test_each_outlet_named_gets_its_own_retrieval_merged_fairly() -> None:
    index = FakeIndex(
        dense={"Verge": ["v1", "v2"], "Engadget": ["e1", "e2"], "Other": ["o1"]},
        lexical={"Verge": ["v1", "v2"], "Engadget": ["e1", "e2"], "Other": ["o1"]},
        article={"v1": "V1", "v2": "V2", "e1": "E1", "e2": "E2", "o1": "O1"},
    )
    plan = QueryPlan("q", ("trial",), outlet_groups=(("Verge",), ("Engadget",)))
    # Equal scores in a round: the first outlet named first.
    assert _search(index, plan) == ["v1", "e1", "v2", "e2"]
    assert {f.outlets for _, f in index.calls if f is not None} == {("Verge",), ("Engadget",)}


def test_explicit_sources_override_outlets_named_in_the_question() -> None:
    index = FakeIndex(
        dense={"Verge": ["v1"], "Engadget": ["e1"], "Other": ["o1"]},
        lexical={"Verge": ["v1"], "Engadget": ["e1"], "Other": ["o1"]},
        article={"v1": "V1", "e1": "E1", "o1": "O1"},
    )
    plan = QueryPlan("q", ("trial",), outlet_groups=(("Verge",),))
    assert _search(index, plan, SearchFilters(outlets=("Other",))) == ["o1"]
    assert _search(index, plan, SearchFilters(outlets=("Other", "Engadget"))) == ["o1", "e1"]


def test_without_outlets_one_lane_fuses_dense_and_lexical() -> None:
    index = FakeIndex(
        dense={"All": ["a", "b", "c"]},
        lexical={"All": ["c", "b", "a"]},
        article={"a": "A", "b": "B", "c": "C"},
    )
    # c: 0.5/63 + 1/61; b: 0.5/62 + 1/62; a: 0.5/61 + 1/63.
    assert _search(index, QueryPlan("q", ("x",))) == ["c", "b", "a"]


def test_preferred_times_lift_articles_of_those_times() -> None:
    index = FakeIndex(
        dense={"All": ["a", "b", "c-dated"]},
        lexical={"All": ["a", "b", "c-dated"]},
        article={"a": "A", "b": "B", "c-dated": "C"},
    )
    preferred = TimeRange(datetime(2023, 10, 31, tzinfo=UTC), None)
    plan = QueryPlan("q", ("x",), time_preferences=(preferred,))
    assert _search(index, plan)[0] == "c-dated"
    assert any(f is not None and f.windows for _, f in index.calls)


def test_results_hold_at_most_the_cap_of_one_article_unless_nothing_else_is_left() -> None:
    chunks = ["a1", "a2", "a3", "b1"]
    index = FakeIndex(
        dense={"All": chunks},
        lexical={"All": chunks},
        article={"a1": "A", "a2": "A", "a3": "A", "b1": "B"},
    )
    assert _search(index, QueryPlan("q", ("x",)), k=3) == ["a1", "a2", "b1"]
    assert _search(index, QueryPlan("q", ("x",)), k=4) == ["a1", "a2", "b1", "a3"]
