"""``POST /image/match`` over a real uvicorn server on loopback, on real photos.

Images arrive the three ways clients send them (URLs from a loopback image server, base64,
multipart), and every kind of bad input gets its JSON error, never a 500.
"""

from __future__ import annotations

import base64
import io
import struct
import zlib
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from conftest import EDITS, jpeg_bytes
from lookalike.api.app import create_app
from lookalike.api.settings import Settings
from lookalike.benchmarks.server import BackgroundServer
from lookalike.engine import Engine
from PIL import Image, ImageOps
from test_fetch import MB, Origin

KEY = "match-test-key"
ENVELOPE = {"match", "confidence", "similarity_score", "processing_time_ms", "media_type", "matched_segments"}


class Api:
    def __init__(self, client: httpx.Client, engine: Engine, origin: Origin) -> None:
        self.client = client
        self.engine = engine
        self.origin = origin

    def match(self, **kwargs: object) -> httpx.Response:
        return self.client.post("/image/match", **kwargs)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    settings = Settings(
        index=tmp_path_factory.mktemp("match") / "index",
        embedder="sscd-lite",
        api_keys=KEY,
        allow_private_networks=True,  # the image server is on loopback
        fetch_timeout_s=1.0,
        max_request_bytes=4 * MB,
    )
    app = create_app(settings)
    origin = Origin()
    with (
        BackgroundServer(app) as server,
        httpx.Client(base_url=server.url, headers={"x-api-key": KEY}) as client,
    ):
        yield Api(client, app.state.service.engine, origin)
    origin.close()


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def png_bomb(side: int) -> bytes:
    """A valid greyscale PNG of side x side black pixels: a few dozen KB that decode to
    ``side**2`` bytes."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = zlib.compress(b"\0" * ((side + 1) * side), 9)
    header = struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", rows) + chunk(b"IEND", b"")


def test_seed_shaped_json_body_with_urls(api: Api, photos: dict[str, Image.Image]) -> None:
    """The commercial API's body, unchanged: two URLs in, the exact envelope out."""
    source = jpeg_bytes(photos["astronaut"])
    copy = jpeg_bytes(ImageOps.mirror(photos["astronaut"]), 70)
    api.origin.files["/catalog/astronaut.jpg"] = (source, "image/jpeg")
    api.origin.files["/listing/987.jpg"] = (copy, "image/jpeg")
    response = api.match(
        json={
            "source_url": f"{api.origin.base}/catalog/astronaut.jpg",
            "target_url": f"{api.origin.base}/listing/987.jpg",
        }
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == ENVELOPE
    assert body["match"] is True
    assert body["confidence"] == "high"
    assert body["similarity_score"] >= 0.97
    assert body["media_type"] == "image"
    assert body["matched_segments"] == []
    assert isinstance(body["processing_time_ms"], int) and body["processing_time_ms"] > 0
    # The route is the engine's match, not a re-implementation of it.
    assert body["similarity_score"] == api.engine.match(source, copy).similarity_score


def test_base64_and_multipart_give_the_same_answer(api: Api, photos: dict[str, Image.Image]) -> None:
    source = jpeg_bytes(photos["coffee"])
    copy = jpeg_bytes(photos["coffee"], 30)
    as_json = api.match(
        json={"source_image": b64(source), "target_image": f"data:image/jpeg;base64,{b64(copy)}"}
    )
    as_upload = api.match(files={"source_image": ("a.jpg", source), "target_image": ("b.jpg", copy)})
    assert as_json.status_code == as_upload.status_code == 200
    assert as_json.json()["match"] is True
    assert as_json.json()["similarity_score"] == as_upload.json()["similarity_score"]


def test_different_photos_do_not_match(api: Api, photos: dict[str, Image.Image]) -> None:
    response = api.match(
        files={
            "source_image": ("a.jpg", jpeg_bytes(photos["coffee"])),
            "target_image": ("b.jpg", jpeg_bytes(photos["chelsea"])),
        }
    )
    assert response.status_code == 200
    assert response.json()["match"] is False
    assert response.json()["similarity_score"] < 0.85


def bad_input_cases(photo: bytes, tmp: Path) -> list[tuple[dict[str, object], int, str]]:
    ico = io.BytesIO()
    Image.new("RGB", (32, 32), "red").save(ico, "ICO")
    good = b64(photo)
    return [
        (
            {"json": {"source_image": b64(b"\x13\x37garbage" * 100), "target_image": good}},
            400,
            "not_an_image",
        ),
        (
            {"json": {"source_image": b64(photo[: len(photo) // 2]), "target_image": good}},
            400,
            "truncated_image",
        ),
        ({"files": {"source_image": ("a.jpg", b""), "target_image": ("b.jpg", photo)}}, 400, "empty_image"),
        (
            {"files": {"source_image": ("bomb.png", png_bomb(7000)), "target_image": ("b.jpg", photo)}},
            413,
            "image_too_large",
        ),
        ({"json": {"source_image": b64(ico.getvalue()), "target_image": good}}, 415, "unsupported_format"),
        ({"json": {"source_image": good}}, 422, "validation_error"),
        (
            {"json": {"source_image": good, "source_url": "https://example.com/a.jpg", "target_image": good}},
            422,
            "validation_error",
        ),
        ({"json": {"source_image": "not base64!", "target_image": good}}, 422, "validation_error"),
        (
            {"content": b'{"source_image": ', "headers": {"content-type": "application/json"}},
            422,
            "validation_error",
        ),
        ({"content": photo, "headers": {"content-type": "image/jpeg"}}, 415, "unsupported_media_type"),
        ({"json": {"source_url": "file:///etc/passwd", "target_image": good}}, 400, "unsafe_url"),
        (
            {"json": {"source_url": "http://169.254.169.254/latest/meta-data/", "target_image": good}},
            400,
            "unsafe_url",
        ),
    ]


def test_bad_input_gets_a_json_error_and_never_a_500(
    api: Api, photos: dict[str, Image.Image], tmp_path: Path
) -> None:
    photo = jpeg_bytes(photos["rocket"])
    for request, status, code in bad_input_cases(photo, tmp_path):
        response = api.match(**request)
        assert (response.status_code, response.json()["code"]) == (status, code), request
        assert response.json()["message"]
    assert api.client.get("/healthz").json() == {"status": "ok"}
    assert api.match(json={"source_image": b64(photo), "target_image": b64(photo)}).json()["match"] is True
    metrics = api.client.get("/metrics").text
    assert 'route="/image/match",status="400"' in metrics
    assert 'status="500"' not in metrics


def test_remote_failures_map_to_502_504_413_415(api: Api, photos: dict[str, Image.Image]) -> None:
    good = b64(jpeg_bytes(photos["rocket"]))
    api.origin.files["/page.html"] = (b"<!DOCTYPE html><html><body>a listing page</body></html>", "text/html")
    cases = {
        "/missing.jpg": (502, "fetch_failed"),
        "/slow": (504, "fetch_timeout"),
        "/huge": (413, "image_too_large"),
        "/page.html": (415, "unsupported_format"),
    }
    for path, expected in cases.items():
        response = api.match(json={"source_url": f"{api.origin.base}{path}", "target_image": good})
        assert (response.status_code, response.json()["code"]) == expected, path


def test_request_bodies_over_the_cap_are_refused(api: Api) -> None:
    big = b"x" * (5 * MB)
    declared = api.match(content=big, headers={"content-type": "application/json"})
    assert (declared.status_code, declared.json()["code"]) == (413, "request_too_large")

    def chunks() -> Iterator[bytes]:
        for _ in range(5):
            yield b" " * MB

    streamed = api.match(content=chunks(), headers={"content-type": "application/json"})
    assert (streamed.status_code, streamed.json()["code"]) == (413, "request_too_large")
    assert api.client.get("/healthz").status_code == 200


def test_explain_is_opt_in_and_says_where_the_copy_sits(api: Api, photos: dict[str, Image.Image]) -> None:
    """A photo pasted small on a listing template: with ``explain=true`` the answer says which
    region of the target matched; without it the envelope is exactly the commercial one."""
    source = jpeg_bytes(photos["rocket"])
    listing = jpeg_bytes(EDITS["template"](photos["rocket"]))
    files = {"source_image": ("a.jpg", source), "target_image": ("b.jpg", listing)}
    plain = api.client.post("/image/match", files=files)
    assert plain.status_code == 200 and set(plain.json()) == ENVELOPE
    explained = api.client.post("/image/match", params={"explain": "true"}, files=files)
    assert explained.status_code == 200, explained.text
    body = explained.json()
    assert set(body) == ENVELOPE | {"explain"}
    assert body["similarity_score"] == plain.json()["similarity_score"] and body["match"] is True
    why = body["explain"]
    assert set(why) == {
        "cosine",
        "normalised",
        "hash_distance",
        "inliers",
        "view",
        "source_box",
        "target_box",
    }
    x0, y0, x1, y1 = why["target_box"]
    assert 0.0 <= x0 < x1 <= 1.0 and 0.0 <= y0 < y1 <= 1.0
    # The photo sits inside the template's canvas, not across all of it.
    assert (x1 - x0) * (y1 - y0) < 0.9, why
    assert api.client.post("/image/match", params={"explain": "maybe"}, files=files).status_code == 422
