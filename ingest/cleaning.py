"""Clean plain-text news articles as scrapers save them.

A scrape is one paragraph per line, mixed with page chrome: banners, the headline twice,
timestamps, photo captions and credits, bylines, "Read more" links, share prompts, cookie
and newsletter notices, wire footers. `clean_text_article` drops those lines (recording each
in `CleanedText.removed`), turns the ones that carry metadata into metadata, and keeps every
other line exactly as it was (stripped), because quotes are later checked verbatim against
the body.

The rules are deliberately conservative: a line is noise only if it matches a narrow pattern,
and lines longer than about 25 words are kept unless they are exact repeats or carry an
unmistakable marker (a cookie notice, a caption ending in a photo credit, a wire credits line).

Hostile input cannot make a pattern backtrack: no two parts of one can match the same run of
spaces or words, so each runs in time linear in its input as it is used (anchored, or behind
a word limit). And each sees bounded input: lines over `_MAX_CLASSIFIED_CHARS` are content
without being matched at all. Timestamp lines are read by `retrieval.dates`, whose patterns
keep the same rules and which reads only short text for dates.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import datetime

from retrieval.dates import TimestampLine, parse_timestamp_line

logger = logging.getLogger(__name__)

__all__ = ["CleanedText", "RemovedLine", "clean_text_article"]


@dataclass(frozen=True, slots=True)
class RemovedLine:
    """A line left out of the body, as it was in the input (stripped), and why."""

    line: str
    reason: str


@dataclass(frozen=True, slots=True)
class CleanedText:
    """A cleaned article: `body` holds the kept lines, one paragraph per line."""

    title: str | None
    body: str
    outlet: str | None
    author: str | None
    published: datetime | None
    updated: datetime | None
    url: str | None
    removed: tuple[RemovedLine, ...]


# Beyond this many words a line is prose, not chrome (exceptions are named where they occur).
_MAX_NOISE_WORDS = 25
# A title is short and reads as a headline; a repeated line may be a little longer.
_MAX_TITLE_WORDS = 20
_MAX_REPEATED_TITLE_WORDS = 30
# Non-adjacent repeats are dropped only from this length on, and only finished sentences:
# a repeated standfirst or pull quote is noise, a recurring subheading, list entry
# ("Platforms: Windows, Mac") or interview question is structure.
_MIN_REPEAT_WORDS = 10
# A caption not scraped twice needs this many words: shorter lines above a photo credit
# are mostly section headings ("Decorating or baking sweets" / "(Getty Images)").
_MIN_CAPTION_WORDS = 7
# Date lines without "Published"/"Updated" count as timestamps only this early on; further
# down they are content ("Date: Wednesday, Oct. 4, 2023 Time: 8:30 p.m. ET" for a match).
_HEADER_KEPT_LINES = 3
# Chrome is short (the longest caption in the MultiHop-RAG corpus has 350 characters): a longer
# line is content, and no pattern is run on it.
_MAX_CLASSIFIED_CHARS = 2000


def _words(text: str) -> int:
    return len(text.split())


def _norm(text: str) -> str:
    return " ".join(text.split())


def _ends_with_period(text: str) -> bool:
    return text.rstrip("\"'”’)]»").endswith(".")


def _ends_sentence(text: str) -> bool:
    return text.rstrip("\"'”’)]»").endswith((".", "!", "?", "…"))


def _terms(spec: str) -> frozenset[str]:
    """A set of lowercase terms written "a|b|c", which keeps long vocabularies compact."""
    return frozenset(term.strip() for term in spec.split("|") if term.strip())


# --------------------------------------------------------------------------- names

_NAME_PARTICLES = _terms(
    "de|da|del|della|di|du|van|von|der|den|la|le|bin|ibn|al|el|dos|das|ter|ten"
)
_CONNECTORS = _NAME_PARTICLES | {"and", "&"}
_ROLE_WORDS = _terms(
    "reporter|reporters|correspondent|correspondents|writer|writers|journalist|editor|"
    "editors|contributor|contributors|columnist|staff|senior|chief|special|freelance|"
    "producer|analyst"
)
# "By Reuters": a wire byline names the outlet, not a person.
_AGENCIES = _terms(
    "reuters|afp|ap|upi|dpa|tass|xinhua|sputnik|bloomberg|associated press|"
    "the associated press|agence france-presse"
)


def _is_name(text: str, max_words: int = 5) -> bool:
    """A person's name: 2-5 capitalised words (particles such as "van" allowed)."""
    words = text.split()
    if not 2 <= len(words) <= max_words:
        return False
    for word in words:
        if word.casefold() in _NAME_PARTICLES and word.islower():
            continue
        if not (word[0].isupper() and all(ch.isalpha() or ch in "'’.-" for ch in word)):
            return False
    return True


