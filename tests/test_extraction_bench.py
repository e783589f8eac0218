"""bench/extraction.py: the benchmark's metric, and that it rewrites only its own section."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_extraction", REPO / "bench/extraction.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_shingle_matching_follows_the_benchmark(bench: ModuleType) -> None:
    truth = "one two three four five six"  # shingles: 1234 2345 3456
    assert bench.shingle_counts(truth, truth) == (1.0, 0.0, 0.0)
    assert bench.shingle_counts(truth, "") == (0.0, 0.0, 1.0)
    # Extra text: tp 3, fp 2 (the new shingles "five six seven", ...), fn 0, normalised.
    tp, fp, fn = bench.shingle_counts(truth, truth + " seven eight")
    assert (tp, fp, fn) == pytest.approx((0.6, 0.4, 0.0))


def test_precision_skips_empty_outputs_and_recall_counts_them(bench: ModuleType) -> None:
    full = bench.shingle_counts("a b c d e", "a b c d e")
    empty = bench.shingle_counts("a b c d e", "")
    half = bench.shingle_counts("a b c d e f g", "a b c d e")  # 2 of 4 shingles, no extra
    result = bench.score([full, empty, half], empty=1, seconds=0.0)
    assert result.precision == pytest.approx(1.0)  # over the two non-empty outputs
    assert result.recall == pytest.approx((1.0 + 0.0 + 0.5) / 3)
    assert result.f1 == pytest.approx(2 * 1.0 * 0.5 / 1.5)


def test_only_the_extraction_section_of_the_docs_is_replaced(
    bench: ModuleType, tmp_path: Path
) -> None:
    docs = tmp_path / "benchmarks.md"
    docs.write_text(
        "# Benchmarks\n\n<!-- ingest:start -->\nfast\n<!-- ingest:end -->\n\n"
        "<!-- extraction:start -->\nold\n<!-- extraction:end -->\n\nfooter\n"
    )
    bench.write_section("extraction", "new table", docs)
    assert docs.read_text() == (
        "# Benchmarks\n\n<!-- ingest:start -->\nfast\n<!-- ingest:end -->\n\n"
        "<!-- extraction:start -->\nnew table\n<!-- extraction:end -->\n\nfooter\n"
    )
