"""What a question says about where and when to look: outlets it names, time it names,
whether it wants the latest news, and the words left to search for.

Pure functions of the question, the outlets in the index (with, optionally, the web domains
of their articles) and a reference time (the newest article's date, not the wall clock, so
that an old corpus still answers "last week" sensibly). No model, no index access: the
answerer turns a `QueryPlan` into searches. Case is ignored everywhere; it only ever adds
evidence that a word is a name.

Policy, chosen so that a misread phrase costs ranking, not recall (questions name many times
that are not publication times: "spent $26.3 billion in 2021", "compared with last season"):
- Outlets: recognised against the index's own outlets, by their names and short forms
  ("Cnbc" for "Cnbc | World Business News Leader", "The Independent" for its sections,
  "CBS Sports" for "CBSSports.com"), their domains ("nytimes", "theverge", "nytimes.com"),
  initials of names of three or more words ("SMH") and a few well-known abbreviations
  ("nyt", "wapo", "wsj", "ft", "ap", "bbc", "cnn", "npr"), each only for an outlet in the
  index. A name counts as it stands when it is written with capitals ("The Verge"), as one
  compound word ("techcrunch", "theverge"), in three or more words ("new york times") or is
  an abbreviation that is no word ("nyt", "wapo"). Anything that could be an ordinary word
  or phrase ("fortune", "wired", "the verge of", "the age of", "ft", "Guardian") counts
  only next to a cue: "according to", "per", "via", "reported by", "in the X", "from X"
  (with no noun running on after it: not "according to independent experts"), "X reported",
  "X says", "X's (match) report", quotes, or a list continuing an outlet already named.
  Written capitalised, a one-word ordinary name also takes the looser cues it always did
  ("by", "on", "article", an all-capitals "WIRED").
- Time, as a filter: when the question names one time and it is relative ("last week",
  "this year", "yesterday"), or comes with a relation ("before October 5", "since 2023"),
  or follows a word about publishing ("published in November 2023", "news from October",
  "what happened in 2023"); "between X and Y" likewise; and a named month, week or part of
  a month ("in December 2023", "in december", "the week of Dec 11", "the first week of
  November", "mid-December", "late October") unless it dates a fact of the question rather
  than its news: a figure or change in the same clause ("usage soared during December
  2022", "100 million users in March", "as of July 2023") or a noun it qualifies ("its
  June 2017 launch"). A filter wholly after the newest article only ranks.
- Time, as a preference (those articles rank first, others still count): a named day
  ("on October 31, 2023"), a year or quarter without a publishing word ("in 2021",
  "Q3 2023"), a month that dates a fact, every time in a question that names several or
  that compares reports or outlets (the time belongs to one side), an event ("before the
  trial", dated by the index) and "latest"/"now" (the last 30 days before the newest
  article).
- No time at all: a quarter of figures ("Q3 2023 earnings", "revenue in the third quarter
  of 2023": reported after the quarter ends) and a quarter without a year ("the fourth
  quarter", mostly sport); their words stay search terms.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from urllib.parse import urlsplit

from retrieval.periods import TimeMention, day_range, find_times
from retrieval.terms import terms

# Words that describe news itself rather than what a question is about.
META_TERMS = frozenset(
    "article report reporting story piece coverage outlet source published publication "
    "mention mentioned".split()
)
# How long "latest" reaches back from the newest article.
RECENT_DAYS = 30

_SMALL_WORDS = frozenset("a an and at de du for in of on the to &".split())
_SEPARATORS = (" | ", " - ", " – ", " — ", ": ")
_TOKEN = re.compile(r"[^\W_]+")
# Loose cues, for a capitalised one-word name ("Fortune", "Wired").
_CUE_BEFORE = re.compile(
    r"(?:according\s+to|reported\s+by|reports?\s+(?:by|from|in)|published\s+(?:by|in|on)|"
    r"written\s+(?:by|for)|article\s+(?:by|from|in|on)|story\s+(?:by|from|in)|"
    r"\bper|\bvia|\bby|\bfrom|\bin|\bat|\bon)\s*(?:both\s+|the\s+)?['\"“‘]?$",
    re.IGNORECASE,
)
_CUE_AFTER = re.compile(
    r"^['\"”’]?(?:'s|’s)?\s*(?:article|report|reported|reports|reporting|story|stories|piece|"
    r"coverage|published|says|said|wrote|writes|notes|noted|claims|claimed|headline|"
    r"journalist|writer|editor|columnist|review|analysis|magazine|newspaper|website|"
    r"\(|,\s*(?:and|while|but))\b",
    re.IGNORECASE,
)
# Strict cues, for a name that may be an ordinary word ("per fortune", "in the age of").
_STRICT_BEFORE = re.compile(
    r"(?:\b(?P<strong>according\s+to|per|via|(?:as\s+)?reported\s+by|"
    r"(?:published|written|posted|quoted|cited|covered)\s+(?:by|in|on)|"
    r"(?:article|story|stories|piece|report|column|op-?ed|interview|coverage|reporting)s?"
    r"\s+(?:by|from|in|on))|\b(?P<weak>in|from))"
    r"\s+(?:both\s+|either\s+)?(?P<the>the\s+)?['\"“‘]?$",
    re.IGNORECASE,
)
# After a name a before-cue vouches for: no noun running on ("according to independent
# experts", "in the age of", "from time to time", "per fortune 500 rankings").
_FOLLOW_OK = re.compile(
    r"['’]s?(?:\s|$|[,.?!;:])|['\"”’]?\s*(?:[,.?!;:)\]]|$)|"
    r"['\"”’]?\s+(?:about|on|regarding|concerning|over|"
    r"that|when|what|who|whom|which|how|why|where|whether|did|does|do|is|was|were|has|have|had|"
    r"and|or|but|in|at|with|says?|said|reports?|reported|reporting|wrote|writes|claims?|claimed|"
    r"notes?|noted|published|as|if|after|before|during|since|this|last|recently|earlier|also|"
    r"the|a|an|articles?|stor(?:y|ies)|pieces?|coverage|journalists?|reporters?|columnists?|"
    r"headlines?)\b",
    re.IGNORECASE,
)
_NEWS_NOUN = (
    r"(?:reports?|reporting|articles?|stor(?:y|ies)|pieces?|coverage|columns?|op-?eds?|"
    r"editorials?|interviews?|headlines?|reviews?|analys[ie]s|investigations?|features?|"
    r"previews?|recaps?|podcasts?|newsletters?|(?:live\s+)?blogs?|journalists?|reporters?|"
    r"writers?|editors?|columnists?|correspondents?|critics?|obituar(?:y|ies)|profiles?|"
    r"explainers?)"
)
_REPORT_VERB = (
    r"(?:(?:has|had|have|also|first|later|recently|then)\s+)?(?:reported|reports|report|"
    r"reporting|says|said|say|wrote|writes|write|published|publishes|claims|claimed|noted|"
    r"notes|covered|covers|cover|revealed|reveals|described|describes|explained|explains|"
    r"stated|states|argued|argues|suggested|suggests|mentioned|mentions|highlighted|"
    r"highlights|detailed|details|discussed|discusses)"
)
# "guardian's match report", "the times' review", "bbc's latest article".
_POSSESSIVE_NOUN = re.compile(rf"['’]s?\s+(?:[\w-]+\s+){{0,2}}?{_NEWS_NOUN}\b", re.IGNORECASE)
_STRICT_AFTER = re.compile(
    rf"['’]s?\s+(?:[\w-]+\s+){{0,2}}?{_NEWS_NOUN}\b|['\"”’]?,?\s+{_REPORT_VERB}\b|"
    r"\s+(?:articles?|stor(?:y|ies)|pieces?|coverage|journalists?|reporters?|columnists?|"
    r"correspondents?|headlines?|magazine|newspaper|website|site|outlet|publication)\b",
    re.IGNORECASE,
)
# What may stand before a lower-case bare name: not "a legal guardian's report".
_BARE_BEFORE = re.compile(
    r"(?:^|[,.;:?!(\"“‘']|\b(?:did|does|do|in|from|per|via|to|and|or|about|on|at|by|what|how|"
    r"when|why|where|who|is|was|were|are|says?|said|reports?|reported|according\s+to))\s*$",
    re.IGNORECASE,
)
_PER = re.compile(r"\b(?:per|via)\s+(?:the\s+)?$", re.IGNORECASE)
_LIST_GAP = re.compile(r"['\"”’]?\s*(?:,|,?\s*and|,?\s*or|&)\s*(?:the\s+)?['\"“‘]?", re.I)
_OPEN_QUOTES = ("'", '"', "“", "‘")
_CLOSE_QUOTES = ("'", '"', "”", "’")

# How a form of an outlet's name may be written to count (see _Context._accepts).
_ALWAYS = "always"  # "nyt", "wapo", "nytimes.com": no word, so in any case and anywhere
_NAME = "name"  # "The Verge", "TechCrunch": capitalised, as one word, in 3+ words, or a cue
_WORD = "word"  # "Fortune": an ordinary word; capitalised with a loose cue, else a strict one
_INITIALS = "initials"  # "SMH": a cue, loose when in capitals
_BARE = "bare"  # "Guardian" of "The Guardian": possessive and a news noun, or a strong cue
_CUE = "cue"  # "ft", "ap": a strict cue in any case

# Well-known abbreviations that neither a name nor a domain yields, each with the runs of
# name words (squashed) or domain labels that identify its outlet, and whether it counts
# without a cue (not an English word). They count only for an outlet in the index.
_KNOWN_ABBREVIATIONS: tuple[tuple[str, frozenset[str], bool], ...] = (
    ("nyt", frozenset({"newyorktimes", "nytimes"}), True),
    ("wapo", frozenset({"washingtonpost"}), True),
    ("wsj", frozenset({"wallstreetjournal", "wsj"}), True),
    ("ft", frozenset({"financialtimes", "ft"}), False),  # also feet
    ("ap", frozenset({"associatedpress", "apnews"}), False),  # also the AP poll
    ("afp", frozenset({"agencefrancepresse", "afp"}), True),
    ("bbc", frozenset({"bbc"}), True),
    ("cnn", frozenset({"cnn"}), True),
    ("npr", frozenset({"npr", "nationalpublicradio"}), True),
    ("cnbc", frozenset({"cnbc"}), True),
    ("scmp", frozenset({"southchinamorningpost", "scmp"}), True),
    ("smh", frozenset({"sydneymorningherald", "smh"}), False),  # also "shaking my head"
)
# Second-level labels of country domains ("co.uk", "com.au").
_SECOND_LEVEL = frozenset("co com org net gov ac edu ne or gen".split())

# --- time phrases (periods.py finds the times themselves) -------------------------------------

_RELATION = re.compile(
    r"\b(?P<rel>before|prior\s+to|ahead\s+of|until|till|up\s+to|after|following|since|"
    r"later\s+than|earlier\s+than|between|from)\s+$",
    re.IGNORECASE,
)
_EVENT = re.compile(
    r"\b(?P<rel>before|prior\s+to|ahead\s+of|after|following|since)\s+"
    r"(?P<event>the\s+[a-z][\w'’-]*(?:\s+[a-z][\w'’-]*){0,2}?)"
    r"(?=\s*(?:[,.?!;]|$|\b(?:and|or|but|"
    r"when|while|did|does|do|was|were|is|are|what|who|how|according|in|on|at)\b))",
    re.IGNORECASE,
)
# "published in November 2023", "news from 2023", "what happened in October".
_PUBLISHED_CUE = re.compile(
    r"\b(?:published|posted|reported|written|released|dated|news|headlines|articles?|"
    r"stories|reports?|coverage|happened|happening|going\s+on)\s+(?:\w+\s+){0,2}?"
    r"(?:in|during|from|over|throughout|of)\s*$",
    re.IGNORECASE,
)
# Questions comparing two reports: a time names one of them, not all the news wanted.
_COMPARISON = re.compile(
    r"\b(?:between\s+the|compared?|comparison|versus|vs\.?|whereas|while\s+the|"
    r"and\s+the\s+(?:subsequent|later|earlier|following))\b",
    re.IGNORECASE,
)
# A figure or a change in the clause before a month dates that fact, not the news: "usage
# soared during December 2022", "100 million users per day in March", "as of July 2023".
_CLAUSE_BREAK = re.compile(r"[,;:?!]|\.(?!\d)|\b(?:and|but|while|whereas)\b", re.IGNORECASE)
_FACT_CUE = re.compile(
    r"[$€£¥]\s?\d|\d\s*%|\b\d[\d,.]*\s*(?:k|m|bn|million|billion|trillion|thousand|hundred)\b|"
    r"\b(?:million|billion|trillion|percent|per\s+cent|record|usage|users|subscribers|"
    r"downloads|sales|revenues?|earnings|profits?|loss(?:es)?|income|valuation|valued|worth|"
    r"spent|spending|soar(?:s|ed|ing)?|ris(?:e|es|en|ing)|rose|surg(?:e|es|ed|ing)|"
    r"spik(?:e|es|ed)|jump(?:s|ed)?|gr(?:ow|ows|ew|own|owth)|increase[sd]?|decrease[sd]?|"
    r"declin(?:e|es|ed)|drop(?:s|ped)?|fell|fallen|plung(?:e|es|ed)|peak(?:s|ed)?|founded|"
    r"born|died|anniversary|milestone|as\s+of)\b",
    re.IGNORECASE,
)
# "its June 2017 launch", "the December 2023 summit": a month naming a thing, not a time.
_DETERMINER_BEFORE = re.compile(
    r"(?:\b(?:the|a|an|its|his|her|their|our|this|that)|['’]s)\s+$", re.I
)
_NOUN_AFTER = re.compile(r"\s+[a-z]", re.IGNORECASE)
_NEWS_AFTER = re.compile(r"\s+(?:news|headlines|articles?|stories|reports?|coverage)\b", re.I)
# Asking for the latest state of things; not "recently" or "now" inside a description
# ("who recently joined", "is now facing charges"), which say nothing about news time.
_RECENT = re.compile(
    r"\b(?:latest|newest|most\s+recent(?:ly)?|right\s+now|as\s+of\s+now|these\s+days|"
    r"at\s+the\s+moment|now(?=\s*(?:[?.!]|$)))",
    re.IGNORECASE,
)


@dataclass(frozen=True, slots=True)
class TimeRange:
    """[since, until] in UTC; either end may be open. `phrase` is the text it came from;
    `kind` what it names (periods.KINDS, "between", "recent" or "" when not known)."""

    since: datetime | None
    until: datetime | None
    phrase: str = ""
    kind: str = ""


@dataclass(frozen=True, slots=True)
class EventAnchor:
    """ "before the trial": a time given by an event, resolved against the index."""

    relation: str  # "before" or "after"
    phrase: str  # "the trial"


@dataclass(frozen=True, slots=True)
class QueryPlan:
    question: str
    # Content terms to search for (outlet names, dates and words about news itself removed).
    lexical_terms: tuple[str, ...]
    # Outlet names, one group per outlet mentioned (a short form may name several outlets).
    outlet_groups: tuple[tuple[str, ...], ...] = ()
    # A hard restriction (RESTRICT): the one period the question's news is from.
    time_filter: TimeRange | None = None
    # Times that only make articles of those times rank first (PREFER).
    time_preferences: tuple[TimeRange, ...] = ()
    event: EventAnchor | None = None
    prefer_recent: bool = False
    spans: tuple[tuple[int, int], ...] = field(default=(), repr=False)


# --- outlets ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class OutletForm:
    """A way a question may write an outlet's name, and how it must be written to count."""

    text: str  # as derived: "The Verge", "nytimes.com"
    tier: str
    exact: bool = False  # a domain, matched character for character
    # From a domain that is not the outlet's name ("theathletic" for The New York Times):
    # dropped when other outlets share it (an aggregator's "news.google.com").
    unrelated: bool = False


