"""The catalog routes (ingest, get, delete, stats), search, the listing gate and metrics over
a real uvicorn server, on real photos; and searches that run while batches are ingested."""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Iterator

import httpx
import pytest
from conftest import EDITS, jpeg_bytes
from lookalike.api.app import create_app
from lookalike.api.settings import Settings
from lookalike.benchmarks.server import BackgroundServer
from PIL import Image
from test_fetch import Origin

KEY = "index-test-key"
CATALOG = ("astronaut", "coffee", "chelsea", "motorcycle")


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


@pytest.fixture(scope="module")
def origin() -> Iterator[Origin]:
    server = Origin()
    yield server
    server.close()


@pytest.fixture(scope="module")
def api(
    tmp_path_factory: pytest.TempPathFactory, photos: dict[str, Image.Image], origin: Origin
) -> Iterator[httpx.Client]:
    """A served index holding the catalog photos, ingested through the API itself."""
    settings = Settings(
        index=tmp_path_factory.mktemp("api-index") / "index",
        embedder="sscd-lite",
        api_keys=KEY,
        allow_private_networks=True,
    )
    origin.files["/astronaut.jpg"] = (jpeg_bytes(photos["astronaut"]), "image/jpeg")
    with (
        BackgroundServer(create_app(settings)) as server,
        httpx.Client(base_url=server.url, headers={"x-api-key": KEY}, timeout=60) as client,
    ):
        items = [
            {"id": "astronaut", "image_url": f"{origin.base}/astronaut.jpg", "metadata": {"brand": "nasa"}},
            {"id": "coffee", "image": b64(jpeg_bytes(photos["coffee"])), "metadata": {"banned": True}},
        ]
        multipart = [
            {"id": "chelsea", "upload": "f1", "metadata": {"brand": "cats"}},
            {"id": "motorcycle", "upload": "f2", "metadata": {}},
        ]
        assert client.post("/index/images", json={"items": items}).json()["ingested"] == 2
        response = client.post(
            "/index/images",
            data={"items": json.dumps(multipart)},
            files={
                "f1": ("c.jpg", jpeg_bytes(photos["chelsea"])),
                "f2": ("m.jpg", jpeg_bytes(photos["motorcycle"])),
            },
        )
        assert response.json()["ingested"] == 2, response.text
        yield client


def test_a_bad_item_does_not_fail_the_batch(
    api: httpx.Client, photos: dict[str, Image.Image], origin: Origin
) -> None:
    rocket = jpeg_bytes(photos["rocket"])
    items = [
        {"id": "tmp-rocket", "image": b64(rocket), "metadata": {"n": 1}},
        {"id": "tmp-garbage", "image": b64(b"definitely not an image" * 10)},
        {"id": "tmp-unsafe", "image_url": "http://169.254.169.254/latest/meta-data/"},
        {"id": "tmp-missing", "image_url": f"{origin.base}/nothing-here.jpg"},
        {"id": "tmp-dup", "image": b64(rocket)},
        {"id": "tmp-no-part", "upload": "f9"},
    ]
    response = api.post("/index/images", json={"items": items})
    assert response.status_code == 200
    body = response.json()
    assert (body["ingested"], body["failed"]) == (2, 4)
    results = {r["id"]: r for r in body["results"]}
    assert [r["id"] for r in body["results"]] == [i["id"] for i in items]
    assert results["tmp-rocket"] == {"id": "tmp-rocket", "ok": True, "replaced": False}
    assert results["tmp-dup"]["duplicate_of"] == "tmp-rocket"
    assert results["tmp-garbage"]["error"]["code"] == "not_an_image"
    assert results["tmp-unsafe"]["error"]["code"] == "unsafe_url"
    assert results["tmp-missing"]["error"]["code"] == "fetch_failed"
    assert results["tmp-no-part"]["error"]["code"] == "bad_input"

    record = api.get("/index/images/tmp-rocket").json()
    assert record["metadata"] == {"n": 1}
    assert (record["width"], record["height"]) == photos["rocket"].size
    again = api.post("/index/images", json={"items": [{"id": "tmp-rocket", "image": b64(rocket)}]}).json()
    assert again["results"][0]["replaced"] is True
    for item_id in ("tmp-rocket", "tmp-dup"):
        assert api.delete(f"/index/images/{item_id}").json() == {"id": item_id, "deleted": True}
    gone = api.get("/index/images/tmp-rocket")
    assert (gone.status_code, gone.json()["code"]) == (404, "not_found")
    assert api.delete("/index/images/tmp-rocket").status_code == 404


