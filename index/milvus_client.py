"""One connection to Milvus (a server, or Milvus Lite's file), and the boundary where its
errors become lookalike's.

Every client call goes through :meth:`MilvusConnection.call`. A call that fails because the
server cannot be reached (refused, timed out, or up but not serving yet after a restart) is
retried a bounded number of times with a growing pause, on a fresh client; when the server
is still away the call raises :class:`~lookalike.errors.StoreUnavailableError` (HTTP 503
``store_unavailable``), so that a request never waits long and a later one finds the server
back. Any other Milvus error is an :class:`~lookalike.errors.IndexStoreError`.
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

#: Pauses between the tries of one call (seconds): four tries within ~2 s.
RETRY_PAUSES = (0.25, 0.5, 1.0)
#: A client call that takes longer than this counts as unreachable (seconds).
CALL_TIMEOUT = 10.0
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


class MilvusConnection:
    """A MilvusClient that reconnects: ``call(what, fn)`` runs ``fn(client)``."""

    def __init__(self, address: StoreAddress, pauses: tuple[float, ...] = RETRY_PAUSES) -> None:
        self.address = address
        self._pauses = pauses
        self._lock = threading.Lock()
        #: Run with the client before each retry (the caller reloads its collections, which a
        #: restarted server may not have loaded yet).
        self.on_reconnect: Callable[[Any], None] | None = None
        self._client: Any = None
        self.call("connect", lambda _: None)

    def _fresh_client(self) -> Any:
        from pymilvus import MilvusClient

        # Milvus Lite takes no timeout (it is a local process); a server gets one per call.
        timeout = None if self.address.is_lite else CALL_TIMEOUT
        return MilvusClient(uri=self.address.endpoint, token=os.environ.get(TOKEN_ENV, ""), timeout=timeout)

    def _client_now(self) -> Any:
        with self._lock:
            if self._client is None:
                self._client = self._fresh_client()
            return self._client

    def _drop_client(self, broken: Any) -> None:
        with self._lock:
            if self._client is broken and broken is not None:
                self._client = None
                try:
                    broken.close()
                except Exception:  # a dead connection may fail to close; it is dropped anyway
                    logger.debug("closing a broken Milvus client failed", exc_info=True)

    def call(self, what: str, fn: Callable[[Any], T]) -> T:
        """``fn(client)``, retried while the server is unreachable; Milvus errors translated."""
        from pymilvus.exceptions import MilvusException

        last: Exception | None = None
        for attempt in range(len(self._pauses) + 1):
            if attempt:
                time.sleep(self._pauses[attempt - 1])
            client = None
            try:
                client = self._client_now()
                if attempt and self.on_reconnect is not None:
                    self.on_reconnect(client)
                return fn(client)
            except Exception as exc:
                if not _unreachable(exc):
                    if isinstance(exc, MilvusException):
                        raise IndexStoreError(f"Milvus {what} on {self.address.text} failed: {exc}") from exc
                    raise
                last = exc
                self._drop_client(client)
        logger.warning("Milvus at %s unreachable for %s: %s", self.address.text, what, last)
        raise StoreUnavailableError(
            f"the Milvus server at {self.address.text} did not answer ({what}) after "
            f"{len(self._pauses) + 1} tries over {sum(self._pauses):.1f} s: {last}; retry later"
        ) from last

    def invoke(self, method: str, *args: Any, **kwargs: Any) -> Any:
        """``client.<method>(*args, **kwargs)`` through :meth:`call`."""
        return self.call(method, lambda c: getattr(c, method)(*args, **kwargs))

    def close(self) -> None:
        with self._lock:
            if self._client is not None:
                self._client.close()
                self._client = None
