"""The Milvus store end to end on Milvus Lite (a local file, no server): ingest real photos,
search edited copies, delete, reopen without replaying, and agree with the FAISS store."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import PHOTO_NAMES, engine_for, jpeg_bytes
from lookalike.cli import main
from lookalike.embed.base import Embedder
from lookalike.embed.descriptor import Descriptor
from lookalike.embed.encode import Encoder
from lookalike.engine import Engine, IngestItem
from lookalike.errors import ConfigError, IndexStoreError
from lookalike.index.milvus import MilvusVectorStore
from lookalike.index.store import Index
from lookalike.index.uri import parse_store
from PIL import Image

pytest.importorskip("pymilvus")


def _top1(engine: Engine, query: Image.Image | Descriptor) -> str:
    return engine.search(query if isinstance(query, Descriptor) else jpeg_bytes(query), k=3)[0].external_id


def test_store_addresses() -> None:
    assert parse_store("faiss").kind == "faiss"
    lite = parse_store("milvus:///data/vectors.db?collection=shop")
    assert (lite.kind, lite.endpoint, lite.is_lite, lite.options) == (
        "milvus",
        "/data/vectors.db",
        True,
        {"collection": "shop"},
    )
    server = parse_store("milvus://milvus.internal:19530?index_type=HNSW&ef=64&consistency=Bounded")
    assert (server.endpoint, server.is_lite, server.options["ef"]) == (
        "http://milvus.internal:19530",
        False,
        "64",
    )
    assert parse_store("milvus+https://cloud.example:443").endpoint == "https://cloud.example:443"
    for bad in ("milvus://h:1?passwd=x", "milvus:///relative.txt", "redis://h", "milvus:relative.db"):
        with pytest.raises(ConfigError):
            parse_store(bad)


def test_milvus_lite_end_to_end_on_real_photos(
    tmp_path: Path, sscd: Embedder, photo_dir: Path, edited: dict[tuple[str, str], Image.Image]
) -> None:
    store = f"milvus://{tmp_path}/vectors.db?collection=shop"
    milvus = engine_for(sscd, Index.create(tmp_path / "mv", sscd.info, store=store))
    faiss = engine_for(sscd, Index.create(tmp_path / "fs", sscd.info))
    items = [IngestItem(p.stem, p) for p in sorted(photo_dir.glob("*.jpg"))]
    for engine in (milvus, faiss):
        assert all(o.ok for o in engine.ingest(items))
    assert milvus.index is not None and isinstance(milvus.index.vectors, MilvusVectorStore)
    assert len(milvus.index.vectors) == len(PHOTO_NAMES)
    copies = Encoder(sscd).encode(list(edited.values()))
    for (name, edit), desc in zip(edited, copies, strict=True):
        assert _top1(milvus, desc) == _top1(faiss, desc) == name, (name, edit)
    # The raw vector shortlists agree too, rank for rank.
    query = np.stack([d.vector for d in copies])
    assert milvus.index is not None and faiss.index is not None
    np.testing.assert_array_equal(
        milvus.index.vectors.search(query, 3)[1], faiss.index.vectors.search(query, 3)[1]
    )

    assert milvus.index.delete(["coffee"]) == ["coffee"]
    assert "coffee" not in {
        h.external_id for h in milvus.search(jpeg_bytes(edited[("coffee", "mirror")]), k=5)
    }
    milvus.index.save()
    assert milvus.index.stats().store == store
    milvus.index.close()

    with Index.open(tmp_path / "mv", sscd.info, writable=True) as index:
        assert isinstance(index.vectors, MilvusVectorStore)
        # The collection was checkpointed at the catalog's last change: nothing to replay.
        assert index.vectors.synced_seq == index.stats().checkpoint_seq == index.catalog.last_seq()
        assert len(index.vectors) == len(PHOTO_NAMES) - 1 and index.stats().pending_changes == 0
    # A second index may not take over this collection.
    Index.create(tmp_path / "other", sscd.info).close()
    with pytest.raises(IndexStoreError, match="belongs to another index"):
        Index.open(tmp_path / "other", store=store, writable=True)
    # Back to FAISS on the same catalog: the vectors are rebuilt from it, same answers.
    with Index.open(tmp_path / "mv", sscd.info, store="faiss") as index:
        back = engine_for(sscd, index)
        assert _top1(back, edited[("rocket", "template")]) == _top1(faiss, edited[("rocket", "template")])
        assert index.stats().vectors == len(PHOTO_NAMES) - 1


def test_unsaved_milvus_writes_are_replayed_from_the_catalog(
    tmp_path: Path, sscd: Embedder, photo_dir: Path, edited: dict[tuple[str, str], Image.Image]
) -> None:
    store = f"milvus://{tmp_path}/vectors.db"
    engine = engine_for(sscd, Index.create(tmp_path / "mv", sscd.info, store=store))
    files = sorted(photo_dir.glob("*.jpg"))
    engine.ingest([IngestItem(p.stem, p) for p in files[:3]])
    assert engine.index is not None
    engine.index.save()
    # A writer that lost its Milvus writes after the catalog commit (a crash between the two).
    engine.ingest([IngestItem(p.stem, p) for p in files[3:]])
    lost = [engine.index.get(p.stem).iid for p in files[3:]]
    engine.index.vectors.remove(np.asarray(lost, dtype=np.int64))
    assert len(engine.index.vectors) == 3
    engine.index.close()
    with Index.open(tmp_path / "mv", sscd.info, writable=True) as index:
        assert len(index.vectors) == len(files)
        again = engine_for(sscd, index)
        name = files[4].stem
        assert _top1(again, edited[(name, "mirror")]) == name


def test_cli_commands_take_a_milvus_store(
    tmp_path: Path, photo_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = f"milvus://{tmp_path}/cli.db"
    folder = str(tmp_path / "ix")
    assert main(["ingest", "--index", folder, "--store", store, "--json", "--quiet", str(photo_dir)]) == 0
    assert json.loads(capsys.readouterr().out)["ingested"] == len(PHOTO_NAMES)
    assert main(["search", "--index", folder, "--json", "--k", "1", str(photo_dir / "chelsea.jpg")]) == 0
    assert json.loads(capsys.readouterr().out)["results"][0]["id"] == "chelsea.jpg"
    assert main(["delete", "--index", folder, "chelsea.jpg", "--json"]) == 0
    capsys.readouterr()
    assert main(["info", "--index", folder, "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["store"] == store and info["vectors"] == info["images"] == len(PHOTO_NAMES) - 1
    assert main(["index", "rebuild", "--index", folder, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["vectors"] == len(PHOTO_NAMES) - 1


# -- across processes: each step runs in a fresh Python, as the CLI and the service do ---------

_STEP = """
import json, sys
import numpy as np
from lookalike.embed.base import EmbedderInfo
from lookalike.embed.descriptor import Descriptor, LocalFeatures
from lookalike.index.catalog import NewItem
from lookalike.index.store import Index

