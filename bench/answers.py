"""Answer-level quality: do the quotes a user reads hold the answer, and does the bot decline
what it cannot answer?

    python bench/answers.py            # MultiHop-RAG (all 2,556 queries) + bench/data set
    python bench/answers.py --limit 400 --no-docs

Over the seed + MultiHop-RAG corpus, default settings, each question through
`Answerer.answer` (what `newsbot ask --json` and the bot show):
- fact quoted: a quote contains a gold evidence fact, or a quote of >= 6 words lies inside
  one (whitespace ignored); all facts quoted: every gold fact of the query is;
- inference answer in quotes: the answer string (case ignored) appears in the quotes;
- null declined, answerable answered;
- the hand-written Discord-style set (bench/data/discord_questions.jsonl), dev and test
  halves: every part of an answerable question has a quote holding one of its expected
  substrings (from one of its articles), unanswerable ones declined.
MultiHop scores are also given on the half the answer selector never trained on
(`split_of`: bench/train_selector.py trains on the other half).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import shutil
import sys
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# (`python bench/x.py` has bench/ on the path already; _common puts the repository first.)
if str(Path(__file__).resolve().parent) not in sys.path:
    sys.path.append(str(Path(__file__).resolve().parent))
import _common
from _common import CACHE, CORPUS, QUERIES, REPO, SHARED, table, today, wrap, write_section

SEED = SHARED / "seed"
QUESTION_SET = REPO / "bench" / "data" / "discord_questions.jsonl"
MIN_INSIDE_WORDS = 6
QUESTION_CHARS = 2000


def split_of(text: str) -> str:
    """A question's half: "train" (what bench/train_selector.py may learn from) or "test"."""
    return "train" if hashlib.sha256(text.encode("utf-8")).digest()[0] % 2 == 0 else "test"


def _norm(text: str) -> str:
    return re.sub(r"\s+", "", text).lower()


def fact_quoted(fact: str, quotes: Sequence[str]) -> bool:
    f = _norm(fact)
    for q in quotes:
        nq = _norm(q)
        if f and f in nq:
            return True
        if len(q.split()) >= MIN_INSIDE_WORDS and nq and nq in f:
            return True
    return False


# --- the index -------------------------------------------------------------------------------


def open_services(overrides: dict[str, Any] | None = None) -> Any:
    """Services over the seed + corpus index with default settings (built once, cached)."""
    from ingest.loaders import load_file
    from newsbot.services import build_services
    from newsbot.settings import load_settings

    overrides = dict(overrides or {})
    seeds = sorted(SEED.glob("*.txt"))
    probe = load_settings(**overrides)
    h = hashlib.sha256(CORPUS.read_bytes())
    for path in seeds:
        h.update(path.read_bytes())
    for part in (
        _common.BENCH_VERSION,
        probe.model.embedding_model,
        probe.model.embedding_backend,
        probe.ingest.chunk_tokens,
        probe.ingest.chunk_overlap_tokens,
    ):
        h.update(f"\0{part}".encode())
    data = CACHE / f"answers-{h.hexdigest()[:16]}"
    settings = load_settings(
        **overrides,
        data_dir=data,
        model_cache_dir=CACHE / "models",
        max_question_chars=QUESTION_CHARS,
    )
    marker = data / "complete.json"
    if marker.exists():
        return build_services(settings, read_only=True)
    shutil.rmtree(data, ignore_errors=True)
    data.mkdir(parents=True)
    services = build_services(settings, purpose="bench/answers.py")
    print(f"Ingesting the seed and {CORPUS} into {data} (once)...", flush=True)
    items = [item for path in seeds for item in load_file(path, max_bytes=10**7)]
    items += load_file(CORPUS, max_bytes=CORPUS.stat().st_size + 1)
    report = services.ingester.ingest(items)
    marker.write_text(json.dumps({"chunks": report.chunks_embedded}), encoding="utf-8")
    services.close()
    return build_services(settings, read_only=True)


# --- MultiHop-RAG ----------------------------------------------------------------------------


@dataclass
class Tally:
    n: int = 0
    answered: int = 0
    one_fact: int = 0
    all_facts: int = 0
    fact_recall: float = 0.0
    inference_n: int = 0
    inference_hit: int = 0

    def rate(self, count: float) -> str:
        return f"{count / self.n:.3f}" if self.n else "-"


@dataclass
class MultiHopResult:
    by_type: dict[str, Tally] = field(default_factory=dict)
    null_n: int = 0
    null_declined: int = 0
    seconds: float = 0.0

    def add(
        self, qtype: str, answered: bool, facts: list[str], quotes: list[str], gold: str
    ) -> None:
        if qtype == "null_query":
            self.null_n += 1
            self.null_declined += not answered
            return
        for key in (qtype, "all"):
            t = self.by_type.setdefault(key, Tally())
            t.n += 1
            t.answered += answered
            hits = [fact_quoted(f, quotes) for f in facts]
            t.one_fact += any(hits)
            t.all_facts += bool(hits) and all(hits)
            t.fact_recall += sum(hits) / len(hits) if hits else 0.0
            if qtype == "inference_query":
                t.inference_n += 1
                t.inference_hit += gold.lower() in " ".join(quotes).lower()


