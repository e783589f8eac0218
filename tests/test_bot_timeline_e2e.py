"""/timeline end to end: the real bot, discord.py, Chroma and model against the fake Discord.
A timeline is acknowledged at once, dated and cited, scoped to the server; a long one
continues in a thread when threads are on, and says what it leaves out when they are not."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from newsbot.services import Services
from retrieval.models import Article
from tests.fake_discord import FakeDiscord, FakeMessage
from tests.test_bot_e2e import running
from tests.test_timeline import CORPUS, STORY, TOPIC, ingest

LINE = re.compile(r"^\*\*(\d{4}-\d\d-\d\d)\*\* — “(.+)” \[(\d+)\]$")

# A long story: a hearing a day, each witness saying something of their own (so that no
# report is taken for a copy of another), in sentences long enough to fill two embeds.
WITNESSES = [
    (
        "Morag Fleming",
        "the inquiry's chair",
        "the council had been warned about rust on the "
        "north cables in a consultant's letter that nobody in the roads department answered",
    ),
    (
        "Ewan Baird",
        "a structural engineer",
        "the bolts holding the deck to the towers had "
        "sheared one after another over about forty minutes before the final failure",
    ),
    (
        "Isla Murray",
        "a former roads inspector",
        "her team had asked three times for money "
        "to repaint the steelwork and was told each year that the budget was already spent",
    ),
    (
        "Callum Reid",
        "the night bus driver",
        "he felt the road surface drop under his wheels "
        "and reversed off the span only seconds before it folded into the water",
    ),
    (
        "Fiona Hay",
        "a hydrologist from Edinburgh",
        "the Tweed had been running at its highest "
        "level for twelve years and the current had scoured gravel from around the piers",
    ),
    (
        "Duncan Moffat",
        "the council's chief executive",
        "he only learned of the consultant's "
        "warning from a journalist on the morning after the span came down",
    ),
    (
        "Rhona Kerr",
        "a steel supplier",
        "the replacement cables fitted in the nineteen nineties "
        "came from a batch that another country had withdrawn for cracking",
    ),
    (
        "Alasdair Grieve",
        "a diver with the fire service",
        "the southern pier had lost a third "
        "of its stone facing below the waterline, hidden from anyone looking from the bank",
    ),
    (
        "Shona Elliot",
        "a resident of Maxwellheugh",
        "cracks in the parapet had been reported "
        "on the council website twice in the autumn and both reports were closed unread",
    ),
    (
        "Graham Scott",
        "a traffic modeller",
        "heavy lorries diverted from the bypass during "
        "roadworks had crossed the old span at nearly four times its usual daily load",
    ),
    (
        "Eilidh Brown",
        "an insurance assessor",
        "the policy covering the structure excluded "
        "damage from corrosion, leaving taxpayers to meet almost the whole cost of rebuilding",
    ),
    (
        "Hamish Tait",
        "a retired bridge designer",
        "the original drawings showed drainage "
        "channels that were never built, so rainwater had pooled inside the hollow girders",
    ),
    (
        "Kirsty Laing",
        "the head of the local school",
        "pupils from the south bank now spend "
        "an extra hour a day on buses and attendance had fallen sharply since March",
    ),
    (
        "Neil Robson",
        "a union representative for council staff",
        "inspectors were given two "
        "days a year for every structure in the Borders, far less than national guidance",
    ),
    (
        "Catriona Bell",
        "a professor of materials science",
        "samples cut from the fallen cables "
        "showed pitting so deep that they had lost half their strength long before the collapse",
    ),
    (
        "Ruaridh Kemp",
        "a transport minister",
        "the government would pay for a new crossing "
        "but expected the council to publish every inspection report of the last twenty years",
    ),
]
LONG_STORY = [
    Article(
        title=f"Kelso bridge collapse inquiry hears from {name}",
        # (The heading is no sentence to quote: the entry is the witness's evidence.)
        body=f"Kelso bridge collapse inquiry: day {day}\n"
        f"{name}, {role}, told the Kelso bridge collapse inquiry in the crowded town hall "
        f"on the morning of day {day} of its hearings that {said}.",
        outlet="Border Herald",
        published=datetime(2024, 4, day, 17, tzinfo=UTC),
        url=f"https://borderherald.example/inquiry-day-{day}",
    )
    for day, (name, role, said) in enumerate(WITNESSES, start=1)
]


def _lines(messages: list[FakeMessage]) -> list[tuple[str, int]]:
    """(date, citation) of each timeline line."""
    return [(day, n) for day, _, n in _entries(messages)]


def _entries(messages: list[FakeMessage]) -> list[tuple[str, str, int]]:
    found = []
    for message in messages:
        for embed in message.embeds:
            for line in embed["description"].splitlines():
                if match := LINE.match(line):
                    found.append((match.group(1), match.group(2), int(match.group(3))))
    return found


def _fields(messages: list[FakeMessage]) -> list[dict[str, Any]]:
    return [field for m in messages for embed in m.embeds for field in embed.get("fields", [])]


async def test_a_timeline_is_dated_cited_and_scoped_to_the_server(
    fake_discord: FakeDiscord, services: Services
) -> None:
    guild = fake_discord.add_guild(name="News")
    other = fake_discord.add_guild(name="Elsewhere")
    bob = fake_discord.add_member(guild, name="bob")
    eve = fake_discord.add_member(other, name="eve")
    elsewhere = Article(
        title="Kelso bridge collapse: divers recover a car",
        body="Police divers recovered a car from the river on Thursday after the Kelso bridge "
        "collapse, and nobody was inside it.\n"
        "The Kelso bridge collapse left the car upside down on a sandbank below the bridge.",
        outlet="Elsewhere Weekly",
        published=datetime(2024, 3, 7, tzinfo=UTC),
        url="https://elsewhere.example/car",
        scope=f"guild:{other.id}",
    )
    ingest(services, [*CORPUS, elsewhere])
    async with running(fake_discord, services):  # commands synced globally: both servers
        inter = await fake_discord.invoke_slash(guild, bob, "timeline", {"topic": TOPIC})
        reply = await inter.wait_for_response(timeout=60)
        theirs = await fake_discord.invoke_slash(other, eve, "timeline", {"topic": TOPIC})
        their_reply = await theirs.wait_for_response(timeout=60)
        bad = await fake_discord.invoke_slash(
            guild, bob, "timeline", {"topic": TOPIC, "since": "last week"}
        )
        refusal = await bad.wait_for_response(timeout=10)
    # (The fake rejects an acknowledgement after 3 s, as Discord does: none was rejected.)
    assert inter.deferred and inter.acknowledged_at is not None
    assert not reply.ephemeral and not inter.rejections
    embed = reply.embeds[0]
    assert embed["title"] == f"Timeline: {TOPIC}"
    assert _lines([reply]) == [
        ("2024-03-04", 1),
        ("2024-03-05", 2),
        ("2024-03-09", 3),
        ("2024-03-20", 4),
    ]
    for (_, quote, _), article in zip(_entries([reply]), STORY, strict=True):
        assert quote in article.body.splitlines()  # a sentence of its article, verbatim
    names = [f["name"] for f in embed["fields"]]
    assert names[0] == "[1] Kelso bridge collapses into the Tweed"
    assert embed["fields"][0]["value"].startswith("Border Herald · 2024-03-04 · Ailsa Grant")
    assert "Also reported by Valley Courier" in embed["fields"][1]["value"]
    assert "Elsewhere Weekly" not in reply.text  # another server's article
    assert "2024-03-07" in [day for day, _ in _lines([their_reply])]
    assert reply.allowed_mentions is not None and reply.allowed_mentions["parse"] == []
    assert refusal.ephemeral
    assert refusal.content == "since 'last week' is not a date: use YYYY-MM-DD, e.g. 2023-11-30."


async def test_a_long_timeline_continues_in_a_thread_or_says_what_it_leaves_out(
    fake_discord: FakeDiscord, services: Services
) -> None:
    guild = fake_discord.add_guild(name="News")
    bob = fake_discord.add_member(guild, name="bob")
    ingest(services, LONG_STORY)
    topic = "Kelso bridge collapse inquiry"
    async with running(fake_discord, services, guild, reply_in_thread=True):
        inter = await fake_discord.invoke_slash(guild, bob, "timeline", {"topic": topic})
        first = await inter.wait_for_response(timeout=60)
        footer = first.embeds[0]["footer"]["text"]  # "1/N · Searched ..."
        count = int(footer.split(" ")[0].split("/")[1])
        assert count > 1 and footer.startswith(f"1/{count} · Searched")
        rest = await fake_discord.wait_for_messages(
            None, lambda m: m.channel.is_thread, count=count - 1, timeout=30
        )
    assert first.thread is not None and all(m.channel is first.thread for m in rest)
    assert first.thread.name == f"Timeline: {topic}"
    pages = [first, *rest]
    entries = _lines(pages)
    # Every hearing, in date order, each with its source beside it, over several embeds.
    assert [n for _, n in entries] == list(range(1, len(WITNESSES) + 1))
    assert [day for day, _ in entries] == [f"2024-04-{d:02d}" for d in range(1, len(WITNESSES) + 1)]
    assert [f["name"].split("]")[0] + "]" for f in _fields(pages)] == [
        f"[{n}]" for n in range(1, len(WITNESSES) + 1)
    ]

    async with running(fake_discord, services, guild, reply_in_thread=False):
        again = await fake_discord.invoke_slash(guild, bob, "timeline", {"topic": topic})
        alone = await again.wait_for_response(timeout=60)
    shown = _lines([alone])
    left = len(WITNESSES) - len(shown)
    assert 0 < len(shown) < len(WITNESSES) and alone.thread is None
    assert alone.embeds[0]["description"].endswith(
        f"…and {left} more entries: `newsbot timeline` shows the whole timeline."
    )


async def test_a_topic_no_article_covers_is_said_so_with_the_nearest(
    fake_discord: FakeDiscord, services: Services
) -> None:
    guild = fake_discord.add_guild(name="News")
    bob = fake_discord.add_member(guild, name="bob")
    ingest(services, CORPUS)
    async with running(fake_discord, services, guild):
        inter = await fake_discord.invoke_slash(
            guild, bob, "timeline", {"topic": "volcanic eruption in Iceland"}
        )
        reply = await inter.wait_for_response(timeout=60)
    embed = reply.embeds[0]
    assert embed["description"] == "No ingested article covers this.\nThe nearest articles are:"
    assert embed["fields"] and embed["fields"][0]["name"].startswith("[1] ")
