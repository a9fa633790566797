"""`make run`'s job without the server: the demo finds the edited copy's original first."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from conftest import DATA_DIR
from lookalike.demo import main

# What `make run` copies into demo-photos/ (the Makefile's DEMO_PHOTOS).
DEMO_PHOTOS = [
    "astronaut.png",
    "coffee.png",
    "chelsea.png",
    "rocket.jpg",
    "motorcycle_left.png",
    "hubble_deep_field.jpg",
    "retina.jpg",
    "brick.png",
    "grass.png",
    "gravel.png",
    "camera.png",
    "coins.png",
    "moon.png",
]


def test_makefile_and_test_agree_on_the_demo_photos() -> None:
    makefile = (Path(__file__).parents[1] / "Makefile").read_text()
    listed = makefile.split("DEMO_PHOTOS :=")[1].split("\n\n")[0].replace("\\\n", " ").split()
    assert listed == DEMO_PHOTOS


def test_demo_finds_the_original(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    photos = tmp_path / "photos"
    photos.mkdir()
    for name in DEMO_PHOTOS:
        shutil.copy(DATA_DIR / name, photos / name)
    common = ["--index", str(tmp_path / "demo"), "--photos", str(photos), "--no-serve"]
    assert main([*common, "--k", "3"]) == 0
    out = capsys.readouterr().out
    assert "built" in out and "13 reference photos" in out
    ranked = [line.split()[1] for line in out.splitlines() if line.strip()[:2] in ("1.", "2.", "3.")]
    assert ranked[0] == "chelsea.png"
    first = next(line for line in out.splitlines() if line.strip().startswith("1."))
    assert first.rstrip().endswith("MATCH")
    assert main([*common, "--query", "rocket.jpg"]) == 0
    out = capsys.readouterr().out
    assert "reusing" in out
    assert next(line for line in out.splitlines() if line.strip().startswith("1.")).split()[1] == "rocket.jpg"
