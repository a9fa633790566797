"""The seeded edits that turn an original into a query, written with Pillow and NumPy only.

Two families. The *marketplace* set is what copied listings actually do to a product photo
(mirror, off-centre crop, heavy JPEG with downscale, text watermark, sticker, paste onto a
new listing template, background swap of a cut-out, pad to square, small rotation, colour
jitter, and chains of two or three of these). The *perception* set re-implements the eleven
transforms of Thorn's ``perception`` benchmark with its parameters (its ``jpeg95`` is imgaug's
``JpegCompression(95)``, i.e. Pillow quality 7, not quality 95), so hash numbers compare.

Every edit takes an RGB image (RGBA for the background swap) and a NumPy generator and
returns the edited RGB image and the parameters it drew, so a query is reproducible from
``queries_meta.csv`` alone.
"""

from __future__ import annotations

import io
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image, ImageDraw, ImageEnhance, ImageFilter, ImageFont, ImageOps

__all__ = [
    "EDITS",
    "MARKETPLACE",
    "NEAR_IDENTICAL",
    "PARTIAL",
    "PERCEPTION",
    "Edit",
    "apply_edit",
    "flatten",
    "has_cutout",
]

Params = dict[str, Any]
EditFn = Callable[[Image.Image, np.random.Generator], tuple[Image.Image, Params]]
WHITE = (255, 255, 255)


@dataclass(frozen=True)
class Edit:
    name: str
    family: str
    fn: EditFn
    #: Only for images with a transparent background (cut-out products).
    needs_cutout: bool = False


def flatten(image: Image.Image) -> Image.Image:
    """RGB on white, as lookalike's decoder composites transparency."""
    if image.mode != "RGBA":
        return image.convert("RGB")
    canvas = Image.new("RGBA", image.size, (*WHITE, 255))
    return Image.alpha_composite(canvas, image).convert("RGB")


def has_cutout(image: Image.Image) -> bool:
    """A transparent background: at least 5 % of the pixels fully see-through."""
    if image.mode != "RGBA":
        return False
    alpha = np.asarray(image.getchannel("A"))
    return bool((alpha == 0).mean() >= 0.05)


def _font(size: float) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    return ImageFont.load_default(size=max(8, round(size)))


def _jpeg(image: Image.Image, quality: int) -> Image.Image:
    buf = io.BytesIO()
    image.save(buf, "JPEG", quality=quality)
    buf.seek(0)
    return Image.open(buf).convert("RGB")


def _colour(rng: np.random.Generator, low: int = 0, high: int = 256) -> tuple[int, int, int]:
    r, g, b = (int(v) for v in rng.integers(low, high, 3))
    return r, g, b


def _resize(image: Image.Image, scale: float) -> Image.Image:
    w, h = image.size
    return image.resize((max(1, round(w * scale)), max(1, round(h * scale))), Image.Resampling.BILINEAR)


# -- marketplace ---------------------------------------------------------------------------


def mirror(image: Image.Image, rng: np.random.Generator) -> tuple[Image.Image, Params]:
    return ImageOps.mirror(image), {}


def crop(image: Image.Image, rng: np.random.Generator) -> tuple[Image.Image, Params]:
    """50-90 % of the area, placed off-centre (towards a random side)."""
    w, h = image.size
    area, aspect = float(rng.uniform(0.5, 0.9)), float(rng.uniform(0.8, 1.25))
    cw = min(w, max(1, round(w * math.sqrt(area * aspect))))
    ch = min(h, max(1, round(h * math.sqrt(area / aspect))))
    fx = float(rng.choice([rng.uniform(0.0, 0.25), rng.uniform(0.75, 1.0)]))
    fy = float(rng.uniform(0.0, 1.0))
    x, y = round((w - cw) * fx), round((h - ch) * fy)
    return image.crop((x, y, x + cw, y + ch)), {"area": round(cw * ch / (w * h), 3), "box": [x, y, cw, ch]}


