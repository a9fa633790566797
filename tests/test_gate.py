"""The listing gate's rule, shared by `lookalike gate` and `POST /listings/gate`."""

from __future__ import annotations

import pytest
from lookalike.errors import ConfigError
from lookalike.score.gate import GateRule


def test_bands() -> None:
    rule = GateRule()
    assert [rule.decide(s) for s in (1.0, 0.97, 0.9699, 0.85, 0.8499, 0.0)] == [
        "auto-block",
        "auto-block",
        "review",
        "review",
        "pass",
        "pass",
    ]
    strict = GateRule(block_threshold=0.99, review_threshold=0.9)
    assert [strict.decide(s) for s in (0.995, 0.98, 0.88)] == ["auto-block", "review", "pass"]


@pytest.mark.parametrize(("block", "review"), [(0.8, 0.9), (1.2, 0.9), (0.9, -0.1)])
def test_inconsistent_thresholds_are_refused(block: float, review: float) -> None:
    with pytest.raises(ConfigError, match="review"):
        GateRule(block_threshold=block, review_threshold=review)
