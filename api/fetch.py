"""The safe URL fetcher: every URL a client sends is treated as hostile.

The rules live in :class:`GuardTransport`, the transport under the fetcher's httpx client,
so they hold for every hop httpx sends: the URL, then each redirect httpx follows (at most
``max_redirects``). For each: http/https only, no credentials in the URL, the host
normalised and resolved once, *every* address it resolves to vetted
(:mod:`lookalike.api.addresses`), and the connection made to the vetted address itself,
with the original name only in the ``Host`` header and the TLS SNI (which is also what the
certificate is checked against). No second lookup happens, so a DNS answer that changes
between check and connect (rebinding) cannot steer the request elsewhere. A redirect's
own body is never read.

The image body is streamed: refused early by ``Content-Length``, cut off past
``max_bytes``, and abandoned unless its first bytes carry the signature of a supported
format (:mod:`lookalike.embed.formats`). One deadline covers the whole fetch, redirects
included, so a server that trickles bytes cannot hold a worker.
"""

from __future__ import annotations

import re
import socket
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

import anyio
import httpx

from ..embed.decode import DEFAULT_MAX_BYTES
from ..embed.formats import SNIFF_BYTES, sniff_format, sniff_video
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

__all__ = ["Fetcher", "GuardTransport", "Hop", "Resolver", "sniff_image", "system_resolver"]

#: host, port -> the addresses it resolves to (injectable so tests need no DNS).
Resolver = Callable[[str, int], Awaitable[Sequence[str]]]

_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_HOSTNAME = re.compile(r"^[a-z0-9_-]+(?:\.[a-z0-9_-]+)*$")
_HEADERS = {"Accept": "image/*", "Accept-Encoding": "identity", "User-Agent": "lookalike-fetcher"}

#: The image format the first bytes announce, or None.
sniff_image = sniff_format


async def system_resolver(host: str, port: int) -> list[str]:
    try:
        infos = await anyio.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise FetchError(f"cannot resolve {host}: {exc.strerror or exc}") from exc
    return [str(info[4][0]) for info in infos]


@dataclass(frozen=True)
class _Target:
    """What a URL names, before any lookup: its normalised host, and the address when the
    host is one."""

    host: str
    port: int
    label: str
    literal: IPAddress | None


@dataclass(frozen=True)
class Hop:
    """One vetted request: the URL with the host replaced by the address to connect to."""

    url: httpx.URL
    host_header: str
    sni: str | None
    label: str


