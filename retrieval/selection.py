"""Which retrieved sentence answers the question: a small logistic model over signals of each
candidate sentence, and the calibrated point below which the bot declines.

Signals (all in [0, 1] or small ranges, so that weights read as importances):
- how similar the sentence's chunk is to the question, and the sentence itself (the embedding
  model at sentence level: all-MiniLM-L6-v2 was trained on question-answer pairs);
- how much of the question's words it holds, weighted by how rare they are among the
  retrieved sentences and across the whole index (key entities), in the sentence, in its
  chunk and title, and in the whole article;
- whether it holds the kind of answer asked (an amount, a date, a name...);
- whether it attributes a statement to the speaker a "what did X say" question names;
- where it stands: its chunk's rank, the first sentences of an article, a two-sentence quote.

The weights are learned by bench/train_selector.py on one half of MultiHop-RAG (gold evidence
sentences against the other sentences of the retrieved chunks) and shipped in
`selector.json`; bench/answers.py reports on the half it never saw.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

# The signals of one candidate sentence; the first stage (over every candidate) uses all but
# the sentence's own embedding, the second (over its best few) adds that and the first
# stage's probability.
FIRST_STAGE = (
    "chunk_similarity",
    "coverage",  # share of the question's terms, weighted by rarity among retrieved sentences
    "key_coverage",  # the same, weighted by rarity across the index
    "context_coverage",  # key coverage of sentence + chunk + title
    "article_coverage",  # key coverage of the whole article and its title
    "type_found",  # the asked kind of answer is in the sentence
    "type_missing",  # a kind was asked and the sentence holds none
    "attribution",
    "passage_rank",  # 1 / (1 + rank of the chunk in the retrieval)
    "pair",  # two sentences
    "lead",  # among the first sentences of the article
    "log_words",
    "statement_end",  # ends as a sentence does (not a heading or caption)
    "missing_key",  # a key word of the question (rare in the index) is not in the article
    "unknown_word",  # a word of the question is in no stored chunk (and is not a typo)
    "neighbour",  # from the text around a retrieved chunk, not the chunk itself
)
# The second stage also reads each signal against the best of the question's other
# candidates ("the most similar sentence of the few", not "similar enough"): what tells the
# answer from its neighbours is how it stands among them.
RELATIVE = (
    "sentence_similarity",
    "coverage",
    "key_coverage",
    "first_stage",
    "chunk_similarity",
    "type_found",
)
SECOND_STAGE = (
    *FIRST_STAGE,
    "sentence_similarity",
    "first_stage",
    *(f"{name}_gap" for name in RELATIVE),
)
# Whether the question can be answered at all, from its best candidates.
ANSWERABLE = (
    "best",  # the second stage's best probability
    "second",  # the next best of another article
    "support",  # the best chunk similarity among the candidates
    "best_key_coverage",
    "best_article_coverage",
    "best_type_missing",
    "best_sentence_similarity",
    "best_missing_key",
    "unknown_word",
)
# The most words of a question typed as in chat. Such a question is answered or declined
# on other evidence than a long one naming many things (MultiHop-RAG's): it has a model of
# its own (`SelectorModel.short_answerable`).
SHORT_QUESTION_WORDS = 25

MODEL_PATH = Path(__file__).with_name("selector.json")
# Added to the logit of a sentence giving a statement to the speaker a "what did X say"
# question names: MultiHop-RAG, which the weights are learned from, has almost no such
# questions, so this preference is set by hand (the answer is what X said, not about X).
ATTRIBUTION_PRIOR = 2.0


@dataclass(frozen=True, slots=True)
class Linear:
    """A logistic model: sigmoid(bias + weights . features)."""

    bias: float
    weights: Mapping[str, float]

    def probability(self, features: Mapping[str, float], *, prior: float = 0.0) -> float:
        """`prior` is added to the logit: what the training data cannot teach (see
        ATTRIBUTION_PRIOR)."""
        z = prior + self.bias + sum(w * features.get(n, 0.0) for n, w in self.weights.items())
        return 1.0 / (1.0 + math.exp(-max(-30.0, min(30.0, z))))

    @classmethod
    def from_json(cls, data: Mapping[str, object], names: Sequence[str]) -> Linear:
        weights = data["weights"]
        assert isinstance(weights, Mapping)
        bias = data["bias"]
        assert isinstance(bias, int | float)
        return cls(float(bias), {name: float(weights.get(name, 0.0)) for name in names})

    def to_json(self) -> dict[str, object]:
        return {"bias": self.bias, "weights": dict(self.weights)}


@dataclass(frozen=True, slots=True)
class SelectorModel:
    first: Linear
    second: Linear
    answerable: Linear
    # The answerable probability below which the bot declines.
    answer_threshold: float
    # Further quotes (one per other article) need this second-stage probability.
    quote_threshold: float
    # The answerable model and threshold of a short question (SHORT_QUESTION_WORDS);
    # None: the one model for all.
    short_answerable: Linear | None = None
    short_answer_threshold: float = 0.0

    def answerable_for(self, question: str | None) -> tuple[Linear, float]:
        """The answerable model for this question, and its threshold (a topic, None, has
        the general one: /watch is calibrated on it)."""
        if self.short_answerable is not None and question is not None and is_short(question):
            return self.short_answerable, self.short_answer_threshold
        return self.answerable, self.answer_threshold

    @classmethod
    def load(cls, path: Path = MODEL_PATH) -> SelectorModel:
        data = json.loads(path.read_text(encoding="utf-8"))
        return cls(
            first=Linear.from_json(data["first_stage"], FIRST_STAGE),
            second=Linear.from_json(data["second_stage"], SECOND_STAGE),
            answerable=Linear.from_json(data["answerable"], ANSWERABLE),
            answer_threshold=float(data["answer_threshold"]),
            quote_threshold=float(data["quote_threshold"]),
            short_answerable=Linear.from_json(data["short_answerable"], ANSWERABLE)
            if "short_answerable" in data
            else None,
            short_answer_threshold=float(data.get("short_answer_threshold", 0.0)),
        )

    def to_json(self) -> dict[str, object]:
        return {
            "first_stage": self.first.to_json(),
            "second_stage": self.second.to_json(),
            "answerable": self.answerable.to_json(),
            "answer_threshold": self.answer_threshold,
            "quote_threshold": self.quote_threshold,
            **(
                {
                    "short_answerable": self.short_answerable.to_json(),
                    "short_answer_threshold": self.short_answer_threshold,
                }
                if self.short_answerable is not None
                else {}
            ),
        }


def second_stage_picks(
    ranked: Sequence[tuple[str, str]],
    n: int,
    per_article: int,
    holds_asked: Sequence[bool] | None = None,
) -> list[int]:
    """Which of the first stage's candidates, given best first as (article id, text), go to
    the second: the best n, at most `per_article` of an article while others are left, then
    the next best of any article (one article retrieved still fills the n). A text met again
    (a syndicated copy, an overlapping chunk) is skipped. When none of them holds the kind
    of answer asked (`holds_asked`), the best that does takes the last place: the score a
    "final score" question wants may sit in a sentence with few of its words."""
    picked: list[int] = []
    left: list[int] = []
    taken: dict[str, int] = {}
    seen: set[str] = set()
    for i, (article, text) in enumerate(ranked):
        if text in seen:
            continue
        seen.add(text)
        if len(picked) >= n or taken.get(article, 0) >= per_article:
            left.append(i)
            continue
        taken[article] = taken.get(article, 0) + 1
        picked.append(i)
    picked = sorted(picked + left[: n - len(picked)])
    if holds_asked is not None and picked and not any(holds_asked[i] for i in picked):
        best = next((i for i in left if i not in picked and holds_asked[i]), None)
        if best is not None:
            picked[-1] = best
    return picked


def with_gaps(features: Sequence[dict[str, float]]) -> list[dict[str, float]]:
    """Each candidate's RELATIVE signals less the best of the candidates (0 for the best)."""
    best = {n: max((f.get(n, 0.0) for f in features), default=0.0) for n in RELATIVE}
    return [{**f, **{f"{n}_gap": f.get(n, 0.0) - best[n] for n in RELATIVE}} for f in features]


