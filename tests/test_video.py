"""Video: decoding and its refusals, alignment, match, ingest/search and /video/match, on
clips encoded here from scikit-image's real photographs (slow pans and zooms, cut
together), never on the benchmark corpus."""

from __future__ import annotations

import base64
import io
import json
import struct
from collections.abc import Iterator, Sequence
from dataclasses import replace
from fractions import Fraction
from pathlib import Path
from typing import Any
from urllib.parse import quote

import av
import httpx
import numpy as np
import pytest
from conftest import ENVELOPE_KEYS, engine_for, jpeg_bytes
from lookalike import errors
from lookalike.api.app import create_app
from lookalike.api.settings import Settings
from lookalike.benchmarks.server import BackgroundServer
from lookalike.benchmarks.video_metrics import SegmentPred, segment_micro_ap, video_micro_ap
from lookalike.cli import main
from lookalike.embed.base import Embedder
from lookalike.embed.inset import inset_box
from lookalike.embed.video import VideoLimits, decode_video, is_video
from lookalike.index.store import Index
from lookalike.score.align import Alignment, AlignParams, _joined, align
from lookalike.video import VideoFlow, VideoIngestItem
from PIL import Image, ImageDraw, ImageOps
from test_fetch import Origin

SIZE = (320, 180)


def pan(photo: Image.Image, seconds: float, fps: float, seed: int) -> list[np.ndarray]:
    """A slow pan and zoom over ``photo``: real pixels that move."""
    rng = np.random.default_rng(seed)
    w, h = photo.size
    (z0, z1), (x0, x1), (y0, y1) = rng.uniform(0.55, 0.8, 2), rng.random(2), rng.random(2)
    n = round(seconds * fps)
    out = []
    for k in range(n):
        a = k / max(1, n - 1)
        z = z0 + (z1 - z0) * a
        cw, ch = int(w * z), int(h * z)
        x, y = int((w - cw) * (x0 + (x1 - x0) * a)), int((h - ch) * (y0 + (y1 - y0) * a))
        out.append(np.asarray(photo.crop((x, y, x + cw, y + ch)).resize(SIZE, Image.Resampling.BILINEAR)))
    return out


def fixed_camera(photo: Image.Image, thing: Image.Image, seconds: float, fps: float) -> list[np.ndarray]:
    """A fixed camera on ``photo`` while ``thing`` crosses it: frames that differ only where
    the small picture is."""
    scene, small = photo.resize(SIZE), thing.resize((70, 70))
    n = round(seconds * fps)
    out = []
    for k in range(n):
        a = k / max(1, n - 1)
        frame = scene.copy()
        frame.paste(small, (int(a * (SIZE[0] - 70)), int(SIZE[1] * 0.3 + 20 * np.sin(6 * a))))
        out.append(np.asarray(frame))
    return out


def encode(
    path: Path,
    frames: list[np.ndarray],
    fps: float,
    faststart: bool = False,
    pix_fmt: str = "yuv420p",
    codec: tuple[str, dict[str, str]] = ("libx264", {"crf": "26", "preset": "veryfast"}),
    ticks: list[int] | None = None,
) -> Path:
    """``frames`` as a video, its container chosen by the suffix of ``path``; each frame at
    its own tick of ``1/fps`` s where ``ticks`` are given (a variable frame rate)."""
    with av.open(str(path), "w", options={"movflags": "faststart"} if faststart else {}) as out:
        stream = out.add_stream(codec[0], rate=Fraction(fps).limit_denominator(1001))
        stream.width, stream.height, stream.pix_fmt = frames[0].shape[1], frames[0].shape[0], pix_fmt
        stream.options = codec[1]
        for k, arr in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(arr, format="rgb24")
            frame.pts = k if ticks is None else ticks[k]
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path


