"""Lines through a frame-to-frame cosine matrix, for :mod:`lookalike.score.align`.

A line ``t_src = speed * t_tgt + offset`` (seconds on both axes) is where a copied stretch
sits in ``sim[i, j]`` (target frame ``i`` at ``t_tgt[i]``, source frame ``j`` at
``t_src[j]``, both sorted). Here: the vote that finds one (:func:`vote`), the prior on its
speed (:func:`prior`), what a line gathers (:func:`along`, :func:`support`), and the fits
that straighten it (:func:`weighted_line`, :func:`refit`, :func:`theil_sen`). Pure numpy.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

__all__ = ["along", "prior", "refit", "support", "theil_sen", "vote", "weighted_line"]

#: A fitted line is kept this far outside the speed range (it is clipped by the walk).
_LEEWAY = 0.1


def vote(
    tt: np.ndarray, ts: np.ndarray, w: np.ndarray, speeds: np.ndarray, tol: float, per_octave: float
) -> tuple[float, float, float]:
    """The (speed, offset, weight) cell with the most vote weight: votes at target times
    ``tt`` for source times ``ts``, weighted ``w``, binned by ``speeds`` and offsets in bins
    of ``tol`` seconds (each counted with its two neighbours so that a line on a bin edge is
    not split), each speed's weight times its :func:`prior`."""
    best = (1.0, 0.0, 0.0)
    for s in speeds:
        off = ts - s * tt
        lo = off.min() - tol
        bins = np.floor((off - lo) / tol).astype(np.int64)
        hist = np.bincount(bins, weights=w, minlength=int(bins.max()) + 3)
        smooth = hist.astype(np.float64)
        smooth[1:] += hist[:-1]
        smooth[:-1] += hist[1:]
        smooth *= prior(float(s), per_octave)
        i = int(np.argmax(smooth))
        if smooth[i] > best[2]:
            in_cell = np.abs(bins - i) <= 1
            center = float(np.average(off[in_cell], weights=w[in_cell]))
            best = (float(s), center, float(smooth[i]))
    return best


def prior(speed: float, per_octave: float) -> float:
    """Slow or static footage fits many speeds about as well as the true one; with
    ``per_octave`` 0.2 a line at 2x or 0.5x needs 1.25 times the support of one at 1x."""
    return 1.0 - per_octave * abs(float(np.log2(speed)))


def _band(
    t_tgt: np.ndarray, t_src: np.ndarray, speed: float, offset: float, tol: float
) -> tuple[np.ndarray, np.ndarray]:
    """Per target frame, the source samples ``lo[i]:hi[i]`` within ``tol`` of the line."""
    expect = speed * t_tgt + offset
    return (
        np.searchsorted(t_src, expect - tol, side="left"),
        np.searchsorted(t_src, expect + tol, side="right"),
    )


def along(
    sim: np.ndarray, t_tgt: np.ndarray, t_src: np.ndarray, speed: float, offset: float, tol: float
) -> np.ndarray:
    """Each target frame's best cosine within ``tol`` of where the line puts it."""
    lo, hi = _band(t_tgt, t_src, speed, offset, tol)
    out = np.zeros(len(t_tgt))
    for i in np.flatnonzero(hi > lo):
        out[i] = sim[i, lo[i] : hi[i]].max()
    return out


def support(
    sim: np.ndarray,
    t_tgt: np.ndarray,
    t_src: np.ndarray,
    speed: float,
    offset: float,
    alive: np.ndarray,
    floor: float,
    tol: float,
) -> float:
    """How much a line gathers: the ``alive`` frames' cosines along it above ``floor``."""
    gathered = along(sim, t_tgt, t_src, speed, offset, tol)
    return float(np.clip(gathered[alive] - floor, 0, None).sum())


def weighted_line(
    xs: np.ndarray, ys: np.ndarray, ws: np.ndarray, min_speed: float, max_speed: float
) -> tuple[float, float] | None:
    """The weighted least-squares line through (target, source) points, if there are three
    at two instants or more and its speed is in range."""
    if len(xs) < 3 or np.ptp(xs) <= 0:
        return None
    speed, offset = np.polyfit(xs, ys, 1, w=ws)
    if not min_speed * (1 - _LEEWAY) <= speed <= max_speed * (1 + _LEEWAY):
        return None
    return float(speed), float(offset)


def _band_peaks(
    values: np.ndarray,
    t_tgt: np.ndarray,
    t_src: np.ndarray,
    speed: float,
    offset: float,
    tol: float,
    rows: Iterable[int],
) -> list[tuple[int, int]]:
    """``(row, column)`` of each of ``rows`` that has a source sample within ``tol`` of the
    line, at its best value there."""
    lo, hi = _band(t_tgt, t_src, speed, offset, tol)
    return [(int(i), int(lo[i] + np.argmax(values[i, lo[i] : hi[i]]))) for i in rows if hi[i] > lo[i]]


def refit(
    sim: np.ndarray,
    t_tgt: np.ndarray,
    t_src: np.ndarray,
    speed: float,
    offset: float,
    alive: np.ndarray,
    floor: float,
    tol: float,
    min_speed: float,
    max_speed: float,
) -> tuple[float, float] | None:
    """The line through each ``alive`` row's best source frame within ``tol`` of a line."""
    xs, ys, ws = [], [], []
    for i, j in _band_peaks(sim, t_tgt, t_src, speed, offset, tol, np.flatnonzero(alive)):
        if sim[i, j] >= floor:
            xs.append(t_tgt[i])
            ys.append(t_src[j])
            ws.append(sim[i, j] - floor)
    return weighted_line(np.array(xs), np.array(ys), np.array(ws), min_speed, max_speed)


def theil_sen(
    raw: np.ndarray,
    t_tgt: np.ndarray,
    t_src: np.ndarray,
    speed: float,
    offset: float,
    rows: Iterable[int],
    tol: float,
    min_points: int,
    min_speed: float,
    max_speed: float,
) -> tuple[float, float] | None:
    """The line through the best source instants of target frames ``rows`` (each frame's
    best raw cosine within ``tol`` of a line, between samples by a parabola), by the median
    of the pairwise slopes and then the median offset; None under ``min_points`` points."""
    xs, ys = [], []
    for i, j in _band_peaks(raw, t_tgt, t_src, speed, offset, tol, rows):
        if raw[i].max() > 0:
            xs.append(t_tgt[i])
            ys.append(_peak_time(raw[i], t_src, j))
    x, y = np.array(xs), np.array(ys)
    a, b = np.triu_indices(len(x), 1)
    apart = x[b] > x[a]
    if len(x) < min_points or not apart.any():
        return None
    slope = float(np.median((y[b] - y[a])[apart] / (x[b] - x[a])[apart]))
    slope = min(max(slope, min_speed), max_speed)
    return slope, float(np.median(y - slope * x))


def _peak_time(row: np.ndarray, t_src: np.ndarray, j: int) -> float:
    """Where between source samples a row's cosine peaks, by the parabola through column
    ``j`` (its best) and its two neighbours; ``t_src[j]`` at an edge or where the three do
    not bend down."""
    if not 0 < j < len(t_src) - 1:
        return float(t_src[j])
    left, mid, right = row[j - 1], row[j], row[j + 1]
    bend = left - 2 * mid + right
    if bend >= 0:
        return float(t_src[j])
    # in samples; a neighbour outside the band may beat the best inside it: no further than half
    shift = min(max(0.5 * (left - right) / bend, -0.5), 0.5)
    step = t_src[j + 1] - t_src[j] if shift > 0 else t_src[j] - t_src[j - 1]
    return float(t_src[j] + shift * step)
