"""Whether quotes hold a word of the question in some form: the same word inflected
("pulling" / "pulled"), shortened as people type it ("dev" for developers, "comp" for
competitions), or an abbreviation of a name the quote spells out ("rwc" for Rugby World Cup,
"cl" for Champions League, "aj" for A.J. Brown). Used to tell a question about something
the quotes do not mention from one typed in shorthand.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from retrieval.terms import fold_accents

# A typed shortening is at least this long ("de" would be a prefix of too much).
MIN_PREFIX = 3
# Abbreviations are short: a longer word is matched as a word.
MAX_ABBREVIATION = 5
_CAPITALISED_RUN = re.compile(
    r"(?:[A-Z][\w'’.-]*)(?:\s+(?:(?:of|the|and|de|&)\s+)?[A-Z][\w'’.-]*)*"
)
_WORD = re.compile(r"[a-z0-9]+")
_JOINERS = frozenset({"of", "the", "and", "de", "&"})


def stem(term: str) -> str:
    """A crude stem, alike for both sides: "pull", "pulling" and "pulled" -> "pul";
    "snub" and "snubbed" -> "snub"."""
    for ending in ("ing", "ed"):
        if len(term) > len(ending) + 3 and term.endswith(ending):
            term = term[: -len(ending)]
            break
    return term[:-1] if len(term) > 3 and term[-1] == term[-2] else term


def _initialisms(text: str) -> set[str]:
    """The initials of each run of capitalised words ("Rugby World Cup" -> "rwc", and of
    its inner runs: "wc"), and dotted initials as written ("A.J." -> "aj")."""
    found: set[str] = set()
    for run in _CAPITALISED_RUN.finditer(text):
        words = [w for w in run.group().split() if w.lower() not in _JOINERS]
        for word in words:
            if "." in word.strip("."):
                found.add(word.replace(".", "").lower())
        initials = "".join(w[0].lower() for w in words)
        for i in range(len(initials)):
            for j in range(i + 2, len(initials) + 1):
                found.add(initials[i:j])
    return found


def mentioned(key_terms: Iterable[str], texts: Iterable[str]) -> bool:
    """Whether the texts hold any of the key terms in some form (see the module's doc)."""
    keys = list(key_terms)
    joined = fold_accents(" ".join(texts))
    words = set(_WORD.findall(joined.lower()))
    stems = {stem(w) for w in words}
    initialisms: set[str] | None = None
    for key in keys:
        if key in words or stem(key) in stems:
            return True
        if len(key) >= MIN_PREFIX and any(w.startswith(key) for w in words):
            return True
        if len(key) <= MAX_ABBREVIATION:
            if initialisms is None:
                initialisms = _initialisms(joined)
            if key in initialisms:
                return True
    return False
