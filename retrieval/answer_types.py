"""What kind of answer a question asks for, and where a sentence holds one.

"how much prize money" wants an amount, "when does the ban start" a date or time, "who coined
the term" a name, "did they win" a result, "why were they docked points" a reason. A sentence
that shares the question's words but holds no answer of that kind is near the answer, not the
answer. Pure functions of text (run on a worker thread, never on the event loop); the
patterns are anchored and bounded, so they stay linear in the text's length.
"""

from __future__ import annotations

import re
from enum import StrEnum
from functools import lru_cache

from retrieval.chat_words import as_meant
from retrieval.terms import MONTH_PATTERN


class AnswerType(StrEnum):
    AMOUNT = "amount"  # money, a price, a fine
    COUNT = "count"  # a number of things, a share, an age, a duration
    DATE = "date"  # a date, day, time or period
    ENTITY = "entity"  # a person or organisation
    PLACE = "place"
    RESULT = "result"  # a score, a win or a loss
    REASON = "reason"
    NONE = "none"  # what/how questions, yes/no: no particular kind of span


_Q = re.IGNORECASE
# What a yes/no question asks the result of ("did they win", "will they advance").
_YES_NO_RESULT = r"\b(?:win|won|beat|lose|lost|draw|advance|qualify)\b"
# Checked in order: the first that matches decides.
_QUESTION_TYPES: tuple[tuple[AnswerType, re.Pattern[str]], ...] = (
    (
        AnswerType.REASON,
        re.compile(
            r"\bwhy\b|\bhow come\b|\bwhat (?:caused|led to|prompted|triggered|drove)\b|"
            r"\b(?:the )?reasons? (?:for|behind|why)\b|\bwhat(?:'s| is| was) behind\b",
            _Q,
        ),
    ),
    (
        # "did joshua beat wilder when they finally fought": a result, not a date.
        AnswerType.RESULT,
        re.compile(
            rf"^\s*(?:did|does|do|will|has|have)\b[^?]{{0,60}}?{_YES_NO_RESULT}",
            _Q,
        ),
    ),
    (
        AnswerType.AMOUNT,
        re.compile(
            r"\bhow much\b(?!\s+(?:of|more|longer|bigger|higher)\b)|\bhow expensive\b|"
            r"\bprize money\b|\bwhat(?:'s|s| is| was| were| will)?"
            r"\s+(?:be\s+)?(?:the\s+|its\s+|their\s+|his\s+|her\s+)?(?:[\w'’]+\s+){0,2}?"
            r"(?:price|cost|value|valuation|amount|fine|salary|revenue|prize|budget|fee|sum|"
            r"worth|profit|loss|sales|funding|penalty|bail|deal worth|payout|bid|market cap|"
            r"market value)s?\b|"
            r"\bfor how much\b|\bhow (?:big|large) (?:was|is) the (?:fine|deal|loss|round)\b|"
            r"\bbox office\b|\bopening (?:weekend|day|night)\b|\bgross(?:ed)?\b",
            _Q,
        ),
    ),
    (
        AnswerType.COUNT,
        re.compile(
            r"\bhow many\b|\bhow old\b|\bwhat age\b|\bhow long\b|\bhow far\b|\bhow tall\b|"
            r"\bwhat (?:percentage|percent|share|proportion|number|rate)\b|\bnumber of\b|"
            r"\bhow (?:big|large|high|fast)\b|\bby how much\b|\bhow much (?:of|more|longer)\b|"
            r"\b(?:sentence|contract|ban|suspension|term) length\b|\blength of\b",
            _Q,
        ),
    ),
    (
        AnswerType.DATE,
        re.compile(
            r"\bwhen\b|\bwhat (?:date|day|time|year|month|week)\b|"
            r"\bwhich (?:date|day|year|month|week)\b|\bwhat time\b|\bhow soon\b|"
            r"\bstart(?:s|ing)? (?:on|at)\b\??$",
            _Q,
        ),
    ),
    (
        AnswerType.RESULT,
        re.compile(
            r"\bwho (?:won|wins|win|lost|beat)\b|\bwhat was the (?:final )?(?:score|result)\b|"
            r"\b(?:final )?score\b|(?<!as a )\bresult\b|"
            rf"\b(?:did|do|does|will)\b[^?]{{0,60}}?{_YES_NO_RESULT}",
            _Q,
        ),
    ),
    (
        AnswerType.PLACE,
        re.compile(
            r"\bwhere\b|\b(?:which|what|in what) (?:city|country|state|venue|stadium|town|"
            r"region|county|location|place)\b",
            _Q,
        ),
    ),
    (
        AnswerType.ENTITY,
        re.compile(
            r"\bwho\b|\bwhom\b|\bwhose\b|\b(?:which|what) (?:company|firm|team|club|player|"
            r"person|ceo|man|woman|group|organi[sz]ation|country|agency|bank|startup|brand|"
            r"party|leader|official|executive|investor|manager|coach|actor|actress|singer|"
            r"artist|band|driver|politician|minister|judge|lawyer|rapper|author|founder)\b|"
            r"\bname of\b|\bnamed (?:as )?the\b",
            _Q,
        ),
    ),
)


