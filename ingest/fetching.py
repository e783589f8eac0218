"""The one fetcher everything that downloads uses (URL ingest, feeds, feed entries' pages).

Built on httpx (requests, streaming, TLS, content decoding) with what it lacks:

- an address guard at the connection layer: the host name is resolved once, every address it
  resolves to is checked, and the connection goes to a checked address (so DNS cannot change
  between check and connect). Loopback, private, link-local (cloud metadata), carrier-grade
  NAT, multicast, reserved and unspecified addresses are refused, and so are the IPv6 forms
  that embed an IPv4 address (IPv4-mapped and -compatible, NAT64, 6to4, Teredo) when the
  embedded address is one of those. Nothing is sent to a refused address, not even a probe.
- one deadline per fetch over everything it waits for: resolving the name, every connect
  attempt (on at most MAX_CONNECT_ATTEMPTS of its addresses), TLS, sending the request, the
  status line and headers, each redirect hop and the body. httpx's timeouts are per step, so a
  server sending a byte just within the read timeout could otherwise hold a fetch for days.
- redirects followed by hand (each hop is checked the same way), a size cap enforced while
  streaming (on the decoded bytes, so a gzip bomb stops at the cap too), and a content-type
  allowlist.

httpx-secure was considered: it is async-only and picks an address by opening a TCP
connection to it before checking it, which sends packets to the very addresses it refuses.
"""

from __future__ import annotations

import functools
import ipaddress
import logging
import socket
import ssl
import threading
import time
import zlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, wait
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import urlsplit

import httpcore
import httpx

from retrieval.errors import InputError

log = logging.getLogger(__name__)

USER_AGENT = "newsbot/0.1 (news question-answering bot; fetches pages and feeds its admins add)"
MAX_REDIRECTS = 3
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
# A server that drips bytes just within the read timeout still has to finish by then.
DEADLINE_SECONDS = 120.0
# A name can resolve to dozens of addresses; each unreachable one costs a connect timeout.
MAX_CONNECT_ATTEMPTS = 3

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
# host, port -> the IP addresses (as text) to try, in order. The default uses getaddrinfo.
Resolver = Callable[[str, int], Sequence[str]]

HTML_TYPES = frozenset({"text/html", "application/xhtml+xml"})
FEED_TYPES = frozenset(
    {
        "application/rss+xml",
        "application/atom+xml",
        "application/rdf+xml",
        "application/xml",
        "text/xml",
    }
)
TEXT_TYPES = frozenset({"text/plain"})
JSON_TYPES = frozenset({"application/json"})
ALLOWED_TYPES = HTML_TYPES | FEED_TYPES | TEXT_TYPES | JSON_TYPES

_CGNAT = ipaddress.IPv4Network("100.64.0.0/10")
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
_NAT64_LOCAL = ipaddress.IPv6Network("64:ff9b:1::/48")
_IPV4_COMPATIBLE = ipaddress.IPv6Network("::/96")
_IPV4_TRANSLATED = ipaddress.IPv6Network("::ffff:0:0:0/96")


class FetchError(InputError):
    """A download that cannot be done or finished; the message says why, fit to show."""


class BlockedAddressError(FetchError):
    """The URL's host is, or resolves to, an address newsbot never connects to."""


# --------------------------------------------------------------------------- the deadline

_T = TypeVar("_T")


class _DeadlinePassed(Exception):
    """A fetch ran out of time; Fetcher.fetch turns it into a FetchError naming the URL."""


class Deadline:
    """The time one fetch has left, shared by every step of it."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._ends = time.monotonic() + seconds

    def remaining(self) -> float:
        """Seconds left (more than 0); raises _DeadlinePassed when none are."""
        left = self._ends - time.monotonic()
        if left <= 0:
            raise _DeadlinePassed
        return left

    def bounded(self, timeout: float | None, step: Callable[[float], _T]) -> _T:
        """Run `step(t)`, a network call with timeout t: `timeout`, cut to the time left. A
        timeout that fired because it was cut is reported as the deadline passing."""
        left = self.remaining()
        if timeout is not None and timeout < left:
            return step(timeout)
        try:
            return step(left)
        except httpcore.TimeoutException:
            raise _DeadlinePassed from None

    def call(self, work: Callable[[], _T]) -> _T:
        """`work()` for a call that takes no timeout (getaddrinfo), given up at the deadline.
        It runs in a daemon thread, left to finish on its own if it is given up on."""
        left = self.remaining()
        outcome: Future[_T] = Future()

        def run() -> None:
            try:
                outcome.set_result(work())
            except BaseException as exc:  # handed to the waiting caller, who re-raises it
                outcome.set_exception(exc)

        threading.Thread(target=run, name="newsbot-fetch-resolve", daemon=True).start()
        wait([outcome], timeout=left)
        if not outcome.done():
            raise _DeadlinePassed
        return outcome.result()


# --------------------------------------------------------------------------- the guard


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address carries (and routes to), for the forms that do."""
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip in _NAT64 or ip in _IPV4_TRANSLATED or (ip in _IPV4_COMPATIBLE and int(ip) > 1):
        return ipaddress.IPv4Address(ip.packed[-4:])
    return None


