"""The flood guard: a reference that suddenly matches a large share of new listings.

HMA's users ask for this first: a logo, a watermark or a blank listing template in the
catalog matches everything, and every match would be an auto-block. The guard watches the
gate's hits over a sliding window of gate calls; a reference floods when its hits in the
window reach ``min_hits``, its share of the window's calls reaches ``share``, and that share
is ``ratio`` times its usual one (a slow running average over every call). A flooding
reference is quarantined: its matches go to review instead of auto-block until a reviewer
confirms it (a ``confirmed`` verdict), which returns it to normal.

State lives in memory, per serving process: a flood is a property of live traffic.
"""

from __future__ import annotations

import threading
from collections import Counter, deque
from collections.abc import Iterable
from dataclasses import dataclass

__all__ = ["FloodGuard", "FloodRule"]


@dataclass(frozen=True)
class FloodRule:
    window: int = 1000
    min_hits: int = 20
    share: float = 0.05
    ratio: float = 10.0
    #: Weight of one call in the usual share (a running average over ~1 / ``usual_weight`` calls).
    usual_weight: float = 1e-4


class FloodGuard:
    def __init__(self, rule: FloodRule | None = None) -> None:
        self.rule = rule or FloodRule()
        self._calls: deque[frozenset[str]] = deque(maxlen=self.rule.window)
        self._hits: Counter[str] = Counter()
        self._usual: dict[str, tuple[float, int]] = {}  # average, as of call number
        self._count = 0
        self._confirmed: set[str] = set()
        self._lock = threading.Lock()

    def observe(self, hit_ids: Iterable[str]) -> set[str]:
        """Record one gate call's hits; the ids among them that are flooding now."""
        ids = frozenset(hit_ids)
        with self._lock:
            if len(self._calls) == self._calls.maxlen:
                self._hits.subtract(self._calls[0])
            self._calls.append(ids)
            self._hits.update(ids)
            flooding = {ref for ref in ids if self._floods(ref)}  # against the usual share so far
            self._count += 1
            for ref in ids:
                self._usual[ref] = (self._usual_share(ref) + self.rule.usual_weight, self._count)
            return flooding

    def _usual_share(self, ref: str) -> float:
        """The running average, decayed for the calls since it was last updated."""
        average, at = self._usual.get(ref, (0.0, self._count))
        return average * (1 - self.rule.usual_weight) ** (self._count - at)

    def _floods(self, ref: str) -> bool:
        if ref in self._confirmed:
            return False
        hits = self._hits[ref]
        share = hits / max(1, len(self._calls))
        return (
            hits >= self.rule.min_hits
            and share >= self.rule.share
            and share >= self.rule.ratio * self._usual_share(ref)
        )

    def flooding(self) -> list[str]:
        """Every reference flooding now, for /metrics and /index/stats."""
        with self._lock:
            return sorted(ref for ref, n in self._hits.items() if n > 0 and self._floods(ref))

    def confirm(self, ref: str) -> None:
        """A reviewer confirmed ``ref``'s matches: it is no longer quarantined."""
        with self._lock:
            self._confirmed.add(ref)
