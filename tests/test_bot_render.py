"""What Discord users see: embeds within every limit, text escaped, honest non-answers."""

from __future__ import annotations

import dataclasses
import re
from datetime import UTC, datetime

import discord
import pytest

from bot.render import (
    CONTENT_LIMIT,
    DESCRIPTION_LIMIT,
    EMBED_TOTAL_LIMIT,
    FIELD_NAME_LIMIT,
    FIELD_VALUE_LIMIT,
    FIELDS_LIMIT,
    TITLE_LIMIT,
    answer_embed,
    forgotten_text,
    ingest_report_text,
    safe,
    sources_embed,
    trim,
)
from ingest.forgetting import Forgotten
from ingest.reports import IngestReport, ItemResult, Status
from retrieval.models import (
    Answer,
    AnswerPart,
    Citation,
    Quote,
    ShortAnswer,
    StoredArticle,
    WrittenAnswer,
)

WHEN = datetime(2022, 1, 26, 17, 45, tzinfo=UTC)


def _citation(
    n: int, title: str = "NATO responds", url: str | None = "https://x.test/a"
) -> Citation:
    return Citation(n, f"a_{n}", title, "Sputnik", "Morgan Artyukhina", WHEN, url)


def _answer(quotes: list[Quote], citations: list[Citation], answered: bool = True) -> Answer:
    return Answer(
        question="what did NATO say about Russia's demands?",
        answered=answered,
        quotes=tuple(quotes) if answered else (),
        citations=tuple(citations) if answered else (),
        nearest=() if answered else tuple(citations),
        articles_searched=610,
        newest_published=datetime(2023, 12, 25, tzinfo=UTC),
    )


def _stored(title: str = "Headline", url: str | None = "https://x.test/a") -> StoredArticle:
    return StoredArticle(
        id="a_1",
        title=title,
        outlet="Sputnik",
        author=None,
        published=WHEN,
        updated=None,
        url=url,
        category=None,
        scope="global",
        content_hash="h",
        chunk_count=3,
        ingested_at=WHEN,
    )


# A feed entry's link and title as a phisher would write them.
EVIL_URL = "https://x.test/story> [Verify your account](https://evil.example) <"
EVIL_TITLE = "Read [Verify your account](https://evil.example) **now**"
EVIL_URL_SHOWN = (
    "<https://x.test/story%3E%20%5BVerify%20your%20account%5D%28https://evil.example%29%20%3C>"
)
EVIL_TITLE_SHOWN = "Read \\[Verify your account](https://evil.example) \\*\\*now\\*\\*"
# A masked link Discord would render: [text](url), its "[" not escaped.
MASKED_LINK = re.compile(r"(?<!\\)\[[^\]]*\]\(")


def _assert_within_limits(embed: discord.Embed) -> None:
    assert len(embed.title or "") <= TITLE_LIMIT
    assert len(embed.description or "") <= DESCRIPTION_LIMIT
    assert len(embed.fields) <= FIELDS_LIMIT
    for field in embed.fields:
        assert len(field.name or "") <= FIELD_NAME_LIMIT
        assert len(field.value or "") <= FIELD_VALUE_LIMIT
    assert len(embed) <= EMBED_TOTAL_LIMIT


def test_quotes_are_block_quotes_followed_by_their_citation_number() -> None:
    quote = Quote('Russia\'s key demands are "unacceptable."', 1, "a_1", 0, 10)
    embed = answer_embed(_answer([quote], [_citation(1)]))
    assert embed.description == '> Russia\'s key demands are "unacceptable." [1]'
    field = embed.fields[0]
    assert field.name == "[1] NATO responds"
    assert field.value == "Sputnik · 2022-01-26 · Morgan Artyukhina\n<https://x.test/a>"
    assert embed.footer.text == "Searched 610 articles · newest 2023-12-25"


