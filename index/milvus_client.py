"""One connection to Milvus (a server, or Milvus Lite's file), and the boundary where its
errors become lookalike's.

Every client call goes through :meth:`MilvusConnection.call`, with a deadline
(:data:`CALL_TIMEOUT`; pymilvus retries inside it while the server answers UNAVAILABLE). A
call that fails because the server cannot be reached (refused, past its deadline, or up but
not serving yet after a restart) is tried again a bounded number of times
(:data:`RETRY_PAUSES`); when the server is still away it raises
:class:`~lookalike.errors.StoreUnavailableError` (HTTP 503 ``store_unavailable``), so that a
request never waits long and a later one finds the server back: pymilvus keeps one channel
per address and reconnects it by itself. Any other Milvus error is an
:class:`~lookalike.errors.IndexStoreError`.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

from ..errors import IndexStoreError, StoreUnavailableError
from .uri import StoreAddress

__all__ = ["TOKEN_ENV", "MilvusConnection"]

logger = logging.getLogger("lookalike.index")

TOKEN_ENV = "LOOKALIKE_MILVUS_TOKEN"
T = TypeVar("T")

#: Pauses between the tries of one call (seconds): three tries.
RETRY_PAUSES = (0.5, 1.0)
#: The deadline of one client call, and of connecting (seconds). A call on a server that is
#: down fails at once (refused); this bounds one on a server that is starting or stuck, so
#: one call gives up within 3 x 5 + 1.5 s at worst.
CALL_TIMEOUT = 5.0
#: The deadline of creating or loading a collection, which waits for the query nodes.
SLOW_CALL_TIMEOUT = 120.0
# What a server says while it is down or still starting after a restart (gRPC UNAVAILABLE,
# pymilvus' connection failure, and the coordinators and query nodes not serving yet).
_UNAVAILABLE_CODES = frozenset({2, 503})
_UNAVAILABLE_WORDS = (
    "unavailable",
    "fail connecting",
    "connection refused",
    "deadline exceeded",
    "not ready",
    "not healthy",
    "is not serving",
    "no available",
    "not loaded",
    "channel not available",
    "shard leader",
    # A restarted server loads its collections again before it answers searches.
    "loading collection",
    "retry timeout",
)


def _unreachable(exc: Exception) -> bool:
    import grpc
    from pymilvus.exceptions import MilvusException

    if isinstance(exc, grpc.RpcError):
        return True
    if not isinstance(exc, MilvusException):
        return False
    text = str(exc).lower()
    return getattr(exc, "code", None) in _UNAVAILABLE_CODES or any(w in text for w in _UNAVAILABLE_WORDS)


class _Deadline:
    """The client, with a deadline on every method call that names none."""

    def __init__(self, client: Any, timeout: float) -> None:
        self._client = client
        self._timeout = timeout

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._client, name)

        def bounded(*args: Any, **kwargs: Any) -> Any:
            kwargs.setdefault("timeout", self._timeout)
            return method(*args, **kwargs)

        return bounded


class MilvusConnection:
    """A MilvusClient behind retries: ``call(what, fn)`` runs ``fn(client)``."""

    def __init__(self, address: StoreAddress, pauses: tuple[float, ...] = RETRY_PAUSES) -> None:
        self.address = address
        self._pauses = pauses
        self._lock = threading.Lock()
        #: Run with the client before each retry (the caller reloads its collections, which a
        #: restarted server may not have loaded yet).
        self.on_reconnect: Callable[[Any], None] | None = None
        self._client: Any = None
        self.call("connect", lambda _: None)

    def _client_now(self) -> Any:
        from pymilvus import MilvusClient

        with self._lock:
            if self._client is None:
                self._client = MilvusClient(
                    uri=self.address.endpoint, token=os.environ.get(TOKEN_ENV, ""), timeout=CALL_TIMEOUT
                )
            return self._client

    def call(self, what: str, fn: Callable[[Any], T], timeout: float = CALL_TIMEOUT) -> T:
        """``fn(client)``, tried again while the server is unreachable; Milvus errors translated.
        ``timeout``: each client call's deadline."""
        from pymilvus.exceptions import MilvusException

        last: Exception | None = None
        for attempt in range(len(self._pauses) + 1):
            if attempt:
                time.sleep(self._pauses[attempt - 1])
            try:
                client = _Deadline(self._client_now(), timeout)
                if attempt and self.on_reconnect is not None:
                    self.on_reconnect(client)
                return fn(client)
            except Exception as exc:
                if not _unreachable(exc):
                    if isinstance(exc, MilvusException):
                        raise IndexStoreError(f"Milvus {what} on {self.address.text} failed: {exc}") from exc
                    raise
                last = exc
        logger.warning("Milvus at %s unreachable for %s: %s", self.address.text, what, last)
        raise StoreUnavailableError(
            f"the Milvus server at {self.address.text} did not answer ({what}) after "
            f"{len(self._pauses) + 1} tries: {last}; retry later"
        ) from last

    def invoke(self, method: str, *args: Any, **kwargs: Any) -> Any:
        """``client.<method>(*args, **kwargs)`` through :meth:`call`."""
        return self.call(method, lambda c: getattr(c, method)(*args, **kwargs))

    def close(self) -> None:
        with self._lock:
            if self._client is not None:
                self._client.close()
                self._client = None