@dataclass(frozen=True, slots=True)
class _Alias:
    # (outlet, tier) for each outlet a written form may name, and how it must be written.
    entries: tuple[tuple[str, str], ...]


class OutletMatcher:
    """Finds the index's outlets in a question."""

    def __init__(
        self, outlets: Sequence[str], domains: Mapping[str, Sequence[str]] | None = None
    ) -> None:
        by_key: dict[str, set[tuple[str, str]]] = {}
        patterns: dict[str, str] = {}
        forms = [(o, f) for o in outlets for f in outlet_forms(o, (domains or {}).get(o, ()))]
        unrelated: dict[str, set[str]] = {}
        for outlet, form in forms:
            if form.unrelated:
                unrelated.setdefault(_squash(form.text), set()).add(outlet)
        for outlet, form in forms:
            key = _squash(form.text)
            if not key or (form.unrelated and len(unrelated[key]) > 1):
                continue
            by_key.setdefault(key, set()).add((outlet, form.tier))
            if form.exact:
                pattern = re.escape(form.text.lower())
            else:
                pattern = r"[\W_]{0,3}".join(re.escape(t) for t in _tokens(form.text))
            patterns.setdefault(pattern, key)
        self._aliases = {key: _Alias(tuple(sorted(e))) for key, e in by_key.items()}
        # Longest first: "The Independent - Sports" before "The Independent".
        alternatives = sorted(patterns, key=lambda p: (-len(patterns[p]), -len(p), p))
        self._pattern = (
            re.compile(
                r"(?<![\w.])(?:https?://)?(?:www\.)?(" + "|".join(alternatives) + r")(?![\w])",
                re.IGNORECASE,
            )
            if alternatives
            else None
        )

    def find(self, question: str) -> list[tuple[tuple[str, ...], tuple[int, int]]]:
        """(outlet group, span) for each outlet mention, in order of appearance."""
        if self._pattern is None:
            return []
        found: list[tuple[tuple[str, ...], tuple[int, int]]] = []
        pos = 0
        while (match := self._pattern.search(question, pos)) is not None:
            # The mention takes in "www." or "https://"; the name does not.
            lead, end = match.start(), match.end(1)
            alias = self._aliases.get(_squash(match.group(1)))
            # "reported by both The Verge and Engadget": the list carries the cue.
            listed = bool(found) and bool(_LIST_GAP.fullmatch(question[found[-1][1][1] : lead]))
            group = () if alias is None else self._accepted(alias, question, lead, end, listed)
            if group:
                found.append((group, (lead, end)))
                pos = end
            else:
                pos = match.start() + 1  # a shorter form may still count
        return found

    def _accepted(
        self, alias: _Alias, question: str, start: int, end: int, listed: bool
    ) -> tuple[str, ...]:
        ctx = _Context(question, start, end, listed)  # start: of the mention, prefix included
        return tuple(sorted({o for o, tier in alias.entries if ctx.accepts(tier)}))


