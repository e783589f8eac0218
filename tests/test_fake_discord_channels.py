"""The fake's channels behave as Discord's on the wire: the per-channel send limit (429 with
`retry_after` and the rate-limit headers, which the real discord.py waits out), and 404/403
for a channel that was deleted or that the bot may not see."""

from __future__ import annotations

import aiohttp
import discord
import pytest

from tests.fake_discord import FakeDiscord

MESSAGES = "/channels/{channel_id}/messages"


def make_client() -> discord.Client:
    return discord.Client(intents=discord.Intents.default(), guild_ready_timeout=0.05)


async def test_a_full_channel_answers_429_with_retry_after_and_headers() -> None:
    async with FakeDiscord.start(channel_send_limit=(5, 1.0)) as fake:
        guild = fake.add_guild(name="News")
        url = f"{fake.api_base}/channels/{guild.default_channel.id}/messages"
        auth = {"Authorization": f"Bot {fake.token}"}
        async with aiohttp.ClientSession(headers=auth) as http:
            answers = []
            for n in range(6):
                async with http.post(url, json={"content": f"story {n}"}) as response:
                    answers.append((response.status, response.headers, await response.json()))
            for n, (status, headers, _) in enumerate(answers[:5]):
                assert status == 200
                assert headers["X-RateLimit-Limit"] == "5"
                assert headers["X-RateLimit-Remaining"] == str(4 - n)
                assert 0 < float(headers["X-RateLimit-Reset-After"]) <= 1.0
            status, headers, body = answers[5]
            assert status == 429 and headers["X-RateLimit-Remaining"] == "0"
            assert headers["Via"] and headers["Retry-After"] == "1"
            assert 0 < body["retry_after"] <= 1.0 and body["global"] is False
            # Another channel has a window of its own.
            other = fake.add_channel(guild, "other")
            other_url = f"{fake.api_base}/channels/{other.id}/messages"
            async with http.post(other_url, json={"content": "elsewhere"}) as response:
                assert response.status == 200
    assert [m.content for m in fake.messages] == [f"story {n}" for n in range(5)] + ["elsewhere"]


async def test_discord_py_waits_out_the_limit_and_a_429_in_order() -> None:
    async with FakeDiscord.start(channel_send_limit=(5, 1.0)) as fake:
        guild = fake.add_guild(name="News")
        channel = guild.default_channel
        client = make_client()
        async with fake.running(client):
            target = client.get_partial_messageable(channel.id)
            for n in range(8):  # past the window: discord.py reads the headers and waits
                await target.send(f"story {n}")
            # A window filled behind discord.py's back: its next send gets a 429, and is
            # retried after retry_after.
            url = f"{fake.api_base}/channels/{channel.id}/messages"
            auth = {"Authorization": f"Bot {fake.token}"}
            async with aiohttp.ClientSession(headers=auth) as http:
                status = 200
                while status == 200:
                    async with http.post(url, json={"content": "filler"}) as response:
                        status = response.status
            await target.send("after the 429")
    sent = [m.content for m in fake.messages if m.content != "filler"]
    assert sent == [f"story {n}" for n in range(8)] + ["after the 429"]
    refused = [r for r in fake.requests if r.status == 429]
    assert len(refused) == 2  # the filler that found the window full, and discord.py's send
    first, sixth = fake.messages[0], fake.messages[5]
    assert sixth.created - first.created >= 0.9


async def test_a_deleted_or_hidden_channel_is_not_found_or_forbidden() -> None:
    async with FakeDiscord.start() as fake:
        guild = fake.add_guild(name="News", channels=("general", "news"))
        news = next(c for c in guild.channels.values() if c.name == "news")
        hidden = fake.add_channel(
            guild,
            "staff",
            overwrites={fake.bot_member(guild): discord.PermissionOverwrite(view_channel=False)},
        )
        client = make_client()
        async with fake.running(client):
            fake.delete_channel(news)
            with pytest.raises(discord.NotFound) as gone:
                await client.get_partial_messageable(news.id).send("story")
            with pytest.raises(discord.Forbidden) as closed:
                await client.get_partial_messageable(hidden.id).send("story")
    assert (gone.value.code, gone.value.text) == (10003, "Unknown Channel")
    assert (closed.value.code, closed.value.text) == (50001, "Missing Access")


async def test_an_outage_a_repeated_nonce_and_a_missing_permission_answer_as_discord() -> None:
    async with FakeDiscord.start(channel_send_limit=(50, 5.0)) as fake:
        guild = fake.add_guild(name="News")
        channel = guild.default_channel
        url = f"{fake.api_base}/channels/{channel.id}/messages"
        auth = {"Authorization": f"Bot {fake.token}"}
        story = {"embeds": [{"title": "Story"}], "nonce": "77", "enforce_nonce": True}
        async with aiohttp.ClientSession(headers=auth) as http:

            async def post(body: dict[str, object]) -> tuple[int, dict[str, object]]:
                async with http.post(url, json=body) as response:
                    return response.status, await response.json()

            fake.fail_sends(channel, 2, after=1)
            assert (await post({"content": "through"}))[0] == 200
            assert (await post(story)) == (503, {"message": "503: Service Unavailable", "code": 0})
            fake.fail_sends(channel, 1, status=500)
            assert (await post(story))[0] == 500
            # The outage is over; the same nonce again returns the message it made.
            status, first = await post(story)
            assert status == 200 and (await post(story))[1]["id"] == first["id"]
            fake.nonce_window = 0  # past Discord's few minutes, it is a new message
            assert (await post(story))[1]["id"] != first["id"]

            # Without Embed Links, embeds are dropped: a message of embeds only is refused.
            me = fake.bot_member(guild)
            fake.set_permissions(channel, me, discord.PermissionOverwrite(embed_links=False))
            assert (await post({"embeds": [{"title": "Story"}]}))[1]["code"] == 50013
            status, shown = await post({"content": "text", "embeds": [{"title": "Story"}]})
            assert (status, shown["embeds"]) == (200, [])
            # An edit's embeds too: what is left of it is empty.
            edit = {"embeds": [{"title": "Story, updated"}]}
            async with http.patch(f"{url}/{first['id']}", json=edit) as response:
                assert (response.status, (await response.json())["code"]) == (400, 50006)
            # Without Read Message History, the history is empty (no error).
            hidden = discord.PermissionOverwrite(read_message_history=False)
            fake.set_permissions(channel, me, hidden)
            async with http.get(url) as response:
                assert (response.status, await response.json()) == (200, [])
    assert [m.content for m in fake.messages] == ["through", "", "", "text"]
