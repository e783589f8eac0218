"""What a question asks to have happened ("who *won* the final", "how much did Google *pay*
to settle"), and whether a quote says that it did, in any of the ways news writes it
("won", "beat", "claimed the title"; "paid", "settlement", "fined").

A quote on the topic that lacks the asked predicate answers another question: "who won the
Carabao Cup final" is not answered by "the quarterfinal draw was held at Old Trafford", nor
"did the appeals court pause the ban" by "Apple plans to appeal". Only predicates that news
questions often ask and that quotes almost always state are listed, each with the words that
say it; a question naming none of them is not judged here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from retrieval.terms import fold_accents


@dataclass(frozen=True, slots=True)
class Predicate:
    name: str
    asked: frozenset[str]  # words of a question that ask for it
    stated: tuple[str, ...]  # words and phrases of a quote that state it


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


PREDICATES = (
    Predicate(
        "win",
        _words("win won wins"),
        (
            *"win wins won winning winner winners winners' victory victories victorious beat "
            "beats beaten beating defeat defeated defeats triumph triumphed champion champions "
            "crowned clinched clinch lifted sealed retained defended".split(),
            "claimed the",
        ),
    ),
    Predicate(
        "pay",
        _words("pay paid pays"),
        (
            *"pay paid pays paying payment payments payout settle settled settles settlement "
            "fine fined fines owe owes owed damages bought buy buying purchase purchased "
            "acquire acquired acquisition deal fee worth spend".split(),
        ),
    ),
    Predicate(
        "fire",
        _words("fire fired sacked sack ousted oust"),
        (
            *"fire fired firing sacked sack sacking ousted oust ouster ousting removed remove "
            "removal dismissed dismissal axed terminated replaced".split(),
            "let go",
        ),
    ),
    Predicate(
        "resign",
        _words("resign resigned quit"),
        (
            *"resign resigned resigns resignation quit quits quitting departure leaving left "
            "exit".split(),
            "step down",
            "stepped down",
            "steps down",
            "stepping down",
        ),
    ),
    Predicate(
        "die",
        _words("die died dies"),
        (
            *"die died dies dead death deaths killed obituary".split(),
            "passed away",
        ),
    ),
    Predicate(
        "pause",
        _words("pause paused halt halted suspend suspended"),
        (
            *"pause paused pauses halt halted halts suspend suspended suspension stay "
            "stayed lifted lift blocked block".split(),
        ),
    ),
    Predicate(
        "eject",
        _words("ejected"),
        (*"ejected ejection ejections dismissed".split(), "sent off", "thrown out", "red card"),
    ),
)

_TOKEN = re.compile(r"[a-z0-9']+")


def asked_predicates(question: str) -> tuple[Predicate, ...]:
    """The predicates the question asks for (none, mostly)."""
    words = set(_TOKEN.findall(fold_accents(question).lower()))
    return tuple(p for p in PREDICATES if p.asked & words)


def states(predicate: Predicate, texts: list[str]) -> bool:
    """Whether any of the texts says the predicate in one of its words or phrases."""
    joined = " ".join(_TOKEN.findall(fold_accents(" ".join(texts)).lower()))
    words = set(joined.split())
    padded = f" {joined} "
    return any(
        (f" {form} " in padded) if " " in form else form in words for form in predicate.stated
    )