# Asked without a question word ("uber q3 revenue", "ohtani contract"): the figure itself.
_BARE_AMOUNT = re.compile(
    r"\b(?:revenue|revenues|price|prices|cost|salary|valuation|fine|funding|profit|earnings|"
    r"eps|sales|contract|payout|settlement|bail|net worth)\b",
    _Q,
)
_QUESTION_WORD = re.compile(
    r"\b(?:what|whats|why|when|who|whom|whose|where|which|how|did|does|do|is|was|were|are|"
    r"has|have|had|will|can|could|should|tell|explain|any)\b",
    _Q,
)


@lru_cache(maxsize=4096)
def expected_type(question: str) -> AnswerType:
    """The kind of answer the question asks for (NONE when it names none)."""
    question = as_meant(question)
    for answer_type, pattern in _QUESTION_TYPES:
        if pattern.search(question):
            return answer_type
    if not _QUESTION_WORD.search(question) and _BARE_AMOUNT.search(question):
        return AnswerType.AMOUNT
    return AnswerType.NONE


_NUM = r"(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?"
_SCALE = r"(?:\s?(?:million|billion|trillion|thousand|hundred|mn|bn|m|b|k)\b)?"
_NUMBER_WORDS = (
    r"(?:one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|thirteen|fourteen|"
    r"fifteen|sixteen|seventeen|eighteen|nineteen|twenty|thirty|forty|fifty|sixty|seventy|"
    r"eighty|ninety|hundred|dozens?|hundreds|thousands|millions|billions|half|a third|"
    r"a quarter|double|twice)"
)
_MONEY = re.compile(
    rf"(?:[$€£¥₹]|\b(?:US|USD|EUR|GBP|Rs\.?|C|A|HK)\$?\s?){_NUM}{_SCALE}"
    rf"|\b{_NUM}{_SCALE}\s?(?:dollars|euros|pounds|yen|yuan|rupees|francs|usd|eur|gbp|cents|"
    r"pence|p)\b",
    re.IGNORECASE,
)
# A number and the word it counts ("10 points"), not a word that merely follows it.
_UNIT = (
    r"(?:\s+(?!(?:on|in|at|of|the|a|an|and|or|to|for|by|with|from|as|is|was|were|are|this|"
    r"that|last|next|after|before|when|than|per|it|he|she|they|his|her|their|its|but|so|"
    r"said|says)\b)(?:[a-z]+-)?[a-z]+)?"
)
_COUNT = re.compile(
    rf"\b{_NUM}{_SCALE}(?:\s?(?:%|percent|per cent|percentage points?))?{_UNIT}"
    rf"|\b{_NUMBER_WORDS}\b{_UNIT}",
    re.IGNORECASE,
)
_MONTH = MONTH_PATTERN
_WEEKDAY = r"(?:mon|tues|wednes|thurs|fri|satur|sun)day"
_DATE = re.compile(
    rf"\b{_MONTH}\s+\d{{1,2}}(?:st|nd|rd|th)?(?:,?\s+(?:19|20)\d{{2}})?\b"
    rf"|\b\d{{1,2}}(?:st|nd|rd|th)?\s+(?:of\s+)?{_MONTH}(?:,?\s+(?:19|20)\d{{2}})?\b"
    rf"|\b(?:(?:early|mid|late|end of|the end of|beginning of)[\s-]+)?{_MONTH}"
    r"(?:\s+(?:19|20)\d{2})?\b"
    rf"|\b(?:next|last|this|on|by|until|from)\s+{_WEEKDAY}\b|\b{_WEEKDAY}\b"
    r"|\b(?:in|since|by|until|from|before|after)\s+(?:19|20)\d{2}\b"
    r"|\b\d{1,2}(?::\d{2})?\s?(?:a\.?m\.?|p\.?m\.?)(?=\W|$)|\b\d{1,2}:\d{2}\b"
    r"|\b(?:today|tomorrow|yesterday|tonight|this (?:week|month|year|weekend)|"
    r"next (?:week|month|year|weekend)|later this (?:week|month|year))\b"
    r"|\b(?:in|within|for|after)\s+(?:\d+|a|an|two|three|four|five|six|ten)\s+"
    r"(?:days?|weeks?|months?|years?|hours?)\b"
    r"|\b(?:19|20)\d{2}\b|\b\d{4}-\d{2}-\d{2}\b",
    re.IGNORECASE,
)
# Not part of a longer figure ("3-2.5"), but a comma or full stop may follow ("won 3-2, with").
_SCORE = re.compile(r"(?<![\d.,])\d{1,3}\s?[-–]\s?\d{1,3}(?![\d]|[.,]\d)")
_RESULT_WORDS = re.compile(
    r"\b(?:won|wins|winning|beat|beats|beaten|defeated|defeats|lost|loses|victory|victories|"
    r"draw|drew|tied|clinched|triumphed|eliminated|knocked out|champions?|title|"
    r"advanced|qualified|thrashed|edged|routed|crushed|upset)\b",
    re.IGNORECASE,
)
# "won by six wickets", "a 28 to 24 win": how a result is told besides "3-1".
_MARGIN = re.compile(
    r"\bby (?:\d{1,3}|one|two|three|four|five|six|seven|eight|nine|ten|an innings) "
    r"(?:runs?|wickets?|points?|goals?|strokes?|shots?|lengths?|seconds?)\b"
    r"|(?<![\d.,])\d{1,3} to \d{1,3}(?![\d.,])|\bgoalless\b|\bnil\b|\b(?:KO|TKO)\b"
    r"|\b(?:unanimous|split|majority) decision\b|\bknock(?:ed)? ?out\b|\bstoppage\b",
    re.IGNORECASE,
)
_ASKS_SCORE = re.compile(r"\bscores?\b|\bscoreline\b", _Q)
_REASON = re.compile(
    r"\b(?:because|due to|owing to|as a result|as a consequence|thanks to|after|following|"
    r"for (?:breach|breaching|failing|failure|violating|violation|allegedly)|over (?:the|his|"
    r"her|their|its|a|an|alleged)|since|reason|caused|cause|led to|in order to|so that|"
    r"amid|in response to|in protest|blamed|citing|cited|stemm(?:ed|ing) from|breach(?:es)?)\b",
    re.IGNORECASE,
)
# A run of capitalised words (names of people, firms, places), "of"/"de"/"&" allowed inside.
_NAME = re.compile(
    r"\b(?:[A-Z][\w'’.-]*|[A-Z]{2,})(?:\s+(?:(?:of|de|da|van|von|der|al|bin|&|and)\s+)?"
    r"(?:[A-Z][\w'’.-]*|[A-Z]{2,}))*"
)
_PLACE_CUE = re.compile(r"\b(?:in|at|from|to|near|outside|inside)\s+$", re.IGNORECASE)
# Capitalised words that are not names.
_NOT_NAMES = frozenset(
    "the a an he she they it its his her their this that these those i we you in on at "
    "but and or if when while after before as for from by with of to however meanwhile "
    "mr mrs ms dr monday tuesday wednesday thursday friday saturday sunday january february "
    "march april may june july august september october november december".split()
)


