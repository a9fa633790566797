"""The embedder interface: images in, L2-normalised float32 descriptors out.

Every neural channel (SSCD, its distilled student, CLIP, the test fake) implements
:meth:`Embedder._forward`; the shared :meth:`Embedder.embed` batches, checks and
normalises, so that each backend stays a few lines of model code.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np
from PIL import Image

from ..errors import InferenceError

__all__ = ["Embedder", "EmbedderInfo", "l2_normalise"]


@dataclass(frozen=True)
class EmbedderInfo:
    """What an index records about the embedder that wrote it; two embedders with different
    infos produce incomparable vectors."""

    name: str
    dim: int
    version: str
    weights_digest: str

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def l2_normalise(x: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    out: np.ndarray = (x / np.maximum(norms, 1e-12)).astype(np.float32)
    return out


class Embedder(ABC):
    """A neural descriptor. Subclasses set ``info`` and implement ``_forward``."""

    info: EmbedderInfo
    batch_size: int = 16

    def embed(self, images: Sequence[Image.Image]) -> np.ndarray:
        """Descriptors of RGB ``images`` as a float32 ``[n, dim]`` array, rows of unit length."""
        if not images:
            return np.zeros((0, self.info.dim), dtype=np.float32)
        out = []
        for start in range(0, len(images), self.batch_size):
            batch = list(images[start : start + self.batch_size])
            out.append(l2_normalise(self._checked_forward(batch)))
        return np.concatenate(out)

    def lane(self) -> Embedder:
        """The embedder to use for one image at a time when several threads each describe
        their own at once (the two sides of a pair). Itself unless a backend can do better."""
        return self

    def pixels(self, image: Image.Image) -> Image.Image:
        """``image`` as the model sees it (resized to its input). :meth:`embed` does this
        itself and leaves an image that already is so as it is, so callers may do it on other
        threads."""
        return image

    def _checked_forward(self, batch: list[Image.Image]) -> np.ndarray:
        vecs = np.asarray(self._forward(batch), dtype=np.float32)
        if vecs.shape != (len(batch), self.info.dim) or not np.isfinite(vecs).all():
            raise InferenceError(
                f"{self.info.name} returned {vecs.shape} (finite: {np.isfinite(vecs).all()}), "
                f"expected ({len(batch)}, {self.info.dim})"
            )
        return vecs

    @abstractmethod
    def _forward(self, batch: list[Image.Image]) -> np.ndarray:
        """Raw descriptors of one batch, ``[len(batch), dim]``."""
