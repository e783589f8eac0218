"""Topic watches below the bot: the matcher (retrieval/watching.py) on a small real corpus with
the real model, at the calibrated threshold, and the watches file (bot/watches.py)."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.quotas import QuotaError
from bot.watches import WatchStore
from ingest.loaders import Loaded
from ingest.reports import ItemResult
from newsbot.services import Services
from retrieval.errors import InputError
from retrieval.models import Article
from retrieval.watching import TopicMatcher, check_topic

# Excerpts of MultiHop-RAG articles (ODC-BY): TechCrunch, 17 and 21 November 2023.
OPENAI = Article(
    title="Sam Altman ousted as OpenAI’s CEO",
    body=(
        "Sam Altman has been fired from OpenAI, Inc., the 501(c)(3) nonprofit that acts as the "
        "governing body for OpenAI, the AI startup behind ChatGPT, DALL-E 3, GPT-4 and other "
        "highly capable generative AI systems. He’ll both leave the company’s board of "
        "directors and step down as CEO.\n"
        "In a post on OpenAI’s official blog, the company writes that Altman’s departure "
        "follows a “deliberative review process by the board” that concluded that Altman "
        "“wasn’t consistently candid in his communications” with other board members, "
        "“hindering its ability to exercise its responsibilities.”\n"
        "“The board no longer has confidence in [Altman’s] ability to continue leading "
        "OpenAI,” the blog post reads.\n"
        "OpenAI’s dramatic leadership change will also see Greg Brockman — who was a member of "
        "the team that co-founded OpenAI, as was Altman — step down as chairman of the board "
        "but remain as OpenAI’s president."
    ),
    outlet="TechCrunch",
    author="Kyle Wiggers",
    published=datetime(2023, 11, 17, 20, 41, tzinfo=UTC),
    url="https://techcrunch.com/2023/11/17/sam-altman-is-out-as-openais-ceo/",
)
BINANCE = Article(
    title="Binance to pay $4.3B in fines and CEO ‘CZ’ to step down",
    body=(
        "Changpeng Zhao, also known as “CZ,” the founder and CEO of Binance, is stepping down "
        "and has pleaded guilty to a number of violations brought on through the Department of "
        "Justice and other U.S. agencies. He appeared in a Seattle federal court on Tuesday to "
        "enter his plea.\n"
        "Richard Teng, Binance’s former global head of regional markets, will be the exchange’s "
        "new CEO, Zhao shared in a post on X Tuesday afternoon.\n"
        "Binance, the world’s largest crypto exchange, has also agreed to pay about $4.3 "
        "billion to resolve the DOJ’s investigations, the agency said in a press release on "
        "Tuesday."
    ),
    outlet="TechCrunch",
    published=datetime(2023, 11, 21, 17, 34, tzinfo=UTC),
    url="https://techcrunch.com/2023/11/21/binance-to-pay-4-3b-in-fines/",
)
HARBOUR = Article(
    title="Harbour to reopen",
    body=(
        "The harbour master said on Monday that the port would reopen to ferries next week. "
        "Repairs to the storm-damaged sea wall cost four million euros and took three months. "
        "Fishing boats have used a temporary pier since the storm hit the coast in January."
    ),
    outlet="Coast Gazette",
    url="https://coast.example/harbour",
)
# The OpenAI story republished by another outlet: stored as a syndicated copy of it.
OPENAI_COPY = Article(
    title="OpenAI’s board fires Sam Altman",
    body="Editor’s note: this story comes from our partners.\n"
    + OPENAI.body
    + "\nCopyright 2023 TechCrunch.",
    outlet="Valley Courier",
    url="https://valleycourier.example/tech/openai-altman",
)
TOPIC = "openai board"


def ingest(services: Services, *articles: Article) -> list[ItemResult]:
    return services.ingester.ingest([Loaded(a.url or a.title, a) for a in articles]).items


def matcher(services: Services) -> TopicMatcher:
    """The matcher at NEWSBOT_WATCH_THRESHOLD's default, the calibrated point."""
    threshold = services.settings.watch.watch_threshold
    return TopicMatcher(services.answerer, services.index, threshold=threshold)


