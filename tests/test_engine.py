"""The shipped pipeline on real photos: each edited copy finds its original first and scores
on the right side of the thresholds; unrelated photos do not."""

from __future__ import annotations

import threading
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pytest
from conftest import (
    DATA_DIR,
    EDITS,
    ENVELOPE_KEYS,
    NEAR_IDENTICAL_EDITS,
    PHOTO_NAMES,
    engine_for,
    flat_shape,
    jpeg_bytes,
    png_bytes,
)
from lookalike.embed.base import Embedder
from lookalike.embed.encode import shrunk
from lookalike.embed.local import REFERENCE
from lookalike.engine import Engine, IngestItem
from lookalike.errors import EmptyImageError, NotAnImageError
from lookalike.index.store import Index
from lookalike.score.decision import IDENTICAL_THRESHOLD, MATCH_THRESHOLD
from PIL import Image


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory, sscd: Embedder, photo_dir: Path) -> Engine:
    index = Index.create(tmp_path_factory.mktemp("ix") / "index", sscd.info)
    eng = engine_for(sscd, index)
    outcomes = eng.ingest([IngestItem(f.stem, f) for f in sorted(photo_dir.iterdir())])
    assert all(o.ok for o in outcomes)
    return eng


@pytest.mark.parametrize("edit", list(EDITS))
def test_each_copy_ranks_its_original_first(
    engine: Engine, edited: dict[tuple[str, str], Image.Image], edit: str
) -> None:
    missed = set()
    for name in PHOTO_NAMES:
        hits = engine.search(jpeg_bytes(edited[name, edit]), k=3)
        assert hits[0].external_id == name, (edit, name, [(h.external_id, h.score) for h in hits])
        if hits[0].score.similarity < MATCH_THRESHOLD:
            missed.add(name)
        assert all(h.score.similarity < MATCH_THRESHOLD for h in hits[1:]), (edit, name, hits)
    # Known losses (benchmarks/RESULTS.md); they still rank first. Four rows of large text at
    # 60 % opacity over the whole image leave the plainer photos (sky, space, a retina scan, a
    # cup on a table) too few stored keypoints, and the pHash that used to carry them also
    # fires on different photos of one product, so it is no longer evidence. The rocket on a
    # plain sky, pasted on a template, has no keypoints either: its centre view scores 0.516,
    # under the anchor refitted with the cut-out view (0.5485; it had cleared 0.5153 by 0.0004).
    known = {"watermark": {"rocket", "hubble", "retina", "coffee"}, "template": {"rocket"}}
    assert missed <= known.get(edit, set()), (edit, missed)


@pytest.mark.parametrize("edit", NEAR_IDENTICAL_EDITS)
def test_near_identical_edits_score_above_097(
    engine: Engine, photos: dict[str, Image.Image], edited: dict[tuple[str, str], Image.Image], edit: str
) -> None:
    for name in PHOTO_NAMES:
        result = engine.match(jpeg_bytes(photos[name], 95), jpeg_bytes(edited[name, edit]))
        assert result.similarity_score >= IDENTICAL_THRESHOLD, (edit, name, result)
        assert result.match and result.confidence == "high"


def test_unrelated_photos_do_not_match(engine: Engine, photos: dict[str, Image.Image]) -> None:
    blobs = {name: jpeg_bytes(im) for name, im in photos.items()}
    for a in PHOTO_NAMES:
        for b in PHOTO_NAMES:
            if a < b:
                result = engine.match(blobs[a], blobs[b])
                assert not result.match and result.similarity_score < MATCH_THRESHOLD, (a, b, result)


def test_match_envelope_is_exactly_the_commercial_shape(engine: Engine, photo_dir: Path) -> None:
    envelope = asdict(engine.match(photo_dir / "coffee.jpg", photo_dir / "coffee.jpg"))
    assert envelope.pop("explain") is None  # only when asked for; the edges then leave it out
    assert list(envelope) == ENVELOPE_KEYS
    assert envelope["match"] is True and envelope["similarity_score"] == 1.0
    assert envelope["media_type"] == "image" and envelope["matched_segments"] == []
    assert isinstance(envelope["processing_time_ms"], int) and envelope["processing_time_ms"] >= 0