def run_multihop(services: Any, queries: list[dict[str, Any]]) -> dict[str, MultiHopResult]:
    """Scores on every query ("all") and on the half the selector never saw ("test")."""
    results = {"all": MultiHopResult(), "test": MultiHopResult()}
    started = time.perf_counter()
    for i, q in enumerate(queries, 1):
        text = " ".join(q["query"].split())
        answer = services.answerer.answer(text)
        quotes = [quote.text for quote in answer.quotes]
        facts = [e["fact"] for e in q["evidence_list"]]
        for name in ("all", split_of(text)):
            if name in results:
                results[name].add(q["question_type"], answer.answered, facts, quotes, q["answer"])
        if i % 250 == 0:
            print(f"  {i}/{len(queries)} MultiHop queries", flush=True)
    results["all"].seconds = time.perf_counter() - started
    return results


# --- the Discord-style set -------------------------------------------------------------------


@dataclass
class SetTally:
    answerable: int = 0
    right: int = 0
    unanswerable: int = 0
    declined: int = 0
    misses: list[str] = field(default_factory=list)


def part_quoted(part: dict[str, Any], answer: Any) -> bool:
    urls = {u for u in part.get("urls") or [] if u}
    by_n = {c.n: c for c in answer.citations}
    for quote in answer.quotes:
        citation = by_n.get(quote.citation)
        if urls and (citation is None or citation.url not in urls):
            continue
        text = " ".join(quote.text.split())
        if any(" ".join(e.split()) in text for e in part["expect"]):
            return True
    return False


def run_question_set(services: Any, rows: Iterable[dict[str, Any]]) -> dict[str, SetTally]:
    tallies: dict[str, SetTally] = {}
    for row in rows:
        t = tallies.setdefault(row["split"], SetTally())
        answer = services.answerer.answer(row["question"])
        if row["kind"] == "answerable":
            t.answerable += 1
            ok = answer.answered and all(part_quoted(p, answer) for p in row["parts"])
            t.right += ok
            if not ok:
                t.misses.append(row["id"])
        else:
            t.unanswerable += 1
            t.declined += not answer.answered
            if answer.answered:
                t.misses.append(row["id"])
    return tallies


def load_question_set(path: Path = QUESTION_SET) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


# --- report ----------------------------------------------------------------------------------


def multihop_rows(results: dict[str, MultiHopResult]) -> list[list[object]]:
    rows: list[list[object]] = []
    for name, res in results.items():
        for qtype in ("all", "inference_query", "comparison_query", "temporal_query"):
            t = res.by_type.get(qtype)
            if t is None:
                continue
            inference = f"{t.inference_hit / t.inference_n:.3f}" if t.inference_n else "-"
            rows.append(
                [
                    name,
                    qtype,
                    t.n,
                    t.rate(t.one_fact),
                    t.rate(t.all_facts),
                    t.rate(t.fact_recall),
                    inference,
                    t.rate(t.answered),
                ]
            )
        declined = res.null_declined / res.null_n if res.null_n else 0.0
        rows.append(
            [name, "null_query", res.null_n, "-", "-", "-", "-", f"declined {declined:.3f}"]
        )
    return rows


def set_rows(tallies: dict[str, SetTally]) -> list[list[object]]:
    rows: list[list[object]] = []
    for split in sorted(tallies):
        t = tallies[split]
        right = t.right / t.answerable if t.answerable else 0.0
        declined = t.declined / t.unanswerable if t.unanswerable else 0.0
        rows.append([split, t.answerable, f"{right:.3f}", t.unanswerable, f"{declined:.3f}"])
    return rows


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--limit", type=int, default=0, help="Only the first N MultiHop queries.")
    parser.add_argument("--no-docs", action="store_true", help="Do not write docs/benchmarks.md.")
    parser.add_argument("--no-multihop", action="store_true")
    parser.add_argument("--misses", action="store_true", help="List the question set's misses.")
    args = parser.parse_args(argv)

    services = open_services()
    services.embedder.embed_query("warm up")
    rows_mh: list[list[object]] = []
    seconds = 0.0
    if not args.no_multihop:
        queries = json.loads(QUERIES.read_text(encoding="utf-8"))
        if args.limit:
            queries = queries[: args.limit]
        results = run_multihop(services, queries)
        rows_mh = multihop_rows(results)
        seconds = results["all"].seconds
    question_set = load_question_set()
    tallies = run_question_set(services, question_set) if question_set else {}

    header_mh = [
        "queries",
        "type",
        "n",
        "fact quoted",
        "all facts quoted",
        "fact recall",
        "inference answer in quotes",
        "answered",
    ]
    header_set = ["half", "answerable", "right sentence", "unanswerable", "declined"]
    if rows_mh:
        print(table(header_mh, rows_mh))
        print(f"\n({seconds:.0f} s for the MultiHop queries)\n")
    if tallies:
        print(table(header_set, set_rows(tallies)))
        if args.misses:
            for split, t in sorted(tallies.items()):
                print(f"{split} misses: {' '.join(t.misses)}")
    if args.no_docs or args.limit or not rows_mh:
        return 0
    text = "\n\n".join(
        [
            "## Answers (`python bench/answers.py`)",
            wrap(
                f"{today()}, {_common.machine()}, default settings, the seed and the MultiHop-RAG "
                "corpus ingested, each question through `Answerer.answer` (what `newsbot ask "
                "--json` and the bot show). Fact quoted: a quote contains a gold evidence fact, "
                f'or a quote of >= {MIN_INSIDE_WORDS} words lies inside one. "test" is the half '
                "of MultiHop-RAG the answer selector never trained on (bench/train_selector.py)."
            ),
            table(header_mh, rows_mh),
            wrap(
                "The Discord-style set (bench/data/discord_questions.jsonl, hand-written over the "
                "same corpus): right sentence = every part of the question has a quote from one "
                "of its articles holding one of its expected substrings."
            ),
            table(header_set, set_rows(tallies)) if tallies else "(no question set)",
        ]
    )
    write_section("answers", text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
