"""What the bot is given by the entry point (newsbot/services.py): its typed config and the
services it uses. The bot reads no settings of its own."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from bot.watches import WatchStore
from ingest.feeds import FeedPoller
from ingest.fetching import Fetcher
from ingest.pipeline import Ingester
from retrieval.answering import Answerer
from retrieval.chroma_index import ChromaIndex
from retrieval.embedding import Embedder
from retrieval.feedback import FeedbackStore
from retrieval.timeline import TimelineBuilder
from retrieval.watching import TopicMatcher


@dataclass(frozen=True, slots=True)
class BotConfig:
    guild_id: int | None  # development server: commands sync there on start
    admin_role_ids: tuple[int, ...]  # also allowed admin commands
    owner_ids: tuple[int, ...]  # allowed admin commands anywhere, and global articles
    ask_cooldown_seconds: float
    sources_cooldown_seconds: float
    reply_in_thread: bool
    ingests_per_server_per_hour: int
    feeds_per_server: int
    answer_threads: int
    fetch_threads: int
    ingest_threads: int
    shutdown_grace_seconds: float
    feed_poll_seconds: float
    feed_posts_per_poll: int  # new stories posted per feed per poll, and on its first read
    max_file_bytes: int
    retention_days: int  # 0: keep every article
    watches_per_user: int  # in one server
    watches_per_server: int


class MemberDataHolder(Protocol):
    """Something kept about members, which /forget-me deletes."""

    @property
    def member_data_name(self) -> str:
        """What it keeps, as the member is told ("votes")."""
        ...

    def remove_member(self, user_id: int) -> int:
        """Delete what it keeps of this member; how many items that was."""
        ...


@dataclass(frozen=True, slots=True)
class BotServices:
    index: ChromaIndex
    embedder: Embedder
    answerer: Answerer
    timelines: TimelineBuilder
    ingester: Ingester
    fetcher: Fetcher
    poller: FeedPoller
    feedback: FeedbackStore  # answers sent and members' votes on them
    watches: WatchStore
    matcher: TopicMatcher
    member_data: tuple[MemberDataHolder, ...]  # everything /forget-me deletes

    def close(self) -> None:
        """Let go of the store's writer lock; nothing may be written after this."""
        self.index.close()
