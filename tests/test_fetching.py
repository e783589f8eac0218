"""The safe fetcher. Servers run on 127.0.0.1 only; every other address class is checked by
asking the guard, or through a resolver the test controls, and a spy network backend proves
that no connection ever goes anywhere but loopback."""

from __future__ import annotations

import gzip
import ipaddress
import socket
import threading
import time
from collections.abc import Iterable, Iterator, Sequence

import httpcore
import pytest

from ingest.fetching import (
    MAX_CONNECT_ATTEMPTS,
    AddressGuard,
    BlockedAddressError,
    Fetcher,
    FetchError,
    blocked_reason,
)
from retrieval.errors import InputError
from tests.web_server import WebServer

PAGE = "<html><head><title>Hi</title></head><body><p>Hello there.</p></body></html>"
# How long past its deadline a fetch may take to give up: loose, for a loaded machine.
LATE = 0.75


class SpyBackend(httpcore.NetworkBackend):
    """Records every TCP connection; fails the test on any but loopback."""

    def __init__(self) -> None:
        self.inner = httpcore.SyncBackend()
        self.connected: list[tuple[str, int]] = []

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.NetworkStream:
        self.connected.append((host, port))
        assert ipaddress.ip_address(host).is_loopback, f"a test connected to {host}"
        return self.inner.connect_tcp(host, port, timeout=timeout)

    def sleep(self, seconds: float) -> None:
        self.inner.sleep(seconds)


def fake_dns(table: dict[str, Sequence[str]]):  # type: ignore[no-untyped-def]
    """A resolver that knows only `table`: no query ever leaves the process."""

    def resolve(host: str, port: int) -> Sequence[str]:
        if host not in table:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return table[host]

    return resolve


@pytest.fixture
def spy() -> SpyBackend:
    return SpyBackend()


def fetcher(spy: SpyBackend, **options: object) -> Fetcher:
    options.setdefault("allow_loopback", True)
    options.setdefault("resolver", fake_dns({}))
    return Fetcher(network_backend=spy, **options)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- the guard


@pytest.mark.parametrize(
    ("address", "why"),
    [
        ("127.0.0.1", "loopback"),
        ("127.8.9.10", "loopback"),
        ("10.1.2.3", "private"),
        ("172.16.0.1", "private"),
        ("192.168.1.1", "private"),
        ("169.254.169.254", "link-local"),  # cloud metadata
        ("100.64.0.1", "carrier-grade NAT"),
        ("100.127.255.254", "carrier-grade NAT"),
        ("224.0.0.1", "multicast"),
        ("239.255.255.250", "multicast"),
        ("240.0.0.1", "reserved"),
        ("255.255.255.255", "reserved"),
        ("0.0.0.0", "unspecified"),
        ("0.1.2.3", "private"),
        ("192.0.2.10", "private"),  # documentation range
        ("198.18.0.1", "private"),  # benchmarking range
        ("::1", "loopback"),
        ("::", "unspecified"),
        ("fe80::1", "link-local"),
        ("fc00::1", "private"),
        ("fd12:3456::1", "private"),
        ("fec0::1", "site-local"),
        ("ff02::1", "multicast"),
        ("ff0e::1", "multicast"),
        ("2001:db8::1", "private"),
        ("::ffff:10.0.0.1", "private address (embedded"),  # IPv4-mapped
        ("::ffff:169.254.169.254", "link-local address (where cloud metadata services live) (emb"),
        ("::ffff:127.0.0.1", "loopback address (embedded"),
        ("::10.0.0.1", "private address (embedded"),  # IPv4-compatible
        ("64:ff9b::a9fe:a9fe", "link-local address (where cloud metadata services live) (emb"),
        ("64:ff9b::7f00:1", "loopback address (embedded"),  # NAT64 of 127.0.0.1
        ("64:ff9b:1::a00:1", "local-use NAT64"),
        ("2002:a00:1::1", "private address (embedded"),  # 6to4 of 10.0.0.1
        ("2002:a9fe:a9fe::1", "link-local address (where cloud metadata services live) (emb"),
        ("2001:0:4136:e378:8000:63bf:3fff:fdd2", "Teredo"),
    ],
)
def test_the_guard_refuses_every_internal_address_class(address: str, why: str) -> None:
    reason = blocked_reason(ipaddress.ip_address(address))
    assert reason is not None and why in reason


