"""A real uvicorn server on a thread, for tests and benchmarks that talk HTTP to the service."""

from __future__ import annotations

import threading
import time

import uvicorn
from starlette.types import ASGIApp

from ..errors import ConfigError

__all__ = ["BackgroundServer"]


class BackgroundServer:
    """A real uvicorn server on a thread; ``port=0`` picks a free one. Use as a context
    manager; ``url`` is its base URL once started."""

    def __init__(self, app: ASGIApp, host: str = "127.0.0.1", port: int = 0) -> None:
        # log_config=None: leave logging to the host program (pytest captures it).
        self._server = uvicorn.Server(
            uvicorn.Config(app, host=host, port=port, log_config=None, lifespan="on")
        )
        self._thread = threading.Thread(target=self._server.run, name="lookalike-server", daemon=True)
        self.url = ""

    def start(self, timeout_s: float = 60.0) -> str:
        self._thread.start()
        deadline = time.monotonic() + timeout_s
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise ConfigError("the server did not start (see the log for why)")
            time.sleep(0.02)
        host, port = self._server.servers[0].sockets[0].getsockname()[:2]
        self.url = f"http://{host}:{port}"
        return self.url

    def stop(self) -> None:
        self._server.should_exit = True
        if self._thread.is_alive():
            self._thread.join()

    def __enter__(self) -> BackgroundServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
