"""The fake's direct messages behave as Discord's on the wire: `POST /users/@me/channels`
opens (or finds again) a DM channel of type 1, messages go to it through the ordinary
`POST /channels/{id}/messages`, and a user who does not take the bot's DMs (DMs from server
members closed, or no server shared with the bot) gets 403, 50007."""

from __future__ import annotations

import aiohttp
import discord
import pytest

from tests.fake_discord import FakeDiscord


def make_client() -> discord.Client:
    return discord.Client(intents=discord.Intents.default(), guild_ready_timeout=0.05)


async def test_a_dm_channel_is_opened_once_and_messages_arrive_in_it() -> None:
    async with FakeDiscord.start() as fake:
        guild = fake.add_guild(name="News")
        bob = fake.add_member(guild, name="bob")
        auth = {"Authorization": f"Bot {fake.token}"}
        async with aiohttp.ClientSession(headers=auth) as http:
            opened = []
            for _ in range(2):
                async with http.post(
                    f"{fake.api_base}/users/@me/channels", json={"recipient_id": str(bob.id)}
                ) as response:
                    assert response.status == 200
                    opened.append(await response.json())
        assert opened[0] == opened[1]
        assert opened[0]["type"] == 1 and "guild_id" not in opened[0]
        assert [u["id"] for u in opened[0]["recipients"]] == [str(bob.id)]

        client = make_client()
        async with fake.running(client):
            user = await client.fetch_user(bob.id)
            sent = await user.send("hello", allowed_mentions=discord.AllowedMentions.none())
            assert isinstance(sent.channel, discord.DMChannel) and sent.guild is None
            dm = await client.create_dm(discord.Object(id=bob.id))
            await dm.send(embed=discord.Embed(title="A story"))
            found = await fake.wait_for_messages(channel=fake.dm_channel(bob), count=2)
    assert str(fake.dm_channel(bob).id) == opened[0]["id"]
    assert [m.content for m in found] == ["hello", ""]
    assert found[1].embeds[0]["title"] == "A story"
    assert found[0].guild is None and found[0].channel.recipient is bob.user


@pytest.mark.parametrize("who", ["dms closed", "no server shared"])
async def test_a_user_who_takes_no_dms_from_the_bot_gets_50007(who: str) -> None:
    async with FakeDiscord.start() as fake:
        guild = fake.add_guild(name="News")
        if who == "dms closed":
            user = fake.add_member(guild, name="carol", dms_open=False).user
        else:
            user = fake.add_user("stranger")
        client = make_client()
        async with fake.running(client):
            dm = await client.create_dm(discord.Object(id=user.id))  # opening always works
            with pytest.raises(discord.Forbidden) as refused:
                await dm.send("hello")
    assert refused.value.code == 50007
    assert refused.value.text == "Cannot send messages to this user"
    assert not fake.bot_messages
    assert not fake.unknown_routes