def test_ids_with_slashes_and_stats(api: httpx.Client, photos: dict[str, Image.Image]) -> None:
    item = {"id": "shoes/red/rocket.jpg", "image": b64(jpeg_bytes(photos["rocket"]))}
    assert api.post("/index/images", json={"items": [item]}).json()["ingested"] == 1
    assert api.get("/index/images/shoes/red/rocket.jpg").json()["id"] == item["id"]
    stats = api.get("/index/stats").json()
    assert stats["images"] == len(CATALOG) + 1
    assert stats["embedder"]["name"] == "sscd-lite"
    assert api.delete("/index/images/shoes/red/rocket.jpg").status_code == 200
    assert api.get("/index/stats").json()["images"] == len(CATALOG)
    too_many = {"items": [item] * 300}
    response = api.post("/index/images", json=too_many)
    assert (response.status_code, response.json()["code"]) == (413, "request_too_large")


@pytest.mark.parametrize("edit", ["mirror", "jpeg30", "watermark"])
def test_search_finds_the_original_of_an_edited_copy(
    api: httpx.Client, photos: dict[str, Image.Image], edit: str
) -> None:
    query = jpeg_bytes(EDITS[edit](photos["astronaut"]))
    body = api.post("/image/search", files={"image": ("q.jpg", query)}, data={"k": "3"}).json()
    assert body["results"][0]["id"] == "astronaut"
    assert len(body["results"]) == 3
    assert body["results"][0]["metadata"] == {"brand": "nasa"}
    assert "match" not in body["results"][0]
    scores = [r["score"] for r in body["results"]]
    assert scores == sorted(scores, reverse=True)


def test_confirm_adds_the_pairwise_decision(api: httpx.Client, photos: dict[str, Image.Image]) -> None:
    query = jpeg_bytes(photos["coffee"], 40)
    body = api.post("/image/search", json={"image": b64(query), "k": 10, "confirm": True}).json()
    results = body["results"]
    assert len(results) == len(CATALOG)
    assert results[0]["id"] == "coffee" and results[0]["match"] is True
    assert all(r["match"] is False for r in results[1:])
    pair = api.post(
        "/image/match", json={"source_image": b64(jpeg_bytes(photos["coffee"])), "target_image": b64(query)}
    ).json()
    assert (results[0]["score"], results[0]["confidence"]) == (pair["similarity_score"], pair["confidence"])
    for k in (0, 1001):
        assert api.post("/image/search", json={"image": b64(query), "k": k}).status_code == 422


