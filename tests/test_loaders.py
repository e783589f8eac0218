"""Tests for ingest.loaders: files, uploads and pasted text -> Articles or user-fit failures."""

from __future__ import annotations

import codecs
import gzip
import json
import logging
import re
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from ingest import loaders
from ingest.cleaning import CleanedText
from ingest.loaders import (
    Loaded,
    LoadFailure,
    LoadItem,
    article_from_text,
    extract_html,
    load_bytes,
    load_file,
)
from retrieval.errors import InputError
from retrieval.models import GLOBAL_SCOPE
from tests.pathological import finishes

MAX = 10_000_000
SHARED = Path(__file__).resolve().parents[2] / "shared/data"
BENCH = SHARED / "article-extraction-benchmark"
CORPUS = SHARED / "multihop_rag/corpus.json"
SEED = SHARED / "seed/sputnik-2022-01-26-nato-written-response.txt"

PARAGRAPHS = (
    "The city council voted on Tuesday to approve a new budget for the public library system, "
    "ending months of debate over opening hours and staffing levels across the district.",
    "Supporters said the plan would keep every branch open on weekends, while critics argued "
    "that the money should have gone to road repairs instead of books and computers.",
    "The mayor is expected to sign the measure next week, officials said in a statement.",
)
ARTICLE_HTML = "".join(f"<p>{p}</p>" for p in PARAGRAPHS)


def page(head: str = "", body: str = ARTICLE_HTML) -> str:
    return (
        f"<!DOCTYPE html><html><head>{head}</head><body>"
        f"<nav><a href='/'>Home</a> <a href='/news'>News</a></nav>"
        f"<article>{body}</article><footer>About us · Contact</footer></body></html>"
    )


def only(items: list[LoadItem]) -> LoadItem:
    assert len(items) == 1, items
    return items[0]


def loaded(item: LoadItem) -> Loaded:
    assert isinstance(item, Loaded), item
    return item


def failure(item: LoadItem) -> LoadFailure:
    assert isinstance(item, LoadFailure), item
    return item


def write(path: Path, data: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, str):
        path.write_text(data, encoding="utf-8")
    else:
        path.write_bytes(data)
    return path


def fake_cleaner(**found: Any) -> Any:
    """A stand-in for clean_text_article that returns the body as given plus `found` metadata,
    so the mapping from cleaner output to Article is tested on its own."""
    seen: list[str] = []

    def clean(raw: str) -> CleanedText:
        seen.append(raw)
        fields: dict[str, Any] = {
            "title": None,
            "body": raw.strip(),
            "outlet": None,
            "author": None,
            "published": None,
            "updated": None,
            "url": None,
            "removed": (),
        }
        fields.update(found)
        return CleanedText(**fields)

    clean.seen = seen  # type: ignore[attr-defined]
    return clean


# --------------------------------------------------------------------------- bad input


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.txt"
    item = failure(only(load_file(path, max_bytes=MAX)))
    assert item.source == str(path)
    assert item.reason == "file not found"
    assert item.message == f"{path}: file not found"
    assert isinstance(item.as_error(), InputError)


def test_directory_given_to_load_file(tmp_path: Path) -> None:
    item = failure(only(load_file(tmp_path, max_bytes=MAX)))
    assert item.reason == "is a directory, not a file"


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "empty file"),
        (b"  \n\t\r\n  ", "empty file (only whitespace)"),
        (b"\xef\xbb\xbf\n\n", "empty file (only whitespace)"),
    ],
)
def test_empty_file(tmp_path: Path, data: bytes, reason: str) -> None:
    item = failure(only(load_file(write(tmp_path / "a.txt", data), max_bytes=MAX)))
    assert item.reason == reason


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj", "looks like a PDF, not text"),
        (b"PK\x03\x04\x14\x00\x06\x00", "looks like a ZIP archive"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "looks like a PNG image, not text"),
        (gzip.compress(b"hello world"), "looks like a gzip archive, not text"),
        (b"Some words\x00 and a NUL byte", "binary file (not text)"),
        (bytes(range(1, 32)) * 20 + b"mostly control characters", "binary file (not text)"),
    ],
)
def test_binary_file(tmp_path: Path, data: bytes, reason: str) -> None:
    item = failure(only(load_file(write(tmp_path / "a.txt", data), max_bytes=MAX)))
    assert item.reason.startswith(reason)


