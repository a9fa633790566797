"""The URL guard and the fetcher, against real loopback servers.

Hostile URLs must be refused before any connection: each test checks that the loopback
server a URL points at saw no connection and that the fetcher's transport sent nothing.
Names are resolved by an in-memory resolver, and "public" addresses are routed to loopback
servers by a recording transport, so nothing here touches the network.
"""

from __future__ import annotations

import io
import ipaddress
import socket
import threading
import time
import urllib.parse
from collections.abc import Awaitable, Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, TypeVar

import anyio
import httpx
import pytest
from lookalike.api.addresses import classify, parse_ip_host
from lookalike.api.fetch import Fetcher, sniff_image
from lookalike.errors import (
    FetchError,
    FetchTimeoutError,
    RemoteTooLargeError,
    UnsafeURLError,
    UnsupportedFormatError,
)
from PIL import Image

T = TypeVar("T")
PUBLIC_IP = "93.184.216.34"  # a public address; the transport routes it to a loopback server
MB = 1024 * 1024


def small_jpeg() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (32, 24), (200, 40, 40)).save(buf, "JPEG")
    return buf.getvalue()


class Origin:
    """A loopback HTTP server that counts connections and what it managed to send.

    Paths: anything in ``files``; ``/redirect?to=URL``; ``/chain/N`` (N redirects, then an
    image); ``/huge`` (an endless JPEG-looking body); ``/declared-huge`` (announces 100 MB);
    ``/slow`` (a byte every 100 ms); ``/redirect-with-body`` (a 302 to ``/img.jpg`` with an
    endless body); anything else 404.
    """

    def __init__(self, host: str = "127.0.0.1") -> None:
        origin = self
        family = socket.AF_INET6 if ":" in host else socket.AF_INET

        class Server(ThreadingHTTPServer):
            address_family = family
            daemon_threads = True

            def process_request(self, request: Any, client_address: Any) -> None:
                with origin.lock:
                    origin.connections += 1
                super().process_request(request, client_address)

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                origin.hosts.append(self.headers.get("Host", ""))
                origin.serve(self)

        self.lock = threading.Lock()
        self.connections = 0
        self.hosts: list[str] = []
        self.sent: dict[str, int] = {}
        self.files: dict[str, tuple[bytes, str]] = {"/img.jpg": (small_jpeg(), "image/jpeg")}
        self._server = Server((host, 0), Handler)
        self.port = self._server.server_address[1]
        self.base = f"http://{host if family == socket.AF_INET else f'[{host}]'}:{self.port}"
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def serve(self, h: BaseHTTPRequestHandler) -> None:
        path, _, query = h.path.partition("?")
        if path in self.files:
            body, ctype = self.files[path]
            h.send_response(200)
            h.send_header("Content-Type", ctype)
            h.send_header("Content-Length", str(len(body)))
            h.end_headers()
            h.wfile.write(body)
        elif path == "/redirect":
            self._redirect(h, urllib.parse.parse_qs(query)["to"][0])
        elif path == "/redirect-with-body":
            # A 302 whose body never ends: following it must not read that body.
            h.send_response(302)
            h.send_header("Location", "/img.jpg")
            h.end_headers()
            self._stream(h, path, [b"\0" * (64 * 1024)] * (64 * 16), 0.0)
        elif path.startswith("/chain/"):
            left = int(path.rsplit("/", 1)[1])
            self._redirect(h, f"/chain/{left - 1}" if left > 1 else "/img.jpg")
        elif path in ("/huge", "/declared-huge"):
            h.send_response(200)
            h.send_header("Content-Type", "image/jpeg")
            if path == "/declared-huge":
                h.send_header("Content-Length", str(100 * MB))
            h.end_headers()
            self._stream(h, path, [b"\xff\xd8\xff\xe0" + b"\0" * (64 * 1024 - 4)] * (64 * 16), 0.0)
        elif path == "/slow":
            h.send_response(200)
            h.send_header("Content-Type", "image/jpeg")
            h.end_headers()
            self._stream(h, path, [b"\xff\xd8\xff\xe0"] + [b"\0"] * 100, 0.1)
        else:
            h.send_error(404)

    @staticmethod
    def _redirect(h: BaseHTTPRequestHandler, to: str) -> None:
        h.send_response(302)
        h.send_header("Location", to)
        h.send_header("Content-Length", "0")
        h.end_headers()

    def _stream(self, h: BaseHTTPRequestHandler, path: str, chunks: list[bytes], pause: float) -> None:
        sent = 0
        try:
            for chunk in chunks:
                h.wfile.write(chunk)
                h.wfile.flush()
                sent += len(chunk)
                time.sleep(pause)
        except OSError:
            pass  # the client hung up: that is what the tests want to see
        self.sent[path] = sent


