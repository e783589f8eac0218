"""Fuzzing the loaders and the cleaner with random, adversarial and huge inputs, each call
under a time limit: whatever the input, a call returns (an article, or a `LoadFailure` whose
reason is fit to show), and never raises or stalls.

Deterministic: every random input comes from a fixed seed, so a failure reproduces.
"""

from __future__ import annotations

import codecs
import faulthandler
import json
import os
import random
from collections.abc import Iterator
from functools import partial
from typing import Any

import pytest

from ingest.cleaning import clean_text_article
from ingest.decoding import declares_dtd
from ingest.loaders import (
    Loaded,
    LoadFailure,
    LoadItem,
    article_from_text,
    extract_html,
    load_bytes,
)
from tests.pathological import finishes

# A test still running after this is hung (each takes seconds at most).
HANG_S = 120
MAX_BYTES = 10_000_000
NAMES = ("story.txt", "page.html", "items.json", "items.jsonl", "upload")  # "upload": sniffed
# trafilatura reads about a megabyte a second, so huge inputs go to the other loaders only.
MAX_HTML_BYTES = 300_000

PARAGRAPH = (
    "The city council approved the budget on Tuesday after a long debate over funding for "
    "schools and roads, and the mayor is expected to sign it next week."
)
# Pieces of chrome, markup, dates, escapes and odd characters that the patterns look for.
TOKENS = (
    " ",
    " " * 300,
    "\t" * 50,
    "\n",
    "\r\n",
    "\r",
    "\x0c",
    "\x00",
    "\x1b",
    "\x85",
    "\u2028",
    "\ufeff",
    "\u202e",
    "\ud800",
    "By",
    "by",
    "BY",
    "Staff",
    "reporter",
    "correspondent",
    "Jane",
    "Doe",
    "and",
    "&",
    ",",
    "|",
    "-",
    "–",
    "•",
    "(",
    ")",
    "/",
    ":",
    ".",
    "...",
    "Photo",
    "Photo:",
    "Getty Images",
    "AP Photo",
    "Reuters",
    "©",
    "Published",
    "Updated:",
    "2024-01-31T12:00:00+01:00",
    "0001-01-01T00:00:00+01:00",
    "31.01.2024",
    "1/2/24",
    "Jan. 31, 2024",
    "12:45 p.m.",
    "GMT+5",
    "+05:30",
    "ET",
    "3 hours ago",
    "Read more",
    "Share",
    "newsletter",
    "sign up",
    "We use cookies",
    "Advertisement",
    "Title:",
    "https://example.com/a",
    "<",
    ">",
    "<!--",
    "-->",
    "<!DOCTYPE html>",
    '<!ENTITY a "aaaa">',
    '<?xml version="1.0"?>',
    "<html>",
    "<p>",
    "<meta charset='undefined'>",
    "[",
    "]",
    "{",
    "}",
    '"',
    "\\",
    "\\ud800",
    '{"title": "T", "body": "B"}',
    "9" * 60,
    "é",
    "中文",
    "🙂",
    PARAGRAPH,
)
ENCODINGS = ("utf-8", "utf-16", "utf-16-le", "utf-32", "utf-32-be", "cp1252", "latin-1")


@pytest.fixture(autouse=True)
def hang_guard(request: pytest.FixtureRequest) -> Iterator[None]:
    """Ends the run, printing every thread's stack, if a test hangs: a runaway regex holds the
    GIL, so nothing in Python could stop it. The stack goes to the real stderr, as pytest's
    capture would lose it when the process ends."""
    capture = request.config.pluginmanager.getplugin("capturemanager")
    if capture is None:
        stderr = os.dup(2)
    else:
        with capture.global_and_fixture_disabled():
            stderr = os.dup(2)
    faulthandler.dump_traceback_later(HANG_S, exit=True, file=stderr)
    try:
        yield
    finally:
        faulthandler.cancel_dump_traceback_later()
        os.close(stderr)


def check_item(item: LoadItem, label: str) -> None:
    if isinstance(item, Loaded):
        article = item.article
        assert article.title.strip() and article.body.strip(), label
        for text in (article.title, article.body, article.outlet, article.author, article.url):
            if text is not None:
                text.encode("utf-8")  # storable as it is: raises on a lone surrogate
    else:
        assert isinstance(item, LoadFailure), label
        assert item.reason.strip() and "\n" not in item.reason, (label, item.reason)


