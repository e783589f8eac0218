"""Shared fixtures. The real embedding model is loaded once per test session."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from retrieval.embedding import SentenceTransformerEmbedder
from retrieval.settings import Settings

if TYPE_CHECKING:
    from ingest.services import Services

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
    return Settings(data_dir=tmp_path / "data")


@pytest.fixture
def services(
    settings: Settings, embedder: SentenceTransformerEmbedder, monkeypatch: pytest.MonkeyPatch
) -> Services:
    from ingest.services import build_services

    # Share the session's loaded model instead of loading one per test.
    monkeypatch.setattr("ingest.services.SentenceTransformerEmbedder", lambda *a, **k: embedder)
    return build_services(settings)