def _is_org(text: str, max_words: int = 6) -> bool:
    """An organisation's name: a few words, capitalised, no digits, not a job title."""
    words = text.split()
    if not 1 <= len(words) <= max_words or not words[0][0].isupper():
        return False
    if any(ch.isdigit() for ch in text):
        return False
    return not any(w.casefold().strip(",.") in _ROLE_WORDS for w in words)


def _tidy_name(text: str) -> str:
    words = _norm(text).strip(" ,;:-–—|").split()
    names = [w for w in words if w.casefold() not in _CONNECTORS]
    # All-caps bylines ("BY JANE DOE") read better in title case; metadata, not body text.
    if names and all(w.isupper() for w in names):
        words = [w if w.casefold() in _CONNECTORS else w.title() for w in words]
    return " ".join(words)


def _common_outlet(org: str, site: str | None) -> str:
    """ "Sputnik News" + "Sputnik International" -> "Sputnik": the words they start with,
    else the site's name, else the organisation's."""
    if not site:
        return org
    common: list[str] = []
    for a, b in zip(org.split(), site.split(), strict=False):
        if a.casefold() != b.casefold():
            break
        common.append(b)
    return " ".join(common) or site


# --------------------------------------------------------------------------- line patterns

_FIELD_RE = re.compile(r"^(?P<key>[A-Za-z][A-Za-z ]{0,24}?)\s*:\s*(?P<value>.*)$")
_FIELD_KEYS = {
    **dict.fromkeys(["title", "headline"], "title"),
    **dict.fromkeys(["url", "link", "source url", "canonical", "canonical url"], "url"),
    **dict.fromkeys(["author", "authors", "by", "byline", "writer"], "author"),
    **dict.fromkeys(
        [
            "date",
            "published",
            "published at",
            "published on",
            "publish date",
            "published date",
            "date published",
            "publication date",
            "pub date",
            "posted",
            "posted on",
            "created",
        ],
        "published",
    ),
    **dict.fromkeys(
        ["updated", "updated at", "updated on", "last updated", "modified", "last modified"],
        "updated",
    ),
    **dict.fromkeys(["date modified", "date updated"], "updated"),
    **dict.fromkeys(["source", "outlet", "publisher", "site", "site name", "sitename"], "source"),
    # Scraper metadata that CleanedText has no slot for; dropped, but kept in `removed`.
    **dict.fromkeys(
        ["description", "summary", "excerpt", "category", "section", "tags", "keywords"], "other"
    ),
    **dict.fromkeys(["language", "lang", "text", "body", "content", "article"], "other"),
}
_URL_RE = re.compile(r"^https?://\S+$", re.I)

_BANNER_LINES = _terms(
    "advertisement|advertisements|ad|ads|sponsored|sponsored content|promoted|"
    "paid content|subscribe|subscribe now|subscribe today|sign in|sign up|log in|login|"
    "log out|register|register now|create account|my account|account|skip to content|"
    "skip to main content|skip navigation|menu|search|home|close|loading|listen|"
    "listen to this article|comments|show comments|view comments|print|next|previous|"
    "back to top|follow us|download the app|open in app|get the app|trending|trending now|"
    "most read|most popular|latest news|top stories|show more|load more|see more|"
    "continue reading|story continues below|story continues below advertisement|"
    "article continues below|scroll to continue|"
    "advertisement scroll to continue with content|accept|accept all|reject all|i agree|"
    "got it|watch|watch live|live|breaking|breaking news|exclusive|opinion|analysis|video|"
    "photos|gallery|newsletter|newsletters|edition|change edition|cookie settings|ok|"
    "registration was successful"
)
_BANNER_SUBSTRING_RE = re.compile(
    r"registration was successful|skip to (?:main )?content|enable javascript"
    r"|javascript is (?:disabled|required)|your browser does not support"
    r"|(?:story|article) continues below|scroll to continue|already a subscriber"
    r"|(?:sign|log) in to (?:continue|read|comment)|subscribe to (?:continue|read)"
    r"|to continue reading|create a free account|this (?:video|content) is not available"
    r"|thank you for (?:subscribing|registering)|you have (?:successfully )?subscribed"
    r"|^in this article\b|\bfrom the section\b|^listen to this (?:story|article)\b",
    re.I,
)
_READ_TIME_RE = re.compile(
    r"^(?:listen(?: to this article)?\W*)?\d+\s*(?:min|mins|minutes?)\.?(?:\s*read)?$", re.I
)

