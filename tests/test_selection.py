"""The shipped answer selector: a question typed as in chat is judged by its own answerable
model, a long one (and a /watch topic) by the general one, and the owner's threshold moves
both."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

from retrieval.selection import SHORT_QUESTION_WORDS, SelectorModel

SHIPPED = SelectorModel.load()
SHORT = "who won the carabao cup final"
LONG = " ".join(["which company, reported by TechCrunch and The Verge, said"] * 4)


def test_a_chat_question_has_its_own_answerable_model_and_threshold() -> None:
    assert SHIPPED.short_answerable is not None
    assert len(SHORT.split()) <= SHORT_QUESTION_WORDS < len(LONG.split())
    assert SHIPPED.answerable_for(SHORT) == (
        SHIPPED.short_answerable,
        SHIPPED.short_answer_threshold,
    )
    assert SHIPPED.answerable_for(LONG) == (SHIPPED.answerable, SHIPPED.answer_threshold)
    assert SHIPPED.answerable_for(None) == (SHIPPED.answerable, SHIPPED.answer_threshold)
    # The same evidence reads differently for a chat question and for a long one.
    features = {"best": 0.5, "second": 0.2, "support": 0.55, "best_key_coverage": 0.6}
    assert SHIPPED.short_answerable.probability(features) != SHIPPED.answerable.probability(
        features
    )


def _reread(model: SelectorModel, path: Path) -> SelectorModel:
    path.write_text(json.dumps(model.to_json()), encoding="utf-8")
    return SelectorModel.load(path)


def test_the_selector_reads_back_what_it_writes(tmp_path: Path) -> None:
    assert _reread(SHIPPED, tmp_path / "a.json") == SHIPPED
    general_only = replace(SHIPPED, short_answerable=None)  # a selector from before
    reread = _reread(general_only, tmp_path / "b.json")
    assert reread.short_answerable is None
    assert reread.answerable_for(SHORT) == (SHIPPED.answerable, SHIPPED.answer_threshold)