def test_gate_decides_by_the_thresholds(api: httpx.Client, photos: dict[str, Image.Image]) -> None:
    banned_copy = b64(jpeg_bytes(photos["coffee"], 95))
    blocked = api.post("/listings/gate", json={"image": banned_copy}).json()
    assert blocked["decision"] == "auto-block"
    assert blocked["matches"][0]["id"] == "coffee"
    assert blocked["matches"][0]["metadata"] == {"banned": True}
    assert (blocked["block_threshold"], blocked["review_threshold"]) == (0.97, 0.85)

    clean = api.post("/listings/gate", files={"image": ("r.jpg", jpeg_bytes(photos["rocket"]))}).json()
    assert (clean["decision"], clean["matches"]) == ("pass", [])

    cropped = b64(jpeg_bytes(EDITS["crop70"](photos["chelsea"])))
    score = api.post("/image/search", json={"image": cropped, "k": 1}).json()["results"][0]["score"]
    assert 0.5 < score < 0.99
    below, above = round(score - 0.005, 4), round(score + 0.005, 4)
    decisions = {
        (0.5, below): "auto-block",
        (0.5, above): "review",
        (above, 1.0): "pass",
    }
    for (review, block), expected in decisions.items():
        body = {"image": cropped, "review_threshold": review, "block_threshold": block}
        answer = api.post("/listings/gate", json=body).json()
        assert answer["decision"] == expected, (review, block, score)
        assert [m["id"] for m in answer["matches"]][:1] == ([] if expected == "pass" else ["chelsea"])
    for limits in (
        {"review_threshold": 0.3},
        {"block_threshold": 1.5},
        {"review_threshold": 0.9, "block_threshold": 0.8},
    ):
        assert api.post("/listings/gate", json={"image": cropped, **limits}).status_code == 422


def test_searches_during_ingest_see_whole_batches(api: httpx.Client, photos: dict[str, Image.Image]) -> None:
    """Each batch adds three edited copies of one photo; a search that matches them all must
    see either all three or none of each batch, and the total must be a whole number of
    batches, whatever moment it runs at."""
    edits = ("mirror", "jpeg30", "crop70")
    batches = [
        [
            {"id": f"batch{n}-{edit}", "image": b64(jpeg_bytes(EDITS[edit](photos["rocket"])))}
            for edit in edits
        ]
        for n in range(4)
    ]
    query = b64(jpeg_bytes(photos["rocket"]))
    seen: list[set[str]] = []
    errors: list[str] = []
    done = threading.Event()

    def search() -> None:
        with httpx.Client(base_url=str(api.base_url), headers={"x-api-key": KEY}, timeout=60) as client:
            while not done.is_set():
                response = client.post("/image/search", json={"image": query, "k": 100})
                if response.status_code != 200:
                    errors.append(response.text)
                    return
                seen.append({r["id"] for r in response.json()["results"] if r["id"].startswith("batch")})

    searchers = [threading.Thread(target=search) for _ in range(2)]
    for t in searchers:
        t.start()
    try:
        for batch in batches:
            assert api.post("/index/images", json={"items": batch}).json()["ingested"] == 3
    finally:
        done.set()
        for t in searchers:
            t.join()
    assert not errors
    assert len(seen) >= 4
    for ids in seen:
        batch_numbers = {i.split("-")[0] for i in ids}
        assert len(ids) == 3 * len(batch_numbers), ids
    final = api.post("/image/search", json={"image": query, "k": 100}).json()["results"]
    assert sum(r["id"].startswith("batch") for r in final) == 12
    for batch in batches:
        for item in batch:
            assert api.delete(f"/index/images/{item['id']}").status_code == 200


def test_metrics_count_requests_per_route(api: httpx.Client) -> None:
    api.get("/index/stats")
    api.get("/index/images/no-such-id")
    text = api.get("/metrics").text
    assert 'lookalike_http_requests_total{method="GET",route="/index/stats",status="200"}' in text
    assert 'route="/index/images/{image_id:path}",status="404"' in text
    assert (
        'lookalike_http_request_duration_seconds_bucket{le="0.005",method="GET",route="/index/stats"}' in text
    )
    assert f"lookalike_index_images {float(len(CATALOG))}" in text
    assert 'lookalike_embedder_info{dim="' in text and 'name="sscd-lite"' in text


