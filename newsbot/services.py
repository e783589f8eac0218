"""The composition root: the one place that turns settings into services. The CLI and
`python -m bot` both call `build_services`; the bot gets its own typed config and services
from `bot_config` and `bot_services`. Lower layers take plain typed values, never settings."""

from __future__ import annotations

import logging
import sys
from dataclasses import dataclass
from pathlib import Path

from bot.config import BotConfig, BotServices
from bot.watches import WatchStore
from ingest.chunking import Chunker
from ingest.feeds import FeedPoller, FeedStore
from ingest.fetching import Fetcher
from ingest.pipeline import Ingester
from ingest.repair import reembed
from ingest.syndication import SyndicationTracker
from newsbot.settings import (
    FetchSettings,
    LlmSettings,
    ModelSettings,
    RetrievalSettings,
    Settings,
)
from retrieval.answering import Answerer
from retrieval.chroma_index import ChromaIndex
from retrieval.embedding import TORCH_BACKENDS, Embedder, SentenceTransformerEmbedder
from retrieval.exported_embedders import OPENVINO_BATCH_SIZE, OnnxEmbedder, OpenVinoEmbedder
from retrieval.failpoints import Failpoints
from retrieval.feedback import FeedbackStore
from retrieval.hybrid import FusionConfig
from retrieval.llm_client import ChatClient
from retrieval.timeline import TimelineBuilder
from retrieval.watching import TopicMatcher
from retrieval.written import Writer


@dataclass(frozen=True, slots=True)
class Services:
    settings: Settings
    embedder: Embedder
    index: ChromaIndex
    ingester: Ingester
    answerer: Answerer
    timelines: TimelineBuilder

    def close(self) -> None:
        """Let go of the store's writer lock; nothing may be written after this."""
        self.index.close()


def make_embedder(model: ModelSettings, cache_dir: Path) -> Embedder:
    """The embedder NEWSBOT_EMBEDDING_BACKEND names (nothing loads until first use)."""
    backend = model.embedding_backend
    batch = model.embedding_batch_size
    if backend in TORCH_BACKENDS:
        return SentenceTransformerEmbedder(
            model.embedding_model,
            batch_size=batch or 32,
            precision=TORCH_BACKENDS[backend],
            threads=model.embedding_threads,
        )
    if backend == "onnx-int8":
        return OnnxEmbedder(
            model.embedding_model,
            cache_dir=cache_dir,
            batch_size=batch or 32,
            threads=model.embedding_threads,
        )
    return OpenVinoEmbedder(
        model.embedding_model,
        cache_dir=cache_dir,
        batch_size=batch or OPENVINO_BATCH_SIZE,
        threads=model.embedding_threads,
    )


def make_fetcher(fetch: FetchSettings) -> Fetcher:
    return Fetcher(
        max_bytes=fetch.max_bytes,
        connect_timeout=fetch.connect_timeout_seconds,
        read_timeout=fetch.read_timeout_seconds,
        deadline=fetch.deadline_seconds,
        allow_loopback=fetch.allow_loopback,
    )


def make_writer(llm: LlmSettings, answer_threads: int) -> Writer | None:
    """The written-answer model NEWSBOT_LLM_URL names, or None (off). Its calls at once are
    fewer than the `answer_threads` answering questions (when there are two or more), so a
    slow model leaves some of them free."""
    if not llm.url:
        return None
    client = ChatClient(
        llm.url,
        model=llm.model,
        api_key=llm.api_key,
        timeout=llm.timeout_seconds,
        max_tokens=llm.max_tokens,
        max_concurrent=max(1, min(llm.max_concurrent, answer_threads - 1)),
    )
    return Writer(client)


def fusion_config(retrieval: RetrievalSettings) -> FusionConfig:
    return FusionConfig(
        rrf_k=retrieval.rrf_k,
        dense_weight=retrieval.dense_weight,
        lexical_weight=retrieval.lexical_weight,
        max_per_article=retrieval.max_chunks_per_article,
    )


