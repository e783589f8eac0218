"""Syndicated copies are stored once and cited once ("also reported by"); different stories
about the same event stay apart; a changed article is replaced and marked updated."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from ingest.chunking import Chunker
from ingest.forgetting import forget_story
from ingest.loaders import Loaded, LoadItem
from ingest.pipeline import Ingester
from ingest.reports import Status
from ingest.syndication import SyndicationTracker, signature
from newsbot.render import render_answer
from newsbot.services import Services, build_services
from retrieval.models import Article

WIRE = [
    "BRUSSELS (AP) — European Union energy ministers agreed on Tuesday to extend emergency "
    "limits on gas prices for another year, saying the measure had helped keep supplies "
    "stable through two difficult winters.",
    "The price cap, first adopted in December 2022, kicks in when benchmark prices at the Dutch "
    "trading hub stay above 180 euros per megawatt hour for three days in a row.",
    '"The cap has worked as an insurance policy and we want to keep it in place while the '
    'market is still fragile," said Belgian energy minister Tinne Van der Straeten, who '
    "chaired the meeting.",
    "Several countries, including Germany and the Netherlands, had argued that the cap was no "
    "longer needed because prices have fallen sharply since the peak of the energy crisis.",
    "Officials said storage sites across the bloc were more than 90 percent full, well above "
    "the target set for the start of November, and that imports of liquefied natural gas from "
    "the United States and Qatar had grown steadily over the summer.",
    "The extension still needs formal approval from member states, which is expected before "
    "the end of the month.",
]
LEAD = Article(
    title="EU extends gas price cap for another year",
    body="\n".join(WIRE),
    outlet="Associated Press",
    author="Lorne Cook",
    published=datetime(2024, 11, 5, 14, 0, tzinfo=UTC),
    url="https://apnews.example/eu-gas-cap",
)
# The same wire story, rewrapped by a regional paper: new headline, own intro and footer,
# paragraphs joined differently, typographic quotes.
REWRAPPED = Article(
    title="Energy ministers keep emergency gas cap",
    body=(
        "Editor's note: this story comes from our wire partners.\n"
        + " ".join(WIRE[:2])
        + "\n"
        + WIRE[2].replace('"', "“", 1).replace('," said', ",” said")
        + "\n"
        + "\n".join(WIRE[3:])
        + "\nCopyright 2024 The Associated Press. All rights reserved."
    ),
    outlet="Valley Courier",
    published=datetime(2024, 11, 5, 16, 30, tzinfo=UTC),
    url="https://valleycourier.example/world/gas-cap",
)
# Another outlet's own reporting of the same meeting: same facts, its own words.
OTHER_STORY = Article(
    title="Brussels keeps lid on gas prices as winter nears",
    body=(
        "Ministers meeting in Brussels decided to keep the European Union's ceiling on "
        "wholesale gas prices for twelve more months.\n"
        "The mechanism, agreed at the height of the energy crisis two years ago, has never "
        "actually been triggered, but supporters say its existence calms traders.\n"
        "Germany and the Netherlands were sceptical, warning that intervening in the market "
        "could scare away suppliers of liquefied natural gas.\n"
        "Tinne Van der Straeten, the Belgian minister who chaired the talks, called the cap "
        "an insurance policy for a market that remains fragile.\n"
        "Gas storage in the bloc is above 90 percent of capacity ahead of the heating season, "
        "according to figures published by the European Commission."
    ),
    outlet="Euro Ledger",
    published=datetime(2024, 11, 5, 18, 0, tzinfo=UTC),
    url="https://euroledger.example/gas-cap-kept",
)
QUESTION = "what did the Belgian energy minister say about the gas price cap?"


def chunker(services: Services) -> Chunker:
    return Chunker(services.embedder, chunk_tokens=200, overlap_tokens=40)


def items(*articles: Article) -> list[LoadItem]:
    return [Loaded(a.url or a.title, a) for a in articles]


def test_a_rewrapped_copy_is_near_duplicate_and_another_story_is_not() -> None:
    lead, copy, other = (signature(a.body) for a in (LEAD, REWRAPPED, OTHER_STORY))
    assert lead is not None and copy is not None and other is not None
    assert lead.jaccard(copy) > 0.7
    assert lead.jaccard(other) < 0.1


def test_a_syndicated_copy_is_stored_once_and_cited_once(services: Services) -> None:
    first = services.ingester.ingest(items(LEAD))
    chunks = services.index.count_chunks()
    report = services.ingester.ingest(items(REWRAPPED))
    [item] = report.items
    assert (item.status, item.copy_of, item.chunks) == (Status.ADDED, LEAD.id, 0)
    assert item.to_json()["copy_of"] == item.to_json()["duplicate_of"] == LEAD.id
    assert services.index.count_chunks() == chunks == first.items[0].chunks  # no new chunks
    stored = services.index.get_articles([REWRAPPED.id])[REWRAPPED.id]
    assert stored.copy_of == LEAD.id and stored.outlet == "Valley Courier"
    answer = services.answerer.answer(QUESTION)
    assert answer.answered
    [citation] = answer.citations
    assert citation.article_id == LEAD.id
    assert citation.also_reported_by == ("Valley Courier",)
    assert citation.to_json()["also_reported_by"] == ["Valley Courier"]
    assert len({q.text for q in answer.quotes}) == len(answer.quotes)
    shown = render_answer(answer)
    assert "also reported by Valley Courier" in shown
    assert shown.count("insurance policy") == 1


def test_two_stories_about_the_same_event_stay_separate(services: Services) -> None:
    report = services.ingester.ingest(items(LEAD, OTHER_STORY))
    assert [i.copy_of for i in report.items] == [None, None]
    assert all(i.chunks > 0 for i in report.items)
    answer = services.answerer.answer(QUESTION)
    assert all(c.also_reported_by == () for c in answer.citations)


def test_copies_in_one_batch_and_an_outlets_own_repost(services: Services) -> None:
    same_outlet = Article(
        title=LEAD.title,
        body=LEAD.body,
        outlet="Associated Press",
        url="https://apnews.example/amp/eu-gas-cap-2",
    )
    report = services.ingester.ingest(items(LEAD, REWRAPPED, same_outlet))
    assert [i.copy_of for i in report.items] == [None, LEAD.id, None]
    assert services.index.copies_of([LEAD.id])[LEAD.id][0].id == REWRAPPED.id


def test_a_servers_copy_never_attaches_to_another_scope(services: Services) -> None:
    guild_copy = Article(
        title=REWRAPPED.title, body=REWRAPPED.body, outlet="Valley Courier", scope="guild:7"
    )
    report = services.ingester.ingest(items(LEAD, guild_copy))
    assert [i.copy_of for i in report.items] == [None, None]


def test_forgetting_the_lead_promotes_its_oldest_copy(services: Services) -> None:
    third = Article(
        title="Gas cap extended",
        body=REWRAPPED.body.replace(
            "Editor's note: this story comes from our wire partners.\n", ""
        ),
        outlet="Harbor Times",
        url="https://harbortimes.example/gas",
    )
    services.ingester.ingest(items(LEAD))
    services.ingester.ingest(items(REWRAPPED))
    services.ingester.ingest(items(third))
    forgotten = forget_story(services.index, services.ingester, LEAD.url or "")
    assert forgotten is not None and forgotten.promoted is not None
    assert forgotten.promoted.id == REWRAPPED.id
    promoted = services.index.get_articles([REWRAPPED.id])[REWRAPPED.id]
    assert promoted.copy_of is None and promoted.chunk_count > 0
    assert services.index.get_articles([third.id])[third.id].copy_of == REWRAPPED.id
    [citation] = services.answerer.answer(QUESTION).citations
    assert (citation.outlet, citation.also_reported_by) == ("Valley Courier", ("Harbor Times",))


def test_another_process_recognises_copies_of_what_is_stored(services: Services) -> None:
    services.ingester.ingest(items(LEAD))
    again = build_services(services.settings)  # a new tracker: signatures from Chroma
    [item] = again.ingester.ingest(items(REWRAPPED)).items
    assert item.copy_of == LEAD.id


def test_articles_stored_before_tracking_get_signatures(services: Services) -> None:
    untracked = Ingester(services.index, services.embedder, chunker(services))
    untracked.ingest(items(LEAD))
    assert "minhash" not in services.index.article_fields(["minhash"])[LEAD.id]
    [item] = services.ingester.ingest(items(REWRAPPED)).items
    assert item.copy_of == LEAD.id
    assert "minhash" in services.index.article_fields(["minhash"])[LEAD.id]


@pytest.mark.parametrize("page_updated", [None, datetime(2024, 11, 6, 9, 15, tzinfo=UTC)])
def test_a_changed_article_replaces_its_chunks_and_is_marked_updated(
    services: Services, page_updated: datetime | None
) -> None:
    now = datetime(2024, 11, 6, 12, 0, tzinfo=UTC)
    ingester = Ingester(
        services.index,
        services.embedder,
        chunker(services),
        tracker=SyndicationTracker(services.index, clock=lambda: now),
    )
    ingester.ingest(items(LEAD))
    assert services.index.get_articles([LEAD.id])[LEAD.id].updated is None
    corrected = Article(
        title=LEAD.title,
        body=LEAD.body.replace("another year", "another two years"),
        outlet=LEAD.outlet,
        published=LEAD.published,
        updated=page_updated,
        url=LEAD.url,
    )
    [item] = ingester.ingest(items(corrected)).items
    assert item.status is Status.UPDATED and item.article_id == LEAD.id
    record = services.index.get_articles([LEAD.id])[LEAD.id]
    assert record.updated == (page_updated or now)
    texts = [p.text for p in services.answerer.search("gas price cap extension", k=20)]
    assert any("another two years" in t for t in texts)
    assert not any("another year," in t for t in texts)
    assert services.index.count_chunks() == record.chunk_count
