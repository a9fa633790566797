"""Temporal alignment: which stretches of a target video copy which stretches of a source.

Input: the frame-to-frame cosine matrix ``sim[i, j]`` between the target's sampled frames
(times ``t_tgt``) and the source's (``t_src``). A copied segment is a band around a line
``t_src = speed * t_tgt + offset``: trims move the offset, speed changes (0.5x-2x) tilt
the line, a different frame rate only changes which instants were sampled (times are in
seconds), and an unrelated clip around the copy contributes no band at all.

Footage that looks the same all along (a fixed camera, a screen recording) matches every
frame of the other clip at about the same cosine, and only a little more the frame it was
taken from. Lines are therefore found on how far each pair stands out of its row's and
column's background (:func:`distinct`, the medians; the Video Similarity Challenge
baseline normalised scores against a background set in the same spirit), and the raw
cosine only decides what counts as a match and what a segment scores. Where nothing stands
out (a short clip that is static throughout), the raw cosines are used as they are.

How (Hough-style voting, then a walk along the line):

1. every target frame votes for its ``top_k`` most distinct source frames at least
   ``margin`` above the background, weighted by how far above; each vote lands in the
   (speed, offset) cell it implies, for speeds on a log grid over [``min_speed``,
   ``max_speed``] and offsets in ``tol``-second bins;
2. the strongest cell gives candidate lines (its own, a least-squares fit on the votes near
   it, speed 1 through the same point, and each one refitted on its rows' best frames);
   the one with the most support, weighed by a prior that most copies keep their speed
   (``choice_prior``), is kept;
3. along that line each target frame takes the best raw cosine within ``tol`` seconds of
   where the line puts it in the source; a frame is on the copy when that is at least
   ``min_cos`` and within ``slack`` of the frame's best anywhere (a frame of another copied
   stretch is not, however flat the footage); runs of such frames, joined across gaps up to
   ``max_gap`` seconds, are segments (``min_frames`` at least);
4. the line is fitted again, robustly, on the longest run (``fit_frames`` frames at
   least): each of its frames' best raw cosine within ``tol`` of the line, placed between
   source samples by a parabola through that cosine and its neighbours', and a Theil-Sen
   line (the median of the pairwise slopes, then the median offset) through those points;
   the walk of step 3 is redone along the fitted line, which is kept if its runs hold at
   least as many frames. The choice in step 2 weighs how much a line gathers, and on a
   slowly changing shot a line tilted by 0.3-0.5 gathers about as much as the right one
   (its ends then sit a second off, and the walk cuts the copy where the line strays from
   it); the medians follow where each frame matches best and ignore frames that match
   their neighbours as well. Below ``fit_frames`` the pairwise slopes are too few to
   outvote one stray frame, and the line stands;
5. the votes of the target frames a segment covers are removed and the next strongest cell
   is tried, until no cell holds ``min_frames`` frames' worth of votes. Several copied
   segments in one clip come out one per line.

A segment's cosine is the mean raw frame cosine along it (what the scorer maps onto the
calibrated scale, :mod:`lookalike.score.calibration`); its bounds are widened by half a
sampling step at each end, as a sampled frame stands for the time until the next one.
Pure numpy.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .lines import along, prior, refit, support, theil_sen, vote, weighted_line

__all__ = ["AlignParams", "Alignment", "align", "distinct"]


@dataclass(frozen=True)
class AlignParams:
    min_cos: float = 0.30
    top_k: int = 5
    tol: float = 1.0
    max_gap: float = 3.0
    min_frames: int = 2
    min_speed: float = 0.5
    max_speed: float = 2.0
    speeds: int = 25
    max_segments: int = 8
    margin: float = 0.02
    slack: float = 0.03
    fit_frames: int = 5
    # support a line gives up per octave of speed change (:func:`~.lines.prior`): in the vote a
    # tie-breaker; in the choice among a cell's candidate lines a prior that most copies
    # keep their speed (fitted on the benchmark's fit split, data/README.md "Speed prior")
    vote_prior: float = 0.03
    choice_prior: float = 0.2


@dataclass(frozen=True)
class Alignment:
    """One copied segment, in seconds on both axes; ``cosine`` is the mean frame cosine
    along it and ``frames`` the target frames that matched."""

    source_start: float
    source_end: float
    target_start: float
    target_end: float
    cosine: float
    frames: int
    speed: float


def _step(t: np.ndarray) -> float:
    """The typical sampling step of a time axis."""
    if len(t) < 2:
        return 0.5
    return float(np.median(np.diff(t)))


def align(
    sim: np.ndarray,
    t_tgt: np.ndarray,
    t_src: np.ndarray,
    *,
    dur_tgt: float | None = None,
    dur_src: float | None = None,
    params: AlignParams | None = None,
) -> list[Alignment]:
    """Copied segments of the source in the target, best (highest cosine x length) first.

    ``sim`` is ``[len(t_tgt), len(t_src)]``; rows or columns of frames that carry no
    content should be zeroed by the caller."""
    p = params or AlignParams()
    n_t, n_s = sim.shape
    if n_t == 0 or n_s == 0:
        return []
    t_tgt = np.asarray(t_tgt, dtype=np.float64)
    t_src = np.asarray(t_src, dtype=np.float64)
    dur_tgt = float(dur_tgt if dur_tgt is not None else t_tgt[-1] + _step(t_tgt))
    dur_src = float(dur_src if dur_src is not None else t_src[-1] + _step(t_src))
    args = (t_tgt, t_src, dur_tgt, dur_src, p)
    found = _segments(distinct(sim, p.min_cos), p.margin, sim, *args) or _segments(sim, p.min_cos, sim, *args)
    return _joined(found, sim, t_tgt, t_src, p)


def distinct(sim: np.ndarray, min_cos: float) -> np.ndarray:
    """How far each pair stands out of the background of its row and of its column (their
    medians): footage that looks the same all along matches every frame of the other clip
    about equally, and only the pairs above that level say where the copy sits. Pairs under
    ``min_cos`` are no match at all (-1)."""
    background = np.maximum(np.median(sim, axis=1, keepdims=True), np.median(sim, axis=0, keepdims=True))
    return np.where(sim >= min_cos, sim - background, -1.0)


def _segments(
    sim: np.ndarray,
    floor: float,
    raw: np.ndarray,
    t_tgt: np.ndarray,
    t_src: np.ndarray,
    dur_tgt: float,
    dur_src: float,
    p: AlignParams,
) -> list[Alignment]:
    """The alignment itself: lines and runs found on ``sim`` at or above ``floor``, each
    segment's cosine read on ``raw``."""
    n_t, n_s = sim.shape
    h_t, h_s = _step(t_tgt) / 2, _step(t_src) / 2
    min_frames = max(1, min(p.min_frames, int((sim.max(axis=1) >= floor).sum())))

    # 1. votes: (target row, source column, weight)
    k = min(p.top_k, n_s)
    cols = np.argpartition(-sim, k - 1, axis=1)[:, :k] if k < n_s else np.tile(np.arange(n_s), (n_t, 1))
    rows = np.repeat(np.arange(n_t), cols.shape[1])
    cols = cols.ravel()
    weights = sim[rows, cols] - floor
    keep = weights > 0
    rows, cols, weights = rows[keep], cols[keep], weights[keep]
    speeds = np.exp(np.linspace(np.log(p.min_speed), np.log(p.max_speed), p.speeds))
    alive = np.ones(n_t, dtype=bool)
    found: list[Alignment] = []
    for _ in range(4 * p.max_segments):  # each round removes votes: bounded
        if len(found) >= p.max_segments:
            break
        live = alive[rows]
        r, c, w = rows[live], cols[live], weights[live]
        if len(r) < min_frames:
            break
        speed, offset, votes = vote(t_tgt[r], t_src[c], w, speeds, p.tol, p.vote_prior)
        if votes <= 0:
            break
        peak_speed, peak_offset = speed, offset
        # 2. refine the line on the votes near it; keep whichever line (the cell's, the
        # fit's, or speed 1 through the same point) frames agree with best. Static footage
        # fits many speeds equally: the prior and the speed-1 candidate keep it at 1.
        lines = [(speed, offset)]
        near = np.abs(t_src[c] - (speed * t_tgt[r] + offset)) <= p.tol
        fitted = weighted_line(t_tgt[r][near], t_src[c][near], w[near], p.min_speed, p.max_speed)
        if fitted is not None:
            lines.append(fitted)
        if near.any():
            mid = float(np.average(t_tgt[r][near], weights=w[near]))
            lines.append((1.0, speed * mid + offset - mid))
        # each row's best frame near the line, fitted again (the votes are top-k, this is top-1)
        for line in list(lines):
            again = refit(sim, t_tgt, t_src, *line, alive, floor, p.tol, p.min_speed, p.max_speed)
            if again is not None:
                lines.append(again)
        tight = max(_step(t_src) / 2, 0.1)
        speed, offset = max(
            lines,
            key=lambda line: (
                support(sim, t_tgt, t_src, line[0], line[1], alive, floor, tight)
                * prior(line[0], p.choice_prior)
            ),
        )
        # 3. walk along the line
        segments = _walk(sim, raw, t_tgt, t_src, speed, offset, alive, floor, p, min_frames)
        # 4. fit the line again on the frames of its longest run, and walk the fitted line
        if segments:
            first, last, _, n = max(segments, key=lambda s: s[3])
            fitted = None
            if n >= p.fit_frames:
                run = range(first, last + 1)
                fitted = theil_sen(
                    raw, t_tgt, t_src, speed, offset, run, p.tol, p.fit_frames, p.min_speed, p.max_speed
                )
            if fitted is not None:
                walked = _walk(sim, raw, t_tgt, t_src, *fitted, alive, floor, p, min_frames)
                if sum(s[3] for s in walked) >= sum(s[3] for s in segments):
                    (speed, offset), segments = fitted, walked
        if not segments:
            # no run on this line: drop its votes and the cell's, and try the next cell
            on_line = (np.abs(t_src[cols] - (speed * t_tgt[rows] + offset)) <= p.tol) | (
                np.abs(t_src[cols] - (peak_speed * t_tgt[rows] + peak_offset)) <= 1.5 * p.tol
            )
            weights = np.where(on_line & alive[rows], 0.0, weights)
            if not (weights > 0).any():
                break
            keep = weights > 0
            rows, cols, weights = rows[keep], cols[keep], weights[keep]
            continue
        for first, last, cos, n in segments:
            alive[first : last + 1] = False
            # a sampled frame stands for half a step either side; the first and last
            # samples stand for the clip's start and end
            ts = 0.0 if first == 0 else max(0.0, t_tgt[first] - h_t)
            te = dur_tgt if last == n_t - 1 else min(dur_tgt, t_tgt[last] + h_t)
            ss, se = speed * ts + offset, speed * te + offset
            ss, se = max(0.0, min(float(ss), dur_src)), max(0.0, min(float(se), dur_src))
            ts, te = float(ts), float(te)
            if se - ss < h_s:  # the line leaves the source: not a segment
                continue
            found.append(
                Alignment(
                    source_start=round(ss, 3),
                    source_end=round(se, 3),
                    target_start=round(ts, 3),
                    target_end=round(te, 3),
                    cosine=round(cos, 4),
                    frames=n,
                    speed=round(speed, 3),
                )
            )
    found.sort(key=lambda a: (-a.cosine, -(a.target_end - a.target_start)))
    return found