class GuardTransport(httpx.AsyncBaseTransport):
    """Vets every request before ``inner`` sends it, and sends it to the vetted address.

    Raises :class:`~lookalike.errors.UnsafeURLError` for a refused hop (before anything is
    sent) and :class:`~lookalike.errors.FetchError` for a transport failure; timeouts stay
    httpx's so the fetcher can report them as such.
    """

    def __init__(
        self,
        inner: httpx.AsyncBaseTransport | None = None,
        *,
        resolver: Resolver = system_resolver,
        allow_private_networks: bool = False,
    ) -> None:
        # No keep-alive: a pooled connection is keyed by address, and must not be reused
        # for another hostname's SNI.
        self._inner = inner or httpx.AsyncHTTPTransport(limits=httpx.Limits(max_keepalive_connections=0))
        self._resolve = resolver
        self.allow_private_networks = allow_private_networks

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        hop = await self.vet(request.url)
        headers = request.headers.copy()
        headers["Host"] = hop.host_header
        extensions = dict(request.extensions)
        if hop.sni:
            extensions["sni_hostname"] = hop.sni
        vetted = httpx.Request(
            request.method, hop.url, headers=headers, stream=request.stream, extensions=extensions
        )
        try:
            response = await self._inner.handle_async_request(vetted)
        except httpx.TimeoutException:
            raise
        except httpx.HTTPError as exc:
            raise FetchError(f"{hop.label}: {type(exc).__name__}: {exc}") from exc
        if response.status_code in _REDIRECTS and "location" in response.headers:
            # httpx reads a redirect's body before following it: hand it none to read.
            await response.aclose()
            return httpx.Response(
                response.status_code, headers=response.headers, extensions=response.extensions
            )
        return response

    async def aclose(self) -> None:
        await self._inner.aclose()

    def target(self, url: httpx.URL) -> _Target:
        """The checks that need no lookup; raises UnsafeURLError."""
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
            self._check(literal, label)
        elif not _HOSTNAME.match(host):
            raise UnsafeURLError(f"{label}: host is not a valid hostname")
        elif host in BLOCKED_HOSTNAMES:
            raise UnsafeURLError(f"{label}: cloud metadata endpoints are never fetched")
        return _Target(host, port, label, literal)

    async def vet(self, url: httpx.URL) -> Hop:
        """Check one hop and pick the address to connect to; raises UnsafeURLError."""
        target = self.target(url)
        if target.literal is not None:
            addresses: list[IPAddress] = [target.literal]
        else:
            addresses = [_address(a, target.label) for a in await self._resolve(target.host, target.port)]
            if not addresses:
                raise FetchError(f"{target.label}: the name resolves to no address")
            for address in addresses:
                self._check(address, target.label)
        return Hop(
            url=url.copy_with(host=str(addresses[0])),
            host_header=target.host if url.port is None else f"{target.host}:{url.port}",
            sni=target.host if target.literal is None and url.scheme == "https" else None,
            label=target.label,
        )

    def _check(self, address: IPAddress, label: str) -> None:
        reach = classify(address)
        if reach == "public" or (reach == "private" and self.allow_private_networks):
            return
        why = "a private or loopback address" if reach == "private" else "a blocked address"
        raise UnsafeURLError(f"{label} resolves to {why} ({address}); only public hosts are fetched")


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
        """``transport`` is what sends the vetted requests (tests pass a recording one)."""
        self.max_bytes = max_bytes
        self.timeout_s = timeout_s
        self.max_redirects = max_redirects
        self.guard = GuardTransport(
            transport, resolver=resolver, allow_private_networks=allow_private_networks
        )
        # No environment proxies: they would skip the vetting.
        self._client = httpx.AsyncClient(
            transport=self.guard,
            trust_env=False,
            follow_redirects=True,
            max_redirects=max_redirects,
            timeout=timeout_s,
            headers=_HEADERS,
        )

    @property
    def allow_private_networks(self) -> bool:
        return self.guard.allow_private_networks

    async def aclose(self) -> None:
        await self._client.aclose()

    async def vet(self, url: httpx.URL) -> Hop:
        return await self.guard.vet(url)

    async def fetch(self, url: str, *, video: bool = False, max_bytes: int | None = None) -> bytes:
        """The image bytes at ``url`` (``video``: a video's, under ``max_bytes``), or a
        :class:`~lookalike.errors.FetchError`."""
        parsed = _parse(url)
        # A URL httpx itself would refuse (no scheme, an odd one) gets the guard's answer.
        self.guard.target(parsed)
        try:
            with anyio.fail_after(self.timeout_s):
                async with self._client.stream("GET", parsed) as response:
                    label = _label(response.url)
                    if not response.is_success:
                        raise FetchError(f"{label} answered HTTP {response.status_code}")
                    return await self._read(response, label, video, max_bytes or self.max_bytes)
        except (TimeoutError, httpx.TimeoutException) as exc:
            raise FetchTimeoutError(
                f"{_label(parsed)}: no complete answer within {self.timeout_s:g} s"
            ) from exc
        except httpx.TooManyRedirects as exc:
            raise FetchError(f"{_label(exc.request.url)}: more than {self.max_redirects} redirects") from exc
        except httpx.HTTPError as exc:
            raise FetchError(f"{_label(parsed)}: {type(exc).__name__}: {exc}") from exc

    async def _read(self, response: httpx.Response, label: str, video: bool, max_bytes: int) -> bytes:
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > max_bytes:
            raise RemoteTooLargeError(f"{label}: {declared} bytes is over the {max_bytes}-byte limit")
        if response.headers.get("content-encoding", "identity").lower() not in ("", "identity"):
            raise FetchError(f"{label}: sent a content-encoded body although none was accepted")
        body = bytearray()
        async for chunk in response.aiter_raw():
            sniffed_before = len(body) >= SNIFF_BYTES
            body += chunk
            if len(body) > max_bytes:
                raise RemoteTooLargeError(f"{label}: body is over the {max_bytes}-byte limit")
            if not sniffed_before and len(body) >= SNIFF_BYTES:
                self._require_image(bytes(body[:SNIFF_BYTES]), response, label, video)
        if not body:
            raise EmptyImageError(f"{label}: empty body")
        if len(body) < SNIFF_BYTES:
            self._require_image(bytes(body), response, label, video)
        return bytes(body)

    @staticmethod
    def _require_image(head: bytes, response: httpx.Response, label: str, video: bool = False) -> None:
        if video:
            if sniff_video(head) is None:
                kind = response.headers.get("content-type", "unknown type")
                raise UnsupportedFormatError(f"{label}: the content is not a supported video ({kind[:60]})")
            return
        if sniff_format(head) is None:
            kind = response.headers.get("content-type", "unknown type")
            raise UnsupportedFormatError(f"{label}: the content is not a supported image ({kind[:60]})")


def _parse(url: str) -> httpx.URL:
    try:
        return httpx.URL(url)
    except (httpx.InvalidURL, ValueError) as exc:
        raise UnsafeURLError(f"not a valid URL: {exc}") from exc


def _address(text: str, label: str) -> IPAddress:
    try:
        address = parse_ip_host(text.split("%", 1)[0])
    except LookalikeError:
        address = None
    if address is None:
        raise FetchError(f"{label}: the resolver returned {text!r}, not an address")
    return address


def _label(url: httpx.URL) -> str:
    return f"{url.scheme}://{url.raw_host.decode('ascii', 'replace').rstrip('.').lower()}"
