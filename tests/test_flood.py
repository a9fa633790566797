"""The flood guard: a reference that matches a large share of new listings (a logo, a blank
template) is flagged and quarantined to review until a reviewer confirms it."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from conftest import EDITS, jpeg_bytes
from lookalike.api.app import create_app
from lookalike.api.settings import Settings
from lookalike.benchmarks.server import BackgroundServer
from lookalike.engine import IngestItem
from lookalike.score.flood import FloodGuard, FloodRule
from PIL import Image


def test_a_reference_hitting_a_large_share_floods() -> None:
    guard = FloodGuard(FloodRule(window=50, min_hits=5, share=0.2, ratio=10.0))
    for i in range(40):  # ordinary traffic: each reference matched now and then
        assert guard.observe([f"ref-{i % 20}"]) == set()
    flagged = [guard.observe(["logo", f"ref-{i % 20}"]) for i in range(10)]
    # 9 hits in 49 calls is under a fifth of the window, 10 in 50 reaches it.
    assert flagged[8] == set() and flagged[9] == {"logo"}
    assert guard.flooding() == ["logo"]
    guard.confirm("logo")
    assert guard.observe(["logo"]) == set() and guard.flooding() == []


def test_the_window_slides_and_a_usual_rate_is_not_a_flood() -> None:
    guard = FloodGuard(FloodRule(window=20, min_hits=3, share=0.1, ratio=3.0, usual_weight=0.05))
    for _ in range(5):
        guard.observe(["burst"])
    assert guard.flooding() == ["burst"]
    for _ in range(20):  # the burst leaves the window
        guard.observe([])
    assert guard.flooding() == []
    # A reference that always matches a quarter of the calls is its own usual rate.
    steady = FloodGuard(FloodRule(window=20, min_hits=3, share=0.1, ratio=3.0, usual_weight=0.05))
    seen = [steady.observe(["steady"] if i % 4 == 0 else []) for i in range(400)]
    assert any(seen[:40])  # new and already a quarter of the traffic: flagged at first
    assert not any(seen[-100:]) and steady.flooding() == []  # then that is its usual rate


@pytest.fixture(scope="module")
def served(
    tmp_path_factory: pytest.TempPathFactory, photos: dict[str, Image.Image]
) -> Iterator[httpx.Client]:
    settings = Settings(
        index=tmp_path_factory.mktemp("flood") / "index",
        embedder="sscd-lite",
        api_keys="k",
        flood_window=10,
        flood_min_hits=3,
        flood_share=0.2,
        flood_ratio=2.0,
    )
    with (
        BackgroundServer(create_app(settings)) as server,
        httpx.Client(base_url=server.url, headers={"x-api-key": "k"}, timeout=60) as client,
    ):
        items = [
            {"id": name, "image": base64.b64encode(jpeg_bytes(photos[name])).decode()}
            for name in ("astronaut", "coffee")
        ]
        assert client.post("/index/images", json={"items": items}).json()["ingested"] == 2
        yield client


def test_a_flood_is_reported_and_goes_to_review_until_confirmed(
    served: httpx.Client, photos: dict[str, Image.Image]
) -> None:
    copy = base64.b64encode(jpeg_bytes(EDITS["mirror"](photos["coffee"]), 80)).decode()
    answers = [served.post("/listings/gate", json={"image": copy}).json() for _ in range(4)]
    assert [a["decision"] for a in answers[:2]] == ["auto-block", "auto-block"]
    assert "flood" not in answers[0] and "flood" not in answers[0]["matches"][0]
    flooded = answers[3]
    assert flooded["decision"] == "review" and flooded["flood"] is True
    assert flooded["matches"][0]["id"] == "coffee" and flooded["matches"][0]["flood"] is True
    assert served.get("/index/stats").json()["flooding"] == ["coffee"]
    assert 'lookalike_reference_flooding{reference="coffee"} 1.0' in served.get("/metrics").text
    # A reviewer confirms the matches: the reference is trusted again.
    confirmed = served.post(
        "/feedback", json={"image": copy, "reference_id": "coffee", "verdict": "confirmed"}
    )
    assert confirmed.status_code in (200, 201), confirmed.text
    again = served.post("/listings/gate", json={"image": copy}).json()
    assert again["decision"] == "auto-block" and "flood" not in again
    assert served.get("/index/stats").json()["flooding"] == []


def test_the_engine_quarantines_without_a_server(
    tmp_path: Path, photos: dict[str, Image.Image], sscd: object
) -> None:
    from conftest import engine_for
    from lookalike.index.store import Index
    from lookalike.score.gate import GateRule

    engine = engine_for(sscd, Index.create(tmp_path / "ix", sscd.info))  # type: ignore[attr-defined]
    engine.flood = FloodGuard(FloodRule(window=5, min_hits=2, share=0.3, ratio=2.0))
    assert engine.index is not None
    engine.ingest([IngestItem("rocket", jpeg_bytes(photos["rocket"]))])
    copy = jpeg_bytes(EDITS["jpeg30"](photos["rocket"]))
    first, second = (engine.gate(copy, GateRule()) for _ in range(2))
    assert first.decision == "auto-block" and not first.flood
    assert second.decision == "review" and second.flood and second.matches[0].flood
    engine.index.close()
