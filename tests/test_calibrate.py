"""`lookalike calibrate --index DIR`: anchors fitted on a catalog's own references, written to
its manifest, used by every later command, and undone with --reset."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from conftest import DATA_DIR
from lookalike.cli import main
from lookalike.factory import open_engine
from lookalike.index.store import Index
from lookalike.score.calibration import Calibration, calibration_for

# scikit-image's photographs (and two scans), each a different picture.
PHOTOS = (
    "astronaut.png",
    "brick.png",
    "camera.png",
    "cell.png",
    "chelsea.png",
    "clock_motion.png",
    "coffee.png",
    "coins.png",
    "grass.png",
    "gravel.png",
    "hubble_deep_field.jpg",
    "ihc.png",
    "microaneurysms.png",
    "moon.png",
    "motorcycle_left.png",
    "retina.jpg",
    "rocket.jpg",
    "page.png",
)


@pytest.fixture(scope="module")
def catalog(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("refs")
    for name in PHOTOS:
        shutil.copy(DATA_DIR / name, folder / name)
    index = tmp_path_factory.mktemp("ix") / "index"
    assert main(["ingest", "--index", str(index), "--quiet", "--json", str(folder)]) == 0
    return index


def test_calibrate_writes_anchors_that_later_commands_use(
    catalog: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    assert main(["calibrate", "--index", str(catalog), "--json", "--threads", "2"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["references"] == len(PHOTOS) and report["copies"] >= 6 * len(PHOTOS)
    assert 0.0 <= report["expected_fpr_at_085"] <= 1.0 and 0.0 < report["expected_recall_at_085"] <= 1.0
    stored = Index.open_manifest(catalog).calibration
    assert stored is not None and stored["score_match"] == report["score_match"]
    assert stored["expected_fpr_at_085"] == report["expected_fpr_at_085"]
    engine = open_engine(catalog)
    try:
        assert engine.scorer.calibration == Calibration.from_dict(stored)
    finally:
        assert engine.index is not None
        engine.index.close()

    assert main(["calibrate", "--index", str(catalog), "--reset"]) == 0
    assert Index.open_manifest(catalog).calibration is None
    engine = open_engine(catalog)
    try:
        assert engine.scorer.calibration == calibration_for("sscd")
    finally:
        assert engine.index is not None
        engine.index.close()


def test_too_few_readable_references_is_a_clear_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "few"
    folder.mkdir()
    for name in PHOTOS[:5]:
        shutil.copy(DATA_DIR / name, folder / name)
    index = str(tmp_path / "ix")
    assert main(["ingest", "--index", index, "--quiet", "--json", str(folder)]) == 0
    capsys.readouterr()
    assert main(["calibrate", "--index", index]) == 2
    err = capsys.readouterr().err
    assert "at least 16 references" in err and "--images" in err