class Recorder(httpx.AsyncBaseTransport):
    """Records every request the fetcher sends and routes ``routes`` addresses to loopback
    servers. It connects nowhere else, so a guard that regressed fails a test instead of
    sending traffic off this machine."""

    def __init__(self, routes: dict[str, Origin] | None = None) -> None:
        self.requests: list[httpx.Request] = []
        self.routes = routes or {}
        self._inner = httpx.AsyncHTTPTransport()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        origin = self.routes.get(request.url.host)
        if origin is not None:
            url = request.url.copy_with(host="127.0.0.1", port=origin.port)
            request = httpx.Request(
                request.method, url, headers=request.headers, extensions=request.extensions
            )
        elif not ipaddress.ip_address(request.url.host).is_loopback:
            raise httpx.ConnectError(f"test transport: {request.url.host} is not on this machine")
        return await self._inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self._inner.aclose()


class FakeResolver:
    def __init__(self, table: dict[str, list[str]]) -> None:
        self.table = table
        self.calls: list[str] = []

    async def __call__(self, host: str, port: int) -> list[str]:
        self.calls.append(host)
        answers = self.table.get(host)
        if answers is None:
            raise FetchError(f"cannot resolve {host}")
        # Rebinding: a name with several answers gives the next one on each lookup.
        return [answers[min(len(self.calls) - 1, len(answers) - 1)]] if host.startswith("rebind") else answers


def run_fetch(
    url: str, resolver: FakeResolver | None = None, transport: Recorder | None = None, **options: Any
) -> bytes:
    async def go() -> bytes:
        fetcher = Fetcher(resolver=resolver or FakeResolver({}), transport=transport or Recorder(), **options)
        try:
            return await fetcher.fetch(url)
        finally:
            await fetcher.aclose()

    return anyio.run(go)


def run(fn: Callable[[], Awaitable[T]]) -> T:
    return anyio.run(fn)


@pytest.fixture(scope="module")
def origin() -> Iterator[Origin]:
    server = Origin()
    yield server
    server.close()


@pytest.fixture(scope="module")
def origin6() -> Iterator[Origin]:
    server = Origin("::1")
    yield server
    server.close()


