"""Retention (ingest/retention.py, `newsbot prune`): what is older than the cut-off is
forgotten with its copies, chunks and BM25 entries; the rest stays, whole and answerable.
Real `newsbot` processes on the fast fake embedder (tests/fake_newsbot.py)."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from ingest.loaders import load_file
from ingest.retention import prune_batches
from newsbot.services import Services
from newsbot.settings import Settings
from retrieval.errors import NotFoundError
from retrieval.feedback import FeedbackStore, Vote
from tests.fake_discord import FakeDiscord
from tests.test_bot_feeds_e2e import eventually, running
from tests.test_crash_consistency import _corpus, _killed, _newsbot, _open, _write
from tests.test_feedback import ALICE, BOB, _recorded

pytestmark = pytest.mark.skipif(
    not (Path(__file__).resolve().parents[2] / "shared" / "data").exists(),
    reason="needs ../shared/data",
)

OLD = "2001-03-04T05:06:07+00:00"
YEAR = timedelta(days=365)


def _dated(article: dict[str, Any], published: str) -> dict[str, Any]:
    return {**article, "published_at": published}


def _copy(article: dict[str, Any], outlet: str, published: str) -> dict[str, Any]:
    """The same wire story from another outlet, ingested after it: stored as its copy."""
    url = f"https://{outlet.lower()}.example/{abs(hash(article['url']))}"
    return {**article, "source": outlet, "url": url, "published_at": published}


@pytest.fixture
def store(settings: Settings, tmp_path: Path) -> dict[str, set[str]]:
    """Old and new articles, some with copies; returns the URLs each prune should keep and
    forget."""
    recent = (datetime.now(UTC) - timedelta(days=2)).isoformat()
    old_leads = [_dated(a, OLD) for a in _corpus(0, 4)]
    new_leads = [_dated(a, recent) for a in _corpus(4, 3)]
    all_old_copies = [_copy(old_leads[0], outlet, OLD) for outlet in ("Wire", "Daily")]
    young_copy = _copy(old_leads[1], "Herald", recent)  # promoted when its lead goes
    old_copy_of_new = _copy(new_leads[0], "Gazette", OLD)
    undated = {**_corpus(7, 1)[0], "published_at": None}  # ages from its ingest: now
    batch = [*old_leads, *new_leads, *all_old_copies, young_copy, old_copy_of_new, undated]
    done = _newsbot(settings, "ingest", "--json", str(_write(tmp_path / "news.json", batch)))
    assert done.returncode == 0, done.stderr
    items = json.loads(done.stdout)["items"]
    assert sum(1 for i in items if i["copy_of"]) == 4, items
    old = [*old_leads, *all_old_copies, old_copy_of_new]
    return {
        "forget": {a["url"] for a in old},
        "keep": {a["url"] for a in [*new_leads, young_copy, undated]},
        "undated": {undated["url"]},
        "titles": {a["title"] for a in new_leads},
    }


def _stored_urls(settings: Settings) -> set[str]:
    out = _newsbot(settings, "sources", "--json")
    assert out.returncode == 0, out.stderr
    return {a["url"] for a in json.loads(out.stdout)["articles"]}


def _assert_clean(settings: Settings) -> None:
    checked = _newsbot(settings, "check", "--json")
    assert checked.returncode == 0, checked.stdout
    assert json.loads(checked.stdout)["found"]["whole"]


def test_prune_forgets_exactly_the_old_articles_and_their_copies(
    settings: Settings, store: dict[str, set[str]]
) -> None:
    pruned = _newsbot(settings, "prune", "--json", "--days", "365")
    assert pruned.returncode == 0, pruned.stderr
    report = json.loads(pruned.stdout)
    assert report["forgotten"] == len(store["forget"]) and report["batches"] == 1
    older_than = datetime.fromisoformat(report["older_than"])
    assert abs(older_than - (datetime.now(UTC) - timedelta(days=365))) < timedelta(minutes=5)
    assert _stored_urls(settings) == store["keep"]
    _assert_clean(settings)  # no chunk, BM25 entry or copy left of what went
    services = _open(settings, read_only=True)
    for title in store["titles"]:
        hits = services.answerer.search(title, k=5)
        assert hits and hits[0].title == title
    promoted = [a for a in services.index.list_articles() if a.outlet == "Herald"]
    assert promoted and promoted[0].copy_of is None and promoted[0].chunk_count > 0
    again = json.loads(_newsbot(settings, "prune", "--json", "--days", "365").stdout)
    assert again["forgotten"] == 0 and again["batches"] == 0


def test_the_setting_gives_the_days_and_days_overrides_it(
    settings: Settings, store: dict[str, set[str]]
) -> None:
    one_day = {"NEWSBOT_RETENTION_DAYS": "1"}  # all but the undated, just ingested, is older
    forty_years = _newsbot(settings, "prune", "--json", "--days", "15000", env=one_day)
    assert json.loads(forty_years.stdout)["forgotten"] == 0  # --days wins
    pruned = _newsbot(settings, "prune", "--json", env=one_day)
    assert pruned.returncode == 0, pruned.stderr
    dated = (store["forget"] | store["keep"]) - store["undated"]
    assert json.loads(pruned.stdout)["forgotten"] == len(dated)
    assert _stored_urls(settings) == store["undated"]
    _assert_clean(settings)


def test_prune_forgets_the_questions_and_votes_asked_before_the_cut_off(
    settings: Settings, tmp_path: Path
) -> None:
    recent = datetime.now(UTC) - timedelta(days=2)
    news = [_dated(_corpus(0, 1)[0], OLD), _dated(_corpus(1, 1)[0], recent.isoformat())]
    done = _newsbot(settings, "ingest", "--json", str(_write(tmp_path / "news.json", news)))
    assert done.returncode == 0, done.stderr
    old_article = json.loads(done.stdout)["items"][0]["article_id"]
    votes = FeedbackStore.in_data_dir(settings.storage.data_dir)
    long_ago = _recorded(votes, "who won the cup in 2001?", at=datetime.now(UTC) - YEAR * 2)
    votes.vote(long_ago.id, ALICE, Vote.DIDNT_ANSWER)
    kept = _recorded(votes, "what did the minister say?", cited=(old_article,), at=recent)
    votes.vote(kept.id, BOB, Vote.WRONG_QUOTE)

    pruned = _newsbot(settings, "prune", "--json", "--days", "365")
    assert pruned.returncode == 0, pruned.stderr
    assert json.loads(pruned.stdout) | {"older_than": None} == {
        "forgotten": 1,
        "batches": 1,
        "older_than": None,
        "answers": 1,
    }
    shown = _newsbot(settings, "coverage", "--json")
    assert shown.returncode == 0, shown.stderr
    report = json.loads(shown.stdout)
    # The old question and its vote are gone; the recent one is still shown, with its vote.
    assert [g["questions"] for g in report["groups"]] == [["what did the minister say?"]]
    assert report["groups"][0]["votes"] == {"helpful": 0, "wrong_quote": 1, "didnt_answer": 0}
    # It no longer names the article the prune forgot; nothing else of it changed.
    [left] = votes.gaps()
    assert left.record == dataclasses.replace(kept, cited=())
    assert votes.vote(kept.id, BOB, Vote.HELPFUL) is Vote.WRONG_QUOTE
    with pytest.raises(NotFoundError):
        votes.vote(long_ago.id, ALICE, Vote.HELPFUL)


def test_prune_without_retention_says_what_to_set(settings: Settings) -> None:
    refused = _newsbot(settings, "prune")
    assert refused.returncode != 0
    assert "NEWSBOT_RETENTION_DAYS" in refused.stderr and "--days" in refused.stderr


def test_undated_articles_age_from_their_ingest(
    settings: Settings, store: dict[str, set[str]]
) -> None:
    services = _open(settings, read_only=True)
    future = datetime.now(UTC) + timedelta(days=1)
    everything = [a for batch in prune_batches(services.index, future) for a in batch]
    assert len(everything) == len(store["forget"] | store["keep"])
    copies_first = [a.copy_of is not None for a in everything]
    assert copies_first == sorted(copies_first, reverse=True)
    assert store["undated"] <= {a.url for a in everything}
    month_ago = datetime.now(UTC) - timedelta(days=30)
    old = {a.url for batch in prune_batches(services.index, month_ago) for a in batch}
    assert old == store["forget"]
    batches = prune_batches(services.index, future, batch_size=5)
    assert [len(b) for b in batches] == [5, 5, 2]


def test_a_prune_killed_mid_batch_leaves_the_store_whole_and_a_rerun_finishes(
    settings: Settings, store: dict[str, set[str]]
) -> None:
    # The fifth forget of the batch (the old copies go first: an old lead) dies after its
    # record is deleted, before its chunks and BM25 entries.
    _killed(_newsbot(settings, "prune", "--days", "365", failpoint="record-deleted:5"))
    services = _open(settings)  # repairs on open
    assert services.index.check().whole
    stored = {a.url for a in services.index.list_articles()}
    assert store["keep"] <= stored and len(stored & store["forget"]) == len(store["forget"]) - 5
    services.close()
    rerun = _newsbot(settings, "prune", "--json", "--days", "365")
    assert rerun.returncode == 0, rerun.stderr
    assert json.loads(rerun.stdout)["forgotten"] == len(store["forget"]) - 5
    assert _stored_urls(settings) == store["keep"]
    _assert_clean(settings)


async def test_the_bot_prunes_at_start_and_answers_meanwhile(
    fake_discord: FakeDiscord, services: Services, tmp_path: Path
) -> None:
    recent = (datetime.now(UTC) - timedelta(days=2)).isoformat()
    old, new = _dated(_corpus(0, 1)[0], OLD), _dated(_corpus(1, 1)[0], recent)
    news = load_file(_write(tmp_path / "news.json", [old, new]), max_bytes=10**7)
    services.ingester.ingest(news)
    votes = FeedbackStore.in_data_dir(services.settings.storage.data_dir)
    long_ago = _recorded(votes, "who won the cup in 2001?", at=datetime.now(UTC) - YEAR * 2)
    votes.vote(long_ago.id, ALICE, Vote.DIDNT_ANSWER)
    guild = fake_discord.add_guild(name="News")
    alice = fake_discord.add_member(guild, name="alice")
    async with running(fake_discord, services, guild, retention_days=365):
        asked = await fake_discord.invoke_slash(guild, alice, "ask", {"question": new["title"]})
        await eventually(lambda: [a.url for a in services.index.list_articles()] == [new["url"]])
        await eventually(lambda: votes.gaps() == [])  # the old question and its vote went too
        answer = await asked.wait_for_response(timeout=60)
    assert answer.embeds
    assert services.index.check().whole
