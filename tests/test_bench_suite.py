"""``lookalike bench make`` / ``run`` / ``calibrate`` end to end on scikit-image's photos."""

from __future__ import annotations

import csv
import hashlib
import json
import re
import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from lookalike.benchmarks.calibrate import MAX_DISTRACTOR_FPR, Pairs, calibrate, fit_anchors
from lookalike.benchmarks.dataset import Benchmark, truth_of
from lookalike.benchmarks.make import make_benchmark
from lookalike.benchmarks.metrics import Prediction, evaluate
from lookalike.cli import main
from lookalike.errors import ConfigError, InputError
from lookalike.score.calibration import Calibration
from PIL import Image, ImageDraw
from skimage import data

DATA = Path(data.__file__).parent
PHOTOS = ["astronaut.png", "rocket.jpg", "motorcycle_left.png", "hubble_deep_field.jpg", "retina.jpg"]
PHOTOS += ["camera.png", "coins.png", "moon.png"]
CUTOUTS = ["chelsea.png", "coffee.png"]
NEGATIVE = re.compile(r"(?<![\w/])-\d")  # a negative count, not a path's "pytest-1"


@pytest.fixture(scope="module")
def originals(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Ten originals: eight photos and two cut-outs with a transparent background."""
    folder = tmp_path_factory.mktemp("originals")
    for name in PHOTOS:
        with Image.open(DATA / name) as im:
            im.thumbnail((384, 384))
            im.save(folder / f"{Path(name).stem}.png")
    for name in CUTOUTS:
        with Image.open(DATA / name) as photo:
            im = photo.convert("RGBA")
        im.thumbnail((384, 384))
        mask = Image.new("L", im.size, 0)
        ImageDraw.Draw(mask).ellipse(
            (im.width // 6, im.height // 8, im.width * 5 // 6, im.height * 7 // 8), 255
        )
        im.putalpha(mask)
        im.save(folder / f"{Path(name).stem}_cutout.png")
    return folder


@pytest.fixture(scope="module")
def bench(originals: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("bench") / "b"
    make_benchmark(originals, out, seed=5, sources=6, distractors=2, distractor_queries=2)
    return out


def _digests(folder: Path) -> dict[str, str]:
    return {
        p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def test_make_writes_the_disc21_layout(bench: Path, originals: Path) -> None:
    loaded = Benchmark.load(bench)
    assert len(loaded.references) == 8  # 6 sources + 2 distractor references
    assert len(loaded.queries) == 16  # 2 edits of each of 6 sources and 2 distractor images
    assert sum(q.is_distractor for q in loaded.queries) == 4
    assert all(p.name.startswith("R") for _, p in loaded.references)
    with (bench / "ground_truth.csv").open() as f:
        assert next(csv.reader(f)) == ["query_id", "reference_id"]
    manifest = json.loads((bench / "manifest.json").read_text())
    assert manifest["seed"] == 5 and len(manifest["inputs"]) == 10
    by_file = {i["file"]: i["sha256"] for i in manifest["inputs"]}
    assert by_file["rocket.png"] == hashlib.sha256((originals / "rocket.png").read_bytes()).hexdigest()
    # Every edit of one original lands in one split, so fitting never sees the test originals.
    splits: dict[str, set[str]] = {}
    for q in loaded.queries:
        if q.reference_id:
            splits.setdefault(q.reference_id, set()).add(q.split)
    assert all(len(s) == 1 for s in splits.values())
    assert {q.split for q in loaded.queries} == {"fit", "test"}
    # Queries cycle through the edits instead of repeating one.
    assert len({q.transform for q in loaded.queries}) == 16


def test_make_is_deterministic_for_a_seed(originals: Path, bench: Path, tmp_path: Path) -> None:
    make_benchmark(originals, tmp_path / "again", seed=5, sources=6, distractors=2, distractor_queries=2)
    assert _digests(tmp_path / "again") == _digests(bench)
    make_benchmark(originals, tmp_path / "other", seed=6, sources=6, distractors=2, distractor_queries=2)
    assert _digests(tmp_path / "other") != _digests(bench)


def test_make_adds_extra_edits_and_references(originals: Path, bench: Path, tmp_path: Path) -> None:
    """``--extra template=1 --extra bgswap=2`` and ``--extra-references``: more queries of the
    hard edits (background swaps only of cut-outs) and more unrelated references; the
    regular queries stay byte-identical to a plain make with the same seed."""
    others = tmp_path / "others"
    others.mkdir()
    for i, name in enumerate(["brick.png", "grass.png", "gravel.png", "page.png"]):
        shutil.copy(DATA / name, others / f"{i}-{name}")
    out = tmp_path / "extra"
    manifest = make_benchmark(
        originals,
        out,
        seed=5,
        sources=6,
        distractors=2,
        distractor_queries=2,
        extra_edits={"template": 1, "bgswap": 2},
        extra_references=others,
        extra_stride=2,
    )
    loaded = Benchmark.load(out)
    extra = [q for q in loaded.queries if q.id.startswith("S")]
    templates = [q for q in extra if q.transform == "template"]
    swaps = [q for q in extra if q.transform == "bgswap"]
    # 6 sources + 2 distractor query images, of which the two cut-outs may be either.
    assert len(templates) == 8 and 0 < len(swaps) <= 4 and len(swaps) % 2 == 0
    assert manifest["counts"]["extra_references"] == 2
    assert sorted(r for r, _ in loaded.references if r.startswith("D")) == ["D000000", "D000001"]
    plain = {k: v for k, v in _digests(bench).items() if "/Q" in k or "/R" in k}
    assert {k: v for k, v in _digests(out).items() if k in plain} == plain
    with pytest.raises(ConfigError, match="--extra: unknown edit"):
        make_benchmark(originals, tmp_path / "bad", extra_edits={"sepia": 1})


def test_make_refuses_impossible_requests(originals: Path, bench: Path, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="--distractor-queries") as caught:
        make_benchmark(originals, tmp_path / "x", sources=8, distractors=2, distractor_queries=2)
    assert not NEGATIVE.search(str(caught.value))
    with pytest.raises(ConfigError, match="already holds"):
        make_benchmark(originals, bench, sources=2)
    with pytest.raises(InputError, match="not a benchmark"):
        Benchmark.load(originals)


def _small_folder(folder: Path, n: int) -> Path:
    """``n`` small photos from scikit-image's bundled data (two of them cut-outs)."""
    names = [*PHOTOS, "chelsea.png", "coffee.png", "horse.png", "brick.png", "grass.png", "gravel.png"]
    folder.mkdir()
    for i, name in enumerate(names[:n]):
        with Image.open(DATA / name) as im:
            im = im.convert("RGBA" if i < 2 else "RGB")
        im.thumbnail((96, 96))
        if i < 2:
            mask = Image.new("L", im.size, 0)
            ImageDraw.Draw(mask).ellipse((8, 8, im.width - 8, im.height - 8), 255)
            im.putalpha(mask)
        im.save(folder / f"{i:02d}_{Path(name).stem}.png")
    return folder


@pytest.mark.parametrize("n", [9, 13])
def test_make_defaults_fit_a_small_folder(n: int, tmp_path: Path) -> None:
    """Regression: the defaults once asked for 300 sources and negative distractor counts."""
    manifest = make_benchmark(_small_folder(tmp_path / "originals", n), tmp_path / "b")
    counts = manifest["counts"]
    split = (counts["sources"], counts["distractor_references"], counts["distractor_query_images"])
    assert split == ((n + 1) // 2, (n - (n + 1) // 2) // 2, n - (n + 1) // 2 - (n - (n + 1) // 2) // 2)
    assert min(split) >= 1 and sum(split) == n and not manifest["skipped"]
    assert counts["references"] == split[0] + split[1]
    assert counts["queries"] == 2 * (split[0] + split[2])


@pytest.mark.parametrize(
    ("kwargs", "flag"),
    [
        ({"sources": 10}, "--sources"),
        ({"sources": 0}, "--sources"),
        ({"sources": 5, "distractors": 5}, "--distractors"),
        ({"distractors": -1}, "--distractors"),
        ({"sources": 5, "distractors": 2, "distractor_queries": 3}, "--distractor-queries"),
        ({"distractor_queries": 9}, "--distractor-queries"),
        ({"queries_per_image": 0}, "--queries-per-image"),
    ],
)
def test_make_names_the_flag_of_an_impossible_request(
    kwargs: dict[str, int], flag: str, tmp_path: Path
) -> None:
    folder = _small_folder(tmp_path / "originals", 9)
    with pytest.raises(ConfigError, match=flag) as caught:
        make_benchmark(folder, tmp_path / "b", **kwargs)
    assert not NEGATIVE.search(str(caught.value))


def test_cli_make_defaults_on_a_small_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = _small_folder(tmp_path / "originals", 9)
    assert main(["bench", "make", "--originals", str(folder), "--out", str(tmp_path / "b")]) == 0
    assert "5 sources" in capsys.readouterr().out


@pytest.mark.slow
def test_bench_run_end_to_end(bench: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "report"
    methods = [
        "lookalike",
        "sscd-lite",
        "phash",
        "pdq",
        "pdqhash",
        "perception-phash",
        "imagededup-phash",
        "clip",
    ]
    args = ["bench", "run", "--bench", str(bench), "--out", str(out), "--quiet", "--threads", "2"]
    assert main([*args, *[f"--method={m}" for m in methods]]) == 0
    for name in ("report.md", "results.csv", "per_transform.csv", "pr_curves.png", "recall_by_transform.png"):
        assert (out / name).is_file(), name
    with Image.open(out / "pr_curves.png") as im:
        assert im.size[0] > 400
    with (out / "results.csv").open() as f:
        rows = {r["method"]: r for r in csv.DictReader(f)}
    assert set(rows) == set(methods)
    assert rows["clip"]["status"] == "skipped" and "weights" in rows["clip"]["reason"]
    lookalike = rows["lookalike"]
    assert lookalike["status"] == "ok"
    # The shipped pipeline finds every copy of these six photos first, phash does not
    # (mirrors, crops and template pastes defeat it).
    assert float(lookalike["recall_at_1"]) == 1.0
    assert float(lookalike["micro_ap"]) > float(rows["phash"]["micro_ap"])
    assert float(lookalike["index_bytes_per_image"]) > 0 and float(lookalike["query_p50_ms"]) > 0
    # The predictions file is the ISC format and rescoring it gives the reported µAP.
    loaded = Benchmark.load(bench)
    with (out / "predictions" / "lookalike.csv").open() as f:
        preds = [Prediction(r["query_id"], r["reference_id"], float(r["score"])) for r in csv.DictReader(f)]
    assert evaluate(preds, truth_of(loaded.queries)).micro_ap == pytest.approx(float(lookalike["micro_ap"]))
    report = (out / "report.md").read_text()
    assert "| lookalike |" in report and "Not run:" in report and "**clip**" in report
    assert "lookalike bench run" in capsys.readouterr().out


def test_calibration_fits_on_fit_and_reports_test(bench: Path) -> None:
    fit = calibrate(Benchmark.load(bench), "fake")
    cal = fit.calibration
    assert cal.score_match > 0.0 and 0.0 < cal.cos_identical <= 1.0
    fitted = {c.split: c for c in fit.checks if c.anchors == "fitted"}
    assert set(fitted) == {"fit", "test"}
    assert fitted["fit"].distractor_fpr <= MAX_DISTRACTOR_FPR
    assert fitted["fit"].copies + fitted["test"].copies == 12
    assert np.isfinite(fitted["test"].recall_at_match)


def test_fit_anchors_on_hand_made_pairs() -> None:
    # 392 distractor queries and 8 copies' best wrong references: at most 2 of these 400
    # chances (0.5 %) may fire, so that budget puts the anchor just above the 3rd highest
    # chance (0.47); the distractors alone allow 1 of 392, just above their 2nd (0.44).
    distractors = np.concatenate([np.linspace(0.05, 0.40, 390), [0.44, 0.61]])
    near = [0.99, 0.98, 0.97, 0.96]  # whole-image cosines of near-identical copies
    partial = [0.93, 0.80, 0.70, 0.60]  # of crops and pastes
    pairs = Pairs(
        distractor_best=distractors,
        distractor_full=np.full(392, 0.5),
        copy_best_wrong=np.array([0.52, 0.47, 0.3, 0.3, 0.2, 0.2, 0.2, 0.2]),
        copy_full_wrong=np.array([0.91, 0.5, 0.3, 0.3, 0.2, 0.2, 0.2, 0.2]),
        copy_score=np.array([0.9] * 8),
        copy_full=np.array(near + partial),
        copy_near_identical=np.array([True] * 4 + [False] * 4),
        copy_partial=np.array([False] * 4 + [True] * 4),
    )
    base = Calibration(score_match=0.5, cos_identical=0.9)
    cal = fit_anchors(pairs, base)
    assert cal.score_match == 0.4701
    # Where the copies' wrong references are harmless, the distractors' own budget decides.
    quiet = replace(pairs, copy_best_wrong=np.full(8, 0.2))
    assert fit_anchors(quiet, base).score_match == 0.4401
    # 0.96 puts every near-identical copy and no partial one at >= 0.97 ...
    assert cal.cos_identical == 0.96
    # ... unless a false-alarm chance reaches it: nothing unrelated may be near-identical.
    risky = replace(pairs, copy_full_wrong=np.array([0.965, *[0.2] * 7]))
    assert fit_anchors(risky, base).cos_identical == 0.97