def _joined(
    found: list[Alignment], raw: np.ndarray, t_tgt: np.ndarray, t_src: np.ndarray, p: AlignParams
) -> list[Alignment]:
    """Neighbouring segments that one line explains about as well are one segment: two
    shots copied at 2x each look static on their own, and each gets a line of its own until
    the cut between them ties them together."""
    out: list[Alignment] = []
    for seg in sorted(found, key=lambda a: a.target_start):
        joined = _join(out[-1], seg, raw, t_tgt, t_src, p) if out else None
        if joined is None:
            out.append(seg)
        else:
            out[-1] = joined
    out.sort(key=lambda a: (-a.cosine, -(a.target_end - a.target_start)))
    return out


def _join(
    a: Alignment, b: Alignment, raw: np.ndarray, t_tgt: np.ndarray, t_src: np.ndarray, p: AlignParams
) -> Alignment | None:
    """``a`` and ``b`` as one segment on the line from ``a``'s start to ``b``'s end, if it
    runs forward at a speed in range and its frames' mean cosine is within ``slack`` of the
    lower of the two."""
    if b.target_start - a.target_end > p.max_gap or b.source_start < a.source_start:
        return None
    speed = (b.source_end - a.source_start) / max(b.target_end - a.target_start, 1e-6)
    if not p.min_speed <= speed <= p.max_speed:
        return None
    rows = (t_tgt >= a.target_start) & (t_tgt <= b.target_end) & (raw.max(axis=1) > 0)
    offset = a.source_start - speed * a.target_start
    on_line = along(raw[rows], t_tgt[rows], t_src, speed, offset, p.tol)
    cos = float(on_line.mean()) if len(on_line) else 0.0
    if cos < min(a.cosine, b.cosine) - p.slack:
        return None
    return Alignment(
        source_start=a.source_start,
        source_end=b.source_end,
        target_start=a.target_start,
        target_end=b.target_end,
        cosine=round(cos, 4),
        frames=a.frames + b.frames,
        speed=round(speed, 3),
    )