def build_services(
    settings: Settings,
    *,
    embedder: Embedder | None = None,
    read_only: bool = False,
    purpose: str = "newsbot",
) -> Services:
    """Open the index and set up the pipeline; the model itself loads on first use.
    `embedder` replaces the one the settings name (tests share one loaded model).

    An embedded store is opened for writing only by one process at a time: unless
    `read_only`, this takes its writer lock (StoreBusyError if another process has it) until
    `Services.close()`. `purpose` names this process to the others ("`newsbot ingest`")."""
    if embedder is None:
        embedder = make_embedder(settings.model, settings.resolved_model_cache_dir)
    storage = settings.storage
    failpoints = Failpoints(storage.failpoint)
    model_name = settings.model.embedding_model
    if storage.chroma_host:
        index = ChromaIndex.http(
            storage.chroma_host,
            storage.chroma_port,
            storage.collection,
            embedding_model=model_name,
            embedding_backend=embedder.backend,
            # The BM25 index derived from the server's chunks, kept on this machine.
            lexical_dir=storage.data_dir / f"lexical-{storage.chroma_host}-{storage.chroma_port}",
            failpoints=failpoints,
        )
    else:
        index = ChromaIndex.persistent(
            storage.resolved_chroma_path,
            storage.collection,
            embedding_model=model_name,
            embedding_backend=embedder.backend,
            read_only=read_only,
            purpose=purpose,
            failpoints=failpoints,
        )
    chunker = Chunker(
        embedder,
        chunk_tokens=settings.ingest.chunk_tokens,
        overlap_tokens=settings.ingest.chunk_overlap_tokens,
    )
    retrieval = settings.retrieval
    answerer = Answerer(
        index,
        embedder,
        top_k=retrieval.top_k,
        max_quotes=retrieval.max_quotes,
        abstain_threshold=retrieval.abstain_threshold,
        max_question_chars=retrieval.max_question_chars,
        fusion=fusion_config(retrieval),
        question_hints=retrieval.question_hints,
        answer_threshold=retrieval.answer_threshold,
        writer=make_writer(settings.llm, settings.discord.answer_threads),
    )
    timelines = TimelineBuilder(
        answerer,
        index,
        max_entries=retrieval.timeline_max_entries,
        max_topic_chars=retrieval.max_question_chars,
    )
    ingester = Ingester(index, embedder, chunker, tracker=SyndicationTracker(index))
    pending = index.pending_repair
    if pending is not None and (pending.needs_embedding or pending.stranded_copies):
        reembed(index, ingester, pending)  # what an interrupted write left needs the model
    return Services(
        settings=settings,
        embedder=embedder,
        index=index,
        ingester=ingester,
        answerer=answerer,
        timelines=timelines,
    )


def build_poller(services: Services, fetcher: Fetcher | None = None) -> FeedPoller:
    """The feed poller every entry point uses: the feeds file in the data dir, the safe
    fetcher, and the answer statistics refreshed after each ingest."""
    settings = services.settings
    return FeedPoller(
        FeedStore.in_data_dir(settings.storage.data_dir),
        fetcher or make_fetcher(settings.fetch),
        services.ingester,
        interval=settings.feeds.poll_seconds,
        on_ingested=services.answerer.invalidate_stats,
    )


def bot_config(settings: Settings) -> BotConfig:
    discord = settings.discord
    return BotConfig(
        guild_id=discord.guild_id,
        admin_role_ids=discord.admin_role_ids,
        owner_ids=discord.owner_ids,
        ask_cooldown_seconds=discord.ask_cooldown_seconds,
        sources_cooldown_seconds=discord.sources_cooldown_seconds,
        reply_in_thread=discord.reply_in_thread,
        ingests_per_server_per_hour=discord.ingests_per_server_per_hour,
        feeds_per_server=discord.feeds_per_server,
        answer_threads=discord.answer_threads,
        fetch_threads=discord.fetch_threads,
        ingest_threads=discord.ingest_threads,
        shutdown_grace_seconds=discord.shutdown_grace_seconds,
        feed_poll_seconds=settings.feeds.poll_seconds,
        feed_posts_per_poll=settings.feeds.posts_per_poll,
        max_file_bytes=settings.ingest.max_file_bytes,
        retention_days=settings.storage.retention_days,
        watches_per_user=settings.watch.watches_per_user,
        watches_per_server=settings.watch.watches_per_server,
    )


def bot_services(services: Services) -> BotServices:
    settings = services.settings
    fetcher = make_fetcher(settings.fetch)
    feedback = FeedbackStore.in_data_dir(settings.storage.data_dir)
    watches = WatchStore.in_data_dir(settings.storage.data_dir)
    return BotServices(
        index=services.index,
        embedder=services.embedder,
        answerer=services.answerer,
        timelines=services.timelines,
        ingester=services.ingester,
        fetcher=fetcher,
        poller=build_poller(services, fetcher),
        feedback=feedback,
        watches=watches,
        matcher=TopicMatcher(
            services.answerer, services.index, threshold=settings.watch.watch_threshold
        ),
        member_data=(feedback, watches),
    )


def start_bot(services: Services, *, sync_global: bool = False) -> None:
    """Run the Discord bot on `services` until it stops (`newsbot bot`, `python -m bot`)."""
    from bot.app import run_bot  # discord.py loads only for the bot, not for every command

    token = services.settings.discord.discord_token
    run_bot(
        bot_services(services),
        bot_config(services.settings),
        token.get_secret_value() if token is not None else None,
        sync_global=sync_global,
    )


def configure_logging(level: str) -> None:
    """Called once, by the entry point."""
    logging.basicConfig(
        level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr
    )
    # Libraries chatty at INFO: keep their warnings only.
    for noisy in ("chromadb", "httpx", "transformers", "sentence_transformers", "urllib3"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, logging.getLogger().level))
