"""Articles from links: fetch a page safely, extract it as ingest does for HTML files, and
flag pages whose text looks cut short (paywalls, pages rendered by script) instead of
storing them."""

from __future__ import annotations

import dataclasses
import logging
import re

from ingest.fetching import FEED_TYPES, HTML_TYPES, JSON_TYPES, TEXT_TYPES, Fetcher, FetchResult
from ingest.loaders import Loaded, LoadFailure, LoadItem, extract_html, load_bytes
from retrieval.errors import InputError
from retrieval.models import GLOBAL_SCOPE
from retrieval.sentences import iter_sentence_spans

log = logging.getLogger(__name__)

PAGE_TYPES = HTML_TYPES | TEXT_TYPES | JSON_TYPES | FEED_TYPES

# An article page whose text has fewer sentences than this is taken for a teaser.
MIN_SENTENCES = 3
# A short text that ends in an ellipsis was cut off ("... Subscribe to read more").
_CUT_OFF_WORDS = 200
_ELLIPSIS_END = re.compile(r"(\.\.\.|…)\W*$")
_PAYWALL = re.compile(
    r"\b(subscribe (now )?to (continue|keep) reading|already a subscriber|"
    r"to continue reading|sign in to read|this content is for subscribers)\b",
    re.I,
)
_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")


def is_url(text: str) -> bool:
    """Whether a command-line argument is a link (any scheme) rather than a path."""
    return bool(_URL.match(text.strip()))


def truncation_reason(body: str) -> str | None:
    """Why an extracted page looks like only the start of its article, or None."""
    sentences = sum(1 for _ in iter_sentence_spans(body))
    words = len(body.split())
    if sentences < MIN_SENTENCES:
        count = f"{sentences} sentence{'s' if sentences != 1 else ''}"
        return f"only {count} of text"
    if words < _CUT_OFF_WORDS and (_ELLIPSIS_END.search(body) or _PAYWALL.search(body)):
        return f"only {words} words, ending in a cut"
    return None


def load_url(url: str, fetcher: Fetcher, *, scope: str = GLOBAL_SCOPE) -> list[LoadItem]:
    """One link as ingest items; a failure (download, extraction, cut-short text) is a
    `LoadFailure` whose reason says why."""
    try:
        result = fetcher.fetch(url, allowed_types=PAGE_TYPES)
    except InputError as exc:
        return [LoadFailure(url, exc.user_message)]
    return load_page(result, source=url, scope=scope)


def load_page(result: FetchResult, *, source: str, scope: str) -> list[LoadItem]:
    if result.content_type in FEED_TYPES:
        return [
            LoadFailure(
                source,
                "this link is a feed, not an article: add it with `newsbot feeds add` "
                "(or /feeds add in Discord) to ingest its stories",
            )
        ]
    if result.content_type in HTML_TYPES:
        return [_page_article(result, source=source, scope=scope)]
    # Plain text or a JSON collection: the file loaders, told the type by the name.
    name = "page.json" if result.content_type in JSON_TYPES else "page.txt"
    items = load_bytes(
        result.content, name=name, max_bytes=len(result.content) + 1, scope=scope, url=result.url
    )
    return [_relabel(item, name, source) for item in items]


def _page_article(result: FetchResult, *, source: str, scope: str) -> LoadItem:
    html: str | bytes = result.content
    if result.charset and result.charset.lower().replace("_", "-") not in ("utf-8", "utf8"):
        # The HTTP header names the page's encoding; the loader only sees <meta> tags.
        try:
            html = result.content.decode(result.charset)
        except (LookupError, UnicodeError):  # "undefined" raises UnicodeError, not a decode one
            log.debug("%s: declared charset %s does not decode it", source, result.charset)
    item = extract_html(html, url=result.url, scope=scope, source=source)
    if isinstance(item, Loaded):
        reason = truncation_reason(item.article.body)
        if reason is not None:
            log.info("%s looks cut short (%s): not ingested", source, reason)
            return LoadFailure(
                source,
                f"the page's text looks cut short ({reason}): paywalled, or rendered by a "
                "script? Not ingested",
            )
    return item


def _relabel(item: LoadItem, name: str, source: str) -> LoadItem:
    label = source + item.source[len(name) :] if item.source.startswith(name) else source
    return dataclasses.replace(item, source=label)