_READ_MORE_RE = re.compile(
    r"^(?:read more|read also|also read|read next|more reading|related|related (?:articles?"
    r"|stories|coverage|content|news|reading|topics|links?)|see also|more on this(?: story)?"
    r"|recommended(?: reading| for you)?|you (?:may|might) also (?:like|be interested in)"
    r"|further reading)\b\s*(?:$|[:|»›>\-–—]|\.\.\.|…)"
    r"|^(?-i:GO DEEPER)\b",
    re.I,
)

_SOCIAL = _terms(
    "facebook|twitter|x|whatsapp|linkedin|email|e-mail|reddit|telegram|pinterest|print|"
    "copy|link|share|tweet|messenger|flipboard|vk|threads|bluesky|mail"
)
_SHARE_RE = re.compile(
    r"^(?:share(?: this)?(?: (?:article|story|post|page|video|link))?"
    r"|share (?:on|via|to|with) (?:facebook|twitter|x|whatsapp|linkedin|e-?mail|reddit|telegram"
    r"|pinterest|messenger|vk|social media)\b.*"
    r"|click (?:here )?to (?:share|email|print)\b.*|tweet(?: this)?|copy (?:the )?link"
    r"|(?:share )?all sharing options\b.*"
    r"|(?:e-?mail|print) this(?: article| story| page)?"
    r"|follow us on (?:facebook|twitter|x|telegram|instagram|whatsapp|linkedin|google news)\b.*"
    r")\W*$",
    re.I,
)

_NEWSLETTER_RE = re.compile(
    r"\bnewsletters?\b.*\b(?:sign(?:ing)? up|subscrib(?:e|ing)|inbox|delivered|email address"
    r"|register)\b|\b(?:sign(?:ing)? up|subscrib(?:e|ing)|get)\b.*\bnewsletters?\b"
    r"|^(?:enter your e-?mail(?: address)?|sign up (?:for|to) (?:our|the|free|breaking|daily"
    r"|weekly|email)|subscribe (?:to|for) (?:our|the|free|breaking|daily|weekly|email))\b",
    re.I,
)
_COOKIE_RE = re.compile(
    r"^(?:we(?: and our partners)? use cookies|this (?:web)?site uses cookies"
    r"|(?:accept|reject|allow|manage|decline)(?: all)? cookies|cookie (?:policy|settings"
    r"|preferences|consent|notice)|by (?:using|continuing|browsing)\b[^.]{0,80}\bcookies)\b",
    re.I,
)

_WIRE_CREDITS_RE = re.compile(
    r"^\(?\s*(?P<role>additional reporting|reporting|writing|editing|compiled|written|produced"
    r"|translated|graphics?|fact-?checking|research)\s+by\b",
    re.I,
)
_COPYRIGHT_RE = re.compile(r"^(?:©|\(c\)\s|copyright\b)", re.I)
_WIRE_BOILERPLATE_RE = re.compile(
    r"^(?:all rights reserved\W*$|this (?:material|article|story) may not be (?:published"
    r"|reproduced|redistributed)|our standards\s*:|.{0,200}\bcontributed (?:reporting )?to this"
    r" (?:report|story|article)\W*$)",
    re.I,
)
_YEAR_RE = re.compile(r"\b(?:19|20)\d{2}(?:\s*[-–]\s*(?:19|20)?\d{2,4})?\b")

