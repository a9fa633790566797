"""Method runs -> a report folder: ``report.md``, ``results.csv``, ``per_transform.csv``,
``predictions/<method>.csv`` (the ISC 2021 predictions format, for its own scorer) and two
PNG plots (precision-recall curves of all methods; recall@1 per transform)."""

from __future__ import annotations

import csv
import platform
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ..score.calibration import ANCHORS
from .dataset import Benchmark, Query, truth_of
from .metrics import pr_curve
from .runner import MethodRun

__all__ = ["write_report"]

#: Bars per transform in the recall@1 plot: the best methods by µAP (all are in the CSV).
PLOT_METHODS = 6

COLUMNS = [
    ("µAP", "micro_ap"),
    ("recall@P90", "recall_at_p90"),
    ("recall@1", "recall_at_1"),
    ("recall@10", "recall_at_10"),
    ("P@0.85", "precision_at_0.85"),
    ("R@0.85", "recall_at_0.85"),
    ("FPR@0.85", "distractor_fpr_at_0.85"),
    ("P@0.97", "precision_at_0.97"),
    ("R@0.97", "recall_at_0.97"),
    ("FPR@0.97", "distractor_fpr_at_0.97"),
    ("ingest img/s", "ingest_images_per_s"),
    ("query p50 ms", "query_p50_ms"),
    ("query p99 ms", "query_p99_ms"),
    ("index B/img", "index_bytes_per_image"),
]


def _row(run: MethodRun) -> dict[str, Any]:
    row: dict[str, Any] = {"method": run.name, "status": "skipped" if run.skipped else "ok"}
    row["reason"] = run.skipped or ""
    if run.metrics is None:
        return row
    m = run.metrics
    row.update(
        micro_ap=m.micro_ap,
        recall_at_p90=m.recall_at_p90,
        recall_at_1=m.recall_at_1,
        recall_at_10=m.recall_at_10,
        ingest_images_per_s=run.ingest_per_s,
        query_p50_ms=run.latency_p50_ms,
        query_p99_ms=run.latency_p99_ms,
        index_bytes_per_image=run.bytes_per_image,
        score_scale=run.scale,
    )
    for t in run.thresholds:
        row[f"precision_at_{t.threshold}"] = t.precision
        row[f"recall_at_{t.threshold}"] = t.recall
        row[f"distractor_fpr_at_{t.threshold}"] = t.distractor_fpr
    return row


def _fmt(value: Any, key: str = "") -> str:
    if value is None or value == "":
        return "—"
    if isinstance(value, float):
        if key.startswith(("ingest", "query", "index")):
            return f"{value:.1f}" if value < 100 else f"{value:.0f}"
        return f"{value:.4f}"
    return str(value)


def _ranked(runs: Sequence[MethodRun]) -> list[MethodRun]:
    done = [r for r in runs if r.metrics is not None]
    return sorted(done, key=lambda r: -(r.metrics.micro_ap if r.metrics else 0.0))


def _markdown(runs: Sequence[MethodRun], bench: Benchmark, split: str, command: str) -> str:
    counts = bench.manifest.get("counts", {})
    ranked = _ranked(runs)
    first = ranked[0].metrics if ranked else None
    lines = [
        f"# lookalike bench: {bench.root.name}",
        "",
        f"- command: `{command}`",
        f"- date: {datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC')}; machine: {platform.machine()}, "
        f"{platform.system()} {platform.release()}, Python {platform.python_version()}",
        f"- benchmark: {bench.root} (seed {bench.manifest.get('seed')}, "
        f"{counts.get('references')} references, "
        f"{counts.get('queries')} queries in all); split evaluated: **{split}**"
        + (f" ({first.positives} copies, {first.distractor_queries} distractor queries)" if first else ""),
        "- calibration anchors in effect (score/calibration.py): "
        + "; ".join(
            f"{name} score_match {cal.score_match}, cos_identical {cal.cos_identical}"
            for name, cal in ANCHORS.items()
            if name.startswith("sscd")
        ),
        "- metrics as the ISC 2021 scorer: predictions (top 10 per query) pooled, ties pessimistic; "
        "FPR = share of distractor queries with any prediction at or above the threshold.",
        "",
        "| method | " + " | ".join(title for title, _ in COLUMNS) + " |",
        "|---|" + "---:|" * len(COLUMNS),
    ]
    for run in ranked:
        row = _row(run)
        lines.append(f"| {run.name} | " + " | ".join(_fmt(row.get(key), key) for _, key in COLUMNS) + " |")
    skipped = [r for r in runs if r.skipped]
    if skipped:
        lines += ["", "Not run:", ""] + [f"- **{r.name}**: {r.skipped}" for r in skipped]
    lines += ["", "Score scales (thresholds 0.85 / 0.97 apply to these):", ""]
    lines += [f"- {r.name}: {r.scale}" for r in ranked]
    transforms = sorted({t.transform for r in ranked for t in r.transforms})
    lines += [
        "",
        "## recall@1 per transform",
        "",
        "| transform | n | " + " | ".join(r.name for r in ranked) + " |",
        "|---|---:|" + "---:|" * len(ranked),
    ]
    for name in transforms:
        cells = {r.name: next((t for t in r.transforms if t.transform == name), None) for r in ranked}
        n = next((c.queries for c in cells.values() if c), 0)
        lines.append(
            f"| {name} | {n} | "
            + " | ".join(f"{c.recall_at_1:.2f}" if c else "—" for c in cells.values())
            + " |"
        )
    lines += [
        "",
        "## recall at 0.85 per transform (right reference scored >= 0.85)",
        "",
        "| transform | " + " | ".join(r.name for r in ranked) + " |",
        "|---|" + "---:|" * len(ranked),
    ]
    for name in transforms:
        cells = {r.name: next((t for t in r.transforms if t.transform == name), None) for r in ranked}
        lines.append(
            f"| {name} | "
            + " | ".join(f"{c.recall_at_match:.2f}" if c else "—" for c in cells.values())
            + " |"
        )
    lines += [
        "",
        "![precision-recall](pr_curves.png)",
        "",
        "![recall@1 per transform](recall_by_transform.png)",
        "",
    ]
    return "\n".join(lines)


