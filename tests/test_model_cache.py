"""The exported-model cache: one per machine (the user's cache dir), shared by every data dir,
exported once under a lock and renamed into place whole. The export itself is a stand-in here
(a real one takes a minute); tests/test_embedding_backends.py runs the real one."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from newsbot.services import make_embedder
from newsbot.settings import Settings, load_settings
from retrieval.errors import ConfigError
from retrieval.exported_embedders import (
    EXPORT_MANIFEST,
    ExportedEmbedder,
    Exporter,
    ensure_exported,
    export_dir,
)
from tests.conftest import REPO

BACKEND = "onnx-int8"


def _model(tmp_path: Path) -> Path:
    model = tmp_path / "model"
    model.mkdir()
    (model / "config.json").write_text('{"hidden_size": 8}')
    return model


def _stand_in(log: Path, seconds: float = 0.0) -> Exporter:
    def export(model_path: Path, out: Path, backend: str) -> None:
        with log.open("a") as f:
            f.write("exported\n")
        (out / "model.onnx").write_text("weights")
        time.sleep(seconds)  # long enough for another process to arrive meanwhile
        (out / EXPORT_MANIFEST).write_text(json.dumps({"backend": backend, "inputs": []}))

    return export


def test_the_default_cache_is_the_users_and_the_setting_overrides_it(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert settings.resolved_model_cache_dir == tmp_path / "user-cache" / "newsbot" / "models"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert load_settings().resolved_model_cache_dir == (
        tmp_path / "home" / ".cache" / "newsbot" / "models"
    )
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/cache")  # ignored, as XDG says
    assert load_settings().resolved_model_cache_dir.is_relative_to(tmp_path / "home")
    monkeypatch.setenv("NEWSBOT_MODEL_CACHE_DIR", str(tmp_path / "mine"))
    assert load_settings().resolved_model_cache_dir == tmp_path / "mine"


def test_two_data_dirs_share_one_export(settings: Settings, tmp_path: Path) -> None:
    first = load_settings(data_dir=tmp_path / "one", embedding_backend=BACKEND)
    second = load_settings(data_dir=tmp_path / "two", embedding_backend=BACKEND)
    assert first.resolved_model_cache_dir == second.resolved_model_cache_dir
    embedder = make_embedder(first.model, first.resolved_model_cache_dir)
    assert isinstance(embedder, ExportedEmbedder) and embedder.export_needed()
    model_path = Path(embedder._path)
    log = tmp_path / "exports.log"
    for each in (first, second):
        cache = each.resolved_model_cache_dir
        ensure_exported(cache, "all-MiniLM-L6-v2", model_path, BACKEND, export=_stand_in(log))
    assert log.read_text().count("exported") == 1
    again = make_embedder(second.model, second.resolved_model_cache_dir)
    assert isinstance(again, ExportedEmbedder) and not again.export_needed()
    assert not (tmp_path / "one" / "models").exists()


_EXPORTER = """
import sys, time
from pathlib import Path
sys.path.insert(0, sys.argv[1])
from tests.test_model_cache import _stand_in
from retrieval.exported_embedders import ensure_exported
cache, model, log = Path(sys.argv[2]), Path(sys.argv[3]), Path(sys.argv[4])
print(ensure_exported(cache, "model", model, "onnx-int8", export=_stand_in(log, 1.5)))
"""


def test_two_processes_exporting_at_once_make_one_export(tmp_path: Path) -> None:
    model, cache, log = _model(tmp_path), tmp_path / "cache", tmp_path / "exports.log"
    args = [sys.executable, "-c", _EXPORTER, str(REPO), str(cache), str(model), str(log)]
    racers = [subprocess.Popen(args, stdout=subprocess.PIPE, text=True) for _ in range(2)]
    outs = [racer.communicate(timeout=120)[0].strip() for racer in racers]
    assert [racer.returncode for racer in racers] == [0, 0]
    target = export_dir(cache, "model", model, BACKEND)
    assert outs == [str(target), str(target)]  # the loser waited and used the winner's
    assert log.read_text().count("exported") == 1
    assert json.loads((target / EXPORT_MANIFEST).read_text())["backend"] == BACKEND
    assert sorted(p.name for p in target.parent.iterdir()) == [f".{BACKEND}.lock", BACKEND]


def test_a_failed_or_killed_export_leaves_nothing_that_looks_finished(tmp_path: Path) -> None:
    model, cache = _model(tmp_path), tmp_path / "cache"

    def no_manifest(model_path: Path, out: Path, backend: str) -> None:
        (out / "model.onnx").write_text("half")

    with pytest.raises(ConfigError, match="torch-fp32"):
        ensure_exported(cache, "model", model, BACKEND, export=no_manifest)
    target = export_dir(cache, "model", model, BACKEND)
    assert not target.exists()
    # A killed exporter's temporary directory is cleared by the next export.
    (target.parent / f".{BACKEND}-killed").mkdir()
    ensure_exported(cache, "model", model, BACKEND, export=_stand_in(tmp_path / "log"))
    assert sorted(p.name for p in target.parent.iterdir()) == [f".{BACKEND}.lock", BACKEND]


def test_run_says_the_export_is_coming_before_it_happens(
    settings: Settings, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from newsbot.cli import _warm_up

    onnx = load_settings(embedding_backend=BACKEND)
    embedder = make_embedder(onnx.model, onnx.resolved_model_cache_dir)
    monkeypatch.setattr(embedder, "embed_query", lambda text: None)  # no real export here
    _warm_up(embedder)
    assert "Exporting the model once for this machine" in capsys.readouterr().out
    _warm_up(make_embedder(settings.model, settings.resolved_model_cache_dir))  # torch
    assert capsys.readouterr().out == "Loading the model…\n"
