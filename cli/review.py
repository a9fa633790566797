"""``lookalike cluster``: group a batch of listing images into clusters of copies (the
answer of ``POST /listings/clusters``), optionally checked against a catalog and written as
a static HTML review page."""

from __future__ import annotations

import argparse
import base64
import html
import io
import sys
from pathlib import Path

from ..api.models import ClustersResponse, FeedbackItem
from ..embed.decode import decode_image
from ..embed.files import iter_image_files
from ..factory import open_engine
from ..index.feedback import Verdict
from ..review import ClusterReport, ReviewItem, cluster_images
from ..score.decision import IDENTICAL_THRESHOLD, MATCH_THRESHOLD
from ..score.gate import GateRule
from ..video import VideoFlow
from .options import engine_options, model_options, print_json, store_option

__all__ = ["configure", "render_html"]

# ``lookalike feedback``: record, list (no verdict given) or undo reviewers' verdicts;
# ``lookalike disable`` / ``enable``: take references out of search and gate, or back.


def _thumbnail(path: Path, side: int = 220) -> str:
    """A ``data:`` URL of a small JPEG of ``path`` (empty when it does not decode)."""
    try:
        image = decode_image(path).image
    except Exception:  # a failed image is already reported; the page shows its name
        return ""
    image.thumbnail((side, side))
    buf = io.BytesIO()
    image.save(buf, "JPEG", quality=80)
    return "data:image/jpeg;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


_CSS = """
body{font:14px/1.4 system-ui,sans-serif;margin:24px;color:#222;background:#fafafa}
h1{font-size:20px} h2{font-size:16px;margin:0 0 8px}
.cluster{background:#fff;border:1px solid #ddd;border-radius:8px;padding:12px;margin:0 0 16px}
.row{display:flex;flex-wrap:wrap;gap:10px}
figure{margin:0;width:220px} figure img{max-width:220px;max-height:220px;display:block;border:1px solid #ccc}
figcaption{font-size:12px;word-break:break-all} .rep img{border:3px solid #2a6}
.auto-block{color:#b00;font-weight:600} .review{color:#b60;font-weight:600} .pass{color:#270}
table{border-collapse:collapse;margin-top:8px} td,th{border:1px solid #ddd;padding:2px 8px;font-size:12px}
"""


def render_html(answer: ClustersResponse, paths: dict[str, Path]) -> str:
    """One self-contained page: each cluster's thumbnails side by side (``data:`` URLs), the
    scores against the representative and the catalog matches; then the singletons."""
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'><title>lookalike review</title>",
        f"<style>{_CSS}</style></head><body>",
        f"<h1>{len(answer.clusters)} cluster(s) of copies, {len(answer.singletons)} singleton(s)"
        f" <small>(threshold {answer.threshold})</small></h1>",
    ]
    for cluster in answer.clusters:
        decision = cluster.decision or ""
        parts.append(
            f"<section class='cluster' id='cluster-{cluster.id}'><h2>Cluster {cluster.id}: "
            f"{len(cluster.members)} images, representative {html.escape(cluster.representative)}"
            + (f" &mdash; catalog: <span class='{decision}'>{decision}</span>" if decision else "")
            + "</h2><div class='row'>"
        )
        for member in cluster.members:
            rep = " class='rep'" if member.id == cluster.representative else ""
            src = _thumbnail(paths[member.id]) if member.id in paths else ""
            label = "representative" if rep else f"score {member.score:.4f}"
            parts.append(
                f"<figure{rep}><img alt='{html.escape(member.id)}' src='{src}'>"
                f"<figcaption>{html.escape(member.id)}<br>{label}</figcaption></figure>"
            )
        parts.append("</div>")
        if cluster.catalog_matches:
            parts.append(
                "<table><tr><th>catalog reference</th><th>score</th><th>cosine</th><th>band</th></tr>"
            )
            for m in cluster.catalog_matches:
                parts.append(
                    f"<tr><td>{html.escape(m.id)}</td><td>{m.score:.4f}</td><td>{m.cosine:.4f}</td>"
                    f"<td class='{m.decision}'>{m.decision}</td></tr>"
                )
            parts.append("</table>")
        parts.append("</section>")
    if answer.singletons:
        parts.append("<section class='cluster'><h2>Singletons</h2><div class='row'>")
        for sid in answer.singletons:
            src = _thumbnail(paths[sid]) if sid in paths else ""
            parts.append(
                f"<figure><img alt='{html.escape(sid)}' src='{src}'>"
                f"<figcaption>{html.escape(sid)}</figcaption></figure>"
            )
        parts.append("</div></section>")
    if answer.failed:
        parts.append("<section class='cluster'><h2>Failed</h2><ul>")
        parts += [f"<li>{html.escape(f.id)}: {html.escape(f.error.message)}</li>" for f in answer.failed]
        parts.append("</ul></section>")
    parts.append("</body></html>")
    return "\n".join(parts)