def test_ingest_reports_bad_items_and_keeps_the_rest(engine: Engine, photo_dir: Path, tmp_path: Path) -> None:
    index = Index.create(tmp_path / "ix", engine.embedder.info)
    eng = engine_for(engine.embedder, index)
    outcomes = eng.ingest(
        [
            IngestItem("good", photo_dir / "rocket.jpg"),
            IngestItem("garbage", b"this is not an image"),
            IngestItem("empty", b""),
            IngestItem(
                "again", (photo_dir / "rocket.jpg").read_bytes(), origin="https://cdn.example/rocket.jpg"
            ),
        ]
    )
    assert [o.ok for o in outcomes] == [True, False, False, True]
    assert outcomes[1].error is not None and outcomes[1].error.code == "not_an_image"
    assert outcomes[2].error is not None and outcomes[2].error.code == "empty_image"
    assert outcomes[3].result is not None and outcomes[3].result.duplicate_of == "good"
    assert len(index) == 2
    assert index.get("again").source == "https://cdn.example/rocket.jpg"
    index.close()


def test_ingest_stream_commits_each_batch_before_reporting_it(
    engine: Engine, photo_dir: Path, tmp_path: Path
) -> None:
    """The pipeline: outcomes in input order with a bad item in its place, one transaction per
    batch (so a kill loses at most the batch in flight), and each image described as a
    single-threaded description of it would be."""
    index = Index.create(tmp_path / "ix", engine.embedder.info)
    eng = Engine(engine.embedder, engine.scorer, index, workers=2)
    files = sorted(photo_dir.iterdir())
    items = [IngestItem(f.stem, f) for f in files]
    items.insert(3, IngestItem("garbage", b"not an image"))
    batch = 3
    seen = []
    for pos, outcome in enumerate(eng.ingest_stream(iter(items), batch_size=batch)):
        seen.append(outcome.external_id)
        end = min(len(items), (pos // batch + 1) * batch)
        assert len(index) == sum(item.external_id != "garbage" for item in items[:end])
    assert seen == [item.external_id for item in items]
    for f in files:
        alone = eng.encoder.encode([shrunk(eng.decode(f, reference=True).image, REFERENCE.side)])[0]
        assert float(alone.vector @ index.get(f.stem).descriptor.vector) > 0.9999
        assert (alone.phash == index.get(f.stem).descriptor.phash).all()
    index.close()


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="counts open files through /proc")
def test_ingests_reuse_the_engines_threads(engine: Engine, photo_dir: Path, tmp_path: Path) -> None:
    """Each thread that describes images reads the catalog through a connection of its own,
    kept as long as the catalog is open: one ingest after another must not open more files."""
    index = Index.create(tmp_path / "ix", engine.embedder.info)
    eng = Engine(engine.embedder, engine.scorer, index, workers=2)
    assert eng.ingest([IngestItem(f.stem, f) for f in sorted(photo_dir.iterdir())])[0].ok
    threads, files = threading.active_count(), len(list(Path("/proc/self/fd").iterdir()))
    for i in range(3):
        assert eng.ingest([IngestItem(f"rocket-{i}", photo_dir / "rocket.jpg")])[0].ok
    assert threading.active_count() <= threads
    assert len(list(Path("/proc/self/fd").iterdir())) <= files
    index.close()


def test_match_reports_the_source_error_first(engine: Engine) -> None:
    """The two images are decoded at once; a bad pair still names the source's fault."""
    with pytest.raises(EmptyImageError):
        engine.match(b"", b"not an image")
    with pytest.raises(NotAnImageError):
        engine.match(b"not an image", b"")


def test_a_pairs_sides_are_described_as_a_batch_would_be(
    sscd: Embedder, photos: dict[str, Image.Image]
) -> None:
    """``match`` describes each side alone, through the embedder's single-thread lane, while
    the other side decodes: the lane is one shared second session that gives the same
    descriptors as the batched two-thread one, so a pair scores as search does."""
    lane = sscd.lane()
    assert lane is not sscd and lane.info == sscd.info
    assert sscd.lane() is lane and lane.lane() is lane
    images = [shrunk(photos[name], REFERENCE.side) for name in PHOTO_NAMES[:4]]
    np.testing.assert_allclose(
        np.concatenate([lane.embed([im]) for im in images]), sscd.embed(images), atol=1e-5
    )


@pytest.mark.parametrize("kind", ["t-shirt", "arrow"])
def test_photos_never_match_flat_shapes(engine: Engine, photos: dict[str, Image.Image], kind: str) -> None:
    """The regression behind the keypoint rules: a real photo of a dark object on a light
    surface (the cameraman; and the other photos) against black silhouettes on white."""
    cameraman = Image.open(DATA_DIR / "camera.png").convert("RGB")
    for angle in (0, 15):
        shape = png_bytes(flat_shape(kind, angle))
        for name, photo in [("camera", cameraman), *photos.items()]:
            for source, target in ((shape, jpeg_bytes(photo)), (jpeg_bytes(photo), shape)):
                result = engine.match(source, target, explain=True)
                assert result.similarity_score < MATCH_THRESHOLD, (kind, angle, name, result)