@pytest.mark.parametrize(
    "address",
    [
        "93.184.215.14",
        "8.8.8.8",
        "2606:4700::1111",
        "::ffff:93.184.215.14",
        "2002:5db8:d70e::1",
        "64:ff9b::5db8:d70e",
    ],
)
def test_the_guard_allows_public_addresses_and_their_ipv6_forms(address: str) -> None:
    assert blocked_reason(ipaddress.ip_address(address)) is None


def test_loopback_is_allowed_only_by_the_setting() -> None:
    for address in ("127.0.0.1", "::1", "::ffff:127.0.0.1"):
        assert blocked_reason(ipaddress.ip_address(address)) is not None
        assert blocked_reason(ipaddress.ip_address(address), allow_loopback=True) is None
    # The setting is about loopback only: private and link-local stay refused.
    assert blocked_reason(ipaddress.ip_address("10.0.0.1"), allow_loopback=True) is not None
    assert blocked_reason(ipaddress.ip_address("169.254.169.254"), allow_loopback=True)


def test_a_name_resolving_to_any_internal_address_is_refused() -> None:
    guard = AddressGuard(
        resolver=fake_dns(
            {
                "news.example": ["93.184.215.14"],
                "metadata.example": ["169.254.169.254"],
                "mixed.example": ["93.184.215.14", "10.0.0.7"],
            }
        )
    )
    assert guard.addresses("news.example", 443) == ["93.184.215.14"]
    with pytest.raises(BlockedAddressError, match=r"metadata\.example \(169\.254\.169\.254\)"):
        guard.check_url("http://metadata.example/latest/meta-data/")
    with pytest.raises(BlockedAddressError, match="private"):
        guard.check_url("https://mixed.example/")
    with pytest.raises(FetchError, match=r"cannot find the server nowhere\.example"):
        guard.check_url("https://nowhere.example/")


# --------------------------------------------------------------------------- fetching


def test_fetches_a_page_with_a_clear_user_agent(web: WebServer, spy: SpyBackend) -> None:
    url = web.add("/story", PAGE)
    result = fetcher(spy).fetch(url)
    assert (result.status, result.url, result.content) == (200, url, PAGE.encode())
    assert (result.content_type, result.charset) == ("text/html", "utf-8")
    [request] = web.hits("/story")
    assert request.headers["User-Agent"].startswith("newsbot/")
    assert spy.connected == [("127.0.0.1", web.port)]


def test_loopback_is_refused_without_the_setting(web: WebServer, spy: SpyBackend) -> None:
    url = web.add("/story", PAGE)
    with pytest.raises(BlockedAddressError, match="loopback") as info:
        fetcher(spy, allow_loopback=False).fetch(url)
    assert isinstance(info.value, InputError)  # a message fit to show
    assert spy.connected == [] and web.requests == []


@pytest.mark.parametrize(
    "url",
    [
        "http://10.0.0.1/",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::ffff:192.168.0.1]/",
        "http://[fd00::1]:8080/admin",
        "https://metadata.internal.example/",
        "http://100.100.100.200/",
    ],
)
def test_internal_urls_are_refused_without_any_connection(url: str, spy: SpyBackend) -> None:
    dns = fake_dns({"metadata.internal.example": ["169.254.169.254"]})
    with pytest.raises(BlockedAddressError, match="refused to connect"):
        fetcher(spy, resolver=dns).fetch(url)
    assert spy.connected == []


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("file:///etc/passwd", "a file: link: only http and https"),
        ("ftp://example.org/x", "a ftp: link: only http and https"),
        ("gopher://127.0.0.1:70/", "a gopher: link"),
        ("/etc/passwd", "not a link"),
        ("http:///nohost", "no host name"),
    ],
)
def test_only_http_and_https_are_fetched(url: str, message: str, spy: SpyBackend) -> None:
    with pytest.raises(FetchError, match=message):
        fetcher(spy).fetch(url)
    assert spy.connected == []


def test_up_to_three_redirects_are_followed(web: WebServer, spy: SpyBackend) -> None:
    final = web.add("/final", PAGE)
    web.redirect("/r3", "/final")
    web.redirect("/r2", web.url("/r3"), status=301)
    first = web.redirect("/r1", "/r2", status=307)
    result = fetcher(spy).fetch(first)
    assert result.url == final and result.content == PAGE.encode()
    web.redirect("/r0", "/r1")
    with pytest.raises(FetchError, match="redirects more than 3 times"):
        fetcher(spy).fetch(web.url("/r0"))
    assert web.hits("/final") == web.hits("/final")[:1]  # the 4th hop was never followed


