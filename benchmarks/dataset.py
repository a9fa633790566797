"""A benchmark folder in the layout of the Image Similarity Challenge (DISC21), read back.

    references/R000123.jpg   the catalog: sources and distractor references, shuffled
    queries/Q000123.jpg      edited copies of sources, and edited images not in the catalog
    ground_truth.csv         query_id,reference_id (empty reference_id: a distractor query)
    queries_meta.csv         query_id,transform,family,split,params (JSON)
    manifest.json            seed, versions, sha256 of every input

``split`` is ``fit`` or ``test`` per *original* image, so calibration fitted on ``fit`` never
sees an edit of a ``test`` original.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from PIL import Image

from ..embed.decode import decode_image
from ..errors import InputError

__all__ = [
    "GROUND_TRUTH",
    "MANIFEST",
    "META",
    "SPLITS",
    "Benchmark",
    "Query",
    "Split",
    "load_image",
    "truth_of",
]

GROUND_TRUTH = "ground_truth.csv"
META = "queries_meta.csv"
MANIFEST = "manifest.json"
Split = Literal["all", "fit", "test"]
SPLITS: tuple[Split, ...] = ("all", "fit", "test")


@dataclass(frozen=True)
class Query:
    id: str
    path: Path
    reference_id: str | None
    transform: str
    family: str
    split: str
    params: dict[str, Any]

    @property
    def is_distractor(self) -> bool:
        return self.reference_id is None


@dataclass(frozen=True)
class Benchmark:
    root: Path
    references: list[tuple[str, Path]]
    queries: list[Query]
    manifest: dict[str, Any]

    @classmethod
    def load(cls, root: str | Path) -> Benchmark:
        folder = Path(root)
        for name in (GROUND_TRUTH, META, MANIFEST, "references", "queries"):
            if not (folder / name).exists():
                raise InputError(
                    f"{folder} is not a benchmark folder: {name} is missing (make one: lookalike bench make)"
                )
        references = [(p.stem, p) for p in sorted((folder / "references").glob("*.jpg"))]
        with (folder / GROUND_TRUTH).open(newline="") as f:
            truth = {row["query_id"]: row["reference_id"] or None for row in csv.DictReader(f)}
        with (folder / META).open(newline="") as f:
            meta = {row["query_id"]: row for row in csv.DictReader(f)}
        known = {ref_id for ref_id, _ in references}
        queries = []
        for qid, ref in sorted(truth.items()):
            path = folder / "queries" / f"{qid}.jpg"
            if qid not in meta or not path.is_file() or (ref is not None and ref not in known):
                raise InputError(
                    f"{folder}: query {qid} has no image, no metadata or an unknown reference {ref}"
                )
            row = meta[qid]
            queries.append(
                Query(
                    qid, path, ref, row["transform"], row["family"], row["split"], json.loads(row["params"])
                )
            )
        manifest = json.loads((folder / MANIFEST).read_text())
        return cls(folder, references, queries, manifest)

    def select(self, split: Split = "all") -> list[Query]:
        return [q for q in self.queries if split == "all" or q.split == split]


def truth_of(queries: Sequence[Query]) -> dict[str, str | None]:
    """``query_id -> reference_id`` (None for distractor queries), the form the metrics take."""
    return {q.id: q.reference_id for q in queries}


def load_image(path: Path) -> Image.Image:
    """A benchmark image as lookalike sees it (decoded, upright RGB, longer side <= 1024)."""
    return decode_image(path).image
