"""Bytes -> the frames of a video worth describing, safely (PyAV).

A video is described by frames sampled at ``fps`` (2 a second by default, see
data/README.md) plus the first frame after every scene cut, each with its timestamp in
seconds from the first frame. Only the sampled frames are converted to pixels, straight at
the size the model needs (``size``, the embedder's square input) and without any black
letterbox or pillarbox bars, and turned upright where the container says the stream is
shown turned (a phone's portrait video); the frames later frames
refer to are decoded (inter-frame codecs need them) but only looked at as a 32x18 grey
thumbnail read off the luma plane, which is how cuts are found, and where the stream has
frames to spare, frames nothing refers to are not decoded at all. The decoder runs with
FFmpeg's frame and slice threads (``AUTO``), one a core.

Every failure is a named :mod:`lookalike.errors` exception raised before memory is spent:
the byte cap is checked before reading, the frame size and declared duration before
decoding, and the duration again as frames arrive (a header may lie). PyAV is imported on
first use, so ``import lookalike`` stays light.
"""

from __future__ import annotations

import hashlib
import io
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from ..errors import (
    EmptyVideoError,
    NotAVideoError,
    NoVideoStreamError,
    TruncatedVideoError,
    VideoDecodeError,
    VideoTooLargeError,
)
from .formats import SNIFF_BYTES, VIDEO_SUFFIXES, sniff_format, sniff_video

__all__ = [
    "DEFAULT_FPS",
    "DEFAULT_MAX_DURATION_S",
    "DEFAULT_MAX_FRAME_PIXELS",
    "DEFAULT_MAX_VIDEO_BYTES",
    "VIDEO_SUFFIXES",
    "DecodedVideo",
    "VideoLimits",
    "decode_video",
    "is_video",
]

DEFAULT_MAX_VIDEO_BYTES = 200 * 1024 * 1024
DEFAULT_MAX_DURATION_S = 15 * 60.0
#: 4K UHD; larger frames are refused before any is decoded.
DEFAULT_MAX_FRAME_PIXELS = 3840 * 2160
#: Frames a second sampled (chosen by measurement: data/README.md, "Video").
DEFAULT_FPS = 2.0
#: A cut: mean absolute difference of consecutive 32x18 grey thumbnails (0-255) above this.
CUT_THRESHOLD = 30.0
#: Undecoded non-reference frames only where the stream has this many frames per sample
#: (a 15 fps screen recording at 2 a second skips them; data/README.md, "Decoding").
SKIP_NONREF_RATIO = 4
#: A cut frame closer than this to a sampled frame adds nothing.
MIN_CUT_GAP_S = 0.25
#: Frames whose thumbnail is this flat (grey std) carry no content (black, fades, blank
#: title cards); they are kept but flagged, and alignment ignores them.
FLAT_STD = 6.0
#: Letterbox and pillarbox bars: border rows or columns with at most 2 % of their pixels
#: brighter than this luma (black is 16 in limited range, 0 in full), at least
#: :data:`MIN_BAR` of the side deep, ending on a row or column at least :data:`EDGE_LIT` lit.
BAR_LUMA = 32
MIN_BAR = 0.03
#: A black background (a globe on space, a dark stage) ends on a row that is mostly dark
#: still; bars end on the picture, which is lit across most of its width.
EDGE_LIT = 0.3

_THUMB = (32, 18)
#: Pixel formats whose first plane is the luma (Y) plane at full size, and how many bits to
#: drop from its samples to read them on 0-255: 8-bit, and the 10- and 12-bit formats that
#: phones record HDR video in (little-endian 16-bit words; P010 keeps its bits at the top).
_PLANAR_YUV = (
    {f"yuv{c}p": 0 for c in ("420", "422", "444", "411", "410")}
    | {f"yuvj{c}p": 0 for c in ("420", "422", "444")}
    | {"nv12": 0, "nv21": 0}
    | {f"yuv{c}p{bits}le": bits - 8 for c in ("420", "422", "444") for bits in (10, 12)}
    | {"p010le": 8}
)


@dataclass(frozen=True)
class VideoLimits:
    max_bytes: int = DEFAULT_MAX_VIDEO_BYTES
    max_duration_s: float = DEFAULT_MAX_DURATION_S
    max_frame_pixels: int = DEFAULT_MAX_FRAME_PIXELS


