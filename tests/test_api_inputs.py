"""The JSON-or-multipart body dependency, in process: one model gives both ways of sending a
body and both halves of its OpenAPI request body."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from lookalike.api.app import create_app
from lookalike.api.settings import Settings
from PIL import Image


def jpeg(color: tuple[int, int, int]) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (48, 32), color).save(buf, "JPEG")
    return buf.getvalue()


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    folder: Path = tmp_path_factory.mktemp("inputs")
    settings = Settings(index=folder / "index", embedder="fake", api_keys="k", max_image_bytes=20_000)
    with TestClient(create_app(settings), headers={"x-api-key": "k"}) as client:
        yield client


def form_schema(client: TestClient, path: str) -> dict[str, Any]:
    body = client.get("/openapi.json").json()["paths"][path]["post"]["requestBody"]
    schema: dict[str, Any] = body["content"]["multipart/form-data"]["schema"]
    return schema


def test_the_form_schema_comes_from_the_model(client: TestClient) -> None:
    search = form_schema(client, "/image/search")["properties"]
    assert search["image"] == {"type": "string", "format": "binary", "description": "the image itself"}
    assert (search["k"]["minimum"], search["k"]["maximum"], search["k"]["default"]) == (1, 1000, 10)
    assert search["image_url"]["maxLength"] == 4096
    gate = form_schema(client, "/listings/gate")["properties"]
    assert (gate["review_threshold"]["minimum"], gate["block_threshold"]["maximum"]) == (0.5, 1.0)
    match = form_schema(client, "/image/match")["properties"]
    assert {name for name, prop in match.items() if prop.get("format") == "binary"} == {
        "source_image",
        "target_image",
    }
    ingest = form_schema(client, "/index/images")
    assert ingest["properties"]["items"]["contentMediaType"] == "application/json"
    assert ingest["additionalProperties"]["format"] == "binary"


def test_multipart_ingest_reads_items_and_named_parts(client: TestClient) -> None:
    items = [
        {"id": "red", "upload": "f1", "metadata": {"colour": "red"}},
        {"id": "too-big", "upload": "f2"},
        {"id": "no-part", "upload": "f3"},
    ]
    response = client.post(
        "/index/images",
        data={"items": json.dumps(items), "note": "fields the body has no use for are ignored"},
        files={"f1": ("r.jpg", jpeg((200, 0, 0))), "f2": ("big.jpg", b"\xff" * 30_000)},
    )
    assert response.status_code == 200, response.text
    results = {r["id"]: r for r in response.json()["results"]}
    assert results["red"] == {"id": "red", "ok": True, "replaced": False}
    assert results["too-big"]["error"]["code"] == "image_too_large"
    assert results["no-part"]["error"]["code"] == "bad_input"
    assert client.get("/index/images/red").json()["metadata"] == {"colour": "red"}


@pytest.mark.parametrize(
    ("items", "loc"),
    [("[{", ["items"]), (json.dumps([{"id": ""}]), ["items", 0, "id"])],
)
def test_a_bad_items_field_is_a_422_that_names_it(client: TestClient, items: str, loc: list[object]) -> None:
    response = client.post("/index/images", data={"items": items}, files={"f1": ("r.jpg", b"x")})
    assert (response.status_code, response.json()["code"]) == (422, "validation_error")
    assert response.json()["errors"][0]["loc"] == loc


def test_an_image_part_over_the_cap_fails_the_request(client: TestClient) -> None:
    response = client.post("/image/search", files={"image": ("q.jpg", b"\xff" * 30_000)})
    assert (response.status_code, response.json()["code"]) == (413, "image_too_large")
