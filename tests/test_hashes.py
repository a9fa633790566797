"""Perceptual hashes on real photos: copies stay close (mirrored ones too, through the stored
mirror hash), unrelated photos stay far apart."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from io import BytesIO

import numpy as np
import pytest
from lookalike.embed.decode import decode_image
from lookalike.embed.hashes import PHASH_BITS, hamming, pdq_dihedral, phash, phash_pair
from PIL import Image, ImageOps
from skimage import data

PHOTOS = ["astronaut", "coffee", "rocket", "camera", "immunohistochemistry", "hubble_deep_field", "chelsea"]
# PDQ's customary match threshold (of 256 bits).
PDQ_MATCH = 31

# Re-encodes and mirrors stay this close, so the hash index brings them as candidates even
# where the vector index would not (the pHash is no longer evidence of a copy by itself).
NEAR = 8


@pytest.fixture(scope="module")
def photos() -> dict[str, Image.Image]:
    return {name: Image.fromarray(getattr(data, name)()).convert("RGB") for name in PHOTOS}


def jpeg_copy(im: Image.Image, quality: int = 60, scale: float = 2 / 3) -> Image.Image:
    """What a reseller's re-upload does: resize and recompress."""
    buf = BytesIO()
    im.resize((round(im.width * scale), round(im.height * scale))).save(buf, "JPEG", quality=quality)
    return decode_image(buf.getvalue()).image


def pair_distance(query: np.ndarray, pair: tuple[np.ndarray, np.ndarray]) -> int:
    return min(hamming(query, stored) for stored in pair)


def test_phash_shape_and_determinism(photos: dict[str, Image.Image]) -> None:
    h = phash(photos["astronaut"])
    assert h.shape == (PHASH_BITS // 8,) and h.dtype == np.uint8
    assert hamming(h, phash(photos["astronaut"].copy())) == 0


def test_hamming() -> None:
    zeros, ones = np.zeros(8, np.uint8), np.full(8, 255, np.uint8)
    assert hamming(zeros, ones) == 64
    assert hamming(zeros, zeros) == 0
    one_bit = zeros.copy()
    one_bit[3] = 0b0001_0000
    assert hamming(zeros, one_bit) == hamming(one_bit, zeros) == 1


@pytest.mark.parametrize("name", PHOTOS)
def test_recompressed_copy_is_close(photos: dict[str, Image.Image], name: str) -> None:
    hash_identical = NEAR
    assert hamming(phash(jpeg_copy(photos[name])), phash(photos[name])) <= hash_identical


@pytest.mark.parametrize("name", PHOTOS)
def test_mirrored_copy_matches_the_stored_pair(photos: dict[str, Image.Image], name: str) -> None:
    original = photos[name]
    pair = phash_pair(original)
    assert hamming(pair[0], phash(original)) == 0
    mirrored = ImageOps.mirror(original)
    # Without the mirror hash a mirrored copy looks unrelated...
    assert hamming(phash(mirrored), pair[0]) >= 20
    # ...with it, a mirror (even resized and recompressed) is as close as any plain copy.
    assert pair_distance(phash(mirrored), pair) <= 2  # the 64 px copy is resampled, then mirrored
    assert pair_distance(phash(jpeg_copy(mirrored)), pair) <= NEAR


def test_unrelated_photos_are_far_apart(photos: dict[str, Image.Image]) -> None:
    pairs = {name: phash_pair(im) for name, im in photos.items()}
    for a, b in itertools.combinations(PHOTOS, 2):
        assert pair_distance(pairs[a][0], pairs[b]) >= 16, (a, b)


def test_hash_of_decoded_formats_agree(photos: dict[str, Image.Image]) -> None:
    """The same photo served as PNG, JPEG or WebP hashes (almost) the same after decoding."""
    hashes = []
    for fmt in ("PNG", "JPEG", "WEBP"):
        buf = BytesIO()
        photos["coffee"].save(buf, fmt)
        hashes.append(phash(decode_image(buf.getvalue()).image))
    assert max(hamming(a, b) for a, b in itertools.combinations(hashes, 2)) <= 2


def test_pdq_dihedral_shape_and_quality(photos: dict[str, Image.Image]) -> None:
    hashes, quality = pdq_dihedral(photos["astronaut"])
    assert hashes.shape == (8, 32) and hashes.dtype == np.uint8
    assert isinstance(quality, int) and 50 <= quality <= 100
    # The eight variants are genuinely different hashes.
    assert len({bytes(h) for h in hashes}) == 8
    flat, flat_quality = pdq_dihedral(Image.new("RGB", (64, 64), "white"))
    assert flat.shape == (8, 32) and flat_quality == 0


@pytest.mark.parametrize(
    "transform",
    [
        ImageOps.mirror,
        ImageOps.flip,
        lambda im: im.transpose(Image.Transpose.ROTATE_90),
        lambda im: im.transpose(Image.Transpose.ROTATE_180),
        lambda im: jpeg_copy(ImageOps.mirror(im)),
    ],
    ids=["mirror", "flip", "rot90", "rot180", "mirror+jpeg"],
)
def test_pdq_dihedral_matches_transformed_copies(
    photos: dict[str, Image.Image], transform: Callable[[Image.Image], Image.Image]
) -> None:
    for name in ("astronaut", "coffee", "rocket"):
        variants, _ = pdq_dihedral(photos[name])
        copy_hash = pdq_dihedral(transform(photos[name]))[0][0]
        assert min(hamming(copy_hash, v) for v in variants) <= PDQ_MATCH, name


def test_pdq_unrelated_photos_are_far_apart(photos: dict[str, Image.Image]) -> None:
    dihedral = {name: pdq_dihedral(im)[0] for name, im in photos.items()}
    for a, b in itertools.combinations(PHOTOS, 2):
        assert min(hamming(dihedral[a][0], v) for v in dihedral[b]) > 80, (a, b)
