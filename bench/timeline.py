"""Story timelines (issue 13 §3): does `newsbot timeline` cover a story's articles, in date
order, without articles about something else?

    python bench/timeline.py            # dev and test stories, the shipped thresholds
    python bench/timeline.py --no-docs

Over the seed + MultiHop-RAG index (bench/answers.py builds it once), each story of
bench/data/timeline_stories.jsonl (topic, the URLs of its articles, and related URLs that
mention it, labelled by reading) gets the timeline `newsbot timeline TOPIC` shows, default
settings (NEWSBOT_TIMELINE_MAX_ENTRIES included). Per story:
- coverage: the share of the story's articles with an entry (a syndicated copy counts as
  covered by its lead's entry);
- date order: the share of consecutive entries in order by their articles' dates in the
  corpus, and the share of entries whose date is their article's day;
- off-topic: the share of entries whose article is neither the story's nor related to it.
Means over stories, per split. The on-topic thresholds (retrieval/timeline.py, `OnTopic`)
are swept on the dev stories only; the shipped ones are reported on both splits. Also one
entry per day (the most relevant article's) instead of one per article, from the same
timelines.
"""

from __future__ import annotations

import argparse
import itertools
import json
import statistics
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

if str(Path(__file__).resolve().parent) not in sys.path:
    sys.path.append(str(Path(__file__).resolve().parent))
import _common
from _common import CORPUS, REPO, percentile, table, today, wrap, write_section
from answers import open_services

STORIES = REPO / "bench" / "data" / "timeline_stories.jsonl"
# The dev sweep: each threshold of `OnTopic` in turn, the others as shipped.
SWEEP = {
    "min_coverage": (0.5, 0.6, 0.7, 0.8),
    "min_mentions": (0.2, 0.3, 0.4),
    "min_similarity": (0.3, 0.35, 0.4, 0.45),
}


@dataclass(frozen=True, slots=True)
class Score:
    entries: int
    coverage: float
    in_order: float
    dated_right: float
    off_topic: float
    day_coverage: float  # one entry per day
    day_off_topic: float


def load_stories() -> list[dict[str, Any]]:
    return [json.loads(line) for line in STORIES.read_text(encoding="utf-8").splitlines() if line]


def corpus_days() -> dict[str, datetime]:
    """URL -> the article's published time, as the corpus gives it."""
    rows = json.loads(CORPUS.read_text(encoding="utf-8"))
    return {r["url"]: datetime.fromisoformat(r["published_at"]).astimezone(UTC) for r in rows}


def lead_ids(services: Any) -> dict[str, str]:
    """URL -> the id of the article that stands for it: its own, or its lead's for a copy."""
    from retrieval.index import COPY_OF

    fields = services.index.article_fields(("url", COPY_OF))
    return {str(f["url"]): str(f.get(COPY_OF) or aid) for aid, f in fields.items() if f.get("url")}


def score(
    story: dict[str, Any], timeline: Any, leads: dict[str, str], days: dict[str, datetime]
) -> Score:
    core = {leads[u] for u in story["urls"] if u in leads}
    related = {leads[u] for u in story["related"] if u in leads}
    cited = {c.n: c for c in timeline.citations}
    entries = [(e, cited[e.quote.citation]) for e in timeline.entries]
    ids = [c.article_id for _, c in entries]
    when = [days.get(c.url or "") for _, c in entries]
    pairs = list(itertools.pairwise(when))
    in_order = [a is not None and b is not None and a <= b for a, b in pairs]
    dated = [
        w is not None and e.day == w.date().isoformat()
        for (e, _), w in zip(entries, when, strict=True)
    ]
    best_of_day: dict[str, tuple[float, str]] = {}
    for e, c in entries:
        if e.day not in best_of_day or e.relevance > best_of_day[e.day][0]:
            best_of_day[e.day] = (e.relevance, c.article_id)
    by_day = [aid for _, aid in best_of_day.values()]
    return Score(
        entries=len(entries),
        coverage=_share(len(core & set(ids)), len(core)),
        in_order=_share(sum(in_order), len(pairs)) if pairs else 1.0,
        dated_right=_share(sum(dated), len(dated)) if dated else 1.0,
        off_topic=_share(sum(aid not in core | related for aid in ids), len(ids)),
        day_coverage=_share(len(core & set(by_day)), len(core)),
        day_off_topic=_share(sum(aid not in core | related for aid in by_day), len(by_day)),
    )


def _share(n: int, total: int) -> float:
    return n / total if total else 0.0


def run(
    builder: Any,
    stories: Sequence[dict[str, Any]],
    leads: dict[str, str],
    days: dict[str, datetime],
    ms: list[float] | None = None,
) -> list[Score]:
    scores = []
    for story in stories:
        started = time.perf_counter()
        timeline = builder.build(story["topic"])
        if ms is not None:
            ms.append((time.perf_counter() - started) * 1000)
        scores.append(score(story, timeline, leads, days))
    return scores