# The spaces after "credits" belong to it: two optional runs of spaces in a row split a long
# run every possible way before failing.
_CREDIT_PREFIX_RE = re.compile(
    r"^(?:©|\(c\)\s|copyright\b"
    r"|(?:photo|image|picture|photograph|illustration|graphic|video|visual)s?\s*(?:credits?\s*)?"
    r"[:|/]"
    r"|(?:photo|image|picture|illustration)s?\s+(?:by|courtesy|via)\b"
    r"|(?:photo\s+|image\s+)?credits?\s*:"
    r"|source\s*:\s*(?:getty|ap\b|reuters|afp|shutterstock|epa))",
    re.I,
)
_AGENCY = (
    r"Getty Images|AP Photo|AP Images|Associated Press|Reuters|REUTERS|AFP|EPA(?:-EFE)?"
    r"|Shutterstock|Alamy|iStock(?:photo)?|Bloomberg|NurPhoto|SOPA Images|Xinhua|Anadolu"
    r"|Sputnik|TASS|PA Images|PA Wire|AP|Pool"
)
_AGENCY_RE = re.compile(rf"\b(?:{_AGENCY})\b")
_AGENCY_ONLY_RE = re.compile(rf"^(?:{_AGENCY})(?:\s*(?:Photo|Images?))?$")
_CREDIT_WORDS = _terms("via|by|and|for|photo|photos|images|image|pool")
# A caption line that ends in its own credit: "... in Washington. (AP Photo/Evan Vucci)",
# "(Photo by Drew Angerer/Getty Images)", "(Evan Bush / NBC News)". A bare "(US/EU)" at the
# end of a sentence is none of these. Possessive `*+`: what a run matched is never handed
# back to the next part (it could not match it anyway), so a long run is scanned once.
_PAREN_CREDIT_RE = re.compile(
    r"\(\s*+(?:(?:AP|AFP|EPA|Reuters|REUTERS|Xinhua|Pool)\s*(?:(?:Photo|Images?)\s*)?/[^()]*+"
    r"|(?:Photo|Image|Picture|Photograph)s?\s*(?:by\b|credit|courtesy|:)[^()]*+"
    r"|(?=[^()]*?\b(?:Getty|Shutterstock|Alamy|iStock))[^()]*+"
    r"|[A-Z][\w'’.-]*+(?:\s++[A-Z][\w'’.-]*+)*+\s++/\s+[A-Z][^()]*+)\)\s*$"
)
_MAX_INLINE_CAPTION_WORDS = 60  # news-agency captions run long; the credit suffix marks them

# Names are whole words: a word never holds a space, so a run of spaces can only be the
# separator between two words (a name that could end inside the run made this quadratic).
_BYLINE_WORDS = r"[^-–—|\s]+(?:\s+[^-–—|\s]+)*?"
_ORG_BYLINE_RE = re.compile(
    rf"^(?P<org>{_BYLINE_WORDS})\s+(?:(?:senior|chief|staff|political|foreign|special)\s+)?"
    r"(?i:reporter|correspondent|writer|journalist|editor|contributor|columnist)\s+"
    rf"(?P<name>{_BYLINE_WORDS})(?:\s+[-–—|]\s+(?P<site>.+))?$"
)
_BY_RE = re.compile(r"^by\s+(?P<rest>.+)$", re.I)
# `(?<!\s)`: a separator is tried from the start of a run of spaces only, not again from
# each space inside it (the leftmost match starts there anyway).
_BYLINE_SPLIT_RE = re.compile(r"(?<!\s)\s+[-–—|•·]\s+|(?:(?<!\s)\s+)?\|\s*")
_NAME_LIST_SPLIT_RE = re.compile(r",\s*(?:and\s+)?|(?<!\s)\s+(?:and|&)\s+")


@dataclass(frozen=True, slots=True)
class _Found:
    reason: str
    stamp: TimestampLine | None = None
    author: str | None = None
    outlet: str | None = None
    footer_outlet: str | None = None
    weak: bool = False  # trusted only near the top


def _copyright_holder(text: str) -> str | None:
    """ "© 2024 The Associated Press. All rights reserved." -> "The Associated Press"."""
    rest = re.sub(r"all rights reserved\.?", " ", text, flags=re.I)
    rest = re.sub(r"^(?:\s|©|\(c\)|copyright\b)+", " ", rest, flags=re.I)
    rest = _YEAR_RE.sub(" ", rest)
    rest = _norm(rest.replace("©", " ")).strip(" .,;:-")
    return rest if rest and _is_org(rest) else None


