"""Retrieval quality on MultiHop-RAG, scored exactly as the paper's retrieval_evaluate.py.

    .venv/bin/python bench/multihop.py               # prints the tables, updates docs/benchmarks.md
    .venv/bin/python bench/multihop.py --no-write    # prints only
    .venv/bin/python bench/multihop.py --limit 300   # a quick look at the first 300 queries
    newsbot search --json --top-k 10 - < questions.txt > ranked.jsonl
    .venv/bin/python bench/multihop.py --rescore ranked.jsonl   # score `newsbot search` output

The corpus is ingested with the product's own pipeline into `.bench-cache/multihop-<key>/`,
where the key hashes the corpus bytes and the settings that shape the index (model, backend,
chunk size and overlap); a later run with the same key reuses it. Every query goes through
`Answerer.search`, the search `newsbot search --json` and the bot use, at top 10. With
`--dump FILE` the final configuration's results are written in the `newsbot search --json`
format, so anyone can re-score them.

Scoring (upstream's calculate_metrics): a retrieved chunk is relevant if a gold evidence
`fact`, spaces and newlines removed, is a substring of the chunk text with spaces and newlines
removed (case-sensitive). Null queries are left out. Hits@10 / Hits@4: a relevant chunk in the
top 10 / 4. MRR@10: 1 / rank of the first relevant chunk. MAP@10: for each rank r, the number
of gold facts first covered at r, divided by r, summed, over min(number of facts, 10).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

# `python bench/x.py` puts bench/ first on the path, where bench/ingest.py would shadow the
# `ingest` package: the repository goes first, and bench/ (for _common) last.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.append(str(Path(__file__).resolve().parent))

from _common import REPO, wrap, write_section

DATA = REPO.parent / "shared" / "data" / "multihop_rag"
CACHE = REPO / ".bench-cache"
DOCS = REPO / "docs" / "benchmarks.md"
COMMAND = "python bench/multihop.py"
# Bump when the way the benchmark index is built changes in a way the key does not see.
INDEX_VERSION = 1
TOP_K = 10
# MultiHop questions run to 650 characters; the product's default limit is 300.
QUESTION_CHARS = 1000
TYPES = ("inference_query", "comparison_query", "temporal_query")
TARGETS = {"hits10": 0.85, "hits4": 0.75, "mrr10": 0.65}
# The paper's Table (retrieval without and with a reranker), chunks of 256 tokens.
PAPER = (
    ("paper: bge-large-en-v1.5, no reranker", 0.6718, 0.5221, 0.4298),
    ("paper best: voyage-02 + bge-reranker-large", 0.7467, 0.6625, 0.586),
)


def squash(text: str) -> str:
    return text.replace(" ", "").replace("\n", "")


@dataclass(slots=True)
class QueryScore:
    hit10: bool
    hit4: bool
    rr: float
    ap: float
    all_facts: bool


def score_query(chunks: Sequence[str], facts: Sequence[str]) -> QueryScore:
    """One query, as upstream's calculate_metrics computes it."""
    gold = [squash(f) for f in facts]
    retrieved = [squash(c) for c in chunks[:TOP_K]]
    first: int | None = None
    hit4 = False
    ap = 0.0
    found: list[str] = []
    for rank, text in enumerate(retrieved, start=1):
        if any(g in text for g in gold):
            if first is None:
                first = rank
            if rank <= 4:
                hit4 = True
            count = 0
            for g in gold:
                if g in text and g not in found:
                    count += 1
                    found.append(g)
            ap += count / rank
    all_facts = all(any(g in t for t in retrieved) for g in gold)
    return QueryScore(
        hit10=first is not None,
        hit4=hit4,
        rr=1.0 / first if first else 0.0,
        ap=ap / min(len(gold), 10) if gold else 0.0,
        all_facts=all_facts,
    )


@dataclass(slots=True)
class Scores:
    n: int
    hits10: float
    hits4: float
    mrr10: float
    map10: float
    all_facts: float
    by_type: dict[str, tuple[int, float, float]] = field(default_factory=dict)  # n, hits10, mrr
    seconds: float = 0.0


