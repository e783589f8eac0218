"""Write intents: which articles a write was changing when the process died.

Before the index changes an article it appends the article's id to an intent file and
fsyncs it; when the write is complete it appends the matching end. A writer that opens the
store afterwards reads the intents that never ended and repairs exactly those articles
(retrieval/chroma_index.py `ChromaIndex.repair_pending`), so repair on open costs nothing when the
last writer stopped cleanly and a few Chroma reads when it did not. `newsbot check` scans
the whole store instead.

One file per writing process (`<pid>.intents`): an embedded store has one writer (the
writer lock), while a Chroma server may have several; a process repairs only the files of
processes no longer running.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import uuid
from collections.abc import Sequence
from pathlib import Path

from retrieval.failpoints import NO_FAILPOINTS, Failpoints

log = logging.getLogger(__name__)


class WriteIntents:
    def __init__(self, directory: Path | None, *, failpoints: Failpoints = NO_FAILPOINTS) -> None:
        self._dir = directory
        self._failpoints = failpoints
        self._lock = threading.Lock()
        self._open: set[str] = set()
        self._path = directory / f"{os.getpid()}.intents" if directory is not None else None

    def begin(self, article_ids: Sequence[str]) -> str:
        """Record that these articles are about to change; returns the token for `end`."""
        token = uuid.uuid4().hex
        if self._path is None:
            return token
        with self._lock:
            self._open.add(token)
            self._append({"begin": token, "ids": list(article_ids)}, sync=True)
        self._failpoints.reached("intent-written")
        return token

    def end(self, token: str) -> None:
        if self._path is None:
            return
        with self._lock:
            self._open.discard(token)
            if self._open:
                self._append({"end": token}, sync=False)
            else:  # nothing in flight: the file can start over
                with open(self._path, "wb"):
                    pass

    def _append(self, record: dict[str, object], *, sync: bool) -> None:
        assert self._path is not None
        self._path.parent.mkdir(parents=True, exist_ok=True)
        line = (json.dumps(record, separators=(",", ":")) + "\n").encode("utf-8")
        with open(self._path, "ab") as handle:
            handle.write(line)
            if sync:
                handle.flush()
                os.fsync(handle.fileno())

    def unfinished(self, *, exclusive: bool) -> tuple[set[str], list[Path]]:
        """The article ids of intents that never ended, in the files of processes that are
        gone, and those files (to `settle` once repaired). `exclusive`: this process is the
        only writer (it holds the embedded store's writer lock), so every other file is
        a dead process's, whatever its pid is now."""
        if self._dir is None or not self._dir.exists():
            return set(), []
        ids: set[str] = set()
        files: list[Path] = []
        for path in sorted(self._dir.glob("*.intents")):
            pid_text = path.name.split(".", 1)[0]
            if not pid_text.isdigit():
                continue
            pid = int(pid_text)
            if pid == os.getpid():
                if self._open:
                    continue  # ours, in use
            elif not exclusive and _alive(pid):
                continue
            files.append(path)
            ids |= _unfinished_ids(path)
        return ids, files

    def settle(self, files: Sequence[Path]) -> None:
        for path in files:
            if path != self._path:
                path.unlink(missing_ok=True)
            else:
                with self._lock:
                    if not self._open:
                        path.write_bytes(b"")


def _unfinished_ids(path: Path) -> set[str]:
    begun: dict[str, list[str]] = {}
    try:
        raw = path.read_bytes()
    except OSError as exc:
        log.warning("Cannot read the write intents %s: %s", path, exc)
        return set()
    for line in raw.split(b"\n"):
        try:
            record = json.loads(line)
        except ValueError:
            continue  # a torn last line: that write never started
        if not isinstance(record, dict):
            continue
        if "begin" in record:
            begun[str(record["begin"])] = [str(i) for i in record.get("ids", [])]
        elif "end" in record:
            begun.pop(str(record["end"]), None)
    return {aid for ids in begun.values() for aid in ids}


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
