"""Ingest speed: the MultiHop-RAG corpus, a naive baseline and each embedding backend through
the product's pipeline, in one run, each in a fresh process; then an unchanged re-ingest.

    .venv/bin/python bench/ingest.py             # prints the tables, updates docs/benchmarks.md
    .venv/bin/python bench/ingest.py --no-write  # prints only
    .venv/bin/python bench/ingest.py --limit 100 --backends onnx-int8   # a quick look
    .venv/bin/python bench/ingest.py --quality-only   # only each backend's MultiHop Hits@10
    .venv/bin/python bench/ingest.py --end-to-end-only  # only the whole-process comparison

Every run starts from an empty data directory and is timed from reading the corpus file to
the last write, model loading included; the one-time export of the exported backends is
made (and timed) before. The naive baseline is what one writes first: the same loading,
cleaning and chunking, then per article sentence-transformers fp32 `encode` and Chroma
`add`. tokens counts what the model reads (headline + chunk + 2 special tokens). CPU s is
the process's user+sys time: on a shared machine, chunks per CPU second is the steadier
figure. load is the 1/5-minute load average when the run started.

Then end to end, as a user times it: process start to exit of the naive baseline and of
`newsbot ingest --json` on an empty data directory, on the first 300 articles and on the whole
corpus, with the export already made (target: >= 8x).

Then each backend's retrieval quality: MultiHop-RAG Hits@10 by bench/multihop.py (dense only,
and the final configuration), next to torch-fp32's; the default backend is the fastest whose
Hits@10 stays within 0.005 of it.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (
    CACHE,
    CORPUS,
    REPO,
    load,
    machine,
    peak_rss_mb,
    table,
    today,
    wrap,
    write_section,
)

BACKENDS = ("torch-fp32", "torch-bf16", "onnx-int8", "openvino-int8")
MODEL = "all-MiniLM-L6-v2"
COMMAND = "python bench/ingest.py"
TARGET_SPEEDUP = 5.0
TARGET_REINGEST = 20.0
TARGET_END_TO_END = 8.0
END_TO_END_SIZES = (300, None)  # the first 300 articles, then the whole corpus
HITS_TOLERANCE = 0.005
SPEEDS = CACHE / "ingest-speeds.json"  # the last full speed run's chunks/s per backend


# --- the child processes -----------------------------------------------------------------------


def _items(corpus: Path, limit: int | None) -> list[Any]:
    from ingest.loaders import load_file

    items = load_file(corpus, max_bytes=corpus.stat().st_size + 1)
    return items[:limit] if limit else items


def _tokens(embedder: Any, texts: Sequence[str]) -> int:
    return sum(embedder.count_tokens(list(texts))) + 2 * len(texts)


def child_baseline(corpus: Path, data: Path, limit: int | None) -> dict[str, Any]:
    """sentence-transformers fp32 encode + Chroma add, one article at a time, no tricks."""
    import chromadb
    from chromadb.config import Settings as ChromaSettings
    from sentence_transformers import SentenceTransformer

    from ingest.chunking import Chunker
    from ingest.loaders import Loaded
    from retrieval.embedding import SentenceTransformerEmbedder, resolve_model_path

    cpu0, started = time.process_time(), time.perf_counter()
    items = _items(corpus, limit)
    model = SentenceTransformer(resolve_model_path(MODEL), device="cpu", local_files_only=True)
    tokenizer = SentenceTransformerEmbedder(MODEL)  # the product's chunker needs its counts
    chunker = Chunker(tokenizer, chunk_tokens=200, overlap_tokens=40)
    client = chromadb.PersistentClient(
        path=str(data / "chroma"), settings=ChromaSettings(anonymized_telemetry=False)
    )
    collection = client.get_or_create_collection(
        "news", metadata={"hnsw:space": "cosine"}, embedding_function=None
    )
    embedded: list[str] = []
    for item in items:
        if not isinstance(item, Loaded):
            continue
        chunks = chunker.chunk(item.article)
        if not chunks:
            continue
        texts = [chunker.embedding_text(item.article, c.text) for c in chunks]
        vectors = model.encode(texts, normalize_embeddings=True)
        collection.add(
            ids=[c.id for c in chunks],
            embeddings=vectors,
            documents=[c.text for c in chunks],
            metadatas=[{"article_id": item.article.id, "title": item.article.title}] * len(chunks),
        )
        embedded += texts
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu0
    return {
        "chunks": len(embedded),
        "tokens": _tokens(tokenizer, embedded),
        "seconds": seconds,
        "cpu": cpu,
        "rss_mb": peak_rss_mb(),
    }


def child_pipeline(
    corpus: Path, data: Path, models: Path, backend: str, limit: int | None
) -> dict[str, Any]:
    """The product: `build_services` with this backend, `Ingester.ingest`, twice."""
    from newsbot.services import build_services
    from newsbot.settings import load_settings

    settings = load_settings(data_dir=data, embedding_backend=backend, model_cache_dir=models)
    cpu0, started = time.process_time(), time.perf_counter()
    services = build_services(settings)
    embedded: list[str] = []
    embed = services.embedder.embed_documents

    def recording(texts: Sequence[str]) -> Any:
        embedded.extend(texts)
        return embed(texts)

    services.embedder.embed_documents = recording  # type: ignore[method-assign]
    report = services.ingester.ingest(_items(corpus, limit))
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu0
    rss = peak_rss_mb()
    again_started = time.perf_counter()
    again = services.ingester.ingest(_items(corpus, limit))
    again_seconds = time.perf_counter() - again_started
    assert again.chunks_embedded == 0, "an unchanged re-ingest embedded something"
    return {
        "chunks": report.chunks_embedded,
        "copies": sum(1 for i in report.items if i.copy_of),
        "tokens": _tokens(services.embedder, embedded),
        "seconds": seconds,
        "pipeline_seconds": report.seconds,
        "cpu": cpu,
        "rss_mb": rss,
        "again_seconds": again_seconds,
        "again_pipeline_seconds": again.seconds,
    }


def run_child(args: list[str]) -> dict[str, Any]:
    """A child run's result, with `process_seconds`: its whole life, interpreter start and
    imports included, as timed from here."""
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, __file__, *args], capture_output=True, text=True, check=False, cwd=REPO
    )
    process_seconds = time.perf_counter() - started
    if done.returncode != 0:
        sys.stderr.write(done.stderr[-3000:])
        raise SystemExit(f"benchmark run {args[:2]} failed")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    result["process_seconds"] = process_seconds
    return result


# --- the parent --------------------------------------------------------------------------------


def export_first(models: Path, backend: str) -> float | None:
    """The one-time export, done and timed outside the measured runs."""
    if backend.startswith("torch-"):
        return None
    from retrieval.embedding import resolve_model_path
    from retrieval.exported_embedders import EXPORT_MANIFEST, ensure_exported, export_dir

    path = Path(resolve_model_path(MODEL))
    if (export_dir(models, MODEL, path, backend) / EXPORT_MANIFEST).is_file():
        return 0.0
    started = time.perf_counter()
    ensure_exported(models, MODEL, path, backend)
    return time.perf_counter() - started


def cli_ingest(corpus: Path, data: Path, models: Path, backend: str) -> tuple[float, int]:
    """`newsbot ingest --json` as a whole fresh process: (seconds, chunks embedded)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSBOT_")}
    env |= {
        "NEWSBOT_DATA_DIR": str(data),
        "NEWSBOT_EMBEDDING_BACKEND": backend,
        "NEWSBOT_MODEL_CACHE_DIR": str(models),
        "NEWSBOT_MAX_FILE_BYTES": str(corpus.stat().st_size + 1),
    }
    newsbot = Path(sys.executable).parent / "newsbot"
    started = time.perf_counter()
    done = subprocess.run(
        [str(newsbot), "ingest", "--json", str(corpus)],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"`newsbot ingest` failed: {done.stderr[-2000:]}")
    return seconds, int(json.loads(done.stdout)["chunks_embedded"])


