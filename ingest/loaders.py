"""Turn files (or uploaded bytes, or pasted text) into `Article`s: the entry points and the
reader of each format (plain text through the cleaner, HTML pages through trafilatura, JSON
and JSON Lines collections). Bytes become text in `ingest.decoding`; which files a batch
reads is `ingest.paths`.

Bad input never raises: each file, or each item of a collection, becomes either a `Loaded`
or a `LoadFailure` whose `reason` is fit to show a user as it is. That holds for hostile input
too (nesting deep enough to exhaust the stack, out-of-range dates, text that is not Unicode):
one such item fails alone, and the rest of its batch loads.
"""

from __future__ import annotations

import json
import logging
import re
import stat
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Literal

from trafilatura import bare_extraction, load_html

from ingest.cleaning import clean_text_article
from ingest.decoding import decode_text
from retrieval.dates import DatedValue, parse_page_time, parse_timestamp, to_utc
from retrieval.errors import InputError
from retrieval.models import GLOBAL_SCOPE, Article

logger = logging.getLogger(__name__)

SUPPORTED_SUFFIXES = (".txt", ".text", ".md", ".html", ".htm", ".json", ".jsonl", ".ndjson")

Kind = Literal["text", "html", "json", "jsonl"]

_KIND_BY_SUFFIX: dict[str, Kind] = {
    ".txt": "text",
    ".text": "text",
    ".md": "text",
    ".html": "html",
    ".htm": "html",
    ".json": "json",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
}

_MAX_BYTES_SETTING = "NEWSBOT_MAX_FILE_BYTES"
_UNTITLED = "Untitled article"

_JSON_ARRAY_START = re.compile(r"\s*\[\s*[\[{\]]")
_JSON_OBJECT_START = re.compile(r'\s*\{\s*["}]')
# Possessive: a comment ends at its first "-->" for good; letting it stretch over the next
# ones on a failed match made a row of comments exponential.
_HTML_START = re.compile(
    r"\s*+(?:<!--.*?-->\s*+)*+<(?:!doctype\s+html|html|head|body|article)\b", re.I | re.S
)

_BODY_KEYS = ("body", "text", "content")
_OUTLET_KEYS = ("source", "outlet", "site_name")
_DATE_KEYS = ("published_at", "date", "published")
_UPDATED_KEYS = ("updated_at", "updated")

_MIN_HTML_PARAGRAPH = 40
# Below this many characters, precision-mode extraction is double-checked in recall mode.
_SHORT_BODY_CHARS = 1000
_TABLE_RULE = re.compile(r":?-+:?|")


@dataclass(frozen=True, slots=True)
class Loaded:
    """One article read from `source`."""

    source: str  # file path (and "#line N" / "[i]" for items of a collection)
    article: Article


@dataclass(frozen=True, slots=True)
class LoadFailure:
    """One file or item that could not be loaded, and why (in words fit for the user)."""

    source: str
    reason: str

    @property
    def message(self) -> str:
        return f"{self.source}: {self.reason}"

    def as_error(self) -> InputError:
        return InputError(self.message)


LoadItem = Loaded | LoadFailure


# --------------------------------------------------------------------------- entry points


