"""Thumbnails: stored with each reference in the ingest transaction, gone with its row, and
rebuilt for older indexes from the source files still on disk."""

from __future__ import annotations

import io
import json
import sqlite3
from pathlib import Path

import pytest
from conftest import engine_for, jpeg_bytes
from lookalike.cli import main
from lookalike.embed.fake import FakeEmbedder
from lookalike.engine import IngestItem
from lookalike.index.catalog import CATALOG_NAME
from lookalike.index.store import Index
from lookalike.index.thumbnails import THUMBNAIL_SIDE, make_thumbnail
from PIL import Image


def _size(jpeg: bytes) -> tuple[int, int]:
    with Image.open(io.BytesIO(jpeg)) as im:
        assert im.format == "JPEG"
        return im.size


def test_make_thumbnail_keeps_the_aspect_and_never_enlarges(photos: dict[str, Image.Image]) -> None:
    chelsea = photos["chelsea"]  # 451 x 300
    w, h = _size(make_thumbnail(chelsea))
    assert w == THUMBNAIL_SIDE and abs(h - round(THUMBNAIL_SIDE * chelsea.height / chelsea.width)) <= 1
    assert _size(make_thumbnail(chelsea.resize((100, 60)))) == (100, 60)
    assert len(make_thumbnail(chelsea)) < 40_000


def test_thumbnails_follow_their_rows(tmp_path: Path, photos: dict[str, Image.Image]) -> None:
    engine = engine_for(FakeEmbedder(), Index.create(tmp_path / "ix", FakeEmbedder().info))
    index = engine.index
    assert index is not None
    engine.ingest([IngestItem(n, jpeg_bytes(photos[n])) for n in ("coffee", "rocket", "chelsea")])
    first = index.thumbnail("coffee")
    assert first is not None and _size(first)[0] == THUMBNAIL_SIDE
    # Replacing an id replaces its thumbnail; deleting it deletes it.
    engine.ingest([IngestItem("coffee", jpeg_bytes(photos["astronaut"]))])
    assert index.thumbnail("coffee") not in (None, first)
    index.delete(["rocket"])
    with sqlite3.connect(tmp_path / "ix" / CATALOG_NAME) as db:
        left = db.execute("SELECT COUNT(*) FROM thumbnails").fetchone()[0]
        orphans = db.execute("SELECT COUNT(*) FROM thumbnails WHERE iid NOT IN (SELECT iid FROM images)")
        assert (left, orphans.fetchone()[0]) == (2, 0)
    # A failed item leaves no thumbnail behind and does not stop the others.
    outcomes = engine.ingest(
        [IngestItem("bad", b"not an image"), IngestItem("hubble", jpeg_bytes(photos["hubble"]))]
    )
    assert [o.ok for o in outcomes] == [False, True]
    assert index.thumbnail("hubble") is not None
    index.close()


def test_rebuild_thumbnails_for_an_older_index(
    tmp_path: Path, photos: dict[str, Image.Image], capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "photos"
    folder.mkdir()
    for name in ("coffee", "rocket", "chelsea", "hubble"):
        (folder / f"{name}.jpg").write_bytes(jpeg_bytes(photos[name]))
    index_dir = tmp_path / "ix"
    assert main(["ingest", "--index", str(index_dir), "--embedder", "fake", str(folder)]) == 0
    # As an index built before thumbnails were kept.
    with sqlite3.connect(index_dir / CATALOG_NAME) as db:
        db.execute("DELETE FROM thumbnails")
    (folder / "hubble.jpg").unlink()  # its source is gone
    (folder / "rocket.jpg").write_bytes(jpeg_bytes(photos["rocket"], 50))  # changed since ingest
    capsys.readouterr()
    assert main(["rebuild-thumbnails", "--index", str(index_dir), "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert (report["rebuilt"], report["already"]) == (2, 0)
    assert set(report["skipped"]) == {"hubble.jpg", "rocket.jpg"}
    assert "not readable" in report["skipped"]["hubble.jpg"]
    assert "changed since it was ingested" in report["skipped"]["rocket.jpg"]
    with Index.open(index_dir) as index:
        coffee = index.thumbnail("coffee.jpg")
        assert coffee is not None and _size(coffee)[0] == THUMBNAIL_SIDE
        assert index.thumbnail("rocket.jpg") is None
    # Run again: nothing left that it can make.
    assert main(["rebuild-thumbnails", "--index", str(index_dir)]) == 1
    assert "rebuilt 0 thumbnail(s); 2 already had one; 2 skipped" in capsys.readouterr().out
