"""Feedback end to end, the real bot against the fake Discord: every answer carries the vote
buttons, a member's vote is stored (one per member per answer) and shown to the server's
admins in /coverage with the declined questions, grouped; /forget-me deletes the votes."""

from __future__ import annotations

import pytest

from ingest.loaders import load_file
from newsbot.services import Services
from tests.conftest import SEED
from tests.fake_discord import FakeDiscord, FakeMember, FakeMessage
from tests.test_bot_e2e import KEY_QUOTE, MANAGE_GUILD, QUESTION, SEED_TITLE, running

pytestmark = pytest.mark.skipif(not SEED.exists(), reason="needs ../shared/data/seed")

LABELS = ["Helpful", "Wrong quote", "Didn't answer"]
CHESS = "who won the chess olympiad?"
CHESS_AGAIN = "Which country won the Chess Olympiad?"


@pytest.fixture
def seeded(services: Services) -> Services:
    services.ingester.ingest(load_file(SEED, max_bytes=10**7))
    return services


def _buttons(message: FakeMessage) -> list[dict[str, object]]:
    return [b for row in message.components for b in row["components"]]


async def _vote(fake: FakeDiscord, answer: FakeMessage, member: FakeMember, label: str) -> str:
    click = await fake.click_button(answer, member, label=label)
    told = await click.wait_for_response(timeout=30)
    assert told.ephemeral and not click.rejections
    return told.content


async def test_votes_and_declines_are_shown_to_admins_in_coverage(
    fake_discord: FakeDiscord, seeded: Services
) -> None:
    fake = fake_discord
    guild = fake.add_guild(name="News")
    bob, carol = fake.add_member(guild, name="bob"), fake.add_member(guild, name="carol")
    alice = fake.add_member(guild, name="alice", permissions=MANAGE_GUILD)
    elsewhere = fake.add_guild(name="Elsewhere")
    dave = fake.add_member(elsewhere, name="dave", permissions=MANAGE_GUILD)
    async with running(fake, seeded):  # commands synced globally: both servers have them
        asked = await fake.invoke_slash(guild, bob, "ask", {"question": QUESTION})
        answer = await asked.wait_for_response(timeout=30)
        assert KEY_QUOTE in answer.embeds[0]["description"]
        assert [b["label"] for b in _buttons(answer)] == LABELS

        first = await _vote(fake, answer, bob, "Wrong quote")
        again = await _vote(fake, answer, bob, "Didn't answer")
        carols = await _vote(fake, answer, carol, "Wrong quote")

        declined = await fake.invoke_slash(guild, carol, "ask", {"question": CHESS})
        decline = await declined.wait_for_response(timeout=30)
        mention = await fake.send_message(
            guild, guild.default_channel, bob, f"<@{fake.bot_user_id}> {CHESS_AGAIN}"
        )
        [declined_reply] = await fake.wait_for_messages(
            guild.default_channel, lambda m: m.reference is mention, timeout=30
        )

        refused = await fake.invoke_slash(guild, bob, "coverage")
        refusal = await refused.wait_for_response(timeout=30)
        shown = await fake.invoke_slash(guild, alice, "coverage")
        report = await shown.wait_for_response(timeout=60)
        other = await fake.invoke_slash(elsewhere, dave, "coverage")
        other_report = await other.wait_for_response(timeout=60)

        forget = await fake.invoke_slash(guild, bob, "forget-me")
        forgotten = await forget.wait_for_response(timeout=30)
        after = await fake.invoke_slash(guild, alice, "coverage")
        report_after = await after.wait_for_response(timeout=60)

    assert first.startswith("Thanks: your vote “Wrong quote” on this answer is stored.")
    assert again == "Changed your vote on this answer from “Wrong quote” to “Didn't answer”."
    assert carols.startswith("Thanks: your vote “Wrong quote”")
    for reply in (decline, declined_reply):  # declines carry the buttons too
        assert reply.embeds[0]["description"].startswith("No ingested article covers this.")
        assert [b["label"] for b in _buttons(reply)] == LABELS
    assert _buttons(decline) != _buttons(declined_reply)  # two askings, two answers

    assert refusal.ephemeral and refusal.content.startswith("Only this server's admins")
    assert report.ephemeral
    embed = report.embeds[0]
    assert embed["title"] == "Coverage gaps"
    assert embed["description"].startswith(
        "3 questions asked here were declined or marked “Wrong quote” or “Didn't answer”, "
        "in 2 groups by meaning"
    )
    chess, nato = embed["fields"]
    assert chess["name"] == f"1. “{CHESS}”"
    assert chess["value"].startswith(
        "Asked 2× · declined 2 · wrong quote 0 · didn't answer 0 · helpful 0\n"
        f"Also asked: “{CHESS_AGAIN}”\nNearest articles:\n• {SEED_TITLE} (Sputnik, 2022-01-26)"
    )
    assert nato["name"] == "2. “what did NATO say about Russia's demands?”"
    assert nato["value"].startswith(
        "Asked 1× · declined 0 · wrong quote 1 · didn't answer 1 · helpful 0\n"
    )
    assert "fields" not in other_report.embeds[0]  # another server's questions are its own
    assert other_report.embeds[0]["description"].startswith("No question asked here")

    assert forgotten.ephemeral
    assert forgotten.content.startswith(
        "Deleted everything newsbot kept about you (votes: 1, topic watches: 0)."
    )
    nato_after = report_after.embeds[0]["fields"][1]["value"]
    assert nato_after.startswith("Asked 1× · declined 0 · wrong quote 1 · didn't answer 0 ·")
    assert fake.bot_pings == frozenset()


async def test_buttons_on_an_answer_sent_before_a_restart_still_vote(
    fake_discord: FakeDiscord, services: Services
) -> None:
    fake = fake_discord
    guild = fake.add_guild(name="News")
    bob = fake.add_member(guild, name="bob")
    alice = fake.add_member(guild, name="alice", permissions=MANAGE_GUILD)
    async with running(fake, services, guild):
        asked = await fake.invoke_slash(guild, bob, "ask", {"question": CHESS})
        answer = await asked.wait_for_response(timeout=30)
    async with running(fake, services, guild):  # a new process: nothing of the first in memory
        told = await _vote(fake, answer, bob, "Didn't answer")
        shown = await fake.invoke_slash(guild, alice, "coverage", {"days": 1})
        report = await shown.wait_for_response(timeout=60)
    assert told.startswith("Thanks: your vote “Didn't answer”")
    embed = report.embeds[0]
    assert embed["title"] == "Coverage gaps in the last 1 day"
    [group] = embed["fields"]
    assert group["value"].startswith("Asked 1× · declined 1 · wrong quote 0 · didn't answer 1")
    assert group["value"].endswith("No ingested article comes near it.")