def test_a_watch_fires_for_an_article_about_its_topic_and_not_for_others(
    services: Services,
) -> None:
    ingest(services, OPENAI, BINANCE, HARBOUR)
    watches = matcher(services)
    hit = watches.match("  OpenAI   Board ", OPENAI.id)
    assert hit is not None and hit.topic == "OpenAI Board"
    assert hit.score >= watches.threshold
    assert 1 <= len(hit.quotes) <= 3
    for quote in hit.quotes:  # verbatim spans of the stored article, cited as [1]
        assert OPENAI.body[quote.start : quote.end] == quote.text
        assert quote.article_id == OPENAI.id and quote.citation == 1
    assert "board" in hit.quotes[0].text.lower()
    c = hit.citation
    assert (c.title, c.outlet, c.author, c.url) == (
        OPENAI.title,
        "TechCrunch",
        "Kyle Wiggers",
        OPENAI.url,
    )
    assert c.published == OPENAI.published and c.also_reported_by == ()
    # The other stories are not about the OpenAI board, though one has a CEO stepping down.
    assert watches.match(TOPIC, BINANCE.id) is None
    assert watches.match(TOPIC, HARBOUR.id) is None
    assert watches.match("binance guilty plea", BINANCE.id) is not None
    assert watches.match("binance guilty plea", OPENAI.id) is None


def test_a_syndicated_copy_never_fires_and_is_named_with_its_lead(services: Services) -> None:
    ingest(services, OPENAI, HARBOUR)
    (copy,) = ingest(services, OPENAI_COPY)
    assert copy.copy_of == OPENAI.id
    watches = matcher(services)
    # A copy has no chunks of its own: its story fires (once) as its lead.
    assert watches.candidates(TOPIC, OPENAI_COPY.id) == []
    assert watches.match(TOPIC, OPENAI_COPY.id) is None
    hit = watches.match(TOPIC, OPENAI.id)
    assert hit is not None and hit.citation.also_reported_by == ("Valley Courier",)


def test_a_watch_sees_only_what_its_server_sees(services: Services) -> None:
    servers = dataclasses.replace(OPENAI, scope="guild:1", id="")
    ingest(services, servers, HARBOUR)
    watches = matcher(services)
    assert watches.match(TOPIC, servers.id, scopes=("global", "guild:2")) is None
    hit = watches.match(TOPIC, servers.id, scopes=("global", "guild:1"))
    assert hit is not None and hit.citation.article_id == servers.id


def test_a_topic_must_name_something_and_be_short() -> None:
    assert check_topic(" michigan\tsign  stealing ") == "michigan sign stealing"
    with pytest.raises(InputError, match="at most 100 characters"):
        check_topic("ai " * 40)
    with pytest.raises(InputError, match="Name the topic"):
        check_topic("what is the")


# --- the watches file --------------------------------------------------------------------------


def add(store: WatchStore, owner: int, topic: str, **options: object) -> int:
    values: dict[str, object] = {
        "guild_id": 1,
        "owner_id": owner,
        "channel_id": None,
        "topic": topic,
        "per_user": 2,
        "per_server": 3,
    }
    values.update(options)
    return store.add(**values).id


def test_watches_are_capped_per_member_and_server_and_survive_reopening(tmp_path: Path) -> None:
    store = WatchStore.in_data_dir(tmp_path)
    first = add(store, 10, "openai board")
    add(store, 10, "ftx trial", channel_id=55)
    with pytest.raises(
        QuotaError, match="You have 2 watches in this server and may have at most 2"
    ):
        add(store, 10, "binance")
    add(store, 11, "openai board")  # another member's watch of the same topic
    with pytest.raises(QuotaError, match="This server has 3 watches and may have at most 3"):
        add(store, 12, "binance")
    add(store, 12, "binance", guild_id=2)  # another server has caps of its own
    again = WatchStore.in_data_dir(tmp_path)
    assert [(w.owner_id, w.channel_id, w.topic) for w in again.in_guild(1)] == [
        (10, None, "openai board"),
        (10, 55, "ftx trial"),
        (11, None, "openai board"),
    ]
    assert again.get(first) == store.get(first)
    assert len(again.every()) == 4