def hostile_urls(p: int, p6: int) -> list[str]:
    """URLs that must never be fetched: ``p`` is a live loopback server, ``p6`` one on ::1."""
    return [
        f"http://127.0.0.1:{p}/img.jpg",
        f"http://localhost:{p}/img.jpg",
        f"http://127.0.0.1.:{p}/img.jpg",
        f"http://[::1]:{p6}/img.jpg",
        f"http://[::ffff:127.0.0.1]:{p}/img.jpg",
        f"http://[::ffff:7f00:1]:{p}/img.jpg",
        f"http://[::127.0.0.1]:{p}/img.jpg",
        f"http://[64:ff9b::7f00:1]:{p}/img.jpg",
        f"http://[2002:7f00:1::]:{p}/img.jpg",
        f"http://0.0.0.0:{p}/img.jpg",
        f"http://0:{p}/img.jpg",
        f"http://2130706433:{p}/img.jpg",
        f"http://0x7f000001:{p}/img.jpg",
        f"http://017700000001:{p}/img.jpg",
        f"http://0177.0.0.1:{p}/img.jpg",
        f"http://0x7f.1:{p}/img.jpg",
        f"http://127.1:{p}/img.jpg",
        f"http://loopback.example:{p}/img.jpg",
        f"http://mixed.example:{p}/img.jpg",
        "http://10.0.0.1/img.jpg",
        "http://10.255.255.254:8080/img.jpg",
        "http://172.16.0.1/img.jpg",
        "http://172.31.255.254/img.jpg",
        "http://192.168.1.1/img.jpg",
        "http://internal.example/img.jpg",
        "http://100.64.0.1/img.jpg",
        "http://169.254.169.254/latest/meta-data/",
        "http://[fd00:ec2::254]/latest/meta-data/",
        "http://metadata.google.internal/computeMetadata/v1/",
        "http://100.100.100.200/latest/meta-data/",
        "http://[fe80::1]/img.jpg",
        "http://224.0.0.1/img.jpg",
        "http://255.255.255.255/img.jpg",
        "http://240.0.0.1/img.jpg",
        "http://[ff02::1]/img.jpg",
        "http://192.0.2.10/img.jpg",
        "http://1.2.3.4.5/img.jpg",
        "http://256.1.1.1/img.jpg",
        f"http://user:secret@{PUBLIC_IP}/img.jpg",
        "file:///etc/passwd",
        f"gopher://127.0.0.1:{p}/_GET%20/",
        f"dict://127.0.0.1:{p}/info",
        "ftp://example.com/img.jpg",
        "data:image/jpeg;base64,/9j/4AAQ",
        "javascript:alert(1)",
        "/img.jpg",
    ]


RESOLVER_TABLE = {
    "localhost": ["127.0.0.1", "::1"],
    "loopback.example": ["127.0.0.1"],
    "mixed.example": [PUBLIC_IP, "127.0.0.1"],
    "internal.example": ["10.20.30.40"],
    "metadata.google.internal": ["169.254.169.254"],
    "images.example": [PUBLIC_IP],
}


def test_hostile_urls_are_refused_before_any_connection(origin: Origin, origin6: Origin) -> None:
    urls = hostile_urls(origin.port, origin6.port)
    assert len(urls) >= 25
    before = (origin.connections, origin6.connections)
    for url in urls:
        transport = Recorder()
        with pytest.raises(UnsafeURLError) as caught:
            run_fetch(url, FakeResolver(RESOLVER_TABLE), transport)
        assert transport.requests == [], url
        assert "secret" not in str(caught.value)
        # Even with private networks allowed, metadata endpoints and odd schemes stay shut.
        if "metadata" in url or "169.254" in url or "100.100.100.200" in url or not url.startswith("http"):
            with pytest.raises(UnsafeURLError):
                run_fetch(url, FakeResolver(RESOLVER_TABLE), transport, allow_private_networks=True)
            assert transport.requests == [], url
    assert (origin.connections, origin6.connections) == before


@pytest.mark.parametrize(
    ("host", "address"),
    [
        ("2130706433", "127.0.0.1"),
        ("0x7f000001", "127.0.0.1"),
        ("017700000001", "127.0.0.1"),
        ("0177.0.0.1", "127.0.0.1"),
        ("127.1", "127.0.0.1"),
        ("10.1", "10.0.0.1"),
        ("192.168.257", "192.168.1.1"),
        ("0x7f.0x0.0.1", "127.0.0.1"),
        ("0", "0.0.0.0"),
        ("8.8.8.8.", "8.8.8.8"),
        ("[::ffff:127.0.0.1]", "::ffff:7f00:1"),
    ],
)
def test_odd_ipv4_spellings_are_normalised(host: str, address: str) -> None:
    assert parse_ip_host(host) == ipaddress.ip_address(address)


@pytest.mark.parametrize("host", ["example.com", "cdn-1.images.example", "0x7f.example", "deadbeef"])
def test_hostnames_are_left_to_the_resolver(host: str) -> None:
    assert parse_ip_host(host) is None