class _Context:
    """A possible mention and the evidence around it, each piece read once."""

    def __init__(self, question: str, start: int, end: int, listed: bool) -> None:
        self.text = re.sub(r"^(?:https?://)?(?:www\.)?", "", question[start:end], flags=re.I)
        self.before = question[max(0, start - 40) : start]
        self.after = question[end : end + 40]
        self.listed = listed
        self._memo: dict[str, bool] = {}

    def accepts(self, tier: str) -> bool:
        if tier not in self._memo:
            self._memo[tier] = self._accepts(tier)
        return self._memo[tier]

    def _accepts(self, tier: str) -> bool:
        if tier == _ALWAYS:
            return True
        capital = _capitalised(self.text)
        if tier == _NAME:
            words = sum(1 for t in _tokens(self.text) if t not in _SMALL_WORDS)
            compact = not any(c.isspace() for c in self.text)
            return capital or compact or words >= 3 or self.strict_cue()
        if tier == _WORD:
            if capital:
                return self.listed or _has_cue(self.before, self.after, self.text)
            return self.strict_cue()
        if tier == _INITIALS:
            if self.text.isupper() and _has_cue(self.before, self.after, ""):
                return True
            return self.strict_cue()
        if tier == _BARE:
            if capital:
                return bool(_STRICT_AFTER.match(self.after)) or self._before_cue(strong_only=True)
            possessive = _POSSESSIVE_NOUN.match(self.after) and _BARE_BEFORE.search(self.before)
            return bool(possessive) or self._before_cue(strong_only=True)
        return self.strict_cue()  # _CUE

    def strict_cue(self) -> bool:
        if self._quoted():
            return True
        return bool(_STRICT_AFTER.match(self.after)) or self._before_cue(strong_only=False)

    def _quoted(self) -> bool:
        return self.before.endswith(_OPEN_QUOTES) and self.after.startswith(_CLOSE_QUOTES)

    def _before_cue(self, *, strong_only: bool) -> bool:
        if not _FOLLOW_OK.match(self.after):
            return False
        if self.listed:
            return True
        m = _STRICT_BEFORE.search(self.before)
        if m is None:
            return False
        if m.group("strong"):
            return True
        if strong_only:
            return False
        # "in the guardian" (not "in time"), "from wired".
        the = bool(m.group("the")) or self.text.lower().startswith("the ")
        return m.group("weak").lower() == "from" or the