@dataclass(frozen=True)
class DecodedVideo:
    """Sampled frames (RGB, ``size`` square) with their times in seconds, and what was
    learnt about the stream."""

    times: np.ndarray  # [n] float64 seconds from the first frame
    frames: list[Image.Image]
    #: [n] bool: the frame has content (not black, blank or mid-fade).
    informative: np.ndarray
    duration: float
    fps: float
    width: int
    height: int
    codec: str
    sha256: str
    n_bytes: int
    frames_decoded: int = 0
    cuts: list[float] = field(default_factory=list)


def is_video(source: bytes | str | Path) -> bool:
    """Whether ``source`` looks like a video: a video file suffix, or bytes that open with a
    video container's signature (and not an image's)."""
    if isinstance(source, bytes):
        return sniff_format(source[:SNIFF_BYTES]) is None and sniff_video(source[:SNIFF_BYTES]) is not None
    return Path(source).suffix.lower() in VIDEO_SUFFIXES


def _read_head_and_hash(path: Path, label: str, limits: VideoLimits) -> tuple[bytes, str, int]:
    try:
        size = path.stat().st_size
        if size > limits.max_bytes:
            raise VideoTooLargeError(f"{label}: {size} bytes is over the {limits.max_bytes}-byte limit")
        digest = hashlib.sha256()
        head = b""
        with path.open("rb") as f:
            while chunk := f.read(1 << 20):
                if not head:
                    head = chunk[:SNIFF_BYTES]
                digest.update(chunk)
    except OSError as exc:
        raise VideoDecodeError(f"{label}: cannot read file: {exc.strerror or exc}") from exc
    return head, digest.hexdigest(), size


def decode_video(
    source: bytes | str | Path,
    *,
    fps: float = DEFAULT_FPS,
    size: int = 224,
    scene_cuts: bool = True,
    limits: VideoLimits | None = None,
    on_frame: Callable[[Image.Image], object] | None = None,
) -> DecodedVideo:
    """Sample ``source`` (bytes or a file path): frames every ``1/fps`` s from the first
    frame, plus the first frame after each scene cut, as ``size`` x ``size`` RGB images.
    ``on_frame`` is given each sampled frame as soon as it is decoded."""
    limits = limits or VideoLimits()
    if fps <= 0:
        raise ValueError("fps must be positive")
    if isinstance(source, bytes):
        label = "video"
        if len(source) > limits.max_bytes:
            raise VideoTooLargeError(
                f"{label}: {len(source)} bytes is over the {limits.max_bytes}-byte limit"
            )
        head, sha, n_bytes = source[:SNIFF_BYTES], hashlib.sha256(source).hexdigest(), len(source)
        opened: Any = io.BytesIO(source)
    else:
        path = Path(source)
        label = str(path)
        head, sha, n_bytes = _read_head_and_hash(path, label, limits)
        opened = str(path)
    if n_bytes == 0:
        raise EmptyVideoError(f"{label}: empty input (0 bytes)")
    image_format = sniff_format(head)
    if image_format is not None:
        raise NotAVideoError(f"{label}: this is a {image_format} image, not a video")
    import av  # lazily: PyAV loads FFmpeg

    try:
        container = av.open(opened, mode="r", metadata_errors="ignore")
    except (av.FFmpegError, ValueError, OSError) as exc:
        raise VideoDecodeError(f"{label}: not a decodable video: {exc}") from exc
    with container:
        return _sample(container, label, sha, n_bytes, fps, size, scene_cuts, limits, on_frame)