def blocked_reason(ip: IPAddress, *, allow_loopback: bool = False) -> str | None:
    """Why newsbot must not connect to `ip` (a few words), or None if it may."""
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.teredo is not None:
            return "a Teredo tunnel address"
        if ip in _NAT64_LOCAL:
            return "a local-use NAT64 address"
        embedded = _embedded_ipv4(ip)
        if embedded is not None:
            reason = blocked_reason(embedded, allow_loopback=allow_loopback)
            return f"{reason} (embedded in an IPv6 address)" if reason else None
        if ip.is_site_local:
            return "a site-local address"
    if ip.is_loopback:
        return None if allow_loopback else "a loopback address"
    if ip.is_unspecified:
        return "the unspecified address"
    if ip.is_link_local:
        return "a link-local address (where cloud metadata services live)"
    if ip.is_multicast:
        return "a multicast address"
    if isinstance(ip, ipaddress.IPv4Address) and ip in _CGNAT:
        return "a carrier-grade NAT address"
    if ip.is_reserved:
        return "a reserved address"
    if ip.is_private:
        return "a private address"
    if not ip.is_global:
        return "not a public address"
    return None


def system_resolver(host: str, port: int) -> list[str]:
    """getaddrinfo, as the connection itself would use it."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


@dataclass(frozen=True, slots=True)
class AddressGuard:
    """Decides, without connecting anywhere, which addresses a host may be reached at."""

    allow_loopback: bool = False
    resolver: Resolver = system_resolver

    def addresses(self, host: str, port: int, *, deadline: Deadline | None = None) -> list[str]:
        """The checked addresses of `host`, or BlockedAddressError if any of them is refused
        (a name that also points inside the network is not trusted for its other addresses).
        With `deadline`, resolving the name stops waiting when it passes."""
        literal = _ip_literal(host)
        if literal is not None:
            found = [str(literal)]
        else:
            try:
                if deadline is None:
                    found = list(self.resolver(host, port))
                else:
                    found = list(deadline.call(lambda: self.resolver(host, port)))
            except (OSError, UnicodeError) as exc:
                raise FetchError(f"cannot find the server {host}: {_os_reason(exc)}") from None
        if not found:
            raise FetchError(f"cannot find the server {host}")
        for text in found:
            ip = ipaddress.ip_address(text.split("%", 1)[0])
            reason = blocked_reason(ip, allow_loopback=self.allow_loopback)
            if reason is not None:
                shown = host if literal is not None else f"{host} ({ip})"
                raise BlockedAddressError(
                    f"refused to connect to {shown}: {reason}; newsbot only fetches from "
                    "public internet addresses"
                )
        return found

    def check_url(self, url: str) -> None:
        """Resolve and check a URL's host now (used by tests and to fail early)."""
        parts = httpx.URL(url)
        self.addresses(parts.host, parts.port or (443 if parts.scheme == "https" else 80))


def _ip_literal(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host.strip("[]").split("%", 1)[0])
    except ValueError:
        return None


def _os_reason(exc: BaseException) -> str:
    if isinstance(exc, socket.gaierror):
        return exc.strerror or "no such host"
    return str(exc) or type(exc).__name__


# --------------------------------------------------------------------------- transport


class _DeadlineStream(httpcore.NetworkStream):
    """A connection whose every read, write and TLS handshake ends by the fetch's deadline
    (a server trickling its headers a byte at a time gets no more time than a silent one)."""

    def __init__(self, inner: httpcore.NetworkStream, deadline: Deadline) -> None:
        self._inner = inner
        self._deadline = deadline

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._deadline.bounded(timeout, lambda left: self._inner.read(max_bytes, left))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._deadline.bounded(timeout, lambda left: self._inner.write(buffer, left))

    def close(self) -> None:
        self._inner.close()

    def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.NetworkStream:
        secured = self._deadline.bounded(
            timeout, lambda left: self._inner.start_tls(ssl_context, server_hostname, left)
        )
        return _DeadlineStream(secured, self._deadline)

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