def outlet_aliases(outlet: str) -> set[str]:
    """The names a question may use for an outlet: its full name, the part before a
    separator ("Cnbc" of "Cnbc | World Business News Leader"), and a multi-word name
    without its leading "The" ("New York Times")."""
    name = " ".join(outlet.split())
    out = {name}
    for sep in _SEPARATORS:
        if sep in name:
            head = name.split(sep, 1)[0].strip()
            if len(head) >= 3:
                out.add(head)
    for alias in list(out):
        if alias.lower().startswith("the ") and len(alias.split()) >= 3:
            out.add(alias[4:])
    return out


def outlet_forms(outlet: str, domains: Sequence[str] = ()) -> list[OutletForm]:
    """Every form of an outlet's name a question may use, with how it must be written:
    its names (outlet_aliases), one without a web suffix ("CBSSports" of "CBSSports.com")
    and split at its capitals ("CBS Sports"), its initials when three or more words
    ("SMH"), the word after a leading "The" ("Guardian"), its domains ("nytimes.com") and
    their labels ("nytimes"), and the well-known abbreviations that belong to it ("nyt")."""
    names = outlet_aliases(outlet)
    for name in list(names):
        bare = re.sub(r"\.(?:com|net|org|co\.uk|com\.au)$", "", name, flags=re.IGNORECASE)
        if bare != name and len(bare) >= 3:
            names.add(bare)
    forms: list[OutletForm] = []
    runs: set[str] = set()  # squashed runs of two or more words: "theverge", "newyorktimes"
    words: set[str] = set()  # single words, lower-cased
    distinctive: set[str] = set()  # words that are marked as names: "TechCrunch", "BBC"
    for name in names:
        tokens = _tokens(name)
        runs.update(
            "".join(tokens[i:j]) for i in range(len(tokens)) for j in range(i + 2, len(tokens) + 1)
        )
        words.update(tokens)
        distinctive.update(
            t.lower() for t in _TOKEN.findall(name) if any(c.isupper() for c in t[1:])
        )
    for name in names:
        tokens = _tokens(name)
        # One ordinary word ("Fortune") against a name ("TechCrunch", "The Verge").
        ordinary = len(tokens) == 1 and tokens[0] not in distinctive and name.isalpha()
        forms.append(OutletForm(name, _WORD if ordinary else _NAME))
        split = re.sub(r"(?<=[a-z])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", " ", name)
        if split != name:
            forms.append(OutletForm(split, _NAME))
        significant = [t for t in name.split() if t.lower() not in _SMALL_WORDS]
        if (
            len(significant) >= 3
            and not any(s in name for s in _SEPARATORS)
            and all(w[0].isalpha() for w in significant)
        ):
            forms.append(OutletForm("".join(w[0] for w in significant).upper(), _INITIALS))
        the, _, rest = name.partition(" ")
        if the.lower() == "the" and rest.isalpha() and len(rest) >= 5:
            forms.append(OutletForm(rest, _BARE))  # "Guardian"; not "Age" (too much a word)
    labels: set[str] = set()
    for domain in domains:
        parsed = _registrable(domain)
        if parsed is None:
            continue
        label, registrable = parsed
        labels.add(label)
        related = label in runs or label in distinctive or label in words
        forms.append(OutletForm(registrable, _ALWAYS, exact=True, unrelated=not related))
        if label in runs or label in distinctive:
            forms.append(OutletForm(label, _NAME))  # "theverge", "techcrunch", "cbssports"
        elif label in words:
            forms.append(OutletForm(label, _WORD))  # "fortune", "wired", "polygon"
        elif len(label) >= 6:  # "theathletic", "zeebiz": too long to be an ordinary word
            forms.append(OutletForm(label, _NAME, unrelated=True))
    for abbreviation, marks, bare_ok in _KNOWN_ABBREVIATIONS:
        if marks & (runs | words | labels):
            forms.append(OutletForm(abbreviation, _ALWAYS if bare_ok else _CUE))
    return forms


