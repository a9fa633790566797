"""What a reference keeps, as plain data: the neural vector, the mirror-aware pHash and the
local features of one image. No model or OpenCV here, so the index and the scorer can hold
descriptors without loading either."""

from __future__ import annotations

import struct
from dataclasses import dataclass

import numpy as np

__all__ = ["Descriptor", "LocalFeatures"]

_HEADER = struct.Struct("<HHH")  # keypoint count, height, width


@dataclass(frozen=True)
class LocalFeatures:
    """Keypoint positions (``xy``, float32 ``[n, 2]`` in pixels of the ``shape`` image) and
    their 256-bit ORB descriptors (``desc``, uint8 ``[n, 32]``)."""

    xy: np.ndarray
    desc: np.ndarray
    shape: tuple[int, int]

    @classmethod
    def empty(cls, shape: tuple[int, int] = (1, 1)) -> LocalFeatures:
        """No keypoints (a blank image, or vectors that come without pixels)."""
        return cls(np.zeros((0, 2), np.float32), np.zeros((0, 32), np.uint8), shape)

    def to_bytes(self) -> bytes:
        n = len(self.desc)
        return (
            _HEADER.pack(n, *self.shape)
            + self.xy.astype(np.float16).tobytes()
            + np.ascontiguousarray(self.desc, dtype=np.uint8).tobytes()
        )

    @classmethod
    def from_bytes(cls, data: bytes) -> LocalFeatures:
        n, h, w = _HEADER.unpack_from(data)
        start = _HEADER.size
        xy = np.frombuffer(data, dtype=np.float16, count=2 * n, offset=start).reshape(n, 2)
        desc = np.frombuffer(data, dtype=np.uint8, count=32 * n, offset=start + 4 * n).reshape(n, 32)
        return cls(xy=xy.astype(np.float32), desc=desc, shape=(h, w))


@dataclass(frozen=True)
class Descriptor:
    """One image as a reference keeps it: ``vector`` (unit float32, the whole image),
    ``phash`` of the image and ``phash_mirror`` of its horizontal mirror (8 packed bytes
    each), and ``local`` keypoints (:data:`lookalike.embed.local.REFERENCE`)."""

    vector: np.ndarray
    phash: np.ndarray
    phash_mirror: np.ndarray
    local: LocalFeatures
