"""The fake embedder keeps the contract the index and the pipeline rely on, so that tests
running on it test the code around the model, and an index built with it never takes real
vectors."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from ingest.chunking import Chunker
from ingest.loaders import Loaded
from newsbot.services import build_services
from newsbot.settings import Settings
from retrieval.embedding import Embedder, SentenceTransformerEmbedder
from retrieval.errors import ConfigError
from retrieval.models import Article
from tests.conftest import REPO
from tests.fake_embedder import DIMENSION, FakeEmbedder

TEXTS = [
    "The harbour reopened to ferries on Monday.",
    "Ferries return to the harbour after repairs.",
    "The council approved the school budget.",
    "",
]


def test_it_is_an_embedder_of_unit_vectors_of_the_real_models_dimension(
    fake_embedder: FakeEmbedder,
) -> None:
    assert isinstance(fake_embedder, Embedder)
    vectors = fake_embedder.embed_documents(TEXTS)
    assert vectors.shape == (len(TEXTS), DIMENSION) == (len(TEXTS), 384)
    assert vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, rtol=1e-6)
    assert fake_embedder.embed_documents([]).shape == (0, 0)


def test_a_batch_embeds_as_each_text_alone(fake_embedder: FakeEmbedder) -> None:
    batch = fake_embedder.embed_documents(TEXTS)
    alone = np.stack([fake_embedder.embed_query(t) for t in TEXTS])
    np.testing.assert_array_equal(batch, alone)
    np.testing.assert_array_equal(fake_embedder.embed_queries(TEXTS), batch)


def test_texts_sharing_words_are_nearer(fake_embedder: FakeEmbedder) -> None:
    harbour, ferries, council, _ = fake_embedder.embed_documents(TEXTS)
    assert float(harbour @ ferries) > float(harbour @ council) + 0.2


def test_the_same_text_gets_the_same_vector_in_another_process(
    fake_embedder: FakeEmbedder,
) -> None:
    script = (
        "import sys; sys.path.insert(0, sys.argv[1])\n"
        "from tests.fake_embedder import FakeEmbedder\n"
        "print(FakeEmbedder().embed_query(sys.argv[2]).tobytes().hex())"
    )
    child = subprocess.run(
        [sys.executable, "-c", script, str(REPO), TEXTS[0]],
        capture_output=True,
        text=True,
        check=True,
    )
    assert child.stdout.strip() == fake_embedder.embed_query(TEXTS[0]).tobytes().hex()


def test_tokens_are_counted_and_truncated_consistently(fake_embedder: FakeEmbedder) -> None:
    text = "Officials said: the bridge, closed since May, reopens."
    offsets = fake_embedder.token_offsets(text)
    assert fake_embedder.count_tokens([text]) == [len(offsets)] == [12]
    assert [text[s:e] for s, e in offsets][:4] == ["Officials", "said", ":", "the"]
    # Words past the model's limit are not read, as the real model truncates.
    limit = fake_embedder.max_tokens
    head = " ".join(f"w{i}" for i in range(limit))
    np.testing.assert_array_equal(
        fake_embedder.embed_query(head + " ignored words"), fake_embedder.embed_query(head)
    )
    assert not np.array_equal(
        fake_embedder.embed_query(" ".join(f"w{i}" for i in range(limit - 1)) + " other"),
        fake_embedder.embed_query(head),
    )


def test_the_chunker_cuts_a_long_article_into_chunks_within_the_budget(
    fake_embedder: FakeEmbedder,
) -> None:
    sentence = "The harbour authority said the ferry timetable would change next week. "
    article = Article(title="Harbour news", body=sentence * 60, url="https://news.test/h")
    chunker = Chunker(fake_embedder, chunk_tokens=100, overlap_tokens=20)
    chunks = chunker.chunk(article)
    assert len(chunks) > 5
    for chunk in chunks:
        assert chunk.text == article.body[chunk.start : chunk.end]
        assert chunk.token_count == fake_embedder.count_tokens([chunk.text])[0] <= 100
    assert chunks[-1].end == len(article.body.rstrip())


def test_an_index_built_with_it_refuses_the_real_model(
    settings: Settings, fake_embedder: FakeEmbedder, embedder: SentenceTransformerEmbedder
) -> None:
    fake = build_services(settings, embedder=fake_embedder)
    article = Article(title="Harbour news", body=TEXTS[0] + " " + TEXTS[1], url="https://n.test/1")
    fake.ingester.ingest([Loaded("harbour", article)])
    fake.close()
    # The real model is not loaded for this: the refusal comes from the index's records.
    with pytest.raises(ConfigError, match="fake-hashed-words"):
        build_services(settings, embedder=embedder)
