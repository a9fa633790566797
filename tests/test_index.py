"""The index folder: persistence, replace, delete, dedup, identity checks, write lock."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from conftest import PHOTO_NAMES
from lookalike.embed.base import Embedder
from lookalike.embed.descriptor import Descriptor
from lookalike.embed.encode import Encoder
from lookalike.embed.fake import FakeEmbedder
from lookalike.errors import (
    EmbedderMismatchError,
    IndexLockedError,
    IndexNotFoundError,
    ItemNotFoundError,
)
from lookalike.index.catalog import NewItem
from lookalike.index.store import Index
from lookalike.index.vectors import MemoryVectorStore
from PIL import Image


@pytest.fixture(scope="module")
def descriptors(sscd: Embedder, photos: dict[str, Image.Image]) -> dict[str, Descriptor]:
    encoded = Encoder(sscd).encode([photos[n] for n in PHOTO_NAMES])
    return dict(zip(PHOTO_NAMES, encoded, strict=True))


def _item(name: str, desc: Descriptor, **extra: object) -> NewItem:
    return NewItem(
        external_id=name,
        descriptor=desc,
        sha256=f"sha-{name}",
        width=10,
        height=20,
        source=f"/photos/{name}.jpg",
        metadata={"seller": "acme", **extra},
    )


def _top1(index: Index, desc: Descriptor) -> str:
    best = max(index.candidates(desc, 5), key=lambda r: float(np.dot(r.descriptor.vector, desc.vector)))
    return best.external_id


def test_persistence_round_trip(tmp_path: Path, sscd: Embedder, descriptors: dict[str, Descriptor]) -> None:
    with Index.create(tmp_path / "ix", sscd.info) as index:
        index.add([_item(n, d, banned=n == "coffee") for n, d in descriptors.items()])
        index.save()
    manifest = json.loads((tmp_path / "ix" / "manifest.json").read_text())
    assert manifest["embedder"]["name"] == "sscd" and manifest["dim"] == 512
    assert manifest["index_factory"] == "IDMap2,Flat" and manifest["checkpoint"]["seq"] == len(descriptors)
    with Index.open(tmp_path / "ix", sscd.info) as index:
        stats = index.stats()
        assert stats.images == stats.vectors == stats.hashes == len(PHOTO_NAMES)
        assert stats.pending_changes == 0
        for name, desc in descriptors.items():
            assert _top1(index, desc) == name
        rec = index.get("coffee")
        assert rec.metadata == {"seller": "acme", "banned": True}
        assert (rec.width, rec.height, rec.source) == (10, 20, "/photos/coffee.jpg")
        np.testing.assert_array_equal(rec.descriptor.vector, descriptors["coffee"].vector)


def test_unsaved_changes_are_replayed_from_the_catalog(
    tmp_path: Path, sscd: Embedder, descriptors: dict[str, Descriptor]
) -> None:
    names = list(descriptors)
    index = Index.create(tmp_path / "ix", sscd.info)
    index.add([_item(n, descriptors[n]) for n in names[:3]])
    index.save()
    index.add([_item(n, descriptors[n]) for n in names[3:]])
    index.delete([names[0]])
    index.close()  # no save: the checkpoint is behind the catalog
    with Index.open(tmp_path / "ix") as index:
        assert index.stats().vectors == len(names) - 1
        assert index.stats().pending_changes > 0
        for name in names[1:]:
            assert _top1(index, descriptors[name]) == name
        assert names[0] not in {r.external_id for r in index.candidates(descriptors[names[0]], 10)}


def test_readding_an_id_replaces_it(
    tmp_path: Path, sscd: Embedder, descriptors: dict[str, Descriptor]
) -> None:
    with Index.create(tmp_path / "ix", sscd.info) as index:
        index.add([_item(n, d) for n, d in descriptors.items()])
        results = index.add([_item("rocket", descriptors["chelsea"], note="re-shot")])
        assert results[0].replaced
        assert len(index) == len(descriptors)
        assert index.get("rocket").metadata["note"] == "re-shot"
        assert index.stats().vectors == len(descriptors)
        # The old rocket vector is gone from the vector index; the new one is chelsea's.
        old = descriptors["rocket"].vector
        assert all(
            np.dot(r.descriptor.vector, old) < 0.99 for r in index.candidates(descriptors["rocket"], 10)
        )
        twins = [
            r.external_id
            for r in index.candidates(descriptors["chelsea"], 10)
            if np.dot(r.descriptor.vector, descriptors["chelsea"].vector) > 0.999
        ]
        assert sorted(twins) == ["chelsea", "rocket"]


def test_delete_removes_from_catalog_and_vectors(
    tmp_path: Path, sscd: Embedder, descriptors: dict[str, Descriptor]
) -> None:
    with Index.create(tmp_path / "ix", sscd.info) as index:
        index.add([_item(n, d) for n, d in descriptors.items()])
        assert index.delete(["coffee", "not-there"]) == ["coffee"]
        with pytest.raises(ItemNotFoundError, match="coffee"):
            index.get("coffee")
        assert "coffee" not in {r.external_id for r in index.candidates(descriptors["coffee"], 10)}
        index.save()
    with Index.open(tmp_path / "ix") as index:
        assert len(index) == len(descriptors) - 1 and index.stats().vectors == len(descriptors) - 1


def test_byte_duplicates_are_reported(
    tmp_path: Path, sscd: Embedder, descriptors: dict[str, Descriptor]
) -> None:
    with Index.create(tmp_path / "ix", sscd.info) as index:
        first = index.add([_item("a", descriptors["coffee"])])
        second = index.add([NewItem("b", descriptors["coffee"], "sha-a", 1, 1)])
        assert first[0].duplicate_of is None and second[0].duplicate_of == "a"
        assert index.find_sha256("sha-a") is not None


def test_a_different_embedder_is_refused(tmp_path: Path, sscd: Embedder) -> None:
    Index.create(tmp_path / "ix", sscd.info).close()
    with pytest.raises(EmbedderMismatchError, match="built with embedder sscd"):
        Index.open(tmp_path / "ix", FakeEmbedder().info)
    newer = FakeEmbedder(version="2").info
    Index.create(tmp_path / "fake", FakeEmbedder().info).close()
    with pytest.raises(EmbedderMismatchError, match="version 1"):
        Index.open(tmp_path / "fake", newer)


def test_missing_index_and_second_writer(tmp_path: Path, sscd: Embedder) -> None:
    with pytest.raises(IndexNotFoundError, match="no lookalike index"):
        Index.open(tmp_path / "nothing")
    with Index.create(tmp_path / "ix", sscd.info), pytest.raises(IndexLockedError, match="another process"):
        Index.open(tmp_path / "ix", writable=True)
    Index.open(tmp_path / "ix", writable=True).close()  # the lock went with the first writer


def test_faiss_store_agrees_with_exact_numpy_search(tmp_path: Path, photos: dict[str, Image.Image]) -> None:
    fake = FakeEmbedder()
    encoded = Encoder(fake).encode([photos[n] for n in PHOTO_NAMES])
    items = [_item(n, d) for n, d in zip(PHOTO_NAMES, encoded, strict=True)]
    with Index.create(tmp_path / "faiss", fake.info) as faiss_ix:
        faiss_ix.add(items)
        Index.create(tmp_path / "mem", fake.info).close()
        with Index(
            tmp_path / "mem", faiss_ix.manifest, writable=True, vectors=MemoryVectorStore(fake.info.dim)
        ) as mem:
            mem.add(items)
            for desc in encoded:
                assert _top1(faiss_ix, desc) == _top1(mem, desc)
