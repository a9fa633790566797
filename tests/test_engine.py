"""The shipped pipeline on real photos: each edited copy finds its original first and scores
on the right side of the thresholds; unrelated photos do not."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import pytest
from conftest import EDITS, ENVELOPE_KEYS, NEAR_IDENTICAL_EDITS, PHOTO_NAMES, engine_for, jpeg_bytes
from lookalike.embed.base import Embedder
from lookalike.engine import Engine, IngestItem
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
    for name in PHOTO_NAMES:
        hits = engine.search(jpeg_bytes(edited[name, edit]), k=3)
        assert hits[0].external_id == name, (edit, name, [(h.external_id, h.score) for h in hits])
        assert hits[0].score.similarity >= MATCH_THRESHOLD, (edit, name, hits[0].score)
        assert all(h.score.similarity < MATCH_THRESHOLD for h in hits[1:]), (edit, name, hits)


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