def _wire_footer(text: str, words: int) -> _Found | None:
    m = _WIRE_CREDITS_RE.match(text)
    if m:
        bracketed = text.startswith("(") and text.endswith(")")
        reporting = m["role"].casefold() in {"reporting", "additional reporting"}
        if (bracketed and words <= 60) or ((reporting or ";" in text) and words <= 40):
            return _Found("wire-footer")
    if _COPYRIGHT_RE.match(text) and words <= 30:
        if re.search(r"photo|image|getty|shutterstock|/", text, re.I):
            return None  # a photo credit, not the story's copyright
        if _YEAR_RE.search(text) or "rights reserved" in text.casefold():
            return _Found("wire-footer", footer_outlet=_copyright_holder(text))
    if words <= _MAX_NOISE_WORDS and _WIRE_BOILERPLATE_RE.match(text):
        return _Found("wire-footer")
    return None


def _is_credit(text: str, words: int) -> bool:
    prefix = _CREDIT_PREFIX_RE.match(text)
    if prefix:
        # "Photo: <caption>" may run on; a bare credit is short, and a longer "Credit: ..."
        # line has body text glued to it.
        captioned = prefix[0][:1].casefold() in {"p", "i", "g", "v"}
        return words <= (_MAX_NOISE_WORDS if captioned else 12)
    if text.startswith("(") and _PAREN_CREDIT_RE.fullmatch(text):
        return words <= _MAX_NOISE_WORDS
    if words > 10 or _ends_sentence(text) or not _AGENCY_RE.search(text):
        return False
    # "Chip Somodevilla/Getty Images", "REUTERS/Evelyn Hockstein": names and agencies only,
    # so that "Reuters/Ipsos poll shows support rising" stays.
    for token in re.split(r"[\s/|]+", text):
        token = token.strip("(),")
        if token and not (token[0].isupper() or token.casefold() in _CREDIT_WORDS):
            return False
    low = text.casefold()
    return (
        "/" in text
        or " via " in low
        or "getty images" in low
        or "ap photo" in low
        or bool(_AGENCY_ONLY_RE.match(text))
    )


def _byline(text: str, words: int) -> _Found | None:
    if words > 15:
        return None
    m = _ORG_BYLINE_RE.match(text)
    if m and _is_org(m["org"]) and _is_name(m["name"]) and (not m["site"] or _is_org(m["site"])):
        site = _norm(m["site"]) if m["site"] else None
        return _Found(
            "byline",
            author=_tidy_name(m["name"]),
            outlet=_common_outlet(_norm(m["org"]), site),
        )
    m = _BY_RE.match(text)
    if not m:
        return None
    pieces = _BYLINE_SPLIT_RE.split(m["rest"], maxsplit=1)
    names, outlet = pieces[0].strip(), (pieces[1].strip() if len(pieces) > 1 else None)
    if "," in names and " and " not in names.rsplit(",", 1)[-1]:
        # "By Jane Doe, CNN": what follows the comma is the outlet or a job title.
        names, after = (part.strip() for part in names.split(",", 1))
        outlet = outlet or after
    if names.casefold() in _AGENCIES:
        return _Found("byline", outlet=_norm(names))
    people = [p for p in _NAME_LIST_SPLIT_RE.split(names) if p]
    if not people or not all(_is_name(p) for p in people):
        return None
    if outlet is not None and not _is_org(outlet):
        outlet = None
    return _Found("byline", author=_tidy_name(names), outlet=outlet and _norm(outlet))


def _is_social_row(text: str) -> bool:
    """ "Facebook Twitter Whatsapp Reddit Email Share": a row of share buttons."""
    names = [w for w in re.split(r"[\s|/·•,]+", text.casefold()) if w]
    return bool(names) and all(w in _SOCIAL for w in names)


def _is_banner(text: str, words: int) -> bool:
    bare = text.casefold().strip(" .!:…>»›|-–—*•·")
    if _norm(bare) in _BANNER_LINES or _READ_TIME_RE.match(bare):
        return True
    return words <= 12 and bool(_BANNER_SUBSTRING_RE.search(text))