def test_text_with_a_stray_control_character_is_not_binary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(loaders, "clean_text_article", fake_cleaner())
    text = PARAGRAPHS[0] + "\x0c\n" + PARAGRAPHS[1] + "\x1b"
    item = loaded(only(load_file(write(tmp_path / "a.txt", text), max_bytes=MAX)))
    assert PARAGRAPHS[1] in item.article.body


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ("\ufeffCafé news: “quoted” – dash".encode(), "Café news: “quoted” – dash"),
        (codecs.BOM_UTF16_LE + "Café news in UTF-16".encode("utf-16-le"), "Café news in UTF-16"),
        (codecs.BOM_UTF16_BE + "Café news in UTF-16".encode("utf-16-be"), "Café news in UTF-16"),
        ("Café news: “quoted” – dash".encode("cp1252"), "Café news: “quoted” – dash"),
    ],
)
def test_encodings_that_decode(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, data: bytes, expected: str
) -> None:
    monkeypatch.setattr(loaders, "clean_text_article", fake_cleaner())
    item = loaded(only(load_file(write(tmp_path / "a.txt", data), max_bytes=MAX)))
    assert item.article.body == expected


def test_not_utf8_and_not_cp1252(tmp_path: Path) -> None:
    # 0x81 and 0x8d are undefined in cp1252 and invalid as UTF-8.
    data = b"Headline \x81\x8d with bytes from some other encoding"
    item = failure(only(load_file(write(tmp_path / "a.txt", data), max_bytes=MAX)))
    assert item.reason == "not UTF-8 text: re-save the file as UTF-8"