def _sample(
    container: Any,
    label: str,
    sha: str,
    n_bytes: int,
    fps: float,
    size: int,
    scene_cuts: bool,
    limits: VideoLimits,
    on_frame: Callable[[Image.Image], object] | None,
) -> DecodedVideo:
    import av

    if container.format.name in ("image2", "png_pipe", "jpeg_pipe", "gif", "webp_pipe", "bmp_pipe"):
        raise NotAVideoError(f"{label}: this is an image ({container.format.name}), not a video")
    if not container.streams.video:
        kinds = sorted({s.type for s in container.streams})
        what = "audio only" if "audio" in kinds else f"streams: {', '.join(kinds) or 'none'}"
        raise NoVideoStreamError(f"{label}: no video stream ({what})")
    stream = container.streams.video[0]
    ctx = stream.codec_context
    width, height = int(ctx.width or 0), int(ctx.height or 0)
    if width * height > limits.max_frame_pixels:
        raise VideoTooLargeError(
            f"{label}: {width}x{height} frames are over the {limits.max_frame_pixels}-pixel limit"
        )
    declared = _declared_duration(container, stream)
    if declared is not None and declared > limits.max_duration_s:
        raise VideoTooLargeError(
            f"{label}: {declared:.1f} s is over the {limits.max_duration_s:g}-second limit"
        )
    if stream.codec_context.name in ("png", "mjpeg", "bmp", "gif", "webp") and (stream.frames or 0) <= 1:
        raise NotAVideoError(
            f"{label}: a single {stream.codec_context.name} picture is an image, not a video"
        )
    stream.thread_type = "AUTO"
    # One thread a core: FFmpeg's own choice is one more, and on two cores that third
    # frame thread made a 720p decode 10-20 % slower (data/README.md, "Decoding").
    stream.codec_context.thread_count = os.cpu_count() or 1
    if stream.average_rate and float(stream.average_rate) >= SKIP_NONREF_RATIO * fps:
        # Frames no other frame refers to (most B-frames where the encoder marks them so)
        # need not be decoded: at this rate the next sample and cut are found on the frames
        # that remain, at most a frame or two later.
        stream.codec_context.skip_frame = "NONREF"
    times: list[float] = []
    frames: list[Image.Image] = []
    informative: list[bool] = []
    cuts: list[float] = []
    decoded = turns = 0
    start: float | None = None
    next_t = 0.0
    prev_thumb: np.ndarray | None = None
    last_t = 0.0
    try:
        for frame in _frames(container, stream):
            if frame.time is None:
                continue
            if start is None:
                start = float(frame.time)
            t = float(frame.time) - start
            if t < last_t - 1e-6 and decoded:  # out-of-order timestamps: keep time monotone
                t = last_t
            decoded += 1
            last_t = t
            if t > limits.max_duration_s:
                raise VideoTooLargeError(f"{label}: longer than the {limits.max_duration_s:g}-second limit")
            thumb = _thumb(frame)
            cut = (
                scene_cuts
                and prev_thumb is not None
                and float(np.abs(thumb - prev_thumb).mean()) > CUT_THRESHOLD
            )
            prev_thumb = thumb
            if cut:
                cuts.append(round(t, 3))
            take = t >= next_t - 1e-6 or (cut and (not times or t - times[-1] >= MIN_CUT_GAP_S))
            if not take:
                continue
            if t >= next_t - 1e-6:
                next_t = (np.floor(t * fps + 1e-6) + 1) / fps
            times.append(t)
            turns = _quarter_turns(frame)
            frames.append(_upright(_picture(frame, size), turns))
            if on_frame is not None:
                on_frame(frames[-1])
            informative.append(float(thumb.std()) >= FLAT_STD)
    except (VideoTooLargeError, NotAVideoError):
        raise
    except (av.FFmpegError, ValueError, OSError, MemoryError) as exc:
        if not frames:
            raise VideoDecodeError(f"{label}: the video stream does not decode: {exc}") from exc
        raise TruncatedVideoError(
            f"{label}: the stream breaks off after {last_t:.1f} s (truncated or corrupt): {exc}"
        ) from exc
    if not frames:
        raise EmptyVideoError(f"{label}: no frame decodes")
    rate = float(stream.average_rate) if stream.average_rate else (decoded / last_t if last_t else 0.0)
    duration = last_t + (1.0 / rate if rate else 0.0)
    if declared is not None and declared - duration > max(1.0, 0.1 * declared):
        raise TruncatedVideoError(
            f"{label}: frames stop at {duration:.1f} s of the {declared:.1f} s the container declares "
            "(truncated)"
        )
    if turns % 2:
        width, height = height, width
    return DecodedVideo(
        times=np.asarray(times, dtype=np.float64),
        frames=frames,
        informative=np.asarray(informative, dtype=bool),
        duration=round(duration, 3),
        fps=round(rate, 3),
        width=width,
        height=height,
        codec=str(stream.codec_context.codec.canonical_name),
        sha256=sha,
        n_bytes=n_bytes,
        frames_decoded=decoded,
        cuts=cuts,
    )


def _thumb(frame: Any) -> np.ndarray:
    """The frame as a 32x18 grey thumbnail (0-255): block means over a strided view of its
    luma plane, read in place, where the frame is planar YUV at least 128x72 (as nearly
    every decoder gives); through FFmpeg's scaler otherwise. The scaler's cost grows with
    the frame (0.3-0.5 ms a 720p frame here, more than decoding it); this is ~0.03 ms."""
    w, h = _THUMB
    read = _luma(frame)
    if read is None or read[0].shape[1] < 4 * w or read[0].shape[0] < 4 * h:
        return np.asarray(frame.to_ndarray(width=w, height=h, format="gray"), np.float32)
    luma, shift = read
    sy, sx = luma.shape[0] // (4 * h), luma.shape[1] // (4 * w)
    points = luma[: sy * 4 * h : sy, : sx * 4 * w : sx].astype(np.float32) / (1 << shift)
    return np.asarray(points.reshape(h, 4, w, 4).mean(axis=(1, 3)), np.float32)


