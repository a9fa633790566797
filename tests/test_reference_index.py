"""Both catalogs answer the same: the local folder (SQLite, FAISS) and the shared catalog in a
real Milvus server (the ``milvus`` package's standalone server, started once per session).
Every behaviour the engine and the service rely on runs against each; the shared catalog's
own promises (replicas see each other's writes, an unreachable server is a 503) follow."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from conftest import PHOTO_NAMES, jpeg_bytes
from lookalike.embed.base import Embedder, EmbedderInfo
from lookalike.embed.descriptor import Descriptor
from lookalike.embed.encode import Encoder
from lookalike.errors import EmbedderMismatchError, ItemNotFoundError, StoreUnavailableError
from lookalike.index.catalog import NewItem
from lookalike.index.manifest import MANIFEST_NAME
from lookalike.index.opener import create_index, open_index
from lookalike.index.reference import ReferenceIndex
from lookalike.index.thumbnails import make_thumbnail
from milvus_server import LocalMilvus, free_port
from PIL import Image


@pytest.fixture(scope="module")
def descriptors(sscd: Embedder, photos: dict[str, Image.Image]) -> dict[str, Descriptor]:
    encoded = Encoder(sscd).encode([photos[n] for n in PHOTO_NAMES])
    return dict(zip(PHOTO_NAMES, encoded, strict=True))


def _item(name: str, desc: Descriptor, sha: str | None = None, **extra: object) -> NewItem:
    return NewItem(
        name, desc, sha or f"sha-{name}", 10, 20, f"/photos/{name}.jpg", {"seller": "acme", **extra}
    )


def _shared_store(server: LocalMilvus) -> str:
    return f"milvus://{server.address}/t{uuid.uuid4().hex[:12]}"


@pytest.fixture(scope="module")
def shared_store(milvus_server: LocalMilvus, sscd: Embedder, tmp_path_factory: pytest.TempPathFactory) -> str:
    """One shared catalog for the module: creating its four collections takes Milvus ~12 s,
    joining it none, so the tests join it and empty it when done."""
    store = _shared_store(milvus_server)
    create_index(tmp_path_factory.mktemp("first-replica"), sscd.info, store=store).close()
    return store


@pytest.fixture(params=["local", "shared"])
def store(request: pytest.FixtureRequest) -> str:
    return "faiss" if request.param == "local" else str(request.getfixturevalue("shared_store"))


def _empty(index: ReferenceIndex) -> None:
    ids = [r.external_id for batch in index.iter_records() for r in batch]
    index.set_enabled(ids, True)
    index.delete(ids)
    for verdict in index.feedback():
        index.remove_feedback(verdict.id)


@pytest.fixture
def index(tmp_path: Path, sscd: Embedder, store: str) -> Iterator[ReferenceIndex]:
    with create_index(tmp_path / "replica", sscd.info, store=store) as opened:
        yield opened
        _empty(opened)


def _same(a: Descriptor, b: Descriptor) -> bool:
    return (
        np.array_equal(a.vector, b.vector)
        and np.array_equal(a.phash, b.phash)
        and np.array_equal(a.phash_mirror, b.phash_mirror)
        and a.local.to_bytes() == b.local.to_bytes()
    )


def test_a_reference_comes_back_whole(index: ReferenceIndex, descriptors: dict[str, Descriptor]) -> None:
    added = index.add([_item(n, descriptors[n]) for n in PHOTO_NAMES])
    assert [r.external_id for r in added] == list(PHOTO_NAMES) and not any(r.replaced for r in added)
    assert len(index) == len(PHOTO_NAMES) == index.stats().images
    rec = index.get("coffee")
    assert (rec.source, rec.sha256, rec.width, rec.height) == ("/photos/coffee.jpg", "sha-coffee", 10, 20)
    assert rec.metadata == {"seller": "acme"} and rec.added_at.endswith("Z")
    assert _same(rec.descriptor, descriptors["coffee"])  # keypoints too: the scorer re-scores with them
    assert index.records([rec.iid])[rec.iid].external_id == "coffee"
    found = index.find_sha256("sha-coffee")
    assert found is not None and found.iid == rec.iid and index.find_sha256("sha-none") is None
    with pytest.raises(ItemNotFoundError):
        index.get("nobody")


def test_each_reference_is_its_own_nearest(index: ReferenceIndex, descriptors: dict[str, Descriptor]) -> None:
    index.add([_item(n, descriptors[n]) for n in PHOTO_NAMES])
    for name in PHOTO_NAMES:
        found = index.candidates(descriptors[name], 3)
        best = max(found, key=lambda r: float(np.dot(r.descriptor.vector, descriptors[name].vector)))
        assert best.external_id == name
    # The vector of one photo and the pHash of another: each channel brings its own.
    both = index.nearest(descriptors["hubble"].vector[None, :], descriptors["rocket"].phash[None, :], 1)
    assert {r.external_id for r in both} == {"hubble", "rocket"}
    skip = {index.get("hubble").iid}
    no_hash = np.empty((0, 8), np.uint8)
    assert "hubble" not in {
        r.external_id for r in index.nearest(descriptors["hubble"].vector[None, :], no_hash, 3, skip)
    }


def test_replace_delete_and_duplicates(index: ReferenceIndex, descriptors: dict[str, Descriptor]) -> None:
    index.add([_item("a", descriptors["coffee"]), _item("b", descriptors["chelsea"])])
    again = index.add([_item("a", descriptors["rocket"], note="v2")])
    assert again[0].replaced and len(index) == 2
    assert index.get("a").metadata["note"] == "v2" and _same(index.get("a").descriptor, descriptors["rocket"])
    found = [r for r in index.candidates(descriptors["coffee"], 2) if r.external_id == "a"]
    assert all(_same(r.descriptor, descriptors["rocket"]) for r in found)  # no trace of the old one
    dup = index.add([_item("c", descriptors["rocket"], sha="sha-a")])
    assert dup[0].duplicate_of == "a"
    assert index.delete(["a", "zzz"]) == ["a"] and len(index) == 2
    with pytest.raises(ItemNotFoundError):
        index.get("a")
    assert "a" not in {r.external_id for r in index.candidates(descriptors["rocket"], 3)}


def test_thumbnails(
    index: ReferenceIndex, descriptors: dict[str, Descriptor], photos: dict[str, Image.Image]
) -> None:
    thumb = make_thumbnail(photos["coffee"])
    index.add([_item("coffee", descriptors["coffee"]), _item("hubble", descriptors["hubble"])], [thumb, None])
    assert index.thumbnail("coffee") == thumb and index.thumbnail("hubble") is None
    moon = index.get("hubble").iid
    assert index.thumbnail_rows() == [moon] and len(index.thumbnail_rows(missing_only=False)) == 2
    index.put_thumbnails({moon: jpeg_bytes(photos["hubble"].resize((64, 64)))})
    assert index.thumbnail_rows() == [] and index.thumbnails([moon])[moon][:2] == b"\xff\xd8"
    assert _same(index.get("hubble").descriptor, descriptors["hubble"])  # the row kept the rest
    with pytest.raises(ItemNotFoundError):
        index.thumbnail("nobody")


def test_review_state(index: ReferenceIndex, descriptors: dict[str, Descriptor]) -> None:
    index.add([_item(n, descriptors[n]) for n in ("coffee", "rocket")])
    verdict = index.add_feedback("coffee", "not_a_match", "sha-query", descriptors["chelsea"])
    index.add_feedback("rocket", "confirmed", "sha-query", descriptors["rocket"])
    assert [f.id for f in index.feedback("coffee")] == [verdict.id] and len(index.feedback()) == 2
    suppressed = index.suppressions(["coffee", "rocket"])
    assert list(suppressed) == ["coffee"]
    assert np.array_equal(suppressed["coffee"][0].vector, descriptors["chelsea"].vector)
    assert np.array_equal(suppressed["coffee"][0].phash_mirror, descriptors["chelsea"].phash_mirror)
    with pytest.raises(ItemNotFoundError):
        index.add_feedback("nobody", "confirmed", "sha", descriptors["coffee"])
    assert index.remove_feedback(verdict.id) and not index.remove_feedback(verdict.id)
    assert index.suppressions(["coffee"]) == {}
    assert index.set_enabled(["rocket", "nobody"], False) == ["rocket"]
    assert index.disabled(["rocket", "coffee"]) == {"rocket"}
    index.add([_item("rocket", descriptors["rocket"])])  # re-ingesting keeps it disabled
    assert index.disabled(["rocket"]) == {"rocket"}
    index.set_enabled(["rocket"], True)
    assert index.disabled(["rocket"]) == set()


def test_prefix_listing_and_paging(index: ReferenceIndex, descriptors: dict[str, Descriptor]) -> None:
    names = ["clip#t=2", "clip#t=1", "clip2#t=1", "clip_x", "other"]
    index.add([_item(n, descriptors[PHOTO_NAMES[i]]) for i, n in enumerate(names)])
    assert [r.external_id for r in index.with_id_prefix("clip#")] == ["clip#t=1", "clip#t=2"]
    pages = list(index.iter_records(batch=2))
    assert max(len(p) for p in pages) == 2
    assert sorted(r.external_id for p in pages for r in p) == sorted(names)


def test_calibration_reaches_the_next_opener(tmp_path: Path, sscd: Embedder, store: str) -> None:
    shared = store != "faiss"
    with create_index(tmp_path / "a", sscd.info, store=store) as first:
        first.set_calibration({"fitted": True})
    # A shared catalog gives it to a replica with a folder of its own; a local one to a reopen.
    again = tmp_path / ("b" if shared else "a")
    with open_index(again, sscd.info, writable=True, store=store if shared else None) as second:
        assert second.manifest.calibration == {"fitted": True}
        second.set_calibration(None)  # the module's shared catalog serves the other tests


# -- the shared catalog's own promises ------------------------------------------------------


def test_replicas_share_writes_deletes_and_review(
    tmp_path: Path, sscd: Embedder, shared_store: str, descriptors: dict[str, Descriptor]
) -> None:
    store = shared_store
    with (
        create_index(tmp_path / "one", sscd.info, store=store) as one,
        create_index(tmp_path / "two", sscd.info, store=store) as two,
    ):
        assert one.manifest.uid == two.manifest.uid
        one.add([_item("coffee", descriptors["coffee"])])
        # Strong consistency: acknowledged by one, seen by the other at once.
        assert [r.external_id for r in two.candidates(descriptors["coffee"], 1)] == ["coffee"]
        two.set_enabled(["coffee"], False)
        assert one.disabled(["coffee"]) == {"coffee"}
        two.add_feedback("coffee", "not_a_match", "q", descriptors["hubble"])
        assert list(one.suppressions(["coffee"])) == ["coffee"]
        assert two.delete(["coffee"]) == ["coffee"]
        assert len(one) == 0 and one.candidates(descriptors["coffee"], 1) == []
    # The folder keeps only the manifest.
    assert sorted(p.name for p in (tmp_path / "two").iterdir()) == [MANIFEST_NAME]


def test_a_replica_with_another_embedder_is_refused(
    tmp_path: Path, sscd: Embedder, shared_store: str
) -> None:
    store = shared_store
    other = EmbedderInfo(name="fake", dim=sscd.info.dim, version="1", weights_digest="none")
    with pytest.raises(EmbedderMismatchError):
        create_index(tmp_path / "two", other, store=store)


def test_a_server_still_loading_its_collections_is_unavailable_not_an_error(
    milvus_server: LocalMilvus,
) -> None:
    """Right after a restart the server answers, but a search waits for its collections to
    load and gives up: that is a 503 to retry, not a broken index (a CI run once saw 500)."""
    from lookalike.index.milvus_client import MilvusConnection
    from lookalike.index.uri import parse_store
    from pymilvus.exceptions import MilvusException

    def still_loading(_: object) -> None:
        raise MilvusException(
            code=1,
            message="[load_collection] Retry timeout: 5.0s, message=[wait_for_loading_collection] "
            "Retry timeout: 5.0s, message=wait for loading collection timeout, collection: c",
        )

    connection = MilvusConnection(parse_store(_shared_store(milvus_server)), pauses=(0.0, 0.0))
    with pytest.raises(StoreUnavailableError) as caught:
        connection.call("search", still_loading)
    assert caught.value.http_status == 503 and "3 tries" in str(caught.value)


def test_an_unreachable_server_is_unavailable_not_an_error(tmp_path: Path, sscd: Embedder) -> None:
    with pytest.raises(StoreUnavailableError) as caught:
        create_index(tmp_path / "x", sscd.info, store=f"milvus://127.0.0.1:{free_port()}/nobody")
    assert caught.value.http_status == 503 and caught.value.code == "store_unavailable"