@pytest.mark.parametrize(
    "target",
    [
        "http://169.254.169.254/latest/meta-data/iam/",
        "http://10.0.0.5:8080/internal",
        "http://[::ffff:10.0.0.5]/",
        "http://rebind.example/",
        "file:///etc/passwd",
    ],
)
def test_a_redirect_to_a_blocked_address_is_refused(
    web: WebServer, spy: SpyBackend, target: str
) -> None:
    url = web.redirect("/go", target)
    dns = fake_dns({"rebind.example": ["192.168.0.10"]})
    with pytest.raises(FetchError, match=r"refused to connect|only http and https"):
        fetcher(spy, resolver=dns).fetch(url)
    assert spy.connected == [("127.0.0.1", web.port)]  # only the first hop connected


def test_a_slow_server_times_out(web: WebServer, spy: SpyBackend) -> None:
    url = web.add("/slow", PAGE, delay=5.0)
    with pytest.raises(FetchError, match=r"127\.0\.0\.1 stopped answering \(nothing for 0\.2 s\)"):
        fetcher(spy, read_timeout=0.2).fetch(url)


def test_a_server_dripping_bytes_hits_the_deadline(web: WebServer, spy: SpyBackend) -> None:
    url = web.add("/drip", stream=(b"<p>x</p>", 200, 0.05))
    with pytest.raises(FetchError, match=r"took more than 0\.3 s to download"):
        fetcher(spy, deadline=0.3).fetch(url)


def deadline_error(seconds: float) -> str:
    return rf"took more than {seconds:g} s to download: .* try again later"


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port on 127.0.0.1 that accepts connections (the kernel completes them) and never
    answers: nothing reads or writes on them."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(8)
        yield sock.getsockname()[1]


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_headers_trickled_a_byte_at_a_time_hit_the_deadline(
    web: WebServer, spy: SpyBackend
) -> None:
    url = web.add("/trickle", PAGE, trickle=0.2)  # each byte well within the read timeout
    started = time.monotonic()
    with pytest.raises(FetchError, match=deadline_error(1.0)) as info:
        fetcher(spy, deadline=1.0).fetch(url)
    assert time.monotonic() - started < 1.0 + LATE
    assert isinstance(info.value, InputError)  # a message fit to show


@pytest.mark.parametrize("scheme", ["http", "https"])  # https: stuck in the TLS handshake
def test_a_server_that_never_answers_hits_the_deadline(
    spy: SpyBackend, silent_port: int, scheme: str
) -> None:
    slow = fetcher(spy, deadline=1.0, connect_timeout=3.0, read_timeout=3.0)
    started = time.monotonic()
    with pytest.raises(FetchError, match=deadline_error(1.0)):
        slow.fetch(f"{scheme}://127.0.0.1:{silent_port}/")
    assert time.monotonic() - started < 1.0 + LATE


def test_the_deadline_covers_every_redirect_hop(web: WebServer, spy: SpyBackend) -> None:
    web.add("/end", PAGE, delay=0.6)
    for path, target in (("/hop1", "/hop2"), ("/hop2", "/hop3"), ("/hop3", "/end")):
        web.add(path, status=302, content_type=None, headers={"Location": target}, delay=0.6)
    started = time.monotonic()
    with pytest.raises(FetchError, match=r"/hop2 took more than 1 s to download"):
        fetcher(spy, deadline=1.0).fetch(web.url("/hop1"))
    assert time.monotonic() - started < 1.0 + LATE
    assert web.hits("/hop3") == []


def test_resolving_the_name_counts_against_the_deadline(web: WebServer, spy: SpyBackend) -> None:
    answered = threading.Event()

    def slow_dns(host: str, port: int) -> Sequence[str]:
        answered.wait(5.0)
        return ["127.0.0.1"]

    web.add("/story", PAGE)
    started = time.monotonic()
    try:
        with pytest.raises(FetchError, match=deadline_error(1.0)):
            fetcher(spy, resolver=slow_dns, deadline=1.0).fetch(
                f"http://slow-dns.example:{web.port}/story"
            )
        assert time.monotonic() - started < 1.0 + LATE
    finally:
        answered.set()  # lets the abandoned lookup finish
    assert spy.connected == []


def test_connect_attempts_are_capped(spy: SpyBackend) -> None:
    port = closed_port()
    many = [f"127.0.0.{n}" for n in range(2, 10)]  # loopback: refused at once, nothing leaves
    dns = fake_dns({"many.example": many})
    with pytest.raises(FetchError, match=r"cannot connect to many\.example"):
        fetcher(spy, resolver=dns).fetch(f"http://many.example:{port}/")
    assert spy.connected == [(address, port) for address in many[:MAX_CONNECT_ATTEMPTS]]


