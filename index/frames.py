"""A stored video in the catalog: one record per sampled frame, ``<video id>#t=<seconds>``.

Kept in the index layer, below the video flow, so that catalog commands (``lookalike
delete``, ``PATCH``/``DELETE /index/images/{id}``) can act on a whole video without loading
the decoder or the model.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from .catalog import Record
from .reference import ReferenceIndex

__all__ = ["FRAME_SEP", "frame_id", "frames_of", "per_reference"]

#: A frame record's id: ``<video id>#t=<seconds>``.
FRAME_SEP = "#t="


def frame_id(video_id: str, t: float) -> str:
    # zero-padded so that ids sort by time
    return f"{video_id}{FRAME_SEP}{t:010.3f}"


def frames_of(index: ReferenceIndex, video_id: str) -> list[Record]:
    """The frame records of one stored video."""
    return [r for r in index.with_id_prefix(video_id + FRAME_SEP) if r.metadata.get("video") == video_id]


def per_reference(
    index: ReferenceIndex, ids: Sequence[str], act: Callable[[Sequence[str]], list[str]]
) -> list[str]:
    """Apply ``act`` (delete, enable...) to references named by id, where an id not stored
    as an image names a video and stands for all its frames; the ids that existed."""
    done = act(ids)
    for video_id in (i for i in ids if i not in done):
        frames = [r.external_id for r in frames_of(index, video_id)]
        if frames and act(frames):
            done.append(video_id)
    return done