def cmd_cluster(args: argparse.Namespace) -> int:
    engine = open_engine(args.index, **engine_options(args))
    files = dict(iter_image_files(args.paths))
    try:
        report: ClusterReport = cluster_images(
            engine,
            [ReviewItem(image_id, path) for image_id, path in files.items()],
            threshold=args.cluster_threshold,
            rule=GateRule(args.block_threshold, args.review_threshold),
        )
    finally:
        if engine.index is not None:
            engine.index.close()
    answer = ClustersResponse.model_validate(report, from_attributes=True)
    if args.html:
        Path(args.html).write_text(render_html(answer, files), encoding="utf-8")
    if args.json:
        print_json(answer.model_dump(mode="json", exclude_none=True))
    else:
        for cluster in answer.clusters:
            catalog = f"  catalog: {cluster.decision}" if cluster.decision else ""
            print(
                f"cluster {cluster.id}: {len(cluster.members)} images, rep {cluster.representative}{catalog}"
            )
            for m in cluster.members[1:]:
                print(f"  {m.score:.4f}  {m.id}")
        print(f"{len(answer.singletons)} singleton(s)")
        for f in answer.failed:
            print(f"failed {f.id}: {f.error.message}", file=sys.stderr)
    return 1 if answer.failed else 0


def cmd_feedback(args: argparse.Namespace) -> int:
    engine = open_engine(args.index, writable=True, **engine_options(args))
    index = engine.index
    assert index is not None
    try:
        if args.undo is not None:
            if not index.remove_feedback(args.undo):
                print(f"lookalike: no verdict {args.undo}", file=sys.stderr)
                return 1
            print_json({"id": args.undo, "undone": True})
            return 0
        pair = args.not_a_match or args.confirmed
        if pair is None:
            for record in index.feedback(args.reference):
                print_json(FeedbackItem.model_validate(record, from_attributes=True).model_dump(mode="json"))
            return 0
        verdict: Verdict = "not_a_match" if args.not_a_match else "confirmed"
        record = engine.feedback(pair[0], pair[1], verdict)
        print_json(FeedbackItem.model_validate(record, from_attributes=True).model_dump(mode="json"))
        return 0
    finally:
        index.close()


def cmd_enable(args: argparse.Namespace) -> int:
    engine = open_engine(args.index, writable=True, **engine_options(args))
    assert engine.index is not None
    try:
        known = VideoFlow(engine).set_enabled(args.ids, enabled=args.command == "enable")
    finally:
        engine.index.close()
    for ext in args.ids:
        print_json(
            {"id": ext, "enabled": args.command == "enable"}
            if ext in known
            else {"id": ext, "error": "not found"}
        )
    return 0 if len(known) == len(args.ids) else 1


def configure(command: str, p: argparse.ArgumentParser) -> None:
    if command == "feedback":
        p.add_argument("--index", required=True, help="index folder")
        what = p.add_mutually_exclusive_group()
        what.add_argument("--not-a-match", nargs=2, metavar=("QUERY", "REF_ID"), help="a false alarm")
        what.add_argument("--confirmed", nargs=2, metavar=("QUERY", "REF_ID"), help="a confirmed copy")
        what.add_argument("--undo", type=int, metavar="VERDICT_ID", help="remove a recorded verdict")
        p.add_argument("--reference", default=None, help="list only the verdicts on this reference id")
        model_options(p, embedder=False)
        store_option(p)
        p.set_defaults(func=cmd_feedback)
        return
    if command in ("enable", "disable"):
        p.add_argument("--index", required=True, help="index folder")
        p.add_argument("ids", nargs="+", help="reference ids")
        model_options(p, embedder=False)
        store_option(p)
        p.set_defaults(func=cmd_enable)
        return
    p.add_argument("paths", nargs="+", help="image files or folders")
    p.add_argument("--index", default=None, help="check each cluster once against this catalog")
    p.add_argument(
        "--threshold",
        dest="cluster_threshold",
        type=float,
        default=MATCH_THRESHOLD,
        help=f"copies at or above (default {MATCH_THRESHOLD})",
    )
    p.add_argument("--block-threshold", type=float, default=IDENTICAL_THRESHOLD)
    p.add_argument("--review-threshold", type=float, default=MATCH_THRESHOLD)
    p.add_argument("--json", action="store_true")
    p.add_argument("--html", default=None, metavar="OUT.html", help="write a static review page")
    model_options(p, embedder=False)
    store_option(p)
    p.set_defaults(func=cmd_cluster)
