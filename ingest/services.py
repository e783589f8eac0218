"""The services every entry point needs, built once from settings and passed on."""

from __future__ import annotations

import logging
import sys
from dataclasses import dataclass

from ingest.chunking import Chunker
from ingest.dedupe import StoryTracker
from ingest.pipeline import Ingester
from ingest.repair import reembed
from retrieval.answering import Answerer
from retrieval.chroma_index import ChromaIndex
from retrieval.embedding import TORCH_BACKENDS, Embedder, SentenceTransformerEmbedder
from retrieval.exported import OPENVINO_BATCH_SIZE, OnnxEmbedder, OpenVinoEmbedder
from retrieval.failpoints import Failpoints
from retrieval.hybrid import FusionConfig
from retrieval.settings import Settings


@dataclass(frozen=True, slots=True)
class Services:
    settings: Settings
    embedder: Embedder
    index: ChromaIndex
    ingester: Ingester
    answerer: Answerer

    def close(self) -> None:
        """Let go of the store's writer lock; nothing may be written after this."""
        self.index.close()


def make_embedder(settings: Settings) -> Embedder:
    """The embedder NEWSBOT_EMBEDDING_BACKEND names (nothing loads until first use)."""
    backend = settings.embedding_backend
    batch = settings.embedding_batch_size
    if backend in TORCH_BACKENDS:
        return SentenceTransformerEmbedder(
            settings.embedding_model,
            batch_size=batch or 32,
            precision=TORCH_BACKENDS[backend],
            threads=settings.embedding_threads,
        )
    if backend == "onnx-int8":
        return OnnxEmbedder(
            settings.embedding_model,
            cache_dir=settings.resolved_model_cache_dir,
            batch_size=batch or 32,
            threads=settings.embedding_threads,
        )
    return OpenVinoEmbedder(
        settings.embedding_model,
        cache_dir=settings.resolved_model_cache_dir,
        batch_size=batch or OPENVINO_BATCH_SIZE,
        threads=settings.embedding_threads,
    )


def build_services(
    settings: Settings,
    *,
    embedder: Embedder | None = None,
    read_only: bool = False,
    purpose: str = "newsbot",
) -> Services:
    """Open the index and set up the pipeline; the model itself loads on first use.
    `embedder` replaces the one the settings name (tests share one loaded model).

    An embedded store is opened for writing only by one process at a time: unless
    `read_only`, this takes its writer lock (StoreBusyError if another process has it) until
    `Services.close()`. `purpose` names this process to the others ("`newsbot ingest`")."""
    if embedder is None:
        embedder = make_embedder(settings)
    failpoints = Failpoints(settings.failpoint)
    if settings.chroma_host:
        index = ChromaIndex.http(
            settings.chroma_host,
            settings.chroma_port,
            settings.collection,
            embedding_model=settings.embedding_model,
            embedding_backend=embedder.backend,
            # The BM25 index derived from the server's chunks, kept on this machine.
            lexical_dir=settings.data_dir
            / f"lexical-{settings.chroma_host}-{settings.chroma_port}",
            failpoints=failpoints,
        )
    else:
        index = ChromaIndex.persistent(
            settings.resolved_chroma_path,
            settings.collection,
            embedding_model=settings.embedding_model,
            embedding_backend=embedder.backend,
            read_only=read_only,
            purpose=purpose,
            failpoints=failpoints,
        )
    chunker = Chunker(
        embedder,
        chunk_tokens=settings.chunk_tokens,
        overlap_tokens=settings.chunk_overlap_tokens,
    )
    answerer = Answerer(
        index,
        embedder,
        top_k=settings.top_k,
        max_quotes=settings.max_quotes,
        abstain_threshold=settings.abstain_threshold,
        max_question_chars=settings.max_question_chars,
        fusion=FusionConfig.from_settings(settings),
        question_hints=settings.question_hints,
        answer_threshold=settings.answer_threshold,
    )
    ingester = Ingester(index, embedder, chunker, tracker=StoryTracker(index))
    pending = index.pending_repair
    if pending is not None and (pending.needs_embedding or pending.stranded_copies):
        reembed(index, ingester, pending)  # what an interrupted write left needs the model
    return Services(
        settings=settings,
        embedder=embedder,
        index=index,
        ingester=ingester,
        answerer=answerer,
    )


def configure_logging(level: str) -> None:
    """Called once, by the entry point."""
    logging.basicConfig(
        level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr
    )
    # Libraries chatty at INFO: keep their warnings only.
    for noisy in ("chromadb", "httpx", "transformers", "sentence_transformers", "urllib3"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, logging.getLogger().level))
