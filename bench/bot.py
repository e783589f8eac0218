"""The Discord bot under load: 50 members send /ask at once to the real bot (bot/app.py,
discord.py unmodified) connected to the test suite's fake Discord on 127.0.0.1
(tests/fake_discord), answering from the MultiHop-RAG corpus.

    .venv/bin/python bench/bot.py              # prints the table, updates docs/benchmarks.md
    .venv/bin/python bench/bot.py --no-write   # prints only
    .venv/bin/python bench/bot.py --users 20   # another load

Time to acknowledge: from the interaction's creation to the bot's "thinking" response
(Discord drops an interaction not acknowledged within 3 s). Time to answer: to the message
that replaces it with the answer. Both are measured by the fake server, as Discord would see
them. The index is the corpus-sized one of bench/query.py (built once, reused).
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (
    CORPUS,
    QUERIES,
    base_index,
    load,
    machine,
    peak_rss_mb,
    percentile,
    questions,
    settings_for,
    table,
    today,
    wrap,
    write_section,
)

COMMAND = "python bench/bot.py"
USERS = 50
ACK_LIMIT = 3.0
TARGET_ANSWER_P95 = 2.0


async def storm(services: Any, asked: Sequence[str]) -> tuple[list[Any], list[Any], float]:
    """Every member sends /ask at the same moment; returns interactions, replies, seconds."""
    from bot.app import NewsBot
    from newsbot.services import bot_config, bot_services
    from tests.fake_discord import FakeDiscord

    async with FakeDiscord.start() as fake:
        guild = fake.add_guild(name="News")
        members = [fake.add_member(guild, name=f"reader{i}") for i in range(len(asked))]
        configured = dataclasses.replace(
            services, settings=services.settings.replace(guild_id=guild.id)
        )
        bot = NewsBot(
            bot_services(configured), bot_config(configured.settings), guild_ready_timeout=0.05
        )
        async with fake.running(bot):
            started = time.perf_counter()
            interactions = await asyncio.gather(
                *(
                    fake.invoke_slash(guild, member, "ask", {"question": question})
                    for member, question in zip(members, asked, strict=True)
                )
            )
            replies = await asyncio.gather(
                *(i.wait_for_response(timeout=120) for i in interactions)
            )
            seconds = time.perf_counter() - started
    return list(interactions), list(replies), seconds


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=USERS, help="members asking at once")
    parser.add_argument("--no-write", action="store_true", help="do not update the docs")
    args = parser.parse_args(argv)
    if not CORPUS.exists() or not QUERIES.exists():
        print("MultiHop-RAG not found in ../shared/data", file=sys.stderr)
        return 2
    from bot.app import warm_up
    from newsbot.services import build_services

    services = build_services(settings_for(base_index()))
    warm_up(services)  # as `newsbot bot` does before connecting
    asked = questions(args.users)
    loadavg = load()
    interactions, replies, seconds = asyncio.run(storm(services, asked))

    acks = [i.acknowledged_at for i in interactions]
    answers = [r.revisions[-1].elapsed for r in replies]
    acked = sum(1 for a in acks if a is not None and a < ACK_LIMIT)
    answered = sum(1 for r in replies if r.embeds and "> " in str(r.embeds[0]))
    failed = sum(1 for i in interactions if i.rejections)
    ack_ms = [1000 * a for a in acks if a is not None]
    row = [
        len(asked),
        f"{acked}/{len(asked)}",
        f"{percentile(ack_ms, 50):.0f}",
        f"{percentile(ack_ms, 95):.0f}",
        f"{max(ack_ms):.0f}",
        f"{percentile(answers, 50):.2f}",
        f"{percentile(answers, 95):.2f}",
        f"{max(answers):.2f}",
        f"{answered}/{len(asked)}",
        failed,
        f"{peak_rss_mb():.0f}",
        loadavg,
    ]
    header = [
        "asking at once",
        "acknowledged < 3 s",
        "ack p50 ms",
        "ack p95 ms",
        "ack max ms",
        "answer p50 s",
        "answer p95 s",
        "answer max s",
        "answered with quotes",
        "rejected by Discord",
        "peak RSS MB",
        "load",
    ]
    report = table(header, [row])
    print(report)
    verdict = (
        f"{acked} of {len(asked)} acknowledged within {ACK_LIMIT:.0f} s; answer p95 "
        f"{percentile(answers, 95):.2f} s (target < {TARGET_ANSWER_P95:.0f} s); all answers "
        f"in {seconds:.1f} s. {services.index.count_chunks():,} chunks, embedding backend "
        f"{services.embedder.backend}."
    )
    print(verdict)
    if args.no_write:
        return 0
    intro = (
        f"`{COMMAND}` on {today()}, {machine()}. {len(asked)} members send /ask with "
        "different MultiHop-RAG questions at the same moment to the real bot (bot/app.py, "
        "discord.py unmodified) connected to tests/fake_discord on 127.0.0.1, answering from "
        "the corpus (bench/query.py's index) with default settings. Times are measured by the "
        "fake server from each interaction's creation: acknowledged = the bot's deferred "
        '"thinking" response, answer = the message that replaces it. Answers answered '
        'with quotes count embeds carrying a block quote; the others abstain ("no ingested '
        "article covers this\"). The process's peak RSS includes the fake Discord."
    )
    write_section("bot", f"{wrap(intro)}\n\n{report}\n\n{wrap(verdict)}")
    print(f"Updated {Path('docs/benchmarks.md')}.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