def test_clusters_group_a_batch_and_check_each_group_once(
    api: httpx.Client, photos: dict[str, Image.Image], origin: Origin
) -> None:
    origin.files["/listing-1.jpg"] = (jpeg_bytes(EDITS["mirror"](photos["coffee"])), "image/jpeg")
    images = [
        {"id": "listing-1", "image_url": f"{origin.base}/listing-1.jpg"},
        {"id": "listing-2", "image": b64(jpeg_bytes(EDITS["crop70"](photos["coffee"])))},
        {"id": "listing-3", "upload": "f3"},
        {"id": "listing-4", "image": b64(jpeg_bytes(photos["rocket"]))},
        {"id": "broken", "image": b64(b"not an image at all")},
    ]
    response = api.post(
        "/listings/clusters",
        data={"images": json.dumps(images)},
        files={"f3": ("c.jpg", jpeg_bytes(photos["coffee"], 80))},
    )
    answer = response.json()
    assert response.status_code == 200, response.text
    [cluster] = answer["clusters"]
    assert sorted(m["id"] for m in cluster["members"]) == ["listing-1", "listing-2", "listing-3"]
    assert cluster["members"][0] == {"id": cluster["representative"], "score": 1.0}
    assert all(m["score"] >= 0.85 for m in cluster["members"])
    # The banned catalog photo is found once for the whole group.
    assert cluster["catalog_matches"][0]["id"] == "coffee"
    assert cluster["catalog_matches"][0]["decision"] == "auto-block"
    assert 0 < cluster["catalog_matches"][0]["cosine"] <= 1
    assert answer["singletons"] == ["listing-4"]
    assert [(f["id"], f["error"]["code"]) for f in answer["failed"]] == [("broken", "not_an_image")]
    too_many = [{"id": str(i), "image": b64(b"x")} for i in range(201)]
    assert api.post("/listings/clusters", json={"images": too_many}).status_code == 422


def test_feedback_and_disable_over_http(api: httpx.Client, photos: dict[str, Image.Image]) -> None:
    listing = jpeg_bytes(EDITS["template"](photos["astronaut"]))
    gate = api.post("/listings/gate", json={"image": b64(listing)}).json()
    assert [m["id"] for m in gate["matches"]] == ["astronaut"]
    assert 0 < gate["matches"][0]["cosine"] <= 1  # every hit: id, calibrated score, raw cosine
    recorded = api.post(
        "/feedback",
        files={"image": ("l.jpg", listing)},
        data={"reference_id": "astronaut", "verdict": "not_a_match"},
    )
    assert recorded.status_code == 200, recorded.text
    assert api.post("/listings/gate", json={"image": b64(listing)}).json()["decision"] == "pass"
    listed = api.get("/feedback", params={"reference_id": "astronaut"}).json()["feedback"]
    assert [f["id"] for f in listed] == [recorded.json()["id"]]
    assert api.delete(f"/feedback/{recorded.json()['id']}").json()["deleted"] is True
    assert api.delete(f"/feedback/{recorded.json()['id']}").status_code == 404
    assert api.post("/listings/gate", json={"image": b64(listing)}).json()["matches"][0]["id"] == "astronaut"
    bad = {"image": b64(listing), "reference_id": "no-such-id", "verdict": "not_a_match"}
    assert api.post("/feedback", json=bad).status_code == 404
    assert api.post("/feedback", json={**bad, "verdict": "maybe"}).status_code == 422

    original = b64(jpeg_bytes(photos["chelsea"]))
    assert api.patch("/index/images/chelsea", json={"enabled": False}).json() == {
        "id": "chelsea",
        "enabled": False,
    }
    results = api.post("/image/search", json={"image": original, "k": 3}).json()["results"]
    assert "chelsea" not in [r["id"] for r in results]
    assert api.get("/index/images/chelsea").json()["enabled"] is False
    assert api.patch("/index/images/chelsea", json={"enabled": True}).json()["enabled"] is True
    results = api.post("/image/search", json={"image": original, "k": 3}).json()["results"]
    assert results[0]["id"] == "chelsea"
    assert api.patch("/index/images/nope", json={"enabled": False}).status_code == 404
