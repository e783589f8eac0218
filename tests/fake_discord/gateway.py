"""The fake gateway: HELLO, heartbeats, IDENTIFY/READY/GUILD_CREATE, RESUME, dispatch, drops."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
import uuid
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from aiohttp import WSMsgType, web

if TYPE_CHECKING:
    from .server import FakeDiscord

log = logging.getLogger("fake_discord.gateway")

INTENT_GUILDS = 1 << 0
INTENT_GUILD_MEMBERS = 1 << 1
INTENT_GUILD_PRESENCES = 1 << 8
INTENT_GUILD_MESSAGES = 1 << 9
INTENT_GUILD_MESSAGE_REACTIONS = 1 << 10
INTENT_GUILD_MESSAGE_TYPING = 1 << 11
INTENT_DIRECT_MESSAGES = 1 << 12
INTENT_MESSAGE_CONTENT = 1 << 15
PRIVILEGED_INTENTS = INTENT_GUILD_MEMBERS | INTENT_GUILD_PRESENCES | INTENT_MESSAGE_CONTENT

# Guild events are only delivered to sessions that asked for the matching intent.
EVENT_INTENTS: dict[str, int] = {
    "GUILD_CREATE": INTENT_GUILDS,
    "GUILD_UPDATE": INTENT_GUILDS,
    "GUILD_DELETE": INTENT_GUILDS,
    "GUILD_ROLE_CREATE": INTENT_GUILDS,
    "CHANNEL_CREATE": INTENT_GUILDS,
    "THREAD_CREATE": INTENT_GUILDS,
    "GUILD_MEMBER_ADD": INTENT_GUILD_MEMBERS,
    "MESSAGE_CREATE": INTENT_GUILD_MESSAGES,
    "MESSAGE_UPDATE": INTENT_GUILD_MESSAGES,
    "MESSAGE_DELETE": INTENT_GUILD_MESSAGES,
    "MESSAGE_REACTION_ADD": INTENT_GUILD_MESSAGE_REACTIONS,
    "TYPING_START": INTENT_GUILD_MESSAGE_TYPING,
}

# Client close codes after which Discord forgets the session (no RESUME possible).
_SESSION_ENDING_CLOSE_CODES = (1000, 1001)

EventData = dict[str, Any] | Callable[["GatewaySession"], dict[str, Any] | None]


@dataclass(eq=False)
class Handshake:
    """One gateway (re)connection outcome, in order: what a reconnect test asserts on."""

    kind: str  # "identify", "resume", "invalid_session", "rejected"
    path: str  # "/gateway/" or "/resume-gateway/"
    at: float
    session_id: str | None = None
    close_code: int | None = None


@dataclass(eq=False)
class GatewaySession:
    id: str
    intents: int
    shard: list[int] | None = None
    seq: int = 0
    log: list[tuple[int, str]] = field(default_factory=list)
    conn: GatewayConnection | None = None
    resumable: bool = True


@dataclass(frozen=True)
class _Close:
    code: int
    message: bytes


class GatewayConnection:
    """One websocket. Frames go through a queue so sends stay ordered (zlib-stream needs it)."""

    def __init__(self, ws: web.WebSocketResponse, request: web.Request, *, compress: bool) -> None:
        self.ws = ws
        self.request = request
        self.path = request.path
        self.session: GatewaySession | None = None
        self.dropped = False  # closed by drop(): resumability follows drop(resumable=...)
        self.queue: asyncio.Queue[str | _Close] = asyncio.Queue()
        self._zlib = zlib.compressobj() if compress else None
        self.writer = asyncio.create_task(self._write(), name="fake-discord-gateway-writer")

    def send(self, frame: dict[str, Any] | str) -> None:
        self.queue.put_nowait(frame if isinstance(frame, str) else json.dumps(frame))

    def close(self, code: int, message: str) -> None:
        self.queue.put_nowait(_Close(code, message.encode()))

    def abort(self) -> None:
        """Kills the TCP connection without a close frame, like a network failure."""
        transport = self.request.transport
        if transport is not None:
            transport.abort()

    async def _write(self) -> None:
        try:
            while True:
                item = await self.queue.get()
                try:
                    if isinstance(item, _Close):
                        await self.ws.close(code=item.code, message=item.message)
                        return
                    if self._zlib is not None:
                        data = self._zlib.compress(item.encode()) + self._zlib.flush(
                            zlib.Z_SYNC_FLUSH
                        )
                        await self.ws.send_bytes(data)
                    else:
                        await self.ws.send_str(item)
                finally:
                    self.queue.task_done()
        except (ConnectionError, RuntimeError):
            # The peer went away; the reader side notices and cleans up.
            return

    async def flush(self, timeout: float = 5.0) -> None:
        if not self.writer.done():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.queue.join(), timeout)

    async def stop(self) -> None:
        self.writer.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.writer


class FakeGateway:
    def __init__(self, host: FakeDiscord, *, heartbeat_interval_ms: int, compress: bool) -> None:
        self.host = host
        self.heartbeat_interval_ms = heartbeat_interval_ms
        self.compress = compress
        self.ack_heartbeats = True
        self.sessions: dict[str, GatewaySession] = {}
        self.connections: set[GatewayConnection] = set()
        self.handshakes: list[Handshake] = []
        self.heartbeats = 0
        self._drop_marker = 0

    # -- websocket handling -------------------------------------------------------------------

    async def handle(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(max_msg_size=0)
        await ws.prepare(request)
        # Honour zlib-stream (real Discord does); zstd-stream and anything else get plain text.
        compress = self.compress and request.query.get("compress") == "zlib-stream"
        conn = GatewayConnection(ws, request, compress=compress)
        self.connections.add(conn)
        conn.send({"op": 10, "s": None, "t": None, "d": self._hello()})
        try:
            async for msg in ws:
                if msg.type is WSMsgType.TEXT:
                    self._on_frame(conn, json.loads(msg.data))
                elif msg.type is WSMsgType.ERROR:
                    break
        finally:
            self.connections.discard(conn)
            session = conn.session
            if session is not None and session.conn is conn:
                session.conn = None
                if ws.close_code in _SESSION_ENDING_CLOSE_CODES and not conn.dropped:
                    self.sessions.pop(session.id, None)
            await conn.stop()
            self.host.notifier.notify()
        return ws

    def _hello(self) -> dict[str, Any]:
        return {"heartbeat_interval": self.heartbeat_interval_ms, "_trace": ["fake-discord"]}

    def _on_frame(self, conn: GatewayConnection, frame: dict[str, Any]) -> None:
        op = frame.get("op")
        data = frame.get("d")
        if op == 1:
            self.heartbeats += 1
            if self.ack_heartbeats:
                conn.send({"op": 11, "s": None, "t": None, "d": None})
        elif op == 2:
            self._identify(conn, data or {})
        elif op == 6:
            self._resume(conn, data or {})
        elif op == 8:
            self._request_members(conn, data or {})
        elif op in (3, 4):
            pass  # presence / voice state updates: nothing to model
        else:
            log.error("fake_discord: unknown gateway opcode %s: %s", op, frame)
            conn.close(4001, "Unknown opcode.")

    def _identify(self, conn: GatewayConnection, data: dict[str, Any]) -> None:
        host = self.host
        if conn.session is not None:
            conn.close(4005, "Already authenticated.")
            return
        if data.get("token") != host.token:
            self._reject(conn, 4004, "Authentication failed.")
            return
        intents = data.get("intents")
        if not isinstance(intents, int):
            self._reject(conn, 4013, "Invalid intent(s).")
            return
        missing = intents & PRIVILEGED_INTENTS & ~host.privileged_intents
        if missing:
            log.warning(
                "fake_discord: IDENTIFY asked for privileged intents %#x not enabled on the fake "
                "application (pass privileged_intents=... to FakeDiscord.start)",
                missing,
            )
            self._reject(conn, 4014, "Disallowed intent(s).")
            return
        session = GatewaySession(id=uuid.uuid4().hex, intents=intents, shard=data.get("shard"))
        self.sessions[session.id] = session
        session.conn = conn
        conn.session = session
        self.handshakes.append(Handshake("identify", conn.path, time.monotonic(), session.id))
        self._send_event(session, "READY", host.ready_payload(session))
        # Guilds come unavailable in READY, then one GUILD_CREATE each, promptly: discord.py
        # waits guild_ready_timeout after the last one before firing on_ready.
        for guild in host.guilds.values():
            self._send_event(session, "GUILD_CREATE", guild.payload())
        host.notifier.notify()

    def _reject(self, conn: GatewayConnection, code: int, reason: str) -> None:
        self.handshakes.append(Handshake("rejected", conn.path, time.monotonic(), None, code))
        conn.close(code, reason)
        self.host.notifier.notify()

    def _resume(self, conn: GatewayConnection, data: dict[str, Any]) -> None:
        session = self.sessions.get(str(data.get("session_id")))
        if session is None or not session.resumable or data.get("token") != self.host.token:
            if session is not None:
                self.sessions.pop(session.id, None)
            self.handshakes.append(Handshake("invalid_session", conn.path, time.monotonic()))
            conn.send({"op": 9, "s": None, "t": None, "d": False})
            self.host.notifier.notify()
            return
        if session.conn is not None and session.conn is not conn:
            session.conn.close(4000, "Session resumed elsewhere.")
        seq = data.get("seq") or 0
        # Replay what the client missed, then RESUMED, all before anything new is queued.
        for event_seq, frame in session.log:
            if event_seq > seq:
                conn.send(frame)
        session.conn = conn
        conn.session = session
        self.handshakes.append(Handshake("resume", conn.path, time.monotonic(), session.id))
        self._send_event(session, "RESUMED", {"_trace": ["fake-discord"]})
        self.host.notifier.notify()

    def _request_members(self, conn: GatewayConnection, data: dict[str, Any]) -> None:
        if conn.session is None:
            return
        guild = self.host.guilds.get(int(data.get("guild_id", 0)))
        if guild is None:
            return
        query = (data.get("query") or "").lower()
        user_ids = {int(u) for u in data.get("user_ids") or []}
        members = [
            m
            for m in guild.members.values()
            if (not user_ids or m.id in user_ids) and m.name.lower().startswith(query)
        ]
        limit = data.get("limit") or 0
        if limit:
            members = members[:limit]
        chunk: dict[str, Any] = {
            "guild_id": str(guild.id),
            "members": [m.payload() for m in members],
            "chunk_index": 0,
            "chunk_count": 1,
        }
        if data.get("nonce"):
            chunk["nonce"] = data["nonce"]
        self._send_event(conn.session, "GUILD_MEMBERS_CHUNK", chunk)

    # -- dispatching --------------------------------------------------------------------------

    def _send_event(self, session: GatewaySession, event: str, data: dict[str, Any]) -> None:
        session.seq += 1
        frame = json.dumps({"op": 0, "t": event, "s": session.seq, "d": data})
        session.log.append((session.seq, frame))
        if session.conn is not None:
            session.conn.send(frame)

    def dispatch(self, event: str, data: EventData, *, intents: int | None = None) -> int:
        """Sends ``event`` to every session (buffered for RESUME while disconnected) that has
        the intent it needs (``intents``, default: the event's own, as for guild events).

        ``data`` may be a callable taking the session, to tailor the payload (or return None to
        skip it). Returns the number of sessions that got it.
        """
        needed = EVENT_INTENTS.get(event, 0) if intents is None else intents
        count = 0
        for session in list(self.sessions.values()):
            if needed and not session.intents & needed:
                continue
            payload = data(session) if callable(data) else data
            if payload is None:
                continue
            self._send_event(session, event, payload)
            count += 1
        return count

    async def flush(self) -> None:
        await asyncio.gather(*(c.flush() for c in list(self.connections)))

    # -- test hooks ---------------------------------------------------------------------------

    async def drop(self, *, code: int | None = None, resumable: bool = True) -> None:
        self._drop_marker = len(self.handshakes)
        for conn in list(self.connections):
            conn.dropped = True
            if conn.session is not None:
                conn.session.resumable = resumable
            if code is None:
                conn.abort()
            else:
                await conn.ws.close(code=code, message=b"fake_discord drop")

    async def wait_for_reconnect(self, timeout: float) -> Handshake:
        marker = self._drop_marker

        def check() -> Handshake | None:
            return next(
                (h for h in self.handshakes[marker:] if h.kind in ("identify", "resume")), None
            )

        return await self.host.notifier.wait_until(
            check, timeout, lambda: f"no reconnect after drop; handshakes={self.handshakes}"
        )

    async def close(self) -> None:
        for conn in list(self.connections):
            with contextlib.suppress(Exception):
                await asyncio.wait_for(conn.ws.close(code=1001, message=b"fake_discord stop"), 2)
            await conn.stop()