@pytest.mark.parametrize(
    ("address", "reach"),
    [
        ("8.8.8.8", "public"),
        (PUBLIC_IP, "public"),
        ("2606:4700:4700::1111", "public"),
        ("::ffff:8.8.8.8", "public"),
        ("127.0.0.1", "private"),
        ("::1", "private"),
        ("10.1.2.3", "private"),
        ("fd12:3456::1", "private"),
        ("100.64.0.1", "private"),
        ("169.254.169.254", "blocked"),
        ("fd00:ec2::254", "blocked"),
        ("0.0.0.0", "blocked"),
        ("::", "blocked"),
        ("239.255.255.250", "blocked"),
        ("2001:db8::1", "blocked"),
        ("2001:0:4136:e378::1", "blocked"),
    ],
)
def test_address_classes(address: str, reach: str) -> None:
    assert classify(ipaddress.ip_address(address)) == reach


def test_sniff_recognises_the_supported_signatures() -> None:
    heads = {
        b"\xff\xd8\xff\xe0\0\0JFIF\0\0": "JPEG",
        b"\x89PNG\r\n\x1a\n\0\0\0\0": "PNG",
        b"GIF89a\0\0\0\0\0\0": "GIF",
        b"RIFF\0\0\0\0WEBPVP8 ": "WEBP",
        b"BM\0\0\0\0\0\0\0\0\0\0": "BMP",
        b"II*\0\0\0\0\0\0\0\0\0": "TIFF",
    }
    for head, fmt in heads.items():
        assert sniff_image(head) == fmt
    assert sniff_image(b"<!DOCTYPE html>") is None
    assert sniff_image(b"RIFF\0\0\0\0WAVEfmt ") is None


def test_allowed_private_fetch_returns_the_bytes(origin: Origin) -> None:
    data = run_fetch(f"{origin.base}/img.jpg", allow_private_networks=True)
    assert data == origin.files["/img.jpg"][0]


def test_connects_to_the_vetted_address_with_the_name_in_host_and_sni(origin: Origin) -> None:
    transport = Recorder({PUBLIC_IP: origin})
    resolver = FakeResolver(RESOLVER_TABLE)
    data = run_fetch("http://images.example/img.jpg", resolver, transport)
    assert data == origin.files["/img.jpg"][0]
    (request,) = transport.requests
    assert request.url.host == PUBLIC_IP
    assert request.headers["host"] == "images.example"
    assert origin.hosts[-1] == "images.example"

    async def vet() -> tuple[str, str | None, str]:
        fetcher = Fetcher(resolver=resolver)
        hop = await fetcher.vet(httpx.URL("https://images.example:8443/a.jpg"))
        await fetcher.aclose()
        return hop.url.host, hop.sni, hop.host_header

    assert run(vet) == (PUBLIC_IP, "images.example", "images.example:8443")


def test_dns_rebinding_cannot_swap_the_address(origin: Origin) -> None:
    """The name answers a public address first and loopback after: the fetcher looks it up
    once and connects to the address it vetted."""
    resolver = FakeResolver({"rebind.example": [PUBLIC_IP, "127.0.0.1"]})
    transport = Recorder({PUBLIC_IP: origin})
    run_fetch("http://rebind.example/img.jpg", resolver, transport)
    assert resolver.calls == ["rebind.example"]
    assert [r.url.host for r in transport.requests] == [PUBLIC_IP]


