"""Building an embedder from its registry row; backends are imported only when built, so
naming a model never loads ONNX Runtime or torch."""

from __future__ import annotations

from pathlib import Path

from ..errors import ModelUnavailableError
from .base import Embedder
from .registry import get_spec

__all__ = ["get_embedder"]


def get_embedder(
    name: str = "sscd",
    *,
    threads: int | None = None,
    checkpoint: str | Path | None = None,
    pretrained: str | None = None,
    allow_download: bool = False,
) -> Embedder:
    """Build the embedder registered as ``name``.

    ``threads`` sizes ONNX Runtime's pool. For ``clip``, weights come from ``checkpoint``
    (a local file) or, only with ``allow_download``, from the ``pretrained`` tag online.
    """
    spec = get_spec(name)
    if spec.backend == "onnx":
        from .onnx import OnnxEmbedder

        return OnnxEmbedder(spec, threads=threads)
    if spec.backend == "clip":
        from .clip import ClipEmbedder

        return ClipEmbedder(spec, checkpoint=checkpoint, pretrained=pretrained, allow_download=allow_download)
    if spec.backend == "fake":
        from .fake import FakeEmbedder

        return FakeEmbedder()
    raise ModelUnavailableError(f"no backend {spec.backend!r}")
