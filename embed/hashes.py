"""Perceptual hashes: the cheap channel that catches near-identical copies.

pHash (64 bit, imagehash) is stored for every reference image and for its mirror, so a
mirrored copy is one Hamming distance away like any other; PDQ (256 bit, Meta's hash) is
offered with its eight dihedral variants for the benchmark and for users who exchange PDQ
hashes with other platforms.
"""

from __future__ import annotations

import imagehash
import numpy as np
import pdqhash
from PIL import Image, ImageOps

__all__ = ["PHASH_BITS", "hamming", "pdq_dihedral", "phash", "phash_pair"]

PHASH_BITS = 64


#: pHash looks at 32 px; shrinking to this first (box reduction, then bilinear) makes its own
#: LANCZOS resize cheap, whatever the input size.
_HASH_INPUT = 64


def _small(image: Image.Image) -> Image.Image:
    return image.resize((_HASH_INPUT, _HASH_INPUT), Image.Resampling.BILINEAR, reducing_gap=1.0)


def phash(image: Image.Image) -> np.ndarray:
    """64-bit DCT pHash packed into 8 bytes (uint8)."""
    bits = imagehash.phash(_small(image), hash_size=8).hash.reshape(-1)
    return np.packbits(bits.astype(np.uint8))


def phash_pair(image: Image.Image) -> tuple[np.ndarray, np.ndarray]:
    """pHash of the image and of its horizontal mirror."""
    small = _small(image)
    return phash(small), phash(ImageOps.mirror(small))


def pdq_dihedral(image: Image.Image) -> tuple[np.ndarray, int]:
    """PDQ hashes of the 8 dihedral transforms, packed to [8, 32] uint8, and PDQ's quality (0-100)."""
    hashes, quality = pdqhash.compute_dihedral(np.asarray(image.convert("RGB")))
    packed = np.stack([np.packbits(np.asarray(h, dtype=np.uint8)) for h in hashes])
    return packed, int(quality)


def hamming(a: np.ndarray, b: np.ndarray) -> int:
    """Bit distance between two packed hashes of equal length."""
    return int(np.unpackbits(np.bitwise_xor(a, b)).sum())