def mean(scores: Sequence[Score], name: str) -> float:
    return statistics.fmean(getattr(s, name) for s in scores) if scores else float("nan")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--no-docs", action="store_true", help="Only print the tables.")
    args = parser.parse_args(argv)

    from retrieval.timeline import OnTopic, TimelineBuilder

    services = open_services()
    settings = services.settings.retrieval
    max_entries = settings.timeline_max_entries

    def builder(on_topic: OnTopic | None = None) -> TimelineBuilder:
        return TimelineBuilder(
            services.answerer,
            services.index,
            max_entries=max_entries,
            max_topic_chars=settings.max_question_chars,
            on_topic=on_topic,
        )

    stories = load_stories()
    dev = [s for s in stories if s["split"] == "dev"]
    test = [s for s in stories if s["split"] == "test"]
    leads, days = lead_ids(services), corpus_days()
    shipped = OnTopic()
    services.timelines.build(dev[0]["topic"])  # the model loads and compiles before timing
    ms: list[float] = []
    results = {
        "dev": run(services.timelines, dev, leads, days, ms),
        "test": run(services.timelines, test, leads, days, ms),
    }
    per_story = table(
        ["story", "split", "articles", "entries", "coverage", "date order", "off-topic"],
        [
            [
                story["id"],
                story["split"],
                len(story["urls"]),
                s.entries,
                f"{s.coverage:.2f}",
                f"{s.in_order:.2f}",
                f"{s.off_topic:.2f}",
            ]
            for split in ("dev", "test")
            for story, s in zip(dev if split == "dev" else test, results[split], strict=True)
        ],
    )
    summary_rows = []
    for split, scores in results.items():
        summary_rows.append(
            [
                split,
                len(scores),
                f"{mean(scores, 'coverage'):.3f}",
                f"{mean(scores, 'in_order'):.3f}",
                f"{mean(scores, 'dated_right'):.3f}",
                f"{mean(scores, 'off_topic'):.3f}",
                f"{mean(scores, 'day_coverage'):.3f}",
                f"{mean(scores, 'day_off_topic'):.3f}",
            ]
        )
    summary = table(
        [
            "split",
            "stories",
            "coverage",
            "date order",
            "dates right",
            "off-topic",
            "per day: coverage",
            "per day: off-topic",
        ],
        summary_rows,
    )
    tried = dict.fromkeys(
        replace(shipped, **{name: value}) for name, values in SWEEP.items() for value in values
    )
    sweep_rows = []
    for on_topic in tried:
        is_shipped = on_topic == shipped
        scores = results["dev"] if is_shipped else run(builder(on_topic), dev, leads, days)
        cov, off = mean(scores, "coverage"), mean(scores, "off_topic")
        sweep_rows.append((cov - off, on_topic, cov, off, is_shipped))
    sweep_rows.sort(key=lambda r: r[0], reverse=True)
    sweep = table(
        ["min coverage", "min mentions", "min similarity", "dev coverage", "dev off-topic", ""],
        [
            [
                t.min_coverage,
                t.min_mentions,
                t.min_similarity,
                f"{cov:.3f}",
                f"{off:.3f}",
                "shipped" if is_shipped else "",
            ]
            for _, t, cov, off, is_shipped in sweep_rows
        ],
    )
    rank = next(i for i, row in enumerate(sweep_rows, start=1) if row[4])
    every = [*results["dev"], *results["test"]]
    speed = (
        f"A timeline took {percentile(ms, 50):.0f} ms (p50) and {percentile(ms, 95):.0f} ms "
        f"(p95), {len(ms)} topics, one at a time."
    )
    print(summary, per_story, sweep, speed, sep="\n\n")
    print(f"The shipped thresholds rank {rank} of {len(sweep_rows)} on dev (coverage - off-topic).")
    if not args.no_docs:
        write_section(
            "timeline",
            "## Story timelines (`python bench/timeline.py`)\n\n"
            + wrap(
                f"{today()}, {_common.machine()}: the {len(stories)} stories of "
                "bench/data/timeline_stories.jsonl (labelled by reading the corpus: each "
                "story's articles, and related ones that mention it, which count neither way), "
                "each through `newsbot timeline TOPIC` with default settings "
                f"(NEWSBOT_TIMELINE_MAX_ENTRIES={max_entries}). Coverage: the share of a "
                "story's articles with an entry; date order: the share of consecutive entries "
                "in order by their articles' dates in the corpus (dates right: entries dated "
                "with their article's day); off-topic: the share of entries whose article is "
                "neither the story's nor related. Means over stories. The per-day columns keep "
                "only each day's most relevant entry of the same timelines (one entry per day "
                f"instead of per article): over all {len(stories)} stories they cover "
                f"{mean(every, 'day_coverage'):.3f} of a story's articles against "
                f"{mean(every, 'coverage'):.3f}, with an off-topic share of "
                f"{mean(every, 'day_off_topic'):.3f} against {mean(every, 'off_topic'):.3f}."
            )
            + f"\n\n{summary}\n\n"
            + wrap(
                "The on-topic thresholds (retrieval/timeline.py, `OnTopic`), swept on the dev "
                "stories only, one at a time with the others as shipped, by coverage minus "
                f"off-topic share; the shipped ones rank {rank} of {len(sweep_rows)}:"
            )
            + f"\n\n{sweep}\n\n{wrap(speed)}\n\n{per_story}\n",
        )
        print(f"Updated {_common.DOCS.relative_to(_common.REPO)}.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
