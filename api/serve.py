"""Running the service with uvicorn: :func:`serve` (``lookalike serve`` and the demo) and the
ready-to-paste curl line it prints."""

from __future__ import annotations

import logging
import shlex
import signal
from pathlib import Path
from types import FrameType
from typing import Any

import uvicorn
from pydantic import SecretStr

from .settings import Settings, get_settings

__all__ = ["curl_example", "serve"]


def curl_example(
    url: str,
    images: tuple[str | Path, str | Path] | None = None,
    *,
    key: str | None = None,
    key_variable: str | None = None,
) -> str:
    """A ready-to-paste ``curl`` line for ``POST /image/match``: an upload of ``images``
    (or the JSON shape with placeholder URLs), with ``key`` written out or read from the
    shell variable ``key_variable``."""
    parts = ["curl", "-s", "-X", "POST", shlex.quote(f"{url}/image/match")]
    if key is not None:
        parts += ["-H", shlex.quote(f"x-api-key: {key}")]
    elif key_variable is not None:
        parts += ["-H", f'"x-api-key: ${key_variable}"']  # double quotes: the shell expands it
    if images is None:
        body = '{"source_url": "https://example.com/a.jpg", "target_url": "https://example.com/b.jpg"}'
        parts += ["-H", "'content-type: application/json'", "-d", shlex.quote(body)]
    else:
        parts += [
            "-F",
            shlex.quote(f"source_image=@{images[0]}"),
            "-F",
            shlex.quote(f"target_image=@{images[1]}"),
        ]
    return " ".join(parts)


_PLAYGROUND_NOTES = {
    "loopback": " (no key needed in a browser on this machine)",
    "open": " (no key needed: LOOKALIKE_PLAYGROUND=open)",
    "key": " (asks for an API key)",
    "off": "",
}


class _AnnouncingServer(uvicorn.Server):
    def __init__(self, config: uvicorn.Config, banner: str) -> None:
        super().__init__(config)
        self.banner = banner
        self.interrupted = False

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        self.interrupted = self.interrupted or sig == signal.SIGINT
        super().handle_exit(sig, frame)

    async def startup(self, sockets: Any = None) -> None:
        await super().startup(sockets)
        if self.started:
            print(self.banner, flush=True)


def serve(
    index_path: str | Path | None = None,
    host: str | None = None,
    port: int | None = None,
    *,
    api_key: str | None = None,
    no_auth: bool = False,
    example_images: tuple[str | Path, str | Path] | None = None,
    settings: Settings | None = None,
) -> None:
    """Serve the API over ``index_path`` until interrupted; blocks.

    Everything not passed comes from ``settings`` (default: ``LOOKALIKE_*`` variables).
    ``api_key`` adds one key and puts it in the printed curl line (a demo's generated key);
    ``no_auth`` switches keys off and warns. ``example_images`` (two files) make the curl line
    an upload that runs as pasted.
    """
    base = settings or get_settings()
    updates: dict[str, Any] = {"auth_disabled": base.auth_disabled or no_auth}
    if index_path is not None:
        updates["index"] = Path(index_path)
    if host is not None:
        updates["host"] = host
    if port is not None:
        updates["port"] = port
    if api_key is not None:
        updates["api_keys"] = [*base.api_keys, SecretStr(api_key)]
    config = Settings(**{**base.model_dump(), **updates})
    # Imported here so that every other ``lookalike`` command starts without FastAPI.
    from .app import create_app

    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(levelname)s:     %(message)s")
    app = create_app(config)
    url = f"http://{config.host}:{config.port}"
    lines = [f"lookalike is serving {config.index}", f"  API:  {url}", f"  docs: {url}/docs"]
    if config.auth_disabled:
        lines.append(f"  try:  {curl_example(url, example_images)}")
    elif api_key is not None:
        lines.append(f"  try:  {curl_example(url, example_images, key=api_key)}")
    else:
        lines.append(f"  try:  {curl_example(url, example_images, key_variable='LOOKALIKE_API_KEY')}")
        lines.append("        (with LOOKALIKE_API_KEY set to one of the service's keys)")
    if config.playground != "off":
        lines.append(f"  playground: {url}/playground{_PLAYGROUND_NOTES[config.playground]}")
    banner = "\n".join(lines)
    server = _AnnouncingServer(
        uvicorn.Config(app, host=config.host, port=config.port, server_header=False), banner
    )
    server.run()
    if server.interrupted:
        # uvicorn re-raises a captured Ctrl-C after shutdown, but asyncio's runner can swallow
        # it when the serving task finishes before the cancellation lands (seen under load):
        # the shell must still get 130.
        raise KeyboardInterrupt