def _plots(runs: Sequence[MethodRun], truth: dict[str, str | None], folder: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    ranked = _ranked(runs)
    fig, ax = plt.subplots(figsize=(8, 6))
    for i, run in enumerate(ranked):
        curve = pr_curve(run.predictions, truth)
        # Ten colours, then the same ten dashed, then dotted: every line stays tellable.
        ax.plot(
            curve.recalls,
            curve.precisions,
            ("-", "--", ":")[i // 10 % 3],
            label=f"{run.name} ({run.metrics.micro_ap:.3f})" if run.metrics else "",
        )
    ax.set(xlabel="recall", ylabel="precision", xlim=(0, 1), ylim=(0, 1.02), title="Precision-recall (µAP)")
    ax.legend(fontsize=7, loc="lower left")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(folder / "pr_curves.png", dpi=120)
    plt.close(fig)

    best = ranked[:PLOT_METHODS]
    transforms = sorted({t.transform for r in best for t in r.transforms})
    fig, ax = plt.subplots(figsize=(max(8.0, len(transforms) * 0.6), 5))
    width = 0.8 / max(len(best), 1)
    x = np.arange(len(transforms))
    for i, run in enumerate(best):
        values = {t.transform: t.recall_at_1 for t in run.transforms}
        ax.bar(x + i * width, [values.get(t, 0.0) for t in transforms], width, label=run.name)
    ax.set_xticks(x + 0.4 - width / 2, transforms, rotation=60, ha="right", fontsize=8)
    ax.set(ylabel="recall@1", ylim=(0, 1.05), title="recall@1 per transform")
    ax.legend(fontsize=7, ncol=3)
    fig.tight_layout()
    fig.savefig(folder / "recall_by_transform.png", dpi=120)
    plt.close(fig)


def write_report(
    runs: Sequence[MethodRun],
    bench: Benchmark,
    queries: Sequence[Query],
    out: str | Path,
    split: str,
    command: str,
) -> Path:
    """Write the report folder for ``runs`` over ``queries``; returns the path of ``report.md``."""
    folder = Path(out)
    (folder / "predictions").mkdir(parents=True, exist_ok=True)
    rows = [_row(r) for r in runs]
    fields = ["method", "status", *[key for _, key in COLUMNS], "score_scale", "reason"]
    with (folder / "results.csv").open("w", newline="") as f:
        table = csv.DictWriter(f, fieldnames=fields, extrasaction="ignore")
        table.writeheader()
        table.writerows(rows)
    with (folder / "per_transform.csv").open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["method", "transform", "queries", "recall_at_1", "recall_at_0.85"])
        for run in runs:
            for t in run.transforms:
                writer.writerow(
                    [run.name, t.transform, t.queries, f"{t.recall_at_1:.4f}", f"{t.recall_at_match:.4f}"]
                )
    for run in runs:
        if run.metrics is None:
            continue
        with (folder / "predictions" / f"{run.name}.csv").open("w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(["query_id", "reference_id", "score"])
            writer.writerows((p.query_id, p.reference_id, p.score) for p in run.predictions)
    if any(r.metrics for r in runs):
        _plots(runs, truth_of(queries), folder)
    report = folder / "report.md"
    report.write_text(_markdown(runs, bench, split, command))
    return report