def load_file(path: Path, *, max_bytes: int, scope: str = GLOBAL_SCOPE) -> list[LoadItem]:
    """Read one file; a collection (.json/.jsonl) gives one item per article."""
    source = str(path)
    try:
        st = path.stat()
    except FileNotFoundError:
        return [LoadFailure(source, "file not found")]
    except OSError as exc:
        return [LoadFailure(source, f"cannot read file: {exc.strerror or exc}")]
    except ValueError:  # the only one stat() raises: a NUL in the name
        return [LoadFailure(source, "cannot read file: its name contains a NUL character")]
    if stat.S_ISDIR(st.st_mode):
        return [LoadFailure(source, "is a directory, not a file")]
    if not stat.S_ISREG(st.st_mode):
        return [LoadFailure(source, "not a regular file")]
    suffix = path.suffix.lower()
    if suffix and suffix not in _KIND_BY_SUFFIX:
        return [LoadFailure(source, _unsupported(suffix))]
    if st.st_size > max_bytes:
        return [LoadFailure(source, _too_big(st.st_size, max_bytes))]
    try:
        with path.open("rb") as fh:
            # Read one byte past the limit: the file may have grown since stat().
            data = fh.read(max_bytes + 1)
    except OSError as exc:
        return [LoadFailure(source, f"cannot read file: {exc.strerror or exc}")]
    if len(data) > max_bytes:
        return [LoadFailure(source, _too_big(len(data), max_bytes))]
    items = _load_data(data, _KIND_BY_SUFFIX.get(suffix), source=source, scope=scope, url=None)
    logger.debug("loaded %s: %d item(s)", source, len(items))
    return items


def load_bytes(
    data: bytes,
    *,
    name: str,
    max_bytes: int,
    scope: str = GLOBAL_SCOPE,
    url: str | None = None,
) -> list[LoadItem]:
    """Load an upload (e.g. a Discord attachment). The type comes from `name`'s suffix, or is
    sniffed from the content when the name has none."""
    if len(data) > max_bytes:
        return [LoadFailure(name, _too_big(len(data), max_bytes))]
    suffix = Path(name).suffix.lower()
    if suffix and suffix not in _KIND_BY_SUFFIX:
        return [LoadFailure(name, _unsupported(suffix))]
    return _load_data(data, _KIND_BY_SUFFIX.get(suffix), source=name, scope=scope, url=url)


def article_from_text(
    text: str,
    *,
    title: str | None = None,
    url: str | None = None,
    outlet: str | None = None,
    author: str | None = None,
    published: datetime | None = None,
    scope: str = GLOBAL_SCOPE,
    source: str = "text",
) -> LoadItem:
    """Pasted text, cleaned with `clean_text_article`; explicit arguments win over what the
    cleaner found. Without any title, the body's first line (shortened) stands in."""
    try:
        return Loaded(
            source,
            _text_article(
                text,
                fallback_title=None,
                scope=scope,
                title=title,
                url=url,
                outlet=outlet,
                author=author,
                published=published,
            ),
        )
    except InputError as exc:
        return LoadFailure(source, exc.user_message)
    except _HOSTILE_INPUT_ERRORS as exc:
        return _hostile_input_failure(source, exc)


def extract_html(
    html: str | bytes,
    *,
    url: str | None = None,
    scope: str = GLOBAL_SCOPE,
    source: str,
) -> LoadItem:
    """Extract the main article of an HTML page with trafilatura."""
    try:
        text = decode_text(html, html=True) if isinstance(html, bytes) else html
        return Loaded(source, _html_article(text, url=url, scope=scope, source=source))
    except InputError as exc:
        return LoadFailure(source, exc.user_message)
    except _HOSTILE_INPUT_ERRORS as exc:
        return _hostile_input_failure(source, exc)


# --------------------------------------------------------------------------- failures

# What hostile or broken input can raise from deep in a parser: stack exhaustion by deep
# nesting, dates beyond datetime's range, text no encoding can write. Each fails its own
# item; anything else is a bug.
_HOSTILE_INPUT_ERRORS = (RecursionError, OverflowError, UnicodeError)

_HOSTILE_REASONS: tuple[tuple[type[Exception], str], ...] = (
    (RecursionError, "nested too deeply to read: remove the deep nesting and try again"),
    (OverflowError, "holds a number or date too large to read: correct it and try again"),
    (
        UnicodeError,
        "holds text that is not valid Unicode (such as a lone surrogate, \\ud800): "
        "fix or remove it and try again",
    ),
)


