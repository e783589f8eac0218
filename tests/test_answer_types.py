"""Reading what kind of answer a question asks for, where a sentence holds one, and the
parts of a question asked in several: as Discord users type them."""

from __future__ import annotations

import pytest

from retrieval.answer_types import (
    AnswerType,
    answer_spans,
    expected_type,
    question_parts,
    short_answer_span,
)


@pytest.mark.parametrize(
    ("question", "kind"),
    [
        ("how much prize money does the winner get", AnswerType.AMOUNT),
        ("whats the price of the new iphone", AnswerType.AMOUNT),
        ("how many ppl were killed in the quake", AnswerType.COUNT),
        ("how old was he when he died", AnswerType.COUNT),
        ("when does the ban start", AnswerType.DATE),
        ("what year did the company go public?", AnswerType.DATE),
        ("who coined the term", AnswerType.ENTITY),
        ("which company bought activision", AnswerType.ENTITY),
        ("did they win", AnswerType.RESULT),
        ("what was the final score", AnswerType.RESULT),
        ("why were everton docked 10 points", AnswerType.REASON),
        ("where was the summit held", AnswerType.PLACE),
        ("what did nato say about russia's demands", AnswerType.NONE),
        # As typed: a share is not money, a bare figure, mistyped question words.
        ("sharechat layoffs how much of the workforce", AnswerType.COUNT),
        ("uber q3 revenue", AnswerType.AMOUNT),
        ("ohtani contract he signed this month?", AnswerType.AMOUNT),
        ("waht time is giants eagles on christmas day", AnswerType.DATE),
        ("how mcuh was wagered in the first month", AnswerType.AMOUNT),
        ("what did the ceo say about revenue", AnswerType.NONE),
        ("what was nike's q2 revenue", AnswerType.AMOUNT),
        ("what's coinbase's market cap", AnswerType.AMOUNT),
        # A result asked without "what was the": bare, or a yes/no with a "when" clause.
        ("fury vs usyk result?", AnswerType.RESULT),
        ("davis cup final result italy vs australia", AnswerType.RESULT),
        ("did joshua beat wilder when they finally fought", AnswerType.RESULT),
        ("what happened as a result of the strike", AnswerType.NONE),
        ("aquaman opening weekend box office?", AnswerType.AMOUNT),
        ("cz prison sentence length?", AnswerType.COUNT),
    ],
)
def test_the_kind_of_answer_asked(question: str, kind: AnswerType) -> None:
    assert expected_type(question) is kind


@pytest.mark.parametrize(
    ("question", "sentence", "short"),
    [
        (
            "how much prize money does the winner get",
            "The prize money has been debated; the winner takes home $4 million this year.",
            "$4 million",
        ),
        (
            "when does the ban start",
            "The ban on the devices will take effect on January 1, 2024, officials said.",
            "January 1, 2024",
        ),
        ("who coined the term", "The term was coined by Jane Smith in 1998.", "Jane Smith"),
        ("what was the score", "Arsenal beat Chelsea 2-1 on Saturday.", "2-1"),
        ("how old was he when he died", "He died at the age of 85 on Monday.", "85"),
        ("how many people were hurt", "At least 12 people were hurt in the blast.", "12 people"),
        ("nike eps", "Earnings per share: 94 cents vs. 75 cents expected.", "94 cents"),
        # Counted in what was asked: a height, an age, a duration, points (not games).
        ("how tall is connor bedard", "Bedard, 18, stands 6 feet 1.", "6 feet"),
        ("how old is sam altman", "Altman, 38, was fired on Friday.", "38"),
        ("how long was she under it", "She lived under it for 13 years.", "13 years"),
        ("how many points did he score", "He played 3 games and scored 41 points.", "41 points"),
    ],
)
def test_the_short_answer_is_the_asked_span_verbatim(
    question: str, sentence: str, short: str
) -> None:
    span = short_answer_span(sentence, expected_type(question), question)
    assert span is not None and sentence[span[0] : span[1]] == short


def test_no_short_answer_when_the_sentence_holds_none_or_the_question_names_it() -> None:
    q = "when does the ban start"
    assert short_answer_span("The ban was widely criticised.", expected_type(q), q) is None
    q = "who did Jane Smith marry"
    assert short_answer_span("Jane Smith spoke on Friday.", expected_type(q), q) is None
    q = "how many points did he score"
    assert short_answer_span("He played in 12 games.", expected_type(q), q) is None
    q = "how old is sam altman"
    assert (
        short_answer_span("Altman co-founded OpenAI in 2015 with 10 others.", expected_type(q), q)
        is None
    )
    q = "why were they docked points"
    assert short_answer_span("They were docked points for breaches.", expected_type(q), q) is None


@pytest.mark.parametrize(
    ("question", "parts"),
    [
        (
            "how old was he when he died, and why were they docked 10 points?",
            ["how old was he when he died", "why were they docked 10 points?"],
        ),
        ("who won the match and what was the score", ["who won the match", "what was the score"]),
        (
            "when did the trial start? when did it end",
            ["when did the trial start", "when did it end"],
        ),
        (
            "what did NATO and Russia say about the talks",
            ["what did NATO and Russia say about the talks"],
        ),
        ("how much did they raise and who", ["how much did they raise and who"]),
        ("sbf verdict?", ["sbf verdict?"]),
    ],
)
def test_a_question_asked_in_several_parts(question: str, parts: list[str]) -> None:
    assert question_parts(question) == parts


@pytest.mark.parametrize(
    ("sentence", "holds"),
    [
        ("The All Blacks beat Ireland 28-24 in Paris.", True),
        ("Australia won by six wickets to lift the trophy.", True),
        ("Usyk won on a split decision after 12 rounds.", True),
        # Result words without the score a "score" question asks for.
        ("The quarterfinal draw for the Carabao Cup was held on Wednesday.", False),
        ("England have won the tournament once, in 2003.", False),
    ],
)
def test_a_score_question_wants_the_score_itself(sentence: str, holds: bool) -> None:
    question = "england v south africa semi final score"
    assert bool(answer_spans(sentence, AnswerType.RESULT, question)) is holds