def _luma(frame: Any) -> tuple[np.ndarray, int] | None:
    """The frame's luma plane, read in place (rows without their padding), and the bits to
    drop to read it on 0-255, where the frame is planar YUV; None otherwise."""
    shift = _PLANAR_YUV.get(frame.format.name)
    if shift is None:
        return None
    plane = frame.planes[0]
    dtype = np.dtype(np.uint8) if shift == 0 else np.dtype("<u2")
    rows = np.frombuffer(plane, dtype).reshape(plane.height, plane.line_size // dtype.itemsize)
    return rows[:, : plane.width], shift


def _picture(frame: Any, size: int) -> Image.Image:
    """The frame at ``size`` x ``size``, its black bars (:func:`_bars`) cut off: a copy
    letterboxed into another aspect is then the picture it was taken from (on the video
    benchmark's fit letterbox copies, a frame's median cosine to its source rose from 0.74
    to 0.83; data/README.md, "Black bars"). One pass of FFmpeg's scaler, to the size that
    makes the picture inside the bars ``size`` square."""
    box = _bars(frame)
    if box is None:
        whole: Image.Image = frame.to_image(width=size, height=size)
        return whole
    left, top, right, bottom = box
    sx, sy = size / (right - left), size / (bottom - top)
    width, height = max(size, round(frame.width * sx)), max(size, round(frame.height * sy))
    scaled: Image.Image = frame.to_image(width=width, height=height)
    x, y = min(round(left * sx), scaled.width - size), min(round(top * sy), scaled.height - size)
    return scaled.crop((x, y, x + size, y + size))


def _quarter_turns(frame: Any) -> int:
    """How many quarter turns counter-clockwise the frame is shown at: phones store portrait
    video as landscape frames with a display matrix, and a copy re-encoded by most tools has
    the turn applied to its pixels. ``frame.rotation`` is FFmpeg's angle, counter-clockwise
    in degrees (-90 for a phone held upright)."""
    return round(float(frame.rotation or 0) / 90) % 4


_TURNS = {1: Image.Transpose.ROTATE_90, 2: Image.Transpose.ROTATE_180, 3: Image.Transpose.ROTATE_270}


def _upright(picture: Image.Image, turns: int) -> Image.Image:
    """``picture`` as the stream is meant to be shown (:func:`_quarter_turns`)."""
    return picture.transpose(_TURNS[turns]) if turns else picture


def _bars(frame: Any) -> tuple[int, int, int, int] | None:
    """The picture's box (left, top, right, bottom) inside black bars, read off the luma
    plane of a planar YUV frame; None where there are no bars, or they would leave under
    half of either side."""
    read = _luma(frame)
    if read is None:
        return None
    luma, shift = read
    h, w = luma.shape
    # Every 4th pixel along a row (column) is enough to see whether it is lit.
    lit_rows = (luma[:, ::4] > BAR_LUMA << shift).mean(axis=1)
    lit_cols = (luma[::4, :] > BAR_LUMA << shift).mean(axis=0)
    top, bottom = _bar(lit_rows), _bar(lit_rows[::-1])
    left, right = _bar(lit_cols), _bar(lit_cols[::-1])
    if top + bottom >= h // 2 or left + right >= w // 2:
        return None
    top, bottom = (d if d >= MIN_BAR * h else 0 for d in (top, bottom))
    left, right = (d if d >= MIN_BAR * w else 0 for d in (left, right))
    if not top + bottom + left + right:
        return None
    return left, top, w - right, h - bottom


def _bar(lit: np.ndarray) -> int:
    """How deep a bar the first entries of ``lit`` (each line's share of lit pixels, from
    the border inwards) make: 0 unless the line after it is :data:`EDGE_LIT` lit."""
    depth = int(np.argmax(lit > 0.02)) if (lit > 0.02).any() else len(lit)
    return depth if depth < len(lit) and lit[depth] >= EDGE_LIT else 0


def _frames(container: Any, stream: Any) -> Iterator[Any]:
    yield from container.decode(stream)


def _declared_duration(container: Any, stream: Any) -> float | None:
    if stream.duration is not None and stream.time_base is not None:
        return float(stream.duration * stream.time_base)
    if container.duration is not None:
        return float(container.duration) / 1_000_000
    return None