def _names(sentence: str, question: str) -> list[tuple[int, int]]:
    """Spans of names in the sentence that the question does not already name."""
    asked = question.lower()
    found = []
    for m in _NAME.finditer(sentence):
        words = m.group().split()
        while words and words[0].lower().strip(".") in _NOT_NAMES:
            words = words[1:]
        if not words:
            continue
        text = " ".join(words)
        start = m.end() - len(m.group()) + m.group().index(words[0])
        if all(w.lower().strip("'’s.,") in asked for w in words):
            continue  # the question names it: not the answer
        found.append((start, start + len(text)))
    return found


def _not_in_question(
    spans: list[tuple[int, int]], sentence: str, question: str
) -> list[tuple[int, int]]:
    asked = " ".join(question.lower().split())
    return [(s, e) for s, e in spans if " ".join(sentence[s:e].lower().split()) not in asked]


def answer_spans(sentence: str, answer_type: AnswerType, question: str) -> list[tuple[int, int]]:
    """Where the sentence holds an answer of the asked kind that the question does not
    already contain (empty: it holds none; REASON and RESULT return their cue words)."""
    if answer_type is AnswerType.AMOUNT:
        spans = [m.span() for m in _MONEY.finditer(sentence)]
    elif answer_type is AnswerType.COUNT:
        spans = [m.span() for m in _COUNT.finditer(sentence)]
        dates = [m.span() for m in _DATE.finditer(sentence)]
        if not _HOW_LONG.search(question):  # "for 13 years" is a date, unless asked how long
            spans = [s for s in spans if not any(d[0] <= s[0] < d[1] for d in dates)]
        spans = _of_the_asked_unit(spans, sentence, question)
    elif answer_type is AnswerType.DATE:
        spans = [m.span() for m in _DATE.finditer(sentence)]
    elif answer_type is AnswerType.RESULT:
        spans = [m.span() for m in _SCORE.finditer(sentence)]
        spans += [m.span() for m in _MARGIN.finditer(sentence)]
        if not _ASKS_SCORE.search(question):  # a score is asked for in figures
            spans += [m.span() for m in _RESULT_WORDS.finditer(sentence)]
    elif answer_type is AnswerType.REASON:
        spans = [m.span() for m in _REASON.finditer(sentence)]
    elif answer_type is AnswerType.ENTITY:
        return _names(sentence, question)
    elif answer_type is AnswerType.PLACE:
        names = _names(sentence, question)
        return [(s, e) for s, e in names if _PLACE_CUE.search(sentence[max(0, s - 12) : s])]
    else:
        return []
    return _not_in_question(sorted(set(spans)), sentence, question)


