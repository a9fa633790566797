"""The Milvus store end to end on Milvus Lite (a local file, no server): ingest real photos,
search edited copies, delete, reopen without replaying, and agree with the FAISS store."""

from __future__ import annotations

import json
from pathlib import Path

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
