"""``lookalike bench run-video``: index the references, search every query, score.

lookalike: the references are ingested through :class:`lookalike.video.VideoFlow` (one
index record per sampled frame) and each query is searched (``VideoFlow.search``): its
video-level predictions are (query, reference, best segment score) and its segment
predictions the aligned segments. vPDQ (Meta's video PDQ, PyPI ``vpdq``) is the peer at
video level: one PDQ hash a second, a query frame matches a reference frame within 31
bits, and a pair scores the larger share of matched frames on either side.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..embed.video import DEFAULT_FPS
from ..factory import open_engine
from ..score.decision import MATCH_THRESHOLD
from ..video import VideoFlow, VideoIngestItem
from .video_metrics import SegmentPred, boundary_accuracy, segment_micro_ap, video_micro_ap

__all__ = ["VideoRun", "run_video_benchmark", "speed_markdown", "video_speed", "vpdq_scores"]


@dataclass
class VideoRun:
    text: str
    data: dict[str, Any]


def _select(manifest: dict[str, Any], split: str) -> list[dict[str, Any]]:
    return [q for q in manifest["queries"] if split == "all" or q["split"] == split]


def _dir_bytes(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def vpdq_scores(bench: Path, queries: list[dict[str, Any]], refs: list[str]) -> dict[tuple[str, str], float]:
    import vpdq

    def hashes(path: Path) -> np.ndarray:
        feats = [f for f in vpdq.computeHash(str(path), seconds_per_hash=1.0) if f.quality >= 50]
        if not feats:
            return np.zeros((0, 32), np.uint8)
        return np.stack([np.frombuffer(bytes.fromhex(f.hex), np.uint8) for f in feats])

    def matched(a: np.ndarray, b: np.ndarray) -> float:
        if not len(a) or not len(b):
            return 0.0
        dist = np.unpackbits(a[:, None, :] ^ b[None, :, :], axis=2).sum(axis=2)
        return float((dist.min(axis=1) <= 31).mean())

    ref_h = {r: hashes(bench / "refs" / r) for r in refs}
    out = {}
    for q in queries:
        qh = hashes(bench / "queries" / q["id"])
        for r, rh in ref_h.items():
            score = max(matched(qh, rh), matched(rh, qh))
            if score > 0:
                out[(q["id"], r)] = score
    return out


def run_video_benchmark(
    bench: str | Path,
    out: str | Path,
    *,
    split: str = "test",
    peers: bool = True,
    threads: int | None = None,
    fps: float | None = None,
    log: Callable[[str], None] = print,
) -> VideoRun:
    bench, out = Path(bench), Path(out)
    out.mkdir(parents=True, exist_ok=True)
    manifest = json.loads((bench / "manifest.json").read_text())
    refs = [r["id"] for r in manifest["references"]]
    ref_minutes = sum(r["duration"] for r in manifest["references"]) / 60
    queries = _select(manifest, split)
    index_dir = out / "index"
    shutil.rmtree(index_dir, ignore_errors=True)
    engine = open_engine(index_dir, create=True, threads=threads)
    flow = VideoFlow(engine, fps=fps or DEFAULT_FPS)
    t0 = time.perf_counter()
    flow.ingest([VideoIngestItem(r, bench / "refs" / r) for r in refs])
    ingest_s = time.perf_counter() - t0
    assert engine.index is not None
    engine.index.save()
    bytes_per_min = _dir_bytes(index_dir) / ref_minutes
    log(f"ingested {len(refs)} references ({ref_minutes * 60:.0f} s of video) in {ingest_s:.1f} s")

    video_preds: list[tuple[str, str, float]] = []
    seg_preds: list[SegmentPred] = []
    per_query: list[dict[str, Any]] = []
    t0 = time.perf_counter()
    for q in queries:
        hits = flow.search(bench / "queries" / q["id"], k=10)
        for h in hits:
            video_preds.append((q["id"], h.external_id, h.similarity))
            for s in h.segments:
                seg_preds.append(
                    SegmentPred(
                        q["id"],
                        h.external_id,
                        (s["target_start"], s["target_end"]),
                        (s["source_start"], s["source_end"]),
                        s["similarity_score"],
                    )
                )
        per_query.append(
            {
                "id": q["id"],
                "kind": q["kind"],
                "truth": sorted({t[0] for t in q["truth"]}),
                "top": [(h.external_id, h.similarity) for h in hits[:3]],
            }
        )
    search_s = time.perf_counter() - t0
    engine.index.close()

    truth = {(q["id"], t[0]) for q in queries for t in q["truth"]}
    seg_truth = [
        SegmentPred(q["id"], t[0], (t[1], t[2]), (t[3], t[4]), 1.0)
        for q in queries
        for t in q["truth"]
        if t[1] is not None
    ]
    with_segments = {q["id"] for q in queries if q["kind"] == "edited"}
    seg_preds_edited = [p for p in seg_preds if p.query in with_segments]
    good, found = boundary_accuracy(seg_preds_edited, seg_truth)
    best: dict[tuple[str, str], float] = {}
    for qid, rid, score in video_preds:
        best[(qid, rid)] = max(score, best.get((qid, rid), 0.0))
    recall85 = sum(best.get(p, 0.0) >= MATCH_THRESHOLD for p in truth) / max(1, len(truth))
    false_pos = sorted(
        (f"{q} vs {r}: {s:.3f}" for (q, r), s in best.items() if (q, r) not in truth and s >= MATCH_THRESHOLD)
    )
    unrelated = [q["id"] for q in queries if q["kind"] == "unrelated"]
    data: dict[str, Any] = {
        "split": split,
        "queries": len(queries),
        "true_pairs": len(truth),
        "video_uap": round(video_micro_ap(video_preds, truth), 4),
        "segment_uap": round(segment_micro_ap(seg_preds_edited, seg_truth), 4),
        "recall_at_085": round(recall85, 4),
        "false_positives_at_085": false_pos,
        "unrelated_queries": len(unrelated),
        "unrelated_best": round(
            max((best.get((u, r), 0.0) for u in unrelated for r in refs), default=0.0), 4
        ),
        "boundaries_within_1s": [good, found],
        "ingest_seconds": round(ingest_s, 2),
        "reference_seconds": round(ref_minutes * 60, 1),
        "search_seconds": round(search_s, 2),
        "bytes_per_indexed_minute": round(bytes_per_min),
        "per_kind": _per_kind(queries, best, truth),
        "pairs": [[q, r, s, (q, r) in truth] for (q, r), s in sorted(best.items())],
        "misses": [p for p in per_query if p["truth"] and (not p["top"] or p["top"][0][0] not in p["truth"])],
    }
    data["speed"] = video_speed(flow, [bench / "refs" / r for r in refs])
    if peers:
        t0 = time.perf_counter()
        try:
            vp = vpdq_scores(bench, queries, refs)
            data["vpdq_video_uap"] = round(video_micro_ap([(q, r, s) for (q, r), s in vp.items()], truth), 4)
            data["vpdq_seconds"] = round(time.perf_counter() - t0, 1)
        except ImportError:
            data["vpdq_video_uap"] = None
    (out / "results.json").write_text(json.dumps(data, indent=1))
    text = _markdown(data)
    (out / "RESULTS.md").write_text(text)
    return VideoRun(text, data)


def video_speed(flow: VideoFlow, paths: list[Path], repeat: int = 3) -> list[dict[str, Any]]:
    """Per clip: PyAV decoding every frame (frame threads on) against lookalike's whole
    description (decode the sampled frames, embed, hash) and, to show what dominates, its
    sampling alone (decoding and picking the frames), in seconds, each the best of
    ``repeat`` runs taken in turns, so that a burst of load on a shared machine lands on
    no side alone. PyAV's time is the better of FFmpeg's own thread count and one thread a
    core (the faster on two cores, by 10-20 %), so that the baseline is the quickest plain
    decode, not the default one."""
    import av

    def decode_all(path: Path, threads: int) -> tuple[int, str]:
        with av.open(str(path)) as c:
            stream = c.streams.video[0]
            stream.thread_type = "AUTO"
            stream.codec_context.thread_count = threads
            n = sum(1 for _ in c.decode(stream))
            ctx = stream.codec_context
            size = f"{ctx.width}x{ctx.height} {ctx.name}"
        return n, size

    rows = []
    for path in paths:
        best_decode = best_sample = best_describe = float("inf")
        for _ in range(repeat):
            for threads in (0, os.cpu_count() or 1):  # 0: FFmpeg chooses
                t0 = time.perf_counter()
                n, size = decode_all(path, threads)
                best_decode = min(best_decode, time.perf_counter() - t0)
            t0 = time.perf_counter()
            flow.decode(path)
            best_sample = min(best_sample, time.perf_counter() - t0)
            t0 = time.perf_counter()
            desc = flow.describe(path)
            best_describe = min(best_describe, time.perf_counter() - t0)
        rows.append(
            {
                "clip": path.name,
                "size": size,
                "frames": n,
                "sampled": len(desc),
                "seconds": desc.duration,
                "decode_all_s": round(best_decode, 3),
                "sample_s": round(best_sample, 3),
                "lookalike_s": round(best_describe, 3),
                "ratio": round(best_describe / best_decode, 2),
                "realtime_x": round(desc.duration / best_describe, 1),
            }
        )
    return rows


def _per_kind(
    queries: list[dict[str, Any]], best: dict[tuple[str, str], float], truth: set[tuple[str, str]]
) -> dict[str, str]:
    """Per edit: true pairs found at >= 0.85 / all."""
    counts: dict[str, list[int]] = {}
    for q in queries:
        for key in filter(None, (q.get("temporal"), q.get("spatial"), q["kind"])):
            for t in q["truth"]:
                c = counts.setdefault(key, [0, 0])
                c[0] += best.get((q["id"], t[0]), 0.0) >= MATCH_THRESHOLD
                c[1] += 1
    return {k: f"{v[0]}/{v[1]}" for k, v in sorted(counts.items())}


def _markdown(d: dict[str, Any]) -> str:
    good, found = d["boundaries_within_1s"]
    vpdq = d.get("vpdq_video_uap")
    lines = [
        f"split: {d['split']}, {d['queries']} queries, {d['true_pairs']} true pairs",
        "",
        "| metric | lookalike | vPDQ |",
        "|---|---|---|",
        f"| video-level µAP | {d['video_uap']:.4f} | {'not run' if vpdq is None else vpdq} |",
        f"| segment-level µAP | {d['segment_uap']:.4f} | - |",
        f"| recall at 0.85 (pairs) | {d['recall_at_085']:.4f} | - |",
        f"| false positives >= 0.85 | {len(d['false_positives_at_085'])} | - |",
        f"| best unrelated-clip score | {d['unrelated_best']:.4f} | - |",
        f"| boundaries within 1 s | {good}/{found} | - |",
        f"| bytes per indexed minute | {d['bytes_per_indexed_minute']} | - |",
        "",
        "per edit (pairs at >= 0.85): " + ", ".join(f"{k} {v}" for k, v in d["per_kind"].items()),
        "",
    ]
    return "\n".join(lines + speed_markdown(d.get("speed", []))) + "\n"


def speed_markdown(rows: list[dict[str, Any]]) -> list[str]:
    """The lines of :func:`video_speed`'s table."""
    return [
        "| clip | frames | sampled | seconds | PyAV decode all (s) | sampling (s) | lookalike (s) | ratio "
        "| x real time |",
        "|---|---|---|---|---|---|---|---|---|",
    ] + [
        f"| {r['clip']} ({r['size']}) | {r['frames']} | {r['sampled']} | {r['seconds']} | "
        f"{r['decode_all_s']} | {r['sample_s']} | {r['lookalike_s']} | {r['ratio']} | {r['realtime_x']} |"
        for r in rows
    ]