def domains_by_outlet(pairs: Iterable[tuple[str, str]]) -> dict[str, tuple[str, ...]]:
    """outlet -> the distinct hosts of its articles' URLs, from (outlet, url) pairs: what
    `understand(..., outlet_domains=...)` takes."""
    hosts: dict[str, set[str]] = {}
    for outlet, url in pairs:
        host = _host(url)
        if outlet and host:
            hosts.setdefault(outlet, set()).add(host)
    return {outlet: tuple(sorted(h)) for outlet, h in hosts.items()}


def _host(url_or_host: str) -> str:
    text = url_or_host.strip().lower()
    host = urlsplit(text).hostname if "//" in text else text.split("/", 1)[0].split(":", 1)[0]
    return (host or "").strip(".")


def _registrable(domain: str) -> tuple[str, str] | None:
    """("nytimes", "nytimes.com") for "www.nytimes.com"; ("bbc", "bbc.co.uk") for
    "www.bbc.co.uk"; subdomains ("en.", "news.") are left out."""
    labels = [x for x in _host(domain).split(".") if x]
    if len(labels) < 2:
        return None
    suffix = 2 if len(labels) >= 3 and labels[-2] in _SECOND_LEVEL and len(labels[-1]) == 2 else 1
    if len(labels) <= suffix:
        return None
    label = labels[-suffix - 1]
    if not label.replace("-", "").isalnum():
        return None
    return label, ".".join(labels[-suffix - 1 :])