def _walk(
    sim: np.ndarray,
    raw: np.ndarray,
    t_tgt: np.ndarray,
    t_src: np.ndarray,
    speed: float,
    offset: float,
    alive: np.ndarray,
    floor: float,
    p: AlignParams,
    min_frames: int,
) -> list[tuple[int, int, float, int]]:
    """Runs of target frames (first, last, mean cosine, matched frames) whose best cosine
    within ``tol`` of the line is at least ``min_cos``, joined across short gaps."""
    cosines = np.where(alive, along(raw, t_tgt, t_src, speed, offset, p.tol), 0.0)
    hits = np.flatnonzero((cosines >= p.min_cos) & (cosines >= raw.max(axis=1) - p.slack))
    runs: list[tuple[int, int, float, int]] = []
    start = 0
    for pos in range(1, len(hits) + 1):
        if pos == len(hits) or t_tgt[hits[pos]] - t_tgt[hits[pos - 1]] > p.max_gap:
            members = hits[start:pos]
            if len(members) >= min_frames:
                first, last = int(members[0]), int(members[-1])
                span = cosines[first : last + 1]
                # frames in the run with content count, even where they fell below the floor
                counted = span[alive[first : last + 1] & (raw[first : last + 1].max(axis=1) > 0)]
                cos = float(counted.mean()) if len(counted) else 0.0
                runs.append((first, last, cos, len(members)))
            start = pos
    return runs
