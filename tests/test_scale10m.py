"""The 10M benchmark's code path at a few thousand vectors: real SSCD descriptors of the
scikit-image photos and their edited copies, the synthetic set fitted to them, a streamed
build and a search from the files it leaves, and two-level training of a big inverted file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import faiss
import numpy as np
import pytest
from lookalike.benchmarks import scale, scale10m
from lookalike.benchmarks.fastscan import merge_lists
from lookalike.benchmarks.realistic import EDITS, Fitted, real_descriptors
from lookalike.benchmarks.scale import DIM, Mixture
from lookalike.index.build import train_store
from lookalike.index.tune import exact_neighbours, recall_at_k
from lookalike.index.vectors import FaissVectorStore


@pytest.fixture(scope="module")
def real_cache(photo_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    cache = tmp_path_factory.mktemp("real") / "real.npz"
    real_descriptors([photo_dir], cache)
    return cache


def test_real_descriptors_pair_each_photo_with_its_edited_copies(real_cache: Path, photo_dir: Path) -> None:
    real = real_descriptors([photo_dir], real_cache)
    photos = len(list(photo_dir.iterdir()))
    assert real.base.shape == (photos, DIM) and real.copies.shape == (photos * len(EDITS), DIM)
    # Every edited copy is nearer its own photo than any other photo.
    nearest = (real.copies @ real.base.T).argmax(axis=1)
    np.testing.assert_array_equal(nearest, real.owner)
    assert list(real.edit[: len(EDITS)]) == list(EDITS)


def test_the_fitted_set_has_the_real_spectrum_not_full_rank_noise(real_cache: Path, photo_dir: Path) -> None:
    real = real_descriptors([photo_dir], real_cache)
    sample = np.concatenate([real.base, real.copies])
    fitted = Fitted(sample, seed=0)
    rows = fitted.rows(4000, 0)
    assert np.allclose(np.linalg.norm(rows, axis=1), 1, atol=1e-4)
    # Drawn variance follows the fitted principal variances: most of it in a few directions.
    centred = rows - rows.mean(axis=0)
    drawn = np.linalg.svd(centred, compute_uv=False) ** 2
    top = len(sample) - 1
    assert drawn[:top].sum() / drawn.sum() > 0.5 > top / DIM
    assert fitted.components_for(0.5) < top
    # Mean cosine between unrelated draws is the real photos' (a shared component), not ~0.
    real_cos = (real.base @ real.base.T)[np.triu_indices(len(real.base), 1)].mean()
    drawn_cos = (rows[:200] @ rows[200:400].T).mean()
    assert abs(drawn_cos - real_cos) < 0.15
    # The nested set shaped by it keeps neighbourhoods: a row's nearest neighbour is far
    # nearer than a random row.
    shaped = Mixture(20_000, 0, fitted).rows(20_000, 0)
    sims = shaped[:100] @ shaped.T
    np.fill_diagonal(sims[:, :100], -1)
    assert np.median(sims.max(axis=1)) > np.median(sims.mean(axis=1)) + 0.2


def test_two_level_training_gives_a_big_inverted_file_its_centroids() -> None:
    mixture = Mixture(8000, 1)
    x = mixture.rows(8000, 0)
    store = FaissVectorStore(DIM, "IVF128,Flat")
    train_store(store, x[:6000], two_level_from=128)
    ivf = faiss.extract_index_ivf(store.faiss_index)
    assert ivf.is_trained and ivf.quantizer.ntotal == 128
    ids = np.arange(len(x))
    store.add(ids, x)
    store.set_search_params("nprobe=32")
    queries = mixture.rows(200, 10**9)
    _, truth = exact_neighbours(queries, [(ids, x)], 10)
    assert recall_at_k(store.search(queries, 10)[1], truth, 10) > 0.9


def _run(
    tmp_path: Path, cache: Path, photo_dir: Path, factory: str, in_process: pytest.MonkeyPatch | None = None
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    out = tmp_path / factory.replace(",", "-")
    common = ["--out", str(out), "--real", str(photo_dir), "--cache", str(cache)]
    sizes = ["--n", "3000", "--factory", factory, "--train", "2000", "--truth-queries", "20", "--parts", "2"]
    if in_process is None:
        # The subprocesses of a real run: writers, trainer, adders, merger, searcher.
        assert scale10m.main(["run", *sizes, *common]) == 0
    else:
        # The same steps in this process, with chunks small enough that both parts get rows.
        in_process.setattr(scale, "CHUNK", 500)
        in_process.setattr(scale10m, "CHUNK", 500)
        scale10m.prepare(scale10m._parser().parse_args(["run", *sizes, *common]))
        steps = [["write", "--part", "0"], ["write", "--part", "1"], ["train"], ["add", "--part", "0"]]
        steps += [["add", "--part", "1"], ["build"], ["search"]]
        for step in steps:
            assert scale10m.main([step[0], *sizes, *common, *step[1:]]) == 0
        assert len(list(out.glob("shard-*.faiss"))) == len(list(out.glob("truth-*.npz"))) == 2
    figures = json.loads((out / "build.json").read_text())
    report = json.loads((out / "search.json").read_text())
    assert report["peak_rss"] > 0 and figures["peak_rss"] > 0
    return figures, report["rungs"]


def test_the_benchmark_measures_an_exact_index_as_exact(
    tmp_path: Path, real_cache: Path, photo_dir: Path
) -> None:
    figures, rungs = _run(tmp_path, real_cache, photo_dir, "IDMap2,Flat")
    assert figures["n"] == 3000 and figures["real_photos"] == 7
    assert figures["store_bytes"] >= 3000 * DIM * 2  # the float16 descriptor store
    (rung,) = rungs
    assert rung["recall_at_10"] == rung["real_recall_at_10"] == rung["original_at_10"] == 1.0


def test_the_benchmark_climbs_a_compressed_inverted_file_merged_from_parts(
    tmp_path: Path, real_cache: Path, photo_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    figures, rungs = _run(tmp_path, real_cache, photo_dir, "IVF16,PQ64x4fs", monkeypatch)
    # 32 bytes of code and 8 of id per vector, plus centroids and block padding.
    assert 40 < figures["bytes_per_vector"] < 64 + DIM * 4 * 16 / 3000
    assert [r["params"] for r in rungs][:2] == ["nprobe=1", "nprobe=2"]
    assert rungs[-1]["recall_10_in_50"] >= rungs[0]["recall_10_in_50"]
    assert all(r["recall_10_in_200"] >= r["recall_10_in_50"] >= r["recall_at_10"] for r in rungs)
    assert rungs[-1]["original_at_10"] == 1.0


def test_merged_fast_scan_lists_answer_like_the_parts_together() -> None:
    mixture = Mixture(6000, 2)
    x = mixture.rows(6000, 0)
    trained = FaissVectorStore(DIM, "IVF16,PQ64x4fs")
    trained.train(x[:3000])
    parts = []
    for lo in range(0, 6000, 2000):  # list sizes that end mid-block and on block edges
        part = faiss.clone_index(trained.faiss_index)
        part.add_with_ids(x[lo : lo + 2000], np.arange(lo, lo + 2000))
        parts.append(part)
    merged = faiss.clone_index(trained.faiss_index)
    merge_lists(merged, parts)
    assert merged.ntotal == 6000
    queries = mixture.rows(50, 10**9)
    for index in (merged, *parts):
        index.nprobe = 4
    _, ids = merged.search(queries, 10)
    each = [p.search(queries, 10) for p in parts]
    together = np.concatenate([s for s, _ in each], axis=1)
    want = np.take_along_axis(
        np.concatenate([i for _, i in each], axis=1), np.argsort(-together, axis=1)[:, :10], axis=1
    )
    np.testing.assert_array_equal(np.sort(ids, axis=1), np.sort(want, axis=1))
