"""Keyless use of the playground page, without opening the catalog to the network.

A browser on the server's own machine (or anywhere, with ``LOOKALIKE_PLAYGROUND=open``) gets
a short-lived token from ``POST /playground/token`` instead of an API key. The token:

- is signed by the server (HMAC-SHA256 with a secret made when the process starts, so a
  restart revokes every token) and expires after ``playground_token_ttl_s``;
- is bound to the page's origin: it is issued only to a same-origin request (``Origin``
  matches ``Host``) and accepted only with that ``Origin`` again;
- opens ``POST /image/match`` and ``POST /image/search`` only, sent as ``x-playground-token``,
  and, on the server's own machine only (``loopback``), ``POST /feedback`` (the page's review
  buttons); every other route still needs a key;
- is rate limited per client (``playground_rate_per_minute``, minting included).

"Loopback" is judged per request, not by the address the server listens on: the client
must be a loopback address, the ``Host`` header a loopback name (a DNS-rebinding page on
another name gets no token), and no proxy header may be present (a reverse proxy on the
same machine would otherwise make the whole network look local).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable
from urllib.parse import urlsplit

from starlette.requests import Request

from ..errors import ForbiddenError, InvalidAPIKeyError, RateLimitedError, TokenExpiredError
from .settings import Settings

__all__ = ["TOKEN_HEADER", "TOKEN_ROUTES", "VERDICT_ROUTE", "Playground", "RateLimiter"]

TOKEN_HEADER = "x-playground-token"
#: The routes a playground token opens (documentation; the app wires them).
TOKEN_ROUTES = ("/image/match", "/image/search")
#: Opened to a token only on the server's own machine (``loopback``): a verdict changes what
#: later searches and gates return, and a playground open to anyone must not let a seller
#: dismiss the match of their own listing.
VERDICT_ROUTE = "/feedback"
_PREFIX = "lkpg1"
_LOOPBACK_NAMES = {"localhost", "localhost.", "ip6-localhost"}
_PROXY_HEADERS = ("forwarded", "x-forwarded-for", "x-forwarded-host", "x-real-ip")


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _is_loopback_host(host: str) -> bool:
    host = host.strip("[]").lower()
    if host in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _hostname(netloc: str) -> str:
    """``host`` of ``host:port`` (IPv6 literals in brackets)."""
    return urlsplit(f"//{netloc}").hostname or ""


class RateLimiter:
    """At most ``per_minute`` events per client in any 60-second window."""

    def __init__(
        self, per_minute: int, clock: Callable[[], float] = time.monotonic, max_clients: int = 10_000
    ) -> None:
        self.per_minute = per_minute
        self._clock = clock
        self._max_clients = max_clients
        self._events: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def hit(self, client: str) -> None:
        now = self._clock()
        with self._lock:
            window = self._events.get(client)
            if window is None:
                if len(self._events) >= self._max_clients:
                    self._prune(now)
                window = self._events[client] = deque()
            while window and now - window[0] >= 60:
                window.popleft()
            if len(window) >= self.per_minute:
                wait = max(1, round(60 - (now - window[0])))
                raise RateLimitedError(
                    f"too many playground requests: at most {self.per_minute} a minute; "
                    f"try again in {wait} s (or use an API key)"
                )
            window.append(now)

    def _prune(self, now: float) -> None:
        for client in [c for c, w in self._events.items() if not w or now - w[-1] >= 60]:
            del self._events[client]
        while len(self._events) >= self._max_clients:  # all busy: drop the oldest
            del self._events[next(iter(self._events))]


class Playground:
    """The token issuer and checker of one server process."""

    def __init__(
        self,
        settings: Settings,
        clock: Callable[[], float] = time.time,
        secret: bytes | None = None,
    ) -> None:
        self.mode = settings.playground
        self.ttl_s = settings.playground_token_ttl_s
        self.limiter = RateLimiter(settings.playground_rate_per_minute)
        self._clock = clock
        self._secret = secret or secrets.token_bytes(32)

    # -- who may go without a key ------------------------------------------------------

    def keyless_refusal(self, request: Request) -> str | None:
        """None when ``request`` may use the playground without a key, else why not."""
        if self.mode == "open":
            return None
        if self.mode != "loopback":
            return "this server asks for an API key (LOOKALIKE_PLAYGROUND=key)"
        client = request.client.host if request.client else ""
        local = (
            _is_loopback_host(client)
            and _is_loopback_host(_hostname(request.headers.get("host", "")))
            and not any(h in request.headers for h in _PROXY_HEADERS)
        )
        if not local:
            return (
                "no key is needed only on the server's own machine (loopback); from elsewhere "
                "use an API key (or start the server with LOOKALIKE_PLAYGROUND=open)"
            )
        return None

    @staticmethod
    def same_origin(request: Request) -> str:
        """The request's ``Origin`` when it is the server's own (its ``Host``), else refuse."""
        origin = request.headers.get("origin")
        host = request.headers.get("host")
        if not origin or not host or urlsplit(origin).netloc.lower() != host.lower():
            raise ForbiddenError("playground tokens are issued to the playground page only (same origin)")
        return origin

    # -- tokens ------------------------------------------------------------------------

    def _sign(self, payload: str) -> str:
        return _b64(hmac.new(self._secret, payload.encode(), hashlib.sha256).digest())

    def issue(self, request: Request) -> tuple[str, int]:
        """A token for the page at this request's origin, and its life in seconds."""
        origin = self.same_origin(request)
        refusal = self.keyless_refusal(request)
        if refusal is not None:
            raise ForbiddenError(refusal)
        self.limiter.hit(self._client(request))
        expires = int(self._clock()) + self.ttl_s
        payload = f"{_PREFIX}.{expires}.{_b64(origin.encode())}.{_b64(secrets.token_bytes(9))}"
        return f"{payload}.{self._sign(payload)}", self.ttl_s

    def routes(self) -> list[str]:
        """What a token opens on this server."""
        return [*TOKEN_ROUTES, *([VERDICT_ROUTE] if self.mode == "loopback" else [])]

    def check_verdict(self, token: str, request: Request) -> None:
        """:meth:`check`, for ``VERDICT_ROUTE``: only a ``loopback`` playground's token."""
        if self.mode != "loopback":
            raise ForbiddenError("a playground open to anyone does not record verdicts: send an API key")
        self.check(token, request)

    def check(self, token: str, request: Request) -> None:
        """Accept ``token`` for this request or raise (401 bad or expired, 403 wrong origin or
        no longer keyless, 429 over the rate)."""
        parts = token.split(".")
        if len(parts) != 5 or parts[0] != _PREFIX:
            raise InvalidAPIKeyError("invalid playground token")
        payload, signature = ".".join(parts[:4]), parts[4]
        if not hmac.compare_digest(self._sign(payload), signature):
            raise InvalidAPIKeyError("invalid playground token")
        if int(parts[1]) <= self._clock():
            raise TokenExpiredError("playground token expired: reload the page or ask for a new one")
        try:
            origin = _unb64(parts[2]).decode()
        except ValueError:
            raise InvalidAPIKeyError("invalid playground token") from None
        if request.headers.get("origin") != origin:
            raise ForbiddenError("this playground token belongs to another origin")
        refusal = self.keyless_refusal(request)
        if refusal is not None:
            raise ForbiddenError(refusal)
        self.limiter.hit(self._client(request))

    @staticmethod
    def _client(request: Request) -> str:
        return request.client.host if request.client else "unknown"
