"""What an ingest run reports: each item's status (added, updated, unchanged, failed) and
the run's totals, as the CLI's --json and the bot's replies show them."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class Status(StrEnum):
    ADDED = "added"
    UPDATED = "updated"
    UNCHANGED = "unchanged"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class ItemResult:
    source: str
    status: Status
    article_id: str | None = None
    title: str | None = None
    chunks: int = 0
    reason: str | None = None
    copy_of: str | None = None  # stored as a copy of this (lead) article

    def to_json(self) -> dict[str, object]:
        return {
            "source": self.source,
            "status": self.status.value,
            "article_id": self.article_id,
            "title": self.title,
            "chunks": self.chunks,
            "reason": self.reason,
            "copy_of": self.copy_of,
            "duplicate_of": self.copy_of,  # the same, under its first name: readers use it
        }


@dataclass(slots=True)
class IngestReport:
    items: list[ItemResult] = field(default_factory=list)
    seconds: float = 0.0

    def count(self, status: Status) -> int:
        return sum(1 for item in self.items if item.status is status)

    @property
    def chunks_embedded(self) -> int:
        return sum(i.chunks for i in self.items if i.status in (Status.ADDED, Status.UPDATED))

    @property
    def chunks_per_second(self) -> float:
        return self.chunks_embedded / self.seconds if self.seconds > 0 else 0.0

    @property
    def ingested_anything(self) -> bool:
        return any(i.status is not Status.FAILED for i in self.items)

    def to_json(self) -> dict[str, object]:
        return {
            "added": self.count(Status.ADDED),
            "updated": self.count(Status.UPDATED),
            "unchanged": self.count(Status.UNCHANGED),
            "failed": self.count(Status.FAILED),
            "chunks_embedded": self.chunks_embedded,
            "seconds": round(self.seconds, 3),
            "chunks_per_second": round(self.chunks_per_second, 1),
            "items": [i.to_json() for i in self.items],
        }
