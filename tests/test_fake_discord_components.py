"""The fake's message components behave as Discord's on the wire: a click is an
INTERACTION_CREATE of type 3 carrying the message, answered by the callbacks Discord allows
for components (4, 5, 6, 7) under the 3-second rule, and components are validated as
Discord validates them (400/50035 with its error body)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import discord
import pytest

from tests.fake_discord import FakeDiscord, FakeMember, FakeMessage


class Panel(discord.ui.View):
    """A persistent view with one button per kind of response."""

    def __init__(self, errors: list[discord.HTTPException]) -> None:
        super().__init__(timeout=None)
        self.errors = errors
        self.add_item(discord.ui.Button(label="Docs", url="https://example.org/docs"))

    @discord.ui.button(label="Reply", custom_id="panel:reply")
    async def reply(self, interaction: discord.Interaction, _: discord.ui.Button[Panel]) -> None:
        assert interaction.message is not None
        await interaction.response.send_message(
            f"{interaction.user.name} clicked {interaction.message.id}", ephemeral=True
        )

    @discord.ui.button(label="Think", custom_id="panel:think")
    async def think(self, interaction: discord.Interaction, _: discord.ui.Button[Panel]) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        await interaction.followup.send("thought about it", ephemeral=True)

    @discord.ui.button(label="Later", custom_id="panel:later")
    async def later(self, interaction: discord.Interaction, _: discord.ui.Button[Panel]) -> None:
        await interaction.response.defer()  # a deferred update of the clicked message
        await interaction.edit_original_response(content="edited later")

    @discord.ui.button(label="Now", custom_id="panel:now")
    async def now(self, interaction: discord.Interaction, _: discord.ui.Button[Panel]) -> None:
        await interaction.response.edit_message(content="edited now", view=None)

    @discord.ui.button(label="Slow", custom_id="panel:slow")
    async def slow(self, interaction: discord.Interaction, _: discord.ui.Button[Panel]) -> None:
        await asyncio.sleep(0.5)  # past the 0.2 s interaction timeout of the test that clicks it
        try:
            await interaction.response.send_message("too late")
        except discord.HTTPException as exc:
            self.errors.append(exc)


class PanelBot(discord.Client):
    def __init__(self) -> None:
        super().__init__(intents=discord.Intents.default(), guild_ready_timeout=0.05)
        self.errors: list[discord.HTTPException] = []

    async def setup_hook(self) -> None:
        self.add_view(Panel(self.errors))  # clicks on any message with these ids reach it


async def _panel(fake: FakeDiscord, client: PanelBot) -> tuple[FakeMessage, FakeMember]:
    guild = fake.add_guild(name="News")
    bob = fake.add_member(guild, name="bob")
    channel = guild.default_channel
    await client.get_partial_messageable(channel.id).send("panel", view=Panel(client.errors))
    [message] = await fake.wait_for_messages(channel)
    return message, bob


@pytest.fixture
async def fake() -> AsyncIterator[FakeDiscord]:
    async with FakeDiscord.start() as started:
        yield started


async def test_a_click_carries_the_message_and_gets_an_ephemeral_reply(fake: FakeDiscord) -> None:
    client = PanelBot()
    async with fake.running(client):
        message, bob = await _panel(fake, client)
        rows = [[b["label"] for b in row["components"]] for row in message.components]
        assert rows == [["Reply", "Think", "Later", "Now", "Slow"], ["Docs"]]
        inter = await fake.click_button(message, bob, custom_id="panel:reply")
        reply = await inter.wait_for_response()
        thinking = await fake.click_button(message, bob, label="Think")
        thought = await thinking.wait_for_response()
    assert inter.type == 3 and inter.payload["data"] == {
        "custom_id": "panel:reply",
        "component_type": 2,
    }
    assert inter.payload["message"]["id"] == str(message.id)
    assert reply.ephemeral and reply.content == f"bob clicked {message.id}"
    assert inter.response_type == 4 and not inter.rejections
    assert thinking.response_type == 5 and thought.ephemeral
    assert thought.content == "thought about it" and thought is thinking.original
    assert message.content == "panel"  # neither changed the clicked message


async def test_updates_edit_the_clicked_message(fake: FakeDiscord) -> None:
    client = PanelBot()
    async with fake.running(client):
        message, bob = await _panel(fake, client)
        later = await fake.click_button(message, bob, custom_id="panel:later")
        await fake.notifier.wait_until(
            lambda: message.content == "edited later" or None, 5, lambda: repr(message)
        )
        now = await fake.click_button(message, bob, custom_id="panel:now")
        await now.wait_for_ack()
    assert later.response_type == 6 and later.original is message
    assert now.response_type == 7
    assert message.content == "edited now" and message.components == []
    assert [r.kind for r in message.revisions] == ["create", "edit", "edit"]
    with pytest.raises(LookupError, match="no clickable button"):
        await fake.click_button(message, bob, custom_id="panel:now")  # the buttons are gone


async def test_a_late_callback_is_an_unknown_interaction() -> None:
    client = PanelBot()
    # A short clock for the 3-second rule, so that a late callback costs half a second.
    async with FakeDiscord.start(interaction_timeout=0.2) as fake, fake.running(client):
        message, bob = await _panel(fake, client)
        inter = await fake.click_button(message, bob, custom_id="panel:slow")
        rejection = await inter.wait_for_rejection()
        async with asyncio.timeout(5):
            while not client.errors:
                await asyncio.sleep(0.01)
    assert (rejection.status, rejection.code) == (404, 10062)
    assert isinstance(client.errors[0], discord.NotFound) and not inter.acknowledged


async def test_only_shown_enabled_buttons_can_be_clicked(fake: FakeDiscord) -> None:
    client = PanelBot()
    async with fake.running(client):
        message, bob = await _panel(fake, client)
        alice = fake.add_member(message.guild, name="alice")
        with pytest.raises(LookupError, match="no clickable button"):
            await fake.click_button(message, bob, label="Docs")  # a link opens the browser
        with pytest.raises(LookupError, match="no clickable button"):
            await fake.click_button(message, bob, custom_id="panel:unknown")
        message.components[0]["components"][0]["disabled"] = True
        with pytest.raises(LookupError, match="disabled"):
            await fake.click_button(message, bob, custom_id="panel:reply")
        inter = await fake.click_button(message, bob, custom_id="panel:think")
        private = await inter.wait_for_response()
        with pytest.raises(LookupError, match="ephemeral"):
            await fake.click_button(private, alice, custom_id="panel:reply")


def _button(**fields: Any) -> dict[str, Any]:
    return {"type": 2, "style": 2, "label": "Vote", **fields}


def _row(*buttons: dict[str, Any]) -> dict[str, Any]:
    return {"type": 1, "components": list(buttons)}


@pytest.mark.parametrize(
    ("components", "path", "code"),
    [
        (
            [_row(_button(custom_id=f"r{i}")) for i in range(6)],
            ["components"],
            "BASE_TYPE_MAX_LENGTH",
        ),
        (
            [_row(*(_button(custom_id=f"b{i}") for i in range(6)))],
            ["components", "0", "components"],
            "BASE_TYPE_BAD_LENGTH",
        ),
        (
            [_row(_button(custom_id="x" * 101))],
            ["components", "0", "components", "0", "custom_id"],
            "BASE_TYPE_BAD_LENGTH",
        ),
        (
            [_row(_button(custom_id="same")), _row(_button(custom_id="same"))],
            ["components", "1", "components", "0", "custom_id"],
            "COMPONENT_CUSTOM_ID_DUPLICATED",
        ),
        (
            [_row(_button(custom_id="long", label="x" * 81))],
            ["components", "0", "components", "0", "label"],
            "BASE_TYPE_MAX_LENGTH",
        ),
        (
            [_row(_button(custom_id="styled", style=7))],
            ["components", "0", "components", "0", "style"],
            "BASE_TYPE_CHOICES",
        ),
        (
            [_row(_button(style=5, url="https://example.org", custom_id="link"))],
            ["components", "0", "components", "0", "custom_id"],
            "BUTTON_COMPONENT_CUSTOM_ID_URL_EXCLUSIVE",
        ),
        (
            [_row(_button(style=5))],
            ["components", "0", "components", "0", "url"],
            "BASE_TYPE_REQUIRED",
        ),
        (
            [_row(_button())],
            ["components", "0", "components", "0", "custom_id"],
            "BASE_TYPE_REQUIRED",
        ),
        ([_button(custom_id="loose")], ["components", "0", "type"], "UNION_TYPE_CHOICES"),
    ],
)
async def test_components_are_validated_as_discord_does(
    fake: FakeDiscord, components: list[dict[str, Any]], path: list[str], code: str
) -> None:
    guild = fake.add_guild(name="News")
    url = f"{fake.api_base}/channels/{guild.default_channel.id}/messages"
    auth = {"Authorization": f"Bot {fake.token}"}
    async with (
        aiohttp.ClientSession(headers=auth) as http,
        http.post(url, json={"content": "vote", "components": components}) as response,
    ):
        status, body = response.status, await response.json()
    assert status == 400 and body["code"] == 50035 and body["message"] == "Invalid Form Body"
    node = body["errors"]
    for part in path:
        node = node[part]
    assert [e["code"] for e in node["_errors"]] == [code]
    assert fake.messages == []


async def test_discord_py_sees_the_error_and_a_valid_link_row_is_sent(fake: FakeDiscord) -> None:
    client = PanelBot()
    async with fake.running(client):
        guild = fake.add_guild(name="News")
        target = client.get_partial_messageable(guild.default_channel.id)
        twins = discord.ui.View()  # discord.py leaves unique custom ids to Discord
        for label in ("Yes", "Also yes"):
            twins.add_item(discord.ui.Button(label=label, custom_id="vote:yes"))
        with pytest.raises(discord.HTTPException) as refused:
            await target.send("twins", view=twins)
        links = discord.ui.View()
        links.add_item(discord.ui.Button(label="Read", url="https://example.org/a"))
        links.add_item(discord.ui.Button(label="Also", url="https://example.org/b"))
        await target.send("links", view=links)
    assert refused.value.code == 50035
    expected = "In components.0.components.1.custom_id: Component custom id cannot be duplicated"
    assert expected in refused.value.text
    [sent] = fake.messages
    assert sent.content == "links" and len(sent.components[0]["components"]) == 2


async def test_a_command_cannot_answer_with_a_message_update(fake: FakeDiscord) -> None:
    client = PanelBot()
    async with fake.running(client):
        guild = fake.add_guild(name="News")
        bob = fake.add_member(guild, name="bob")
        # A command this client does not know: it sends no response of its own.
        inter = await fake.invoke_slash(guild, bob, "vote", require_synced=False)
        url = f"{fake.api_base}/interactions/{inter.id}/{inter.token}/callback"
        async with (
            aiohttp.ClientSession() as http,
            http.post(url, json={"type": 7, "data": {"content": "x"}}) as response,
        ):
            status, body = response.status, await response.json()
    assert status == 400 and body["code"] == 50035
    assert body["errors"]["type"]["_errors"][0]["code"] == "INTERACTION_RESPONSE_TYPE_INVALID"
    assert not inter.acknowledged
