"""Exported embedding backends: the sentence-transformers model exported to ONNX (pooling and
normalisation included) and quantised to int8, run with ONNX Runtime (`onnx-int8`) or
OpenVINO (`openvino-int8`), fed by the model's own `tokenizers` tokenizer.

The export runs once per model, in a child process (`python -m retrieval.model_export`, the
only code here that needs torch), offline from the model's files, into
`NEWSBOT_MODEL_CACHE_DIR/<model>-<key>/<backend>/` (default: the user's cache,
`~/.cache/newsbot/models`, shared by every data dir). A process that only answers questions
never imports torch.

Threads: bulk embedding (`embed_documents`) uses every core it was given; a question
(`embed_query`) runs on one thread, so concurrent questions in the bot do not fight over the
cores.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import logging
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from retrieval.embedding import TokenizingEmbedder, Vectors, load_fast_tokenizer, normalized
from retrieval.errors import ConfigError
from retrieval.model_export import OPENVINO_PRECISION

log = logging.getLogger(__name__)

# Bump when the exported files would come out differently: old exports are then ignored.
EXPORT_VERSION = "1"
EXPORT_MANIFEST = "export.json"
EXPORTED_BACKENDS = ("onnx-int8", "openvino-int8")
# Small model files whose content identifies the model; weights count by name and size.
_IDENTITY_FILES = (
    "config.json",
    "modules.json",
    "sentence_bert_config.json",
    "tokenizer.json",
    "1_Pooling/config.json",
)
_WEIGHT_SUFFIXES = (".safetensors", ".bin")


def export_dir(cache_root: Path, model_name: str, model_path: Path, backend: str) -> Path:
    """Where `backend`'s export of this model lives: keyed by the model's files, so a
    different model (or a changed one) under the same name is exported again."""
    digest = hashlib.sha256(f"{EXPORT_VERSION}\0{backend}".encode())
    for rel in _IDENTITY_FILES:
        f = model_path / rel
        if f.is_file():
            digest.update(rel.encode() + b"\0" + f.read_bytes())
    for f in sorted(model_path.iterdir()):
        if f.suffix in _WEIGHT_SUFFIXES:
            digest.update(f"{f.name}\0{f.stat().st_size}".encode())
    slug = re.sub(r"[^A-Za-z0-9._-]+", "_", Path(model_name).name or model_name)[:60]
    return cache_root / f"{slug}-{digest.hexdigest()[:12]}" / backend


# Writes a backend's export of a model into an empty directory, `export.json` last:
# (model dir, output dir, backend). The real one runs `retrieval.model_export` in a child.
Exporter = Callable[[Path, Path, str], None]


def export_in_child(model_path: Path, out: Path, backend: str) -> None:
    """`python -m retrieval.model_export` into `out`, in a child process (the only code that
    imports torch); ConfigError, naming the setting that avoids it, when it fails."""
    env = {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        # OpenVINO's and NNCF's usage telemetry: off (CI is its documented opt-out).
        "CI": "true",
        "NNCF_CI": "1",
    }
    command = [sys.executable, "-m", "retrieval.model_export", "--model", str(model_path)]
    command += ["--backend", backend, "--out", str(out)]
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0 or not (out / EXPORT_MANIFEST).is_file():
        lines = [line for line in done.stderr.splitlines() if line.strip()]
        detail = lines[-1] if lines else f"exit status {done.returncode}"
        log.error("Export failed:\n%s", done.stderr[-4000:])
        raise ConfigError(
            f"Could not export the embedding model {model_path.name!r} for "
            f"NEWSBOT_EMBEDDING_BACKEND={backend}: {detail}. "
            "NEWSBOT_EMBEDDING_BACKEND=torch-fp32 uses the model as it is."
        )


def is_exported(cache_root: Path, model_name: str, model_path: Path, backend: str) -> bool:
    return (export_dir(cache_root, model_name, model_path, backend) / EXPORT_MANIFEST).is_file()


def ensure_exported(
    cache_root: Path,
    model_name: str,
    model_path: Path,
    backend: str,
    *,
    export: Exporter = export_in_child,
) -> Path:
    """The export directory, exporting first if it is not there.

    The cache is shared by every process of the user (every data dir): the export runs under
    an exclusive lock beside it, so of two processes exporting at once one exports and the
    other waits, then uses that export. It is written into a temporary sibling directory and
    renamed into place whole, so a killed export leaves nothing that looks finished."""
    target = export_dir(cache_root, model_name, model_path, backend)
    if (target / EXPORT_MANIFEST).is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with _locked(target.parent / f".{backend}.lock"):
        if (target / EXPORT_MANIFEST).is_file():
            return target  # exported by the process this one waited for
        for stale in target.parent.glob(f".{backend}-*"):
            shutil.rmtree(stale, ignore_errors=True)  # left by a killed export: no one owns it
        log.warning(
            "Exporting the embedding model %s for the %s backend, once for this machine, into "
            "%s (offline, from the model's own files; takes a minute)…",
            model_name,
            backend,
            target,
        )
        started = time.perf_counter()
        work = Path(tempfile.mkdtemp(prefix=f".{backend}-", dir=target.parent))
        try:
            export(model_path, work, backend)
            if not (work / EXPORT_MANIFEST).is_file():
                raise ConfigError(
                    f"The export of {model_name!r} for NEWSBOT_EMBEDDING_BACKEND={backend} "
                    "wrote no manifest. NEWSBOT_EMBEDDING_BACKEND=torch-fp32 uses the model "
                    "as it is."
                )
            work.chmod(0o755)
            if target.exists():
                shutil.rmtree(target)  # an export without its manifest: unfinished, by hand
            os.replace(work, target)
        finally:
            shutil.rmtree(work, ignore_errors=True)
        log.warning("Exported in %.0f s.", time.perf_counter() - started)
    return target


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """An exclusive lock on `path`; the kernel lets go of it when the process dies."""
    with open(path, "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


class ExportedEmbedder(TokenizingEmbedder):
    """Tokenises with the model's own tokenizer exactly as sentence-transformers does
    (special tokens, truncation at the model's `max_seq_length`), runs the exported model
    (which pools as the original does) and normalises."""

    backend_name = ""
    # Inputs are padded to a multiple of this many tokens (the mask hides the padding).
    length_multiple = 1

    def __init__(
        self, model_name: str, *, cache_dir: Path, batch_size: int = 32, threads: int = 0
    ) -> None:
        super().__init__(model_name)
        if self.backend_name not in EXPORTED_BACKENDS:
            raise TypeError("use OnnxEmbedder or OpenVinoEmbedder")
        self._cache_dir = cache_dir
        self._batch_size = batch_size
        self._threads = threads or os.cpu_count() or 1
        self._model_tokenizer: Any = None
        self._input_names: tuple[str, ...] = ()
        self._exported: Path | None = None
        self._runners: dict[str, Any] = {}

    @property
    def backend(self) -> str:
        return self.backend_name

    def _fallback_max_seq_length(self) -> int:
        config = Path(self._path) / "config.json"
        if config.is_file():
            limit = json.loads(config.read_text(encoding="utf-8")).get("max_position_embeddings")
            if isinstance(limit, int):
                return min(limit, 512)
        return 512

    # --- loading -------------------------------------------------------------------------

    def export_needed(self) -> bool:
        """Whether first use must export the model (a minute) for this machine's cache."""
        path = Path(self._path)
        return path.is_dir() and not is_exported(self._cache_dir, self._name, path, self.backend)

    def _ensure_loaded(self) -> Path:
        """The tokenizer, and the exported model's directory (exporting it first if needed)."""
        if self._exported is not None:
            return self._exported
        with self._lock:
            if self._exported is not None:
                return self._exported
            path = Path(self._path)
            if not path.is_dir():
                raise ConfigError(
                    f"Embedding model {self._name!r} is not a directory on this machine "
                    "(nothing is downloaded): set NEWSBOT_EMBEDDING_MODEL to a local model "
                    "directory or to all-MiniLM-L6-v2."
                )
            tokenizer = load_fast_tokenizer(path)
            if tokenizer is None:
                raise ConfigError(
                    f"The embedding model {self._name!r} has no tokenizer.json, which "
                    f"NEWSBOT_EMBEDDING_BACKEND={self.backend_name} needs: use torch-fp32."
                )
            tokenizer.enable_truncation(self.max_seq_length)
            exported = ensure_exported(self._cache_dir, self._name, path, self.backend_name)
            manifest = json.loads((exported / EXPORT_MANIFEST).read_text(encoding="utf-8"))
            self._input_names = tuple(manifest["inputs"])
            self._model_tokenizer = tokenizer
            self._exported = exported
            return exported

    def _runner(self, kind: str) -> Any:
        """The compiled model for "documents" (every thread) or "query" (one thread), made on
        first use: a bot that only answers never pays for the bulk one."""
        runner = self._runners.get(kind)
        if runner is None:
            exported = self._ensure_loaded()
            with self._lock:
                runner = self._runners.get(kind)
                if runner is None:
                    log.info("Loading embedding model %s (%s, %s)", self._name, self.backend, kind)
                    runner = self._runners[kind] = self._load_runner(exported, kind)
        return runner

    def _load_runner(self, exported: Path, kind: str) -> Any:
        raise NotImplementedError

    # --- running -------------------------------------------------------------------------

    def _feeds(self, encodings: Sequence[Any]) -> dict[str, np.ndarray]:
        longest = max(len(e.ids) for e in encodings)
        width = -(-longest // self.length_multiple) * self.length_multiple
        ids = np.zeros((len(encodings), width), dtype=np.int64)
        mask = np.zeros((len(encodings), width), dtype=np.int64)
        types = np.zeros((len(encodings), width), dtype=np.int64)
        for row, e in enumerate(encodings):
            n = len(e.ids)
            ids[row, :n] = e.ids
            mask[row, :n] = 1
            types[row, :n] = e.type_ids
        every = {"input_ids": ids, "attention_mask": mask, "token_type_ids": types}
        return {name: every[name] for name in self._input_names}

    def _batches(self, encodings: Sequence[Any]) -> Iterator[list[int]]:
        """Longest first, so that each batch pads little."""
        order = sorted(range(len(encodings)), key=lambda i: -len(encodings[i].ids))
        for lo in range(0, len(order), self._batch_size):
            yield order[lo : lo + self._batch_size]

    def _run_documents(self, runner: Any, batches: list[dict[str, np.ndarray]]) -> list[Any]:
        raise NotImplementedError

    def _run_query(self, runner: Any, feeds: dict[str, np.ndarray]) -> Any:
        raise NotImplementedError

    def embed_documents(self, texts: Sequence[str]) -> Vectors:
        if not texts:
            return np.zeros((0, 0), dtype=np.float32)
        runner = self._runner("documents")
        encodings = self._model_tokenizer.encode_batch(list(texts))
        order = list(self._batches(encodings))
        feeds = [self._feeds([encodings[i] for i in rows]) for rows in order]
        outputs = self._run_documents(runner, feeds)
        vectors = np.empty((len(texts), outputs[0].shape[1]), dtype=np.float32)
        for rows, out in zip(order, outputs, strict=True):
            vectors[rows] = out
        return normalized(vectors)

    def embed_query(self, text: str) -> Vectors:
        runner = self._runner("query")
        feeds = self._feeds([self._model_tokenizer.encode(text)])
        vector: Vectors = normalized(self._run_query(runner, feeds))[0]
        return vector

    def embed_queries(self, texts: Sequence[str]) -> Vectors:
        if not texts:
            return np.zeros((0, 0), dtype=np.float32)
        runner = self._runner("query")
        feeds = self._feeds(self._model_tokenizer.encode_batch(list(texts)))
        return normalized(self._run_query(runner, feeds))


class OnnxEmbedder(ExportedEmbedder):
    """ONNX Runtime, int8 weights per channel (dynamic quantisation): a session of
    `threads` threads for bulk embedding and one of a single thread for questions."""

    backend_name = "onnx-int8"

    def _load_runner(self, exported: Path, kind: str) -> Any:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = self._threads if kind == "documents" else 1
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.log_severity_level = 3
        # Waiting threads sleep instead of spinning: the cores are shared with our own
        # chunking and index writes (and other work on the machine).
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        return ort.InferenceSession(
            str(exported / "model.onnx"), options, providers=["CPUExecutionProvider"]
        )

    def _run_documents(self, runner: Any, batches: list[dict[str, np.ndarray]]) -> list[Any]:
        return [runner.run(None, feeds)[0] for feeds in batches]

    def _run_query(self, runner: Any, feeds: dict[str, np.ndarray]) -> Any:
        return runner.run(None, feeds)[0]


# Texts per OpenVINO call in bulk: measured on 2 cores, 8 embeds ~7% more chunks per second
# than 32 (each stream's working set stays in cache; less padding).
OPENVINO_BATCH_SIZE = 8


class OpenVinoEmbedder(ExportedEmbedder):
    """OpenVINO, int8 (static quantisation with NNCF at export): bulk embedding runs one
    stream per thread, each batch on one core; questions run on a single-threaded stream."""

    backend_name = "openvino-int8"
    # OpenVINO keeps compiled kernels per input shape: without buckets, every new question
    # length adds some (a bot process grew by 250 MB over 600 questions); with them, a few
    # dozen shapes serve everything, and they are warm.
    length_multiple = 16

    def __init__(
        self,
        model_name: str,
        *,
        cache_dir: Path,
        batch_size: int = OPENVINO_BATCH_SIZE,
        threads: int = 0,
    ) -> None:
        super().__init__(model_name, cache_dir=cache_dir, batch_size=batch_size, threads=threads)
        self._bulk_lock = threading.Lock()
        self._requests = threading.local()

    def _load_runner(self, exported: Path, kind: str) -> Any:
        ov = import_openvino()
        core = ov.Core()
        if kind == "documents":
            config = {
                "PERFORMANCE_HINT": "THROUGHPUT",
                "NUM_STREAMS": str(self._threads),
                "INFERENCE_NUM_THREADS": str(self._threads),
            }
        else:
            config = {
                "PERFORMANCE_HINT": "LATENCY",
                "NUM_STREAMS": "1",
                "INFERENCE_NUM_THREADS": "1",
            }
        # No pinning of threads to cores: on a machine shared with other work (and with our
        # own chunking and index writes) a pinned thread waits for its core to come free.
        config["ENABLE_CPU_PINNING"] = "NO"
        config.update(OPENVINO_PRECISION)
        return core.compile_model(str(exported / "model.xml"), "CPU", config)

    def _run_documents(self, runner: Any, batches: list[dict[str, np.ndarray]]) -> list[Any]:
        ov = import_openvino()
        outputs: list[Any] = [None] * len(batches)

        def done(request: Any, slot: int) -> None:
            outputs[slot] = np.array(request.get_output_tensor(0).data, copy=True)

        with self._bulk_lock:  # one bulk job at a time owns the streams
            queue = ov.AsyncInferQueue(runner, self._threads)
            queue.set_callback(done)
            for slot, feeds in enumerate(batches):
                queue.start_async(feeds, userdata=slot)
            queue.wait_all()
        return outputs

    def _run_query(self, runner: Any, feeds: dict[str, np.ndarray]) -> Any:
        request = getattr(self._requests, "request", None)
        if request is None:  # an infer request serves one thread at a time
            request = self._requests.request = runner.create_infer_request()
        request.infer(feeds)
        return np.array(request.get_output_tensor(0).data, copy=True)


def import_openvino() -> Any:
    """`import openvino` with its usage telemetry off: by default its import sends an event
    to Google Analytics; `CI=true` is the opt-out openvino-telemetry reads (at import)."""
    if "openvino" in sys.modules:
        return sys.modules["openvino"]
    before = os.environ.get("CI")
    os.environ["CI"] = "true"
    try:
        import openvino
    finally:
        if before is None:
            os.environ.pop("CI", None)
        else:
            os.environ["CI"] = before
    return openvino
