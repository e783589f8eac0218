"""Settings, read from the environment (prefix NEWSBOT_) and `.env`.

Built once at an entry point (`newsbot`, `python -m bot`) and passed down as a value.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import (
    AliasChoices,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from retrieval.errors import ConfigError

DEFAULT_MODEL = "all-MiniLM-L6-v2"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="NEWSBOT_",
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        frozen=True,
        # `NEWSBOT_GUILD_ID=` (as in .env.example) means "not set", not an invalid number.
        env_ignore_empty=True,
    )

    # Storage
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

    # Embedding
    embedding_model: str = Field(
        default=DEFAULT_MODEL,
        description="A sentence-transformers model name or path; the default is bundled.",
    )
    # 0: the backend's own (OpenVINO 8, the others 32).
    embedding_batch_size: int = Field(default=0, ge=0, le=4096)
    # How vectors are computed (retrieval/embedding.py, retrieval/exported.py); an index
    # holds the vectors of one backend only.
    embedding_backend: Literal["torch-fp32", "torch-bf16", "onnx-int8", "openvino-int8"] = (
        "openvino-int8"
    )
    embedding_threads: int = Field(
        default=0, ge=0, le=256, description="Threads for bulk embedding; 0: every core."
    )
    model_cache_dir: Path | None = Field(
        default=None, description="Exported models (made once); default DATA_DIR/models."
    )

    # Chunking (in tokens of the embedding model's tokenizer)
    chunk_tokens: int = Field(default=200, ge=16, le=8192)
    chunk_overlap_tokens: int = Field(default=40, ge=0, le=4096)

    # Answering
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

    # Retrieval (retrieval/hybrid.py): dense and BM25 rankings fused by reciprocal rank
    rrf_k: int = Field(default=60, ge=1, le=10_000, description="k of reciprocal rank fusion.")
    dense_weight: float = Field(default=0.3, ge=0, le=100, description="0: BM25 only.")
    lexical_weight: float = Field(default=1.0, ge=0, le=100, description="0: dense only.")
    max_chunks_per_article: int = Field(
        default=3, ge=0, le=100, description="Diversity: chunks of one article; 0: no cap."
    )
    question_hints: bool = Field(
        default=True, description="Read outlets and times named in questions as filters."
    )

    # Ingest limits
    max_file_bytes: int = Field(default=10_000_000, ge=1)

    # Fetching web pages and feeds (ingest/fetching.py)
    fetch_max_bytes: int = Field(default=10_000_000, ge=1, description="Largest download.")
    fetch_connect_timeout_seconds: float = Field(default=10.0, gt=0, le=300)
    fetch_read_timeout_seconds: float = Field(default=20.0, gt=0, le=600)
    fetch_deadline_seconds: float = Field(
        default=120.0,
        gt=0,
        le=3600,
        description="One download's whole time: resolving, connecting, redirects and body.",
    )
    fetch_allow_loopback: bool = Field(
        default=False, description="Allow fetching from 127.0.0.1/::1 (tests, local use)."
    )

    # Feeds (ingest/feeds.py)
    feed_poll_seconds: float = Field(
        default=1800.0, ge=10, le=7 * 24 * 3600, description="How often each feed is polled."
    )

    # Logging
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"

    # Discord
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

    @model_validator(mode="after")
    def _overlap_below_size(self) -> Settings:
        if self.chunk_overlap_tokens >= self.chunk_tokens:
            raise ValueError(
                "NEWSBOT_CHUNK_OVERLAP_TOKENS must be smaller than NEWSBOT_CHUNK_TOKENS"
            )
        return self

    @model_validator(mode="after")
    def _some_retrieval(self) -> Settings:
        if self.dense_weight == 0 and self.lexical_weight == 0:
            raise ValueError("NEWSBOT_DENSE_WEIGHT and NEWSBOT_LEXICAL_WEIGHT cannot both be 0")
        return self

    @property
    def resolved_chroma_path(self) -> Path:
        return self.chroma_path if self.chroma_path is not None else self.data_dir / "chroma"

    @property
    def resolved_model_cache_dir(self) -> Path:
        cache = self.model_cache_dir
        return cache if cache is not None else self.data_dir / "models"


def env_name(field_name: str) -> str:
    if field_name == "discord_token":
        return "DISCORD_TOKEN"
    return "NEWSBOT_" + field_name.upper()


def load_settings(**overrides: object) -> Settings:
    """Build settings, turning validation errors into one line naming the variable."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = err.get("loc") or ()
        name = env_name(str(loc[0])) if loc else "settings"
        got = err.get("input")
        secret = name == "DISCORD_TOKEN"
        shown = "" if secret or isinstance(got, dict) or got is None else f" (got {got!r})"
        msg = str(err.get("msg", "invalid value")).removeprefix("Value error, ")
        raise ConfigError(f"Invalid setting {name}: {msg}{shown}") from exc
