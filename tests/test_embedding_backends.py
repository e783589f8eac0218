"""The embedding backends: every one gives vectors that agree with the model as published
(torch fp32), reads every token of a chunk, and an index never mixes two backends' vectors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from ingest.chunking import Chunker
from ingest.loaders import load_file
from newsbot.services import build_services
from newsbot.settings import load_settings
from retrieval.chroma_index import ChromaIndex
from retrieval.embedding import Embedder, SentenceTransformerEmbedder
from retrieval.errors import ConfigError
from retrieval.exported_embedders import OnnxEmbedder, OpenVinoEmbedder, export_dir
from retrieval.models import Article
from tests.conftest import SAMPLE_NEWS, SEED
from tests.index_contract import FTX, NATO, store

MODEL = "all-MiniLM-L6-v2"


def _news_texts() -> list[str]:
    """Chunks of real news, as ingest embeds them (headline + chunk)."""
    articles = json.loads((SAMPLE_NEWS / "multihop-rag-sample.json").read_text())[:6]
    texts = []
    for a in articles:
        words = a["body"].split()
        texts += [f"{a['title']}\n" + " ".join(words[i : i + 150]) for i in (0, 150, 300)]
    questions = [
        "what did NATO say about Russia's demands?",
        "Who is the FTX founder on trial?",
        "Shares rose 3%.",
    ]
    return texts + questions


NEWS = _news_texts()


@pytest.fixture(scope="session")
def model_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("models")


@pytest.fixture(scope="session")
def onnx_embedder(model_cache: Path) -> OnnxEmbedder:
    return OnnxEmbedder(MODEL, cache_dir=model_cache, threads=2)


@pytest.fixture(scope="session")
def openvino_embedder(model_cache: Path) -> OpenVinoEmbedder:
    pytest.importorskip("openvino")
    pytest.importorskip("nncf")
    return OpenVinoEmbedder(MODEL, cache_dir=model_cache, threads=2)


@pytest.fixture(params=["torch-bf16", "onnx-int8", "openvino-int8"])
def fast(request: pytest.FixtureRequest, model_cache: Path) -> Embedder:
    if request.param == "torch-bf16":
        return SentenceTransformerEmbedder(MODEL, precision="bf16")
    fixture = "onnx_embedder" if request.param == "onnx-int8" else "openvino_embedder"
    embedder: Embedder = request.getfixturevalue(fixture)
    return embedder


def _cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.asarray((a * b).sum(axis=-1))


def test_vectors_agree_with_the_published_model(
    fast: Embedder, embedder: SentenceTransformerEmbedder
) -> None:
    expected = embedder.embed_documents(NEWS)
    got = fast.embed_documents(NEWS)
    assert got.shape == expected.shape and got.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-4)
    assert _cosines(got, expected).min() >= 0.98
    assert _cosines(got, expected).mean() >= 0.99
    # a question embeds alone about as it does in a batch (onnx-int8 quantises activations
    # per batch, so its vectors move a little with the company they are embedded in)
    query = fast.embed_query(NEWS[-2])
    assert float(query @ got[-2]) >= 0.98
    assert float(query @ embedder.embed_query(NEWS[-2])) >= 0.98


def test_every_backend_counts_tokens_as_the_model_does(
    fast: Embedder, embedder: SentenceTransformerEmbedder
) -> None:
    assert fast.max_tokens == embedder.max_tokens == 254
    assert fast.count_tokens(NEWS) == embedder.count_tokens(NEWS)
    assert fast.token_offsets(NEWS[0]) == embedder.token_offsets(NEWS[0])


def _text_of_tokens(embedder: Embedder, n: int) -> str:
    words = " ".join(a for a in NEWS[:-3]).split()
    text = " ".join(words[: n * 2])
    offsets = embedder.token_offsets(text)
    return text[: offsets[n - 1][1]]


def test_a_full_length_chunk_is_read_to_its_last_token(
    fast: Embedder, embedder: SentenceTransformerEmbedder
) -> None:
    """tokenizer.json of this model truncates at 128 tokens: an exported backend must not."""
    full = _text_of_tokens(embedder, embedder.max_tokens)
    assert embedder.count_tokens([full]) == [embedder.max_tokens]
    head = _text_of_tokens(embedder, 128)
    got_full, got_head = fast.embed_documents([full, head])
    want_full, want_head = embedder.embed_documents([full, head])
    assert float(got_full @ want_full) >= 0.98
    assert float(got_full @ want_full) > float(got_full @ want_head)
    assert float(got_full @ got_head) < 0.99  # the tail changed the vector


def test_a_text_over_the_limit_is_cut_exactly_where_the_model_cuts_it(
    fast: Embedder, embedder: SentenceTransformerEmbedder
) -> None:
    """Ingest never sends one (the chunker keeps chunks within max_tokens); a long question
    is read as far as the model reads it, in every backend."""
    longer = _text_of_tokens(embedder, embedder.max_tokens + 60)
    at_limit = _text_of_tokens(embedder, embedder.max_tokens)
    got_longer, got_limit = fast.embed_documents([longer, at_limit])
    assert float(got_longer @ got_limit) >= 0.999
    assert float(got_longer @ embedder.embed_documents([longer])[0]) >= 0.98


def test_the_export_is_made_once_and_reused(
    onnx_embedder: OnnxEmbedder, model_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    onnx_embedder.embed_query("warm up")
    path = Path(onnx_embedder._path)
    exported = export_dir(model_cache, MODEL, path, "onnx-int8")
    manifest = json.loads((exported / "export.json").read_text())
    assert manifest["backend"] == "onnx-int8"
    assert manifest["min_cosine_to_original"] >= 0.98

    def no_export(*args: object, **kwargs: object) -> None:
        raise AssertionError("exported again")

    monkeypatch.setattr(subprocess, "run", no_export)
    again = OnnxEmbedder(MODEL, cache_dir=model_cache)
    assert float(again.embed_query("NATO") @ onnx_embedder.embed_query("NATO")) >= 0.9999


def test_a_model_without_a_fast_tokenizer_is_refused_with_the_setting_named(
    tmp_path: Path,
) -> None:
    model = tmp_path / "model"
    model.mkdir()
    (model / "config.json").write_text("{}")
    with pytest.raises(ConfigError, match="NEWSBOT_EMBEDDING_BACKEND"):
        OnnxEmbedder(str(model), cache_dir=tmp_path / "cache").embed_query("hello")


def test_a_failed_export_says_which_setting_avoids_it(tmp_path: Path) -> None:
    model = tmp_path / "model"
    model.mkdir()
    source = Path(SentenceTransformerEmbedder(MODEL)._path)
    (model / "tokenizer.json").write_bytes((source / "tokenizer.json").read_bytes())
    with pytest.raises(ConfigError) as info:
        OnnxEmbedder(str(model), cache_dir=tmp_path / "cache").embed_query("hello")
    assert "NEWSBOT_EMBEDDING_BACKEND=torch-fp32" in info.value.user_message
    assert not any((tmp_path / "cache").rglob("export.json"))


def test_an_index_refuses_vectors_of_another_backend(
    tmp_path: Path, embedder: SentenceTransformerEmbedder
) -> None:
    path = tmp_path / "chroma"
    store(ChromaIndex.persistent(path, "news", embedding_model=MODEL), embedder, NATO)
    with pytest.raises(ConfigError) as info:
        ChromaIndex.persistent(path, "news", embedding_model=MODEL, embedding_backend="onnx-int8")
    message = info.value.user_message
    assert "NEWSBOT_EMBEDDING_BACKEND" in message and "torch-fp32" in message
    # the same backend opens it, and finds what was stored
    again = ChromaIndex.persistent(path, "news", embedding_model=MODEL)
    assert again.get_bodies([NATO.id]) == {NATO.id: NATO.body}


def test_an_empty_collection_takes_the_backend_now_in_use(
    tmp_path: Path, onnx_embedder: OnnxEmbedder
) -> None:
    path = tmp_path / "chroma"
    ChromaIndex.persistent(path, "news", embedding_model=MODEL)  # made, nothing stored
    index = ChromaIndex.persistent(
        path, "news", embedding_model=MODEL, embedding_backend="onnx-int8"
    )
    store(index, onnx_embedder, FTX)
    with pytest.raises(ConfigError, match="NEWSBOT_EMBEDDING_BACKEND"):
        ChromaIndex.persistent(path, "news", embedding_model=MODEL)
    reopened = ChromaIndex.persistent(
        path, "news", embedding_model=MODEL, embedding_backend="onnx-int8"
    )
    passages = reopened.search(onnx_embedder.embed_query("Bankman-Fried fraud trial"), 3)
    assert passages[0].article_id == FTX.id


@pytest.mark.skipif(not SEED.exists(), reason="needs ../shared/data/seed")
def test_the_onnx_backend_answers_with_verified_quotes(
    tmp_path: Path, model_cache: Path, onnx_embedder: OnnxEmbedder
) -> None:
    settings = load_settings(
        data_dir=tmp_path / "data", embedding_backend="onnx-int8", model_cache_dir=model_cache
    )
    services = build_services(settings)
    assert services.embedder.backend == "onnx-int8"
    report = services.ingester.ingest(load_file(SEED, max_bytes=10**7))
    assert report.chunks_embedded > 0
    answer = services.answerer.answer("what did NATO say about Russia's demands?")
    assert answer.answered
    assert any('Russia\'s key demands are "unacceptable."' in q.text for q in answer.quotes)


def test_chunks_fit_the_model_with_an_exported_backend(onnx_embedder: OnnxEmbedder) -> None:
    body = " ".join(NEWS[:6])
    article = Article(title="A long headline about the news of the week " * 3, body=body)
    chunker = Chunker(onnx_embedder, chunk_tokens=200, overlap_tokens=40)
    chunks = chunker.chunk(article)
    texts = [chunker.embedding_text(article, c.text) for c in chunks]
    assert len(chunks) > 1
    assert max(onnx_embedder.count_tokens(texts)) <= onnx_embedder.max_tokens


def test_openvino_is_loaded_without_its_usage_telemetry(tmp_path: Path) -> None:
    """A plain `import openvino` writes a client id under ~/intel and sends an event to
    Google Analytics; ours must do neither (the id file is the visible trace)."""
    pytest.importorskip("openvino")
    env = {k: v for k, v in os.environ.items() if k not in {"CI", "TF_BUILD", "JENKINS_URL"}}
    env["HOME"] = str(tmp_path)
    code = "from retrieval.exported_embedders import import_openvino; import_openvino().Core()"
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    assert not (tmp_path / "intel").exists()


def test_openvino_runs_at_full_precision_where_the_cpu_has_bf16(
    openvino_embedder: OpenVinoEmbedder,
) -> None:
    """On CPUs with AMX or AVX-512 BF16, OpenVINO runs a model's float parts in bf16 unless
    told otherwise, and beside int8 weights that lost too much (the export check failed:
    cosine 0.897 on a long sentence); both ways of running the model ask for f32."""
    ov = pytest.importorskip("openvino")
    openvino_embedder.embed_query("warm up")
    openvino_embedder.embed_documents(["warm up"])
    for kind in ("queries", "documents"):
        runner = openvino_embedder._runner(kind)
        assert runner.get_property("INFERENCE_PRECISION_HINT") == ov.Type.f32
