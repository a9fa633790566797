"""``lookalike bench make-video``: a video copy-detection benchmark from real clips.

Layout of the benchmark folder::

    refs/<id>            the reference clips, as they were
    queries/<qid>.mp4    edited copies (H.264), natural copies, and unrelated clips
    manifest.json        references (with their split), queries (kind, edits, split) and the
                         ground truth: for each query the copied segments, in seconds,
                         ``[ref_id, query_start, query_end, ref_start, ref_end]``

Edited queries take a random stretch of a reference and apply a temporal edit (trim, speed
0.5x-2x, another frame rate, insertion into a longer unrelated clip, two copied stretches
in one clip) and a spatial one (re-encode, crop, mirror, text/logo overlay, letterbox,
downscale at a low bitrate, picture-in-picture with a banner). Unrelated footage comes
from scikit-image's photographs, panned and zoomed (Ken Burns), never from a reference.
Natural copies are the corpus' own copies (manifest ``role=copy``); their segments are not
known, so they count at video level only. References are split into ``fit`` (calibration)
and ``test`` (reported) by a hash of their id, and their queries follow them.

Several folders of originals may be given (the shared corpus and ``data/fetch-more-video``'s
clips). Each reference draws its edits from a random generator seeded by its own id, and
the unrelated clips from one of their own, so adding or removing a clip leaves every other
query as it was.
"""

from __future__ import annotations

import csv
import hashlib
import json
import random
import re
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw, ImageFont, ImageOps

__all__ = ["SPATIAL", "TEMPORAL", "make_video_benchmark"]

#: Width frames are handled at while editing (queries are encoded at this size or less).
WORK_WIDTH = 480
SPATIAL = ("reencode", "crop", "mirror", "overlay", "letterbox", "lowres", "pip")
TEMPORAL = ("trim", "speed", "fps", "insert", "multi")


@dataclass
class Clip:
    times: np.ndarray
    frames: list[np.ndarray]
    duration: float

    def at(self, t: float) -> np.ndarray:
        i = int(np.searchsorted(self.times, t, side="right")) - 1
        return self.frames[max(0, min(i, len(self.frames) - 1))]


