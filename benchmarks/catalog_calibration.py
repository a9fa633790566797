"""``lookalike calibrate --index DIR``: the scoring anchors fitted on a user's own catalog.

A catalog that is all product shots on white sits closer together than the photos the
built-in anchors were fitted on, so its unrelated pairs score higher. This fit needs no
benchmark: it edits a sample of the catalog's own references (the benchmark's marketplace
edits), and the false-alarm chances are each edited copy's best score against the *rest*
of the catalog (a copy of an image the catalog did not hold). The anchors are fitted
(:func:`.calibrate.fit_anchors`) on half of the sampled references and checked on the other
half, whose error rates are what the report calls expected. The result is written into the
index manifest and used by every later command that opens the index.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
from PIL import Image

from ..engine import Engine
from ..errors import ConfigError, LookalikeError
from ..index.catalog import Record
from ..score.calibration import Calibration
from .calibrate import Pairs, SplitCheck, check, fit_anchors, pairs_from_scores, score_matrix
from .edits import EDITS, NEAR_IDENTICAL, PARTIAL, apply_edit, has_cutout

__all__ = ["MIN_REFERENCES", "CatalogFit", "calibrate_catalog"]

#: Fewer readable references than this cannot say where a 0.5 % false-alarm rate lies.
MIN_REFERENCES = 16
#: The edits made of each sampled reference: near-identical, partial, and in between.
CATALOG_EDITS = ("mirror", "jpeg", "crop", "template", "text", "sticker", "padsq", "combo2")


@dataclass(frozen=True)
class CatalogFit:
    calibration: Calibration
    previous: Calibration
    references: int
    copies: int
    checks: list[SplitCheck]

    @property
    def held_out(self) -> SplitCheck:
        return next(c for c in self.checks if c.split == "test" and c.anchors == "fitted")

    def manifest_entry(self) -> dict[str, object]:
        check = self.held_out
        return {
            **self.calibration.to_dict(),
            "fitted_on_references": self.references,
            "expected_fpr_at_085": round(check.distractor_fpr, 4),
            "expected_recall_at_085": round(check.recall_at_match, 4),
        }


def _originals(records: Sequence[Record], images: Path | None) -> list[tuple[int, Path]]:
    """(column, file) of each reference whose original can be read: from ``images`` by id
    when given, else the source path the catalog recorded."""
    found = []
    for col, rec in enumerate(records):
        path = images / rec.external_id if images is not None else Path(rec.source or "")
        if (rec.source or images is not None) and path.is_file():
            found.append((col, path))
    return found


@dataclass
class _Copies:
    """Edited copies of one half of the sampled references."""

    columns: list[int] = field(default_factory=list)
    images: list[Image.Image] = field(default_factory=list)
    edits: list[str] = field(default_factory=list)

    def add(self, column: int, image: Image.Image, edit: str) -> None:
        self.columns.append(column)
        self.images.append(image)
        self.edits.append(edit)

    def pairs(self, engine: Engine, refs: np.ndarray) -> Pairs:
        queries = []
        for start in range(0, len(self.images), 32):
            queries += engine.encoder.query(self.images[start : start + 32])
        scores, full = score_matrix(engine.scorer, queries, refs)
        near = [e in NEAR_IDENTICAL for e in self.edits]
        partial = [e in PARTIAL for e in self.edits]
        pairs = pairs_from_scores(scores, full, self.columns, near, partial)
        # Every copy is also a copy of nothing once its own reference is left out.
        return replace(pairs, distractor_best=pairs.copy_best_wrong, distractor_full=pairs.copy_full_wrong)


def calibrate_catalog(
    engine: Engine, sample: int = 200, images: Path | None = None, seed: int = 0
) -> CatalogFit:
    index = engine.index
    if index is None:
        raise ConfigError("calibration needs an index")
    records = [rec for batch in index.iter_records() for rec in batch]
    originals = _originals(records, images)
    if len(originals) < MIN_REFERENCES:
        raise ConfigError(
            f"calibration needs at least {MIN_REFERENCES} references whose original image can be "
            f"read; found {len(originals)} of {len(records)} (pass --images DIR, the folder they were "
            "ingested from)"
        )
    rng = np.random.default_rng(seed)
    chosen = [originals[i] for i in sorted(rng.permutation(len(originals))[:sample])]
    refs = np.stack([rec.descriptor.vector for rec in records])
    halves = {"fit": _Copies(), "test": _Copies()}
    for n, (col, path) in enumerate(chosen):
        try:
            original = engine.decode(path).image
        except LookalikeError:
            continue
        half = halves["fit" if n % 2 == 0 else "test"]
        for e, name in enumerate(CATALOG_EDITS):
            if EDITS[name].needs_cutout and not has_cutout(original):
                continue
            edited, _ = apply_edit(name, original, np.random.default_rng([seed, n, e]))
            half.add(col, edited.convert("RGB"), name)
    by_half = {name: half.pairs(engine, refs) for name, half in halves.items()}
    previous = engine.scorer.calibration
    fitted = fit_anchors(by_half["fit"], previous)
    checks = [
        check(split, label, pairs, cal)
        for split, pairs in by_half.items()
        for label, cal in (("shipped", previous), ("fitted", fitted))
    ]
    copies = sum(len(p.copy_score) for p in by_half.values())
    return CatalogFit(fitted, previous, len(chosen), copies, checks)