def cli_reingest(corpus: Path, data: Path, models: Path, backend: str) -> float:
    """`newsbot ingest` of the unchanged corpus, as a whole fresh process."""
    seconds, embedded = cli_ingest(corpus, data, models, backend)
    if embedded != 0:
        raise SystemExit("the re-ingest by the CLI embedded something")
    return seconds


def default_backend() -> str:
    from newsbot.settings import ModelSettings

    return str(ModelSettings.model_fields["embedding_backend"].default)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", type=Path, default=CORPUS)
    parser.add_argument("--limit", type=int, help="only the first N articles (not written)")
    parser.add_argument("--backends", default=",".join(BACKENDS), help="comma-separated")
    parser.add_argument("--no-baseline", action="store_true", help="skip the naive baseline")
    parser.add_argument("--no-write", action="store_true", help="do not update the docs")
    parser.add_argument(
        "--speed-only", action="store_true", help="skip the retrieval quality of each backend"
    )
    parser.add_argument(
        "--quality-only", action="store_true", help="only the retrieval quality of each backend"
    )
    parser.add_argument(
        "--end-to-end-only", action="store_true", help="only the whole-process comparison"
    )
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--data", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--models", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child == "baseline":
        print(json.dumps(child_baseline(args.corpus, args.data, args.limit)))
        return 0
    if args.child:
        result = child_pipeline(args.corpus, args.data, args.models, args.child, args.limit)
        print(json.dumps(result))
        return 0
    if not args.corpus.exists():
        print(f"corpus not found: {args.corpus}", file=sys.stderr)
        return 2

    backends = [b for b in args.backends.split(",") if b]
    if args.end_to_end_only:
        end_to_end(args.corpus, write=not args.no_write)
        return 0
    rates: dict[str, float] = {}
    if not args.quality_only:
        rates = speed(args, backends)
        if not args.limit:
            end_to_end(args.corpus, write=not args.no_write)
    if not args.speed_only and not args.limit:
        quality(backends, rates, write=not args.no_write)
    return 0


