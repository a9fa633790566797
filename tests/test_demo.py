"""`make run`'s job without the server: the demo finds the edited copy's original first."""

from __future__ import annotations

from pathlib import Path

import pytest
from lookalike.demo import main


def test_demo_finds_the_original(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--index", str(tmp_path / "demo"), "--no-serve", "--k", "3"]) == 0
    out = capsys.readouterr().out
    assert "built" in out and "13 reference photos" in out
    ranked = [line.split()[1] for line in out.splitlines() if line.strip()[:2] in ("1.", "2.", "3.")]
    assert ranked[0] == "chelsea.png"
    first = next(line for line in out.splitlines() if line.strip().startswith("1."))
    assert first.rstrip().endswith("MATCH")
    assert main(["--index", str(tmp_path / "demo"), "--no-serve", "--query", "rocket.jpg"]) == 0
    out = capsys.readouterr().out
    assert "reusing" in out
    assert next(line for line in out.splitlines() if line.strip().startswith("1.")).split()[1] == "rocket.jpg"