def _hostile_input_failure(source: str, exc: Exception) -> LoadFailure:
    """`source`'s failure for one of `_HOSTILE_INPUT_ERRORS`, with what to do about it."""
    logger.warning("could not load %s", source, exc_info=exc)
    reason = next(text for kind, text in _HOSTILE_REASONS if isinstance(exc, kind))
    return LoadFailure(source, reason)


# --------------------------------------------------------------------------- dispatch


def _load_data(
    data: bytes, kind: Kind | None, *, source: str, scope: str, url: str | None
) -> list[LoadItem]:
    try:
        text = decode_text(data, html=kind == "html")
        kind = kind or _sniff(text)
        if kind == "json":
            return list(_json_items(text, source=source, scope=scope))
        if kind == "jsonl":
            return list(_jsonl_items(text, source=source, scope=scope))
        if kind == "html":
            return [Loaded(source, _html_article(text, url=url, scope=scope, source=source))]
        article = _text_article(text, fallback_title=_title_from_name(source), scope=scope, url=url)
        return [Loaded(source, article)]
    except InputError as exc:
        return [LoadFailure(source, exc.user_message)]
    except _HOSTILE_INPUT_ERRORS as exc:
        return [_hostile_input_failure(source, exc)]


def _sniff(text: str) -> Kind:
    head = text[:2000]
    if _JSON_ARRAY_START.match(head):
        return "json"
    if _JSON_OBJECT_START.match(head):
        lines = [line.strip() for line in text.splitlines() if line.strip()]
        one_per_line = len(lines) > 1 and all(
            line.startswith("{") and line.endswith("}") for line in lines
        )
        return "jsonl" if one_per_line else "json"
    if _HTML_START.match(head):
        return "html"
    return "text"


# --------------------------------------------------------------------------- plain text


def _text_article(
    text: str,
    *,
    fallback_title: str | None,
    scope: str,
    title: str | None = None,
    url: str | None = None,
    outlet: str | None = None,
    author: str | None = None,
    published: datetime | None = None,
) -> Article:
    if not text.strip():
        raise InputError("empty text")
    cleaned = clean_text_article(text.replace("\r\n", "\n").replace("\r", "\n"))
    body = cleaned.body.strip()
    if not body:
        raise InputError("article has no body text")
    final_title = (
        _clean_str(title) or _clean_str(cleaned.title) or fallback_title or _title_from_body(body)
    )
    return Article(
        title=final_title,
        body=body,
        outlet=_clean_str(outlet) or _clean_str(cleaned.outlet),
        author=_clean_str(author) or _clean_str(cleaned.author),
        published=to_utc(published) or to_utc(cleaned.published),
        updated=to_utc(cleaned.updated),
        url=_clean_str(url) or _clean_str(cleaned.url),
        scope=scope,
    )


def _title_from_name(source: str) -> str:
    """A file's stem, humanised: "nato-written_response.txt" -> "Nato written response"."""
    stem = Path(source).stem
    words = " ".join(re.sub(r"[-_.+]+", " ", stem).split())
    return words[:1].upper() + words[1:] if words else _UNTITLED


def _title_from_body(body: str, limit: int = 80) -> str:
    first = body.split("\n", 1)[0].strip()
    if len(first) <= limit:
        return first or _UNTITLED
    cut = first[: limit - 1].rsplit(" ", 1)[0].rstrip(" ,;:-")
    return (cut or first[: limit - 1]) + "…"


# --------------------------------------------------------------------------- HTML