def end_to_end(full: Path, *, write: bool) -> None:
    """Process start to exit, as a user times it: the naive baseline's process against
    `newsbot ingest --json` (default backend, export already made), per corpus size."""
    backend = default_backend()
    work = Path(tempfile.mkdtemp(prefix="newsbot-bench-e2e-"))
    models = work / "models"
    rows = []
    try:
        export_first(models, backend)
        articles = json.loads(full.read_text(encoding="utf-8"))
        for size in END_TO_END_SIZES:
            corpus = full
            if size is not None:
                corpus = work / f"corpus-{size}.json"
                corpus.write_text(json.dumps(articles[:size]), encoding="utf-8")
            label = f"{size or len(articles)} articles"
            print(f"end to end, {label}: naive ...", flush=True)
            naive_load = load()
            naive = run_child(
                [
                    "--child",
                    "baseline",
                    "--data",
                    str(work / f"naive-{size}"),
                    "--corpus",
                    str(corpus),
                ]
            )
            print(f"end to end, {label}: newsbot ingest ...", flush=True)
            ours_load = load()
            seconds, embedded = cli_ingest(corpus, work / f"newsbot-{size}", models, backend)
            naive_s = naive["process_seconds"]
            rows.append(
                [
                    label,
                    naive["chunks"],
                    f"{naive_s:.1f}",
                    naive_load,
                    embedded,
                    f"{seconds:.1f}",
                    ours_load,
                    f"**{naive_s / seconds:.2f}x**",
                ]
            )
    finally:
        shutil.rmtree(work, ignore_errors=True)
    header = [
        "corpus",
        "naive chunks",
        "naive process s",
        "load",
        f"`newsbot ingest` chunks ({backend})",
        "`newsbot ingest` process s",
        "load",
        "faster",
    ]
    report = table(header, rows)
    print()
    print(report)
    if not write:
        return
    intro = (
        f"`{COMMAND}` on {today()}, {machine()}: process start to exit, as a user times it, "
        "of the naive baseline (the same loading, cleaning and chunking, then "
        "sentence-transformers fp32 `encode` and Chroma `add` per article) and of `newsbot "
        f"ingest --json` ({backend}, the default), each on an empty data directory, with the "
        f"one-time export already made. Target: >= {TARGET_END_TO_END:.0f}x. load is the "
        "1/5-minute load average at each process's start."
    )
    write_section("ingest-e2e", f"{wrap(intro)}\n\n{report}")
    print(f"\nUpdated {Path('docs/benchmarks.md')}.")