def aggregate(scores: Sequence[QueryScore], types: Sequence[str], seconds: float = 0.0) -> Scores:
    def mean(values: Iterable[float]) -> float:
        vals = list(values)
        return sum(vals) / len(vals) if vals else 0.0

    by_type = {}
    for t in TYPES:
        these = [s for s, ty in zip(scores, types, strict=True) if ty == t]
        if these:
            by_type[t] = (len(these), mean(s.hit10 for s in these), mean(s.rr for s in these))
    return Scores(
        n=len(scores),
        hits10=mean(s.hit10 for s in scores),
        hits4=mean(s.hit4 for s in scores),
        mrr10=mean(s.rr for s in scores),
        map10=mean(s.ap for s in scores),
        all_facts=mean(s.all_facts for s in scores),
        by_type=by_type,
        seconds=seconds,
    )


# --- the index -------------------------------------------------------------------------------


def index_key(corpus: bytes, settings: Any) -> str:
    h = hashlib.sha256()
    h.update(corpus)
    for part in (
        INDEX_VERSION,
        settings.model.embedding_model,
        settings.model.embedding_backend,
        settings.ingest.chunk_tokens,
        settings.ingest.chunk_overlap_tokens,
    ):
        h.update(f"\x00{part}".encode())
    return h.hexdigest()[:16]


def open_index(corpus_path: Path, overrides: dict[str, Any]) -> tuple[Any, float | None, str]:
    """Services over the cached benchmark index (built first if missing): (services, ingest
    seconds or None when reused, key)."""
    from ingest.loaders import load_file
    from newsbot.services import build_services
    from newsbot.settings import load_settings

    corpus = corpus_path.read_bytes()
    probe = load_settings(**overrides)
    key = index_key(corpus, probe)
    data_dir = CACHE / f"multihop-{key}"
    marker = data_dir / "complete.json"
    settings = load_settings(**overrides, data_dir=data_dir, max_question_chars=QUESTION_CHARS)
    if marker.exists():
        return build_services(settings), None, key
    if data_dir.exists():
        shutil.rmtree(data_dir)  # an interrupted build
    data_dir.mkdir(parents=True)
    services = build_services(settings)
    print(f"Ingesting {corpus_path} into {data_dir} (once per corpus and settings)...", flush=True)
    started = time.perf_counter()
    items = load_file(corpus_path, max_bytes=max(settings.ingest.max_file_bytes, len(corpus) + 1))
    report = services.ingester.ingest(items)
    seconds = time.perf_counter() - started
    services.answerer.invalidate_stats()
    marker.write_text(json.dumps({"key": key, **report.to_json(), "items": None}), "utf-8")
    return services, seconds, key


