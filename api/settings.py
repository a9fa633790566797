"""Everything the service lets an operator configure, read from ``LOOKALIKE_*`` variables.

``LOOKALIKE_API_KEYS`` is a comma-separated list; ``LOOKALIKE_API_KEYS_FILE`` names a file
of SHA-256 key hashes (one a line, ``#`` comments), so plain keys need not sit on the
server at all. Without either the service refuses to start, unless keys are switched off
explicitly with ``LOOKALIKE_AUTH_DISABLED=true`` (local demos only).
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from ..embed.decode import DEFAULT_MAX_BYTES, DEFAULT_MAX_PIXELS
from ..embed.video import (
    DEFAULT_FPS,
    DEFAULT_MAX_DURATION_S,
    DEFAULT_MAX_FRAME_PIXELS,
    DEFAULT_MAX_VIDEO_BYTES,
)

__all__ = ["Settings", "get_settings"]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="LOOKALIKE_", extra="ignore")

    index: Path | None = Field(default=None, description="index folder to serve (created if missing)")
    embedder: str = Field(
        default="sscd", description="embedder for a new index; an existing one keeps its own"
    )
    store: str | None = Field(
        default=None,
        description="where the vectors live: faiss, milvus:///path/file.db (Milvus Lite) or "
        "milvus://host:19530; default: faiss for a new index, else the one it was built with",
    )
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535)

    api_keys: Annotated[list[SecretStr], NoDecode] = Field(default_factory=list)
    api_keys_file: Path | None = None
    auth_disabled: bool = False
    metrics_public: bool = Field(default=False, description="serve /metrics without a key")
    # The gate's flood guard (lookalike.score.flood): a reference flooding the gate goes to review.
    flood_window: int = Field(default=1000, ge=10, description="gate calls in the sliding window")
    flood_min_hits: int = Field(
        default=20, ge=1, description="hits in the window before a reference can flood"
    )
    flood_share: float = Field(
        default=0.05, gt=0, le=1, description="share of the window's gate calls it hits"
    )
    flood_ratio: float = Field(default=10.0, ge=1, description="times its usual share")

    playground: Literal["loopback", "open", "key", "off"] = Field(
        default="loopback",
        description="GET /playground without a key: loopback (only from this machine), open (from "
        "anywhere), key (always ask for an API key) or off (no playground)",
    )
    playground_token_ttl_s: int = Field(default=900, ge=30, le=86400, description="a playground token's life")
    playground_rate_per_minute: int = Field(
        default=60, ge=1, description="keyless playground requests per client per minute"
    )

    allow_private_networks: bool = Field(
        default=False, description="let URL fetches reach private and loopback addresses (an internal CDN)"
    )
    fetch_timeout_s: float = Field(default=10.0, gt=0, le=300)
    fetch_max_redirects: int = Field(default=3, ge=0, le=10)
    fetch_concurrency: int = Field(
        default=8, ge=1, le=64, description="parallel downloads within one ingest batch"
    )

    max_image_bytes: int = Field(
        default=DEFAULT_MAX_BYTES, gt=0, description="per image: upload, base64 or download"
    )
    max_image_pixels: int = Field(default=DEFAULT_MAX_PIXELS, gt=0)
    max_request_bytes: int = Field(default=48 * 1024 * 1024, gt=0, description="whole request body")
    max_video_bytes: int = Field(
        default=DEFAULT_MAX_VIDEO_BYTES, gt=0, description="per video: upload, base64 or download"
    )
    max_video_duration_s: float = Field(default=DEFAULT_MAX_DURATION_S, gt=0)
    max_video_frame_pixels: int = Field(default=DEFAULT_MAX_FRAME_PIXELS, gt=0)
    video_fps: float = Field(default=DEFAULT_FPS, gt=0, le=30, description="frames a second sampled")
    max_video_request_bytes: int = Field(
        default=2 * DEFAULT_MAX_VIDEO_BYTES + 1024 * 1024,
        gt=0,
        description="whole request body on /video/ routes (two videos; base64 adds a third)",
    )
    max_batch_items: int = Field(default=256, ge=1, description="images per POST /index/images")

    workers: int = Field(default_factory=lambda: os.cpu_count() or 1, ge=1, description="inference threads")
    threads: int | None = Field(default=None, ge=1, description="ONNX Runtime threads per inference")

    @field_validator("api_keys", mode="before")
    @classmethod
    def _split_keys(cls, value: object) -> object:
        if isinstance(value, str):
            return [key.strip() for key in value.split(",") if key.strip()]
        return value


@lru_cache
def get_settings() -> Settings:
    """The settings of this process, read from the environment once."""
    return Settings()
