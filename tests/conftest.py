"""Shared fixtures: scikit-image's bundled real photos, edited copies of them, embedders."""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import skimage.data
from lookalike.embed.base import Embedder
from lookalike.embed.factory import get_embedder
from lookalike.engine import Engine
from lookalike.factory import scorer_for
from lookalike.index.store import Index
from milvus_server import LocalMilvus, ServerUnavailable
from PIL import Image, ImageDraw, ImageFont, ImageOps

# Colour photos of distinct scenes (the greyscale and texture samples are left out on purpose:
# three gravel/grass/brick close-ups are "different images" that even people confuse).
PHOTO_FILES = {
    "astronaut": "astronaut.png",
    "coffee": "coffee.png",
    "chelsea": "chelsea.png",
    "rocket": "rocket.jpg",
    "motorcycle": "motorcycle_left.png",
    "hubble": "hubble_deep_field.jpg",
    "retina": "retina.jpg",
}
PHOTO_NAMES = tuple(PHOTO_FILES)
DATA_DIR = Path(skimage.data.__file__).parent


def load_photo(name: str) -> Image.Image:
    with Image.open(DATA_DIR / PHOTO_FILES[name]) as im:
        return im.convert("RGB")


def jpeg_bytes(image: Image.Image, quality: int = 90) -> bytes:
    buf = io.BytesIO()
    image.save(buf, "JPEG", quality=quality)
    return buf.getvalue()


def png_bytes(image: Image.Image) -> bytes:
    buf = io.BytesIO()
    image.save(buf, "PNG")
    return buf.getvalue()


def _crop70(im: Image.Image) -> Image.Image:
    w, h = im.size
    side = 0.7**0.5
    cw, ch = int(w * side), int(h * side)
    return im.crop((w - cw - w // 20, h // 20, w - w // 20, h // 20 + ch))


def _watermark(im: Image.Image) -> Image.Image:
    layer = Image.new("RGBA", im.size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(layer)
    font = ImageFont.load_default(size=max(16, im.width // 10))
    for row in range(3):
        draw.text(
            (im.width // 10, im.height * (row + 1) // 4 - im.height // 10),
            "SAMPLE © shop",
            font=font,
            fill=(255, 255, 255, 150),
        )
    return Image.alpha_composite(im.convert("RGBA"), layer).convert("RGB")


def _template(im: Image.Image) -> Image.Image:
    w, h = im.size
    canvas = Image.new("RGB", (int(w * 1.3), int(h * 1.5)), (245, 240, 230))
    draw = ImageDraw.Draw(canvas)
    draw.rectangle((0, 0, canvas.width, h // 5), fill=(200, 30, 40))
    draw.text((10, 10), "MEGA SALE -50%", font=ImageFont.load_default(size=max(14, h // 10)), fill="white")
    small = im.resize((int(w * 0.9), int(h * 0.9)))
    canvas.paste(small, ((canvas.width - small.width) // 2, h // 5 + h // 20))
    return ImageOps.expand(canvas, border=8, fill=(20, 20, 20))


EDITS: dict[str, Callable[[Image.Image], Image.Image]] = {
    "mirror": ImageOps.mirror,
    "crop70": _crop70,
    "jpeg30": lambda im: Image.open(io.BytesIO(jpeg_bytes(im, 30))).convert("RGB"),
    "watermark": _watermark,
    "template": _template,
    "rotate5": lambda im: im.rotate(5, resample=Image.Resampling.BILINEAR, fillcolor=(255, 255, 255)),
}
NEAR_IDENTICAL_EDITS = ("mirror", "jpeg30")


def flat_shape(kind: str, angle: float = 0) -> Image.Image:
    """A black silhouette on white: the flat shapes keypoints used to mistake for photos."""
    canvas = Image.new("RGB", (640, 640), "white")
    outline = {
        "t-shirt": [
            (200, 100),
            (260, 80),
            (380, 80),
            (440, 100),
            (560, 200),
            (500, 280),
            (450, 240),
            (450, 560),
            (190, 560),
            (190, 240),
            (140, 280),
            (80, 200),
        ],
        "arrow": [(80, 260), (380, 260), (380, 140), (580, 320), (380, 500), (380, 380), (80, 380)],
    }[kind]
    ImageDraw.Draw(canvas).polygon(outline, fill="black")
    return canvas.rotate(angle, fillcolor="white")


# The commercial API's /image/match answer, key for key and in order.
ENVELOPE_KEYS = [
    "match",
    "confidence",
    "similarity_score",
    "processing_time_ms",
    "media_type",
    "matched_segments",
]


@pytest.fixture(scope="session")
def photos() -> dict[str, Image.Image]:
    return {name: load_photo(name) for name in PHOTO_NAMES}


@pytest.fixture(scope="session")
def photo_dir(tmp_path_factory: pytest.TempPathFactory, photos: dict[str, Image.Image]) -> Path:
    """The photos as files, as a catalog team would have them."""
    folder = tmp_path_factory.mktemp("photos")
    for name, im in photos.items():
        (folder / f"{name}.jpg").write_bytes(jpeg_bytes(im, 95))
    return folder


def engine_for(embedder: Embedder, index: Index | None = None) -> Engine:
    """An engine over a shared embedder (one ONNX session for the whole run) and its scorer."""
    return Engine(embedder, scorer_for(embedder.info.name), index)


@pytest.fixture(scope="session")
def sscd() -> Embedder:
    return get_embedder("sscd", threads=2)


@pytest.fixture(scope="session")
def edited(photos: dict[str, Image.Image]) -> dict[tuple[str, str], Image.Image]:
    """(photo, edit) -> edited copy."""
    return {(name, edit): fn(im) for name, im in photos.items() for edit, fn in EDITS.items()}


@pytest.fixture(scope="session")
def milvus_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalMilvus]:
    """One real Milvus server for the session (~10 s to start), on a port of its own;
    the tests that need it skip, saying why, where it cannot start."""
    try:
        server = LocalMilvus(tmp_path_factory.mktemp("milvus-server"))
        server.start()
    except ServerUnavailable as exc:
        pytest.skip(f"no real Milvus server here: {exc}")
    yield server
    server.stop()