def load_everywhere(data: bytes, label: str) -> None:
    """`data` as an upload of every supported kind: the loaders never raise, never stall."""
    for name in NAMES:
        if len(data) > MAX_HTML_BYTES and name in ("page.html", "upload"):
            continue
        load = partial(load_bytes, data, name=name, max_bytes=MAX_BYTES)
        items = finishes(f"{label} as {name}", load)
        assert items, label
        for item in items:
            check_item(item, f"{label} as {name}")
    assert isinstance(finishes(f"{label}: DTD check", partial(declares_dtd, data)), bool)


def clean_and_check(text: str, label: str) -> None:
    """The cleaner keeps input lines as they were (stripped), whatever the input."""
    cleaned = finishes(f"{label}: cleaner", partial(clean_text_article, text))
    lines = {line.strip() for line in text.lstrip("\ufeff").splitlines()}
    assert all(line in lines for line in cleaned.body.splitlines()), label
    pasted = finishes(f"{label}: pasted", partial(article_from_text, text, source="pasted"))
    check_item(pasted, label)


def random_text(rng: random.Random, tokens: int) -> str:
    return "".join(rng.choice(TOKENS) for _ in range(tokens))


def encode(text: str, encoding: str) -> bytes:
    # surrogatepass: a lone surrogate becomes the (invalid) bytes a careless writer produces.
    errors = "surrogatepass" if encoding.startswith("utf") else "replace"
    return text.encode(encoding, errors)


def random_json(rng: random.Random, depth: int = 0) -> Any:
    roll = rng.random()
    if depth > 6 or roll < 0.3:
        return rng.choice([random_text(rng, 5), rng.randint(-(10**30), 10**30), None, True, 1.5])
    if roll < 0.6:
        return [random_json(rng, depth + 1) for _ in range(rng.randint(0, 4))]
    keys = ["title", "body", "text", "author", "source", "published_at", "updated", "url", "x"]
    return {rng.choice(keys): random_json(rng, depth + 1) for _ in range(rng.randint(0, 6))}


# --------------------------------------------------------------------------- random


@pytest.mark.parametrize("seed", range(12))
def test_random_bytes_load_or_fail_quickly(seed: int) -> None:
    rng = random.Random(seed)
    size = rng.choice([1, 3, 100, 4096, 65_536])
    load_everywhere(rng.randbytes(size), f"seed {seed}: {size} random bytes")
    # Printable bytes get past the binary check to the decoders and parsers.
    printable = bytes(
        rng.choice(b"\t\n\r !\"#&'()*,-./:;<=>?[]{}|aAzZ09\xe9\xff") for _ in range(size)
    )
    load_everywhere(printable, f"seed {seed}: {size} printable bytes")


@pytest.mark.parametrize("seed", range(12))
def test_random_text_cleans_and_loads_quickly(seed: int) -> None:
    rng = random.Random(1000 + seed)
    text = random_text(rng, rng.choice([1, 10, 200, 3000]))
    clean_and_check(text, f"seed {seed}")
    encoding = ENCODINGS[seed % len(ENCODINGS)]
    load_everywhere(encode(text, encoding), f"seed {seed} in {encoding}")
    # Mixed encodings: a file pasted together from two sources.
    half = len(text) // 2
    mixed = encode(text[:half], "utf-8") + encode(text[half:], rng.choice(ENCODINGS))
    load_everywhere(mixed, f"seed {seed}, mixed")


@pytest.mark.parametrize("seed", range(8))
def test_random_json_loads_or_fails_item_by_item(seed: int) -> None:
    rng = random.Random(2000 + seed)
    items = [random_json(rng) for _ in range(rng.randint(1, 20))]
    data = json.dumps(items).encode()
    load_everywhere(data, f"seed {seed}: JSON")
    lines = "\n".join(json.dumps(item) for item in items).encode()
    load_everywhere(lines, f"seed {seed}: JSONL")
    cut = rng.randint(0, len(data))  # truncated mid-value
    load_everywhere(data[:cut], f"seed {seed}: JSON cut at {cut}")


# --------------------------------------------------------------------------- adversarial

