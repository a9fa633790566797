"""Any folder of originals -> a benchmark folder in the DISC21 layout (see :mod:`.dataset`).

The originals are shuffled by the seed and dealt into three disjoint roles: *sources*
(written as references, and edited into queries), *distractor references* (written as
references only) and *distractor query images* (edited into queries whose reference is
empty). File names are sequence numbers of a second shuffle, so a name says nothing about
its role. Each query's edit cycles through every edit (the background swap only for
cut-outs); its random draws come from a generator seeded by (seed, query number), so the
same seed and originals give byte-identical folders.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import count
from pathlib import Path
from typing import Any

import numpy as np
import PIL
from PIL import Image, ImageOps

from ..embed.decode import IMAGE_SUFFIXES, read_image_bytes
from ..errors import ConfigError, InputError
from .dataset import GROUND_TRUTH, MANIFEST, META
from .edits import EDITS, apply_edit, flatten, has_cutout

__all__ = ["MAX_SIDE", "make_benchmark"]

#: Originals are thumbnailed to this longer side first, as lookalike's decoder does.
MAX_SIDE = 1024
JPEG_QUALITY = 95


@dataclass(frozen=True)
class _Original:
    name: str
    image: Image.Image
    sha256: str


def _load(path: Path, name: str) -> _Original:
    """An upright image, RGBA when it has transparency (cut-outs keep their alpha for
    background swaps), RGB otherwise."""
    data = read_image_bytes(path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            opened = Image.open(io.BytesIO(data))
            opened.seek(0)
            im = ImageOps.exif_transpose(opened)
            transparent = im.mode in ("RGBA", "LA", "PA", "La", "RGBa") or "transparency" in im.info
            im = im.convert("RGBA" if transparent else "RGB")
    except (OSError, SyntaxError, ValueError, EOFError, Image.DecompressionBombError) as exc:
        raise InputError(f"{path}: cannot decode: {exc}") from exc
    im.thumbnail((MAX_SIDE, MAX_SIDE), Image.Resampling.LANCZOS)
    return _Original(name, im, hashlib.sha256(data).hexdigest())


def _edit_cycle(counter: Iterator[int]) -> Iterator[str]:
    """Edit names in a fixed round robin shared by all queries."""
    names = list(EDITS)
    while True:
        yield names[next(counter) % len(names)]


def _save(image: Image.Image, path: Path) -> None:
    image.save(path, "JPEG", quality=JPEG_QUALITY)


def make_benchmark(
    originals: str | Path,
    out: str | Path,
    seed: int = 0,
    sources: int | None = None,
    distractors: int | None = None,
    distractor_queries: int | None = None,
    queries_per_image: int = 2,
    extra_edits: dict[str, int] | None = None,
    extra_references: str | Path | None = None,
    extra_stride: int = 1,
) -> dict[str, Any]:
    """Write a benchmark to ``out`` (which must not hold one yet); returns its manifest.

    ``extra_edits`` (edit name -> count) adds that many more queries of those edits for each
    source and distractor query image (ids ``S...``), to give rare hard edits (template
    pastes, background swaps of cut-outs) enough queries; ``extra_references`` adds every
    ``extra_stride``-th image of another folder (sorted by path) as a distractor reference
    (ids ``D...``), e.g. flat graphics that tempt keypoint verification.

    ``sources`` defaults to min(300, half the folder); ``distractors`` (references that no
    query copies) and ``distractor_queries`` (images edited into queries that match nothing)
    default to halves of what the sources leave, so the defaults fit any folder of 2 or more
    images. A request the folder cannot meet raises :class:`ConfigError` naming the flag.
    """
    src_dir, folder = Path(originals), Path(out)
    if (folder / MANIFEST).exists():
        raise ConfigError(f"{folder} already holds a benchmark; choose a new --out")
    files = sorted(p for p in src_dir.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    sources, n_dref, n_dq = _plan(src_dir, len(files), sources, distractors, distractor_queries)
    if queries_per_image < 1:
        raise ConfigError("--queries-per-image must be at least 1")
    extra = dict(extra_edits or {})
    unknown = sorted(set(extra) - set(EDITS))
    if unknown:
        raise ConfigError(f"--extra: unknown edit(s) {', '.join(unknown)}; choose from {', '.join(EDITS)}")
    rng = np.random.default_rng(seed)
    chosen = [files[i] for i in rng.permutation(len(files))[: sources + n_dref + n_dq]]
    roles = ["source"] * sources + ["distractor"] * n_dref + ["distractor_query"] * n_dq
    (folder / "references").mkdir(parents=True, exist_ok=True)
    (folder / "queries").mkdir(exist_ok=True)

    ref_numbers = iter(rng.permutation(sources + n_dref))
    query_numbers = iter(rng.permutation((sources + n_dq) * queries_per_image))
    cycle = count()
    extra_numbers = count()
    truth: list[dict[str, str]] = []
    meta: list[dict[str, str]] = []
    inputs: list[dict[str, str]] = []
    skipped: list[dict[str, str]] = []
    for pos, (path, role) in enumerate(zip(chosen, roles, strict=True)):
        name = path.relative_to(src_dir).as_posix()
        try:
            original = _load(path, name)
        except InputError as exc:
            skipped.append({"file": name, "error": str(exc)})
            continue
        inputs.append({"file": name, "sha256": original.sha256})
        ref_id = None
        if role != "distractor_query":
            ref_id = f"R{next(ref_numbers):06d}"
            _save(flatten(original.image), folder / "references" / f"{ref_id}.jpg")
        if role == "distractor":
            continue
        cutout = has_cutout(original.image)
        split = "fit" if pos % 2 == 0 else "test"
        planned: list[tuple[str, str | None]] = [
            (f"Q{next(query_numbers):06d}", None) for _ in range(queries_per_image)
        ]
        planned += [
            (f"S{next(extra_numbers):06d}", name)
            for name, times in extra.items()
            if cutout or not EDITS[name].needs_cutout
            for _ in range(times)
        ]
        for query_id, wanted in planned:
            transform = wanted or next(n for n in _edit_cycle(cycle) if cutout or not EDITS[n].needs_cutout)
            # Regular queries keep the seeding they always had; extra ones draw from their own.
            number = int(query_id[1:])
            rng = np.random.default_rng([seed, number] if query_id[0] == "Q" else [seed, number, 1])
            edited, params = apply_edit(transform, original.image, rng)
            _save(edited, folder / "queries" / f"{query_id}.jpg")
            truth.append(
                {"query_id": query_id, "reference_id": ref_id if ref_id and role == "source" else ""}
            )
            meta.append(
                {
                    "query_id": query_id,
                    "transform": transform,
                    "family": EDITS[transform].family,
                    "split": split,
                    "params": json.dumps(params, sort_keys=True),
                }
            )
    n_extra_refs = 0
    if extra_references is not None:
        extra_dir = Path(extra_references)
        others = sorted(p for p in extra_dir.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
        for number, path in enumerate(others[::extra_stride]):
            try:
                image = _load(path, path.name).image
            except InputError as exc:
                skipped.append({"file": str(path), "error": str(exc)})
                continue
            _save(flatten(image), folder / "references" / f"D{number:06d}.jpg")
            n_extra_refs += 1
    _write_csv(folder / GROUND_TRUTH, ["query_id", "reference_id"], truth)
    _write_csv(folder / META, ["query_id", "transform", "family", "split", "params"], meta)
    manifest = {
        "format": "DISC21 (Image Similarity Challenge 2021) layout",
        "seed": seed,
        "originals": str(src_dir),
        "extra_references": None if extra_references is None else str(extra_references),
        "counts": {
            "sources": sources,
            "distractor_references": n_dref,
            "distractor_query_images": n_dq,
            "queries_per_image": queries_per_image,
            "extra_edits": extra,
            "extra_references": n_extra_refs,
            "references": sum(1 for _ in (folder / "references").glob("*.jpg")),
            "queries": len(truth),
        },
        "edits": {n: e.family for n, e in EDITS.items()},
        "versions": {"lookalike": _version(), "pillow": PIL.__version__, "numpy": np.__version__},
        "inputs": sorted(inputs, key=lambda i: i["file"]),
        "skipped": skipped,
    }
    (folder / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
    return manifest


DEFAULT_SOURCES = 300


def _plan(
    src_dir: Path, n: int, sources: int | None, distractors: int | None, distractor_queries: int | None
) -> tuple[int, int, int]:
    """(sources, distractor references, distractor query images) for a folder of ``n`` images;
    unset counts share out what the set ones leave. Raises :class:`ConfigError` naming the
    flag to change, never quoting a negative count."""
    for flag, value, least in (
        ("--sources", sources, 1),
        ("--distractors", distractors, 0),
        ("--distractor-queries", distractor_queries, 0),
    ):
        if value is not None and value < least:
            raise ConfigError(f"{flag} must be at least {least}")
    if n < 1:
        raise ConfigError(f"{src_dir} has no images ({', '.join(sorted(IMAGE_SUFFIXES))})")
    fixed = (distractors or 0) + (distractor_queries or 0)
    if sources is None:
        sources = min(DEFAULT_SOURCES, max(1, (n + 1) // 2), max(1, n - fixed))
    if sources > n:
        raise ConfigError(f"{src_dir} has {n} images: lower --sources ({sources}) to at most {n}")
    rest = n - sources
    if distractors is not None and distractors > rest:
        raise ConfigError(
            f"{src_dir} has {n} images: {sources} sources leave {rest} for distractors; "
            f"lower --distractors ({distractors}) to at most {rest} or lower --sources"
        )
    if distractors is not None:
        n_dref = distractors
    elif distractor_queries is not None:
        n_dref = max(0, rest - distractor_queries)
    else:
        n_dref = rest // 2
    n_dq = rest - n_dref if distractor_queries is None else distractor_queries
    if sources + n_dref + n_dq > n:
        left = n - sources - n_dref
        raise ConfigError(
            f"{src_dir} has {n} images: {sources} sources and {n_dref} distractor references "
            f"leave {left} for distractor queries; lower --distractor-queries ({n_dq}) to at "
            f"most {left}, or lower --sources / --distractors"
        )
    return sources, n_dref, n_dq


def _write_csv(path: Path, fields: list[str], rows: list[dict[str, str]]) -> None:
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=fields)
        writer.writeheader()
        writer.writerows(sorted(rows, key=lambda r: r["query_id"]))


def _version() -> str:
    from importlib.metadata import version

    return version("lookalike")