# What "how old", "how tall" and "how long" are measured in; "how many points" in points.
_AGE = re.compile(r"\bage of\b|\byears?[- ]old\b|\baged?\b", _Q)
_HOW_LONG = re.compile(r"\bhow long\b|\blength\b", _Q)
_MEASURES = (
    (re.compile(r"\bhow old\b|\bwhat age\b", _Q), _AGE),
    (
        re.compile(r"\bhow tall\b", _Q),
        re.compile(
            r"\b(?:feet|foot|ft|inches|inch|in|cm|centimetres|centimeters|m|metres|meters)\b|['′\"]",
            _Q,
        ),
    ),
    (
        re.compile(r"\bhow long\b", _Q),
        re.compile(
            r"\b(?:seconds?|minutes?|hours?|days?|weeks?|months?|years?|decades?|miles?|km|kilometres?|kilometers?|yards?|feet|metres?|meters?)\b",
            _Q,
        ),
    ),
)


def _measured(unit: re.Pattern[str], sentence: str, start: int, end: int) -> bool:
    """The unit is in the count or right beside it ("6 feet", "38-year-old", "age of 85")."""
    for found in unit.finditer(sentence, max(0, start - 8), min(len(sentence), end + 12)):
        if found.end() >= start - 1 and found.start() <= end + 2:
            return True
    # An age in apposition: "Altman, 38, was fired".
    return (
        unit is _AGE
        and sentence[max(0, start - 2) : start] == ", "
        and sentence[end : end + 1] == ","
    )