@pytest.mark.parametrize(
    "to",
    [
        "http://127.0.0.1:{target}/img.jpg",
        "http://2130706433:{target}/img.jpg",
        "http://loopback.example:{target}/img.jpg",
        "http://169.254.169.254/latest/meta-data/",
        "http://metadata.google.internal/computeMetadata/v1/",
        "file:///etc/passwd",
    ],
)
def test_redirect_to_a_private_address_is_refused(origin: Origin, to: str) -> None:
    """A public-looking URL (its address routed to a loopback server) answers 302 to a
    private target; the target must see no connection."""
    target = Origin()
    try:
        location = urllib.parse.quote(to.format(target=target.port), safe="")
        transport = Recorder({PUBLIC_IP: origin})
        with pytest.raises(UnsafeURLError):
            run_fetch(
                f"http://images.example/redirect?to={location}", FakeResolver(RESOLVER_TABLE), transport
            )
        assert [r.url.host for r in transport.requests] == [PUBLIC_IP]
        assert target.connections == 0
    finally:
        target.close()


def test_metadata_stays_blocked_behind_a_redirect_with_private_networks_allowed(origin: Origin) -> None:
    transport = Recorder()
    location = urllib.parse.quote("http://169.254.169.254/latest/meta-data/", safe="")
    with pytest.raises(UnsafeURLError):
        run_fetch(f"{origin.base}/redirect?to={location}", transport=transport, allow_private_networks=True)
    assert len(transport.requests) == 1


def test_redirects_are_followed_up_to_the_limit(origin: Origin) -> None:
    assert run_fetch(f"{origin.base}/chain/3", allow_private_networks=True) == origin.files["/img.jpg"][0]
    with pytest.raises(FetchError, match="more than 3 redirects"):
        run_fetch(f"{origin.base}/chain/4", allow_private_networks=True)


def test_a_redirect_body_is_never_read(origin: Origin) -> None:
    data = run_fetch(f"{origin.base}/redirect-with-body", allow_private_networks=True)
    assert data == origin.files["/img.jpg"][0]
    deadline = time.monotonic() + 5
    while "/redirect-with-body" not in origin.sent and time.monotonic() < deadline:
        time.sleep(0.05)
    assert origin.sent["/redirect-with-body"] < 16 * MB


def test_a_body_over_the_limit_is_cut_off_early(origin: Origin) -> None:
    start = time.perf_counter()
    with pytest.raises(RemoteTooLargeError):
        run_fetch(f"{origin.base}/huge", allow_private_networks=True)
    assert time.perf_counter() - start < 10
    deadline = time.monotonic() + 5
    while "/huge" not in origin.sent and time.monotonic() < deadline:
        time.sleep(0.05)
    # The server had 64 MB to send; the fetcher hung up after 15 MB (plus socket buffers).
    assert 15 * MB < origin.sent["/huge"] < 32 * MB


def test_a_declared_oversized_body_is_refused_before_reading(origin: Origin) -> None:
    with pytest.raises(RemoteTooLargeError, match="104857600 bytes"):
        run_fetch(f"{origin.base}/declared-huge", allow_private_networks=True)


def test_a_configurable_byte_limit(origin: Origin) -> None:
    with pytest.raises(RemoteTooLargeError):
        run_fetch(f"{origin.base}/huge", allow_private_networks=True, max_bytes=MB)


def test_a_trickling_server_hits_the_deadline(origin: Origin) -> None:
    start = time.perf_counter()
    with pytest.raises(FetchTimeoutError):
        run_fetch(f"{origin.base}/slow", allow_private_networks=True, timeout_s=0.5)
    assert time.perf_counter() - start < 2.0


def test_content_that_is_not_an_image_is_refused(origin: Origin) -> None:
    origin.files["/page.html"] = (b"<!DOCTYPE html><html>" + b" " * 100_000, "text/html")
    with pytest.raises(UnsupportedFormatError, match="text/html"):
        run_fetch(f"{origin.base}/page.html", allow_private_networks=True)


def test_http_errors_and_unreachable_hosts_are_fetch_errors(origin: Origin) -> None:
    with pytest.raises(FetchError, match="HTTP 404"):
        run_fetch(f"{origin.base}/missing.jpg", allow_private_networks=True)
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()
    with pytest.raises(FetchError) as caught:
        run_fetch(f"http://127.0.0.1:{port}/img.jpg", allow_private_networks=True)
    assert caught.value.code == "fetch_failed"
