"""Written answers: a local model's few sentences over the verified quotes, each sentence
checked against the quotes it cites before anything is shown.

The model sees only the question and the quotes, numbered as the citations. A sentence is
dropped when it cites nothing or a quote it was not given; when a number or amount in it is
in none of the quotes it cites; when a phrase it puts in quotation marks (double or single:
"…", “…”, '…', ‘…’) is not verbatim in a cited article; or when a name in it is in none of
the cited quotes. A name is a capitalised word; one that starts the sentence (or follows a
colon or an opening mark) is one unless it is an ordinary word there: a stopword, or a word
the cited articles or the question write in lower case ("Prosecutors", "Talks"). What is
left is shown before the quotes, labelled with the model.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from retrieval.errors import WriterError
from retrieval.llm_client import ChatClient, ChatMessage
from retrieval.models import Quote, WrittenAnswer
from retrieval.sentences import iter_sentence_spans
from retrieval.terms import STOPWORDS
from retrieval.written_numbers import CURRENCY_CODES, as_digits, number_problem

log = logging.getLogger(__name__)

# At most this many sentences are shown; the model is told to write no more.
MAX_SENTENCES = 3
# The check stops once MAX_SENTENCES have passed it or this many were checked: the rest of
# a longer reply is cut unchecked, so its size (up to the client's MAX_REPLY_BYTES) adds
# no work after it arrived.
MAX_CHECKED = 2 * MAX_SENTENCES
# A longer sentence is dropped unchecked: no answer sentence is this long (the Discord
# embed shows at most 1000 characters of the whole answer).
MAX_SENTENCE_CHARS = 1000
# What the model is told to say when the quotes do not answer.
NO_ANSWER = "NO ANSWER"
SYSTEM_PROMPT = (
    "You answer news questions using only the numbered quotes you are given. Answer in at "
    "most three sentences. End every sentence with the numbers of the quotes it rests on, in "
    "brackets, like [1] or [1][2]. Use only facts, numbers, dates and names that are in those "
    "quotes; put words in quotation marks only when you copy them exactly. If the quotes do "
    f"not answer the question, reply with exactly: {NO_ANSWER}"
)
_CITATION = re.compile(r"\[\s*(\d+(?:\s*,\s*\d+)*)\s*\]")
_LEADING_CITATIONS = re.compile(r"(?:\s*\[\s*\d+(?:\s*,\s*\d+)*\s*\])+")
# The model saying the quotes do not answer, in its own words: heard wherever it stands and
# whatever it cites ("The quotes don't say [1]."), and then the quotes are shown alone.
_DECLINES = re.compile(
    r"\bquotes?(?: provided| given)? (?:do(?:es)?(?: not|n't)|never) "
    r"(?:answer|say|mention|contain|address|cover|state|include)"
    r"|\bnone of the (?:provided |given )?quotes\b"
    r"|\bcannot be answered\b|\bI (?:cannot|can't|can not) answer\b",
    re.IGNORECASE,
)
# Typographic marks say which is the opening one, so they are paired first: a phrase the
# model puts in straight quotes beside a quote's own “...” is then read as itself.
_CURLY_QUOTED = re.compile(r"“([^“”]{2,}?)”")
_STRAIGHT_QUOTED = re.compile(r"\"([^\"]{2,}?)\"")
# Single marks, curly or straight, open at a word's start before a letter and close at its
# end, so that an apostrophe (don't, Russia's, Russia’s, '90s, the members' view) is none.
_SINGLE_QUOTED = re.compile(r"(?<!\w)[‘'](?=[^\W\d_])(.+?)(?<=\S)[’'](?!\w)")
_WORD = re.compile(r"[A-Za-z][\w'’-]*")
_OPENING = "\"“‘'([("
# Capitalised words that are not names wherever they stand.
_NOT_NAMES = frozenset({"I", "I'm", "I've", "I'd", "I'll"}) | CURRENCY_CODES
# Words that start an answer's sentence without being names: the stopwords and these.
_ORDINARY_STARTS = frozenset(
    "yes no however meanwhile instead still overall today yesterday earlier later while "
    "although though because since despite neither either".split()
) | frozenset(STOPWORDS)


@dataclass(frozen=True, slots=True)
class CheckedSentence:
    text: str
    reason: str | None  # why it was dropped; None: kept


def messages(question: str, quotes: Sequence[Quote]) -> list[ChatMessage]:
    """The model's whole input: the question and the quotes, numbered as the citations."""
    numbered = "\n".join(f"[{q.citation}] {q.text}" for q in quotes)
    user = f"Question: {question}\n\nQuotes:\n{numbered}"
    return [ChatMessage("system", SYSTEM_PROMPT), ChatMessage("user", user)]