def _tokens(text: str) -> list[str]:
    return [t.lower() for t in _TOKEN.findall(text)]


def _squash(text: str) -> str:
    return "".join(_TOKEN.findall(text)).casefold()


def _capitalised(text: str) -> bool:
    """Names are written with capitals: "the verge of" is not The Verge."""
    words = text.split()
    for i, word in enumerate(words):
        first = word[0]
        if not first.isalpha():
            continue
        if word.lower() in _SMALL_WORDS and (i > 0 or word.lower() == "the"):
            continue
        if not first.isupper():
            return False
    return True


def _has_cue(before: str, after: str, text: str) -> bool:
    """The loose cues of a capitalised name; all capitals ("WIRED") is one."""
    if before.endswith(_OPEN_QUOTES) and after.startswith(_CLOSE_QUOTES):
        return True
    if text.isupper() and len(text) > 1:
        return True
    return bool(_CUE_BEFORE.search(before) or _CUE_AFTER.search(after))


@lru_cache(maxsize=8)
def _matcher(
    outlets: tuple[str, ...], domains: tuple[tuple[str, tuple[str, ...]], ...] = ()
) -> OutletMatcher:
    return OutletMatcher(outlets, dict(domains))


# --- the plan --------------------------------------------------------------------------------


def understand(
    question: str,
    *,
    outlets: Sequence[str],
    reference: datetime,
    outlet_domains: Mapping[str, Sequence[str]] | None = None,
) -> QueryPlan:
    """Read outlets, time and recency out of a question (see the module docstring).
    `outlet_domains`: outlet name -> the web domains (or URLs) of its articles, from which
    short names are derived ("nytimes", "nyt"); see `domains_by_outlet`."""
    ref_day = reference.astimezone(UTC).date()
    spans: list[tuple[int, int]] = []

    names = tuple(sorted(set(outlets)))
    domain_key: tuple[tuple[str, tuple[str, ...]], ...] = ()
    if outlet_domains:
        known = set(names)
        domain_key = tuple(
            sorted((o, tuple(sorted(set(d)))) for o, d in outlet_domains.items() if o in known)
        )
    groups: list[tuple[str, ...]] = []
    cues: list[tuple[int, int]] = []  # "per", "via" before an outlet: not search terms
    for group, span in _matcher(names, domain_key).find(question):
        spans.append(span)
        cue = _PER.search(question, max(0, span[0] - 10), span[0])
        if cue is not None:
            cues.append(cue.span())
        if group not in groups:
            groups.append(group)

    found = [t for t in find_times(question, ref_day) if not _inside(t, spans)]
    # A quarter of figures is no time, and its words ("q3", "earnings") stay search terms.
    mentions = [t for t in found if t.kind != "fiscal"]
    spans.extend((t.start, t.end) for t in mentions)
    event = None
    if not mentions:
        em = _EVENT.search(question)
        if (
            em is not None
            and not _inside_span(em.span(), spans)
            and not set(terms(em.group("event"))) & META_TERMS
        ):
            rel = " ".join(em.group("rel").lower().split())
            event = EventAnchor(
                "before" if rel in {"before", "prior to", "ahead of"} else "after",
                em.group("event"),
            )

    time_filter: TimeRange | None = None
    preferences: list[TimeRange] = []
    between = _between(question, mentions)
    if between is not None:
        time_filter = between
    elif len(mentions) == 1 and len(groups) < 2 and _restricts(question, mentions[0]):
        t = mentions[0]
        since, until = _apply_relation(_relation(question, t.start), t)
        time_filter = TimeRange(since, until, t.phrase, t.kind)
    else:
        preferences = [TimeRange(t.since, t.until, t.phrase, t.kind) for t in mentions]
    # A filter wholly after the newest article would find nothing: it only ranks.
    if time_filter is not None and time_filter.since and time_filter.since > day_range(ref_day)[1]:
        preferences, time_filter = [time_filter], None

    # (Outlet names are not read for it: "Business Today | Latest Stock Market ...".)
    prefer_recent = bool(_RECENT.search(_blank(question, spans))) and time_filter is None
    if prefer_recent:
        start = day_range(ref_day - timedelta(days=RECENT_DAYS))[0]
        preferences.append(TimeRange(start, None, "recent", "recent"))

    return QueryPlan(
        question=question,
        lexical_terms=tuple(
            t for t in terms(_blank(question, spans + cues)) if t not in META_TERMS
        ),
        outlet_groups=tuple(groups),
        time_filter=time_filter,
        time_preferences=tuple(preferences),
        event=event,
        prefer_recent=prefer_recent,
        spans=tuple(sorted(spans)),
    )


