"""Thread pools for the bot's blocking work, one per kind of work and each bounded, so that no
kind waits behind another: an /ask never queues behind slow downloads or a big upload.

The bot builds them from its config and shuts them down when it closes: new work is refused,
work not started is dropped, and work in progress gets a deadline, after which it is
abandoned. Their threads are daemon threads because Python joins ThreadPoolExecutor's at exit
without a limit: an abandoned job (a download from a server that never answers) cannot keep
the process alive. The store commits each article on its own, so an abandoned write loses at
most the articles it had not committed yet.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Generic, TypeVar

from retrieval.errors import NewsbotError

log = logging.getLogger(__name__)

T = TypeVar("T")

# After abandoning work, how long its commands get to tell their users before disconnecting.
TELL_USERS_SECONDS = 3.0


class ShuttingDownError(NewsbotError):
    def __init__(self) -> None:
        super().__init__("The bot is restarting, so that was not finished: try again in a minute.")


@dataclass(eq=False)
class _Job(Generic[T]):
    work: Callable[[], T]
    waiter: asyncio.Future[T]  # what the caller awaits
    caller: asyncio.Task[Any] | None
    outcome: Future[T] = field(default_factory=Future)  # set by the thread that runs it


def _settle(waiter: asyncio.Future[T], outcome: Future[T]) -> None:
    if waiter.done():  # abandoned at shutdown, or its caller gave up
        return
    if outcome.cancelled():  # dropped by close() before it started
        waiter.set_exception(ShuttingDownError())
    elif (error := outcome.exception()) is not None:
        waiter.set_exception(error)
    else:
        waiter.set_result(outcome.result())


class WorkPool:
    """`threads` daemon threads taking one kind of job, in the order given."""

    def __init__(self, name: str, threads: int) -> None:
        self.name = name
        self._queue: queue.SimpleQueue[_Job[Any] | None] = queue.SimpleQueue()
        self._unfinished: set[_Job[Any]] = set()
        self._lock = threading.Lock()
        self._closed = False
        self._threads = [
            threading.Thread(target=self._serve, name=f"newsbot-{name}-{n}", daemon=True)
            for n in range(1, threads + 1)
        ]
        for thread in self._threads:
            thread.start()

    async def run(self, work: Callable[[], T]) -> T:
        """`work()` on one of the pool's threads. ShuttingDownError once the pool is closed,
        if the job is dropped before it started, or if it is abandoned at the deadline."""
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[T] = loop.create_future()
        job = _Job(work, waiter, asyncio.current_task())
        with self._lock:
            if self._closed:
                raise ShuttingDownError
            self._unfinished.add(job)
        job.outcome.add_done_callback(partial(self._finished, job, loop))
        self._queue.put(job)
        try:
            return await job.waiter
        finally:
            if job.waiter.cancelled():  # the caller gave up: drop the job if it has not started
                job.outcome.cancel()

    def _serve(self) -> None:
        while (job := self._queue.get()) is not None:
            if not job.outcome.set_running_or_notify_cancel():
                continue  # dropped before it started
            try:
                result = job.work()
            except BaseException as error:  # handed to the caller, who raises it
                job.outcome.set_exception(error)
            else:
                job.outcome.set_result(result)

    def _finished(self, job: _Job[T], loop: asyncio.AbstractEventLoop, outcome: Future[T]) -> None:
        with self._lock:
            self._unfinished.discard(job)
        with contextlib.suppress(RuntimeError):  # the loop is closed: nobody waits any more
            loop.call_soon_threadsafe(_settle, job.waiter, outcome)

    def close(self) -> list[asyncio.Task[Any]]:
        """Take no more jobs and drop those not started; the callers of the dropped ones."""
        with self._lock:
            self._closed = True
            jobs = list(self._unfinished)
        dropped = [job.caller for job in jobs if job.outcome.cancel() and job.caller is not None]
        for _ in self._threads:
            self._queue.put(None)  # each thread ends after the job it is on
        return dropped

    def running(self) -> list[_Job[Any]]:
        with self._lock:
            return [job for job in self._unfinished if job.outcome.running()]

    def abandon(self) -> list[asyncio.Task[Any]]:
        """Stop waiting for the jobs still running: their callers get ShuttingDownError now,
        and their threads end with the process. The callers told."""
        callers = []
        for job in self.running():
            if not job.waiter.done():
                job.waiter.set_exception(ShuttingDownError())
                if job.caller is not None:
                    callers.append(job.caller)
        return callers


class Workers:
    """The bot's pools: `answering` (questions, lists, autocomplete), `fetching` (downloads,
    which can wait on slow servers) and `ingesting` (reading uploads, writing the index)."""

    def __init__(self, *, answer_threads: int, fetch_threads: int, ingest_threads: int) -> None:
        self.answering = WorkPool("answering", answer_threads)
        self.fetching = WorkPool("fetching", fetch_threads)
        self.ingesting = WorkPool("ingesting", ingest_threads)
        self._pools = (self.answering, self.fetching, self.ingesting)
        self._told: list[asyncio.Task[Any]] = []
        self.closed = False

    def close(self) -> None:
        """Refuse new work and drop the work not started (its users are told)."""
        self.closed = True
        for pool in self._pools:
            self._told += pool.close()

    def running(self) -> int:
        """How many jobs are running now."""
        return sum(len(pool.running()) for pool in self._pools)

    async def finish(self, grace: float) -> None:
        """After close(): wait up to `grace` seconds for the work in progress, then abandon
        what is left, and give the users of dropped or abandoned work a moment to be told."""
        waiters = [job.waiter for pool in self._pools for job in pool.running()]
        if waiters:
            await asyncio.wait(waiters, timeout=grace)
        for pool in self._pools:
            left = len(pool.running())
            if left:
                log.warning(
                    "Shutting down: %d %s job(s) still running after %g s are abandoned",
                    left,
                    pool.name,
                    grace,
                )
                self._told += pool.abandon()
        told = [task for task in self._told if task is not asyncio.current_task()]
        if told:
            await asyncio.wait(told, timeout=TELL_USERS_SECONDS)