def pip(front: np.ndarray, behind: np.ndarray) -> np.ndarray:
    """``front`` at 45 % of the frame, off-centre, over ``behind``, with a banner below."""
    w, h = SIZE
    canvas = Image.fromarray(behind)
    canvas.paste(Image.fromarray(front).resize((w * 45 // 100, h * 45 // 100)), (w // 3, h // 5))
    canvas.paste((200, 30, 40), (0, h - h // 6, w, h))
    return np.asarray(canvas)


class Clips:
    """ref: astronaut 3 s | coffee 3 s | chelsea 3 s (25 fps). copy: ref 3.0-7.5 s, mirrored,
    15 fps. fast: ref 0-6 s at 2x speed. inserted: rocket 2 s + ref 3-6 s + motorcycle 2 s.
    pip: ref 2-6 s picture-in-picture over retina, with a banner. other: hubble and retina
    only."""

    def __init__(self, folder: Path, photos: dict[str, Image.Image]) -> None:
        self.parts = [pan(photos[n], 3.0, 25, i) for i, n in enumerate(("astronaut", "coffee", "chelsea"))]
        frames = [f for part in self.parts for f in part]
        self.frames = frames
        self.ref = encode(folder / "ref.mp4", frames, 25)
        at = lambda t: frames[min(len(frames) - 1, int(t * 25))]  # noqa: E731
        copy = [
            np.asarray(ImageOps.mirror(Image.fromarray(at(3.0 + k / 15)))) for k in range(round(4.5 * 15))
        ]
        self.copy = encode(folder / "copy.mp4", copy, 15)
        self.fast = encode(folder / "fast.mp4", [at(2 * k / 25) for k in range(75)], 25)
        filler_a, filler_b = pan(photos["rocket"], 2.0, 25, 7), pan(photos["motorcycle"], 2.0, 25, 8)
        inserted = filler_a + [at(3 + k / 25) for k in range(75)] + filler_b
        self.inserted = encode(folder / "inserted.mp4", inserted, 25)
        unrelated = pan(photos["hubble"], 2.0, 25, 9) + pan(photos["retina"], 2.0, 25, 10)
        self.other = encode(folder / "other.mp4", unrelated, 25)
        self.faststart = encode(folder / "faststart.mp4", frames, 25, faststart=True)
        behind = pan(photos["retina"], 4.0, 25, 11)
        self.pip = encode(folder / "pip.mp4", [pip(at(2 + k / 25), behind[k]) for k in range(100)], 25)
        self.still = folder / "still.jpg"
        self.still.write_bytes(jpeg_bytes(Image.fromarray(at(4.6)), 90))


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory, photos: dict[str, Image.Image]) -> Clips:
    return Clips(tmp_path_factory.mktemp("clips"), photos)


@pytest.fixture(scope="module")
def flow(sscd: Embedder) -> VideoFlow:
    return VideoFlow(engine_for(sscd))


# -- decoding --------------------------------------------------------------------------


def test_samples_at_the_rate_plus_scene_cuts(clips: Clips) -> None:
    video = decode_video(clips.ref, fps=1.0, size=64)
    assert video.duration == pytest.approx(9.0, abs=0.05)
    # 25 frames a second for one sample: the frames nothing refers to (x264's B-frames) are
    # not decoded, and each sample is the first decoded frame at or after its second
    assert 0 < video.frames_decoded < 225
    assert video.frames[0].size == (64, 64)
    # one a second, plus the first frame after each of the two cuts (3 s and 6 s)
    assert [round(c, 2) for c in video.cuts] == [3.0, 6.0]
    assert len(video.times) == 9 and video.informative.all()
    assert video.times == pytest.approx(np.arange(0, 9, 1.0), abs=0.1)
    every = decode_video(clips.ref.read_bytes(), fps=8.0)  # too few frames to spare
    assert every.frames_decoded == 225 and every.times.size == 72


def test_a_variable_frame_rate_is_sampled_by_the_clock(clips: Clips, flow: VideoFlow, tmp_path: Path) -> None:
    """Phones drop their frame rate in low light: samples follow the timestamps, not a count
    of frames, so a clip at 25 fps in even seconds and 12.5 in odd ones is sampled twice a
    second and aligns with the steady clip second for second."""
    ticks = [k for k in range(len(clips.frames)) if (k // 25) % 2 == 0 or k % 2 == 0]
    vfr = encode(tmp_path / "vfr.mp4", [clips.frames[k] for k in ticks], 25, ticks=ticks)
    video = decode_video(vfr, size=64)
    assert video.frames_decoded < len(ticks) == 173
    assert video.duration == pytest.approx(9.0, abs=0.1)
    # a sample is the first frame kept at or after its instant: at most two frames of
    # 12.5 fps (0.16 s) late, where B-frames are not decoded
    assert video.times == pytest.approx(np.arange(0, 9, 0.5), abs=0.2)
    result = flow.match(clips.ref, vfr)
    assert result.similarity_score >= 0.97
    best = result.matched_segments[0]
    assert best["source_start"] == pytest.approx(best["target_start"], abs=0.3)
    assert best["source_end"] == pytest.approx(best["target_end"], abs=0.3)
    assert best["target_end"] - best["target_start"] >= 8.0


def test_sampled_frames_are_those_a_full_decode_gives(clips: Clips) -> None:
    # sampling leaves frames undecoded (those no other frame refers to); the ones it keeps
    # must be the very pictures a full decode gives. A lossy shortcut in decoding (skipping
    # the deblocking filter, measured here) costs recall on low-bitrate copies.
    video = decode_video(clips.ref, size=224)
    assert video.frames_decoded < 225
    full = every_frame(clips.ref)
    for t, frame in zip(video.times, video.frames, strict=True):
        assert np.array_equal(np.asarray(frame), np.asarray(full[round(float(t), 3)]))


def every_frame(path: Path) -> dict[float, Image.Image]:
    """Every frame of ``path`` by its time (ms), whole, at the model's 224 px square."""
    with av.open(str(path)) as container:
        return {round(float(f.time), 3): f.to_image(width=224, height=224) for f in container.decode(video=0)}


def worst_pixel_difference(frames: Sequence[Image.Image], others: Sequence[Image.Image]) -> float:
    """The largest mean absolute pixel difference (0-255) between two clips' sampled
    frames, taken pair by pair."""
    return max(
        float(np.abs(np.asarray(a, np.int16) - np.asarray(b, np.int16)).mean())
        for a, b in zip(frames, others, strict=True)
    )


def in_bars(frame: np.ndarray) -> np.ndarray:
    """``frame`` letterboxed as a reposted clip is: on a black canvas a third taller, scaled
    back to the frame's size (the picture keeps 3/4 of the height, squeezed)."""
    w, h = SIZE
    canvas = Image.new("RGB", (w, h + h // 3))
    canvas.paste(Image.fromarray(frame), (0, h // 6))
    return np.asarray(canvas.resize(SIZE, Image.Resampling.BILINEAR))


def on_black(frame: np.ndarray) -> np.ndarray:
    """``frame`` cut to a disc on black, as a globe on space is: dark all round, and the
    rows where the dark ends are lit only where the disc is."""
    w, h = SIZE
    mask = Image.new("L", SIZE)
    ImageDraw.Draw(mask).ellipse((w // 2 - 120, h // 2 - 80, w // 2 + 120, h // 2 + 80), fill=255)
    return np.asarray(Image.composite(Image.fromarray(frame), Image.new("RGB", SIZE), mask))


def test_black_bars_are_cut_off_sampled_frames(clips: Clips, sscd: Embedder, tmp_path: Path) -> None:
    """A letterboxed copy is described as the picture between its bars, so its frames are
    near the source's; a picture on a black background keeps its background."""
    plain = decode_video(clips.ref, size=224)
    boxed_clip = encode(tmp_path / "boxed.mp4", [in_bars(f) for f in clips.frames], 25)
    boxed = decode_video(boxed_clip, size=224)
    assert boxed.times == pytest.approx(plain.times, abs=0.1)
    whole = every_frame(boxed_clip)
    source = sscd.embed(plain.frames)
    cut = np.einsum("ij,ij->i", sscd.embed(boxed.frames), source)
    uncut = np.einsum("ij,ij->i", sscd.embed([whole[round(float(t), 3)] for t in boxed.times]), source)
    # 0.88 against 0.79 here
    assert np.median(cut) >= 0.85 and np.median(cut) >= np.median(uncut) + 0.05
    assert (cut > uncut).mean() >= 0.9

    globe = encode(tmp_path / "globe.mp4", [on_black(f) for f in clips.frames], 25)
    video = decode_video(globe, size=224)
    full = every_frame(globe)
    for t, frame in zip(video.times, video.frames, strict=True):
        assert np.array_equal(np.asarray(frame), np.asarray(full[round(float(t), 3)]))


def shown_turned(src: Path, dst: Path) -> Path:
    """``src`` (an MP4) with the display matrix a phone writes for portrait video: the same
    landscape frames, to be shown turned 90 degrees clockwise."""
    data = bytearray(src.read_bytes())

    def boxes(start: int, end: int) -> Iterator[tuple[bytes, int, int]]:
        while start + 8 <= end:
            size, kind = struct.unpack_from(">I4s", data, start)
            yield kind, start, start + size
            start += size

    (moov,) = [(s, e) for kind, s, e in boxes(0, len(data)) if kind == b"moov"]
    (trak,) = [(s, e) for kind, s, e in boxes(moov[0] + 8, moov[1]) if kind == b"trak"]
    (tkhd,) = [s for kind, s, _ in boxes(trak[0] + 8, trak[1]) if kind == b"tkhd"]
    assert data[tkhd + 8] == 0  # version 0: the matrix sits 48 bytes in
    height = struct.unpack_from(">I", data, tkhd + 88)[0]
    struct.pack_into(">9i", data, tkhd + 48, 0, 1 << 16, 0, -(1 << 16), 0, 0, height, 0, 1 << 30)
    dst.write_bytes(bytes(data))
    return dst


def test_a_phone_video_is_turned_upright(clips: Clips, flow: VideoFlow, tmp_path: Path) -> None:
    """A portrait phone video stores landscape frames and a display matrix; a copy re-encoded
    by most tools has the turn in its pixels. Both are described as they are shown, so the
    copy and a still of the shown video find the phone's video."""
    phone = shown_turned(clips.ref, tmp_path / "phone.mp4")
    with av.open(str(phone)) as container:
        assert next(container.decode(video=0)).rotation == -90
    upright = encode(tmp_path / "upright.mp4", [np.rot90(f, k=-1).copy() for f in clips.frames], 25)
    shown, turned = decode_video(phone, size=224), decode_video(upright, size=224)
    assert (shown.width, shown.height) == (turned.width, turned.height) == (180, 320)
    assert shown.times == pytest.approx(turned.times, abs=0.05)
    diff = worst_pixel_difference(shown.frames, turned.frames)
    assert diff < 8  # two encodings of the same pixels; a quarter turn off is ~50

    result = flow.match(phone, upright)
    assert result.match and result.similarity_score >= 0.97  # 0.92 when the turn was ignored
    still = jpeg_bytes(every_frame(upright)[4.6], 90)
    with Index.create(tmp_path / "ix", flow.engine.embedder.info) as index:
        videos = VideoFlow(engine_for(flow.engine.embedder, index))
        videos.ingest([VideoIngestItem("phone.mp4", phone)])
        (top, *_) = videos.search_image(still, k=1)
    assert top.external_id == "phone.mp4" and top.similarity >= 0.97  # 0.75 when ignored


def test_ten_bit_video_is_sampled_as_eight_bit_is(clips: Clips, tmp_path: Path) -> None:
    """Phones record HDR video in 10 bits: its luma plane is read in place as an 8-bit one
    is, so the same letterboxed clip in 10 bits has the same cuts and samples, and its bars
    are cut off too."""
    boxed = [in_bars(f) for f in clips.frames]
    eight = decode_video(encode(tmp_path / "eight.mp4", boxed, 25), size=224)
    ten_clip = encode(tmp_path / "ten.mp4", boxed, 25, pix_fmt="yuv420p10le")
    with av.open(str(ten_clip)) as container:
        assert next(container.decode(video=0)).format.name == "yuv420p10le"
    ten = decode_video(ten_clip, size=224)
    assert ten.cuts == eight.cuts and len(ten.cuts) == 2  # the two changes of photo
    assert ten.times == pytest.approx(eight.times)
    diff = worst_pixel_difference(ten.frames, eight.frames)
    assert diff < 6  # 52-58 with the bars left on
    # no row of black left at the top or bottom
    assert all(np.asarray(f.convert("L"))[[0, -1]].mean() > 32 for f in ten.frames)


#: The containers ``ingest`` takes, each with a codec a repost may come in.
CONTAINERS = {
    "coffee.webm": ("vp9", ("libvpx-vp9", {"deadline": "realtime", "cpu-used": "8", "crf": "32", "b": "0"})),
    "coffee.mkv": ("av1", ("libaom-av1", {"usage": "realtime", "cpu-used": "8", "crf": "32"})),
    "coffee.mov": ("hevc", ("libx265", {"preset": "ultrafast", "crf": "28"})),
    "coffee.avi": ("mpeg4", ("mpeg4", {"qscale": "4"})),
}


def test_every_container_ingest_takes_decodes_to_the_same_samples(
    clips: Clips, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """webm (VP9), mkv (AV1), mov (HEVC) and avi (MPEG-4 Part 2) give the samples an MP4 of
    the same frames gives, are known as videos by suffix and by their first bytes, and go
    into the index as videos that a copy finds."""
    coffee = clips.frames[75:150]  # the reference's 3-6 s
    mp4 = decode_video(encode(tmp_path / "coffee.mp4", coffee, 25), size=224)
    folder = tmp_path / "containers"
    folder.mkdir()
    for name, (codec, encoder) in CONTAINERS.items():
        path = encode(folder / name, coffee, 25, codec=encoder)
        assert is_video(path) and is_video(path.read_bytes()), name
        video = decode_video(path, size=224)
        assert video.codec == codec and (video.width, video.height) == SIZE, name
        assert video.times == pytest.approx(mp4.times, abs=0.05), name
        diff = worst_pixel_difference(video.frames, mp4.frames)
        assert diff < 12, (name, diff)
    index = str(tmp_path / "ix")
    assert main(["ingest", "--index", index, "--quiet", "--threads", "2", str(folder)]) == 0
    capsys.readouterr()
    # the mirrored copy is the reference's 3.0-7.5 s: the coffee clips' 0-3 s
    assert main(["search", "--index", index, "--json", "--k", "4", str(clips.copy)]) == 0
    results = json.loads(capsys.readouterr().out)["results"]
    assert sorted(r["id"] for r in results) == sorted(CONTAINERS)
    for r in results:
        assert r["score"] >= 0.85, r
        assert r["segments"][0]["source_start"] == pytest.approx(0.0, abs=1.0)
        assert r["segments"][0]["target_end"] == pytest.approx(3.0, abs=1.0)


def test_frames_described_while_decoding_are_those_described_after(flow: VideoFlow, clips: Clips) -> None:
    """``describe`` hands frames to the model in batches while the clip still decodes: the
    descriptors come back in frame order, as describing the decoded clip gives them, and a
    clip that breaks off midway still fails whole."""
    after = flow.describe(flow.decode(clips.ref))
    during = flow.describe(clips.ref)
    assert len(during.times) == 18 > 2 * 8  # more than two batches are in flight
    np.testing.assert_array_equal(during.times, after.times)
    np.testing.assert_allclose(during.vectors, after.vectors, atol=1e-5)
    np.testing.assert_array_equal(during.phashes, after.phashes)
    broken = clips.faststart.read_bytes()  # its index first: a cut file still opens
    with pytest.raises(errors.TruncatedVideoError):
        flow.describe(broken[: len(broken) // 2])


def audio_only(path: Path) -> Path:
    with av.open(str(path), "w") as out:
        stream = out.add_stream("mp2", rate=44100)
        stream.layout = "mono"
        for i in range(20):
            frame = av.AudioFrame.from_ndarray(np.zeros((1, 1152), np.int16), format="s16", layout="mono")
            frame.sample_rate, frame.pts = 44100, i * 1152
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path


def no_frames(faststart: bytes) -> bytes:
    """A container with its video stream and index but no frame data (cut where it starts)."""
    return faststart[: faststart.index(b"mdat") + 4]


def test_every_bad_input_is_a_named_error(clips: Clips, tmp_path: Path) -> None:
    data = clips.faststart.read_bytes()
    cases: list[tuple[bytes | Path, VideoLimits, type[errors.LookalikeError]]] = [
        (b"\x00" * 4096, VideoLimits(), errors.VideoDecodeError),
        (data[: len(data) // 2], VideoLimits(), errors.TruncatedVideoError),
        (clips.ref.read_bytes()[:3000], VideoLimits(), errors.VideoDecodeError),
        (audio_only(tmp_path / "audio.mp4"), VideoLimits(), errors.NoVideoStreamError),
        (no_frames(data), VideoLimits(), errors.EmptyVideoError),
        (b"", VideoLimits(), errors.EmptyVideoError),
        (clips.still, VideoLimits(), errors.NotAVideoError),
        (clips.still.read_bytes(), VideoLimits(), errors.NotAVideoError),
        (clips.ref, VideoLimits(max_bytes=1000), errors.VideoTooLargeError),
        (data, VideoLimits(max_bytes=1000), errors.VideoTooLargeError),
        (clips.ref, VideoLimits(max_duration_s=5.0), errors.VideoTooLargeError),
        (clips.ref, VideoLimits(max_frame_pixels=320 * 100), errors.VideoTooLargeError),
        (tmp_path / "missing.mp4", VideoLimits(), errors.VideoDecodeError),
    ]
    for source, limits, expected in cases:
        with pytest.raises(expected) as caught:
            decode_video(source, limits=limits)
        assert 400 <= caught.value.http_status < 500, (source, caught.value)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["audio.mp4"]  # nothing left behind


def test_a_bad_video_is_skipped_and_leaves_the_index_as_it_was(
    clips: Clips, tmp_path: Path, sscd: Embedder
) -> None:
    with Index.create(tmp_path / "ix", sscd.info) as index:
        vf = VideoFlow(engine_for(sscd, index))
        bad = clips.faststart.read_bytes()[:20000]
        (outcome,) = vf.ingest([VideoIngestItem("bad", bad)])
        assert not outcome.ok and isinstance(outcome.error, errors.VideoDecodeError)
        assert len(index) == 0


# -- alignment -----------------------------------------------------------------------


def diagonal(
    t_tgt: np.ndarray, t_src: np.ndarray, lines: list[tuple[float, float, float, float]]
) -> np.ndarray:
    """A cosine matrix with copies along ``t_src = speed * t_tgt + offset`` for t_tgt in [a, b]."""
    rng = np.random.default_rng(0)
    sim = rng.uniform(-0.05, 0.2, (len(t_tgt), len(t_src)))
    for speed, offset, a, b in lines:
        for i, t in enumerate(t_tgt):
            if a <= t <= b:
                j = int(np.argmin(np.abs(t_src - (speed * t + offset))))
                sim[i, j] = 0.9
    return sim


def test_alignment_finds_sped_up_trimmed_and_several_segments() -> None:
    t_src, t_tgt = np.arange(0, 60, 0.5), np.arange(0, 40, 0.5)
    (seg,) = align(diagonal(t_tgt, t_src, [(2.0, 5.0, 3.0, 20.0)]), t_tgt, t_src)
    assert seg.speed == pytest.approx(2.0, abs=0.05)
    assert (seg.target_start, seg.target_end) == pytest.approx((3.0, 20.0), abs=0.5)
    assert (seg.source_start, seg.source_end) == pytest.approx((11.0, 45.0), abs=1.0)
    found = align(diagonal(t_tgt, t_src, [(1.0, 30.0, 2.0, 10.0), (0.5, 1.0, 20.0, 35.0)]), t_tgt, t_src)
    assert sorted((round(s.target_start), round(s.target_end)) for s in found) == [(2, 10), (20, 35)]
    rng = np.random.default_rng(1)
    assert align(rng.uniform(-0.1, 0.25, (80, 120)), t_tgt, t_src) == []


def test_alignment_places_copies_of_static_footage_by_their_distinct_frames() -> None:
    """A fixed camera: every frame of the copy is 0.85-0.88 to every source frame, and only
    0.1 higher to the frame it was taken from. Two copied stretches, 54-60 s and 26-32 s of
    the source, must come out where they are, not wherever the flat level reaches first."""
    t_src, t_tgt = np.arange(0, 80, 0.5), np.arange(0, 15, 0.5)
    rng = np.random.default_rng(2)
    sim = rng.uniform(0.85, 0.88, (len(t_tgt), len(t_src)))
    for offset, a, b in ((54.0, 0.0, 5.5), (17.0, 9.0, 14.5)):
        for i in np.flatnonzero((t_tgt >= a) & (t_tgt <= b)):
            sim[i, int(np.argmin(np.abs(t_src - (t_tgt[i] + offset))))] = 0.97
    gap = (t_tgt > 5.5) & (t_tgt < 9.0)
    sim[gap] = rng.uniform(0.0, 0.1, (int(gap.sum()), len(t_src)))  # unrelated footage
    found = sorted(align(sim, t_tgt, t_src), key=lambda s: s.target_start)
    bounds = [b for s in found for b in (s.target_start, s.target_end, s.source_start, s.source_end)]
    assert bounds == pytest.approx([0, 5.75, 54, 59.75, 8.75, 14.75, 25.75, 31.75], abs=0.5)


def slow_shot(speed: float, ridge: float, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(sim, t_tgt, t_src)``: target 2-8 s copies source 10 s on at ``speed``; each frame
    matches its own source instant at 0.95 and the instants around it ``ridge`` a second
    less (noise 0.01), over a background of 0-0.15."""
    t_src, t_tgt = np.arange(0, 40, 0.5), np.arange(0, 12, 0.5)
    rng = np.random.default_rng(seed)
    sim = rng.uniform(0.0, 0.15, (len(t_tgt), len(t_src)))
    for i in np.flatnonzero((t_tgt >= 2.0) & (t_tgt <= 8.0)):
        line = speed * t_tgt[i] + 10.0
        sim[i] = np.maximum(sim[i], 0.95 - ridge * np.abs(t_src - line) + rng.normal(0, 0.01, len(t_src)))
    return sim, t_tgt, t_src


def test_alignment_fits_the_line_of_a_slowly_changing_shot_copied_at_half_speed() -> None:
    """A slowly changing shot: each frame of the copy matches its own source instant at 0.95
    and the instants around it only 0.06 a second less, so a line tilted to 0.6-0.9 gathers
    about as much as the true one (the vote put the ends 1-2 s off). The fitted line follows
    where each frame matches best: all four ends within a second, whatever the noise."""
    for seed in range(10):
        seg = align(*slow_shot(0.5, 0.06, seed))[0]
        bounds = (seg.target_start, seg.target_end, seg.source_start, seg.source_end)
        assert bounds == pytest.approx((1.75, 8.25, 10.875, 14.125), abs=1.0), seed


@pytest.mark.parametrize(("speed", "ridge"), [(1.0, 0.03), (0.75, 0.06)])
def test_alignment_keeps_a_slow_shot_at_its_speed(speed: float, ridge: float) -> None:
    """A trim (1x) and a 0.75x copy of a shot that changes even more slowly: neighbouring
    instants match only ``ridge`` a second less, so lines of several speeds gather about
    the same. The prior that most copies keep their speed picks the right one; with a mere
    tie-breaker (3 % an octave) seeds 4 and 5 of the trim, and seed 2 of the 0.75x copy,
    came out with ends more than a second off."""
    for seed in range(10):
        seg = align(*slow_shot(speed, ridge, seed))[0]
        bounds = (seg.target_start, seg.target_end, seg.source_start, seg.source_end)
        assert bounds == pytest.approx((1.75, 8.25, speed * 1.75 + 10, speed * 8.25 + 10), abs=1.0), seed


def test_alignment_joins_pieces_that_one_line_explains() -> None:
    """Two still shots copied at 2x: within each shot any line fits, so each piece may come
    out at its own wrong speed; the line from the first's start to the second's end explains
    both as well, so they are one segment. Two stretches copied from far apart are not."""
    t_src, t_tgt = np.arange(0, 10, 0.5), np.arange(0, 5, 0.5)
    sim = diagonal(t_tgt, t_src, [(2.0, 0.0, 0.0, 5.0)])
    a = Alignment(0.0, 1.7, 0.0, 2.25, 0.9, 5, 0.76)
    b = Alignment(5.4, 10.0, 2.25, 5.0, 0.9, 5, 1.0)
    (seg,) = _joined([a, b], sim, t_tgt, t_src, AlignParams())
    assert (seg.source_start, seg.source_end, seg.target_start, seg.target_end) == (0.0, 10.0, 0.0, 5.0)
    assert seg.speed == 2.0 and seg.cosine == pytest.approx(0.9, abs=0.02)
    apart = diagonal(t_tgt, np.arange(0, 40, 0.5), [(1.0, 0.0, 0.0, 2.0), (1.0, 27.0, 2.5, 5.0)])
    pieces = [Alignment(0.0, 2.25, 0.0, 2.25, 0.9, 5, 1.0), Alignment(29.25, 32.0, 2.25, 5.0, 0.9, 5, 1.0)]
    assert len(_joined(pieces, apart, t_tgt, np.arange(0, 40, 0.5), AlignParams())) == 2


def test_segment_metrics_follow_the_definitions() -> None:
    gt = [SegmentPred("q", "r", (0, 10), (5, 15), 1.0)]
    assert segment_micro_ap([SegmentPred("q", "r", (0, 10), (5, 15), 0.9)], gt) == pytest.approx(1.0)
    half = segment_micro_ap([SegmentPred("q", "r", (0, 5), (5, 10), 0.9)], gt)
    assert half == pytest.approx(0.5)
    assert video_micro_ap([("q", "x", 0.9), ("q", "r", 0.5)], {("q", "r")}) == pytest.approx(0.5)


# -- match -----------------------------------------------------------------------------


def test_match_finds_a_mirrored_trimmed_copy_at_another_frame_rate(clips: Clips, flow: VideoFlow) -> None:
    result = flow.match(clips.ref, clips.copy)
    assert result.match and result.media_type == "video" and result.similarity_score >= 0.85
    best = result.matched_segments[0]
    assert best["similarity_score"] == result.similarity_score
    assert best["source_start"] == pytest.approx(3.0, abs=1.0)
    assert best["source_end"] == pytest.approx(7.5, abs=1.0)
    assert best["target_start"] == pytest.approx(0.0, abs=1.0)
    assert best["target_end"] == pytest.approx(4.5, abs=1.0)


def test_match_holds_under_speed_and_insertion_and_refuses_unrelated(clips: Clips, flow: VideoFlow) -> None:
    fast = flow.match(clips.ref, clips.fast)
    assert fast.match
    seg = fast.matched_segments[0]
    assert (seg["source_start"], seg["source_end"]) == pytest.approx((0.0, 6.0), abs=1.0)
    assert (seg["target_start"], seg["target_end"]) == pytest.approx((0.0, 3.0), abs=1.0)
    inserted = flow.match(clips.ref, clips.inserted)
    assert inserted.match
    seg = inserted.matched_segments[0]
    assert (seg["target_start"], seg["target_end"]) == pytest.approx((2.0, 5.0), abs=1.0)
    assert (seg["source_start"], seg["source_end"]) == pytest.approx((3.0, 6.0), abs=1.0)
    other = flow.match(clips.ref, clips.other)
    assert not other.match and other.similarity_score < 0.85


def test_match_places_a_half_speed_copy_of_a_fixed_camera(
    flow: VideoFlow, photos: dict[str, Image.Image], tmp_path: Path
) -> None:
    """A fixed camera, 3-8 s of it copied at half speed: the frames differ only by where a
    small picture is, so the voted line leans (0.58, its start half a second early); the
    fitted one puts every end within a quarter of a second."""
    frames = fixed_camera(photos["astronaut"], photos["coffee"], 16.0, 25)
    ref = encode(tmp_path / "fixed.mp4", frames, 25)
    slow = encode(tmp_path / "slow.mp4", [frames[int(75 + k / 2)] for k in range(250)], 25)
    result = flow.match(ref, slow)
    assert result.match
    seg = result.matched_segments[0]
    bounds = (seg["target_start"], seg["target_end"], seg["source_start"], seg["source_end"])
    assert bounds == pytest.approx((0.0, 10.0, 3.0, 8.0), abs=0.25)


def test_picture_in_picture_is_found_by_the_frames_centre_view(clips: Clips, flow: VideoFlow) -> None:
    """The copy fills 20 % of each frame: the whole frames are no match, their centre views
    (described only because the whole frames were not confident) are."""
    whole = flow.align(flow.describe(clips.ref), flow.describe(clips.pip))
    assert max((a.cosine for a in whole), default=0.0) < flow.scorer.calibration.views_below
    whole_score = max((s["similarity_score"] for s in flow.segments(whole)), default=0.0)
    result = flow.match(clips.ref, clips.pip)
    assert whole_score < 0.85 and result.match and result.similarity_score >= 0.85
    seg = result.matched_segments[0]
    assert (seg["target_start"], seg["target_end"]) == pytest.approx((0.0, 4.0), abs=1.0)
    # a 20 % inset of slow pans: the source side is placed to about a second and a half
    overlap = min(seg["source_end"], 6.0) - max(seg["source_start"], 2.0)
    assert overlap >= 2.5 and abs(seg["source_start"] - 2.0) <= 1.5


def test_a_picture_in_picture_inset_is_found_by_its_border(clips: Clips, flow: VideoFlow) -> None:
    """The inset's four edges stay put while both pictures pan: its box is found to a pixel
    or two of where it was pasted, clips that only pan have none, and the query's views
    are then its centre and its inset, which matches its source far better."""
    w, h = SIZE
    pasted = (w // 3 / w, h // 5 / h, (w // 3 + w * 45 // 100) / w, (h // 5 + h * 45 // 100) / h)
    assert inset_box(flow.decode(clips.pip).frames) == pytest.approx(pasted, abs=0.015)
    for plain in (clips.ref, clips.other, clips.inserted):
        assert inset_box(flow.decode(plain).frames) is None
    assert inset_box(flow.decode(clips.pip).frames[:1]) is None

    ref = flow.describe(clips.ref)
    query = flow.describe(clips.pip, query=True).with_views(flow.engine.embedder)
    assert query.views is not None and len(query.views) == 2
    assert all(view.shape == query.vectors.shape for view in query.views)
    with_inset = flow.align(ref, query)[0]
    centre_only = flow.align(ref, replace(query, views=query.views[:1]))[0]
    # 0.84 against 0.58 here
    assert with_inset.cosine >= centre_only.cosine + 0.15
    assert abs(with_inset.source_start - 2.0) <= 0.5 and abs(with_inset.source_end - 6.0) <= 0.5
    plain = flow.describe(clips.copy, query=True).with_views(flow.engine.embedder)
    assert plain.views is not None and len(plain.views) == 1


def test_cli_match_prints_the_video_envelope(clips: Clips, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["match", "--json", "--threads", "2", str(clips.ref), str(clips.copy)]) == 0
    answer = json.loads(capsys.readouterr().out)
    assert list(answer) == ENVELOPE_KEYS
    assert answer["match"] and answer["media_type"] == "video"
    seg = answer["matched_segments"][0]
    assert set(seg) == {"source_start", "source_end", "target_start", "target_end", "similarity_score"}
    assert seg["source_start"] == pytest.approx(3.0, abs=1.0)


@pytest.mark.parametrize("embedder", ["sscd", "sscd-lite"])
def test_cli_video_speed_times_a_clip_against_decoding_it(
    clips: Clips, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, embedder: str
) -> None:
    """``lookalike bench video-speed``: one row per clip, its frames counted by decoding
    them all, its samples at the default 2 a second plus the first frame after each cut,
    described by the ``--embedder`` asked for."""
    described: list[str] = []
    real = VideoFlow.describe

    def spy(flow: VideoFlow, *args: Any, **kwargs: Any) -> Any:
        described.append(flow.engine.embedder.info.name)
        return real(flow, *args, **kwargs)

    monkeypatch.setattr(VideoFlow, "describe", spy)
    argv = ["bench", "video-speed", "--repeat", "1", "--threads", "2", "--embedder", embedder]
    assert main([*argv, str(clips.ref)]) == 0
    assert described == [embedder]
    header, _, row = capsys.readouterr().out.strip().splitlines()
    assert header.startswith("| clip | frames | sampled | seconds |")
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert cells[0] == "ref.mp4 (320x180 h264)"
    assert int(cells[1]) == 225 and int(cells[2]) == 18 and float(cells[3]) == pytest.approx(9.0, abs=0.05)
    decode_all, sampling, whole, ratio = map(float, cells[4:8])
    assert decode_all > 0 and 0 < sampling < whole
    # The times are printed to the millisecond and the ratio, of the unrounded times, to 0.01.
    half = 0.0005
    assert (
        (whole - half) / (decode_all + half) - 0.005 <= ratio <= (whole + half) / (decode_all - half) + 0.005
    )


# -- index -----------------------------------------------------------------------------


def test_ingest_search_and_delete_videos(
    clips: Clips, tmp_path: Path, photo_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    index = str(tmp_path / "ix")
    assert (
        main(["ingest", "--index", index, "--quiet", "--threads", "2", str(clips.ref), str(clips.other)]) == 0
    )
    assert main(["ingest", "--index", index, "--quiet", str(photo_dir / "coffee.jpg")]) == 0
    capsys.readouterr()
    assert main(["search", "--index", index, "--json", str(clips.inserted)]) == 0
    (top, *_) = json.loads(capsys.readouterr().out)["results"]
    assert top["id"] == "ref.mp4" and top["score"] >= 0.85
    assert top["segments"][0]["target_start"] == pytest.approx(2.0, abs=1.0)
    # a still taken from the reference video finds it, at the right time
    assert main(["search", "--index", index, "--json", str(clips.still)]) == 0
    (top, *_) = json.loads(capsys.readouterr().out)["results"]
    assert top["id"] == "ref.mp4" and top["score"] >= 0.85
    assert min(abs(t - 4.6) for t in top["timestamps"]) <= 0.5
    # disabling the video disables every frame of it; enabling brings it back
    assert main(["disable", "--index", index, "ref.mp4"]) == 0
    capsys.readouterr()
    assert main(["search", "--index", index, "--json", str(clips.still)]) == 0
    assert all(r["id"] != "ref.mp4" for r in json.loads(capsys.readouterr().out)["results"])
    assert main(["enable", "--index", index, "ref.mp4"]) == 0
    capsys.readouterr()
    assert main(["search", "--index", index, "--json", str(clips.still)]) == 0
    assert json.loads(capsys.readouterr().out)["results"][0]["id"] == "ref.mp4"
    assert main(["delete", "--index", index, "--json", "ref.mp4"]) == 0
    assert json.loads(capsys.readouterr().out)["deleted"] == ["ref.mp4"]
    assert main(["search", "--index", index, "--json", str(clips.still)]) == 0
    assert all(r["id"] != "ref.mp4" for r in json.loads(capsys.readouterr().out)["results"])


# -- service ---------------------------------------------------------------------------

KEY = "video-test-key"


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory, clips: Clips) -> Iterator[tuple[httpx.Client, Origin, Any]]:
    settings = Settings(
        index=tmp_path_factory.mktemp("video-api") / "index",
        api_keys=KEY,
        allow_private_networks=True,
        threads=2,
        max_request_bytes=1024 * 1024,
        max_video_bytes=2 * 1024 * 1024,
    )
    app = create_app(settings)
    origin = Origin()
    origin.files["/ref.mp4"] = (clips.ref.read_bytes(), "video/mp4")
    origin.files["/copy.mp4"] = (clips.copy.read_bytes(), "video/mp4")
    origin.files["/still.jpg"] = (clips.still.read_bytes(), "image/jpeg")
    with (
        BackgroundServer(app) as server,
        httpx.Client(base_url=server.url, headers={"x-api-key": KEY}, timeout=60) as client,
    ):
        yield client, origin, app
    origin.close()


def test_video_match_over_http_by_url_base64_and_multipart(
    api: tuple[httpx.Client, Origin, Any], clips: Clips
) -> None:
    client, origin, _ = api
    by_url = client.post(
        "/video/match", json={"source_url": f"{origin.base}/ref.mp4", "target_url": f"{origin.base}/copy.mp4"}
    )
    assert by_url.status_code == 200, by_url.text
    body = by_url.json()
    assert body["match"] and body["media_type"] == "video"
    assert body["matched_segments"][0]["source_start"] == pytest.approx(3.0, abs=1.0)
    b64 = client.post(
        "/video/match",
        json={
            "source_video": base64.b64encode(clips.ref.read_bytes()).decode(),
            "target_video": base64.b64encode(clips.copy.read_bytes()).decode(),
        },
    )
    assert b64.status_code == 200 and b64.json()["similarity_score"] == body["similarity_score"]
    multipart = client.post(
        "/video/match",
        files={
            "source_video": ("ref.mp4", clips.ref.read_bytes(), "video/mp4"),
            "target_video": ("copy.mp4", io.BytesIO(clips.copy.read_bytes()), "video/mp4"),
        },
    )
    assert multipart.status_code == 200 and multipart.json()["match"]


def test_video_match_bad_inputs_are_client_errors(
    api: tuple[httpx.Client, Origin, Any], clips: Clips
) -> None:
    client, origin, _ = api
    ref = base64.b64encode(clips.ref.read_bytes()).decode()
    cases = [
        (
            {"source_video": ref, "target_video": base64.b64encode(b"\x00" * 5000).decode()},
            400,
            "undecodable_video",
        ),
        ({"source_video": ref, "target_url": f"{origin.base}/still.jpg"}, 415, "unsupported_format"),
        (
            {"source_video": ref, "target_video": base64.b64encode(clips.still.read_bytes()).decode()},
            400,
            "not_a_video",
        ),
        (
            {"source_video": ref, "target_video": base64.b64encode(b"\x00" * (3 * 1024 * 1024)).decode()},
            413,
            None,
        ),
        ({"source_video": ref}, 422, "validation_error"),
    ]
    for body, status, code in cases:
        answer = client.post("/video/match", json=body)
        assert answer.status_code == status, (code, answer.text)
        if code:
            assert answer.json()["code"] == code


def test_image_search_hits_can_be_videos(api: tuple[httpx.Client, Origin, Any], clips: Clips) -> None:
    client, origin, app = api
    from lookalike.video import VideoIngestItem

    app_flow: VideoFlow = app.state.service.video
    (outcome,) = app_flow.ingest([VideoIngestItem("demo-video", clips.ref)])
    assert outcome.ok
    answer = client.post(
        "/image/search", json={"image_url": f"{origin.base}/still.jpg", "k": 3, "confirm": True}
    )
    assert answer.status_code == 200, answer.text
    top = answer.json()["results"][0]
    assert top["id"] == "demo-video" and top["match"]
    assert min(abs(t - 4.6) for t in top["timestamps"]) <= 0.5

    # A video id disables (and enables) all its frames over HTTP, as `lookalike disable` does.
    still = {"image_url": f"{origin.base}/still.jpg", "k": 3}
    off = client.patch("/index/images/demo-video", json={"enabled": False})
    assert off.status_code == 200, off.text
    assert off.json() == {"id": "demo-video", "enabled": False}
    frames = [r.external_id for r in app_flow.frames_of("demo-video")]
    assert len(frames) > 1 and all(
        client.get(f"/index/images/{quote(f)}").json()["enabled"] is False for f in frames
    )
    assert "demo-video" not in [r["id"] for r in client.post("/image/search", json=still).json()["results"]]
    assert client.patch("/index/images/demo-video", json={"enabled": True}).json()["enabled"] is True
    assert client.post("/image/search", json=still).json()["results"][0]["id"] == "demo-video"
    assert client.patch("/index/images/no-such-video", json={"enabled": False}).status_code == 404

    # ...and DELETE of a video id removes every frame of it.
    assert client.delete("/index/images/demo-video").json() == {"id": "demo-video", "deleted": True}
    assert app_flow.frames_of("demo-video") == []
    assert client.get(f"/index/images/{quote(frames[0])}").status_code == 404
    assert client.delete("/index/images/demo-video").status_code == 404