_HOW_MANY = re.compile(r"\bhow many\s+(?:more\s+|total\s+)?([a-z]+)", _Q)


def _of_the_asked_unit(
    spans: list[tuple[int, int]], sentence: str, question: str
) -> list[tuple[int, int]]:
    """Counts in what the question counts: "how many points" wants "12 points", not "12
    games"; "how old" an age. A count without a unit word ("killing 12") still counts."""
    for asked, unit in _MEASURES:
        if asked.search(question):
            return [(s, e) for s, e in spans if _measured(unit, sentence, s, e)]
    m = _HOW_MANY.search(question)
    if m is None:
        return spans
    noun = m.group(1).lower().rstrip("s")
    kept = []
    for s, e in spans:
        words = sentence[s:e].lower().split()
        last = words[-1].rstrip("s") if len(words) > 1 else ""
        if not last or not last.isalpha() or last == noun or noun.startswith(last[:4]):
            kept.append((s, e))
    return kept


def short_answer_span(
    sentence: str, answer_type: AnswerType, question: str
) -> tuple[int, int] | None:
    """The span of the sentence to show first, in bold, as the short answer: a date,
    amount, count, name or score the question asked for (None for reasons, yes/no and
    what/how questions, or when the sentence holds no such span)."""
    if answer_type in (AnswerType.REASON, AnswerType.NONE):
        return None
    if answer_type is AnswerType.RESULT:
        scores = _not_in_question([m.span() for m in _SCORE.finditer(sentence)], sentence, question)
        return scores[0] if scores else None
    spans = answer_spans(sentence, answer_type, question)
    if not spans:
        return None
    start, end = spans[0]
    text = sentence[start:end].rstrip(" ,;:")
    return (start, start + len(text)) if text else None


_WH = (
    r"(?:what|what's|whats|why|when|who|whom|whose|where|which|how|did|does|do|is|was|were|"
    r"are|has|have|had|will|can|could)"
)
# "..., and why were they docked points", "...? and who won", "...; when does it start"
_PART_BREAK = re.compile(
    rf"\s*(?:\?+\s*(?:and\s+|also\s+|plus\s+)?|;\s*(?:and\s+)?|,?\s+(?:and|also|plus)\s+"
    rf"(?:also\s+)?)(?={_WH}\b)",
    re.IGNORECASE,
)
MIN_PART_WORDS = 3


def question_parts(question: str) -> list[str]:
    """The separate questions in one ("how old was he when he died, and why were they
    docked 10 points?" is two); a question asked once is one part. "what did X and Y say"
    is one: a part starts with a question word and both sides have a few words."""
    parts: list[str] = []
    last = 0
    for m in _PART_BREAK.finditer(question):
        head = question[last : m.start()].strip(" ,;")
        rest = question[m.end() :]
        if len(head.split()) < MIN_PART_WORDS or len(rest.split()) < MIN_PART_WORDS:
            continue
        parts.append(head)
        last = m.end()
    parts.append(question[last:].strip(" ,;"))
    return [p for p in parts if p]