def weighted_share(found: AbstractSet[str], weights: Mapping[str, float]) -> float:
    """The share of the weights whose terms are found."""
    total = sum(weights.values())
    if total <= 0:
        return 0.0
    return sum(w for t, w in weights.items() if t in found) / total


def rank_score(rank: int) -> float:
    return 1.0 / (1.0 + rank)


def log_words(text: str) -> float:
    return math.log1p(len(text.split())) / math.log1p(100)


class _Scored(Protocol):
    @property
    def probability(self) -> float: ...

    @property
    def features(self) -> Mapping[str, float]: ...


def answerable_features(best: float, second: float, scored: Sequence[_Scored]) -> dict[str, float]:
    """The answerable model's signals: the best candidate's, and the best passage's match."""
    top = scored[0].features
    return {
        "best": best,
        "second": second,
        "support": max(s.features.get("chunk_similarity", 0.0) for s in scored),
        "best_key_coverage": top.get("key_coverage", 0.0),
        "best_article_coverage": top.get("article_coverage", 0.0),
        "best_type_missing": top.get("type_missing", 0.0),
        "best_sentence_similarity": top.get("sentence_similarity", 0.0),
        "best_missing_key": top.get("missing_key", 0.0),
        "unknown_word": top.get("unknown_word", 0.0),
    }


def is_short(question: str) -> bool:
    return len(question.split()) <= SHORT_QUESTION_WORDS
