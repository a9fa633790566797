"""The benchmark's edits on real photos: seeded, the right geometry, perception's parameters."""

from __future__ import annotations

import numpy as np
import pytest
from lookalike.benchmarks.edits import EDITS, MARKETPLACE, PERCEPTION, apply_edit, flatten, has_cutout
from PIL import Image, ImageChops, ImageDraw, ImageOps
from skimage import data


@pytest.fixture(scope="module")
def photo() -> Image.Image:
    return Image.fromarray(data.astronaut()).resize((320, 240))


@pytest.fixture(scope="module")
def cutout() -> Image.Image:
    """The coffee cup cut out on a transparent background, as product shots come."""
    cup = Image.fromarray(data.coffee()).resize((300, 200)).convert("RGBA")
    mask = Image.new("L", cup.size, 0)
    ImageDraw.Draw(mask).ellipse((60, 20, 240, 180), fill=255)
    cup.putalpha(mask)
    return cup


def test_the_two_families_are_complete() -> None:
    assert [e.name for e in PERCEPTION] == [
        "noop", "crop0.05", "pad0.2", "jpeg95", "blur2", "gamma2", "noise0.2", "rotate4", "resize0.5",
        "vignette", "watermark",
    ]  # fmt: skip
    assert {e.name for e in MARKETPLACE} >= {
        "mirror",
        "crop",
        "jpeg",
        "text",
        "sticker",
        "template",
        "bgswap",
    }


@pytest.mark.parametrize("name", sorted(EDITS))
def test_every_edit_is_seeded_and_changes_the_image(
    name: str, photo: Image.Image, cutout: Image.Image
) -> None:
    source = cutout if EDITS[name].needs_cutout else photo
    a, params_a = apply_edit(name, source, np.random.default_rng(7))
    b, params_b = apply_edit(name, source, np.random.default_rng(7))
    assert a.mode == "RGB"
    assert params_a == params_b
    assert np.array_equal(np.asarray(a), np.asarray(b))
    flat = flatten(source)
    assert a.size != flat.size or ImageChops.difference(a, flat).getbbox() is not None


def test_perception_geometry_matches_its_parameters(photo: Image.Image) -> None:
    rng = np.random.default_rng(0)
    assert apply_edit("noop", photo, rng)[0].size == (256, 192)
    assert apply_edit("crop0.05", photo, rng)[0].size == (320 - 2 * 16, 240 - 2 * 12)
    padded = np.asarray(apply_edit("pad0.2", photo, rng)[0])
    assert padded.shape[:2] == (240 + 2 * 48, 320)
    assert padded[:40].max() == 0 and padded[-40:].max() == 0
    assert apply_edit("resize0.5", photo, rng)[0].size == (160, 120)
    assert apply_edit("jpeg95", photo, rng)[1] == {"quality": 7}  # imgaug's compression 95
    dark = np.asarray(apply_edit("gamma2", photo, rng)[0], dtype=float).mean()
    assert dark < np.asarray(photo, dtype=float).mean() * 0.8


def test_marketplace_edits_do_what_they_say(photo: Image.Image, cutout: Image.Image) -> None:
    rng = np.random.default_rng(3)
    assert np.array_equal(np.asarray(apply_edit("mirror", photo, rng)[0]), np.asarray(ImageOps.mirror(photo)))
    for seed in range(10):
        cropped, params = apply_edit("crop", photo, np.random.default_rng(seed))
        assert 0.45 <= params["area"] <= 0.92
        assert cropped.width * cropped.height < photo.width * photo.height
    pasted, params = apply_edit("template", photo, rng)
    assert pasted.width > photo.width and params["scale"] < 1.0
    square = apply_edit("padsq", photo, rng)[0]
    assert square.width == square.height == 320
    swapped = np.asarray(apply_edit("bgswap", cutout, rng)[0])
    corner = swapped[:10, :10].reshape(-1, 3)
    assert not (corner == 255).all()  # the transparent corner shows the new background, not white


def test_cutout_detection(photo: Image.Image, cutout: Image.Image) -> None:
    assert has_cutout(cutout)
    assert not has_cutout(photo)
    assert not has_cutout(photo.convert("RGBA"))  # opaque alpha is no cut-out