def declines(output: str) -> bool:
    """True when the model says the quotes do not answer: as told, or in its own words
    anywhere in its output, whether it cites a quote or not (a partial answer beside
    such a sentence is not shown either: the quotes alone are)."""
    said = output.strip().strip("*").upper()
    return said.startswith(NO_ANSWER) or bool(_DECLINES.search(output))


def split_sentences(output: str) -> list[str]:
    """The output's sentences, each with its citations: those written after a full stop
    ("... this week. [1] Next ...") belong to the sentence before."""
    sentences: list[str] = []
    for start, end in iter_sentence_spans(output):
        sentence = output[start:end]
        leading = _LEADING_CITATIONS.match(sentence)
        if leading and sentences:
            sentences[-1] += " " + leading.group().strip()
            sentence = sentence[leading.end() :].strip()
        if sentence:
            sentences.append(sentence)
    return sentences


def check_sentence(
    sentence: str, quotes: Sequence[Quote], bodies: Mapping[str, str], question: str = ""
) -> CheckedSentence:
    """Keep `sentence` only if everything it states is in the quotes it cites (`question`:
    what was asked, whose words in lower case are not names at a sentence's start)."""
    cited = {int(n) for group in _CITATION.findall(sentence) for n in group.split(",")}
    if not cited:
        return CheckedSentence(sentence, "no citation")
    given = {q.citation for q in quotes}
    if not cited <= given:
        return CheckedSentence(sentence, f"cites [{min(cited - given)}], which was not given")
    sources = [q for q in quotes if q.citation in cited]
    source_text = _normal(" ".join(q.text for q in sources))
    articles = [_normal(bodies.get(q.article_id, q.text)) for q in sources]
    # Compared as normalised as the sources are: "November’s" in a sentence is the quote's
    # "November’s", whichever apostrophe either uses.
    raw = _CITATION.sub(" ", " ".join(sentence.split()))
    why, outside = _quotations(raw, articles)
    if why is not None:
        return CheckedSentence(sentence, why)
    unquoted = as_digits(_normal(outside))
    source_text = as_digits(source_text)
    why = number_problem(unquoted, source_text)
    if why is not None:
        return CheckedSentence(sentence, why)
    source_words = set(_WORD.findall(source_text))
    ordinary = {w for w in _WORD.findall(" ".join([*articles, _normal(question)])) if w.islower()}
    for name in _names(unquoted, ordinary):
        if name not in source_words:
            return CheckedSentence(sentence, f"{name} is in none of the cited quotes")
    return CheckedSentence(sentence, None)


def _quotations(raw: str, articles: Sequence[str]) -> tuple[str | None, str]:
    """Why a phrase `raw` puts in quotation marks (double or single) is not verbatim in one
    of the (normalised) `articles`, or None; and the text outside the quotations."""
    phrases = _CURLY_QUOTED.findall(raw)
    rest = _CURLY_QUOTED.sub(" ", raw)
    if rest.count('"') % 2:
        # A quotation opened or closed in another sentence: the quoted part is what comes
        # before the first mark or after the last; one of them must be verbatim.
        ends = (rest[: rest.index('"')], rest[rest.rindex('"') + 1 :])
        if not any(
            _normal(e).strip(" ,.;:") and _normal(e).strip(" ,.;:") in article
            for e in ends
            for article in articles
        ):
            return "a quotation mark without its pair", rest
        rest = rest.replace('"', " ")
    phrases += _STRAIGHT_QUOTED.findall(rest)
    rest = _STRAIGHT_QUOTED.sub(" ", rest)
    # Single marks last: inside double ones they are part of the phrase checked already.
    phrases += _SINGLE_QUOTED.findall(rest)
    rest = _SINGLE_QUOTED.sub(" ", rest)
    for phrase in phrases:
        # A comma or full stop inside the marks is the sentence's ("“unacceptable,” he said").
        phrase = phrase.rstrip(",.;:")
        if not any(_normal(phrase) in article for article in articles):
            return f"“{_normal(phrase)}” is not in the cited article", rest
    return None, rest