def _html_article(html: str, *, url: str | None, scope: str, source: str) -> Article:
    if not html.strip():
        raise InputError("empty file")
    if not re.search(r"<html\b", html[:4096], re.I):
        # trafilatura rejects bare fragments as "not HTML"; its docs say to wrap them.
        html = f"<html><body>{html}</body></html>"
    published_meta: DatedValue | None = None
    updated_meta: DatedValue | None = None
    doc = None
    try:
        tree = load_html(html)
        if tree is not None:
            published_meta, updated_meta = _page_dates(tree)
            doc = _extract(tree, url=url, favor_precision=True)
            if doc is not None and len(_body_of(doc)) < _SHORT_BODY_CHARS:
                # Precision mode sometimes keeps only a scrap (a reprint notice, a teaser)
                # of a page whose article sits in an unusual layout: a recall-oriented pass
                # (on a fresh tree: extraction edits the one it is given) may find it.
                again = load_html(html)
                recall = None if again is None else _extract(again, url=url, favor_recall=True)
                if recall is not None and len(_body_of(recall)) >= 2 * len(_body_of(doc)):
                    doc = recall
    except Exception:
        # Third-party parsing of arbitrary pages: a crash there is bad input, not our bug.
        logger.warning("HTML extraction failed for %s", source, exc_info=True)
        raise InputError("could not read the HTML page") from None
    if doc is None or isinstance(doc, dict):
        raise InputError("no article text found")

    title = _clean_str(doc.title)
    body = _body_of(doc)
    # Pages without an article still yield scraps ("Home", a cookie notice): ask for at least
    # one sentence-sized paragraph.
    if not any(len(line) >= _MIN_HTML_PARAGRAPH for line in body.split("\n")):
        raise InputError("no article text found")

    # A page's own timestamp beats trafilatura's bare day, unless they disagree on the day
    # (htmldate vets its candidates; a page's tags are sometimes stale templates).
    published = parse_timestamp(doc.date)
    if published_meta is not None and (
        published is None
        or (published_meta[1] and abs(published_meta[0] - published) <= timedelta(days=2))
    ):
        published = published_meta[0]
    return Article(
        title=title or _title_from_name(source),
        body=body,
        outlet=_clean_str(doc.sitename),
        author=_clean_str(doc.author),
        published=published,
        updated=updated_meta[0] if updated_meta else None,
        url=_clean_str(url) or _clean_str(doc.url),
        description=_clean_str(doc.description),
        scope=scope,
    )


def _extract(
    tree: Any, *, url: str | None, favor_precision: bool = False, favor_recall: bool = False
) -> Any:
    """trafilatura's main-text extraction as ingest uses it (and bench/extraction.py
    measures it). Tables stay: news tables (results, figures) are part of the story."""
    doc = bare_extraction(
        tree,
        url=url,
        with_metadata=True,
        include_comments=False,
        include_tables=True,
        output_format="python",
        favor_precision=favor_precision,
        favor_recall=favor_recall,
    )
    return None if isinstance(doc, dict) else doc


def _body_of(doc: Any) -> str:
    """The extracted text as stored: one paragraph per line, table rows as "a | b", the
    headline not repeated as the first line."""
    lines = []
    for line in (doc.text or "").splitlines():
        stripped = line.strip()
        if stripped.startswith("|") and stripped.endswith("|"):
            cells = [cell.strip() for cell in stripped.strip("|").split("|")]
            if all(_TABLE_RULE.fullmatch(cell) for cell in cells):
                continue  # the markdown rule under a header row
            line = " | ".join(cell for cell in cells if cell)
        lines.append(line)
    body = _normalise_paragraphs("\n".join(lines))
    title = _clean_str(doc.title)
    if title and body:
        # trafilatura often keeps the headline as the first line; it is already the title.
        first, _, rest = body.partition("\n")
        if rest and _same_text(first, title):
            body = rest
    return body


def _page_dates(tree: Any) -> tuple[DatedValue | None, DatedValue | None]:
    """Published/updated from `article:*_time` meta tags, else JSON-LD. trafilatura keeps
    only the day; these often carry the time and zone."""
    published = _meta_date(tree, "article:published_time")
    updated = _meta_date(tree, "article:modified_time")
    if published is None or updated is None:
        ld_published, ld_updated = _jsonld_dates(tree)
        published = published or ld_published
        updated = updated or ld_updated
    return published, updated


