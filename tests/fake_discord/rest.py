"""REST plumbing every route shares: Discord-shaped errors and responses, the request
body reader (JSON or multipart with files), the bot-token check, scripted rate limits, the
request log and unknown routes, and pointing discord.py at the fake."""

from __future__ import annotations

import contextlib
import json
import logging
import re
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import discord
import discord.gateway
import discord.http
import yarl
from aiohttp import BodyPartReader, web

from .state import API_PREFIX, DiscordState
from .validation import FormErrors

log = logging.getLogger("fake_discord")

_FILES_FIELD_RE = re.compile(r"^files\[(\d+)\]$")
_BODY_KEY = web.RequestKey("fake_discord_body", object)


class DiscordError(Exception):
    """Raised inside handlers; becomes a Discord-shaped JSON error response."""

    def __init__(
        self, status: int, code: int, message: str, errors: FormErrors | None = None
    ) -> None:
        super().__init__(f"{status} {code} {message}")
        self.status = status
        self.code = code
        self.message = message
        self.errors = errors

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"message": self.message, "code": self.code}
        if self.errors:
            body["errors"] = self.errors.tree
        return body


def form_error(errors: FormErrors) -> DiscordError:
    return DiscordError(400, 50035, "Invalid Form Body", errors)


def json_response(
    data: Any, status: int = 200, headers: Mapping[str, str] | None = None
) -> web.Response:
    # Exactly "application/json": discord.py compares the header verbatim, and aiohttp's
    # json_response appends a charset.
    return web.Response(
        status=status,
        body=json.dumps(data).encode(),
        headers={"Content-Type": "application/json", **(headers or {})},
    )


def no_content() -> web.Response:
    return web.Response(status=204)


@dataclass(eq=False)
class UploadedFile:
    index: int
    filename: str
    data: bytes
    content_type: str | None


@dataclass(eq=False)
class RecordedRequest:
    method: str
    path: str  # without the /api/v10 prefix
    route: str  # the route template, e.g. "/channels/{channel_id}/messages"
    status: int
    body: Any
    at: float


@dataclass(eq=False)
class RateLimitRule:
    method: str
    route: str
    remaining: int
    retry_after: float
    is_global: bool
    hits: int = 0


@dataclass(eq=False)
class SendOutage:
    """A channel whose message sends fail: after `let_through` more sends succeed, the next
    `count` answer `status` (500, 503: Discord's own trouble, not the request's)."""

    status: int
    count: int
    let_through: int = 0


@contextlib.contextmanager
def patch_discord_endpoints(api_base: str, gateway_url: str) -> Iterator[None]:
    """Points discord.py's REST base and default gateway at the fake, restoring them after.

    Both are process-wide class attributes, so only one fake can be active at a time.
    """
    old_base = discord.http.Route.BASE
    old_gateway = discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY
    discord.http.Route.BASE = api_base
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(gateway_url)
    try:
        yield
    finally:
        discord.http.Route.BASE = old_base
        discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = old_gateway


def parse_id(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return -1


def single_error(path: list[str | int], code: str, message: str) -> FormErrors:
    errors = FormErrors()
    errors.add(path, code, message)
    return errors


class RestPlumbing(DiscordState):
    """The middleware and helpers each REST handler relies on."""

    @web.middleware
    async def _middleware(
        self, request: web.Request, handler: Callable[[web.Request], Any]
    ) -> web.StreamResponse:
        resource = request.match_info.route.resource
        template = resource.canonical if resource is not None else request.path
        path = request.path.removeprefix(API_PREFIX)
        route = template.removeprefix(API_PREFIX)
        response: web.StreamResponse
        try:
            self._check_auth(request, path)
            limited = self._take_rate_limit(request.method, route, path)
            response = limited if limited is not None else await handler(request)
        except DiscordError as exc:
            if exc.status >= 500 or exc.code == 0:
                log.warning("fake_discord: %s %s -> %s", request.method, path, exc)
            response = json_response(exc.body(), exc.status)
        except Exception as exc:
            # A 5xx would make discord.py retry for ~25 s; answer 400 and fail at exit instead.
            log.exception("fake_discord: handler for %s %s crashed", request.method, path)
            self.internal_errors.append(f"{request.method} {path}: {exc!r}")
            response = json_response(
                {"message": f"fake_discord internal error: {exc!r}", "code": 0}, 400
            )
        if not request.path.startswith(("/gateway/", "/resume-gateway/")):
            self.requests.append(
                RecordedRequest(
                    request.method,
                    path,
                    route,
                    response.status,
                    request.get(_BODY_KEY),
                    time.monotonic(),
                )
            )
        return response

    def _check_auth(self, request: web.Request, path: str) -> None:
        if not request.path.startswith(API_PREFIX):
            return
        # Interaction callbacks and webhooks are authenticated by their token, not the bot's.
        if path.startswith(("/interactions/", "/webhooks/")):
            return
        if request.headers.get("Authorization") != f"Bot {self.token}":
            raise DiscordError(401, 0, "401: Unauthorized")

    def _take_rate_limit(self, method: str, route: str, path: str) -> web.Response | None:
        for rule in self.rate_limits:
            if rule.remaining <= 0 or rule.method not in (method, "*"):
                continue
            if rule.route not in (route, path):
                continue
            rule.remaining -= 1
            rule.hits += 1
            headers = {
                "Via": "1.1 google",  # without it discord.py assumes a Cloudflare ban
                "Retry-After": str(max(1, round(rule.retry_after))),
                "X-RateLimit-Limit": "5",
                "X-RateLimit-Remaining": "0",
                "X-RateLimit-Reset-After": str(rule.retry_after),
                "X-RateLimit-Scope": "global" if rule.is_global else "user",
            }
            if rule.is_global:
                headers["X-RateLimit-Global"] = "true"
            body = {
                "message": "You are being rate limited.",
                "retry_after": rule.retry_after,
                "global": rule.is_global,
            }
            return json_response(body, 429, headers)
        return None

    async def _unknown_route(self, request: web.Request) -> web.Response:
        entry = f"{request.method} {request.path}"
        self.unknown_routes.append(entry)
        log.error(
            "fake_discord: UNHANDLED ROUTE %s -- the bot called an endpoint the fake does not "
            "implement; add a handler and its route (FakeDiscord._add_routes in "
            "tests/fake_discord/server.py)",
            entry,
        )
        return json_response({"message": "404: Not Found", "code": 0}, 404)

    async def _read_body(self, request: web.Request) -> tuple[Any, list[UploadedFile]]:
        files: list[UploadedFile] = []
        payload: Any = {}
        if request.content_type.startswith("multipart/"):
            reader = await request.multipart()
            async for part in reader:
                if not isinstance(part, BodyPartReader):
                    continue
                field_name = part.name or ""
                if field_name == "payload_json":
                    payload = json.loads(await part.text())
                    continue
                match = _FILES_FIELD_RE.match(field_name)
                if part.filename is not None:
                    files.append(
                        UploadedFile(
                            index=int(match.group(1)) if match else len(files),
                            filename=part.filename,
                            data=bytes(await part.read()),
                            content_type=part.headers.get("Content-Type"),
                        )
                    )
                else:
                    payload[field_name] = await part.text()
        elif request.can_read_body:
            text = await request.text()
            payload = json.loads(text) if text else {}
        request[_BODY_KEY] = payload
        total = sum(len(f.data) for f in files)
        if total > self.attachment_size_limit:
            raise DiscordError(413, 40005, "Request entity too large")
        return payload, files