def test_mentions_and_markdown_in_quotes_are_neutralised() -> None:
    text = "Hi @everyone and @here and <@123> and <@!80351110224678912> and <@&9>: **bold** _it_"
    quote = Quote(text, 1, "a_1", 0, 1)
    text = answer_embed(_answer([quote], [_citation(1)])).description or ""
    assert "@everyone" not in text and "@here" not in text
    assert "<@123>" not in text and "<@&9>" not in text and "<@!8035" not in text
    assert "\\*\\*bold\\*\\*" in text and "\\_it\\_" in text
    assert safe("@everyone").replace("\u200b", "") == "@everyone"  # still reads the same


def test_an_answer_with_many_long_sources_stays_within_every_limit() -> None:
    long_sentence = ("The minister said the plan would cost a great deal of money. " * 80).strip()
    quotes = [Quote(long_sentence, n, f"a_{n}", 0, 1) for n in range(1, 11)]
    citations = [
        _citation(n, title="A very long headline " * 30, url="https://x.test/" + "p" * 900)
        for n in range(1, 31)
    ]
    embed = answer_embed(_answer(quotes, citations))
    _assert_within_limits(embed)
    assert embed.fields[-1].value.startswith("and ") and "more sources" in embed.fields[-1].value
    # trimmed at a sentence end, and marked
    first_block = (embed.description or "").split("\n\n")[0]
    assert first_block.endswith("money.… [1]")


def test_not_answered_says_so_and_lists_the_nearest_articles() -> None:
    embed = answer_embed(_answer([], [_citation(1), _citation(2, "Other")], answered=False))
    assert (embed.description or "").startswith("No ingested article covers this.")
    assert [f.name for f in embed.fields] == ["[1] NATO responds", "[2] Other"]


def test_trim_cuts_at_sentence_then_word() -> None:
    assert trim("One. Two three four.", 12) == "One.…"
    assert trim("alpha beta gamma", 12) == "alpha beta…"
    assert trim("short", 12) == "short"


def test_sources_embed_lists_outlet_date_and_unpreviewed_link() -> None:
    article = _stored("Headline *with* markdown")
    embed = sources_embed([article] * 3, total=40, query=None)
    assert "**Headline \\*with\\* markdown**\nSputnik · 2022-01-26 · <https://x.test/a>" in (
        embed.description or ""
    )
    assert (embed.description or "").endswith("and 37 more")
    _assert_within_limits(embed)


def test_ingest_report_fits_in_one_message() -> None:
    report = IngestReport(
        items=[ItemResult(f"file{i}.json[{i}]", Status.FAILED, reason="x" * 80) for i in range(100)]
    )
    text = ingest_report_text(report)
    assert text.startswith("Added 0, updated 0, unchanged 0, failed 100.")
    assert len(text) <= CONTENT_LIMIT and text.endswith("(more items not shown)")


def test_the_short_answer_comes_first_in_bold_then_the_quotes() -> None:
    quote = Quote("The winner takes home $4 million, a record.", 1, "a_1", 0, 44)
    answer = dataclasses.replace(
        _answer([quote], [_citation(1)]), short_answer=ShortAnswer("$4 million", 1)
    )
    embed = answer_embed(answer)
    assert embed.description == (
        "**$4 million** [1]\n\n> The winner takes home $4 million, a record. [1]"
    )


def test_each_part_of_a_question_gets_its_heading_quotes_and_short_answer_within_limits() -> None:
    long = "The club said the decision was a disgrace and would be appealed. " * 40
    quotes = [
        Quote("He died at the age of 85 on Monday.", 1, "a_1", 0, 35),
        Quote(long.strip(), 2, "a_2", 0, len(long.strip())),
    ]
    parts = (
        AnswerPart("how old was he when he died", True, (0,), ShortAnswer("85", 1)),
        AnswerPart("why were they docked 10 points " + "really " * 80, True, (1,), None),
        AnswerPart("who won the cup", False, (), None),
    )
    answer = dataclasses.replace(
        _answer(quotes, [_citation(1), _citation(2)]), question="q " * 200, parts=parts
    )
    embed = answer_embed(answer)
    _assert_within_limits(embed)
    text = embed.description or ""
    assert text.startswith("__1. how old was he when he died__\n\n**85** [1]\n\n> He died at")
    assert "__2. why were they docked 10 points" in text and "disgrace" in text
    assert "__3. who won the cup__\nNo ingested article covers this part." in text