ADVERSARIAL: dict[str, bytes] = {
    "spaces": b"a" + b" " * 200_000 + b"b",
    "tabs": b"By" + b"\t" * 200_000 + b"x",
    "newlines": b"a" + b"\n" * 200_000 + b"b",
    "carriage returns": b"a" + b"\r" * 200_000 + b"b",
    "spaced lines": (b"A" + b" " * 1990 + b"reporter" + b" " * 5 + b"x\n") * 100,
    "brackets": b"[" * 100_000,
    "braces": b'{"a":' * 100_000,
    "a deep body": b'[{"title": "T", "body": ' + b"[" * 100_000,
    "deep JSONL": b'{"title": "T", "body": "B"}\n' + b"[" * 100_000 + b"\n",
    "tags": b"<div>" * 50_000,
    "angle brackets": b"<" * 200_000,
    "comments": b"<!-- -->" * 20_000 + b"x",
    "open comments": b"<!--" * 50_000,
    "processing instructions": b"<?" * 100_000,
    "a huge line": b"word " * 60_000,
    "punctuation": b".-|()/,:" * 25_000,
    "control characters": bytes(range(32)) * 2000,
    "escape sequences": b"\x1b[31mred\x1b[0m " * 10_000,
    "BOM alone": codecs.BOM_UTF8,
    "BOMs": codecs.BOM_UTF8 * 1000 + PARAGRAPH.encode(),
    "UTF-32 BOM, UTF-16 text": codecs.BOM_UTF32_LE + PARAGRAPH.encode("utf-16-le"),
    "UTF-16 BOM, odd length": codecs.BOM_UTF16_LE + b"a\x00b",
    "UTF-16 lone surrogate": codecs.BOM_UTF16_LE + b"\x00\xd8a\x00",
    "UTF-32 text": PARAGRAPH.encode("utf-32"),
    "UTF-16 without BOM": PARAGRAPH.encode("utf-16-le"),
    "PDF magic": b"%PDF-" + PARAGRAPH.encode(),
    "undecodable charset": b'<html><meta charset="undefined"><p>' + b"\xe9\x81" * 200,
    "UTF-7 charset": b'<html><meta charset="utf-7"><p>+2AA-' + b"\xff" * 100,
    "escape charset": b'<html><meta charset="unicode_escape"><p>\\ud800\\N{x}' + b"\xff",
    "lone surrogate escapes": b'[{"title": "\\ud800", "body": "\\udfff"}, {"title": "ok"}]',
    "huge integer": b'{"title": "T", "body": "B", "n": ' + b"9" * 5000 + b"}",
    "huge float": b'{"title": "T", "body": "B", "n": 1e999999}',
    "dates": json.dumps(
        [
            {"title": "T", "body": "B", "published_at": value, "updated": value}
            for value in (
                "0001-01-01T00:00:00+01:00",
                "9999-12-31T23:59:59-01:00",
                "Mon, 01 Jan 99999999999999999999 00:00:00 +0100",
                "Mon, 01 Jan 2020 99:99:99 +9999",
                "2020-13-45",
                "-1",
            )
        ]
    ).encode(),
    "page dates": (
        b'<html><head><meta property="article:published_time" content="0001-01-01T00:00+05:00">'
        b'<script type="application/ld+json">'
        + b"[" * 50_000
        + b"</script></head><body><p>"
        + PARAGRAPH.encode()
        + b"</p></body></html>"
    ),
    "a UTF-32 entity bomb": (
        '<?xml version="1.0" encoding="utf-32"?><!DOCTYPE rss [<!ENTITY a "aaaaaaaaaa">'
        + "".join(
            f'<!ENTITY {b} "{("&" + a + ";") * 10}">' for a, b in zip("abcd", "bcde", strict=True)
        )
        + ']><rss version="2.0"><channel><title>&e;</title></channel></rss>'
    ).encode("utf-32"),
}


@pytest.mark.parametrize("label", ADVERSARIAL)
def test_adversarial_inputs_load_or_fail_quickly(label: str) -> None:
    data = ADVERSARIAL[label]
    load_everywhere(data, label)
    text = data.decode("utf-8", "replace")
    clean_and_check(text, label)
    html = finishes(
        f"{label}: extract_html", partial(extract_html, data[:MAX_HTML_BYTES], source=label)
    )
    check_item(html, label)


# --------------------------------------------------------------------------- huge


def test_huge_inputs_load_or_fail_quickly() -> None:
    rng = random.Random(3000)
    chrome = "By Jane Doe\nPhoto: Getty Images\nRead more: Budget\n"
    huge = {
        "3 MB of paragraphs": ((PARAGRAPH + "\n") * 20_000).encode(),
        "1 MB of chrome": ((chrome + PARAGRAPH + "\n") * 4_000).encode(),
        "1 MB of random text": random_text(rng, 75_000).encode("utf-8", "surrogatepass"),
        "2 MB of spaces": b"a" + b" " * 2_000_000 + b"b",
        "3 MB in one line": ((PARAGRAPH + " ") * 20_000).encode(),
        "2 MB of JSON": json.dumps(
            [{"title": f"Story {i}", "body": PARAGRAPH * 8} for i in range(2_000)]
        ).encode(),
    }
    for label, data in huge.items():
        load_everywhere(data, label)
        clean_and_check(data.decode("utf-8", "replace"), label)