def _classify(text: str) -> _Found | None:
    """What kind of noise a line is, judged on the line alone; None when it is content."""
    if len(text) > _MAX_CLASSIFIED_CHARS:
        return None
    words = _words(text)
    found = _wire_footer(text, words)
    if found:
        return found
    if _is_credit(text, words):
        return _Found("credit")
    if words <= _MAX_INLINE_CAPTION_WORDS and _PAREN_CREDIT_RE.search(text):
        return _Found("caption")
    found = _byline(text, words)
    if found:
        return found
    if words <= _MAX_NOISE_WORDS:
        stamp = parse_timestamp_line(text, strict=True)
        if stamp is not None:
            return _Found("timestamp", stamp=stamp, weak=not stamp.keyword)
        if _READ_MORE_RE.match(text):
            return _Found("read-more")
        if _SHARE_RE.match(text):
            return _Found("share")
    if words <= 12 and _is_social_row(text):
        return _Found("share")
    if words <= 30 and _NEWSLETTER_RE.search(text):
        return _Found("newsletter")
    # Cookie notices run long but start unmistakably.
    if words <= 60 and _COOKIE_RE.match(text):
        return _Found("cookie")
    if _is_banner(text, words):
        return _Found("banner")
    return None


# --------------------------------------------------------------------------- the cleaner


@dataclass(slots=True)
class _Line:
    text: str
    reason: str | None = None
    repeated: bool = False  # the next line was the same text


@dataclass(slots=True)
class _Meta:
    title: str | None = None
    url: str | None = None
    author: str | None = None
    outlet_field: str | None = None
    outlet_byline: str | None = None
    outlet_footer: str | None = None
    published: datetime | None = None
    published_timed: bool = False
    updated: datetime | None = None
    updated_timed: bool = False

    def add_stamp(self, stamp: TimestampLine) -> None:
        # First wins, except that a time of day refines an earlier date-only value.
        if stamp.published and _better(self.published, self.published_timed, stamp.published):
            self.published, self.published_timed = stamp.published, stamp.published_timed
        if stamp.updated and _better(self.updated, self.updated_timed, stamp.updated):
            self.updated, self.updated_timed = stamp.updated, stamp.updated_timed

    def add(self, found: _Found) -> None:
        if found.stamp:
            self.add_stamp(found.stamp)
        self.author = self.author or found.author
        self.outlet_byline = self.outlet_byline or found.outlet
        self.outlet_footer = self.outlet_footer or found.footer_outlet


def _better(current: datetime | None, current_timed: bool, new: datetime) -> bool:
    if current is None:
        return True
    return not current_timed and new.date() == current.date() and new != current


def _apply_field(text: str, meta: _Meta) -> bool:
    """Takes a scraper's "Key: value" line into `meta`; False when it is not one."""
    if _URL_RE.match(text):
        meta.url = meta.url or text
        return True
    m = _FIELD_RE.match(text)
    kind = _FIELD_KEYS.get(_norm(m["key"]).casefold()) if m else None
    if m is None or kind is None:
        return False
    value = m["value"].strip()
    if not value:
        return True
    if kind == "title":
        meta.title = meta.title or value
    elif kind == "url":
        meta.url = meta.url or value
    elif kind == "author":
        meta.author = meta.author or _tidy_name(re.sub(r"^by\s+", "", value, flags=re.I))
    elif kind in ("published", "updated"):
        stamp = parse_timestamp_line(
            value, strict=False, default="updated" if kind == "updated" else "published"
        )
        if stamp:
            meta.add_stamp(stamp)
    elif kind == "source":
        if _URL_RE.match(value):
            meta.url = meta.url or value
        else:
            meta.outlet_field = meta.outlet_field or value
    return True


# "... by 2030. Can it be done?": two sentences make a standfirst, not a headline.
_SENTENCE_BREAK_RE = re.compile(
    r"(?<!\b(?:Mr|Ms|Dr|St|Jr|Sr|vs))(?<!\bMrs|\bGov|\bSen|\bRep|\bGen|\bCol)"
    r"(?<=\w\w)\.\s+[A-Z]"
)


def _is_titleish(text: str, *, repeated: bool) -> bool:
    limit = _MAX_REPEATED_TITLE_WORDS if repeated else _MAX_TITLE_WORDS
    return (
        2 <= _words(text) <= limit
        and not text[0].islower()
        and not text.rstrip("\"'”’").endswith((".", ":", ";", ","))
        and not _SENTENCE_BREAK_RE.search(text)
    )


