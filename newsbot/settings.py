"""The app's settings, read from the environment and `.env`, in sections.

Built once at an entry point (`newsbot`, `python -m bot`) by `load_settings` and passed
down; each section is what one part of the app is configured by, and the lower layers get
the typed values they need from it (newsbot/services.py), never a section. Every variable
keeps its flat name (`NEWSBOT_FETCH_MAX_BYTES`): a section's prefix plus its field's name.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal

from pydantic import (
    AliasChoices,
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from retrieval.errors import ConfigError

DEFAULT_MODEL = "all-MiniLM-L6-v2"
PREFIX = "NEWSBOT_"


def _section_config(prefix: str = PREFIX) -> SettingsConfigDict:
    return SettingsConfigDict(
        env_prefix=prefix,
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        frozen=True,
        # `NEWSBOT_GUILD_ID=` (as in .env.example) means "not set", not an invalid number.
        env_ignore_empty=True,
    )


class StorageSettings(BaseSettings):
    """Where articles are kept (retrieval/chroma_index.py)."""

    model_config = _section_config()

    data_dir: Path = Field(default=Path("data"), description="Everything the bot stores.")
    chroma_path: Path | None = Field(
        default=None, description="Chroma's on-disk directory; default DATA_DIR/chroma."
    )
    chroma_host: str | None = Field(
        default=None, description="Use a Chroma server at this host instead of local disk."
    )
    chroma_port: int = Field(default=8000, ge=1, le=65535)
    collection: str = Field(default="news", pattern=r"^[a-zA-Z0-9][a-zA-Z0-9._-]{1,60}[a-zA-Z0-9]$")
    # Tests only (tests/test_crash_consistency.py): kill the process at this point of the
    # store's write path (retrieval/failpoints.py). Empty, always, in real use.
    failpoint: str = Field(default="", max_length=60)
    retention_days: int = Field(
        default=0,
        ge=0,
        le=100_000,
        description="Forget articles published (or ingested) longer ago than this; 0: keep all.",
    )

    @property
    def resolved_chroma_path(self) -> Path:
        return self.chroma_path if self.chroma_path is not None else self.data_dir / "chroma"


class ModelSettings(BaseSettings):
    """The embedding model and how it runs (retrieval/embedding.py and
    retrieval/exported_embedders.py); an index holds the vectors of one model and backend."""

    model_config = _section_config()

    embedding_model: str = Field(
        default=DEFAULT_MODEL,
        description="A sentence-transformers model name or path; the default is bundled.",
    )
    # 0: the backend's own (OpenVINO 8, the others 32).
    embedding_batch_size: int = Field(default=0, ge=0, le=4096)
    embedding_backend: Literal["torch-fp32", "torch-bf16", "onnx-int8", "openvino-int8"] = (
        "openvino-int8"
    )
    embedding_threads: int = Field(
        default=0, ge=0, le=256, description="Threads for bulk embedding; 0: every core."
    )
    model_cache_dir: Path | None = Field(
        default=None,
        description="Exported models, made once per machine; default: the user's cache dir.",
    )


class IngestSettings(BaseSettings):
    """How articles are read and cut into chunks (ingest/)."""

    model_config = _section_config()

    # In tokens of the embedding model's tokenizer.
    chunk_tokens: int = Field(default=200, ge=16, le=8192)
    chunk_overlap_tokens: int = Field(default=40, ge=0, le=4096)
    max_file_bytes: int = Field(default=10_000_000, ge=1)

    @model_validator(mode="after")
    def _overlap_below_size(self) -> IngestSettings:
        if self.chunk_overlap_tokens >= self.chunk_tokens:
            raise ValueError(
                "NEWSBOT_CHUNK_OVERLAP_TOKENS must be smaller than NEWSBOT_CHUNK_TOKENS"
            )
        return self


class RetrievalSettings(BaseSettings):
    """How passages are found and quoted (retrieval/answering.py, retrieval/hybrid.py)."""

    model_config = _section_config()

    top_k: int = Field(default=10, ge=1, le=100)
    max_quotes: int = Field(default=4, ge=1, le=10)
    # A floor: no quote from a chunk less similar to the question than this. Whether to
    # answer at all is the answer selector's calibrated decision (retrieval/selection.py).
    abstain_threshold: float = Field(default=0.0, ge=-1.0, le=1.0)
    answer_threshold: float | None = Field(
        default=None,
        ge=0.0,
        le=1.0,
        description="Decline below this answerable probability; default: the calibrated one.",
    )
    max_question_chars: int = Field(default=300, ge=10, le=4000)
    # Dense and BM25 rankings fused by reciprocal rank.
    rrf_k: int = Field(default=60, ge=1, le=10_000, description="k of reciprocal rank fusion.")
    dense_weight: float = Field(default=0.3, ge=0, le=100, description="0: BM25 only.")
    lexical_weight: float = Field(default=1.0, ge=0, le=100, description="0: dense only.")
    max_chunks_per_article: int = Field(
        default=3, ge=0, le=100, description="Diversity: chunks of one article; 0: no cap."
    )
    question_hints: bool = Field(
        default=True, description="Read outlets and times named in questions as filters."
    )
    timeline_max_entries: int = Field(
        default=20, ge=1, le=100, description="Entries of a story timeline (/timeline)."
    )

    @model_validator(mode="after")
    def _some_retrieval(self) -> RetrievalSettings:
        if self.dense_weight == 0 and self.lexical_weight == 0:
            raise ValueError("NEWSBOT_DENSE_WEIGHT and NEWSBOT_LEXICAL_WEIGHT cannot both be 0")
        return self


class FetchSettings(BaseSettings):
    """Downloading web pages and feeds (ingest/fetching.py): NEWSBOT_FETCH_*."""

    model_config = _section_config(PREFIX + "FETCH_")

    max_bytes: int = Field(default=10_000_000, ge=1, description="Largest download.")
    connect_timeout_seconds: float = Field(default=10.0, gt=0, le=300)
    read_timeout_seconds: float = Field(default=20.0, gt=0, le=600)
    deadline_seconds: float = Field(
        default=120.0,
        gt=0,
        le=3600,
        description="One download's whole time: resolving, connecting, redirects and body.",
    )
    allow_loopback: bool = Field(
        default=False, description="Allow fetching from 127.0.0.1/::1 (tests, local use)."
    )


class FeedSettings(BaseSettings):
    """Following feeds (ingest/feeds.py): NEWSBOT_FEED_*."""

    model_config = _section_config(PREFIX + "FEED_")

    poll_seconds: float = Field(
        default=1800.0, ge=10, le=7 * 24 * 3600, description="How often each feed is polled."
    )
    posts_per_poll: int = Field(
        default=5,
        ge=1,
        le=50,
        description="New stories a feed posts to its channel per poll (and on its first read).",
    )


class DiscordSettings(BaseSettings):
    """The Discord bot (bot/)."""

    model_config = _section_config()

    discord_token: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("DISCORD_TOKEN", "NEWSBOT_DISCORD_TOKEN")
    )
    guild_id: int | None = Field(
        default=None, description="Development server: commands sync there instantly on start."
    )
    admin_role_ids: Annotated[tuple[int, ...], NoDecode] = Field(
        default=(), description="Roles (ids, comma-separated) allowed admin commands too."
    )
    owner_ids: Annotated[tuple[int, ...], NoDecode] = Field(
        default=(), description="Users (ids, comma-separated) allowed admin commands anywhere."
    )
    ask_cooldown_seconds: float = Field(default=10.0, ge=0, le=3600)
    sources_cooldown_seconds: float = Field(default=10.0, ge=0, le=3600)
    reply_in_thread: bool = False
    # Per-server quotas (bot/quotas.py): one server's admins cannot use up the bot for all.
    ingests_per_server_per_hour: int = Field(
        default=30, ge=1, le=100_000, description="/ingest uses a server may make in any hour."
    )
    feeds_per_server: int = Field(
        default=20, ge=1, le=10_000, description="Feeds a server may follow at once."
    )
    # Thread pools (bot/workers.py), one per kind of work, so none waits behind another.
    answer_threads: int = Field(
        default=4, ge=1, le=64, description="Threads answering questions and reading lists."
    )
    fetch_threads: int = Field(
        default=4, ge=1, le=64, description="Threads downloading links for /ingest url:."
    )
    ingest_threads: int = Field(
        default=2, ge=1, le=64, description="Threads reading uploads and writing the index."
    )
    shutdown_grace_seconds: float = Field(
        default=20.0,
        gt=0,
        le=3600,
        description="On SIGTERM, how long work in progress may finish before it is abandoned.",
    )

    @field_validator("admin_role_ids", "owner_ids", mode="before")
    @classmethod
    def _comma_separated(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(part.strip() for part in value.split(",") if part.strip())
        return value


class WatchSettings(BaseSettings):
    """Topic watches (/watch, bot/cogs/watch.py), matched by retrieval/watching.py."""

    model_config = _section_config()

    watches_per_user: int = Field(
        default=10, ge=1, le=1000, description="Watches a member may have in one server."
    )
    watches_per_server: int = Field(
        default=100, ge=1, le=100_000, description="Watches one server may have in all."
    )
    # Chosen by bench/watch.py on its dev topics (docs/benchmarks.md, "Topic watches").
    watch_threshold: float = Field(
        default=0.2,
        gt=0,
        le=1,
        description="A new article holding a watch's topic words fires it when the probability "
        "that its best sentences answer the topic reaches this (calibrated).",
    )


class LlmSettings(BaseSettings):
    """Written answers from a local model, checked against the quotes (retrieval/written.py):
    NEWSBOT_LLM_*. Off while the URL is empty."""

    model_config = _section_config(PREFIX + "LLM_")

    url: str = Field(
        default="",
        pattern=r"^(?:https?://\S+)?$",
        description="OpenAI-compatible base URL (http://localhost:11434/v1); empty: off.",
    )
    model: str = Field(default="", max_length=200, description="The model's name there.")
    api_key: SecretStr | None = Field(default=None, description="Sent as a bearer token.")
    timeout_seconds: float = Field(
        default=15.0, gt=0, le=600, description="The whole request's time; then quotes alone."
    )
    max_tokens: int = Field(default=300, ge=16, le=8192, description="Longest written answer.")
    max_concurrent: int = Field(
        default=2,
        ge=1,
        le=64,
        description="Model calls at once (at most NEWSBOT_ANSWER_THREADS - 1); a question "
        "asked while all are busy gets the quotes alone.",
    )

    @model_validator(mode="after")
    def _model_named(self) -> LlmSettings:
        if self.url and not self.model:
            raise ValueError("NEWSBOT_LLM_MODEL must name the model when NEWSBOT_LLM_URL is set")
        return self


class LogSettings(BaseSettings):
    """NEWSBOT_LOG_*."""

    model_config = _section_config(PREFIX + "LOG_")

    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"


class Settings(BaseModel):
    """All sections. Build it with `load_settings`; `replace` gives a changed copy."""

    model_config = ConfigDict(frozen=True)

    SECTIONS: ClassVar[dict[str, type[BaseSettings]]] = {
        "storage": StorageSettings,
        "model": ModelSettings,
        "ingest": IngestSettings,
        "retrieval": RetrievalSettings,
        "fetch": FetchSettings,
        "feeds": FeedSettings,
        "discord": DiscordSettings,
        "watch": WatchSettings,
        "llm": LlmSettings,
        "log": LogSettings,
    }

    storage: StorageSettings
    model: ModelSettings
    ingest: IngestSettings
    retrieval: RetrievalSettings
    fetch: FetchSettings
    feeds: FeedSettings
    discord: DiscordSettings
    watch: WatchSettings
    llm: LlmSettings
    log: LogSettings

    @property
    def resolved_model_cache_dir(self) -> Path:
        cache = self.model.model_cache_dir
        return cache if cache is not None else user_cache_dir() / "models"

    def replace(self, **changes: object) -> Settings:
        """A copy with settings changed, named as variables are without NEWSBOT_
        (`fetch_allow_loopback=True`). Not validated: for tests and benchmarks."""
        sections = {name: getattr(self, name) for name in self.SECTIONS}
        for name, fields in _by_section(changes).items():
            sections[name] = sections[name].model_copy(update=fields)
        return Settings(**sections)


def user_cache_dir() -> Path:
    """newsbot's directory in the user's cache (XDG: `$XDG_CACHE_HOME`, else `~/.cache`),
    shared by every data dir: what is the same for all of them (an exported model) is made
    once per machine. A relative XDG_CACHE_HOME is ignored, as the XDG spec says."""
    xdg = os.environ.get("XDG_CACHE_HOME", "")
    base = Path(xdg) if xdg and Path(xdg).is_absolute() else Path.home() / ".cache"
    return base / "newsbot"


def _fields() -> Iterator[tuple[str, str, str, str]]:
    """(flat name, section, field, variable) of every setting."""
    for section, cls in Settings.SECTIONS.items():
        prefix = str(cls.model_config.get("env_prefix", ""))
        for field_name, info in cls.model_fields.items():
            alias = info.validation_alias
            if isinstance(alias, AliasChoices):
                variable = str(alias.choices[0])
            else:
                variable = prefix + field_name.upper()
            flat = (prefix.removeprefix(PREFIX) + field_name).lower()
            yield flat, section, field_name, variable


def env_names() -> list[str]:
    """Every variable the settings read."""
    return [variable for _, _, _, variable in _fields()]


def _by_section(flat: dict[str, object]) -> dict[str, dict[str, Any]]:
    where = {name: (section, field) for name, section, field, _ in _fields()}
    grouped: dict[str, dict[str, Any]] = {}
    for name, value in flat.items():
        if name not in where:
            raise ConfigError(f"Unknown setting {name!r}: see .env.example for the names.")
        section, field = where[name]
        grouped.setdefault(section, {})[field] = value
    return grouped


def load_settings(**overrides: object) -> Settings:
    """Read every section, turning validation errors into one line naming the variable.
    `overrides` are flat names, as in `Settings.replace`."""
    grouped = _by_section(overrides)
    sections: dict[str, BaseSettings] = {}
    for name, cls in Settings.SECTIONS.items():
        try:
            sections[name] = cls(**grouped.get(name, {}))
        except ValidationError as exc:
            raise ConfigError(_one_line(name, exc)) from exc
    return Settings.model_validate(sections)


# The user:password part of a URL (the password may hold an unescaped "@"), with or without
# its scheme.
_CREDENTIALS = re.compile(r"^(\s*(?:[A-Za-z][A-Za-z0-9+.-]*://)?)[^/\s]*@")


def _one_line(section: str, exc: ValidationError) -> str:
    err = exc.errors()[0]
    loc = err.get("loc") or ()
    if loc:
        field = str(loc[0])
        variables = {f: v for _, s, f, v in _fields() if s == section}
        name = variables.get(field, field)  # an alias is the variable's own name
    else:
        name = "settings"  # a rule over several fields: its message names them
    got = err.get("input")
    secret = name in ("DISCORD_TOKEN", "NEWSBOT_LLM_API_KEY")
    if isinstance(got, str):
        got = _CREDENTIALS.sub(r"\1***@", got)  # a URL's user:password is not echoed
    shown = "" if secret or isinstance(got, dict) or got is None else f" (got {got!r})"
    msg = str(err.get("msg", "invalid value")).removeprefix("Value error, ")
    return f"Invalid setting {name}: {msg}{shown}"
