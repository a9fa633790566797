"""The `lookalike` command-line contract that other tools rely on."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import EDITS, ENVELOPE_KEYS, jpeg_bytes, png_bytes
from lookalike.cli import main
from PIL import Image


@pytest.fixture(scope="module")
def catalog(tmp_path_factory: pytest.TempPathFactory, photos: dict[str, Image.Image]) -> Path:
    """A catalog folder with a nested layout, one broken file and one non-image file."""
    root = tmp_path_factory.mktemp("catalog")
    (root / "shoes" / "red").mkdir(parents=True)
    (root / "shoes" / "red" / "astronaut.jpg").write_bytes(jpeg_bytes(photos["astronaut"]))
    (root / "coffee.png").write_bytes(png_bytes(photos["coffee"]))
    (root / "rocket.webp").write_bytes(jpeg_bytes(photos["rocket"]))  # wrong suffix, real image
    (root / "broken.jpg").write_bytes(jpeg_bytes(photos["chelsea"])[:500])
    (root / "notes.txt").write_text("not an image, not picked up")
    return root


def _json_lines(text: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def test_ingest_search_info_delete(
    tmp_path: Path, catalog: Path, photos: dict[str, Image.Image], capsys: pytest.CaptureFixture[str]
) -> None:
    index = str(tmp_path / "ix")
    single = tmp_path / "single" / "chelsea.jpg"
    single.parent.mkdir()
    single.write_bytes(jpeg_bytes(photos["chelsea"]))

    assert main(["ingest", "--index", index, "--json", "--quiet", str(catalog), str(single)]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["ingested"] == 4
    assert [f["path"] for f in report["failed"]] == [str(catalog / "broken.jpg")]
    assert "truncated" in report["failed"][0]["error"]

    queries = tmp_path / "queries"
    queries.mkdir()
    (queries / "mirrored.jpg").write_bytes(jpeg_bytes(EDITS["mirror"](photos["astronaut"]), 40))
    (queries / "cropped.jpg").write_bytes(jpeg_bytes(EDITS["crop70"](photos["chelsea"])))
    assert main(["search", "--index", index, "--k", "3", "--json", str(queries)]) == 0
    lines = {Path(str(r["query"])).name: r for r in _json_lines(capsys.readouterr().out)}
    assert set(lines) == {"mirrored.jpg", "cropped.jpg"}
    mirrored = lines["mirrored.jpg"]["results"]
    assert isinstance(mirrored, list) and len(mirrored) == 3
    assert mirrored[0]["id"] == "shoes/red/astronaut.jpg" and mirrored[0]["score"] >= 0.97
    assert [r["score"] for r in mirrored] == sorted((r["score"] for r in mirrored), reverse=True)
    cropped = lines["cropped.jpg"]["results"]
    assert isinstance(cropped, list) and cropped[0]["id"] == "chelsea.jpg" and cropped[0]["score"] >= 0.85

    assert main(["info", "--index", index, "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["images"] == 4 and info["embedder"]["name"] == "sscd"

    assert main(["delete", "--index", index, "--json", "coffee.png", "no-such-id"]) == 1
    assert json.loads(capsys.readouterr().out) == {"deleted": ["coffee.png"], "missing": ["no-such-id"]}
    assert main(["info", "--index", index, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["images"] == 3


def test_match_prints_the_envelope(catalog: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert (
        main(["match", "--json", str(catalog / "coffee.png"), str(catalog / "shoes/red/astronaut.jpg")]) == 0
    )
    envelope = json.loads(capsys.readouterr().out)
    assert list(envelope) == ENVELOPE_KEYS
    assert envelope["match"] is False and envelope["similarity_score"] < 0.85


def test_match_explain_adds_the_evidence(
    tmp_path: Path, photos: dict[str, Image.Image], capsys: pytest.CaptureFixture[str]
) -> None:
    source, listing = tmp_path / "hero.jpg", tmp_path / "listing.jpg"
    source.write_bytes(jpeg_bytes(photos["chelsea"]))
    listing.write_bytes(jpeg_bytes(EDITS["template"](photos["chelsea"])))
    assert main(["match", "--json", "--explain", str(source), str(listing)]) == 0
    answer = json.loads(capsys.readouterr().out)
    assert list(answer) == [*ENVELOPE_KEYS, "explain"] and answer["match"] is True
    assert answer["explain"]["view"] in ("full", "centre-0.6", "foreground", "keypoints")
    assert len(answer["explain"]["target_box"]) == 4
    assert main(["match", "--explain", str(source), str(listing)]) == 0
    text = capsys.readouterr().out
    assert text.startswith("MATCH") and "target_box" in text


def test_errors_are_one_clear_line(tmp_path: Path, catalog: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["search", "--index", str(tmp_path / "missing"), str(catalog / "coffee.png")]) == 2
    assert "no lookalike index" in capsys.readouterr().err
    assert main(["match", str(catalog / "coffee.png"), str(catalog / "broken.jpg")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("lookalike: error:") and "truncated" in err and "Traceback" not in err


def test_console_script_runs(catalog: Path) -> None:
    exe = Path(sys.executable).with_name("lookalike")
    out = subprocess.run(
        [str(exe), "match", "--json", str(catalog / "coffee.png"), str(catalog / "coffee.png")],
        capture_output=True,
        text=True,
        check=True,
    )
    assert json.loads(out.stdout)["similarity_score"] == 1.0


def test_gate_answers_as_the_service_does(
    tmp_path: Path, photos: dict[str, Image.Image], capsys: pytest.CaptureFixture[str]
) -> None:
    """`lookalike gate` and `POST /listings/gate` share the rule and the answer's shape: the
    same index and images give the same decision and matches."""
    import httpx
    from lookalike.api.app import create_app
    from lookalike.api.settings import Settings
    from lookalike.benchmarks.server import BackgroundServer

    refs, queries = tmp_path / "refs", tmp_path / "queries"
    refs.mkdir()
    queries.mkdir()
    for name in ("astronaut", "coffee", "chelsea"):
        (refs / f"{name}.jpg").write_bytes(jpeg_bytes(photos[name]))
    (queries / "a-mirrored.jpg").write_bytes(jpeg_bytes(EDITS["mirror"](photos["astronaut"]), 60))
    (queries / "b-pasted.jpg").write_bytes(jpeg_bytes(EDITS["template"](photos["chelsea"])))
    (queries / "c-unrelated.jpg").write_bytes(jpeg_bytes(photos["rocket"]))
    index = str(tmp_path / "ix")
    assert main(["ingest", "--index", index, "--quiet", "--json", str(refs)]) == 0
    capsys.readouterr()

    assert main(["gate", "--index", index, "--json", str(queries)]) == 0
    cli = {Path(str(a.pop("query"))).name: a for a in _json_lines(capsys.readouterr().out)}
    assert [cli[q]["decision"] for q in sorted(cli)] == ["auto-block", "review", "pass"]
    assert cli["a-mirrored.jpg"]["matches"][0]["id"] == "astronaut.jpg"
    assert cli["c-unrelated.jpg"]["matches"] == []

    settings = Settings(index=Path(index), api_keys="k")
    with (
        BackgroundServer(create_app(settings)) as server,
        httpx.Client(base_url=server.url, headers={"x-api-key": "k"}, timeout=60) as client,
    ):
        for name, answer in cli.items():
            served = client.post(
                "/listings/gate", files={"image": (name, (queries / name).read_bytes())}
            ).json()
            for body in (served, answer):
                body.pop("processing_time_ms")
            assert served == answer, name