class _GuardedBackend(httpcore.NetworkBackend):
    """httpcore's network backend, connecting only to addresses the guard let through, on
    at most MAX_CONNECT_ATTEMPTS of them, within the fetch's deadline."""

    def __init__(
        self,
        guard: AddressGuard,
        deadline: Deadline,
        inner: httpcore.NetworkBackend | None = None,
    ) -> None:
        self._guard = guard
        self._deadline = deadline
        self._inner = inner or httpcore.SyncBackend()

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.NetworkStream:
        addresses = self._guard.addresses(host, port, deadline=self._deadline)
        if len(addresses) > MAX_CONNECT_ATTEMPTS:
            log.debug(
                "%s has %d addresses; trying the first %d",
                host,
                len(addresses),
                MAX_CONNECT_ATTEMPTS,
            )
        failure: Exception | None = None
        for address in addresses[:MAX_CONNECT_ATTEMPTS]:
            # TLS still verifies the certificate against `host` (httpcore passes it as the
            # server name); only the TCP connection uses the checked address.
            connect = functools.partial(
                self._inner.connect_tcp,
                address,
                port,
                local_address=local_address,
                socket_options=socket_options,
            )
            try:
                return _DeadlineStream(self._deadline.bounded(timeout, connect), self._deadline)
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                failure = exc
        assert failure is not None
        raise failure

    def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.NetworkStream:
        raise BlockedAddressError("refused to connect to a local socket")

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)


_HTTPCORE_ERRORS: tuple[tuple[type[Exception], type[httpx.HTTPError]], ...] = (
    (httpcore.ConnectTimeout, httpx.ConnectTimeout),
    (httpcore.ReadTimeout, httpx.ReadTimeout),
    (httpcore.WriteTimeout, httpx.WriteTimeout),
    (httpcore.PoolTimeout, httpx.PoolTimeout),
    (httpcore.ConnectError, httpx.ConnectError),
    (httpcore.ReadError, httpx.ReadError),
    (httpcore.WriteError, httpx.WriteError),
    (httpcore.RemoteProtocolError, httpx.RemoteProtocolError),
    (httpcore.LocalProtocolError, httpx.LocalProtocolError),
    (httpcore.UnsupportedProtocol, httpx.UnsupportedProtocol),
    (httpcore.NetworkError, httpx.NetworkError),
    (httpcore.TimeoutException, httpx.TimeoutException),
)


def _as_httpx(exc: Exception) -> Exception:
    for source, target in _HTTPCORE_ERRORS:
        if isinstance(exc, source):
            return target(str(exc))
    return exc


class _ResponseStream(httpx.SyncByteStream):
    def __init__(self, response: httpcore.Response) -> None:
        self._response = response

    def __iter__(self) -> Iterator[bytes]:
        try:
            yield from self._response.iter_stream()
        except Exception as exc:
            mapped = _as_httpx(exc)
            if mapped is exc:
                raise
            raise mapped from exc

    def close(self) -> None:
        self._response.close()


class _GuardedTransport(httpx.BaseTransport):
    """httpx's transport contract over an httpcore pool with the guarded backend (the
    public way to give httpx a network backend)."""

    def __init__(
        self,
        guard: AddressGuard,
        deadline: Deadline,
        inner: httpcore.NetworkBackend | None = None,
    ) -> None:
        self._pool = httpcore.ConnectionPool(
            ssl_context=httpx.create_ssl_context(),
            max_connections=10,
            network_backend=_GuardedBackend(guard, deadline, inner),
        )

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        assert isinstance(request.stream, httpx.SyncByteStream)
        core_request = httpcore.Request(
            method=request.method,
            url=httpcore.URL(
                scheme=request.url.raw_scheme,
                host=request.url.raw_host,
                port=request.url.port,
                target=request.url.raw_path,
            ),
            headers=request.headers.raw,
            content=request.stream,
            extensions=request.extensions,
        )
        try:
            response = self._pool.handle_request(core_request)
        except Exception as exc:
            mapped = _as_httpx(exc)
            if mapped is exc:
                raise
            raise mapped from exc
        return httpx.Response(
            status_code=response.status,
            headers=response.headers,
            stream=_ResponseStream(response),
            extensions=response.extensions,
        )

    def close(self) -> None:
        self._pool.close()


# --------------------------------------------------------------------------- fetcher