def ground(
    output: str, quotes: Sequence[Quote], bodies: Mapping[str, str], question: str = ""
) -> tuple[list[str], int]:
    """The sentences of the model's output that pass the check, and how many the check
    dropped. Checking stops at MAX_SENTENCES kept or MAX_CHECKED checked; the sentences
    after that are cut by the limit unchecked and are not counted as dropped."""
    kept: list[str] = []
    dropped = 0
    sentences = split_sentences(output)
    for sentence in sentences[:MAX_CHECKED]:
        if len(kept) == MAX_SENTENCES:
            break
        if len(sentence) > MAX_SENTENCE_CHARS:
            checked = CheckedSentence(sentence, f"longer than {MAX_SENTENCE_CHARS} characters")
        else:
            checked = check_sentence(sentence, quotes, bodies, question)
        if checked.reason is None:
            kept.append(sentence)
            continue
        dropped += 1
        log.debug("Dropped a written sentence (%s): %r", checked.reason, sentence[:300])
    cut = len(sentences) - dropped - len(kept)
    if cut:
        log.debug("Cut %d written sentences past the limit unchecked", cut)
    return kept, dropped


class Writer:
    """Writes the checked answer for an answered question; None when the endpoint fails,
    the model declines or no sentence passes (the answer is then the quotes alone)."""

    def __init__(self, client: ChatClient) -> None:
        self._client = client

    @property
    def model(self) -> str:
        return self._client.model

    def write(
        self, question: str, quotes: Sequence[Quote], bodies: Mapping[str, str]
    ) -> WrittenAnswer | None:
        try:
            output = self._client.complete(messages(question, quotes))
        except WriterError as exc:
            log.warning("No written answer: %s", exc.user_message)
            return None
        if declines(output):
            log.info("No written answer: the model says the quotes do not answer")
            return None
        kept, dropped = ground(output, quotes, bodies, question)
        if not kept:
            log.info("No written answer: none of its %d sentences passed the check", dropped)
            return None
        if dropped:
            log.info("Written answer: %d sentences dropped by the check", dropped)
        return WrittenAnswer(" ".join(kept), self.model, dropped)


def _normal(text: str) -> str:
    """Text compared as the reader sees it: one kind of quote mark, dash and space."""
    table = str.maketrans({"“": '"', "”": '"', "‘": "'", "’": "'", "–": "-", "—": "-"})
    return " ".join(text.translate(table).split())


def _names(text: str, ordinary: set[str]) -> list[str]:
    """Capitalised words: names, as far as a rule can tell without a model. One that starts
    a sentence, or follows a colon or an opening mark, is a name too ("Putin met ...") unless
    it is an ordinary word there: a stopword, or in `ordinary` (the words the cited articles
    and the question write in lower case) when lowered. A word written like a name
    ("NATO", "Bankman-Fried") is one wherever it stands."""
    found: list[str] = []
    for start, end in iter_sentence_spans(text):
        for i, match in enumerate(_WORD.finditer(text, start, end)):
            word = match.group()
            if not word[0].isupper() or word in _NOT_NAMES or text.startswith("$", match.end()):
                continue  # "US$8 billion" is money, checked as such
            before = text[start : match.start()].rstrip()
            starts = i == 0 or before.endswith(":") or (bool(before) and before[-1] in _OPENING)
            if starts and not any(c.isupper() for c in word[1:]):
                lowered = word.lower()
                base = lowered.removesuffix("'s")
                if {lowered, base} & _ORDINARY_STARTS or {lowered, base} & ordinary:
                    continue
            found.append(word)
    return found