def _meta_date(tree: Any, prop: str) -> DatedValue | None:
    values = tree.xpath(f'//meta[@property="{prop}" or @name="{prop}"]/@content')
    for value in values:
        parsed = parse_page_time(str(value))
        if parsed:
            return parsed
    return None


def _jsonld_dates(tree: Any) -> tuple[DatedValue | None, DatedValue | None]:
    published: DatedValue | None = None
    updated: DatedValue | None = None
    for script in tree.xpath('//script[@type="application/ld+json"]/text()'):
        try:
            data = json.loads(str(script))
        except (ValueError, RecursionError):
            continue  # pages often ship broken JSON-LD; it is only a hint
        for node in _iter_objects(data):
            published = published or parse_page_time(node.get("datePublished"))
            updated = updated or parse_page_time(node.get("dateModified"))
            if published and updated:
                return published, updated
    return published, updated


def _iter_objects(data: object, depth: int = 0) -> Iterator[dict[str, Any]]:
    """JSON objects in document order, nested ones too (`@graph`, lists), to a small depth."""
    if depth > 4:
        return
    if isinstance(data, dict):
        yield data
        for value in data.values():
            if isinstance(value, dict | list):
                yield from _iter_objects(value, depth + 1)
    elif isinstance(data, list):
        for value in data:
            yield from _iter_objects(value, depth + 1)


def _normalise_paragraphs(text: str) -> str:
    lines = (" ".join(line.split()) for line in text.splitlines())
    return "\n".join(line for line in lines if line)


def _same_text(a: str, b: str) -> bool:
    return " ".join(a.split()).casefold() == " ".join(b.split()).casefold()


# --------------------------------------------------------------------------- JSON


def _json_items(text: str, *, source: str, scope: str) -> Iterator[LoadItem]:
    data = _parse_json(text)
    if isinstance(data, dict):
        yield _json_item(data, source=source, scope=scope)
    elif isinstance(data, list):
        if not data:
            raise InputError("the JSON array is empty: no articles")
        for i, item in enumerate(data):
            yield _json_item(item, source=f"{source}[{i}]", scope=scope)
    else:
        raise InputError(
            f"JSON must be an article object or an array of them, not {_json_type(data)}"
        )


def _jsonl_items(text: str, *, source: str, scope: str) -> Iterator[LoadItem]:
    for n, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        item_source = f"{source}#line {n}"
        try:
            data = _parse_json(line, line=n)
        except InputError as exc:
            yield LoadFailure(item_source, exc.user_message)
            continue
        yield _json_item(data, source=item_source, scope=scope)


