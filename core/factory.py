"""One way to wire the flow: :func:`open_engine` builds the embedder, its scorer and (when
asked) the index, for the CLI, the service, the demo and the benchmark alike."""

from __future__ import annotations

from pathlib import Path

from .embed.decode import DEFAULT_MAX_BYTES, DEFAULT_MAX_PIXELS
from .embed.factory import get_embedder
from .engine import Engine
from .index.opener import create_index, open_index, read_manifest
from .index.reference import ReferenceIndex
from .score.background import Background
from .score.calibration import Calibration, calibration_for
from .score.decision import MATCH_THRESHOLD
from .score.flood import FloodGuard
from .score.scorer import Scorer

__all__ = ["open_engine", "scorer_for"]


def scorer_for(
    embedder: str, threshold: float = MATCH_THRESHOLD, calibration: Calibration | None = None
) -> Scorer:
    """The scorer for ``embedder``'s descriptors: its anchors (or ``calibration``, fitted on
    a catalog) and its bundled background set."""
    cal = calibration or calibration_for(embedder)
    return Scorer(cal, threshold, Background.bundled(embedder, cal.background_k))


def open_engine(
    index: str | Path | None = None,
    *,
    embedder: str | None = None,
    default_embedder: str = "sscd",
    writable: bool = False,
    create: bool = False,
    store: str | None = None,
    index_factory: str = "auto",
    threshold: float = MATCH_THRESHOLD,
    max_bytes: int = DEFAULT_MAX_BYTES,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    flood: FloodGuard | None = None,
    threads: int | None = None,
    workers: int | None = None,
    checkpoint: str | Path | None = None,
    pretrained: str | None = None,
    allow_download: bool = False,
) -> Engine:
    """An engine, over the index folder ``index`` when given.

    ``embedder`` names the model, and an existing index refuses another; without it, an
    existing index brings its own and anything else gets ``default_embedder``. ``create``
    makes a missing index (and implies ``writable``: this process then holds its lock).
    ``store``, ``index_factory``: see :func:`~lookalike.index.opener.open_index` and
    :func:`~lookalike.index.opener.create_index` (a server ``store`` joins the shared
    catalog there, which brings its own embedder like an existing folder does). The rest
    are the decoder's caps, the gate's flood guard (a serving process keeps one), the threads
    that describe images for ingest (``workers``), and the embedder's options
    (:func:`lookalike.embed.factory.get_embedder`).
    """
    known = read_manifest(index, store) if index is not None else None
    name = embedder or (known.embedder.name if known is not None else default_embedder)
    model = get_embedder(
        name, threads=threads, checkpoint=checkpoint, pretrained=pretrained, allow_download=allow_download
    )
    opened: ReferenceIndex | None = None
    if index is not None:
        if create and known is None:
            opened = create_index(index, model.info, index_factory, store=store or "faiss")
        else:
            opened = open_index(index, model.info, writable=writable or create, store=store)
    fitted = opened.manifest.calibration if opened is not None else None
    return Engine(
        model,
        scorer_for(name, threshold, Calibration.from_dict(fitted) if fitted else None),
        opened,
        max_bytes=max_bytes,
        max_pixels=max_pixels,
        flood=flood,
        workers=workers,
    )
