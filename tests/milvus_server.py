"""A real Milvus standalone server for the tests: the PyPI ``milvus`` package (2.3.5) runs
the server binary it bundles, on a port and in a folder of the test session's own.

Two quirks of that package are worked around here. Its health wait keeps waiting after the
server process has died (it only checks that it started one), so readiness is a real client
call, and a start that dies (the embedded etcd can lose its first election on a busy
machine) is retried. Its port check binds without ``SO_REUSEADDR``, so restarting on the
same port right after a stop fails while the old connections sit in TIME_WAIT; the server
itself (Go) binds with it, so the check does too.
"""

from __future__ import annotations

import socket
import time
from pathlib import Path
from typing import Any

__all__ = ["LocalMilvus", "ServerUnavailable", "free_port"]

_READY_S = 90.0


class ServerUnavailable(RuntimeError):
    """The server could not be started here (the reason is the message)."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class LocalMilvus:
    def __init__(self, base: Path) -> None:
        try:
            from milvus import MilvusServer, MilvusServerConfig
        except ImportError as exc:
            raise ServerUnavailable(
                f"the milvus package is not installed ({exc}); `make install` adds it"
            ) from exc

        class _Config(MilvusServerConfig):  # type: ignore[misc]
            def try_bind_port(self, port: int) -> socket.socket | None:
                sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                try:
                    sock.bind(("127.0.0.1", port))
                    sock.listen()
                except OSError:
                    sock.close()
                    return None
                return sock

        self.base = base
        self.port = free_port()
        self._server: Any = MilvusServer(_Config(), wait_for_started=False)
        self._server.set_base_dir(str(base))
        self._server.config.configs["proxy_port"] = self.port
        # Sessions of a killed server expire after this (s): a restart serves sooner.
        self._server.config.extra_configs["common.session.ttl"] = 5

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self, tries: int = 3) -> None:
        reason = ""
        for _ in range(tries):
            try:
                self._server.start()
            except (RuntimeError, OSError) as exc:  # a port taken, the binary missing
                raise ServerUnavailable(f"the Milvus server did not start: {exc}") from exc
            reason = self._wait_ready()
            if not reason:
                return
            self.stop()
        raise ServerUnavailable(f"the Milvus server did not become ready in {tries} tries: {reason}")

    def _wait_ready(self) -> str:
        """'' once a client is served; else why not."""
        from pymilvus import MilvusClient

        deadline = time.monotonic() + _READY_S
        last = ""
        while time.monotonic() < deadline:
            proc = self._server.server_proc
            if proc is None or proc.poll() is not None:
                return f"the server process exited ({self.log_tail()})"
            try:
                client = MilvusClient(uri=f"http://{self.address}", timeout=5)
                client.list_collections()
                client.close()
                return ""
            except Exception as exc:
                last = str(exc)
                time.sleep(0.5)
        return f"no answer within {_READY_S:.0f} s: {last}"

    def stop(self) -> None:
        """Stop it as a crash would (the package terminates, then kills after 1 s)."""
        self._server.stop()

    def log_tail(self, lines: int = 5) -> str:
        path = self.base / "logs" / "milvus-stderr.log"
        text = path.read_text(errors="replace").splitlines() if path.exists() else []
        return " | ".join(text[-lines:])