class BlackHoleBackend(httpcore.NetworkBackend):
    """Every connect attempt hangs for its whole timeout, as to an address that drops
    packets, then times out; nothing touches the network."""

    def __init__(self) -> None:
        self.timeouts: list[float | None] = []

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.NetworkStream:
        self.timeouts.append(timeout)
        time.sleep(timeout or 0.0)
        raise httpcore.ConnectTimeout("timed out")


def test_each_connect_attempt_gets_at_most_the_time_left() -> None:
    black_hole = BlackHoleBackend()
    dns = fake_dns({"dark.example": [f"127.0.0.{n}" for n in range(2, 10)]})
    dark = Fetcher(
        allow_loopback=True,
        resolver=dns,
        connect_timeout=0.6,
        deadline=1.0,
        network_backend=black_hole,
    )
    started = time.monotonic()
    with pytest.raises(FetchError, match=deadline_error(1.0)):
        dark.fetch("http://dark.example/")
    assert time.monotonic() - started < 1.0 + LATE
    first, second = black_hole.timeouts  # the deadline passed during the second attempt
    assert first == 0.6 and second is not None and second < 0.41


def test_an_oversized_body_is_refused(web: WebServer, spy: SpyBackend) -> None:
    declared = web.add("/big", b"x" * 5000)
    streamed = web.add("/stream", stream=(b"y" * 1000, 50, 0.0))
    for url in (declared, streamed):
        with pytest.raises(FetchError, match="over the 4,096-byte download limit"):
            fetcher(spy, max_bytes=4096).fetch(url)


def test_a_compressed_bomb_stops_at_the_limit(web: WebServer, spy: SpyBackend) -> None:
    bomb = gzip.compress(b"<p>" + b"a" * 50_000_000 + b"</p>")
    assert len(bomb) < 100_000
    url = web.add("/bomb", bomb, headers={"Content-Encoding": "gzip"})
    with pytest.raises(FetchError, match="over the 1,000,000-byte download limit"):
        fetcher(spy, max_bytes=1_000_000).fetch(url)
    small = web.add("/gz", gzip.compress(PAGE.encode()), headers={"Content-Encoding": "gzip"})
    assert fetcher(spy).fetch(small).content == PAGE.encode()


@pytest.mark.parametrize(
    ("content_type", "message"),
    [
        ("image/png", "is image/png, not a web page or a feed or plain text or JSON"),
        ("application/octet-stream", "is application/octet-stream, not"),
        (None, "is no content type, not"),
    ],
)
def test_a_wrong_content_type_is_refused(
    web: WebServer, spy: SpyBackend, content_type: str | None, message: str
) -> None:
    url = web.add("/image", b"\x89PNG\r\n\x1a\n", content_type=content_type)
    with pytest.raises(FetchError, match=message):
        fetcher(spy).fetch(url)


def test_errors_from_the_server_are_reported(web: WebServer, spy: SpyBackend) -> None:
    gone = web.add("/gone", "gone", status=410, content_type="text/plain")
    with pytest.raises(FetchError, match="/gone answered 410 Gone"):
        fetcher(spy).fetch(gone)
    with pytest.raises(FetchError, match="answered 404 Not Found"):
        fetcher(spy).fetch(web.url("/missing"))


def test_a_closed_port_is_reported(spy: SpyBackend) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(FetchError, match=r"cannot connect to 127\.0\.0\.1"):
        fetcher(spy).fetch(f"http://127.0.0.1:{port}/")


def test_conditional_requests_use_etag_and_last_modified(web: WebServer, spy: SpyBackend) -> None:
    lm = "Tue, 05 Mar 2024 10:00:00 GMT"
    url = web.add("/feed", "<rss/>", content_type="application/rss+xml", etag='"v1"')
    other = web.add("/lm", "<rss/>", content_type="application/rss+xml", last_modified=lm)
    first = fetcher(spy).fetch(url)
    assert (first.status, first.etag) == (200, '"v1"')
    again = fetcher(spy).fetch(url, etag=first.etag)
    assert again.not_modified and again.content == b""
    assert web.hits("/feed")[-1].headers["If-None-Match"] == '"v1"'
    assert fetcher(spy).fetch(other).last_modified == lm
    assert fetcher(spy).fetch(other, last_modified=lm).not_modified
