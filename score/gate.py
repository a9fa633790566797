"""The listing gate's rule: block, send to review, or pass a listing image by its best match.

One rule for ``POST /listings/gate`` and ``lookalike gate``, so both decide the same way.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from ..errors import ConfigError
from .decision import IDENTICAL_THRESHOLD, MATCH_THRESHOLD

__all__ = ["GateDecision", "GateRule"]

GateDecision = Literal["auto-block", "review", "pass"]


@dataclass(frozen=True)
class GateRule:
    """``auto-block`` at ``block_threshold`` and above, ``review`` at ``review_threshold`` and
    above, else ``pass``."""

    block_threshold: float = IDENTICAL_THRESHOLD
    review_threshold: float = MATCH_THRESHOLD

    def __post_init__(self) -> None:
        if not 0.0 <= self.review_threshold <= self.block_threshold <= 1.0:
            raise ConfigError(
                f"gate thresholds must satisfy 0 <= review ({self.review_threshold}) "
                f"<= block ({self.block_threshold}) <= 1"
            )

    def decide(self, similarity: float) -> GateDecision:
        if similarity >= self.block_threshold:
            return "auto-block"
        return "review" if similarity >= self.review_threshold else "pass"
