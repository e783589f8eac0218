"""`newsbot ask` with a written answer from a fake OpenAI-compatible server on 127.0.0.1:
shown when checked, and nothing changes with NEWSBOT_LLM_URL empty or the endpoint down."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
from click.testing import CliRunner

from ingest.loaders import load_file
from newsbot.cli import main
from newsbot.services import build_services
from newsbot.settings import Settings
from retrieval.sentences import split_sentences
from tests.conftest import SEED
from tests.fake_discord import FakeDiscord
from tests.llm_server import LlmServer, Reply, serving
from tests.test_bot_e2e import running

pytestmark = pytest.mark.skipif(not SEED.exists(), reason="needs ../shared/data/seed")

QUESTION = "what did NATO say about Russia's demands?"


@pytest.fixture
def llm() -> Iterator[LlmServer]:
    yield from serving()


def _echo_first_quote(body: dict[str, Any]) -> Reply:
    """A faithful model: the first sentence of quote [n], cited; and one invented sentence."""
    user = body["messages"][-1]["content"]
    found = re.search(r"^\[(\d+)\] (.+)$", user, re.M)
    assert found is not None
    first = split_sentences(found.group(2))[0]
    return Reply(f"{first} [{found.group(1)}] NATO has 99 members [{found.group(1)}].")


def _ask(cli: CliRunner, *args: str) -> dict[str, Any]:
    result = cli.invoke(main, ["ask", "--json", *args, QUESTION])
    assert result.exit_code == 0, result.output
    answer: dict[str, Any] = json.loads(result.stdout)
    return answer


def test_ask_json_shows_the_checked_written_answer(
    cli: CliRunner, llm: LlmServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert cli.invoke(main, ["ingest", str(SEED)]).exit_code == 0
    without = _ask(cli)
    assert without["written"] is None and without["answered"] is True
    monkeypatch.setenv("NEWSBOT_LLM_URL", llm.base_url)
    monkeypatch.setenv("NEWSBOT_LLM_MODEL", "llama3.1:8b")
    llm.reply = _echo_first_quote
    answer = _ask(cli)
    written = answer["written"]
    assert written["model"] == "llama3.1:8b" and written["dropped"] == 1
    assert "99" not in written["text"]
    first_quote = split_sentences(answer["quotes"][0]["text"])[0]
    assert written["text"].startswith(first_quote)
    assert {k: v for k, v in answer.items() if k != "written"} == {
        k: v for k, v in without.items() if k != "written"
    }
    [request] = llm.requests
    assert request["stream"] is False and QUESTION in request["messages"][-1]["content"]
    text = cli.invoke(main, ["ask", QUESTION]).stdout
    assert text.startswith("Written by llama3.1:8b, checked against the quotes below:")


def test_a_failing_endpoint_leaves_the_quotes_as_they_are(
    cli: CliRunner, llm: LlmServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert cli.invoke(main, ["ingest", str(SEED)]).exit_code == 0
    monkeypatch.setenv("NEWSBOT_LLM_URL", llm.base_url)
    monkeypatch.setenv("NEWSBOT_LLM_MODEL", "m")
    monkeypatch.setenv("NEWSBOT_LLM_TIMEOUT_SECONDS", "1")
    llm.reply = Reply(status=500)
    answer = _ask(cli)
    assert answer["answered"] is True and answer["quotes"] and answer["written"] is None


def test_the_llm_url_needs_a_model(cli: CliRunner, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NEWSBOT_LLM_URL", "http://localhost:11434/v1")
    result = cli.invoke(main, ["ask", QUESTION])
    assert result.exit_code != 0 and "NEWSBOT_LLM_MODEL" in result.output


async def test_the_discord_answer_shows_the_written_answer_first(
    fake_discord: FakeDiscord, settings: Settings, shared_model: None, llm: LlmServer
) -> None:
    configured = settings.replace(llm_url=llm.base_url, llm_model="llama3.1:8b")
    services = build_services(configured)
    services.ingester.ingest(load_file(SEED, max_bytes=10**7))
    llm.reply = _echo_first_quote
    guild = fake_discord.add_guild(name="News")
    bob = fake_discord.add_member(guild, name="bob")
    async with running(fake_discord, services, guild):
        inter = await fake_discord.invoke_slash(guild, bob, "ask", {"question": QUESTION})
        reply = await inter.wait_for_response(timeout=30)
    description = reply.embeds[0]["description"]
    assert description.startswith("*Written by llama3.1:8b, checked against the quotes:*\n")
    assert "99" not in description and "\n\n> " in description
    assert not inter.rejections
