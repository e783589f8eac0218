"""Extraction quality: our HTML extraction (exactly what ingest stores as an article's body)
scored on the Scrapinghub article-extraction-benchmark with that benchmark's own metric.

    .venv/bin/python bench/extraction.py            # prints a table, updates docs/benchmarks.md
    .venv/bin/python bench/extraction.py --no-write # prints only

The metric (the benchmark's evaluate.py): tokens are `\\w+` matches; each document's true and
extracted bodies become multisets of 4-token shingles; per document, tp/fp/fn are the
shingle overlap, precision tp/(tp+fp), recall tp/(tp+fn). Precision is averaged over the
documents with non-empty output, recall over all of them, and F1 comes from the two averages.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import re
import statistics
import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

# `python bench/x.py` puts bench/ first on the path, where bench/ingest.py would shadow the
# `ingest` package: the repository goes first, and bench/ (for _common) last.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.append(str(Path(__file__).resolve().parent))

from _common import REPO, wrap, write_section

DEFAULT_DATA = REPO.parent / "shared" / "data" / "article-extraction-benchmark"
DOCS = REPO / "docs" / "benchmarks.md"
TARGET_F1 = 0.96

# The benchmark's published results for other extractors (its README).
PUBLISHED = (("trafilatura 2.0.0", 0.958), ("newspaper4k", 0.949), ("readability", 0.922))

_TOKEN = re.compile(r"\w+")

Counts = tuple[float, float, float]  # tp, fp, fn, normalised to sum 1


def shingles(text: str, n: int = 4) -> Counter[tuple[str, ...]]:
    tokens = _TOKEN.findall(text or "")
    return Counter(
        tuple(tokens[i : i + n]) for i in range(max(1, len(tokens) - n + 1)) if tokens[i : i + n]
    )


def shingle_counts(true: str, pred: str) -> Counts:
    t, p = shingles(true), shingles(pred)
    tp = fp = fn = 0.0
    for key in t.keys() | p.keys():
        tc, pc = t.get(key, 0), p.get(key, 0)
        tp += min(tc, pc)
        fp += max(0, pc - tc)
        fn += max(0, tc - pc)
    total = tp + fp + fn
    return (tp / total, fp / total, fn / total) if total else (0.0, 0.0, 0.0)


def _precision(tp: float, fp: float, fn: float) -> float:
    if fp == fn == 0:
        return 1.0
    return 0.0 if tp == fp == 0 else tp / (tp + fp)


def _recall(tp: float, fp: float, fn: float) -> float:
    if fp == fn == 0:
        return 1.0
    return 0.0 if tp == fn == 0 else tp / (tp + fn)


@dataclass(frozen=True)
class Score:
    precision: float
    recall: float
    f1: float
    empty: int  # documents with no output at all
    seconds: float


def score(counts: Sequence[Counts], *, empty: int, seconds: float) -> Score:
    precision = statistics.mean(_precision(*c) for c in counts if c[0] + c[1] > 0)
    recall = statistics.mean(_recall(*c) for c in counts if c[0] + c[2] > 0)
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return Score(precision, recall, f1, empty, seconds)


Extractor = Callable[[bytes, str], str]


def newsbot_extractor(data: bytes, url: str) -> str:
    """What `newsbot ingest URL` stores as the body (loaders.extract_html); "" on failure."""
    from ingest.loaders import Loaded, extract_html

    item = extract_html(data, url=url, source=url)
    return item.article.body if isinstance(item, Loaded) else ""


def trafilatura_extractor(data: bytes, url: str) -> str:
    """The benchmark's own trafilatura runner (defaults), on this machine, for reference."""
    import trafilatura

    return trafilatura.extract(data.decode("utf-8"), include_comments=False) or ""


def run(data_dir: Path, extract: Extractor) -> Score:
    truth: dict[str, dict[str, str]] = json.loads((data_dir / "ground-truth.json").read_text())
    counts: list[Counts] = []
    empty = 0
    started = time.perf_counter()
    for key in sorted(truth):
        html = gzip.decompress((data_dir / "html" / f"{key}.html.gz").read_bytes())
        body = extract(html, truth[key].get("url", ""))
        empty += not body.strip()
        counts.append(shingle_counts(truth[key].get("articleBody", ""), body))
    return score(counts, empty=empty, seconds=time.perf_counter() - started)


def table(rows: Sequence[tuple[str, Score | float]], pages: int) -> str:
    lines = [
        "| extractor | precision | recall | F1 | empty outputs | seconds |",
        "|---|---|---|---|---|---|",
    ]
    for name, result in rows:
        if isinstance(result, Score):
            lines.append(
                f"| {name} | {result.precision:.3f} | {result.recall:.3f} | "
                f"**{result.f1:.3f}** | {result.empty}/{pages} | {result.seconds:.1f} |"
            )
        else:
            lines.append(f"| {name} (published) | | | {result:.3f} | | |")
    return "\n".join(lines)


def section(report: str, command: str, pages: int) -> str:
    today = datetime.now(UTC).strftime("%Y-%m-%d")
    intro = wrap(
        f"`{command}` on {today}, {os.cpu_count()} CPU cores: {pages} pages of the "
        "Scrapinghub article-extraction-benchmark, scored with its metric (4-token shingles; "
        "precision averaged over non-empty outputs, recall over all pages). newsbot is "
        "`ingest.loaders.extract_html`, exactly what ingest stores: trafilatura with "
        "`favor_precision=True` and tables kept, a recall-mode second pass when precision "
        "mode keeps under 1,000 characters, the headline not repeated in the body. "
        f"Target: F1 >= {TARGET_F1}."
    )
    return f"{intro}\n\n{report}"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="benchmark directory")
    parser.add_argument("--no-write", action="store_true", help="do not update the docs")
    args = parser.parse_args(argv)
    if not (args.data / "ground-truth.json").exists():
        print(f"extraction benchmark not found in {args.data}", file=sys.stderr)
        return 2
    pages = len(json.loads((args.data / "ground-truth.json").read_text()))
    ours = run(args.data, newsbot_extractor)
    reference = run(args.data, trafilatura_extractor)
    rows: list[tuple[str, Score | float]] = [
        ("newsbot", ours),
        ("trafilatura.extract, defaults (this machine)", reference),
        *PUBLISHED,
    ]
    report = table(rows, pages)
    print(report)
    verdict = "meets" if ours.f1 >= TARGET_F1 else "misses"
    print(f"\nnewsbot F1 {ours.f1:.3f} {verdict} the target {TARGET_F1}.")
    if not args.no_write:
        write_section("extraction", section(report, "python bench/extraction.py", pages))
        print(f"Updated {DOCS.relative_to(REPO)}.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
