"""The foreground cut-out view: an object put on a new surround is found, cut out and put back
on white, and a query described in it is closer to the original than in any other view."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import DATA_DIR, load_photo
from lookalike.embed.base import Embedder
from lookalike.embed.encode import Encoder
from lookalike.embed.foreground import cut_out, foreground_mask
from lookalike.factory import scorer_for
from PIL import Image, ImageDraw

OFFSET = (0.1, 0.1)  # where the object is pasted, as a share of its own size
GROW = 1.25  # the new canvas, as a multiple of the object's


def _object(name: str) -> tuple[Image.Image, Image.Image]:
    """A real photo cut out as an ellipse (the object) and its mask."""
    photo = load_photo(name)
    w, h = photo.size
    mask = Image.new("L", photo.size, 0)
    ImageDraw.Draw(mask).ellipse((w * 0.2, h * 0.05, w * 0.8, h * 0.95), fill=255)
    return photo, mask


def _on_white(name: str) -> Image.Image:
    photo, mask = _object(name)
    out = Image.new("RGB", photo.size, (255, 255, 255))
    out.paste(photo, (0, 0), mask)
    return out


def _surround(kind: str, size: tuple[int, int]) -> Image.Image:
    w, h = size
    if kind == "stripes":
        band = (np.arange(w)[None, :] + np.arange(h)[:, None]) // 25 % 2
        pixels = np.where(band[..., None] == 1, np.array([40, 200, 90]), np.array([200, 60, 160]))
        return Image.fromarray(pixels.astype(np.uint8))
    if kind == "gradient":
        t = np.linspace(0, 1, h)[:, None, None]
        pixels = np.broadcast_to(np.array([30, 40, 160]) * (1 - t) + np.array([230, 120, 40]) * t, (h, w, 3))
        return Image.fromarray(pixels.astype(np.uint8))
    with Image.open(DATA_DIR / f"{kind}.png") as texture:  # real textures: grass, brick
        return texture.convert("RGB").resize(size)


def _swapped(name: str, kind: str) -> tuple[Image.Image, np.ndarray]:
    """The object on a new surround, and where it truly is (a boolean mask)."""
    photo, mask = _object(name)
    w, h = photo.size
    canvas = _surround(kind, (round(w * GROW), round(h * GROW)))
    at = (round(w * OFFSET[0]), round(h * OFFSET[1]))
    canvas.paste(photo, at, mask)
    truth = Image.new("L", canvas.size, 0)
    truth.paste(mask, at)
    return canvas, np.asarray(truth) > 127


SURROUNDS = ("stripes", "gradient", "grass", "brick")


@pytest.mark.parametrize("kind", SURROUNDS)
@pytest.mark.parametrize("name", ["chelsea", "astronaut", "motorcycle"])
def test_the_object_is_told_from_a_new_surround(name: str, kind: str) -> None:
    canvas, truth = _swapped(name, kind)
    mask = foreground_mask(canvas)
    small = np.asarray(Image.fromarray(truth).resize((mask.shape[1], mask.shape[0]))) > 0
    # a grey motorcycle on grey grass is the hardest case (IoU 0.63); flat surrounds are near-exact
    assert (mask & small).sum() / (mask | small).sum() >= (0.95 if kind in ("stripes", "gradient") else 0.6)
    found = cut_out(canvas)
    assert found is not None
    left, top, right, bottom = found[1]
    # the object spans 0.2-0.8 of its own width from 0.1 of it, on a canvas 1.25 times as wide
    assert left == pytest.approx((0.1 + 0.2) / GROW, abs=0.06)
    assert right == pytest.approx((0.1 + 0.8) / GROW, abs=0.06)
    assert top < 0.2 and bottom > 0.75


def test_an_image_without_a_surround_gives_no_cut_out() -> None:
    assert cut_out(Image.new("RGB", (300, 200), (120, 130, 140))) is None
    assert cut_out(load_photo("hubble")) is None  # stars everywhere: all surround


@pytest.mark.parametrize("kind", ["stripes", "gradient"])
@pytest.mark.parametrize("name", ["chelsea", "coffee", "astronaut", "rocket", "motorcycle"])
def test_a_swapped_background_is_matched_through_the_cut_out(sscd: Embedder, name: str, kind: str) -> None:
    """Described in its cut-out, the query is closer to its original on white than in its
    full view or its centre, and clearly above its full view."""
    scorer = scorer_for("sscd")
    encoder = Encoder(sscd)
    reference, query = encoder.pair(
        encoder.prepare(_on_white(name)), encoder.prepare(_swapped(name, kind)[0])
    )
    assert query.add_views()
    scores = dict(zip(query.names, query.vectors @ reference.vector - scorer.offsets(query), strict=True))
    assert max(scores, key=lambda v: scores[v]) == "foreground"
    assert scores["foreground"] >= scores["full"] + 0.04
    assert scorer.score(query, reference).view in ("foreground", "keypoints")
