"""Questions as Discord users type them, read as meant: chat abbreviations and mistyped
small words ("how many yds", "teh final", "who's the exec director") spelled out before the
question is searched and its answer chosen. News text spells these words out, so an
abbreviation matches nothing in the index and, being rare there, would be taken for a key
word that the quotes must hold. The question shown to the user stays as typed.
"""

from __future__ import annotations

import re
from functools import lru_cache

# Whole words only, case ignored; ambiguous short forms ("pt", "mo", "r", "u") left alone.
CHAT_WORDS = {
    "teh": "the",
    "hte": "the",
    "adn": "and",
    "waht": "what",
    "wht": "what",
    "wat": "what",
    "hwat": "what",
    "whta": "what",
    "hwo": "how",
    "mcuh": "much",
    "muhc": "much",
    "mnay": "many",
    "wats": "whats",
    "whos": "who's",
    "woh": "who",
    "wher": "where",
    "whre": "where",
    "mant": "many",
    "yaer": "year",
    "scroe": "score",
    "socre": "score",
    "whne": "when",
    "wehn": "when",
    "ppl": "people",
    "yr": "year",
    "yrs": "years",
    "yds": "yards",
    "pts": "points",
    "govt": "government",
    "exec": "executive",
    "execs": "executives",
    "pen": "penalty",
    "pens": "penalties",
    "lvl": "level",
    "mgr": "manager",
    "bc": "because",
    "cuz": "because",
    "thru": "through",
    "tmrw": "tomorrow",
    "tmr": "tomorrow",
    "yday": "yesterday",
    "wk": "week",
    "wks": "weeks",
    "mins": "minutes",
    "hrs": "hours",
    "approx": "approximately",
    "abt": "about",
    "tho": "though",
    "tnf": "thursday night football",
    "mnf": "monday night football",
    "snf": "sunday night football",
    "pls": "please",
    "plz": "please",
    "ur": "your",
}
_CHAT_WORD = re.compile(r"(?<![\w'’])(?:" + "|".join(CHAT_WORDS) + r")(?![\w'’])", re.IGNORECASE)


@lru_cache(maxsize=4096)
def as_meant(question: str) -> str:
    """The question with chat abbreviations and mistyped small words spelled out."""
    return _CHAT_WORD.sub(lambda m: CHAT_WORDS[m.group().lower()], question)
