"""The services every entry point needs, built once from settings and passed on."""

from __future__ import annotations

import logging
import sys
from dataclasses import dataclass

from ingest.chunking import Chunker
from ingest.pipeline import Ingester
from retrieval.answering import Answerer
from retrieval.embedding import SentenceTransformerEmbedder
from retrieval.index import ChromaIndex
from retrieval.settings import Settings


@dataclass(frozen=True, slots=True)
class Services:
    settings: Settings
    embedder: SentenceTransformerEmbedder
    index: ChromaIndex
    ingester: Ingester
    answerer: Answerer


def build_services(settings: Settings) -> Services:
    """Open the index and set up the pipeline; the model itself loads on first use."""
    embedder = SentenceTransformerEmbedder(
        settings.embedding_model, batch_size=settings.embedding_batch_size
    )
    if settings.chroma_host:
        index = ChromaIndex.http(
            settings.chroma_host,
            settings.chroma_port,
            settings.collection,
            embedding_model=settings.embedding_model,
        )
    else:
        index = ChromaIndex.persistent(
            settings.resolved_chroma_path,
            settings.collection,
            embedding_model=settings.embedding_model,
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
    )
    return Services(
        settings=settings,
        embedder=embedder,
        index=index,
        ingester=Ingester(index, embedder, chunker),
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
