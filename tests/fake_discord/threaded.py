"""The fake on a thread of its own, with an event loop of its own, as Discord runs on machines
of its own: a bot whose event loop stalls cannot stall the fake. Its clock (the 3-second
rule) keeps running and it keeps dispatching what the test scheduled, so a stall shows as a
user would see it: a late acknowledgement, rejected with 10062.

Typical use::

    with FakeDiscordThread.start() as remote:
        fake = remote.fake
        guild = fake.add_guild(name="News")  # build the world before the client connects
        bob = fake.add_member(guild, name="bob")
        async with fake.running(make_bot()):  # the client runs on the test's own loop
            inter = await remote.run(fake.invoke_slash(guild, bob, "ask", {...}))
            reply = await remote.run(inter.wait_for_response())

Once a client is connected, touch the fake only through ``run`` or ``call``, which run on its
loop; ``call`` returns at once, so what it starts goes on even while the caller's loop is
blocked.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import threading
from collections.abc import Coroutine, Iterator
from typing import Any, TypeVar

from .server import FakeDiscord

T = TypeVar("T")


class FakeDiscordThread:
    def __init__(self, fake: FakeDiscord, loop: asyncio.AbstractEventLoop) -> None:
        self.fake = fake
        self.loop = loop

    @classmethod
    @contextlib.contextmanager
    def start(cls, **options: Any) -> Iterator[FakeDiscordThread]:
        """``FakeDiscord.start(**options)`` on a new thread; stopped (and its health checked,
        raising here) on exit."""
        started: concurrent.futures.Future[FakeDiscordThread] = concurrent.futures.Future()
        stopped: concurrent.futures.Future[None] = concurrent.futures.Future()
        stop: asyncio.Event | None = None

        async def serve() -> None:
            nonlocal stop
            stop = asyncio.Event()
            async with FakeDiscord.start(**options) as fake:
                started.set_result(cls(fake, asyncio.get_running_loop()))
                await stop.wait()

        def main() -> None:
            try:
                asyncio.run(serve())
            except BaseException as exc:  # raised in the test's thread, below
                if not started.done():
                    started.set_exception(exc)
                stopped.set_exception(exc)
            else:
                stopped.set_result(None)

        thread = threading.Thread(target=main, name="fake-discord", daemon=True)
        thread.start()
        remote = started.result(timeout=30)
        try:
            yield remote
        finally:
            assert stop is not None
            remote.loop.call_soon_threadsafe(stop.set)
            stopped.result(timeout=30)

    def call(self, work: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
        """Start `work` on the fake's loop now, whatever the caller's loop is doing."""
        return asyncio.run_coroutine_threadsafe(work, self.loop)

    async def run(self, work: Coroutine[Any, Any, T]) -> T:
        """`work` on the fake's loop, awaited on the caller's."""
        return await asyncio.wrap_future(self.call(work))