def _relation(question: str, start: int) -> str | None:
    m = _RELATION.search(question[max(0, start - 20) : start])
    return " ".join(m.group("rel").lower().split()) if m else None


def _apply_relation(
    relation: str | None, t: TimeMention
) -> tuple[datetime | None, datetime | None]:
    if relation in {"before", "prior to", "ahead of", "earlier than"}:
        return None, t.since - timedelta(microseconds=1) if t.since else None
    if relation in {"until", "till", "up to"}:
        return None, t.until
    if relation in {"after", "following", "later than"}:
        return (t.until + timedelta(microseconds=1) if t.until else None), None
    if relation == "since":
        return t.since, None
    return t.since, t.until


def _restricts(question: str, t: TimeMention) -> bool:
    """Whether the one time a question names is when its news was published (a filter)
    rather than when something it asks about happened, or a day it only prefers."""
    relation = _relation(question, t.start)
    if _COMPARISON.search(question) or question[t.end : t.end + 2] in {"'s", "’s"}:
        return False  # a time of one side of a comparison, or "last week's game"
    if relation not in {None, "from", "between"}:
        return True  # "before October 5", "since 2023", "after last week"
    if t.kind == "relative":
        return True  # "last week", "this year", "yesterday"
    published = bool(_PUBLISHED_CUE.search(question[max(0, t.start - 40) : t.start]))
    if t.kind in {"year", "quarter"}:
        return published  # "published in 2022", not "spent $26.3 billion in 2021"
    if t.kind in {"month", "week", "part"}:
        return published or not (_dates_a_fact(question, t) or _qualifies_a_noun(question, t))
    return False  # a named day only ranks first


