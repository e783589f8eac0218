"""What a question asks to have happened, and whether a quote says it did."""

from __future__ import annotations

import pytest

from retrieval.predicates import asked_predicates, states


def _asked(question: str) -> list[str]:
    return [p.name for p in asked_predicates(question)]


@pytest.mark.parametrize(
    ("question", "names"),
    [
        ("who won the carabao cup final", ["win"]),
        ("how much did apple pay masimo to settle", ["pay"]),
        ("why did msu fire mel tucker", ["fire"]),
        ("did the apple watch ban get paused by the appeals court", ["pause"]),
        ("when did sbf resign", ["resign"]),
        ("why did dre greenlaw get ejected", ["eject"]),
        ("how old was bill kenwright when he died", ["die"]),
        ("what did nato say about russia's demands", []),
        ("how many monthly active users does candy crush have", []),
        ("Who WON the final?", ["win"]),
    ],
)
def test_the_predicate_a_question_asks_for(question: str, names: list[str]) -> None:
    assert _asked(question) == names


@pytest.mark.parametrize(
    ("question", "quote", "said"),
    [
        ("who won the final", "Liverpool beat Chelsea 1-0 after extra time.", True),
        ("who won the final", "City were crowned champions at Wembley.", True),
        ("who won the final", "The quarterfinal draw was held at Old Trafford.", False),
        ("who won the final", "The two sides meet at Wembley on Sunday.", False),
        ("how much did microsoft pay", "it's paid $69bn (£55bn) for the company", True),
        ("how much did chelsea pay", "in a deal worth around $82 million", True),
        ("how much did apple pay", "Masimo has spent $60 million litigating the issue.", False),
        ("when did he resign", "Zhao stepped down as chief executive in November.", True),
        ("when did he resign", "Zhao will remain a shareholder.", False),
        ("why was he ejected", "Hummels was sent off in the 70th minute.", True),
        ("when did she die", "The actor passed away at home on Sunday.", True),
    ],
)
def test_a_quote_says_the_predicate_in_any_of_its_words(
    question: str, quote: str, said: bool
) -> None:
    (asked,) = asked_predicates(question)
    assert states(asked, [quote]) is said