class MemoEmbedder:
    """The product's embedder, remembering query vectors so that the configurations compared
    here embed each question once (the vectors are the same either way)."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner
        self._memo: dict[str, Any] = {}

    def embed_query(self, text: str) -> Any:
        if text not in self._memo:
            self._memo[text] = self._inner.embed_query(text)
        return self._memo[text]

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


# --- running ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Config:
    name: str
    fusion: Any
    question_hints: bool


def configurations(settings: Any) -> list[Config]:
    """The baselines, ablations of the final configuration, and the final one (last): what
    `Answerer.search` does with these settings."""
    from newsbot.services import fusion_config
    from retrieval.hybrid import FusionConfig

    final = fusion_config(settings.retrieval)
    hints = settings.retrieval.question_hints
    plain = {"max_per_article": 0}
    return [
        Config(
            "dense only (cosine, Chroma)",
            FusionConfig(dense_weight=1.0, lexical_weight=0.0, **plain),
            False,
        ),
        Config("BM25 only", FusionConfig(dense_weight=0.0, lexical_weight=1.0, **plain), False),
        Config("hybrid: dense + BM25, RRF, per-article cap", final, False),
        Config(
            "final, but dense only",
            replace(final, dense_weight=1.0, lexical_weight=0.0),
            hints,
        ),
        Config("final, but BM25 only", replace(final, dense_weight=0.0, lexical_weight=1.0), hints),
        Config("final, but no per-article cap", replace(final, max_per_article=0), hints),
        Config("**final**: hybrid + outlets and times read from the question", final, hints),
    ]


def make_answerer(services: Any, embedder: Any, config: Config) -> Any:
    from retrieval.answering import Answerer

    s = services.settings
    return Answerer(
        services.index,
        embedder,
        top_k=TOP_K,
        max_quotes=s.retrieval.max_quotes,
        abstain_threshold=s.retrieval.abstain_threshold,
        max_question_chars=QUESTION_CHARS,
        fusion=config.fusion,
        question_hints=config.question_hints,
    )


def run_config(
    answerer: Any, queries: Sequence[dict[str, Any]], progress: Callable[[int], None]
) -> tuple[list[list[Any]], float]:
    started = time.perf_counter()
    results = []
    for i, q in enumerate(queries):
        results.append(answerer.search(q["query"], k=TOP_K))
        progress(i + 1)
    return results, time.perf_counter() - started


def _progress(label: str, total: int) -> Callable[[int], None]:
    tty = sys.stderr.isatty()

    def show(done: int) -> None:
        if done == total or (tty and done % 25 == 0):
            end = "\n" if done == total else "\r"
            print(f"  {label}: {done}/{total}", end=end, file=sys.stderr, flush=True)

    return show


# --- reporting -------------------------------------------------------------------------------


def results_table(rows: Sequence[tuple[str, Scores | tuple[float, float, float]]]) -> str:
    head = (
        "| configuration | Hits@10 | Hits@4 | MRR@10 | MAP@10 | all facts in top 10 | "
        "Hits@10 inference / comparison / temporal | seconds |\n"
        "|---|---|---|---|---|---|---|---|"
    )
    lines = [head]
    for name, s in rows:
        if isinstance(s, Scores):
            per = " / ".join(f"{s.by_type[t][1]:.4f}" for t in TYPES if t in s.by_type)
            lines.append(
                f"| {name} | {s.hits10:.4f} | {s.hits4:.4f} | {s.mrr10:.4f} | {s.map10:.4f} | "
                f"{s.all_facts:.4f} | {per} | {s.seconds:.0f} |"
            )
        else:
            h10, h4, mrr = s
            lines.append(f"| {name} | {h10:.4f} | {h4:.4f} | {mrr:.4f} | | | | |")
    return "\n".join(lines)


def type_table(s: Scores) -> str:
    lines = ["| question type | queries | Hits@10 | MRR@10 |", "|---|---|---|---|"]
    for t in TYPES:
        if t in s.by_type:
            n, h, m = s.by_type[t]
            lines.append(f"| {t.removesuffix('_query')} | {n} | {h:.4f} | {m:.4f} |")
    return "\n".join(lines)


def rescore(path: Path, queries: Sequence[dict[str, Any]]) -> int:
    by_question = {" ".join(q["query"].split()): q for q in queries}
    scores, types = [], []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        row = json.loads(line)
        q = by_question.get(" ".join(str(row.get("query", "")).split()))
        if q is None or q["question_type"] == "null_query":
            continue
        texts = [r["text"] for r in sorted(row["results"], key=lambda r: r["rank"])]
        scores.append(score_query(texts, [e["fact"] for e in q["evidence_list"]]))
        types.append(q["question_type"])
    print(results_table([(path.name, aggregate(scores, types))]))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DATA, help="MultiHop-RAG directory")
    parser.add_argument("--no-write", action="store_true", help="do not update the docs")
    parser.add_argument("--limit", type=int, help="only the first N queries (not written)")
    parser.add_argument("--only-final", action="store_true", help="only the final configuration")
    parser.add_argument("--dump", type=Path, help="write the final results as search JSON lines")
    parser.add_argument("--rescore", type=Path, help="score `newsbot search --json` output")
    args = parser.parse_args(argv)
    queries_path, corpus_path = args.data / "MultiHopRAG.json", args.data / "corpus.json"
    if not queries_path.exists() or not corpus_path.exists():
        print(f"MultiHop-RAG not found in {args.data}", file=sys.stderr)
        return 2
    all_queries = json.loads(queries_path.read_text(encoding="utf-8"))
    if args.rescore:
        return rescore(args.rescore, all_queries)
    if args.limit:
        all_queries = all_queries[: args.limit]
    started = time.perf_counter()

    services, ingest_seconds, _key = open_index(corpus_path, {})
    settings = services.settings
    embedder = MemoEmbedder(services.embedder)
    answerable = [q for q in all_queries if q["question_type"] != "null_query"]
    nulls = [q for q in all_queries if q["question_type"] == "null_query"]
    types = [q["question_type"] for q in answerable]

    chunks = list(services.index.iter_chunks())
    squashed = [squash(text) for _, text, _ in chunks]
    facts = {squash(e["fact"]) for q in answerable for e in q["evidence_list"]}
    unchunked = sum(1 for f in facts if not any(f in c for c in squashed))
    max_tokens = max((t for _, _, t in chunks), default=0)
    articles = services.index.stats().articles
    print(
        f"{articles} articles, {len(chunks)} chunks of at most {max_tokens} tokens; "
        f"{unchunked} of {len(facts)} gold facts are in no chunk whole.",
        flush=True,
    )

    configs = configurations(settings)
    if args.only_final:
        configs = configs[-1:]
    rows: list[tuple[str, Scores | tuple[float, float, float]]] = []
    final_results: list[list[Any]] = []
    final_scores: Scores | None = None
    for config in configs:
        answerer = make_answerer(services, embedder, config)
        results, seconds = run_config(answerer, answerable, _progress(config.name, len(answerable)))
        scores = [
            score_query([p.text for p in ps], [e["fact"] for e in q["evidence_list"]])
            for ps, q in zip(results, answerable, strict=True)
        ]
        agg = aggregate(scores, types, seconds)
        rows.append((config.name, agg))
        final_results, final_scores = results, agg
    rows.extend((name, (h10, h4, mrr)) for name, h10, h4, mrr in PAPER)
    assert final_scores is not None

    if args.dump:
        from newsbot.cli import search_json

        with args.dump.open("w", encoding="utf-8") as out:
            for q, ps in zip(answerable, final_results, strict=True):
                out.write(json.dumps(search_json(q["query"], ps), ensure_ascii=False) + "\n")

    total = time.perf_counter() - started
    report = results_table(rows)
    print(report)
    print()
    print(type_table(final_scores))
    verdicts = []
    for name, target in TARGETS.items():
        value = getattr(final_scores, name)
        verdicts.append(f"{name} {value:.4f} {'>=' if value >= target else '<'} {target}")
    print("\nTargets: " + "; ".join(verdicts))
    print(f"Total {total:.0f} s.")
    if args.no_write or args.limit:
        return 0
    today = datetime.now(UTC).strftime("%Y-%m-%d")
    built = (
        f"built in {ingest_seconds:.0f} s"
        if ingest_seconds is not None
        else "reused from .bench-cache (delete it to rebuild)"
    )
    non_default = _non_default_retrieval_settings(settings)
    intro = wrap(
        f"`{COMMAND}` on {today}, {os.cpu_count()} CPU cores, {total:.0f} s in all (index "
        f"{built}; questions embedded once and shared by the configurations). "
        f"{articles} articles of MultiHop-RAG's corpus.json in {len(chunks)} chunks of at most "
        f"{max_tokens} tokens of the embedding model's tokenizer (the paper: 256), model "
        f"{settings.model.embedding_model} ({settings.model.embedding_backend}), no reranker. "
        f"{len(answerable)} queries ({len(nulls)} null queries left out), top 10, scored as "
        "the paper's retrieval_evaluate.py. Every configuration runs `Answerer.search`, the "
        "search behind `newsbot search --json` and the bot; the last row is what they do "
        f"with the default settings{non_default}. Targets: Hits@10 >= 0.85, Hits@4 >= 0.75, "
        "MRR@10 >= 0.65. Distinct gold facts not contained whole in any stored chunk: "
        f"{unchunked} of {len(facts)} (a chunking limit no ranking can fix)."
    )
    section = (
        f"{intro}\n\n{report}\n\nBy question type (final configuration):\n\n"
        f"{type_table(final_scores)}\n\nWhether to answer at all (abstention) and what the "
        "quotes hold are measured by `bench/answers.py` (section below)."
    )
    write_section("multihop", section)
    print(f"Updated {DOCS.relative_to(REPO)}.")
    return 0


def _non_default_retrieval_settings(settings: Any) -> str:
    names = {
        "retrieval": (
            "rrf_k",
            "dense_weight",
            "lexical_weight",
            "max_chunks_per_article",
            "question_hints",
        ),
        "ingest": ("chunk_tokens", "chunk_overlap_tokens"),
        "model": ("embedding_backend",),
    }
    changed = []
    for section_name, fields in names.items():
        section = getattr(settings, section_name)
        changed += [
            f"NEWSBOT_{n.upper()}={getattr(section, n)}"
            for n in fields
            if getattr(section, n) != type(section).model_fields[n].default
        ]
    return f" (here with {', '.join(changed)})" if changed else ""


if __name__ == "__main__":
    sys.exit(main())