def _dates_a_fact(question: str, t: TimeMention) -> bool:
    """A figure or a change in the month's own clause: "usage soared during December 2022"."""
    before = question[max(0, t.start - 80) : t.start]
    breaks = list(_CLAUSE_BREAK.finditer(before))
    clause = before[breaks[-1].end() :] if breaks else before
    return bool(_FACT_CUE.search(clause))


def _qualifies_a_noun(question: str, t: TimeMention) -> bool:
    """ "its June 2017 launch": a month used as an adjective (not "the December 2023 news")."""
    if t.kind != "month" or not _DETERMINER_BEFORE.search(question[max(0, t.start - 8) : t.start]):
        return False
    after = question[t.end :]
    return bool(_NOUN_AFTER.match(after)) and not _NEWS_AFTER.match(after)


def _between(question: str, mentions: list[TimeMention]) -> TimeRange | None:
    """ "between October 1 and October 15" / "from X to Y", as one range, when those are the
    only two times named."""
    if len(mentions) != 2:
        return None
    a, b = mentions
    gap = question[a.end : b.start].strip().lower()
    rel = _relation(question, a.start)
    paired = (rel == "between" and gap == "and") or (
        rel == "from" and gap in {"to", "until", "through"}
    )
    if paired and a.since is not None and b.until is not None and a.since <= b.until:
        return TimeRange(a.since, b.until, question[a.start : b.end], "between")
    return None


def _inside(t: TimeMention, spans: list[tuple[int, int]]) -> bool:
    return _inside_span((t.start, t.end), spans)


def _inside_span(span: tuple[int, int], spans: list[tuple[int, int]]) -> bool:
    return any(s < span[1] and span[0] < e for s, e in spans)


def _blank(text: str, spans: Sequence[tuple[int, int]]) -> str:
    for s, e in sorted(spans, reverse=True):
        text = text[:s] + " " + text[e:]
    return text