def test_the_same_topic_is_watched_once_per_place(tmp_path: Path) -> None:
    store = WatchStore.in_data_dir(tmp_path)
    add(store, 10, "OpenAI  board", per_user=5)
    with pytest.raises(InputError, match="already watch that topic here \\(by DM\\)"):
        add(store, 10, "openai board", per_user=5)
    add(store, 10, "openai board", channel_id=55, per_user=5)  # a channel is another place
    with pytest.raises(InputError, match="already watch that topic here \\(in <#55>\\)"):
        add(store, 10, "openai board", channel_id=55, per_user=5)


POST = {"title": "A story", "type": "rich"}


def test_a_post_is_owed_until_delivered_in_order_and_never_owed_again(tmp_path: Path) -> None:
    import sqlite3
    from datetime import timedelta

    # A watches file from before posts were delivered this way: its posts were made.
    with sqlite3.connect(tmp_path / "watches.sqlite3") as db:
        db.executescript(
            "CREATE TABLE posted (watch_id INTEGER NOT NULL, article_id TEXT NOT NULL, "
            "posted_at TEXT NOT NULL, PRIMARY KEY (watch_id, article_id));"
        )
    store = WatchStore.in_data_dir(tmp_path)
    mine = add(store, 10, "openai board")
    assert store.claim(mine, "a_1", POST) and store.claim(mine, "a_2", POST)
    now = datetime.now(UTC)
    first, second = store.owed(now)
    assert (first.article_id, first.state, first.embed) == ("a_1", "owed", POST)
    assert first.watch == store.get(mine) and first.nonce != second.nonce
    trying = store.sending(first, 77, now)
    assert trying is not None
    assert [(p.article_id, p.state, p.target_id) for p in store.owed(now)] == [
        ("a_1", "sending", 77),
        ("a_2", "owed", None),
    ]
    store.delivered(trying, 1234)
    assert [p.article_id for p in store.owed(now)] == ["a_2"]
    assert not store.claim(mine, "a_1", POST)  # posted: never again
    # Two days without Discord: the post is dropped, and not owed again.
    assert store.owed(now + timedelta(hours=49)) == []
    assert store.owed(now) == [] and not store.claim(mine, "a_2", POST)


def test_a_watch_posts_an_article_once_and_a_member_can_be_forgotten(tmp_path: Path) -> None:
    store = WatchStore.in_data_dir(tmp_path)
    mine = add(store, 10, "openai board")
    other = add(store, 11, "openai board")
    assert store.claim(mine, "a_1", POST) and not store.claim(mine, "a_1", POST)
    assert store.claim(other, "a_1", POST)
    store.set_delivery(mine, "your DMs are closed")
    found = store.get(mine)
    assert found is not None and found.last_error == "your DMs are closed"
    assert found.last_error_at is not None
    store.set_delivery(mine, None)
    cleared = store.get(mine)
    assert cleared is not None and cleared.last_error is None
    assert store.remove_member(10) == 1
    assert [w.id for w in store.every()] == [other]
    assert not store.claim(mine, "a_2", POST)  # a removed watch posts nothing
    assert store.remove(other) is not None and store.remove(other) is None


def test_new_articles_are_due_once_copies_and_old_news_never(fake_services: Services) -> None:
    from bot.watch_sweep import NewArticles

    store = WatchStore.in_data_dir(fake_services.settings.storage.data_dir)
    ingest(fake_services, OPENAI)  # stored before matching began: old news
    new = NewArticles(fake_services.index, store)
    assert new.due([], datetime.now(UTC)) == []
    assert store.matched() == {OPENAI.id}
    ingest(fake_services, HARBOUR, OPENAI_COPY, BINANCE)
    # A restarted process reads what was matched from the file.
    again = NewArticles(fake_services.index, store)
    assert again.due([], datetime.now(UTC)) == [HARBOUR.id, BINANCE.id]  # the copy: never
    again.done([HARBOUR.id])
    assert again.due([], datetime.now(UTC)) == [BINANCE.id]
    again.done([BINANCE.id])
    assert again.due([], datetime.now(UTC)) == []
    # A forgotten article leaves the record: stored again, it is new again.
    fake_services.index.forget(HARBOUR.id)
    assert again.due([], datetime.now(UTC)) == []
    assert HARBOUR.id not in store.matched()
