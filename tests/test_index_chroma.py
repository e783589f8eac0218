"""The index contract against real Chroma: on disk (the default) and in memory."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import chromadb
import pytest
from chromadb.config import Settings as ChromaSettings

from retrieval.chroma_index import ChromaIndex
from retrieval.embedding import Embedder
from retrieval.errors import ConfigError
from tests.chroma_server import chroma_server
from tests.index_contract import (
    FTX,
    NATO,
    ArticleStoreContract,
    ChunkRankerContract,
    CopyStoreContract,
    store,
)

MODEL = "all-MiniLM-L6-v2"


class TestPersistentChroma(ArticleStoreContract, ChunkRankerContract, CopyStoreContract):
    @pytest.fixture
    def index(self, tmp_path: Path) -> ChromaIndex:
        return ChromaIndex.persistent(tmp_path / "chroma", "news", embedding_model=MODEL)

    def test_survives_reopening(self, tmp_path: Path, embedder: Embedder) -> None:
        first = ChromaIndex.persistent(tmp_path / "chroma", "news", embedding_model=MODEL)
        store(first, embedder, NATO)
        del first
        again = ChromaIndex.persistent(tmp_path / "chroma", "news", embedding_model=MODEL)
        assert again.get_bodies([NATO.id]) == {NATO.id: NATO.body}

    def test_refuses_another_embedding_model(self, tmp_path: Path, embedder: Embedder) -> None:
        store(ChromaIndex.persistent(tmp_path / "c", "news", embedding_model=MODEL), embedder, FTX)
        with pytest.raises(ConfigError, match="NEWSBOT_EMBEDDING_MODEL"):
            ChromaIndex.persistent(tmp_path / "c", "news", embedding_model="other-model")


class TestEphemeralChroma(ArticleStoreContract, ChunkRankerContract, CopyStoreContract):
    @pytest.fixture
    def index(self) -> ChromaIndex:
        client = chromadb.EphemeralClient(settings=ChromaSettings(anonymized_telemetry=False))
        # The in-memory client is shared within a process: a fresh name isolates each test.
        return ChromaIndex(client, f"t-{uuid.uuid4().hex[:12]}", embedding_model=MODEL)


@pytest.fixture(scope="module")
def chroma_port(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    with chroma_server(tmp_path_factory.mktemp("server") / "chroma") as port:
        yield port


class TestChromaServer(ArticleStoreContract, ChunkRankerContract, CopyStoreContract):
    """Server mode: the same contract against `chroma run` over HTTP."""

    @pytest.fixture
    def index(self, chroma_port: int, tmp_path: Path) -> ChromaIndex:
        return ChromaIndex.http(
            "127.0.0.1",
            chroma_port,
            f"t-{uuid.uuid4().hex[:12]}",
            embedding_model=MODEL,
            lexical_dir=tmp_path / "lexical",
        )

    def test_a_second_process_sees_the_first_ones_articles(
        self, chroma_port: int, tmp_path: Path, embedder: Embedder
    ) -> None:
        name = f"t-{uuid.uuid4().hex[:12]}"
        first = ChromaIndex.http(
            "127.0.0.1", chroma_port, name, embedding_model=MODEL, lexical_dir=tmp_path / "a"
        )
        store(first, embedder, NATO)
        second = ChromaIndex.http(
            "127.0.0.1", chroma_port, name, embedding_model=MODEL, lexical_dir=tmp_path / "b"
        )
        assert second.get_bodies([NATO.id]) == {NATO.id: NATO.body}
        assert second.check().whole
