"""What a question says about where and when to look: outlets it names, time it names,
whether it wants the latest news, and the words left to search for.

Pure functions of the question, the outlets in the index and a reference time (the newest
article's date, not the wall clock, so that an old corpus still answers "last week"
sensibly). No model, no index access: the answerer turns a `QueryPlan` into searches.

Policy, chosen so that a misread phrase costs ranking, not recall (questions name many times
that are not publication times: "spent $26.3 billion in 2021", "compared with last season"):
- Outlets: recognised against the index's own outlet names (and their short forms: "Cnbc"
  for "Cnbc | World Business News Leader", "The Independent" for its sections), written with
  capitals. A one-word name that is also an ordinary word ("Fortune", "Wired") counts only
  next to a cue ("according to", "reported by", "article", quotes, a list of outlets).
- Time, as a filter: when the question names one time and it is relative ("last week",
  "this year", "yesterday"), or comes with a relation ("before October 5", "since 2023"),
  or follows a word about publishing ("published in November 2023", "news from October",
  "what happened in 2023"); "between X and Y" likewise.
- Time, as a preference (those articles rank first, others still count): a named day
  ("on October 31, 2023"), any other month or year, every time in a question that names
  several or that compares reports or outlets (the time belongs to one side), an event
  ("before the trial", dated by the index) and "latest"/"now" (the last 30 days before the
  newest article).
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache

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
_CUE_BEFORE = re.compile(
    r"(?:according\s+to|reported\s+by|reports?\s+(?:by|from|in)|published\s+(?:by|in|on)|"
    r"written\s+(?:by|for)|article\s+(?:by|from|in|on)|story\s+(?:by|from|in)|"
    r"\bby|\bfrom|\bin|\bat|\bon)\s*(?:both\s+|the\s+)?['\"“‘]?$",
    re.IGNORECASE,
)
_CUE_AFTER = re.compile(
    r"^['\"”’]?(?:'s|’s)?\s*(?:article|report|reported|reports|reporting|story|stories|piece|"
    r"coverage|published|says|said|wrote|writes|notes|noted|claims|claimed|headline|"
    r"journalist|writer|editor|columnist|review|analysis|\(|,\s*(?:and|while|but))\b",
    re.IGNORECASE,
)

_LIST_GAP = re.compile(r"['\"”’]?\s*(?:,|,?\s*and|,?\s*or|&)\s*(?:the\s+)?['\"“‘]?", re.I)

_MONTHS = {
    name: i
    for i in range(1, 13)
    for name in (calendar.month_name[i].lower(), calendar.month_abbr[i].lower())
}
_MONTHS["sept"] = 9
_MONTH = r"(?P<month>" + "|".join(sorted(_MONTHS, key=len, reverse=True)) + r")\.?"
_DAY = r"(?P<day>\d{1,2})(?:st|nd|rd|th)?"
_YEAR = r"(?P<year>(?:19|20)\d{2})"
_DATE_PATTERNS = (
    re.compile(rf"\b{_MONTH}\s+{_DAY}(?:,?\s+{_YEAR})?\b", re.IGNORECASE),
    re.compile(rf"\b{_DAY}\s+(?:of\s+)?{_MONTH}(?:,?\s+{_YEAR})?\b", re.IGNORECASE),
    re.compile(r"\b(?P<iso>(?:19|20)\d{2}-\d{2}-\d{2})\b"),
)
_PERIOD_CUE = r"(?P<pre>in|during|throughout|since|until|before|after)\s+"
_MONTH_YEAR = re.compile(rf"\b{_MONTH}\s*,?\s+{_YEAR}\b", re.I)
_MONTH_ALONE = re.compile(rf"\b{_PERIOD_CUE}{_MONTH}\b", re.I)
_YEAR_ALONE = re.compile(rf"\b{_PERIOD_CUE}{_YEAR}\b", re.I)
_RELATIVE = re.compile(
    r"\b(?P<rel>today|yesterday|"
    r"(?:this|last|past)\s+(?:week|month|year)|"
    r"(?:in\s+)?the\s+(?:past|last)\s+(?P<n>\d{1,3}|few|couple\s+of)?\s*(?P<unit>days?|weeks?|months?)|"
    r"(?:last|past)\s+(?P<n2>\d{1,3})\s+(?P<unit2>days?|weeks?|months?))\b",
    re.IGNORECASE,
)
_RELATION = re.compile(
    r"\b(?P<rel>before|prior\s+to|ahead\s+of|until|till|up\s+to|after|following|since|"
    r"later\s+than|earlier\s+than|between|from)\s+$",
    re.IGNORECASE,
)
_EVENT = re.compile(
    r"\b(?P<rel>before|prior\s+to|ahead\s+of|after|following|since)\s+(?P<event>the\s+[a-z][\w'’-]*(?:\s+[a-z][\w'’-]*){0,2}?)(?=\s*(?:[,.?!;]|$|\b(?:and|or|but|"
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
# Asking for the latest state of things; not "recently" or "now" inside a description
# ("who recently joined", "is now facing charges"), which say nothing about news time.
_RECENT = re.compile(
    r"\b(?:latest|newest|most\s+recent(?:ly)?|right\s+now|as\s+of\s+now|these\s+days|"
    r"at\s+the\s+moment|now(?=\s*(?:[?.!]|$)))",
    re.IGNORECASE,
)


@dataclass(frozen=True, slots=True)
class TimeRange:
    """[since, until] in UTC; either end may be open. `phrase` is the text it came from."""

    since: datetime | None
    until: datetime | None
    phrase: str = ""


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
    # A hard restriction from the question, if it names exactly one period.
    time_filter: TimeRange | None = None
    # Times the question names that only make articles of those times preferred.
    time_preferences: tuple[TimeRange, ...] = ()
    event: EventAnchor | None = None
    prefer_recent: bool = False
    spans: tuple[tuple[int, int], ...] = field(default=(), repr=False)


# --- outlets ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Alias:
    outlets: tuple[str, ...]
    needs_cue: bool


class OutletMatcher:
    """Finds the index's outlets in a question."""

    def __init__(self, outlets: Sequence[str]) -> None:
        by_alias: dict[str, set[str]] = {}
        for outlet in outlets:
            for alias in outlet_aliases(outlet):
                by_alias.setdefault(alias.casefold(), set()).add(outlet)
        self._aliases = {
            key: _Alias(tuple(sorted(names)), _needs_cue(key, names))
            for key, names in by_alias.items()
        }
        alternatives = sorted(self._aliases, key=len, reverse=True)
        self._pattern = (
            re.compile(
                r"(?<![\w.])(" + "|".join(re.escape(a) for a in alternatives) + r")(?![\w])",
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
        for match in self._pattern.finditer(question):
            text = match.group(1)
            alias = self._aliases[text.casefold()]
            if not _capitalised(text):
                continue
            # "reported by both The Verge and Engadget": the list carries the cue.
            listed = bool(found) and _LIST_GAP.fullmatch(question[found[-1][1][1] : match.start(1)])
            if (
                alias.needs_cue
                and not listed
                and not _has_cue(question, match.start(1), match.end(1), text)
            ):
                continue
            found.append((alias.outlets, match.span(1)))
        return found


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


def _needs_cue(alias: str, names: set[str]) -> bool:
    """One ordinary-looking word ("fortune", "wired", "polygon") may be just a word."""
    words = alias.split()
    if len(words) > 1:
        return False
    originals = {n for n in names}
    # An internal capital, a digit or a dot ("TechCrunch", "CBSSports.com") marks a name.
    for name in originals:
        for token in name.split():
            if token.casefold().startswith(alias) and (
                any(c.isupper() for c in token[1:]) or not token.isalpha()
            ):
                return False
    return True


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


def _has_cue(question: str, start: int, end: int, text: str) -> bool:
    before = question[max(0, start - 40) : start]
    after = question[end : end + 30]
    if before.endswith(("'", '"', "“", "‘")) and after.startswith(("'", '"', "”", "’")):
        return True
    if text.isupper() and len(text) > 1:
        return True
    return bool(_CUE_BEFORE.search(before) or _CUE_AFTER.search(after))


@lru_cache(maxsize=8)
def _matcher(outlets: tuple[str, ...]) -> OutletMatcher:
    return OutletMatcher(outlets)


# --- time ------------------------------------------------------------------------------------


def _day_range(d: date) -> tuple[datetime, datetime]:
    return datetime.combine(d, time.min, tzinfo=UTC), datetime.combine(d, time.max, tzinfo=UTC)


def _month_range(year: int, month: int) -> tuple[datetime, datetime]:
    last = calendar.monthrange(year, month)[1]
    return _day_range(date(year, month, 1))[0], _day_range(date(year, month, last))[1]


def _year_for(month: int, day: int, reference: date) -> int:
    """A date without a year is the latest such date not after the reference."""
    year = reference.year
    try:
        if date(year, month, day) > reference:
            year -= 1
    except ValueError:
        pass
    return year


@dataclass(frozen=True, slots=True)
class _TimeMention:
    start: int
    end: int
    since: datetime | None
    until: datetime | None
    kind: str  # "day", "period" (a month or a year) or "relative" ("last week")
    phrase: str


def _find_dates(question: str, reference: date) -> list[_TimeMention]:
    """Days, months, years and relative periods, without overlap, in order."""
    found: list[_TimeMention] = []

    def free(s: int, e: int) -> bool:
        return all(e <= m.start or s >= m.end for m in found)

    for pattern in _DATE_PATTERNS:
        for m in pattern.finditer(question):
            if not free(*m.span()):
                continue
            try:
                if m.groupdict().get("iso"):
                    day = date.fromisoformat(m.group("iso"))
                else:
                    month = _MONTHS[m.group("month").lower().rstrip(".")]
                    dnum = int(m.group("day"))
                    year = int(m.group("year")) if m.group("year") else None
                    day = date(year or _year_for(month, dnum, reference), month, dnum)
            except ValueError:
                continue
            since, until = _day_range(day)
            found.append(_TimeMention(*m.span(), since, until, "day", m.group()))
    for m in _MONTH_YEAR.finditer(question):
        if free(*m.span()):
            since, until = _month_range(int(m.group("year")), _MONTHS[m.group("month").lower()])
            found.append(_TimeMention(*m.span(), since, until, "period", m.group()))
    for m in _MONTH_ALONE.finditer(question):
        s = m.start("month")
        if free(s, m.end()):
            month = _MONTHS[m.group("month").lower()]
            year = reference.year if month <= reference.month else reference.year - 1
            since, until = _month_range(year, month)
            found.append(_TimeMention(s, m.end(), since, until, "period", m.group("month")))
    for m in _YEAR_ALONE.finditer(question):
        s = m.start("year")
        if free(s, m.end()):
            year = int(m.group("year"))
            since, until = _month_range(year, 1)[0], _month_range(year, 12)[1]
            found.append(_TimeMention(s, m.end(), since, until, "period", m.group("year")))
    for m in _RELATIVE.finditer(question):
        if free(*m.span()):
            rng = _relative(m, reference)
            if rng is not None:
                found.append(_TimeMention(*m.span(), rng[0], rng[1], "relative", m.group()))
    return sorted(found, key=lambda t: t.start)


def _relative(m: re.Match[str], reference: date) -> tuple[datetime, datetime] | None:
    rel = " ".join(m.group("rel").lower().split())
    end = _day_range(reference)[1]
    if rel == "today":
        return _day_range(reference)
    if rel == "yesterday":
        return _day_range(reference - timedelta(days=1))
    word = rel.split()
    if word[0] in {"this", "last"} and len(word) == 2:
        unit = word[1]
        if word[0] == "this":
            if unit == "week":
                start = reference - timedelta(days=reference.weekday())
            elif unit == "month":
                start = reference.replace(day=1)
            else:
                start = reference.replace(month=1, day=1)
            return _day_range(start)[0], end
        # "last week/month/year": the previous calendar one.
        if unit == "week":
            monday = reference - timedelta(days=reference.weekday() + 7)
            return _day_range(monday)[0], _day_range(monday + timedelta(days=6))[1]
        if unit == "month":
            prev = reference.replace(day=1) - timedelta(days=1)
            return _month_range(prev.year, prev.month)
        return (
            _day_range(date(reference.year - 1, 1, 1))[0],
            _day_range(date(reference.year - 1, 12, 31))[1],
        )
    # "past week", "the last 3 days", "in the past few weeks": rolling, up to the reference.
    n_text = (m.group("n") or m.group("n2") or "").lower()
    unit = (m.group("unit") or m.group("unit2") or (word[1] if len(word) > 1 else "")).lower()
    n = int(n_text) if n_text.isdigit() else (3 if n_text in {"few", "couple of"} else 1)
    if n_text == "couple of":
        n = 2
    days = {"day": 1, "week": 7, "month": 30, "year": 365}[unit.rstrip("s")] * n
    return _day_range(reference - timedelta(days=days))[0], end


def _relation(question: str, start: int) -> str | None:
    m = _RELATION.search(question[max(0, start - 20) : start])
    return " ".join(m.group("rel").lower().split()) if m else None


def _apply_relation(
    relation: str | None, t: _TimeMention
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


# --- the plan --------------------------------------------------------------------------------


def understand(question: str, *, outlets: Sequence[str], reference: datetime) -> QueryPlan:
    """Read outlets, time and recency out of a question (see the module docstring)."""
    ref_day = reference.astimezone(UTC).date()
    spans: list[tuple[int, int]] = []

    groups: list[tuple[str, ...]] = []
    for group, span in _matcher(tuple(sorted(set(outlets)))).find(question):
        spans.append(span)
        if group not in groups:
            groups.append(group)

    mentions = [t for t in _find_dates(question, ref_day) if not _inside(t, spans)]
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
        time_filter = TimeRange(since, until, t.phrase)
    else:
        preferences = [TimeRange(t.since, t.until, t.phrase) for t in mentions]

    # (Outlet names are not read for it: "Business Today | Latest Stock Market ...".)
    prefer_recent = bool(_RECENT.search(_blank(question, spans))) and time_filter is None
    if prefer_recent:
        start = _day_range(ref_day - timedelta(days=RECENT_DAYS))[0]
        preferences.append(TimeRange(start, None, "recent"))

    return QueryPlan(
        question=question,
        lexical_terms=tuple(t for t in terms(_blank(question, spans)) if t not in META_TERMS),
        outlet_groups=tuple(groups),
        time_filter=time_filter,
        time_preferences=tuple(preferences),
        event=event,
        prefer_recent=prefer_recent,
        spans=tuple(sorted(spans)),
    )


def _restricts(question: str, t: _TimeMention) -> bool:
    """Whether the one time a question names is when its news was published (a filter)
    rather than when something it asks about happened, or a day it only prefers."""
    relation = _relation(question, t.start)
    if _COMPARISON.search(question) or question[t.end : t.end + 2] in {"'s", "’s"}:
        return False  # a time of one side of a comparison, or "last week's game"
    if relation not in {None, "from", "between"}:
        return True  # "before October 5", "since 2023", "after last week"
    if t.kind == "relative":
        return True  # "last week", "this year", "yesterday"
    if t.kind == "period":
        return bool(_PUBLISHED_CUE.search(question[max(0, t.start - 40) : t.start]))
    return False  # a named day only ranks first


def _between(question: str, mentions: list[_TimeMention]) -> TimeRange | None:
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
        return TimeRange(a.since, b.until, question[a.start : b.end])
    return None


def _inside(t: _TimeMention, spans: list[tuple[int, int]]) -> bool:
    return _inside_span((t.start, t.end), spans)


def _inside_span(span: tuple[int, int], spans: list[tuple[int, int]]) -> bool:
    return any(s < span[1] and span[0] < e for s, e in spans)


def _blank(text: str, spans: Sequence[tuple[int, int]]) -> str:
    for s, e in sorted(spans, reverse=True):
        text = text[:s] + " " + text[e:]
    return text