def speed(args: argparse.Namespace, backends: list[str]) -> dict[str, float]:
    """The speed runs; returns each backend's chunks/s."""
    work = Path(tempfile.mkdtemp(prefix="newsbot-bench-ingest-"))
    models = work / "models"
    corpus = args.corpus
    if args.limit:  # every run, the CLI's included, reads the same smaller corpus
        corpus = work / "corpus.json"
        articles = json.loads(args.corpus.read_text(encoding="utf-8"))[: args.limit]
        corpus.write_text(json.dumps(articles), encoding="utf-8")
    common = ["--corpus", str(corpus)]
    exports: dict[str, float | None] = {}
    runs: list[tuple[str, dict[str, Any], str]] = []
    try:
        for backend in backends:
            exports[backend] = export_first(models, backend)
        if not args.no_baseline:
            print("naive baseline ...", flush=True)
            loadavg = load()
            base = run_child(["--child", "baseline", "--data", str(work / "baseline"), *common])
            runs.append(("naive: sentence-transformers fp32 encode + Chroma add", base, loadavg))
            print(f"  {json.dumps(base)}", flush=True)
        for backend in backends:
            print(f"{backend} ...", flush=True)
            loadavg = load()
            data = work / backend
            result = run_child(
                ["--child", backend, "--data", str(data), "--models", str(models), *common]
            )
            runs.append((f"newsbot, {backend}", result, loadavg))
            print(f"  {json.dumps(result)}", flush=True)
        default = default_backend()
        cli_seconds = None
        if default in backends:
            cli_seconds = cli_reingest(corpus, work / default, models, default)
    finally:
        shutil.rmtree(work, ignore_errors=True)

    base_rate = runs[0][1]["chunks"] / runs[0][1]["seconds"] if not args.no_baseline else None
    rows = []
    for name, r, loadavg in runs:
        rate = r["chunks"] / r["seconds"]
        rows.append(
            [
                name,
                r["chunks"],
                f"{r['tokens']:,}",
                f"{r['seconds']:.1f}",
                f"**{rate:.1f}**",
                f"{r['tokens'] / r['seconds']:,.0f}",
                f"{r['cpu']:.0f}",
                f"{r['chunks'] / r['cpu']:.1f}",
                f"{r['rss_mb']:.0f}",
                f"{rate / base_rate:.2f}x" if base_rate else "",
                loadavg,
            ]
        )
    header = [
        "run",
        "chunks",
        "tokens",
        "wall s",
        "chunks/s",
        "tokens/s",
        "CPU s",
        "chunks/CPU s",
        "peak RSS MB",
        "vs naive",
        "load",
    ]
    report = table(header, rows)
    again_rows = []
    for name, r, _ in runs:
        if "again_seconds" in r:
            again_rows.append(
                [
                    name + ", unchanged corpus again (same process)",
                    f"{r['again_seconds']:.2f}",
                    f"{r['seconds'] / r['again_seconds']:.0f}x",
                ]
            )
    if cli_seconds is not None:
        first = next(r for n, r, _ in runs if n == f"newsbot, {default}")
        again_rows.append(
            [
                f"`newsbot ingest` of the unchanged corpus, whole process ({default})",
                f"{cli_seconds:.2f}",
                f"{first['seconds'] / cli_seconds:.0f}x",
            ]
        )
    again_report = table(["re-ingest", "wall s", "faster than the first ingest"], again_rows)
    made = ", ".join(f"{b} {s:.0f} s" for b, s in exports.items() if s)
    print()
    print(report)
    print()
    print(again_report)
    if made:
        print(f"\nOne-time exports (not in the runs): {made}.")
    rates = {n.removeprefix("newsbot, "): r["chunks"] / r["seconds"] for n, r, _ in runs}
    if not args.limit:  # for a later --quality-only run
        SPEEDS.parent.mkdir(parents=True, exist_ok=True)
        SPEEDS.write_text(json.dumps({"date": today(), "rates": rates}), encoding="utf-8")
    if args.no_write or args.limit:
        return rates
    intro = (
        f"`{COMMAND}` on {today()}, {machine()}; the whole MultiHop-RAG corpus "
        f"({runs[0][1]['chunks']} chunks of at most 256 model tokens for the baseline). "
        "Each run is a fresh process on an empty data directory, timed from reading the "
        "corpus to the last write, model loading included. Targets: >= "
        f"{TARGET_SPEEDUP:.0f}x the naive baseline's chunks/s; unchanged re-ingest >= "
        f"{TARGET_REINGEST:.0f}x faster than the first ingest. "
        "newsbot embeds fewer chunks than the baseline where it stores syndicated copies "
        "without chunks (ingest/syndication.py); chunks/s counts what each run embedded. The "
        "runs share the machine with other work (load: the 1/5-minute load average at each "
        "run's start), which slows torch's OpenMP threads most: chunks per CPU second is "
        "the steadier ratio. The whole `newsbot ingest` re-ingest includes the process "
        "start, opening the index and reading the corpus; the model is not loaded."
    )
    notes = f"\n\nOne-time exports, before the runs: {made}." if made else ""
    write_section("ingest", f"{wrap(intro)}\n\n{report}\n\n{again_report}{notes}")
    print(f"\nUpdated {Path('docs/benchmarks.md')}.")
    return rates


