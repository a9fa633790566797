"""Which files a folder argument stands for, and the id each one gets in an index."""

from __future__ import annotations

from collections.abc import Iterator, Sequence, Set
from pathlib import Path

from .decode import IMAGE_SUFFIXES

__all__ = ["iter_image_files"]


def iter_image_files(
    paths: Sequence[str | Path], suffixes: Set[str] = IMAGE_SUFFIXES
) -> Iterator[tuple[str, Path]]:
    """(id, file) for every image argument: a folder's images (files with ``suffixes``)
    recursively, ids relative to the folder with POSIX separators; a file argument's id is
    its name."""
    for arg in paths:
        p = Path(arg)
        if p.is_dir():
            for f in sorted(p.rglob("*")):
                if f.is_file() and f.suffix.lower() in suffixes:
                    yield f.relative_to(p).as_posix(), f
        else:
            yield p.name, p