@pytest.mark.parametrize("answered", [True, False], ids=["citations", "nearest"])
def test_stored_links_and_titles_in_sources_fields_stay_inert(answered: bool) -> None:
    quote = Quote("NATO said the demands were unacceptable.", 1, "a_1", 0, 10)
    citation = _citation(1, title=EVIL_TITLE, url=EVIL_URL)
    embed = answer_embed(_answer([quote], [citation], answered=answered))
    field = embed.fields[0]
    assert field.name == "[1] " + EVIL_TITLE_SHOWN
    assert field.value == "Sputnik · 2022-01-26 · Morgan Artyukhina\n" + EVIL_URL_SHOWN
    assert not MASKED_LINK.search(field.name) and not MASKED_LINK.search(field.value)


def test_stored_links_and_titles_in_the_sources_list_stay_inert() -> None:
    embed = sources_embed([_stored(EVIL_TITLE, EVIL_URL)], total=1, query="**now**")
    description = embed.description or ""
    assert description == f"**{EVIL_TITLE_SHOWN}**\nSputnik · 2022-01-26 · {EVIL_URL_SHOWN}"
    assert embed.title == "Articles matching “\\*\\*now\\*\\*”"
    assert not MASKED_LINK.search(description)


@pytest.mark.parametrize(
    "url",
    [
        "javascript:alert(1)",
        "ftp://x.test/a",
        "https://user:password@x.test/a",
        "https://x.test:99999/a",
        "https://x.test\\@evil.example/",
    ],
)
def test_only_clean_http_links_are_shown(url: str) -> None:
    field = answer_embed(_answer([], [_citation(1, url=url)], answered=False)).fields[0]
    assert field.value == "Sputnik · 2022-01-26 · Morgan Artyukhina"
    assert sources_embed([_stored(url=url)], total=1, query=None).description == (
        "**Headline**\nSputnik · 2022-01-26"
    )


def test_the_forget_reply_shows_titles_as_text() -> None:
    copy = dataclasses.replace(_stored("Copy"), outlet="[Wire](https://evil.example)")
    text = forgotten_text(Forgotten(_stored(EVIL_TITLE), promoted=copy))
    assert text == (
        f"Forgot “{EVIL_TITLE_SHOWN}” (3 chunks). "
        "Its copy from \\[Wire](https://evil.example) now stands in for it."
    )


def test_the_written_answer_comes_first_labelled_with_its_model_then_the_quotes() -> None:
    quote = Quote('Russia\'s key demands are "unacceptable."', 1, "a_1", 0, 40)
    written = WrittenAnswer("NATO called the demands *unacceptable* [1].", "llama3.1:8b", 1)
    embed = answer_embed(dataclasses.replace(_answer([quote], [_citation(1)]), written=written))
    description = embed.description or ""
    assert description.startswith(
        "*Written by llama3.1:8b, checked against the quotes:*\n"
        "NATO called the demands \\*unacceptable\\* [1]."
    )
    assert description.index("Written by") < description.index("> Russia")
    _assert_within_limits(embed)


def test_a_long_written_answer_and_many_long_quotes_stay_within_every_limit() -> None:
    quotes = [Quote("word " * 400, n, f"a_{n}", 0, 2000) for n in range(1, 5)]
    citations = [_citation(n, title="T" * 300) for n in range(1, 5)]
    written = WrittenAnswer("A sentence of the model [1]. " * 200, "m" * 300, 0)
    embed = answer_embed(dataclasses.replace(_answer(quotes, citations), written=written))
    _assert_within_limits(embed)
    assert "> word" in (embed.description or "")
