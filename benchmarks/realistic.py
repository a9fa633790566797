"""Realistic descriptors for the scale benchmarks: real SSCD descriptors of photos and of
edited copies of them, and a synthetic set fitted to the real descriptors' spectrum.

A catalog of millions of real photos is not available here (about a thousand are, and at
~7 ms an image two cores could describe tens of thousands at most), so a large base is
mostly synthetic. Full-rank noise is the worst case for an approximate index (every
direction matters as much as every other); real descriptors are not like that, their
variance falls off over the principal directions. :class:`Fitted` draws vectors from the
Gaussian with the real descriptors' mean and covariance (principal directions and
variances), so the synthetic part has the real part's spectrum and the real part's typical
similarity between unrelated images.
"""

from __future__ import annotations

import io
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

from ..embed.base import l2_normalise
from ..embed.decode import decode_image
from ..embed.encode import shrunk
from ..embed.factory import get_embedder
from ..embed.files import iter_image_files
from ..embed.local import REFERENCE
from ..errors import LookalikeError

__all__ = ["EDITS", "Fitted", "RealSet", "edited", "real_descriptors"]

#: The edits each real photo is queried with: what marketplace copies most often do.
EDITS = ("mirror", "crop", "jpeg")
_BATCH = 32


def edited(image: Image.Image, edit: str) -> Image.Image:
    """``image`` mirrored, cropped to its central ~80 % (off-centre), or JPEG-compressed at q30."""
    if edit == "mirror":
        return ImageOps.mirror(image)
    w, h = image.size
    if edit == "crop":
        return image.crop((w // 10, h // 10, w - w // 10, h - h // 20))
    buf = io.BytesIO()
    image.save(buf, "JPEG", quality=30)
    return Image.open(io.BytesIO(buf.getvalue())).convert("RGB")


@dataclass(frozen=True)
class RealSet:
    """SSCD descriptors of real photos (``base``) and of their edited copies (``copies``,
    one per photo and edit; ``owner[j]`` is the row of ``base`` that copy ``j`` was made
    from, ``edit[j]`` its edit)."""

    base: np.ndarray
    copies: np.ndarray
    owner: np.ndarray
    edit: np.ndarray

    @classmethod
    def empty(cls, dim: int) -> RealSet:
        none = np.zeros((0, dim), dtype=np.float32)
        return cls(none, none, np.zeros(0, dtype=np.int64), np.zeros(0, dtype="<U8"))


def _images(folders: Sequence[Path]) -> Iterator[Image.Image]:
    for _, path in iter_image_files([str(f) for f in folders]):
        try:
            # A reference is described from a copy no larger than this (Encoder.encode).
            yield shrunk(decode_image(path).image, 2 * REFERENCE.side)
        except LookalikeError:  # a corpus file we cannot read is just left out
            continue


def real_descriptors(folders: Sequence[Path], cache: Path, embedder: str = "sscd") -> RealSet:
    """:class:`RealSet` of every image under ``folders`` and its :data:`EDITS`, described
    a batch at a time (memory stays at one batch of images) and cached in ``cache``."""
    if cache.exists():
        data = np.load(cache)
        return RealSet(data["base"], data["copies"], data["owner"], data["edit"])
    model = get_embedder(embedder)
    base: list[np.ndarray] = []
    copies: list[np.ndarray] = []
    batch: list[Image.Image] = []

    def flush() -> None:
        if batch:
            vectors = model.embed([shrunk(image, REFERENCE.side) for image in batch])
            # Each photo's rows: the photo, then one copy per edit.
            per_photo = vectors.reshape(-1, len(EDITS) + 1, vectors.shape[1])
            base.extend(per_photo[:, 0])
            copies.extend(per_photo[:, 1:].reshape(-1, vectors.shape[1]))
            batch.clear()

    for image in _images(folders):
        batch += [image, *(edited(image, e) for e in EDITS)]
        if len(batch) >= _BATCH:
            flush()
    flush()
    n = len(base)
    out = RealSet(
        np.asarray(base, dtype=np.float32).reshape(n, -1),
        np.asarray(copies, dtype=np.float32).reshape(n * len(EDITS), -1),
        np.repeat(np.arange(n, dtype=np.int64), len(EDITS)),
        np.tile(np.asarray(EDITS), n),
    )
    np.savez(cache, base=out.base, copies=out.copies, owner=out.owner, edit=out.edit)
    return out


class Fitted:
    """Unit vectors drawn from the Gaussian fitted to ``sample`` (its mean and covariance):
    the real descriptors' spectrum. Directions the sample is too small to estimate (beyond
    its rank) get the smallest estimated variance, so the draw stays full-rank but no
    richer than the data. Rows depend on (seed, start) only, so chunks compose."""

    def __init__(self, sample: np.ndarray, seed: int) -> None:
        x = np.asarray(sample, dtype=np.float64)
        self.mean = x.mean(axis=0)
        centred = x - self.mean
        _, s, vt = np.linalg.svd(centred, full_matrices=True)
        variances = np.zeros(x.shape[1])
        rank = min(len(s), x.shape[1], len(x) - 1)
        variances[:rank] = s[:rank] ** 2 / (len(x) - 1)
        variances[rank:] = variances[rank - 1] if rank else 1.0
        #: Principal variances, largest first (what :meth:`components_for` reads).
        self.variances = variances
        self._scale = (np.sqrt(variances)[:, None] * vt).astype(np.float32)
        # The same shape with a standard normal vector's total variance (E|x|^2 = dim).
        self._shape = self._scale * np.float32(np.sqrt(x.shape[1] / variances.sum()))
        self._mean = self.mean.astype(np.float32)
        self.seed = seed

    def components_for(self, share: float) -> int:
        """How many principal directions hold ``share`` of the variance."""
        cumulative = np.cumsum(self.variances) / self.variances.sum()
        return int(np.searchsorted(cumulative, share) + 1)

    def rows(self, count: int, start: int) -> np.ndarray:
        rng = np.random.default_rng([self.seed, start])
        z = rng.standard_normal((count, len(self._mean)), dtype=np.float32)
        return l2_normalise(self._mean + z @ self._scale)

    def noise(self, rng: np.random.Generator, count: int) -> np.ndarray:
        """Zero-mean draws shaped like the real descriptors' spread around their mean, with the
        total variance of a standard normal vector: anisotropic noise for :class:`Mixture`."""
        shaped: np.ndarray = rng.standard_normal((count, len(self._mean)), dtype=np.float32) @ self._shape
        return shaped