def test_too_big_is_checked_with_stat_before_reading(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "huge.txt"
    with path.open("wb") as fh:
        fh.truncate(12_300_000)  # sparse: the size is real, the disk use is not

    def no_reading(*args: object, **kwargs: object) -> None:
        raise AssertionError("the file was opened although stat() said it is too big")

    monkeypatch.setattr(Path, "open", no_reading)
    item = failure(only(load_file(path, max_bytes=10_000_000)))
    assert item.reason == "file is 12.3 MB, over the 10.0 MB limit (NEWSBOT_MAX_FILE_BYTES)"


def test_too_big_shows_exact_sizes_when_rounding_would_hide_the_difference(
    tmp_path: Path,
) -> None:
    item = failure(only(load_bytes(b"x" * 1_001, name="a.txt", max_bytes=1_000)))
    assert item.reason == (
        "file is 1,001 bytes, over the 1,000-byte limit (NEWSBOT_MAX_FILE_BYTES)"
    )
    path = write(tmp_path / "a.txt", b"x" * 2_500)
    item = failure(only(load_file(path, max_bytes=1_000)))
    assert item.reason == "file is 2.5 KB, over the 1.0 KB limit (NEWSBOT_MAX_FILE_BYTES)"


def test_file_at_the_limit_loads(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(loaders, "clean_text_article", fake_cleaner())
    text = PARAGRAPHS[0]
    path = write(tmp_path / "a.txt", text)
    assert isinstance(only(load_file(path, max_bytes=len(text))), Loaded)


@pytest.mark.parametrize("name", ["report.pdf", "sheet.csv", "page.html.gz"])
def test_unsupported_suffix(tmp_path: Path, name: str) -> None:
    item = failure(only(load_file(write(tmp_path / name, "some text"), max_bytes=MAX)))
    suffix = Path(name).suffix
    assert item.reason == f"unsupported file type {suffix}: use .txt, .html, .json or .jsonl"


# --------------------------------------------------------------------------- plain text


def test_plain_text_uses_what_the_cleaner_found(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cet = timezone(timedelta(hours=1))
    cleaner = fake_cleaner(
        title="NATO replies to Russia",
        outlet="Sputnik",
        author="Morgan Artyukhina",
        published=datetime(2022, 1, 26, 18, 45, tzinfo=cet),
        updated=datetime(2022, 1, 26, 19, 14, tzinfo=cet),
        url="https://example.com/nato",
    )
    monkeypatch.setattr(loaders, "clean_text_article", cleaner)
    path = write(tmp_path / "story.md", "\n".join(PARAGRAPHS).replace("\n", "\r\n"))

    article = loaded(only(load_file(path, max_bytes=MAX, scope="guild-1"))).article

    assert cleaner.seen == ["\n".join(PARAGRAPHS)]  # decoded, line endings normalised
    assert article.title == "NATO replies to Russia"
    assert article.body == "\n".join(PARAGRAPHS)
    assert (article.outlet, article.author) == ("Sputnik", "Morgan Artyukhina")
    assert article.published == datetime(2022, 1, 26, 17, 45, tzinfo=UTC)
    assert article.published.tzinfo is UTC
    assert article.updated == datetime(2022, 1, 26, 18, 14, tzinfo=UTC)
    assert article.url == "https://example.com/nato"
    assert article.scope == "guild-1"


@pytest.mark.parametrize(
    ("name", "title"),
    [
        ("nato-written_response.txt", "Nato written response"),
        ("2022-01-26 budget.vote.text", "2022 01 26 budget vote"),
    ],
)
def test_plain_text_title_falls_back_to_the_humanised_stem(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str, title: str
) -> None:
    monkeypatch.setattr(loaders, "clean_text_article", fake_cleaner())
    path = write(tmp_path / name, PARAGRAPHS[0])
    assert loaded(only(load_file(path, max_bytes=MAX))).article.title == title


def test_plain_text_with_nothing_left_after_cleaning(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(loaders, "clean_text_article", fake_cleaner(body="  \n"))
    item = failure(only(load_file(write(tmp_path / "a.txt", "Advertisement"), max_bytes=MAX)))
    assert item.reason == "article has no body text"


def test_plain_text_with_the_real_cleaner(tmp_path: Path) -> None:
    path = write(tmp_path / "library-budget.txt", "\n\n".join(PARAGRAPHS) + "\n")
    article = loaded(only(load_file(path, max_bytes=MAX))).article
    assert article.body == "\n".join(PARAGRAPHS)
    assert article.title == "Library budget"  # the cleaner found none: the file name stands in


@pytest.mark.skipif(not SEED.exists(), reason="shared seed data not present")
def test_seed_text_file_loads() -> None:
    article = loaded(only(load_file(SEED, max_bytes=MAX))).article
    assert "Diplomats from the NATO alliance told Agence France-Presse" in article.body
    assert article.title == (
        "NATO About to Give Written Response to Russia's Security Guarantees Proposals, "
        "Report Claims"
    )
    assert article.published == datetime(2022, 1, 26, 17, 45, tzinfo=UTC)


def test_article_from_text_explicit_arguments_win(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(
        loaders,
        "clean_text_article",
        fake_cleaner(
            title="Cleaner title",
            author="Cleaner Author",
            outlet="Cleaner Outlet",
            url="https://cleaner.example/a",
            published=datetime(2020, 1, 1, tzinfo=UTC),
            updated=datetime(2020, 1, 2, tzinfo=UTC),
        ),
    )
    item = loaded(
        article_from_text(
            "\n".join(PARAGRAPHS),
            title="  Given   title ",
            author="Given Author",
            published=datetime(2024, 5, 1, 9, 30),  # naive: taken as UTC
            scope="guild-9",
            source="discord message",
        )
    )
    article = item.article
    assert item.source == "discord message"
    assert article.title == "Given title"
    assert article.author == "Given Author"
    assert article.outlet == "Cleaner Outlet"
    assert article.url == "https://cleaner.example/a"
    assert article.published == datetime(2024, 5, 1, 9, 30, tzinfo=UTC)
    assert article.updated == datetime(2020, 1, 2, tzinfo=UTC)
    assert article.scope == "guild-9"


def test_article_from_text_without_any_title_uses_the_first_line(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(loaders, "clean_text_article", fake_cleaner())
    short = loaded(article_from_text("Storm closes schools\n" + PARAGRAPHS[0])).article
    assert short.title == "Storm closes schools"
    long = loaded(article_from_text("\n".join(PARAGRAPHS))).article
    assert long.title == "The city council voted on Tuesday to approve a new budget for the public…"
    assert len(long.title) <= 80


@pytest.mark.parametrize("text", ["", "   \n\t"])
def test_article_from_text_empty(text: str) -> None:
    item = failure(article_from_text(text, source="paste"))
    assert (item.source, item.reason) == ("paste", "empty text")


def test_article_from_text_nothing_left_after_cleaning(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(loaders, "clean_text_article", fake_cleaner(body=""))
    assert failure(article_from_text("Share this article")).reason == "article has no body text"


# --------------------------------------------------------------------------- HTML


def test_html_metadata_and_published_time_with_zone() -> None:
    head = (
        "<title>Council approves library budget | Springfield Gazette</title>"
        '<meta property="og:title" content="Council approves library budget">'
        '<meta property="og:site_name" content="Springfield Gazette">'
        '<meta name="author" content="Jane Doe">'
        '<meta name="description" content="A new budget keeps branches open.">'
        '<meta property="article:published_time" content="2024-03-05T14:30:00+01:00">'
        '<meta property="article:modified_time" content="2024-03-06T08:00:00Z">'
        '<link rel="canonical" href="https://gazette.example/news/library-budget">'
    )
    item = loaded(extract_html(page(head), source="page.html", scope="guild-2"))
    article = item.article
    assert item.source == "page.html"
    assert article.title == "Council approves library budget"
    assert article.body == "\n".join(PARAGRAPHS)  # one paragraph per line, no nav/footer
    assert article.author == "Jane Doe"
    assert article.outlet == "Springfield Gazette"
    assert article.description == "A new budget keeps branches open."
    assert article.published == datetime(2024, 3, 5, 13, 30, tzinfo=UTC)
    assert article.updated == datetime(2024, 3, 6, 8, 0, tzinfo=UTC)
    assert article.url == "https://gazette.example/news/library-budget"
    assert article.scope == "guild-2"


def test_html_url_argument_wins_over_the_canonical_link() -> None:
    head = '<title>Budget</title><link rel="canonical" href="https://gazette.example/canon">'
    item = loaded(extract_html(page(head), url="https://given.example/a", source="x"))
    assert item.article.url == "https://given.example/a"


def test_html_date_without_time_is_midnight_utc() -> None:
    head = '<title>Budget vote</title><meta name="date" content="2024-03-05">'
    article = loaded(extract_html(page(head), source="x.html")).article
    assert article.published == datetime(2024, 3, 5, tzinfo=UTC)


def test_html_jsonld_date_published_gives_the_time() -> None:
    ld = {
        "@context": "https://schema.org",
        "@graph": [
            {"@type": "WebSite", "name": "Gazette"},
            {
                "@type": "NewsArticle",
                "headline": "Budget vote",
                "datePublished": "2024-03-05T09:15:00-05:00",
                "dateModified": "2024-03-05T18:00:00-05:00",
            },
        ],
    }
    head = (
        '<title>Budget vote</title><script type="application/ld+json">{broken</script>'
        f'<script type="application/ld+json">{json.dumps(ld)}</script>'
    )
    article = loaded(extract_html(page(head), source="x.html")).article
    assert article.published == datetime(2024, 3, 5, 14, 15, tzinfo=UTC)
    assert article.updated == datetime(2024, 3, 5, 23, 0, tzinfo=UTC)


def test_html_placeholder_dates_are_ignored() -> None:
    ld = {"@type": "NewsArticle", "datePublished": "0001-01-01T00:00:00Z"}
    head = f'<title>Budget vote</title><script type="application/ld+json">{json.dumps(ld)}</script>'
    article = loaded(extract_html(page(head), source="x.html")).article
    assert article.published is None
    dated = loaded(extract_html(page(head + '<meta name="date" content="2024-03-05">'), source="x"))
    assert dated.article.published == datetime(2024, 3, 5, tzinfo=UTC)


def test_html_page_time_on_another_day_than_the_page_date_is_not_trusted() -> None:
    head = (
        '<title>Budget vote</title><meta name="date" content="2024-03-05">'
        '<meta property="article:published_time" content="2019-06-01T10:00:00Z">'
    )
    article = loaded(extract_html(page(head), source="x.html")).article
    assert article.published == datetime(2024, 3, 5, tzinfo=UTC)


def test_malformed_html_still_yields_text() -> None:
    first, second, third = PARAGRAPHS
    html = f"<html><body><div><p>{first} <b>unclosed bold<p>{second}<div><p>{third}</span></table>"
    article = loaded(extract_html(html, source="broken-page.html")).article
    assert PARAGRAPHS[1] in article.body
    assert article.title == "Broken page"  # no <title>: the file name stands in


@pytest.mark.parametrize(
    ("fragment", "body"),
    [
        (ARTICLE_HTML, "\n".join(PARAGRAPHS)),
        # A single element is what trafilatura would reject as "not HTML" on its own.
        ("<p>" + " ".join(PARAGRAPHS) + "</p>", " ".join(PARAGRAPHS)),
    ],
)
def test_html_fragment_without_html_element(fragment: str, body: str) -> None:
    article = loaded(extract_html(fragment, source="fragment.htm")).article
    assert article.body == body


@pytest.mark.parametrize(
    "html",
    [
        "<html><head><title>Log in</title></head><body><nav><a href='/'>Home</a></nav>"
        "<form><input name='q'></form></body></html>",
        "<html><body></body></html>",
    ],
)
def test_html_without_article_text(html: str) -> None:
    item = failure(extract_html(html, source="login.html"))
    assert (item.source, item.reason) == ("login.html", "no article text found")


def test_html_file_in_a_declared_legacy_charset(tmp_path: Path) -> None:
    text = "Городской совет утвердил новый бюджет библиотек после долгих споров о часах работы."
    html = (
        '<html><head><meta charset="windows-1251"><title>Бюджет</title></head>'
        f"<body><article><p>{text}</p><p>{text}</p></article></body></html>"
    )
    path = write(tmp_path / "ru.html", html.encode("windows-1251"))
    article = loaded(only(load_file(path, max_bytes=MAX))).article
    assert text in article.body
    assert article.title == "Бюджет"


def test_html_bytes_go_through_the_same_checks() -> None:
    assert failure(extract_html(b"%PDF-1.4 ...", source="x")).reason == (
        "looks like a PDF, not text"
    )
    assert loaded(extract_html(page("<title>T</title>").encode(), source="x")).article.body


def _bench_cases() -> list[tuple[str, dict[str, str]]]:
    if not (BENCH / "ground-truth.json").exists():
        return []
    truth: dict[str, dict[str, str]] = json.loads((BENCH / "ground-truth.json").read_text())
    return sorted(truth.items())


def _first_sentence(text: str) -> str:
    flat = " ".join(text.split())
    return re.split(r"(?<=[.!?])\s", flat, maxsplit=1)[0]


def _load_bench(key: str) -> Loaded:
    data = gzip.decompress((BENCH / "html" / f"{key}.html.gz").read_bytes())
    return loaded(only(load_bytes(data, name=f"{key}.html", max_bytes=MAX)))


needs_bench = pytest.mark.skipif(not _bench_cases(), reason="extraction benchmark not present")


@needs_bench
@pytest.mark.parametrize(
    ("key_prefix", "title", "outlet"),
    [
        (
            "042bb7b5",
            "Google Stadia, Microsoft xCloud, Apple Arcade: So Many Ways to Play…and Pay",
            "Wall Street Journal",
        ),
        ("04a6711c", "Opinion | Republicans Are Following Trump to Nowhere", "NYTimes"),
        ("05844573", "New SUVs and electric vehicles highlight L.A. Auto Show", "Connecticut Post"),
        ("06e5123e", None, None),
    ],
)
def test_real_pages_match_the_ground_truth(
    key_prefix: str, title: str | None, outlet: str | None
) -> None:
    key, truth = next((k, v) for k, v in _bench_cases() if k.startswith(key_prefix))
    article = _load_bench(key).article
    assert _first_sentence(truth["articleBody"]) in " ".join(article.body.split())
    assert "\n\n" not in article.body
    assert article.published is not None
    assert article.published.tzinfo is UTC
    if title is not None:
        assert article.title == title
        assert not article.body.startswith(title)  # the headline is not repeated as text
    if outlet is not None:
        assert article.outlet == outlet
    assert article.url is not None
    assert article.url.split("//")[-1].startswith(truth["url"].split("//")[-1][:30])


@needs_bench
@pytest.mark.slow
def test_most_real_pages_match_the_ground_truth() -> None:
    cases = _bench_cases()
    hits = 0
    for key, truth in cases:
        data = gzip.decompress((BENCH / "html" / f"{key}.html.gz").read_bytes())
        item = only(load_bytes(data, name=f"{key}.html", max_bytes=MAX))
        if isinstance(item, Loaded) and _first_sentence(truth["articleBody"]) in " ".join(
            item.article.body.split()
        ):
            hits += 1
    # trafilatura itself (same settings) finds 161 of the 181 opening sentences.
    assert hits / len(cases) >= 0.85


# --------------------------------------------------------------------------- JSON / JSONL


def mh_item(**over: Any) -> dict[str, Any]:
    item: dict[str, Any] = {
        "title": "Council approves library budget",
        "author": "Jane Doe",
        "source": "Springfield Gazette",
        "published_at": "2023-11-27T08:45:59+00:00",
        "category": "politics",
        "url": "https://gazette.example/budget",
        "body": "\n".join(PARAGRAPHS),
    }
    item.update(over)
    return {k: v for k, v in item.items() if v is not ...}


def test_json_array_of_multihop_items(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def must_not_clean(raw: str) -> CleanedText:
        raise AssertionError("JSON bodies are already clean")

    monkeypatch.setattr(loaders, "clean_text_article", must_not_clean)
    items = [
        mh_item(body="  First line\r\nSecond line\rThird line \n\n"),
        mh_item(title="Second story", url="https://gazette.example/2", author=None),
    ]
    path = write(tmp_path / "news.json", json.dumps(items))

    got = [loaded(i) for i in load_file(path, max_bytes=MAX, scope="guild-3")]

    assert [g.source for g in got] == [f"{path}[0]", f"{path}[1]"]
    first = got[0].article
    assert first.title == "Council approves library budget"
    assert first.body == "First line\nSecond line\nThird line"
    assert first.author == "Jane Doe"
    assert first.outlet == "Springfield Gazette"
    assert first.category == "politics"
    assert first.url == "https://gazette.example/budget"
    assert first.published == datetime(2023, 11, 27, 8, 45, 59, tzinfo=UTC)
    assert first.scope == "guild-3"
    assert got[1].article.author is None
    assert got[1].article.title == "Second story"


def test_json_single_object(tmp_path: Path) -> None:
    path = write(tmp_path / "one.json", json.dumps(mh_item()))
    item = loaded(only(load_file(path, max_bytes=MAX)))
    assert item.source == str(path)
    assert item.article.body == "\n".join(PARAGRAPHS)


def test_json_field_aliases(tmp_path: Path) -> None:
    items = [
        {"title": "A", "text": "Body A", "outlet": "Outlet A", "date": "2024-01-02"},
        {"title": "B", "content": "Body B", "site_name": "Outlet B", "published": "2024-01-03"},
        {"title": "C", "body": "", "text": "Body C"},
    ]
    path = write(tmp_path / "aliases.json", json.dumps(items))
    got = [loaded(i).article for i in load_file(path, max_bytes=MAX)]
    assert [(a.body, a.outlet, a.published) for a in got] == [
        ("Body A", "Outlet A", datetime(2024, 1, 2, tzinfo=UTC)),
        ("Body B", "Outlet B", datetime(2024, 1, 3, tzinfo=UTC)),
        ("Body C", None, None),
    ]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        # Every format the loaders read is tested with the parser (tests/test_dates.py).
        ("2023-11-27T10:45:59+02:00", datetime(2023, 11, 27, 8, 45, 59, tzinfo=UTC)),
        ("Mon, 27 Nov 2023 08:45:59 GMT", datetime(2023, 11, 27, 8, 45, 59, tzinfo=UTC)),
    ],
)
def test_json_dates_become_aware_utc(tmp_path: Path, value: str, expected: datetime) -> None:
    path = write(tmp_path / "d.json", json.dumps(mh_item(published_at=value)))
    published = loaded(only(load_file(path, max_bytes=MAX))).article.published
    assert published == expected
    assert published is not None
    assert published.utcoffset() == timedelta(0)


def test_json_unparseable_date_loads_without_it(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = write(tmp_path / "d.json", json.dumps(mh_item(published_at="last Tuesday")))
    with caplog.at_level(logging.WARNING, logger="ingest.loaders"):
        article = loaded(only(load_file(path, max_bytes=MAX))).article
    assert article.published is None
    assert "last Tuesday" in caplog.text


def test_malformed_json_names_line_and_column(tmp_path: Path) -> None:
    path = write(tmp_path / "bad.json", '[\n  {"title": "A", "body": "B"}\n  {"title": "C"}\n]')
    item = failure(only(load_file(path, max_bytes=MAX)))
    assert item.source == str(path)
    assert item.reason == "malformed JSON at line 3, column 3: Expecting ',' delimiter"


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        ("[]", "the JSON array is empty: no articles"),
        ('"just a string"', "JSON must be an article object or an array of them, not a string"),
        ("42", "JSON must be an article object or an array of them, not a number"),
    ],
)
def test_json_that_is_not_articles(tmp_path: Path, content: str, reason: str) -> None:
    item = failure(only(load_file(write(tmp_path / "x.json", content), max_bytes=MAX)))
    assert item.reason == reason


def test_json_array_bad_items_fail_one_by_one(tmp_path: Path) -> None:
    items: list[Any] = [
        mh_item(),
        7,
        ["a", "list"],
        mh_item(body=...),
        mh_item(title=...),
        mh_item(body="   "),
        mh_item(title=""),
        mh_item(title=12),
        mh_item(body={"text": "nested"}),
    ]
    path = write(tmp_path / "mixed.json", json.dumps(items))
    got = load_file(path, max_bytes=MAX)
    assert isinstance(got[0], Loaded)
    reasons = [(failure(i).source, failure(i).reason) for i in got[1:]]
    assert reasons == [
        (f"{path}[1]", "item is a number, not an article object"),
        (f"{path}[2]", "item is an array, not an article object"),
        (f"{path}[3]", 'article has no body text: expected a "body" field'),
        (f"{path}[4]", 'article has no title: expected a "title" field'),
        (f"{path}[5]", "article has no body text"),
        (f"{path}[6]", "article has no title"),
        (f"{path}[7]", "the article title must be text, not a number"),
        (f"{path}[8]", "the article body must be text, not an object"),
    ]


@pytest.mark.parametrize("suffix", [".jsonl", ".ndjson"])
def test_jsonl_one_bad_line_does_not_stop_the_rest(tmp_path: Path, suffix: str) -> None:
    lines = [
        json.dumps(mh_item(title="First")),
        "",
        '{"title": "Broken", "body": "x",}',
        json.dumps(mh_item(title="Third")),
        "   ",
        '"a string"',
        json.dumps({"title": "No body"}),
        json.dumps(mh_item(title="Last")),
    ]
    path = write(tmp_path / f"feed{suffix}", "\r\n".join(lines) + "\n")
    got = load_file(path, max_bytes=MAX)

    assert [(i.source, i.article.title) for i in got if isinstance(i, Loaded)] == [
        (f"{path}#line 1", "First"),
        (f"{path}#line 4", "Third"),
        (f"{path}#line 8", "Last"),
    ]
    assert [(i.source, i.reason) for i in got if isinstance(i, LoadFailure)] == [
        (
            f"{path}#line 3",
            "malformed JSON at line 3, column 33: Expecting property name enclosed in double "
            "quotes",
        ),
        (f"{path}#line 6", "item is a string, not an article object"),
        (f"{path}#line 7", 'article has no body text: expected a "body" field'),
    ]


@pytest.mark.skipif(not CORPUS.exists(), reason="MultiHop-RAG corpus not present")
def test_multihop_corpus_loads_whole() -> None:
    items = load_file(CORPUS, max_bytes=MAX)

    assert len(items) == 609
    articles = [loaded(i).article for i in items]
    by_title = {a.title: a for a in articles}
    budget = by_title["ASX set to drop as Wall Street’s September slump deepens"]
    assert budget.outlet == "The Sydney Morning Herald"
    assert budget.author == "Stan Choe"
    assert budget.published == datetime(2023, 9, 26, 19, 11, 30, tzinfo=UTC)
    assert all(a.published is not None and a.published.tzinfo is UTC for a in articles)
    assert all(a.body == a.body.strip() and a.scope == GLOBAL_SCOPE for a in articles)


# --------------------------------------------------------------------------- load_bytes


def test_load_bytes_uses_the_name_suffix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(loaders, "clean_text_article", fake_cleaner())
    html = page("<title>Budget vote</title>").encode()
    item = loaded(only(load_bytes(html, name="page.HTM", max_bytes=MAX, url="https://u.example")))
    assert item.source == "page.HTM"
    assert item.article.title == "Budget vote"
    assert item.article.url == "https://u.example"
    # The same markup named .txt is taken as text, tags and all.
    as_text = loaded(only(load_bytes(html, name="page.txt", max_bytes=MAX))).article
    assert as_text.body.startswith("<!DOCTYPE html>")
    assert as_text.title == "Page"


def test_load_bytes_unsupported_suffix() -> None:
    item = failure(only(load_bytes(b"a,b\n1,2\n", name="data.csv", max_bytes=MAX)))
    assert item.reason == "unsupported file type .csv: use .txt, .html, .json or .jsonl"


def test_load_bytes_sniffs_the_type_without_a_suffix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(loaders, "clean_text_article", fake_cleaner())
    as_array = load_bytes(
        json.dumps([mh_item(), mh_item(title="B")]).encode(), name="a", max_bytes=MAX
    )
    assert [i.source for i in as_array] == ["a[0]", "a[1]"]
    assert all(isinstance(i, Loaded) for i in as_array)

    as_object = only(load_bytes(json.dumps(mh_item()).encode(), name="o", max_bytes=MAX))
    assert loaded(as_object).article.title == "Council approves library budget"

    lines = "\n".join(json.dumps(mh_item(title=t)) for t in ("X", "Y")).encode()
    as_lines = load_bytes(lines, name="l", max_bytes=MAX)
    assert [(i.source, loaded(i).article.title) for i in as_lines] == [
        ("l#line 1", "X"),
        ("l#line 2", "Y"),
    ]

    as_html = loaded(
        only(load_bytes(page("<title>Sniffed</title>").encode(), name="h", max_bytes=MAX))
    )
    assert as_html.article.title == "Sniffed"
    assert as_html.article.body == "\n".join(PARAGRAPHS)

    text = "[Update] " + PARAGRAPHS[0]
    as_text = loaded(only(load_bytes(text.encode(), name="message", max_bytes=MAX)))
    assert as_text.article.body == text


def test_load_bytes_rejects_binary_and_empty() -> None:
    assert failure(only(load_bytes(b"", name="a.txt", max_bytes=MAX))).reason == "empty file"
    png = b"\x89PNG\r\n\x1a\n" + bytes(100)
    assert failure(only(load_bytes(png, name="photo", max_bytes=MAX))).reason == (
        "looks like a PNG image, not text"
    )


# --------------------------------------------------------------------------- hostile input


def test_deeply_nested_json_is_one_failure_not_a_crash(tmp_path: Path) -> None:
    for name, data in [("deep.json", b"[" * 100_000), ("sniffed", b'{"a":' * 100_000)]:
        item = failure(only(load_bytes(data, name=name, max_bytes=MAX)))
        assert item.reason == (
            "the JSON is nested too deeply to read: an article is one object of text fields, "
            "so remove the extra levels of brackets"
        )


def test_a_deeply_nested_jsonl_line_fails_alone(tmp_path: Path) -> None:
    lines = [json.dumps(mh_item(title="First")), "[" * 100_000, json.dumps(mh_item(title="Last"))]
    path = write(tmp_path / "feed.jsonl", "\n".join(lines))
    got = load_file(path, max_bytes=MAX)
    assert [(i.source, loaded(i).article.title) for i in (got[0], got[2])] == [
        (f"{path}#line 1", "First"),
        (f"{path}#line 3", "Last"),
    ]
    assert failure(got[1]).reason.startswith("the JSON is nested too deeply to read")


def test_a_number_too_long_to_convert_is_a_failure(tmp_path: Path) -> None:
    data = f'[{{"title": "A", "body": "B", "views": {"9" * 5000}}}]'.encode()
    item = failure(only(load_bytes(data, name="n.json", max_bytes=MAX)))
    assert item.reason == "the JSON holds a number too long to read: remove it"


@pytest.mark.parametrize(
    "value",
    [
        "0001-01-01T00:00:00+01:00",  # before year 1 once in UTC
        "9999-12-31T23:30:00-05:00",  # after year 9999
        "Mon, 01 Jan 99999999999999999999 00:00:00 +0100",
    ],
)
def test_a_date_beyond_the_calendar_is_left_unset(tmp_path: Path, value: str) -> None:
    path = write(tmp_path / "d.json", json.dumps([mh_item(published_at=value), mh_item()]))
    first, second = (loaded(i).article for i in load_file(path, max_bytes=MAX))
    assert first.published is None
    assert second.published == datetime(2023, 11, 27, 8, 45, 59, tzinfo=UTC)


def test_a_page_dated_year_one_still_loads() -> None:
    head = '<meta property="article:published_time" content="0001-01-01T00:00:00+05:00">'
    item = loaded(only(load_bytes(page(head).encode(), name="p.html", max_bytes=MAX)))
    assert item.article.body == "\n".join(PARAGRAPHS)


def test_a_lone_surrogate_fails_its_item_and_the_rest_load(tmp_path: Path) -> None:
    # json.dumps writes the escapes "\ud800", which json.loads turns back into lone surrogates.
    items = [
        mh_item(title="First"),
        mh_item(title="Broken \ud800 title", url=None),
        mh_item(title="Broken outlet", source="Gazette \udfff"),
        mh_item(title="Last"),
    ]
    path = write(tmp_path / "s.json", json.dumps(items))
    got = load_file(path, max_bytes=MAX)
    assert [loaded(i).article.title for i in (got[0], got[3])] == ["First", "Last"]
    assert [failure(i).reason for i in got[1:3]] == [
        f"the article's {name} holds an invalid character (a lone surrogate, such as the "
        "escape \\ud800): remove it"
        for name in ("title", "outlet")
    ]


def test_pasted_text_with_a_lone_surrogate_is_a_failure() -> None:
    text = f"{PARAGRAPHS[0]}\nBroken \ud800 {PARAGRAPHS[1]}"
    item = failure(article_from_text(text, source="pasted"))
    assert item.reason.startswith("holds text that is not valid Unicode")


def test_a_page_declaring_a_charset_that_cannot_decode_falls_back() -> None:
    head = '<meta charset="undefined"><title>Caf\xe9 news</title>'
    data = page(head).encode("cp1252")  # not UTF-8, so the declared charset is tried
    item = loaded(only(load_bytes(data, name="p.html", max_bytes=MAX)))
    assert item.article.title == "Café news"


def test_a_name_with_a_nul_is_a_failure() -> None:
    item = failure(only(load_file(Path("story\x00.txt"), max_bytes=MAX)))
    assert item.reason == "cannot read file: its name contains a NUL character"


def test_a_row_of_comments_is_sniffed_in_linear_time() -> None:
    # Comments and no element: the old pattern took seconds at 24 and twice as long per comment.
    row = b"<!-- -->" * 40 + b" x"
    item = loaded(only(finishes("sniffing", lambda: load_bytes(row, name="upload", max_bytes=MAX))))
    assert item.article.body == row.decode()