def jpeg(image: Image.Image, rng: np.random.Generator) -> tuple[Image.Image, Params]:
    quality, scale = int(rng.integers(20, 61)), float(rng.uniform(0.35, 0.75))
    return _jpeg(_resize(image, scale), quality), {"quality": quality, "scale": round(scale, 3)}


_WATERMARKS = ("© bestdeals", "SAMPLE", "www.shop-outlet.example", "@resale_store", "PROOF", "not for resale")


def text(image: Image.Image, rng: np.random.Generator) -> tuple[Image.Image, Params]:
    """A semi-transparent text watermark somewhere on the image."""
    w, h = image.size
    label = str(rng.choice(_WATERMARKS))
    font = _font(min(w, h) * rng.uniform(0.07, 0.14))
    opacity = int(rng.integers(110, 221))
    colour = WHITE if rng.random() < 0.5 else (0, 0, 0)
    layer = Image.new("RGBA", image.size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(layer)
    left, top, right, bottom = (round(v) for v in draw.textbbox((0, 0), label, font=font))
    x = int(rng.integers(0, max(1, w - (right - left))))
    y = int(rng.integers(0, max(1, h - (bottom - top))))
    draw.text((x - left, y - top), label, font=font, fill=(*colour, opacity))
    out = Image.alpha_composite(image.convert("RGBA"), layer).convert("RGB")
    return out, {"text": label, "opacity": opacity, "xy": [x, y]}


_STICKERS = ("-30%", "SALE", "NEW", "HOT", "2+1", "FREE SHIP")


def sticker(image: Image.Image, rng: np.random.Generator) -> tuple[Image.Image, Params]:
    """An opaque logo/price sticker (disc or badge) near a random corner."""
    w, h = image.size
    side = max(8, round(min(w, h) * rng.uniform(0.18, 0.32)))
    badge = Image.new("RGBA", (side, side), (0, 0, 0, 0))
    draw = ImageDraw.Draw(badge)
    fill = _colour(rng, 30, 230)
    if rng.random() < 0.5:
        draw.ellipse(
            (0, 0, side - 1, side - 1), fill=(*fill, 255), outline=(*WHITE, 255), width=max(1, side // 20)
        )
    else:
        draw.rounded_rectangle((0, 0, side - 1, side - 1), radius=side // 5, fill=(*fill, 255))
    label = str(rng.choice(_STICKERS))
    font = _font(side * 0.28 * min(1.0, 4 / len(label)))
    draw.text((side / 2, side / 2), label, font=font, fill=(*WHITE, 255), anchor="mm")
    margin = round(min(w, h) * 0.03)
    corner = int(rng.integers(0, 4))
    x = margin if corner % 2 == 0 else max(0, w - side - margin)
    y = margin if corner < 2 else max(0, h - side - margin)
    out = image.convert("RGBA")
    out.alpha_composite(badge, (x, y))
    return out.convert("RGB"), {"text": label, "side": side, "xy": [x, y]}


_BANNERS = ("BEST PRICE  $19.99", "Free delivery", "Official store", "Limited offer", "Top seller 2024")


def template(image: Image.Image, rng: np.random.Generator) -> tuple[Image.Image, Params]:
    """A new listing: the photo, smaller, on a new canvas with a border and a banner."""
    w, h = image.size
    cw = round(max(w, h) * rng.uniform(1.25, 1.7))
    ch = round(cw * rng.uniform(0.9, 1.3))
    canvas = Image.new("RGB", (cw, ch), _colour(rng, 225, 256))
    draw = ImageDraw.Draw(canvas)
    border = max(2, round(cw * rng.uniform(0.015, 0.04)))
    draw.rectangle((0, 0, cw - 1, ch - 1), outline=_colour(rng, 0, 160), width=border)
    banner_h = round(ch * rng.uniform(0.11, 0.17))
    banner_top = bool(rng.random() < 0.5)
    by = border if banner_top else ch - border - banner_h
    draw.rectangle((border, by, cw - border - 1, by + banner_h), fill=_colour(rng, 0, 200))
    label = str(rng.choice(_BANNERS))
    draw.text((cw / 2, by + banner_h / 2), label, font=_font(banner_h * 0.5), fill=WHITE, anchor="mm")
    area_top = border + (banner_h if banner_top else 0)
    area_h = ch - 2 * border - banner_h
    scale = min((cw - 2 * border) / w, area_h / h) * float(rng.uniform(0.55, 0.85))
    photo = _resize(image, scale)
    x = border + int(rng.integers(0, max(1, cw - 2 * border - photo.width)))
    y = area_top + int(rng.integers(0, max(1, area_h - photo.height)))
    canvas.paste(photo, (x, y))
    return canvas, {"canvas": [cw, ch], "scale": round(scale, 3), "xy": [x, y], "banner": label}


def _background(size: tuple[int, int], rng: np.random.Generator) -> tuple[Image.Image, str]:
    w, h = size
    kind = str(rng.choice(["gradient", "texture", "stripes"]))
    if kind == "gradient":
        a, b = np.array(_colour(rng)), np.array(_colour(rng))
        t = np.linspace(0.0, 1.0, h)[:, None, None]
        pixels = np.broadcast_to(a * (1 - t) + b * t, (h, w, 3))
    elif kind == "texture":
        noise = rng.normal(0, 1, (max(2, h // 8), max(2, w // 8), 3))
        base = np.array(_colour(rng, 40, 220), dtype=np.float64)
        small = np.clip(base + 40 * noise, 0, 255).astype(np.uint8)
        pixels = np.asarray(Image.fromarray(small).resize((w, h), Image.Resampling.BICUBIC))
    else:
        period = max(4, round(min(w, h) * rng.uniform(0.05, 0.15)))
        stripe = (np.arange(w)[None, :] + np.arange(h)[:, None]) // period % 2
        a, b = np.array(_colour(rng)), np.array(_colour(rng))
        pixels = np.where(stripe[..., None] == 1, a, b)
    return Image.fromarray(np.asarray(pixels, dtype=np.uint8), "RGB"), kind


def bgswap(image: Image.Image, rng: np.random.Generator) -> tuple[Image.Image, Params]:
    """The cut-out product on a new background, a little larger canvas, shifted."""
    w, h = image.size
    grow = float(rng.uniform(1.0, 1.3))
    bg, kind = _background((round(w * grow), round(h * grow)), rng)
    x = int(rng.integers(0, bg.width - w + 1))
    y = int(rng.integers(0, bg.height - h + 1))
    out = bg.convert("RGBA")
    out.alpha_composite(image.convert("RGBA"), (x, y))
    return out.convert("RGB"), {"background": kind, "grow": round(grow, 3), "xy": [x, y]}


def padsq(image: Image.Image, rng: np.random.Generator) -> tuple[Image.Image, Params]:
    w, h = image.size
    side = max(w, h)
    colour = WHITE if rng.random() < 0.6 else _colour(rng)
    canvas = Image.new("RGB", (side, side), colour)
    canvas.paste(image, ((side - w) // 2, (side - h) // 2))
    return canvas, {"colour": list(colour)}


def rotate(image: Image.Image, rng: np.random.Generator) -> tuple[Image.Image, Params]:
    angle = float(rng.uniform(2.0, 10.0) * rng.choice([-1, 1]))
    out = image.rotate(angle, resample=Image.Resampling.BILINEAR, expand=True, fillcolor=WHITE)
    return out, {"angle": round(angle, 2)}


def jitter(image: Image.Image, rng: np.random.Generator) -> tuple[Image.Image, Params]:
    b, c, s = (float(v) for v in rng.uniform([0.7, 0.7, 0.6], [1.3, 1.3, 1.4]))
    hue = int(rng.integers(-12, 13))
    out = ImageEnhance.Color(
        ImageEnhance.Contrast(ImageEnhance.Brightness(image).enhance(b)).enhance(c)
    ).enhance(s)
    hsv = np.asarray(out.convert("HSV")).copy()
    hsv[..., 0] = (hsv[..., 0].astype(np.int16) + hue) % 256
    out = Image.fromarray(hsv, "HSV").convert("RGB")
    return out, {"brightness": round(b, 3), "contrast": round(c, 3), "saturation": round(s, 3), "hue": hue}


# -- perception (Thorn) ----------------------------------------------------------------------


def noop(image: Image.Image, rng: np.random.Generator) -> tuple[Image.Image, Params]:
    """perception's ``noop``: longer side resized to 256."""
    w, h = image.size
    return _resize(image, 256 / max(w, h)), {}


def crop005(image: Image.Image, rng: np.random.Generator) -> tuple[Image.Image, Params]:
    w, h = image.size
    dx, dy = round(w * 0.05), round(h * 0.05)
    return image.crop((dx, dy, w - dx, h - dy)), {}


def pad02(image: Image.Image, rng: np.random.Generator) -> tuple[Image.Image, Params]:
    """20 % black bars above and below (imgaug ``Pad`` top/bottom, constant 0)."""
    w, h = image.size
    dy = round(h * 0.2)
    canvas = Image.new("RGB", (w, h + 2 * dy), (0, 0, 0))
    canvas.paste(image, (0, dy))
    return canvas, {}


def jpeg95(image: Image.Image, rng: np.random.Generator) -> tuple[Image.Image, Params]:
    # imgaug maps compression c to quality round(1 + 99 * (1 - c / 101)): 95 -> 7.
    quality = round(1 + 99 * (1 - 95 / 101))
    return _jpeg(image, quality), {"quality": quality}


def blur2(image: Image.Image, rng: np.random.Generator) -> tuple[Image.Image, Params]:
    return image.filter(ImageFilter.GaussianBlur(2.0)), {}


def gamma2(image: Image.Image, rng: np.random.Generator) -> tuple[Image.Image, Params]:
    lut = [round(255 * (i / 255) ** 2) for i in range(256)] * 3
    return image.point(lut), {}


def noise02(image: Image.Image, rng: np.random.Generator) -> tuple[Image.Image, Params]:
    """Additive Gaussian noise, sigma 0.2 * 255, the same value on all channels of a pixel."""
    pixels = np.asarray(image, dtype=np.float32)
    noise = rng.normal(0.0, 0.2 * 255, (*pixels.shape[:2], 1)).astype(np.float32)
    return Image.fromarray(np.clip(pixels + noise, 0, 255).astype(np.uint8), "RGB"), {}


def rotate4(image: Image.Image, rng: np.random.Generator) -> tuple[Image.Image, Params]:
    """imgaug ``Affine(rotate=4)``: clockwise, same size, black corners."""
    return image.rotate(-4, resample=Image.Resampling.BILINEAR, fillcolor=(0, 0, 0)), {}


def resize05(image: Image.Image, rng: np.random.Generator) -> tuple[Image.Image, Params]:
    return _resize(image, 0.5), {}


def vignette(image: Image.Image, rng: np.random.Generator) -> tuple[Image.Image, Params]:
    """perception's vignette: a separable Gaussian with sigma half the side, peak 1."""
    w, h = image.size
    ys = np.exp(-((np.arange(h) - (h - 1) / 2) ** 2) / (2 * (h / 2) ** 2))
    xs = np.exp(-((np.arange(w) - (w - 1) / 2) ** 2) / (2 * (w / 2) ** 2))
    mask = (ys[:, None] * xs[None, :])[..., None]
    pixels = np.asarray(image, dtype=np.float64) * (mask / mask.max())
    return Image.fromarray(pixels.astype(np.uint8), "RGB"), {}


def watermark(image: Image.Image, rng: np.random.Generator) -> tuple[Image.Image, Params]:
    """perception's watermark: black "TEST", 20 % of the width, alpha 200, bottom left."""
    w, h = image.size
    probe = _font(100)
    left, top, right, bottom = probe.getbbox("TEST")
    font = _font(100 * 0.2 * w / max(1, right - left))
    text_h = (bottom - top) * 0.2 * w / max(1, right - left)
    layer = Image.new("RGBA", image.size, (0, 0, 0, 0))
    ImageDraw.Draw(layer).text((text_h, h - text_h), "TEST", font=font, fill=(0, 0, 0, 200), anchor="ls")
    return Image.alpha_composite(image.convert("RGBA"), layer).convert("RGB"), {}


# -- chains ----------------------------------------------------------------------------------

#: What a chain draws from; the background swap, when the source allows it, always goes first.
_CHAINABLE = ("mirror", "crop", "jpeg", "text", "sticker", "template", "padsq", "rotate", "jitter")


def _chain(length: int) -> EditFn:
    def fn(image: Image.Image, rng: np.random.Generator) -> tuple[Image.Image, Params]:
        names = [str(n) for n in rng.choice(_CHAINABLE, size=length, replace=False)]
        if has_cutout(image) and rng.random() < 0.5:
            names = ["bgswap", *names[1:]]
        steps = []
        for name in names:
            image, params = EDITS[name].fn(image if name == "bgswap" else flatten(image), rng)
            steps.append({"edit": name, **params})
        return flatten(image), {"steps": steps}

    return fn


MARKETPLACE: tuple[Edit, ...] = (
    Edit("mirror", "marketplace", mirror),
    Edit("crop", "marketplace", crop),
    Edit("jpeg", "marketplace", jpeg),
    Edit("text", "marketplace", text),
    Edit("sticker", "marketplace", sticker),
    Edit("template", "marketplace", template),
    Edit("bgswap", "marketplace", bgswap, needs_cutout=True),
    Edit("padsq", "marketplace", padsq),
    Edit("rotate", "marketplace", rotate),
    Edit("jitter", "marketplace", jitter),
    Edit("combo2", "marketplace", _chain(2)),
    Edit("combo3", "marketplace", _chain(3)),
)

PERCEPTION: tuple[Edit, ...] = (
    Edit("noop", "perception", noop),
    Edit("crop0.05", "perception", crop005),
    Edit("pad0.2", "perception", pad02),
    Edit("jpeg95", "perception", jpeg95),
    Edit("blur2", "perception", blur2),
    Edit("gamma2", "perception", gamma2),
    Edit("noise0.2", "perception", noise02),
    Edit("rotate4", "perception", rotate4),
    Edit("resize0.5", "perception", resize05),
    Edit("vignette", "perception", vignette),
    Edit("watermark", "perception", watermark),
)

EDITS: dict[str, Edit] = {e.name: e for e in (*MARKETPLACE, *PERCEPTION)}

#: Edits that keep the whole picture and its geometry (up to a mirror): a copy that a
#: trust & safety reviewer calls "the same image". Calibration wants these >= 0.97.
NEAR_IDENTICAL = frozenset({"mirror", "jpeg", "noop", "jpeg95", "resize0.5"})
#: Edits that keep only part of the original or put it into a new picture: near-duplicates
#: at best, never "the same image". Calibration wants these mostly below 0.97.
PARTIAL = frozenset({"crop", "template", "bgswap", "combo2", "combo3"})


def apply_edit(name: str, original: Image.Image, rng: np.random.Generator) -> tuple[Image.Image, Params]:
    """``original`` edited by ``name``: RGBA originals keep their alpha only for edits that use it."""
    edit = EDITS[name]
    image, params = edit.fn(
        original if edit.needs_cutout or name.startswith("combo") else flatten(original), rng
    )
    return flatten(image), params