def _first_pass(lines: list[_Line], meta: _Meta) -> None:
    """Fields at the top, adjacent repeats and everything recognisable on its own."""
    kept = 0
    first_kept_titleish = False
    previous: _Line | None = None
    for line in lines:
        if previous is not None and _norm(line.text) == _norm(previous.text):
            line.reason = "duplicate"
            previous.repeated = True
            continue
        previous = line
        found = _classify(line.text)
        # Scraper fields sit above the text, at most after the headline. A dated field
        # ("Updated: Jan 26, 2022, 6:14 p.m. ET") is told as a timestamp.
        in_header = kept == 0 or (kept == 1 and first_kept_titleish)
        dated = found is not None and found.reason == "timestamp"
        if in_header and not dated and _apply_field(line.text, meta):
            line.reason = "field"
            continue
        if found is not None and found.weak and kept >= _HEADER_KEPT_LINES:
            found = None  # a bare date further down may be a timeline's heading
        if found is not None:
            line.reason = found.reason
            meta.add(found)
            continue
        kept += 1
        if kept == 1:
            first_kept_titleish = _is_titleish(line.text, repeated=False)


def _mark_captions(lines: list[_Line], meta: _Meta) -> None:
    """A short line (and its repeats) right above a photo credit is that photo's caption."""
    for i, line in enumerate(lines):
        if line.reason != "credit":
            continue
        j = i - 1
        while j >= 0 and lines[j].reason == "duplicate":
            j -= 1
        if j < 0 or lines[j].reason is not None:
            continue
        candidate = lines[j]
        words = _words(candidate.text)
        if words > _MAX_NOISE_WORDS:
            continue
        # A finished sentence may be the body's last paragraph before an image; captions
        # mostly lack the full stop, or were scraped twice (alt text and caption).
        if not candidate.repeated and (
            _ends_sentence(candidate.text) or words < _MIN_CAPTION_WORDS
        ):
            continue
        # Nothing kept above it: it is more likely the headline with the lead image below.
        if meta.title is None and not any(other.reason is None for other in lines[:j]):
            continue
        candidate.reason = "caption"


def _mark_repeats(lines: list[_Line]) -> None:
    """A long paragraph seen before (a repeated standfirst, a pull quote) is kept once."""
    seen: set[str] = set()
    for line in lines:
        if line.reason is not None:
            continue
        key = _norm(line.text)
        if key in seen and _words(key) >= _MIN_REPEAT_WORDS and _ends_with_period(key):
            line.reason = "duplicate"
        seen.add(key)


def _mark_author_lines(lines: list[_Line], meta: _Meta) -> None:
    """The author's name alone on a line is byline residue."""
    if not meta.author:
        return
    names = {_norm(p).casefold() for p in _NAME_LIST_SPLIT_RE.split(meta.author) if p}
    names.add(_norm(meta.author).casefold())
    for line in lines:
        if line.reason is None and _norm(line.text).casefold() in names:
            line.reason = "byline"


def _mark_title(lines: list[_Line], meta: _Meta) -> None:
    kept = [line for line in lines if line.reason is None]
    if meta.title is None and kept:
        first = kept[0]
        if _is_titleish(first.text, repeated=first.repeated):
            meta.title = first.text
        else:
            # A headline scraped twice, below a kicker or a stray line.
            for line in kept[1:_HEADER_KEPT_LINES]:
                if line.repeated and _is_titleish(line.text, repeated=True):
                    meta.title = line.text
                    break
    if meta.title is not None:
        title = _norm(meta.title).casefold()
        for line in kept[:_HEADER_KEPT_LINES]:
            if _norm(line.text).casefold() == title:
                line.reason = "title"


def clean_text_article(raw: str) -> CleanedText:
    """Cleans one scraped plain-text article; see the module docstring."""
    lines = [_Line(text) for text in (s.strip() for s in raw.lstrip("\ufeff").splitlines()) if text]
    meta = _Meta()
    _first_pass(lines, meta)
    _mark_captions(lines, meta)
    _mark_repeats(lines)
    _mark_author_lines(lines, meta)
    _mark_title(lines, meta)

    body = "\n".join(line.text for line in lines if line.reason is None)
    removed = tuple(RemovedLine(line.text, line.reason) for line in lines if line.reason)
    logger.debug(
        "cleaned article: %d lines kept, %d removed", len(lines) - len(removed), len(removed)
    )
    return CleanedText(
        title=meta.title,
        body=body,
        outlet=meta.outlet_field or meta.outlet_byline or meta.outlet_footer,
        author=meta.author,
        published=meta.published,
        updated=meta.updated,
        url=meta.url,
        removed=removed,
    )
