"""`newsbot timeline`: a story's developments in date order, one verbatim quote per article,
cited; syndicated copies collapsed, undated and off-topic articles left out; the JSON
contract other programs read; and a timeline's Discord embeds within every limit."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import discord
import pytest
from click.testing import CliRunner

from bot import render
from ingest.loaders import Loaded
from newsbot.cli import main
from newsbot.services import Services
from retrieval.models import Article, Citation, Quote
from retrieval.timeline import Timeline, TimelineEntry
from tests.test_cli import CITATION_KEYS

TOPIC = "Kelso bridge collapse"


def _at(day: int, hour: int = 9) -> datetime:
    return datetime(2024, 3, day, hour, tzinfo=UTC)


COLLAPSE = Article(
    title="Kelso bridge collapses into the Tweed",
    body="The old Kelso bridge collapsed into the River Tweed early on Monday, and nobody was "
    "on the bridge when it fell, police said.\n"
    "The Kelso bridge collapse cut the town's main road link to the south, and drivers face a "
    "forty-minute detour.\n"
    "Engineers will inspect what is left of the bridge once the river falls, the council said "
    "of the collapse.",
    outlet="Border Herald",
    author="Ailsa Grant",
    published=_at(4, 8),
    url="https://borderherald.example/kelso-bridge-collapses",
)
CABLES = Article(
    title="Corroded cables blamed for Kelso bridge collapse",
    body="Corroded steel cables caused the Kelso bridge collapse, engineers who examined the "
    "wreckage said on Tuesday.\n"
    "The cables had not been inspected since 2009, according to council records seen by the "
    "Tweed Times.\n"
    "The bridge collapse in Kelso has raised questions about forty other river crossings in the "
    "Borders.",
    outlet="Tweed Times",
    published=_at(5),
    url="https://tweedtimes.example/cables-blamed",
)
# The same report, republished by another paper: stored as a copy, cited once with it.
CABLES_COPY = Article(
    title="Rusty cables brought down Kelso bridge",
    body="This story first appeared in the Tweed Times.\n" + CABLES.body,
    outlet="Valley Courier",
    published=_at(5, 14),
    url="https://valleycourier.example/kelso-cables",
)
INQUIRY = Article(
    title="Inquiry into Kelso bridge collapse opens",
    body="A public inquiry into the Kelso bridge collapse opened on Saturday with a minute's "
    "silence for the town.\n"
    "The inquiry's chair, Judge Morag Fleming, said she would report on the bridge collapse "
    "within six months.\n"
    "Residents of Kelso packed the town hall to hear the first evidence about the bridge.",
    outlet="Border Herald",
    published=_at(9),
    url="https://borderherald.example/kelso-inquiry",
)
CROSSING = Article(
    title="Temporary crossing to replace collapsed Kelso bridge",
    body="Army engineers will build a temporary crossing to replace the bridge lost in the Kelso "
    "bridge collapse, ministers announced on Wednesday.\n"
    "The temporary bridge should open to cars in May, ending the long detour around Kelso since "
    "the collapse.\n"
    "A permanent bridge to replace the one that fell in the collapse could take four years to "
    "build.",
    outlet="Scottish Ledger",
    published=_at(20),
    url="https://scottishledger.example/kelso-crossing",
)
# About the story, but undated: a timeline cannot place it.
UNDATED = Article(
    title="Remembering the Kelso bridge",
    body="Before the Kelso bridge collapse, the bridge had carried traffic for two hundred "
    "years.\n"
    "The Kelso bridge collapse ended that long history in a single winter night.\n"
    "Many in Kelso still cannot believe the bridge collapse really happened to their town.",
    outlet="Border Herald",
    url="https://borderherald.example/remembering",
)
# Mentions the story in passing.
LIBRARY = Article(
    title="Kelso library extends its opening hours",
    body="Kelso library will stay open until nine on weekdays from April, the council said.\n"
    "Longer hours were the most requested change in a survey of residents, and since the "
    "bridge collapse more people have been studying in town.\n"
    "Two new librarians will be hired to cover the evening shifts, officials added.",
    outlet="Border Herald",
    published=_at(12),
    url="https://borderherald.example/library-hours",
)
HARBOUR = Article(
    title="Harbour to reopen after storm repairs",
    body="The harbour master said on Monday that the port would reopen to ferries next week.\n"
    "Repairs to the storm-damaged sea wall cost four million euros and took three months.\n"
    "Fishing boats have used a temporary pier since the storm hit the coast in January.",
    outlet="Coast Gazette",
    published=_at(6),
    url="https://coastgazette.example/harbour",
)
STORY = [COLLAPSE, CABLES, INQUIRY, CROSSING]
CORPUS = [COLLAPSE, CABLES, CABLES_COPY, INQUIRY, CROSSING, UNDATED, LIBRARY, HARBOUR]


def ingest(services: Services, articles: list[Article]) -> None:
    report = services.ingester.ingest([Loaded(a.url or a.title, a) for a in articles])
    assert not any(item.reason for item in report.items), report.items


@pytest.fixture
def story(services: Services) -> Services:
    ingest(services, CORPUS)
    services.close()  # the CLI opens the store itself
    return services


def _timeline(cli: CliRunner, *args: str, topic: str = TOPIC) -> Any:
    result = cli.invoke(main, ["timeline", "--json", *args, topic])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_timeline_json_is_dated_cited_verbatim_and_collapses_copies(
    story: Services, cli: CliRunner
) -> None:
    payload = _timeline(cli)
    assert set(payload) == {"topic", "entries", "citations", "nearest"}
    assert payload["topic"] == TOPIC and payload["nearest"] == []
    entries, citations = payload["entries"], payload["citations"]
    assert [set(e) for e in entries] == [{"date", "quote"}] * len(entries)
    assert all(set(e["quote"]) == {"text", "citation"} for e in entries)
    assert all(set(c) == CITATION_KEYS for c in citations)
    # One entry per story article, in date order, each dated with its article's day.
    assert [e["date"] for e in entries] == ["2024-03-04", "2024-03-05", "2024-03-09", "2024-03-20"]
    assert [c["url"] for c in citations] == [a.url for a in STORY]
    assert [e["quote"]["citation"] for e in entries] == [1, 2, 3, 4]
    assert [c["n"] for c in citations] == [1, 2, 3, 4]
    for entry, article in zip(entries, STORY, strict=True):
        quote = entry["quote"]["text"]
        assert quote in article.body.splitlines()  # a whole sentence, verbatim
    # The republished report is cited once, with its lead.
    assert citations[1]["also_reported_by"] == ["Valley Courier"]
    assert citations[1]["published"] == "2024-03-05T09:00:00+00:00"


def test_timeline_text_since_until_cap_and_bad_dates(
    story: Services, cli: CliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    text = cli.invoke(main, ["timeline", TOPIC])
    assert text.exit_code == 0, text.output
    lines = text.stdout.splitlines()
    assert lines[0] == f"Timeline: {TOPIC}"
    assert lines[2].startswith("2024-03-04  “") and "[1]" in text.stdout
    assert "Sources:" in lines and "also reported by Valley Courier" in text.stdout
    assert "Kelso library" not in text.stdout and "Harbour" not in text.stdout

    within = _timeline(cli, "--since", "2024-03-05", "--until", "2024-03-09")
    assert [e["date"] for e in within["entries"]] == ["2024-03-05", "2024-03-09"]

    monkeypatch.setenv("NEWSBOT_TIMELINE_MAX_ENTRIES", "2")
    capped = _timeline(cli)["entries"]
    assert len(capped) == 2
    assert [e["date"] for e in capped] == sorted(e["date"] for e in capped)

    bad = cli.invoke(main, ["timeline", "--until", "2024-02-30", TOPIC])
    assert bad.exit_code == 2
    assert "--until '2024-02-30' is not a date: use YYYY-MM-DD" in bad.stderr


def test_a_topic_no_article_covers_gets_the_nearest_articles(
    story: Services, cli: CliRunner
) -> None:
    payload = _timeline(cli, topic="volcanic eruption in Iceland")
    assert payload["entries"] == [] and payload["citations"] == []
    assert 1 <= len(payload["nearest"]) <= 3
    text = cli.invoke(main, ["timeline", "volcanic eruption in Iceland"]).stdout
    assert "No ingested article covers this." in text and "Nearest articles:" in text
    empty = cli.invoke(main, ["timeline", "   "])
    assert empty.exit_code == 2 and "The topic is empty" in empty.stderr


def _long_timeline(entries: int) -> Timeline:
    """Entries at Discord's worst: long quotes full of markup and mentions, long titles,
    outlets and links."""
    quote = "The *mayor* said @everyone must leave_now, <@123> too. " * 20
    citations = tuple(
        Citation(
            n=n,
            article_id=f"a{n}",
            title="A very long headline about the bridge " * 10,
            outlet="Border Herald " * 30,
            author="Ailsa Grant",
            published=_at(1 + n % 28),
            url=f"https://borderherald.example/{n}/" + "segment/" * 100,
            also_reported_by=("Valley Courier " * 30,),
        )
        for n in range(1, entries + 1)
    )
    return Timeline(
        topic="Kelso *bridge* @everyone " * 20,
        entries=tuple(
            TimelineEntry(
                c.published or _at(1), Quote(quote, c.n, c.article_id, 0, len(quote)), 0.5
            )
            for c in citations
        ),
        citations=citations,
        nearest=(),
        articles_searched=100,
        newest_published=_at(28),
    )


def _within_limits(embed: discord.Embed) -> None:
    assert len(embed) <= render.EMBED_TOTAL_LIMIT
    assert len(embed.title or "") <= render.TITLE_LIMIT
    assert len(embed.description or "") <= render.DESCRIPTION_LIMIT
    assert len(embed.fields) <= render.FIELDS_LIMIT
    for field in embed.fields:
        assert len(field.name or "") <= render.FIELD_NAME_LIMIT
        assert 0 < len(field.value or "") <= render.FIELD_VALUE_LIMIT
    assert "@everyone" not in json.dumps(embed.to_dict())


def test_a_long_timeline_fits_discord_in_pages_or_counts_what_it_leaves_out() -> None:
    timeline = _long_timeline(40)
    pages = render.timeline_embeds(timeline, threads=True)
    assert len(pages) > 1
    for page in pages:
        _within_limits(page)
    cited = [int(f.name.split("]")[0][1:]) for page in pages for f in page.fields if f.name]
    assert cited == list(range(1, 41))  # every entry, in order, each beside its source
    assert pages[-1].footer.text and pages[-1].footer.text.startswith(f"{len(pages)}/{len(pages)}")

    [alone] = render.timeline_embeds(timeline, threads=False)
    _within_limits(alone)
    shown = len(alone.fields)
    assert alone.description is not None and alone.description.endswith(
        f"…and {40 - shown} more entries: `newsbot timeline` shows the whole timeline."
    )