@dataclass(frozen=True, slots=True)
class FetchResult:
    url: str  # after redirects
    status: int  # 200-299, or 304 for a conditional request whose resource has not changed
    content: bytes
    content_type: str  # the media type, lower case, without parameters ("" for a 304)
    charset: str | None
    etag: str | None
    last_modified: str | None

    @property
    def not_modified(self) -> bool:
        return self.status == 304


class Fetcher:
    """Downloads one URL at a time, safely. Thread-safe: each fetch has its own client."""

    def __init__(
        self,
        *,
        max_bytes: int = 10_000_000,
        connect_timeout: float = 10.0,
        read_timeout: float = 20.0,
        deadline: float = DEADLINE_SECONDS,
        allow_loopback: bool = False,
        resolver: Resolver = system_resolver,
        max_redirects: int = MAX_REDIRECTS,
        user_agent: str = USER_AGENT,
        network_backend: httpcore.NetworkBackend | None = None,
    ) -> None:
        self.guard = AddressGuard(allow_loopback=allow_loopback, resolver=resolver)
        self.max_bytes = max_bytes
        self._timeout = httpx.Timeout(
            connect=connect_timeout, read=read_timeout, write=read_timeout, pool=connect_timeout
        )
        self._deadline = deadline
        self._max_redirects = max_redirects
        self._user_agent = user_agent
        self._backend = network_backend

    def fetch(
        self,
        url: str,
        *,
        allowed_types: frozenset[str] = ALLOWED_TYPES,
        etag: str | None = None,
        last_modified: str | None = None,
    ) -> FetchResult:
        """GET `url`, following at most `max_redirects` redirects. With `etag` or
        `last_modified`, a conditional request (a 304 comes back as `not_modified`)."""
        current = _check_scheme(url)
        headers = {"User-Agent": self._user_agent, "Accept": _accept(allowed_types)}
        if etag:
            headers["If-None-Match"] = etag
        if last_modified:
            headers["If-Modified-Since"] = last_modified
        deadline = Deadline(self._deadline)
        with httpx.Client(
            transport=_GuardedTransport(self.guard, deadline, self._backend),
            timeout=self._timeout,
            follow_redirects=False,
            trust_env=False,  # no proxies from the environment: they would bypass the guard
            headers={"Accept-Encoding": "gzip, deflate"},
        ) as client:
            for _hop in range(self._max_redirects + 1):
                try:
                    with client.stream("GET", current, headers=headers) as response:
                        if response.status_code in _REDIRECTS:
                            current = _redirect_target(response, current)
                            continue
                        return self._read(response, current, allowed_types)
                except httpx.HTTPError as exc:
                    raise FetchError(_http_error_message(exc, current, self._timeout)) from None
                except _DeadlinePassed:
                    log.info("gave up on %s at the %g s deadline", current, deadline.seconds)
                    raise FetchError(
                        f"{_short(current)} took more than {deadline.seconds:g} s to download: "
                        "the server is too slow or stopped answering; try again later"
                    ) from None
        raise FetchError(f"{_short(url)} redirects more than {self._max_redirects} times")

    def _read(
        self,
        response: httpx.Response,
        url: str,
        allowed_types: frozenset[str],
    ) -> FetchResult:
        etag = response.headers.get("ETag")
        last_modified = response.headers.get("Last-Modified")
        if response.status_code == 304:
            return FetchResult(url, 304, b"", "", None, etag, last_modified)
        if not 200 <= response.status_code < 300:
            phrase = response.reason_phrase or "error"
            raise FetchError(f"{_short(url)} answered {response.status_code} {phrase}")
        media_type, charset = _content_type(response.headers.get("Content-Type", ""))
        if media_type not in allowed_types:
            what = media_type or "no content type"
            raise FetchError(f"{_short(url)} is {what}, not {_kinds(allowed_types)}")
        declared = response.headers.get("Content-Length", "")
        if declared.isdigit() and int(declared) > self.max_bytes:
            raise FetchError(self._too_big(url))
        decoder = _Decoder(response.headers.get("Content-Encoding", ""), url)
        chunks: list[bytes] = []
        size = 0
        for raw in response.iter_raw():
            # Decoded at most one byte past the cap: a compressed bomb never inflates here.
            chunk = decoder.decode(raw, room=self.max_bytes - size + 1)
            size += len(chunk)
            if size > self.max_bytes:
                raise FetchError(self._too_big(url))
            chunks.append(chunk)
        log.debug("fetched %s: %d bytes of %s", url, size, media_type)
        return FetchResult(
            url, response.status_code, b"".join(chunks), media_type, charset, etag, last_modified
        )

    def _too_big(self, url: str) -> str:
        return (
            f"{_short(url)} is over the {self.max_bytes:,}-byte download limit "
            "(NEWSBOT_FETCH_MAX_BYTES)"
        )


