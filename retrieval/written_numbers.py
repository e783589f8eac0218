"""The number part of the written answers' check (retrieval/written.py): every number, amount
and sum of money a sentence states must be one its cited quotes state.

Both sides are read alike first: numbers written as words become digits ("seven counts" is
7, "a hundred" is 100, "one member" is 1), "a million" is 1 million, and a currency is one
sign whichever way it is written ("$8 billion", "8 billion dollars", "US$8 billion"). Then a
sentence fails on a number the quotes lack, on an amount with another scale ("$1.2 million"
for "$1.2 billion"), and on a sum in another currency ("€8 billion" for "$8 billion").
"""

from __future__ import annotations

import re

_UNITS = {
    w: n
    for n, w in enumerate(
        "zero one two three four five six seven eight nine ten eleven twelve thirteen "
        "fourteen fifteen sixteen seventeen eighteen nineteen".split()
    )
    if n >= 2
}
_TENS = {
    w: 10 * n
    for n, w in enumerate("_ _ twenty thirty forty fifty sixty seventy eighty ninety".split())
    if n >= 2
}
_DIGIT_WORDS = "|".join(["one", *(w for w, n in _UNITS.items() if n < 10)])
_SPELLED = re.compile(
    rf"\b(?:(?P<tens>{'|'.join(_TENS)})(?:[- ](?P<unit>{_DIGIT_WORDS}))?"
    rf"|(?P<alone>{'|'.join(_UNITS)}))\b",
    re.IGNORECASE,
)
_NUMBER_TEXT = r"\d+(?:[.,]\d+)*"
_NUMBER = re.compile(_NUMBER_TEXT)
# "a hundred", "one hundred", "2 hundred" (after the words above are digits).
_HUNDRED = re.compile(rf"\b(?:(?P<a>an?|one)|(?P<n>{_NUMBER_TEXT}))[ -]hundred\b", re.IGNORECASE)
_A_SCALE = re.compile(r"\b(?:a|one)[ -](thousand|million|billion|trillion)\b", re.IGNORECASE)
# "one" is 1 unless it is a pronoun or an idiom: "no one", "the one", "one of them".
_ONE = re.compile(
    r"(?<!\bno )(?<!\bthe )(?<!\bthis )(?<!\bthat )(?<!\bany )(?<!\bevery )(?<!\beach )"
    r"\bone\b(?![ -](?:of|another|by|day|way|hand)\b)",
    re.IGNORECASE,
)
_SCALES = r"thousand|million|billion|trillion|bn|tn|percent|per cent"
_SCALED = re.compile(rf"({_NUMBER_TEXT})\s*(?:({_SCALES})\b|(%))", re.IGNORECASE)
_SCALE_WORDS = {"bn": "billion", "tn": "trillion", "%": "percent", "per cent": "percent"}
# A sum of money: a sign or code before the number, or a currency's name after it.
_SIGNS = {"$": "$", "us$": "$", "usd": "$", "€": "€", "eur": "€", "£": "£", "gbp": "£"}
_SIGNS |= {"¥": "¥", "jpy": "¥", "₹": "₹", "inr": "₹", "c$": "C$", "cad": "C$"}
_SIGNS |= {"a$": "A$", "aud": "A$", "chf": "CHF"}
_NAMES = {"dollar": "$", "euro": "€", "pound": "£", "yen": "¥", "rupee": "₹", "franc": "CHF"}
# Codes that stand before a number, checked as money: not names ("USD 8 billion", "US$8").
CURRENCY_CODES = frozenset({"USD", "EUR", "GBP", "JPY", "INR", "CAD", "AUD", "CHF"})
_MONEY_BEFORE = re.compile(
    rf"(?:(?<![A-Za-z])(US\$|C\$|A\$)|([$€£¥₹])|\b(USD|EUR|GBP|JPY|INR|CAD|AUD|CHF)\b)"
    rf"\s?({_NUMBER_TEXT})",
    re.IGNORECASE,
)
_MONEY_AFTER = re.compile(
    rf"({_NUMBER_TEXT})(?:\s*(?:{_SCALES})\b)?\s*(dollar|euro|pound|yen|rupee|franc)s?\b",
    re.IGNORECASE,
)


def as_digits(text: str) -> str:
    """`text` with its numbers written as words written as digits."""

    def spelled(m: re.Match[str]) -> str:
        if m.group("alone"):
            return str(_UNITS[m.group("alone").lower()])
        unit = m.group("unit")
        ones = {"one": 1, **_UNITS}.get(unit.lower(), 0) if unit else 0
        return str(_TENS[m.group("tens").lower()] + ones)

    def hundred(m: re.Match[str]) -> str:
        total = 100.0 * (1 if m.group("a") else float(number(m.group("n"))))
        return str(int(total)) if total.is_integer() else str(total)

    text = _SPELLED.sub(spelled, text)
    text = _HUNDRED.sub(hundred, text)
    text = _A_SCALE.sub(r"1 \1", text)
    return _ONE.sub("1", text)


def number(text: str) -> str:
    """ "1,000" and "1000" are one number; "3.50" and "3.5" too."""
    plain = text.replace(",", "")
    return plain.rstrip("0").rstrip(".") if "." in plain else plain


def _amounts(text: str) -> list[tuple[str, str]]:
    found = []
    for value, scale, percent in _SCALED.findall(text):
        word = (scale or percent).lower()
        found.append((number(value), _SCALE_WORDS.get(word, word)))
    return found


def _money(text: str) -> list[tuple[str, str]]:
    found = [
        (_SIGNS[(a or b or c).lower()], number(value))
        for a, b, c, value in _MONEY_BEFORE.findall(text)
    ]
    found += [(_NAMES[name.lower()], number(value)) for value, name in _MONEY_AFTER.findall(text)]
    return found


def number_problem(sentence: str, sources: str) -> str | None:
    """What `sentence` states that `sources` do not (a number, amount or sum), or None. Both
    are normalised text with their numbers as digits (`as_digits`)."""
    source_numbers = {number(n) for n in _NUMBER.findall(sources)}
    for found in _NUMBER.findall(sentence):
        if number(found) not in source_numbers:
            return f"{found} is not in the cited quotes"
    source_amounts = set(_amounts(sources))
    for value, scale in _amounts(sentence):
        if (value, scale) not in source_amounts:
            return f"{value} {scale} is not in the cited quotes"
    source_money = set(_money(sources))
    for sign, value in _money(sentence):
        if (sign, value) not in source_money:
            return f"{sign}{value} is not in the cited quotes"
    return None
