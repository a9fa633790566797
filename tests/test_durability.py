"""SIGKILL at any moment of an ingest or a checkpoint leaves the index as before or after a
committed batch: it reopens, every catalog row is searchable, and ingest can be resumed."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import EDITS, PHOTO_NAMES, jpeg_bytes
from lookalike.embed.descriptor import Descriptor
from lookalike.index.store import Index
from PIL import Image

BATCH = 4
# Copies of each edited photo (saved at different JPEG qualities), so that a pipelined
# ingest is still running when the test kills it.
COPIES = 3


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory, edited: dict[tuple[str, str], Image.Image]) -> Path:
    folder = tmp_path_factory.mktemp("corpus")
    for (name, edit), im in edited.items():
        for copy in range(COPIES):
            (folder / f"{name}-{edit}-{copy}.jpg").write_bytes(jpeg_bytes(im, 95 - copy))
    return folder


def _committed_rows(index_dir: Path) -> int:
    db = index_dir / "catalog.sqlite"
    if not db.exists():
        return 0
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1) as conn:
            return int(conn.execute("SELECT COUNT(*) FROM images").fetchone()[0])
    except sqlite3.Error:
        return 0


def _kill_when(proc: subprocess.Popen[bytes], index_dir: Path, rows: int, extra_delay: float) -> None:
    deadline = time.monotonic() + 120
    while _committed_rows(index_dir) < rows and proc.poll() is None:
        assert time.monotonic() < deadline, "ingest made no progress"
        time.sleep(0.02)
    time.sleep(extra_delay)
    proc.send_signal(signal.SIGKILL)
    proc.wait()


def _assert_consistent(index_dir: Path) -> int:
    total = COPIES * len(PHOTO_NAMES) * len(EDITS)
    with Index.open(index_dir) as index:
        stats = index.stats()
        assert stats.images == stats.vectors == stats.hashes
        assert stats.images % BATCH == 0 or stats.images == total, "a batch was half committed"
        for batch in index.catalog.iter_records():
            for rec in batch:
                assert _nearest(index, rec.descriptor) == rec.external_id
        return stats.images


def _nearest(index: Index, desc: Descriptor) -> str:
    recs = index.candidates(desc, 3)
    return max(recs, key=lambda r: (float(r.descriptor.vector @ desc.vector), r.external_id)).external_id


def _ingest(index_dir: Path, corpus: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "lookalike",
            "ingest",
            "--index",
            str(index_dir),
            "--batch-size",
            str(BATCH),
            "--threads",
            "1",
            "--quiet",
            "--json",
            str(corpus),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


@pytest.mark.slow
@pytest.mark.parametrize(("rows", "delay"), [(BATCH, 0.0), (2 * BATCH, 0.15), (5 * BATCH, 0.4)])
def test_sigkill_during_ingest_then_resume(tmp_path: Path, corpus: Path, rows: int, delay: float) -> None:
    index_dir = tmp_path / "ix"
    proc = _ingest(index_dir, corpus)
    _kill_when(proc, index_dir, rows, delay)
    assert proc.returncode == -signal.SIGKILL
    survived = _assert_consistent(index_dir)
    assert survived >= rows
    resumed = _ingest(index_dir, corpus)
    _out, err = resumed.communicate(timeout=300)
    assert resumed.returncode == 0, err.decode()
    assert _assert_consistent(index_dir) == COPIES * len(PHOTO_NAMES) * len(EDITS)


SAVE_LOOP = """
import sys
from lookalike.embed.fake import FakeEmbedder
from lookalike.embed.encode import Encoder
from lookalike.index.catalog import NewItem
from lookalike.index.store import Index
from PIL import Image
import numpy as np
enc = Encoder(FakeEmbedder())
index = Index.open_or_create(sys.argv[1], enc.embedder.info)
rng = np.random.default_rng(0)
for i in range(10_000):
    im = Image.fromarray(rng.integers(0, 255, (32, 32, 3), dtype=np.uint8))
    index.add([NewItem(f"img-{i}", enc.encode([im])[0], f"sha-{i}", 32, 32)])
    index.save()
    print(i, flush=True)
"""


@pytest.mark.slow
@pytest.mark.parametrize("delay", [0.05, 0.3, 0.7, 1.1])
def test_sigkill_during_checkpoint_saves(tmp_path: Path, delay: float) -> None:
    """A writer that checkpoints after every add is killed at arbitrary points."""
    index_dir = tmp_path / "ix"
    proc = subprocess.Popen([sys.executable, "-c", SAVE_LOOP, str(index_dir)], stdout=subprocess.PIPE)
    assert proc.stdout is not None
    proc.stdout.readline()  # one add + save finished
    time.sleep(delay)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    with Index.open(index_dir) as index:
        stats = index.stats()
        assert stats.images == stats.vectors == stats.hashes >= 1
        leftovers = [p.name for p in index_dir.iterdir() if p.name.startswith(("vectors-", "hashes-"))]
        assert len(leftovers) <= 4  # the live checkpoint plus at most one half-replaced pair
    with Index.open(index_dir, writable=True) as index:
        index.save()
        assert sorted(p.name for p in index_dir.iterdir() if p.name.startswith(("vectors-", "hashes-"))) == [
            f"hashes-{index.stats().checkpoint_seq}.faissb",
            f"vectors-{index.stats().checkpoint_seq}.faiss",
        ]


FEEDBACK_LOOP = """
import sys
import numpy as np
from lookalike.embed.descriptor import Descriptor, LocalFeatures
from lookalike.index.catalog import NewItem
from lookalike.index.store import Index
from lookalike.embed.base import EmbedderInfo
info = EmbedderInfo(name="fake", dim=4, version="1", weights_digest="none")
index = Index.open_or_create(sys.argv[1], info)
rng = np.random.default_rng(0)
def desc():
    v = rng.normal(size=4).astype(np.float32)
    h = rng.integers(0, 256, 8, dtype=np.uint8)
    return Descriptor(v / np.linalg.norm(v), h, h, LocalFeatures.empty())
index.add([NewItem("ref", desc(), "sha-ref", 8, 8)])
for i in range(100_000):
    index.add_feedback("ref", "not_a_match", f"sha-{i}", desc())
    print(i, flush=True)
"""


@pytest.mark.slow
@pytest.mark.parametrize("delay", [0.05, 0.4])
def test_sigkill_while_recording_verdicts(tmp_path: Path, delay: float) -> None:
    """Every verdict acknowledged before a SIGKILL is there after it, and the index reopens."""
    index_dir = tmp_path / "ix"
    proc = subprocess.Popen([sys.executable, "-c", FEEDBACK_LOOP, str(index_dir)], stdout=subprocess.PIPE)
    assert proc.stdout is not None
    acknowledged = int(proc.stdout.readline())
    time.sleep(delay)
    proc.send_signal(signal.SIGKILL)
    rest, _ = proc.communicate()
    acknowledged = max([acknowledged, *(int(line.split()[0]) for line in rest.splitlines() if line.strip())])
    with Index.open(index_dir, writable=True) as index:
        recorded = index.feedback("ref")
        assert len(recorded) >= acknowledged + 1
        assert {r.verdict for r in recorded} == {"not_a_match"}
