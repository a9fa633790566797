"""decode_image on real photos (scikit-image) encoded by Pillow in the ways marketplaces serve them,
and on every kind of bad input it must refuse with a named error."""

from __future__ import annotations

import hashlib
import struct
import subprocess
import sys
import zlib
from io import BytesIO
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from lookalike.embed.decode import (
    DEFAULT_MAX_SIDE,
    DRAFT_SIDE,
    SUPPORTED_FORMATS,
    decode_image,
    read_image_bytes,
)
from lookalike.errors import (
    EmptyImageError,
    ImageTooLargeError,
    InputError,
    LookalikeError,
    NotAnImageError,
    TruncatedImageError,
    UnsupportedFormatError,
)
from PIL import Image
from skimage import data

# EXIF Orientation -> the transpose that makes the stored pixels upright.
UPRIGHT = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}


def encode(im: Image.Image, fmt: str, **params: Any) -> bytes:
    buf = BytesIO()
    im.save(buf, fmt, **params)
    return buf.getvalue()


def pixels(im: Image.Image) -> np.ndarray:
    return np.asarray(im, dtype=np.int16)


def exif_orientation(value: int) -> bytes:
    exif = Image.Exif()
    exif[0x0112] = value
    return exif.tobytes()


def png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def png_claiming(width: int, height: int, *, filled: bool = False) -> bytes:
    """An RGB PNG whose header declares ``width`` x ``height``. Its IDAT holds ~1 kB of zeros,
    or, when ``filled``, every row (all black): a real decompression bomb, ~1000x its size."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    if filled:
        packer = zlib.compressobj(6)
        rows = b"\0" * ((width * 3 + 1) * 100)
        idat = b"".join(packer.compress(rows) for _ in range(height // 100)) + packer.flush()
    else:
        idat = zlib.compress(b"\0" * 1000)
    return (
        b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + png_chunk(b"IDAT", idat) + png_chunk(b"IEND", b"")
    )


@pytest.fixture(scope="module")
def astronaut() -> Image.Image:
    return Image.fromarray(data.astronaut())


@pytest.fixture(scope="module")
def coffee() -> Image.Image:
    """600 wide, 400 high: not square, so a 90° turn shows in the size."""
    return Image.fromarray(data.coffee())


# --- what comes out ---------------------------------------------------------------------


def test_plain_jpeg(coffee: Image.Image) -> None:
    raw = encode(coffee, "JPEG", quality=95)
    out = decode_image(raw)
    assert (out.format, out.width, out.height, out.image.size, out.image.mode) == (
        "JPEG",
        600,
        400,
        (600, 400),
        "RGB",
    )
    assert out.sha256 == hashlib.sha256(raw).hexdigest()
    assert out.n_bytes == len(raw)
    assert np.abs(pixels(out.image) - pixels(coffee)).mean() < 3


def test_path_and_bytes_agree(tmp_path: Path, astronaut: Image.Image) -> None:
    raw = encode(astronaut, "PNG")
    path = tmp_path / "astronaut.png"
    path.write_bytes(raw)
    from_path, from_bytes = decode_image(path), decode_image(raw)
    assert from_path.sha256 == from_bytes.sha256
    assert np.array_equal(pixels(from_path.image), pixels(astronaut))
    assert np.array_equal(pixels(from_path.image), pixels(from_bytes.image))
    assert decode_image(str(path)).format == "PNG"


def test_jpeg_exif_orientation_is_applied(coffee: Image.Image) -> None:
    plain = encode(coffee, "JPEG", quality=95)
    rotated = encode(coffee, "JPEG", quality=95, exif=exif_orientation(6))
    out = decode_image(rotated)
    assert (out.width, out.height) == (400, 600)
    assert out.image.size == (400, 600)
    reference = Image.open(BytesIO(plain)).convert("RGB").transpose(Image.Transpose.ROTATE_270)
    assert np.abs(pixels(out.image) - pixels(reference)).max() <= 1


@pytest.mark.parametrize("orientation", range(1, 9))
def test_every_orientation_png(coffee: Image.Image, orientation: int) -> None:
    out = decode_image(encode(coffee, "PNG", exif=exif_orientation(orientation)))
    expected = coffee.transpose(UPRIGHT[orientation]) if orientation in UPRIGHT else coffee
    assert (out.width, out.height) == expected.size
    assert np.array_equal(pixels(out.image), pixels(expected))


@pytest.mark.parametrize(("fmt", "params"), [("TIFF", {}), ("WEBP", {"lossless": True})])
def test_orientation_other_containers(coffee: Image.Image, fmt: str, params: dict[str, Any]) -> None:
    # Pillow's TIFF reader turns the image itself at open; width/height must still be upright.
    out = decode_image(encode(coffee, fmt, exif=exif_orientation(6), **params))
    assert (out.format, out.width, out.height) == (fmt, 400, 600)
    assert np.array_equal(pixels(out.image), pixels(coffee.transpose(Image.Transpose.ROTATE_270)))


def test_large_rotated_jpeg_reports_original_upright_size(astronaut: Image.Image) -> None:
    out = decode_image(encode(astronaut.resize((3000, 2000)), "JPEG", exif=exif_orientation(6)))
    assert (out.width, out.height) == (2000, 3000)
    # DCT scaling by 1/4 keeps a longer side of at least DRAFT_SIDE.
    assert out.image.size == (500, 750) and max(out.image.size) >= DRAFT_SIDE


def test_rgba_composited_on_white(astronaut: Image.Image) -> None:
    rgba = np.dstack([data.astronaut(), np.full((512, 512), 255, np.uint8)])
    rgba[:, :200, 3] = 0  # transparent
    rgba[:, 200:300, 3] = 128  # half transparent
    out = pixels(decode_image(encode(Image.fromarray(rgba, "RGBA"), "PNG")).image)
    assert (out[:, :200] == 255).all()
    assert np.array_equal(out[:, 300:], pixels(astronaut)[:, 300:])
    half = (255 * 127 + pixels(astronaut)[:, 200:300].astype(np.float64) * 128) / 255
    assert np.abs(out[:, 200:300] - half).max() <= 2


def test_la_composited_on_white() -> None:
    grey = data.camera()
    alpha = np.full_like(grey, 255)
    alpha[:100] = 0
    out = pixels(decode_image(encode(Image.fromarray(np.dstack([grey, alpha]), "LA"), "PNG")).image)
    assert (out[:100] == 255).all()
    assert np.array_equal(out[100:, :, 0], grey[100:])
    assert np.array_equal(out[..., 0], out[..., 2])


@pytest.mark.parametrize("fmt", ["PNG", "GIF"])
def test_palette_with_transparency_composited_on_white(astronaut: Image.Image, fmt: str) -> None:
    pal = astronaut.quantize(64)
    idx = np.asarray(pal).copy()
    idx[:50] = 63
    idx[50:][idx[50:] == 63] = 62
    keyed = Image.fromarray(idx, "P")
    keyed.putpalette(pal.getpalette() or [])
    out = decode_image(encode(keyed, fmt, transparency=63))
    assert out.format == fmt
    got = pixels(out.image)
    assert (got[:50] == 255).all()
    assert np.array_equal(got[50:], pixels(keyed.convert("RGB"))[50:])


def test_rgb_colour_key_composited_on_white(astronaut: Image.Image) -> None:
    # A truecolour PNG with a tRNS colour key: pixels of that colour are transparent.
    arr = np.asarray(astronaut).copy()
    arr[arr.sum(axis=2) == 6] = (0, 0, 0)
    arr[:40] = (1, 2, 3)
    out = pixels(decode_image(encode(Image.fromarray(arr), "PNG", transparency=(1, 2, 3))).image)
    assert (out[:40] == 255).all()
    assert np.array_equal(out[40:], arr[40:].astype(np.int16))


def test_cmyk_jpeg(coffee: Image.Image) -> None:
    raw = encode(coffee.convert("CMYK"), "JPEG", quality=95)
    assert Image.open(BytesIO(raw)).mode == "CMYK"
    out = decode_image(raw)
    assert (out.format, out.image.mode, out.image.size) == ("JPEG", "RGB", (600, 400))
    assert np.abs(pixels(out.image) - pixels(coffee)).mean() < 3


@pytest.mark.parametrize("fmt", ["PNG", "TIFF"])
def test_16_bit_greyscale(fmt: str) -> None:
    camera = data.camera()
    raw = encode(Image.fromarray(camera.astype(np.uint16) * 257), fmt)
    assert Image.open(BytesIO(raw)).mode == "I;16"
    out = pixels(decode_image(raw).image)
    assert out.shape == (512, 512, 3)
    for channel in range(3):
        assert np.abs(out[..., channel] - camera).max() <= 1


def test_greyscale() -> None:
    camera = data.camera()
    out = decode_image(encode(Image.fromarray(camera), "PNG"))
    assert out.image.mode == "RGB"
    for channel in range(3):
        assert np.array_equal(np.asarray(out.image)[..., channel], camera)


def test_animated_gif_gives_first_frame(astronaut: Image.Image, coffee: Image.Image) -> None:
    frames = [astronaut.resize((160, 120)), coffee.resize((160, 120)), Image.new("RGB", (160, 120), "red")]
    raw = encode(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    assert Image.open(BytesIO(raw)).n_frames == 3
    out = decode_image(raw)
    assert (out.format, out.width, out.height) == ("GIF", 160, 120)
    first = pixels(Image.open(BytesIO(raw)).convert("RGB"))
    assert np.array_equal(pixels(out.image), first)
    assert np.abs(pixels(out.image) - pixels(frames[0])).mean() < 12
    assert np.abs(pixels(out.image) - pixels(frames[2])).mean() > 50


def test_animated_webp_gives_first_frame(astronaut: Image.Image) -> None:
    frames = [astronaut.resize((96, 96)), Image.new("RGB", (96, 96), "red")]
    raw = encode(frames[0], "WEBP", save_all=True, append_images=frames[1:], lossless=True)
    assert np.array_equal(pixels(decode_image(raw).image), pixels(frames[0]))


@pytest.mark.parametrize("fmt", ["JPEG", "PNG"])
def test_large_image_downscaled(astronaut: Image.Image, fmt: str) -> None:
    raw = encode(astronaut.resize((3000, 2000)), fmt)
    out = decode_image(raw)
    assert (out.width, out.height) == (3000, 2000)
    # A JPEG is decoded at 1/4 scale (a longer side of at least DRAFT_SIDE); other formats
    # are decoded whole and thumbnailed to DEFAULT_MAX_SIDE.
    assert out.image.size == ((750, 500) if fmt == "JPEG" else (DEFAULT_MAX_SIDE, 853))
    small = decode_image(raw, max_side=300)
    assert (small.width, small.height, small.image.size) == (3000, 2000, (300, 200))
    # Still the same picture after draft decoding + thumbnailing.
    reference = astronaut.resize((300, 200), Image.Resampling.LANCZOS)
    assert np.abs(pixels(small.image) - pixels(reference)).mean() < 6


def test_small_image_not_upscaled(astronaut: Image.Image) -> None:
    out = decode_image(encode(astronaut.resize((40, 30)), "PNG"))
    assert out.image.size == (40, 30)


@pytest.mark.parametrize(("fmt", "params"), [("BMP", {}), ("WEBP", {"quality": 90}), ("TIFF", {})])
def test_other_supported_formats(astronaut: Image.Image, fmt: str, params: dict[str, Any]) -> None:
    assert fmt in SUPPORTED_FORMATS
    out = decode_image(encode(astronaut, fmt, **params))
    assert (out.format, out.image.size) == (fmt, (512, 512))
    assert np.abs(pixels(out.image) - pixels(astronaut)).mean() < 3


# --- what is refused --------------------------------------------------------------------


def test_empty_bytes(tmp_path: Path) -> None:
    with pytest.raises(EmptyImageError, match="empty"):
        decode_image(b"")
    empty = tmp_path / "empty.jpg"
    empty.write_bytes(b"")
    with pytest.raises(EmptyImageError, match=r"empty\.jpg"):
        decode_image(empty)


@pytest.mark.parametrize(
    "raw",
    [np.random.default_rng(0).bytes(4096), b"<html><body>404 not found</body></html>", b"\0" * 100],
    ids=["random", "html", "zeros"],
)
def test_not_an_image(raw: bytes) -> None:
    with pytest.raises(NotAnImageError, match="not an image"):
        decode_image(raw)


@pytest.mark.parametrize("fmt", ["JPEG", "PNG"])
@pytest.mark.parametrize("keep", [0.1, 0.5, 0.95])
def test_truncated(astronaut: Image.Image, fmt: str, keep: float) -> None:
    raw = encode(astronaut, fmt)
    with pytest.raises(TruncatedImageError, match=f"{fmt} data is truncated"):
        decode_image(raw[: int(len(raw) * keep)])


@pytest.mark.parametrize("fmt", ["ICO", "PPM", "TGA"])
def test_unsupported_format(astronaut: Image.Image, fmt: str) -> None:
    raw = encode(astronaut.resize((64, 64)), fmt)
    assert Image.open(BytesIO(raw)).format == fmt  # Pillow reads it; lookalike does not
    with pytest.raises(UnsupportedFormatError, match=f"{fmt} images are not supported") as info:
        decode_image(raw)
    assert info.value.http_status == 415


def test_over_max_bytes(tmp_path: Path, astronaut: Image.Image) -> None:
    raw = encode(astronaut, "PNG")
    with pytest.raises(ImageTooLargeError, match="byte limit"):
        decode_image(raw, max_bytes=len(raw) - 1)
    assert decode_image(raw, max_bytes=len(raw)).n_bytes == len(raw)
    path = tmp_path / "big.png"
    path.write_bytes(raw)
    with pytest.raises(ImageTooLargeError, match="byte limit"):
        decode_image(path, max_bytes=1000)
    with pytest.raises(ImageTooLargeError):
        read_image_bytes(path, max_bytes=1000)


def test_over_max_pixels(astronaut: Image.Image) -> None:
    with pytest.raises(ImageTooLargeError, match="512x512 = 262144 pixels"):
        decode_image(encode(astronaut, "PNG"), max_pixels=512 * 511)


@pytest.mark.parametrize("side", [20_000, 10_000, 8_000])
def test_decompression_bomb_png(side: int) -> None:
    # 20000² is past Pillow's own hard limit, 10000² past its warning, 8000² only past ours.
    raw = png_claiming(side, side)
    assert len(raw) < 200
    with pytest.raises(ImageTooLargeError) as info:
        decode_image(raw)
    assert info.value.http_status == 413


def test_max_pixels_not_pillow_decides(monkeypatch: pytest.MonkeyPatch, astronaut: Image.Image) -> None:
    """Between Pillow's global MAX_IMAGE_PIXELS and twice that, the caller's ``max_pixels`` rules;
    beyond twice that Pillow refuses at open, which is still an ImageTooLargeError."""
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 200_000)
    raw = encode(astronaut, "PNG")  # 262144 pixels: over Pillow's limit, under twice it
    assert decode_image(raw, max_pixels=300_000).image.size == (512, 512)
    with pytest.raises(ImageTooLargeError, match="over the 250000-pixel limit"):
        decode_image(raw, max_pixels=250_000)
    with pytest.raises(ImageTooLargeError, match="decompression bomb"):
        decode_image(encode(astronaut.resize((700, 700)), "PNG"), max_pixels=10**6)


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads VmHWM from /proc")
def test_decompression_bombs_are_not_allocated(astronaut: Image.Image) -> None:
    """Refusing bombs in a fresh process leaves its peak memory (VmHWM, which unlike ru_maxrss
    does not inherit the parent's peak) where it was; decoding the same real bomb when allowed
    raises it by the pixel size, which shows the measurement would catch an allocation."""
    gif = bytearray(encode(astronaut.resize((16, 16)), "GIF"))
    gif[6:10] = struct.pack("<HH", 30_000, 30_000)  # logical screen 30000x30000
    real_bomb = png_claiming(4000, 4000, filled=True)  # 48 MB of pixels
    assert len(real_bomb) < 100_000
    code = (
        "import re, sys\n"
        "from lookalike.embed.decode import decode_image\n"
        "from lookalike.errors import ImageTooLargeError\n"
        "def peak_mb():\n"
        "    status = open('/proc/self/status').read()\n"
        "    return int(re.search(r'VmHWM:\\s+(\\d+) kB', status).group(1)) // 1024\n"
        "bombs = sys.stdin.buffer.read().split(b'--cut--')\n"
        "before = peak_mb()\n"
        "for raw in bombs:\n"
        "    try:\n"
        "        decode_image(raw, max_pixels=10_000_000)\n"
        "    except ImageTooLargeError:\n"
        "        pass\n"
        "    else:\n"
        "        raise SystemExit('bomb was decoded')\n"
        "refused = peak_mb()\n"
        "decode_image(bombs[0], max_pixels=10**9)\n"
        "print(refused - before, peak_mb() - refused)\n"
    )
    bombs = b"--cut--".join([real_bomb, png_claiming(20_000, 20_000), bytes(gif)])
    done = subprocess.run([sys.executable, "-c", code], input=bombs, capture_output=True, timeout=60)
    assert done.returncode == 0, done.stderr.decode()
    refused_mb, allowed_mb = map(int, done.stdout.split())
    assert refused_mb < 5
    assert allowed_mb > 40


def test_missing_file(tmp_path: Path) -> None:
    missing = tmp_path / "nope.jpg"
    with pytest.raises(LookalikeError, match=r"nope\.jpg: cannot read file") as info:
        decode_image(missing)
    assert isinstance(info.value, InputError)
    with pytest.raises(LookalikeError, match="cannot read file"):
        decode_image(tmp_path)


def test_every_refusal_is_a_client_error(astronaut: Image.Image) -> None:
    raw = encode(astronaut, "JPEG")
    cases: list[tuple[bytes, dict[str, int]]] = [
        (b"", {}),
        (b"junk" * 10, {}),
        (raw[:1000], {}),
        (encode(astronaut, "PPM"), {}),
        (raw, {"max_bytes": 100}),
        (png_claiming(20_000, 20_000), {}),
    ]
    for blob, limits in cases:
        with pytest.raises(InputError) as info:
            decode_image(blob, **limits)
        assert 400 <= info.value.http_status < 500
        assert info.value.code != "bad_input"  # always the specific subclass
