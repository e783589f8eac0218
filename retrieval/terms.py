"""Word normalisation shared by quote selection (and any lexical scoring)."""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

_WORD = re.compile(r"[A-Za-z0-9]+(?:['’][A-Za-z]+)?")

STOPWORDS = frozenset(
    """
    a an the and or but if then than so of to in on at by for from with without about into over
    under after before between during through up down out off as is are was were be been being
    am do does did doing done have has had having it its it's this that these those there here
    what which who whom whose when where why how i me my we our you your he him his she her they
    them their not no nor can could would should will shall may might must just also very too
    any all each both some such only own same other more most few many much one s t say says
    said tell told report reported according
    """.split()
)


# Words repeat endlessly across questions and retrieved sentences: normalising each distinct
# word once keeps quote scoring off the profile.
@lru_cache(maxsize=1 << 16)
def normalize_term(word: str) -> str:
    """Lower-case, drop a possessive, fold simple plurals ("Russia's" -> "russia")."""
    w = word.lower().replace("’", "'")
    if w.endswith("'s"):
        w = w[:-2]
    elif w.endswith("'"):
        w = w[:-1]
    if len(w) > 4 and w.endswith("ies"):
        w = w[:-3] + "y"
    elif len(w) > 3 and w.endswith("s") and not w.endswith(("ss", "us", "is")):
        w = w[:-1]
    return w


def fold_accents(text: str) -> str:
    """Letters without their accents ("Beyoncé" -> "Beyonce", "Pogačar" -> "Pogacar"): people
    type names without them, and the word pattern would otherwise cut a name at the accent."""
    if text.isascii():
        return text
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def terms(text: str) -> list[str]:
    """Content terms of a text, in order, stopwords removed."""
    normal = (normalize_term(word) for word in _WORD.findall(fold_accents(text)))
    return [t for t in normal if t and t not in STOPWORDS]


# A month's name or abbreviation (a regular expression).
MONTH_PATTERN = (
    r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|"
    r"sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)\.?"
)
# "October 1, 2023", "1 October 2023", "November 2023", "2023-10-01": when something was
# published, not what it is about, so not numbers an answer must contain.
_DATE = re.compile(
    rf"\b(?:{MONTH_PATTERN}\s+\d{{1,2}}(?:st|nd|rd|th)?(?:,?\s+\d{{4}})?"
    rf"|\d{{1,2}}(?:st|nd|rd|th)?\s+(?:of\s+)?{MONTH_PATTERN}(?:,?\s+\d{{4}})?"
    rf"|{MONTH_PATTERN}\s+\d{{4}}"
    r"|\d{4}-\d{2}-\d{2})\b",
    re.IGNORECASE,
)
_NUMBER = re.compile(r"(?<![\d.,])\d{1,3}(?:,\d{3})+(?![\d,])|\b\d{2,}\b")


def numbers(text: str, *, skip_dates: bool = False) -> set[str]:
    """Numbers of two or more digits in a text ("1,000" read as "1000"). With `skip_dates`,
    numbers inside calendar dates are left out."""
    if skip_dates:
        text = _DATE.sub(" ", text)
    return {m.group().replace(",", "") for m in _NUMBER.finditer(text)}
