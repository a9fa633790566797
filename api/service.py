"""What one running service holds: the engine over its index, the fetcher, the worker pool.

Decoding, inference and index access are blocking, so every call into the engine goes
through :meth:`Service.run`, on a thread pool sized by ``settings.workers`` (the cores by
default); the event loop only moves bytes. Readers never see half an ingest batch because
:class:`~lookalike.index.store.Index` commits a batch and updates its in-memory indexes
under one lock, which searches take too (a shared catalog answers only once Milvus holds
the whole batch).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import anyio
import anyio.to_thread

from ..embed.video import VideoLimits
from ..engine import Engine
from ..errors import ConfigError
from ..factory import open_engine
from ..index.reference import ReferenceIndex
from ..score.flood import FloodGuard, FloodRule
from ..video import VideoFlow
from .fetch import Fetcher
from .settings import Settings

__all__ = ["Service", "engine_for", "index_path"]

T = TypeVar("T")


def index_path(settings: Settings) -> Path:
    if settings.index is None:
        raise ConfigError("no index to serve: pass --index DIR or set LOOKALIKE_INDEX")
    return Path(settings.index)


def engine_for(settings: Settings) -> Engine:
    """The engine over ``settings.index``, opened for writing (this process holds its lock);
    a missing index is created with ``settings.embedder``, an existing one keeps its own."""
    return open_engine(
        index_path(settings),
        default_embedder=settings.embedder,
        create=True,
        store=settings.store,
        threads=settings.threads,
        max_bytes=settings.max_image_bytes,
        max_pixels=settings.max_image_pixels,
        flood=FloodGuard(
            FloodRule(
                window=settings.flood_window,
                min_hits=settings.flood_min_hits,
                share=settings.flood_share,
                ratio=settings.flood_ratio,
            )
        ),
    )


class Service:
    def __init__(self, settings: Settings, engine: Engine, fetcher: Fetcher) -> None:
        if engine.index is None:
            raise ConfigError("the service needs an engine with an index")
        self.settings = settings
        self.engine = engine
        self.index: ReferenceIndex = engine.index
        self.fetcher = fetcher
        self.limiter = anyio.CapacityLimiter(settings.workers)
        self.video = VideoFlow(
            engine,
            fps=settings.video_fps,
            limits=VideoLimits(
                max_bytes=settings.max_video_bytes,
                max_duration_s=settings.max_video_duration_s,
                max_frame_pixels=settings.max_video_frame_pixels,
            ),
        )

    @classmethod
    async def start(cls, settings: Settings, fetcher: Fetcher | None = None) -> Service:
        engine = await anyio.to_thread.run_sync(engine_for, settings)
        return cls(settings, engine, fetcher or fetcher_for(settings))

    async def run(self, fn: Callable[..., T], *args: object) -> T:
        """``fn(*args)`` on the worker pool."""
        return await anyio.to_thread.run_sync(fn, *args, limiter=self.limiter)

    async def image(self, ref: str | bytes) -> bytes:
        """The bytes of an image sent inline (bytes) or by URL (str)."""
        return ref if isinstance(ref, bytes) else await self.fetcher.fetch(ref)

    async def video_bytes(self, ref: str | bytes) -> bytes:
        """The bytes of a video sent inline or by URL (under the video byte cap)."""
        if isinstance(ref, bytes):
            return ref
        return await self.fetcher.fetch(ref, video=True, max_bytes=self.settings.max_video_bytes)

    async def close(self) -> None:
        await self.fetcher.aclose()
        await anyio.to_thread.run_sync(self._close_index)

    def _close_index(self) -> None:
        # A checkpoint now spares the next start replaying this session's changes.
        try:
            self.index.save()
        finally:
            self.index.close()


def fetcher_for(settings: Settings) -> Fetcher:
    return Fetcher(
        allow_private_networks=settings.allow_private_networks,
        max_bytes=settings.max_image_bytes,
        timeout_s=settings.fetch_timeout_s,
        max_redirects=settings.fetch_max_redirects,
    )