def multihop_hits(backend: str) -> tuple[float, float]:
    """(Hits@10 of dense-only retrieval, Hits@10 of the final configuration) on MultiHop-RAG
    with this backend: bench/multihop.py, which builds (once, cached) the index with it."""
    env = {**os.environ, "NEWSBOT_EMBEDDING_BACKEND": backend}
    done = subprocess.run(
        [sys.executable, str(REPO / "bench" / "multihop.py"), "--no-write", "--no-abstention"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
        cwd=REPO,
    )
    dense = final = None
    for line in done.stdout.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) > 1 and cells[0].startswith("dense only"):
            dense = float(cells[1])
        if len(cells) > 1 and cells[0].startswith("**final**"):
            final = float(cells[1])
    if done.returncode != 0 or dense is None or final is None:
        sys.stderr.write(done.stderr[-3000:])
        raise SystemExit(f"bench/multihop.py failed for {backend}")
    return dense, final


def quality(backends: list[str], rates: dict[str, float], *, write: bool) -> None:
    """Each backend's MultiHop-RAG Hits@10 next to torch-fp32's, and the default's rule: the
    fastest backend within HITS_TOLERANCE of fp32."""
    if not rates and SPEEDS.exists():  # --quality-only: the last full speed run's
        rates = json.loads(SPEEDS.read_text(encoding="utf-8"))["rates"]
    hits: dict[str, tuple[float, float]] = {}
    for backend in dict.fromkeys(["torch-fp32", *backends]):
        print(f"MultiHop-RAG with {backend} ...", flush=True)
        hits[backend] = multihop_hits(backend)
    base_dense, base_final = hits["torch-fp32"]
    rows = []
    for backend, (dense, final) in hits.items():
        ok = base_final - final <= HITS_TOLERANCE
        rows.append(
            [
                backend,
                f"{dense:.4f}",
                f"{dense - base_dense:+.4f}",
                f"{final:.4f}",
                f"{final - base_final:+.4f}",
                "yes" if ok else "no",
                f"{rates[backend]:.1f}" if backend in rates else "",
            ]
        )
    header = [
        "backend",
        "Hits@10, dense only",
        "vs fp32",
        "Hits@10, final",
        "vs fp32",
        f"final at most {HITS_TOLERANCE} below fp32",
        "ingest chunks/s (above)",
    ]
    report = table(header, rows)
    eligible = [b for b, (_, f) in hits.items() if base_final - f <= HITS_TOLERANCE]
    fastest = max(eligible, key=lambda b: rates.get(b, 0.0)) if rates else None
    default = default_backend()
    verdict = (
        f"The fastest backend whose final Hits@10 is at most {HITS_TOLERANCE} below "
        f"torch-fp32's: {fastest}. The default: {default}."
        if fastest
        else f"The default: {default} (run the speed benchmark to rank the backends)."
    )
    print()
    print(report)
    print(verdict)
    if not write:
        return
    intro = (
        f"`{COMMAND}` on {today()}, {machine()}: each backend's index of the whole corpus "
        "(built by bench/multihop.py, cached in .bench-cache/) and MultiHop-RAG Hits@10 as "
        "bench/multihop.py scores it, for dense-only retrieval (where the vectors alone "
        "decide) and for the final configuration (what answers use). The default backend is "
        f"the fastest whose final Hits@10 is at most {HITS_TOLERANCE} below torch-fp32's."
    )
    write_section("backends", f"{wrap(intro)}\n\n{report}\n\n{wrap(verdict)}")


if __name__ == "__main__":
    sys.exit(main())
