"""The safe URL fetcher: every URL a client sends is treated as hostile.

For each hop (the URL, then each redirect, at most ``max_redirects``): http/https only, no
credentials in the URL, the host normalised and resolved once, *every* address it resolves
to vetted (:mod:`lookalike.api.addresses`), and the connection made to the vetted address
itself, with the original name only in the ``Host`` header and the TLS SNI (which is also
what the certificate is checked against). No second lookup happens, so a DNS answer that
changes between check and connect (rebinding) cannot steer the request elsewhere.

The body is streamed: refused early by ``Content-Length``, cut off past ``max_bytes``, and
abandoned unless its first bytes carry an image signature. One deadline covers the whole
fetch, redirects included, so a server that trickles bytes cannot hold a worker.
"""

from __future__ import annotations

import re
import socket
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

import anyio
import httpx

from ..embed.decode import DEFAULT_MAX_BYTES
from ..errors import (
    EmptyImageError,
    FetchError,
    FetchTimeoutError,
    LookalikeError,
    RemoteTooLargeError,
    UnsafeURLError,
    UnsupportedFormatError,
)
from .addresses import BLOCKED_HOSTNAMES, IPAddress, classify, parse_ip_host

__all__ = ["Fetcher", "Resolver", "sniff_image", "system_resolver"]

#: host, port -> the addresses it resolves to (injectable so tests need no DNS).
Resolver = Callable[[str, int], Awaitable[Sequence[str]]]

_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_HOSTNAME = re.compile(r"^[a-z0-9_-]+(?:\.[a-z0-9_-]+)*$")
_SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (b"\xff\xd8\xff", "JPEG"),
    (b"\x89PNG\r\n\x1a\n", "PNG"),
    (b"GIF87a", "GIF"),
    (b"GIF89a", "GIF"),
    (b"BM", "BMP"),
    (b"II*\x00", "TIFF"),
    (b"MM\x00*", "TIFF"),
)
_SNIFF_BYTES = 12


def sniff_image(head: bytes) -> str | None:
    """The image format the first bytes announce, or None."""
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "WEBP"
    return next((fmt for magic, fmt in _SIGNATURES if head.startswith(magic)), None)


async def system_resolver(host: str, port: int) -> list[str]:
    try:
        infos = await anyio.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise FetchError(f"cannot resolve {host}: {exc.strerror or exc}") from exc
    return [str(info[4][0]) for info in infos]


@dataclass(frozen=True)
class _Hop:
    """One vetted request: the URL with the host replaced by the address to connect to."""

    url: httpx.URL
    host_header: str
    sni: str | None
    label: str


