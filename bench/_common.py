"""What the speed benchmarks (bench/ingest.py, bench/query.py, bench/bot.py) share: the
docs section writer, the machine line, peak memory and percentiles."""

from __future__ import annotations

import hashlib
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
# `python bench/x.py` puts bench/ first on the path, where bench/ingest.py would shadow the
# `ingest` package: the repository goes first.
sys.path.insert(0, str(REPO))
DOCS = REPO / "docs" / "benchmarks.md"
SHARED = REPO.parent / "shared" / "data"
CORPUS = SHARED / "multihop_rag" / "corpus.json"
QUERIES = SHARED / "multihop_rag" / "MultiHopRAG.json"
CACHE = REPO / ".bench-cache"
# Bump when the benchmark indexes are built differently in a way their key does not see.
BENCH_VERSION = 1


def write_section(name: str, text: str, docs: Path = DOCS) -> None:
    """Replace only the `<!-- name:start -->` ... `<!-- name:end -->` section (the file is
    re-read just now: other benchmarks write their own sections of it)."""
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    block = f"{start}\n{text.strip()}\n{end}"
    current = docs.read_text(encoding="utf-8") if docs.exists() else "# Benchmarks\n"
    if start in current and end in current:
        head, _, rest = current.partition(start)
        _, _, tail = rest.partition(end)
        updated = head + block + tail
    else:
        updated = current.rstrip("\n") + "\n\n" + block + "\n"
    docs.parent.mkdir(parents=True, exist_ok=True)
    docs.write_text(updated, encoding="utf-8")


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine() -> str:
    cores = os.cpu_count() or 1
    return f"{cores} CPU cores ({cpu_model()}), Python {platform.python_version()}"


def today() -> str:
    return datetime.now(UTC).date().isoformat()


def load() -> str:
    one, five, _ = os.getloadavg()
    return f"{one:.1f}/{five:.1f}"


def peak_rss_mb() -> float:
    """This process's peak resident memory (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def percentile(values: Sequence[float], p: float) -> float:
    """The p-th percentile (0-100), interpolated linearly."""
    import numpy as np

    return float(np.percentile(np.asarray(values, dtype=np.float64), p)) if values else float("nan")


def wrap(text: str, width: int = 100) -> str:
    """A paragraph of the docs, wrapped like the rest of them."""
    import textwrap

    filled = textwrap.fill(
        " ".join(text.split()), width=width, break_on_hyphens=False, break_long_words=False
    )
    return filled.replace("\n>", " >")  # a line starting with ">" would be a block quote


def table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


# --- the benchmark index (bench/query.py and bench/bot.py) --------------------------------------


def settings_for(data_dir: Path, chroma_port: int | None = None) -> Any:
    """The product's default settings (and .env), on this data directory; with a port, in
    server mode against `chroma run` on 127.0.0.1 there."""
    from newsbot.settings import load_settings

    server: dict[str, object] = {}
    if chroma_port is not None:
        server = {"chroma_host": "127.0.0.1", "chroma_port": chroma_port}
    return load_settings(data_dir=data_dir, model_cache_dir=CACHE / "models", **server)


def index_root(corpus: Path) -> Path:
    """`.bench-cache/query-<key>`: the key hashes the corpus and the settings that shape the
    index, so a change to either builds a new one."""
    settings = settings_for(CACHE)
    h = hashlib.sha256(corpus.read_bytes())
    for part in (
        BENCH_VERSION,
        settings.model.embedding_model,
        settings.model.embedding_backend,
        settings.ingest.chunk_tokens,
        settings.ingest.chunk_overlap_tokens,
    ):
        h.update(f"\0{part}".encode())
    return CACHE / f"query-{h.hexdigest()[:16]}"


def build_index(corpus: Path, data: Path) -> dict[str, Any]:
    """The corpus through the product's pipeline with default settings."""
    from ingest.loaders import load_file
    from newsbot.services import build_services

    services = build_services(settings_for(data))
    started = time.perf_counter()
    services.ingester.ingest(load_file(corpus, max_bytes=corpus.stat().st_size + 1))
    return {"seconds": time.perf_counter() - started, "chunks": services.index.count_chunks()}


def base_index(corpus: Path = CORPUS) -> Path:
    """The corpus-sized index, built once (in a child process) and reused."""
    data = index_root(corpus) / "base"
    if not (data / "complete.json").exists():
        shutil.rmtree(data, ignore_errors=True)
        print(f"Building {data} (once) ...", flush=True)
        code = (
            "import json, sys; from pathlib import Path; sys.path.insert(0, sys.argv[3]); "
            "import _common; print(json.dumps(_common.build_index(Path(sys.argv[1]), "
            "Path(sys.argv[2]))))"
        )
        done = subprocess.run(
            [sys.executable, "-c", code, str(corpus), str(data), str(Path(__file__).parent)],
            stdout=subprocess.PIPE,
            text=True,
            check=True,
            cwd=REPO,
        )
        built = done.stdout.strip().splitlines()[-1]
        (data / "complete.json").write_text(built, encoding="utf-8")
    return data


def questions(limit: int) -> list[str]:
    """MultiHop-RAG questions a Discord user could send (<= 300 characters), spread over
    the file."""
    every = json.loads(QUERIES.read_text(encoding="utf-8"))
    fitting = [" ".join(q["query"].split()) for q in every]
    fitting = [q for q in fitting if len(q) <= 300]
    step = max(1, len(fitting) // limit)
    return fitting[::step][:limit]