def _parse_json(text: str, *, line: int | None = None) -> object:
    """The JSON value of `text` (line `line` of a JSONL file), or InputError saying why not."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(
            f"malformed JSON at line {line or exc.lineno}, column {exc.colno}: {exc.msg}"
        ) from None
    except RecursionError:
        raise InputError(
            "the JSON is nested too deeply to read: an article is one object of text fields, "
            "so remove the extra levels of brackets"
        ) from None
    except ValueError:  # the only other refusal: an integer of over 4,300 digits
        raise InputError("the JSON holds a number too long to read: remove it") from None


def _json_item(item: object, *, source: str, scope: str) -> LoadItem:
    try:
        return Loaded(source, _article_from_mapping(item, scope=scope, source=source))
    except InputError as exc:
        return LoadFailure(source, exc.user_message)
    except _HOSTILE_INPUT_ERRORS as exc:
        return _hostile_input_failure(source, exc)


def _article_from_mapping(item: object, *, scope: str, source: str) -> Article:
    if not isinstance(item, dict):
        raise InputError(f"item is {_json_type(item)}, not an article object")
    body_raw = _first_present(item, _BODY_KEYS)
    if body_raw is None:
        raise InputError('article has no body text: expected a "body" field')
    if not isinstance(body_raw, str):
        raise InputError(f"the article body must be text, not {_json_type(body_raw)}")
    title_raw = item.get("title")
    if title_raw is None:
        raise InputError('article has no title: expected a "title" field')
    if not isinstance(title_raw, str):
        raise InputError(f"the article title must be text, not {_json_type(title_raw)}")
    # Collection bodies are already clean: only line endings and outer whitespace change.
    body = body_raw.replace("\r\n", "\n").replace("\r", "\n").strip()
    if not body:
        raise InputError("article has no body text")
    title = " ".join(title_raw.split())
    if not title:
        raise InputError("article has no title")
    outlet = _str_field(item, _OUTLET_KEYS)
    author = _author_field(item.get("author"))
    url = _str_field(item, ("url",))
    category = _str_field(item, ("category",))
    description = _str_field(item, ("description",))
    _require_unicode(
        title=title,
        body=body,
        outlet=outlet,
        author=author,
        url=url,
        category=category,
        description=description,
    )
    return Article(
        title=title,
        body=body,
        outlet=outlet,
        author=author,
        published=_date_field(item, _DATE_KEYS, source),
        updated=_date_field(item, _UPDATED_KEYS, source),
        url=url,
        category=category,
        description=description,
        scope=scope,
    )


def _require_unicode(**fields: str | None) -> None:
    """InputError unless every field can be stored: a JSON escape can spell a lone surrogate
    ("\\ud800"), which no encoding can write."""
    for name, text in fields.items():
        try:
            if text is not None:
                text.encode("utf-8")
        except UnicodeEncodeError:
            raise InputError(
                f"the article's {name} holds an invalid character (a lone surrogate, such as "
                "the escape \\ud800): remove it"
            ) from None


def _first_present(item: dict[str, Any], keys: Sequence[str]) -> object:
    """The first of `keys` with a value; an empty string counts, so it reports as empty."""
    for key in keys:
        value = item.get(key)
        if value is not None and value != "":
            return value
    for key in keys:
        if key in item and item[key] is not None:
            return item[key]
    return None


def _str_field(item: dict[str, Any], keys: Sequence[str]) -> str | None:
    for key in keys:
        value = _clean_str(item.get(key))
        if value:
            return value
    return None


def _author_field(value: object) -> str | None:
    if isinstance(value, list):
        names = [name for name in (_clean_str(v) for v in value) if name]
        return ", ".join(names) or None
    return _clean_str(value)


def _date_field(item: dict[str, Any], keys: Sequence[str], source: str) -> datetime | None:
    for key in keys:
        value = item.get(key)
        if value is None or value == "":
            continue
        parsed = parse_timestamp(value) if isinstance(value, str) else None
        if parsed is None:
            shown = repr(value[:100]) if isinstance(value, str) else _json_type(value)
            logger.warning("%s: cannot read %s %s as a date; leaving it unset", source, key, shown)
        return parsed
    return None


def _json_type(value: object) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return "null"


# --------------------------------------------------------------------------- small helpers


def _clean_str(value: object) -> str | None:
    if not isinstance(value, str):
        return None
    value = " ".join(value.split())
    return value or None


def _unsupported(suffix: str) -> str:
    return f"unsupported file type {suffix}: use .txt, .html, .json or .jsonl"


def _too_big(size: int, limit: int) -> str:
    shown, shown_limit = _human_size(size), _human_size(limit)
    if shown == shown_limit:
        # Rounding would make them look equal; show exact bytes instead.
        shown, shown_limit = f"{size:,} bytes", f"{limit:,}-byte"
    return f"file is {shown}, over the {shown_limit} limit ({_MAX_BYTES_SETTING})"


def _human_size(n: int) -> str:
    if n >= 1_000_000:
        return f"{n / 1_000_000:.1f} MB"
    if n >= 1_000:
        return f"{n / 1_000:.1f} KB"
    return f"{n} bytes"