class _Decoder:
    """Content-Encoding decoding with a bound on the output of every call."""

    def __init__(self, header: str, url: str) -> None:
        encodings = [e.strip().lower() for e in header.split(",") if e.strip()]
        encodings = [e for e in encodings if e != "identity"]
        if len(encodings) > 1 or (encodings and encodings[0] not in ("gzip", "x-gzip", "deflate")):
            raise FetchError(f"{_short(url)} is sent with an unsupported encoding ({header})")
        self._encoding = encodings[0] if encodings else None
        self._zlib: Any = None
        if self._encoding in ("gzip", "x-gzip"):
            self._zlib = zlib.decompressobj(16 + zlib.MAX_WBITS)
        elif self._encoding == "deflate":
            self._zlib = zlib.decompressobj()  # zlib-wrapped, as the standard says
        self._url = url
        self._started = False

    def decode(self, data: bytes, *, room: int) -> bytes:
        if self._zlib is None:
            return data
        try:
            out: bytes = self._zlib.decompress(data, room)
        except zlib.error:
            if self._encoding == "deflate" and not self._started:
                # Some servers send raw deflate without the zlib wrapper.
                self._zlib = zlib.decompressobj(-zlib.MAX_WBITS)
                self._started = True
                return self.decode(data, room=room)
            raise FetchError(f"{_short(self._url)} sent a body that cannot be decoded") from None
        self._started = True
        if self._zlib.unconsumed_tail:
            return out + b"\0"  # more than `room`: the caller reports the cap
        return out


def _check_scheme(url: str) -> str:
    url = url.strip()
    scheme = urlsplit(url).scheme.lower()
    if scheme not in ("http", "https"):
        shown = f"a {scheme}: link" if scheme else "not a link"
        raise FetchError(f"{_short(url)} is {shown}: only http and https links can be fetched")
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL as exc:
        raise FetchError(f"{_short(url)} is not a valid link: {exc}") from None
    if not parsed.host:
        raise FetchError(f"{_short(url)} has no host name")
    return str(parsed)


def _redirect_target(response: httpx.Response, current: str) -> str:
    location = response.headers.get("Location")
    if not location:
        raise FetchError(f"{_short(current)} redirects without saying where to")
    try:
        target = str(httpx.URL(current).join(location))
    except httpx.InvalidURL:
        raise FetchError(f"{_short(current)} redirects to an invalid link") from None
    log.debug("redirect %s -> %s", current, target)
    return _check_scheme(target)


def _content_type(header: str) -> tuple[str, str | None]:
    media_type, _, params = header.partition(";")
    charset = None
    for param in params.split(";"):
        name, _, value = param.partition("=")
        if name.strip().lower() == "charset":
            charset = value.strip().strip("\"'") or None
    return media_type.strip().lower(), charset


def _accept(allowed: frozenset[str]) -> str:
    preferred = sorted(allowed & HTML_TYPES) + sorted(allowed - HTML_TYPES)
    return ", ".join(preferred)


def _kinds(allowed: frozenset[str]) -> str:
    kinds = []
    if allowed & HTML_TYPES:
        kinds.append("a web page")
    if allowed & FEED_TYPES:
        kinds.append("a feed")
    if allowed & TEXT_TYPES:
        kinds.append("plain text")
    if allowed & JSON_TYPES:
        kinds.append("JSON")
    return " or ".join(kinds) or "something newsbot reads"


def _http_error_message(exc: httpx.HTTPError, url: str, timeout: httpx.Timeout) -> str:
    host = httpx.URL(url).host
    if isinstance(exc, httpx.ConnectTimeout):
        return f"timed out connecting to {host} (after {timeout.connect:g} s)"
    if isinstance(exc, httpx.TimeoutException):
        return f"{host} stopped answering (nothing for {timeout.read:g} s)"
    if isinstance(exc, httpx.ConnectError):
        cause = str(exc)
        if "CERTIFICATE" in cause.upper() or isinstance(exc.__cause__, ssl.SSLError):
            return f"the secure connection to {host} failed: {cause}"
        return f"cannot connect to {host}: {cause or 'connection refused'}"
    if isinstance(exc, httpx.DecodingError):
        return f"{host} sent a body that cannot be decoded"
    return f"the download from {host} failed: {exc or type(exc).__name__}"


def _short(url: str, limit: int = 200) -> str:
    return url if len(url) <= limit else url[: limit - 1] + "…"