class Fetcher:
    def __init__(
        self,
        *,
        allow_private_networks: bool = False,
        max_bytes: int = DEFAULT_MAX_BYTES,
        timeout_s: float = 10.0,
        max_redirects: int = 3,
        resolver: Resolver = system_resolver,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.allow_private_networks = allow_private_networks
        self.max_bytes = max_bytes
        self.timeout_s = timeout_s
        self.max_redirects = max_redirects
        self._resolve = resolver
        # No keep-alive: a pooled connection is keyed by address, and must not be reused
        # for another hostname's SNI. No environment proxies: they would skip the vetting.
        self._client = httpx.AsyncClient(
            transport=transport or httpx.AsyncHTTPTransport(limits=httpx.Limits(max_keepalive_connections=0)),
            trust_env=False,
            follow_redirects=False,
            timeout=timeout_s,
        )

    async def aclose(self) -> None:
        await self._client.aclose()

    async def fetch(self, url: str) -> bytes:
        """The image bytes at ``url``, or a :class:`~lookalike.errors.FetchError`."""
        try:
            with anyio.fail_after(self.timeout_s):
                return await self._follow(_parse(url))
        except (TimeoutError, httpx.TimeoutException) as exc:
            raise FetchTimeoutError(f"{_label(url)}: no complete answer within {self.timeout_s:g} s") from exc

    async def _follow(self, url: httpx.URL) -> bytes:
        for _ in range(self.max_redirects + 1):
            hop = await self.vet(url)
            try:
                async with self._client.stream(
                    "GET",
                    hop.url,
                    headers={
                        "Host": hop.host_header,
                        "Accept": "image/*",
                        "Accept-Encoding": "identity",
                        "User-Agent": "lookalike-fetcher",
                    },
                    extensions={"sni_hostname": hop.sni} if hop.sni else {},
                ) as response:
                    location = response.headers.get("location")
                    if response.status_code in _REDIRECTS and location:
                        url = _parse_join(url, location)
                        continue
                    if not response.is_success:
                        raise FetchError(f"{hop.label} answered HTTP {response.status_code}")
                    return await self._read(response, hop.label)
            except httpx.TimeoutException:
                raise
            except httpx.HTTPError as exc:
                raise FetchError(f"{hop.label}: {type(exc).__name__}: {exc}") from exc
        raise FetchError(f"{_label(str(url))}: more than {self.max_redirects} redirects")

    async def vet(self, url: httpx.URL) -> _Hop:
        """Check one hop and pick the address to connect to; raises UnsafeURLError."""
        if url.scheme not in ("http", "https"):
            raise UnsafeURLError(f"scheme {url.scheme or '(none)'!r} is not allowed: use http or https")
        if url.userinfo:
            raise UnsafeURLError("credentials in URLs are not accepted")
        host = url.raw_host.decode("ascii", "replace").rstrip(".").lower()
        if not host:
            raise UnsafeURLError("URL has no host")
        port = url.port or (443 if url.scheme == "https" else 80)
        label = f"{url.scheme}://{host}"
        literal = parse_ip_host(host)
        if literal is not None:
            addresses: list[IPAddress] = [literal]
        else:
            if not _HOSTNAME.match(host):
                raise UnsafeURLError(f"{label}: host is not a valid hostname")
            if host in BLOCKED_HOSTNAMES:
                raise UnsafeURLError(f"{label}: cloud metadata endpoints are never fetched")
            addresses = [_address(a, label) for a in await self._resolve(host, port)]
            if not addresses:
                raise FetchError(f"{label}: the name resolves to no address")
        for address in addresses:
            self._check(address, label)
        chosen = addresses[0]
        return _Hop(
            url=url.copy_with(host=str(chosen)),
            host_header=host if url.port is None else f"{host}:{url.port}",
            sni=host if literal is None and url.scheme == "https" else None,
            label=label,
        )

    def _check(self, address: IPAddress, label: str) -> None:
        reach = classify(address)
        if reach == "public" or (reach == "private" and self.allow_private_networks):
            return
        why = "a private or loopback address" if reach == "private" else "a blocked address"
        raise UnsafeURLError(f"{label} resolves to {why} ({address}); only public hosts are fetched")

    async def _read(self, response: httpx.Response, label: str) -> bytes:
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > self.max_bytes:
            raise RemoteTooLargeError(f"{label}: {declared} bytes is over the {self.max_bytes}-byte limit")
        if response.headers.get("content-encoding", "identity").lower() not in ("", "identity"):
            raise FetchError(f"{label}: sent a content-encoded body although none was accepted")
        body = bytearray()
        async for chunk in response.aiter_raw():
            sniffed_before = len(body) >= _SNIFF_BYTES
            body += chunk
            if len(body) > self.max_bytes:
                raise RemoteTooLargeError(f"{label}: body is over the {self.max_bytes}-byte limit")
            if not sniffed_before and len(body) >= _SNIFF_BYTES:
                self._require_image(bytes(body[:_SNIFF_BYTES]), response, label)
        if not body:
            raise EmptyImageError(f"{label}: empty body")
        if len(body) < _SNIFF_BYTES:
            self._require_image(bytes(body), response, label)
        return bytes(body)

    @staticmethod
    def _require_image(head: bytes, response: httpx.Response, label: str) -> None:
        if sniff_image(head) is None:
            kind = response.headers.get("content-type", "unknown type")
            raise UnsupportedFormatError(f"{label}: the content is not a supported image ({kind[:60]})")


def _parse(url: str) -> httpx.URL:
    try:
        return httpx.URL(url)
    except (httpx.InvalidURL, ValueError) as exc:
        raise UnsafeURLError(f"not a valid URL: {exc}") from exc


def _parse_join(base: httpx.URL, location: str) -> httpx.URL:
    try:
        return base.join(location)
    except (httpx.InvalidURL, ValueError) as exc:
        raise FetchError(f"redirect to an invalid URL: {exc}") from exc


def _address(text: str, label: str) -> IPAddress:
    try:
        address = parse_ip_host(text.split("%", 1)[0])
    except LookalikeError:
        address = None
    if address is None:
        raise FetchError(f"{label}: the resolver returned {text!r}, not an address")
    return address


def _label(url: str) -> str:
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, ValueError):
        return "URL"
    return f"{parsed.scheme}://{parsed.host}"