def _load(path: Path, width: int = WORK_WIDTH) -> Clip:
    import av

    times, frames = [], []
    with av.open(str(path)) as c:
        s = c.streams.video[0]
        s.thread_type = "AUTO"
        w, h = s.codec_context.width, s.codec_context.height
        scale = min(1.0, width / w)
        ow, oh = max(2, int(w * scale) // 2 * 2), max(2, int(h * scale) // 2 * 2)
        start = None
        for f in c.decode(s):
            if f.time is None:
                continue
            start = f.time if start is None else start
            times.append(float(f.time - start))
            frames.append(f.to_ndarray(width=ow, height=oh, format="rgb24"))
        rate = float(s.average_rate or 25)
    return Clip(np.asarray(times), frames, times[-1] + 1 / rate)


def _photos() -> list[Image.Image]:
    import skimage.data

    root = Path(skimage.data.__file__).parent
    names = ["astronaut.png", "coffee.png", "chelsea.png", "rocket.jpg", "motorcycle_left.png"]
    names += ["hubble_deep_field.jpg", "retina.jpg", "coins.png", "camera.png", "moon.png", "page.png"]
    out = []
    for n in names:
        if (root / n).exists():
            with Image.open(root / n) as im:
                out.append(im.convert("RGB"))
    return out


def _pan(photo: Image.Image, seconds: float, rng: random.Random, size: tuple[int, int]) -> Clip:
    """Unrelated footage: a slow pan and zoom over a photograph, 25 fps."""
    w, h = photo.size
    z0, z1 = rng.uniform(0.5, 0.8), rng.uniform(0.5, 0.8)
    x0, y0, x1, y1 = rng.random(), rng.random(), rng.random(), rng.random()
    n = max(1, int(seconds * 25))
    frames = []
    for k in range(n):
        a = k / max(1, n - 1)
        z = z0 + (z1 - z0) * a
        cw, ch = int(w * z), int(h * z)
        x = int((w - cw) * (x0 + (x1 - x0) * a))
        y = int((h - ch) * (y0 + (y1 - y0) * a))
        frames.append(np.asarray(photo.crop((x, y, x + cw, y + ch)).resize(size, Image.Resampling.BILINEAR)))
    return Clip(np.arange(n) / 25.0, frames, n / 25.0)


def _spatial(
    kind: str, frame: np.ndarray, rng_state: dict[str, Any], filler: np.ndarray | None
) -> np.ndarray:
    im = Image.fromarray(frame)
    w, h = im.size
    if kind == "crop":
        f, fx, fy = rng_state["crop"]
        cw, ch = int(w * f), int(h * f)
        im = im.crop(
            (int((w - cw) * fx), int((h - ch) * fy), int((w - cw) * fx) + cw, int((h - ch) * fy) + ch)
        )
        im = im.resize((w, h), Image.Resampling.BILINEAR)
    elif kind == "mirror":
        im = ImageOps.mirror(im)
    elif kind == "overlay":
        draw = ImageDraw.Draw(im)
        font = ImageFont.load_default(size=max(12, h // 9))
        draw.text((w // 20, h - h // 5), rng_state["text"], font=font, fill=(255, 255, 255))
        draw.ellipse((w - w // 6, h // 20, w - w // 30, h // 20 + w // 8), fill=(230, 40, 40))
    elif kind == "letterbox":
        side = int(max(w, h * 16 / 9) * 1.0)
        canvas = Image.new("RGB", (side, int(side * 9 / 16) + h // 3), (0, 0, 0))
        canvas.paste(im, ((canvas.width - w) // 2, (canvas.height - h) // 2))
        im = canvas.resize((w, h), Image.Resampling.BILINEAR)
    elif kind == "lowres":
        im = im.resize((max(2, w // 3), max(2, h // 3)), Image.Resampling.BILINEAR)
    elif kind == "pip":
        bg = Image.fromarray(filler) if filler is not None else Image.new("RGB", (w, h), (40, 40, 60))
        bg = bg.resize((w, h))
        small = im.resize((int(w * 0.55), int(h * 0.55)), Image.Resampling.BILINEAR)
        bg.paste(small, (w // 3, h // 5))
        draw = ImageDraw.Draw(bg)
        draw.rectangle((0, h - h // 6, w, h), fill=(200, 30, 40))
        draw.text((10, h - h // 7), "SALE! link in bio", font=ImageFont.load_default(size=max(12, h // 10)))
        im = bg
    return np.asarray(im)


def _encode(path: Path, frames: list[np.ndarray], fps: float, crf: int) -> None:
    import av

    h, w = frames[0].shape[:2]
    w2, h2 = w // 2 * 2, h // 2 * 2
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=Fraction(fps).limit_denominator(1001))
        stream.width, stream.height, stream.pix_fmt = w2, h2, "yuv420p"
        stream.options = {"crf": str(crf), "preset": "veryfast"}
        for arr in frames:
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(arr[:h2, :w2]), format="rgb24")
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)


def _clip_id(path: str) -> str:
    """A clip's id in the benchmark: its path under the originals' folder, flattened."""
    return path.replace("/", "__")


def _split(ref_id: str) -> str:
    return "fit" if int(hashlib.sha256(ref_id.encode()).hexdigest(), 16) % 5 < 2 else "test"


def _read_manifest(originals: Path) -> tuple[list[str], dict[str, str]]:
    """References and natural copies (copy -> the reference it derives from)."""
    for candidate in (originals / "manifest.csv", originals.parent / "manifest.csv"):
        if candidate.exists():
            rows = list(csv.DictReader(candidate.open()))
            prefix = "videos/" if candidate.parent != originals else ""
            by_path = {r["path"].removeprefix(prefix): r for r in rows}
            refs = [p for p, r in by_path.items() if r["role"] == "reference"]
            copies: dict[str, str] = {}
            for p, r in by_path.items():
                if r["role"] != "copy":
                    continue
                target = p
                for _ in range(5):  # follow "copy of X" chains to a reference
                    named = [n for n in re.findall(r"[\w.-]+/[\w.-]+\.\w+", by_path[target]["relation"])]
                    named = [n for n in named if n in by_path and n != target]
                    if not named:
                        break
                    target = named[0]
                    if by_path[target]["role"] == "reference":
                        copies[p] = target
                        break
            return sorted(refs), copies
    refs = sorted(
        p.relative_to(originals).as_posix()
        for p in originals.rglob("*")
        if p.suffix.lower() in (".mp4", ".mov", ".mkv", ".webm", ".avi", ".mpg")
    )
    return refs, {}


def make_video_benchmark(
    originals: str | Path | Sequence[str | Path],
    out: str | Path,
    *,
    seed: int = 0,
    queries_per_ref: int = 8,
    unrelated: int = 12,
) -> dict[str, Any]:
    folders = [Path(originals)] if isinstance(originals, str | Path) else [Path(f) for f in originals]
    out = Path(out)
    refs: list[tuple[Path, str]] = []
    natural: dict[str, tuple[Path, str]] = {}
    for folder in folders:
        found, copies = _read_manifest(folder)
        refs += [(folder, ref) for ref in found]
        natural.update({copy: (folder, ref) for copy, ref in copies.items()})
    ids = [_clip_id(ref) for _, ref in refs]
    if len(set(ids)) < len(ids):
        raise ValueError("two folders of originals hold a clip at the same path")
    (out / "refs").mkdir(parents=True, exist_ok=True)
    (out / "queries").mkdir(parents=True, exist_ok=True)
    photos = _photos()
    manifest: dict[str, Any] = {"references": [], "queries": [], "seed": seed}
    combos = [(t, s) for t in TEMPORAL for s in SPATIAL]
    for (folder, ref), ref_id in sorted(zip(refs, ids, strict=True), key=lambda r: r[1]):
        rng = random.Random(f"{seed}/{ref_id}")
        src = folder / ref
        shutil.copyfile(src, out / "refs" / ref_id)
        split = _split(ref_id)
        clip = _load(src)
        manifest["references"].append({"id": ref_id, "duration": round(clip.duration, 3), "split": split})
        h, w = clip.frames[0].shape[:2]
        edits = rng.sample(combos, len(combos))
        for q in range(queries_per_ref):
            temporal, spatial = edits[q % len(edits)]
            qid = f"{ref_id}.q{q}.{temporal}-{spatial}"
            speed = rng.choice([0.5, 0.75, 1.5, 2.0]) if temporal == "speed" else 1.0
            fps = rng.choice([12.0, 15.0, 30.0, 50.0]) if temporal == "fps" else 25.0
            seg = min(clip.duration, rng.uniform(3.0, 12.0))
            pieces: list[tuple[str, Any]] = []  # ("ref", (a, b)) or ("fill", seconds)
            a = rng.uniform(0, max(0.0, clip.duration - seg))
            if temporal == "insert":
                pieces = [("fill", rng.uniform(2, 8)), ("ref", (a, a + seg)), ("fill", rng.uniform(2, 8))]
            elif temporal == "multi" and clip.duration >= 6:
                half = min(seg, clip.duration / 2) / 2
                a1 = rng.uniform(0, clip.duration / 2 - half)
                a2 = rng.uniform(clip.duration / 2, clip.duration - half)
                pieces = [("ref", (a2, a2 + half)), ("fill", rng.uniform(2, 5)), ("ref", (a1, a1 + half))]
            else:
                pieces = [("ref", (a, a + seg))]
            state = {
                "crop": (rng.uniform(0.7, 0.85), rng.random(), rng.random()),
                "text": rng.choice(["BEST PRICE", "@shop_deals", "unboxing!!"]),
            }
            photo = rng.choice(photos)
            frames: list[np.ndarray] = []
            truth = []
            qt = 0.0
            for kind, arg in pieces:
                if kind == "fill":
                    fill = _pan(photo, arg, rng, (w, h))
                    n = int(arg * fps)
                    frames += [fill.at(k / fps) for k in range(n)]
                    qt += n / fps
                else:
                    ra, rb = arg
                    n = max(1, int((rb - ra) / speed * fps))
                    pip_bg = _pan(photo, n / fps, rng, (w, h)) if spatial == "pip" else None
                    for k in range(n):
                        filler = pip_bg.at(k / fps) if pip_bg is not None else None
                        frames.append(_spatial(spatial, clip.at(ra + k * speed / fps), state, filler))
                    truth.append(
                        [
                            ref_id,
                            round(qt, 3),
                            round(qt + n / fps, 3),
                            round(ra, 3),
                            round(ra + n * speed / fps, 3),
                        ]
                    )
                    qt += n / fps
            crf = 36 if spatial == "lowres" else 26
            _encode(out / "queries" / f"{qid}.mp4", frames, fps, crf)
            manifest["queries"].append(
                {
                    "id": f"{qid}.mp4",
                    "kind": "edited",
                    "temporal": temporal,
                    "spatial": spatial,
                    "speed": speed,
                    "fps": fps,
                    "split": split,
                    "truth": truth,
                }
            )
    for copy, (folder, ref) in sorted(natural.items()):
        qid = "natural__" + _clip_id(copy)
        shutil.copyfile(folder / copy, out / "queries" / qid)
        ref_id = _clip_id(ref)
        manifest["queries"].append(
            {
                "id": qid,
                "kind": "natural",
                "split": _split(ref_id),
                "truth": [[ref_id, None, None, None, None]],
            }
        )
    rng = random.Random(f"{seed}/unrelated")
    for u in range(unrelated):
        photo = photos[u % len(photos)]
        clip = _pan(photo, rng.uniform(4, 10), rng, (WORK_WIDTH, 270))
        qid = f"unrelated{u:02d}.mp4"
        _encode(out / "queries" / qid, clip.frames, 25.0, 26)
        manifest["queries"].append(
            {"id": qid, "kind": "unrelated", "split": "fit" if u % 3 == 0 else "test", "truth": []}
        )
    counts = {k: sum(q["kind"] == k for q in manifest["queries"]) for k in ("edited", "natural", "unrelated")}
    manifest["counts"] = {"references": len(refs), **counts}
    (out / "manifest.json").write_text(json.dumps(manifest, indent=1))
    return manifest
