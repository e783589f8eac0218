"""Shared fixtures. The real embedding model is loaded once per test session."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from click.testing import CliRunner

from newsbot.settings import Settings, load_settings
from retrieval.embedding import SentenceTransformerEmbedder
from tests.fake_embedder import FakeEmbedder
from tests.web_server import WebServer, serving

if TYPE_CHECKING:
    from newsbot.services import Services

pytest_plugins = ["tests.fake_discord.pytest_plugin"]

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"
SEED = SHARED_DATA / "seed" / "sputnik-2022-01-26-nato-written-response.txt"
MULTIHOP_CORPUS = SHARED_DATA / "multihop_rag" / "corpus.json"
SAMPLE_NEWS = REPO / "examples" / "news"


@pytest.fixture(scope="session")
def embedder() -> SentenceTransformerEmbedder:
    return SentenceTransformerEmbedder("all-MiniLM-L6-v2")


@pytest.fixture
def settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    # Tests never read the developer's .env or environment.
    monkeypatch.chdir(tmp_path)
    for name in list(os.environ):
        if name.startswith("NEWSBOT_") or name == "DISCORD_TOKEN":
            monkeypatch.delenv(name)
    # Nor the user's cache: exported models, by default in ~/.cache, go to the test's own.
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "user-cache"))
    # Tests share the session's torch model (`embedder`), also through the CLI; the other
    # backends have their own tests (tests/test_embedding_backends.py).
    monkeypatch.setenv("NEWSBOT_EMBEDDING_BACKEND", "torch-fp32")
    return load_settings(data_dir=tmp_path / "data", embedding_backend="torch-fp32")


@pytest.fixture
def shared_model(embedder: SentenceTransformerEmbedder, monkeypatch: pytest.MonkeyPatch) -> None:
    """Services built during the test (the CLI's too) use the session's loaded model instead
    of loading one."""
    monkeypatch.setattr("newsbot.services.SentenceTransformerEmbedder", lambda *a, **k: embedder)


@pytest.fixture
def services(settings: Settings, shared_model: None) -> Services:
    from newsbot.services import build_services

    return build_services(settings)


@pytest.fixture
def cli(settings: Settings, shared_model: None, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    """`newsbot`, run in-process on the test's data directory."""
    monkeypatch.setenv("NEWSBOT_DATA_DIR", str(settings.storage.data_dir))
    return CliRunner()


@pytest.fixture
def web() -> Iterator[WebServer]:
    """A web server on 127.0.0.1 (see tests/web_server.py)."""
    yield from serving()


@pytest.fixture(scope="session")
def fake_embedder() -> FakeEmbedder:
    """The fast stand-in for tests that check storage, not what is quoted (fake_embedder.py)."""
    return FakeEmbedder()


@pytest.fixture
def fake_services(settings: Settings, fake_embedder: FakeEmbedder) -> Services:
    """`services` on the fake embedder: its index refuses the real model's vectors."""
    from newsbot.services import build_services

    return build_services(settings, embedder=fake_embedder)
