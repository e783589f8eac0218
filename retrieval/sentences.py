"""Sentence splitting with character offsets, shared by chunking and quote selection.

Rule-based on purpose: no model or data download, and fast enough to run on every
retrieved chunk per question. Offsets let every quote point back into the article body.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

# Words after which a period does not end a sentence.
_ABBREVIATIONS = frozenset(
    """
    mr mrs ms dr prof sr jr st mt ft gen col lt sgt capt cmdr adm gov sen rep pres rev hon jan
    feb mar apr jun jul aug sep sept oct nov dec mon tue wed thu fri sat sun inc corp co ltd llc
    plc bros dept univ assn est approx vs etc al fig no nos vol pp
    """.split()
)

# A candidate end: terminal punctuation, optional closing quotes/brackets, then whitespace.
_END = re.compile(r"[.!?…]+[\"'”’)\]]*(?=\s)")
# What may start the next sentence: an upper-case letter, a digit, or an opening quote/bracket.
_NEXT_START = re.compile(r"\s+[\"'“‘(\[]?[A-Z0-9]")


def _is_abbreviation(text: str, dot: int) -> bool:
    """True when the '.' at `dot` closes an abbreviation or an initial ("U.S.", "J. Smith")."""
    start = dot
    while start > 0 and (text[start - 1].isalpha() or text[start - 1] == "."):
        start -= 1
    word = text[start:dot]
    if not word:
        return False
    if "." in word:  # dotted acronym such as U.S or e.g
        return True
    if len(word) == 1 and word.isupper():  # an initial
        return True
    return word.lower() in _ABBREVIATIONS


def iter_sentence_spans(
    text: str, start: int = 0, end: int | None = None
) -> Iterator[tuple[int, int]]:
    """Yield (start, end) offsets of the sentences of text[start:end], whitespace trimmed.

    Newlines always end a sentence: cleaned bodies hold one paragraph per line.
    """
    stop = len(text) if end is None else end
    for line in re.finditer(r"[^\n]+", text[start:stop]):
        line_start = start + line.start()
        line_end = start + line.end()
        cursor = line_start
        for match in _END.finditer(text, line_start, line_end):
            punct_end = match.end()
            if not _NEXT_START.match(text, punct_end, line_end):
                continue
            single_dot = match.group() == "."
            if single_dot and _is_abbreviation(text, match.start()):
                continue
            yield from _trimmed(text, cursor, punct_end)
            cursor = punct_end
        yield from _trimmed(text, cursor, line_end)


def _trimmed(text: str, start: int, end: int) -> Iterator[tuple[int, int]]:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    if end > start:
        yield start, end


def split_sentences(text: str) -> list[str]:
    return [text[s:e] for s, e in iter_sentence_spans(text)]
