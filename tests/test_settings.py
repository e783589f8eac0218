from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from newsbot.settings import Settings, env_names, load_settings
from retrieval.errors import ConfigError

REPO = Path(__file__).resolve().parents[1]


def test_every_setting_has_a_line_in_env_example() -> None:
    documented = set(re.findall(r"^([A-Z_]+)=", (REPO / ".env.example").read_text(), re.M))
    expected = set(env_names())
    assert expected - documented == set(), "add these to .env.example"
    assert documented - expected == set(), "these are in .env.example but not in Settings"


def test_env_example_values_are_valid_settings(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    for line in (REPO / ".env.example").read_text().splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.partition("=")
            if value:
                monkeypatch.setenv(name, value)
    assert load_settings().retrieval.top_k == 10


def test_an_invalid_setting_fails_with_one_line_naming_the_variable(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NEWSBOT_TOP_K", "many")
    with pytest.raises(ConfigError) as info:
        load_settings()
    message = info.value.user_message
    assert "\n" not in message
    assert message.startswith("Invalid setting NEWSBOT_TOP_K:") and "'many'" in message


def test_overlap_must_be_smaller_than_chunk_size(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NEWSBOT_CHUNK_TOKENS", "100")
    monkeypatch.setenv("NEWSBOT_CHUNK_OVERLAP_TOKENS", "100")
    with pytest.raises(ConfigError, match="NEWSBOT_CHUNK_OVERLAP_TOKENS"):
        load_settings()


def test_dot_env_is_read_and_the_token_stays_secret(settings: Settings, tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("DISCORD_TOKEN=abc.def.secret\nNEWSBOT_TOP_K=7\n")
    loaded = load_settings()
    assert loaded.retrieval.top_k == 7
    assert loaded.discord.discord_token is not None
    assert loaded.discord.discord_token.get_secret_value() == "abc.def.secret"
    assert "abc.def.secret" not in repr(loaded) and "abc.def.secret" not in str(loaded)


def test_everything_stored_lives_under_the_data_dir(settings: Settings, tmp_path: Path) -> None:
    loaded = load_settings(data_dir=tmp_path / "elsewhere")
    assert loaded.storage.resolved_chroma_path == tmp_path / "elsewhere" / "chroma"


def test_the_example_env_file_as_it_is_loads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Copying .env.example to .env works: its empty values mean "not set"."""
    for name in list(os.environ):
        if name.startswith("NEWSBOT_") or name == "DISCORD_TOKEN":
            monkeypatch.delenv(name)
    (tmp_path / ".env").write_text(
        (Path(__file__).resolve().parents[1] / ".env.example").read_text(encoding="utf-8")
    )
    monkeypatch.chdir(tmp_path)
    settings = load_settings()
    assert settings.discord.guild_id is None and settings.retrieval.answer_threshold is None


def test_each_section_reads_its_own_variables(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NEWSBOT_FETCH_MAX_BYTES", "5000")
    monkeypatch.setenv("NEWSBOT_FEED_POLL_SECONDS", "60")
    monkeypatch.setenv("NEWSBOT_FETCH_THREADS", "3")  # the bot's pool, not a fetch limit
    monkeypatch.setenv("NEWSBOT_LOG_LEVEL", "DEBUG")
    loaded = load_settings()
    assert loaded.fetch.max_bytes == 5000 and loaded.feeds.poll_seconds == 60
    assert loaded.discord.fetch_threads == 3 and loaded.log.level == "DEBUG"
    changed = loaded.replace(fetch_allow_loopback=True, guild_id=42)
    assert changed.fetch.allow_loopback and changed.discord.guild_id == 42
    assert changed.fetch.max_bytes == 5000 and not loaded.fetch.allow_loopback


def test_an_invalid_prefixed_setting_names_its_whole_variable(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NEWSBOT_FETCH_DEADLINE_SECONDS", "0")
    with pytest.raises(ConfigError) as info:
        load_settings()
    assert info.value.user_message.startswith("Invalid setting NEWSBOT_FETCH_DEADLINE_SECONDS:")


def test_an_unknown_override_is_refused_by_name(settings: Settings) -> None:
    with pytest.raises(ConfigError, match="Unknown setting 'top_kk'"):
        load_settings(top_kk=3)


def test_the_llm_api_key_stays_secret_and_written_answers_are_off_by_default(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert settings.llm.url == ""
    monkeypatch.setenv("NEWSBOT_LLM_URL", "http://localhost:11434/v1")
    monkeypatch.setenv("NEWSBOT_LLM_MODEL", "llama3.1:8b")
    monkeypatch.setenv("NEWSBOT_LLM_API_KEY", "sk-very-secret")
    loaded = load_settings()
    assert loaded.llm.api_key is not None
    assert loaded.llm.api_key.get_secret_value() == "sk-very-secret"
    assert "sk-very-secret" not in repr(loaded) and "sk-very-secret" not in str(loaded)
    monkeypatch.setenv("NEWSBOT_LLM_TIMEOUT_SECONDS", "soon")
    with pytest.raises(ConfigError, match="NEWSBOT_LLM_TIMEOUT_SECONDS"):
        load_settings()


@pytest.mark.parametrize(
    "url",
    [
        "http://newsbot:hunter2-pw@localhost:11434/v1 ",
        "ftp://newsbot:hunter2-pw@models.internal/v1",
        "https://newsbot:p@ss-hunter2-pw@gpu-box/v1 x",
        "newsbot:hunter2-pw@localhost:11434/v1",
    ],
)
def test_an_invalid_llm_url_is_named_without_its_user_and_password(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, url: str
) -> None:
    monkeypatch.setenv("NEWSBOT_LLM_URL", url)
    monkeypatch.setenv("NEWSBOT_LLM_MODEL", "m")
    with pytest.raises(ConfigError) as info:
        load_settings()
    message = info.value.user_message
    assert message.startswith("Invalid setting NEWSBOT_LLM_URL:")
    assert "***@" in message
    assert "hunter2" not in message and "newsbot:" not in message