INFO = EmbedderInfo(name="fake", dim=16, version="1", weights_digest="none")

def desc(i):
    rng = np.random.default_rng(i)
    v = rng.standard_normal(16).astype(np.float32)
    h = rng.integers(0, 256, (2, 8), dtype=np.uint8)
    return Descriptor(v / np.linalg.norm(v), h[0], h[1], LocalFeatures.empty())

folder, store, action = sys.argv[1], sys.argv[2], sys.argv[3]
if action == "write":  # add items [start, stop) one batch of 5 at a time, saving every other batch
    start, stop = int(sys.argv[4]), int(sys.argv[5])
    index = Index.open_or_create(folder, INFO, store=store)
    for lo in range(start, stop, 5):
        index.add([NewItem(f"img-{i}", desc(i), f"sha-{i}", 1, 1) for i in range(lo, min(lo + 5, stop))])
        if (lo // 5) % 2:
            index.save()
        print(lo, flush=True)
    index.close()
elif action == "reopen":  # a writable open replays what a killed writer left, then checkpoints
    with Index.open(folder, INFO, writable=True) as index:
        index.save()
else:  # search every image from a read-only open
    with Index.open(folder) as index:
        stats = index.stats()
        names = [rec.external_id for batch in index.catalog.iter_records() for rec in batch]
        found = sum(
            name in {r.external_id for r in index.candidates(desc(int(name[4:])), 1)} for name in names
        )
        print(json.dumps({"images": stats.images, "vectors": stats.vectors, "found": found}))
"""


def _step(*args: str) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [sys.executable, "-c", _STEP, *args], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done


def _search_all(folder: Path, store: str) -> dict[str, int]:
    answer: dict[str, int] = json.loads(_step(str(folder), store, "search").stdout.strip().splitlines()[-1])
    return answer


def test_an_index_written_by_one_process_is_searched_by_the_next(tmp_path: Path) -> None:
    """Milvus (Lite) releases a collection when the process that loaded it ends: a reader in a
    new process must load it before searching (it used to fail with "state 'released'")."""
    store, folder = f"milvus://{tmp_path}/v.db", tmp_path / "ix"
    _step(str(folder), store, "write", "0", "20")
    assert _search_all(folder, store) == {"images": 20, "vectors": 20, "found": 20}
    _step(str(folder), store, "write", "20", "30")  # a second writer process appends
    assert _search_all(folder, store) == {"images": 30, "vectors": 30, "found": 30}


@pytest.mark.slow
def test_a_writer_killed_mid_ingest_leaves_a_milvus_index_that_reopens(tmp_path: Path) -> None:
    store, folder = f"milvus://{tmp_path}/v.db", tmp_path / "ix"
    proc = subprocess.Popen(
        [sys.executable, "-c", _STEP, str(folder), store, "write", "0", "100000"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert proc.stdout is not None
    for _ in range(4):  # some batches committed, some of them checkpointed
        assert proc.stdout.readline(), "the writer died on its own"
    time.sleep(0.2)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    # A reader opened right after the kill finds the checkpointed part at least.
    early = _search_all(folder, store)
    assert early["images"] >= 20 and early["found"] >= 10
    # The next writer replays the rest of the catalog into the collection.
    _step(str(folder), store, "reopen")
    after = _search_all(folder, store)
    assert after["images"] == after["vectors"] == after["found"] >= 20
    _step(str(folder), store, "write", "100000", "100010")  # and ingest resumes
    final = _search_all(folder, store)
    assert final["images"] == final["vectors"] == final["found"] == after["images"] + 10


@pytest.mark.slow
def test_cli_ingest_then_search_in_separate_processes(tmp_path: Path) -> None:
    refs = tmp_path / "refs"
    refs.mkdir()
    rng = np.random.default_rng(0)
    for i in range(4):
        Image.fromarray(rng.integers(0, 255, (48, 64, 3), dtype=np.uint8)).save(refs / f"ref{i}.jpg")
    store, folder = f"milvus://{tmp_path}/cli.db", str(tmp_path / "ix")

    def cli(*args: str) -> dict[str, Any]:
        done = subprocess.run(
            [sys.executable, "-m", "lookalike.cli", *args],
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
        answer: dict[str, Any] = json.loads(done.stdout)
        return answer

    ingest = ["ingest", "--index", folder, "--store", store, "--embedder", "fake", "--json", "--quiet"]
    assert cli(*ingest, str(refs))["ingested"] == 4
    found = cli("search", "--index", folder, "--store", store, "--json", "--k", "1", str(refs / "ref2.jpg"))
    assert "error" not in found and found["results"][0]["id"] == "ref2.jpg"
