"""The review layer: clusters of copies in a batch of listings (lookalike.review), on real
photos, through the library and `lookalike cluster`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import EDITS, PHOTO_NAMES, engine_for, jpeg_bytes, png_bytes
from lookalike.cli import main
from lookalike.embed.base import Embedder
from lookalike.engine import IngestItem
from lookalike.index.store import Index
from lookalike.review import ReviewItem, b_cubed, cluster_images, merge_groups, star_clusters
from PIL import Image

COPIED = ("astronaut", "coffee", "chelsea")


@pytest.fixture(scope="module")
def batch(photos: dict[str, Image.Image]) -> list[ReviewItem]:
    """Three photos with every edit of the suite, and four photos on their own."""
    items = [ReviewItem(name, jpeg_bytes(photos[name])) for name in PHOTO_NAMES]
    for name in COPIED:
        items += [ReviewItem(f"{name}~{edit}", jpeg_bytes(fn(photos[name]))) for edit, fn in EDITS.items()]
    return items


def test_copies_of_each_photo_form_one_cluster(sscd: Embedder, batch: list[ReviewItem]) -> None:
    report = cluster_images(engine_for(sscd), batch)
    found = sorted(sorted(m.id for m in c.members) for c in report.clusters)
    expected = sorted(sorted([name, *(f"{name}~{e}" for e in EDITS)]) for name in COPIED)
    assert found == expected
    assert sorted(report.singletons) == sorted(set(PHOTO_NAMES) - set(COPIED))
    truth = {item.id: item.id.split("~")[0] for item in batch}
    assert b_cubed(truth, [[m.id for m in c.members] for c in report.clusters]) == (1.0, 1.0)
    for cluster in report.clusters:
        assert cluster.members[0].id == cluster.representative
        assert all(m.score >= 0.85 for m in cluster.members)
        assert cluster.catalog_matches == [] and cluster.decision is None


def test_cli_clusters_a_folder_of_originals_with_three_copies_each(
    tmp_path: Path, photos: dict[str, Image.Image], capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "listings"
    for name in COPIED:
        (folder / name).mkdir(parents=True)
        (folder / name / "original.png").write_bytes(png_bytes(photos[name]))
        for edit in ("crop70", "watermark", "template"):
            (folder / name / f"{edit}.jpg").write_bytes(jpeg_bytes(EDITS[edit](photos[name])))
    unrelated = sorted(set(PHOTO_NAMES) - set(COPIED))
    for name in unrelated:
        (folder / f"{name}.jpg").write_bytes(jpeg_bytes(photos[name]))
    assert main(["cluster", "--json", str(folder)]) == 0
    answer = json.loads(capsys.readouterr().out)
    found = sorted(sorted(m["id"] for m in c["members"]) for c in answer["clusters"])
    assert found == [
        sorted(f"{name}/{f}" for f in ("original.png", "crop70.jpg", "watermark.jpg", "template.jpg"))
        for name in sorted(COPIED)
    ]
    assert sorted(answer["singletons"]) == [f"{name}.jpg" for name in unrelated]


def test_one_borderline_pair_does_not_chain_two_groups() -> None:
    # Two groups of copies, {a, a1, a2} and {c, c1}, and one borderline pair a2 ~ c (0.86);
    # a and a1 score c as unrelated. Single linkage (connected components) gives one
    # cluster of five; a2 matches the most images, but c stays with its own group.
    a, a1, a2, c, c1 = range(5)
    edges = {(a, a1): 0.99, (a, a2): 0.98, (a1, a2): 0.97, (a2, c): 0.86, (c, c1): 0.95, (a, c): 0.1}
    edges[(a1, c)] = 0.05
    groups = star_clusters(5, edges, 0.85)
    assert sorted(sorted(v for v, _ in g) for g in groups) == [[a, a1, a2], [c, c1]]
    for group in groups:
        rep = group[0][0]
        assert all(edges[(min(rep, v), max(rep, v))] >= 0.85 for v, _ in group[1:])


def test_groups_split_from_one_image_merge_and_only_those() -> None:
    # Star clustering split one image's copies: {a, a1, a2} and {b, b1} (b reaches a1 but not
    # a), and left b2 alone (it reaches only b1). Group {c, c1} touches {b, b1} through one
    # borderline pair, b1 ~ c; and d, on its own, is what b1 and c1 both resemble. Average
    # linkage merges the first three; neither c's group nor d follows, though single linkage
    # over the pairs at the threshold would chain all nine.
    a, a1, a2, b, b1, b2, c, c1, d = range(9)
    close = {(a, a1): 0.99, (a, a2): 0.98, (a1, a2): 0.97, (b, b1): 0.95, (a1, b): 0.9, (b1, b2): 0.88}
    close |= {(c, c1): 0.96, (b1, c): 0.86, (b1, d): 0.9, (c1, d): 0.9}
    same_image = {a, a1, a2, b, b1, b2}

    def similarity(i: int, j: int) -> float:
        if (min(i, j), max(i, j)) in close:
            return close[(min(i, j), max(i, j))]
        return 0.7 if {i, j} <= same_image else 0.05

    stars = [[(a, 1.0), (a1, 0.99), (a2, 0.98)], [(b, 1.0), (b1, 0.95)], [(c, 1.0), (c1, 0.96)]]
    merged = merge_groups(9, stars, [p for p, s in close.items() if s >= 0.85], similarity)
    assert sorted(sorted(v for v, _ in g) for g in merged) == [[a, a1, a2, b, b1, b2], [c, c1]]
    [big] = [g for g in merged if len(g) == 6]
    assert big[0] == (a, 1.0)  # the largest part's representative
    assert dict(big) == {a: 1.0, a1: 0.99, a2: 0.98, b: 0.7, b1: 0.7, b2: 0.7}


def test_b_cubed() -> None:
    truth = {"a": "1", "b": "1", "c": "2", "d": "3"}
    assert b_cubed(truth, [["a", "b"]]) == (1.0, 1.0)
    precision, recall = b_cubed(truth, [["a", "b", "c"]])
    assert precision == pytest.approx((2 / 3 * 2 + 1 / 3 + 1) / 4)
    assert recall == 1.0
    assert b_cubed(truth, []) == (1.0, pytest.approx((0.5 + 0.5 + 1 + 1) / 4))


def _catalog(index_dir: Path, sscd: Embedder, images: dict[str, Image.Image]) -> None:
    """A saved catalog of ``images`` (id -> photo, stored as JPEG q95) for the CLI to open."""
    engine = engine_for(sscd, Index.create(index_dir, sscd.info))
    assert engine.index is not None
    engine.ingest([IngestItem(i, jpeg_bytes(im, 95)) for i, im in images.items()])
    engine.index.save()
    engine.index.close()


def test_cli_cluster_checks_each_cluster_against_the_catalog(
    tmp_path: Path, photos: dict[str, Image.Image], capsys: pytest.CaptureFixture[str], sscd: Embedder
) -> None:
    index_dir = tmp_path / "index"
    _catalog(index_dir, sscd, {"banned/coffee.jpg": photos["coffee"]})
    listings = tmp_path / "listings"
    (listings / "shop").mkdir(parents=True)
    (listings / "shop" / "a.jpg").write_bytes(jpeg_bytes(EDITS["mirror"](photos["coffee"])))
    (listings / "shop" / "b.jpg").write_bytes(jpeg_bytes(EDITS["watermark"](photos["coffee"])))
    (listings / "c.jpg").write_bytes(jpeg_bytes(photos["rocket"]))
    single = tmp_path / "d.jpg"
    single.write_bytes(jpeg_bytes(photos["hubble"]))
    page = tmp_path / "review.html"
    code = main(
        ["cluster", "--index", str(index_dir), "--json", "--html", str(page), str(listings), str(single)]
    )
    assert code == 0
    answer = json.loads(capsys.readouterr().out)
    [cluster] = answer["clusters"]
    assert sorted(m["id"] for m in cluster["members"]) == ["shop/a.jpg", "shop/b.jpg"]
    assert [(m["id"], m["decision"]) for m in cluster["catalog_matches"]] == [
        ("banned/coffee.jpg", "auto-block")
    ]
    assert sorted(answer["singletons"]) == ["c.jpg", "d.jpg"]
    html = page.read_text()
    assert html.count("src='data:image/jpeg;base64,") == 4
    assert "banned/coffee.jpg" in html and "auto-block" in html


def _search_ids(index_dir: Path, query: Path, capsys: pytest.CaptureFixture[str]) -> list[str]:
    assert main(["search", "--index", str(index_dir), "--json", "--k", "3", str(query)]) == 0
    return [r["id"] for r in json.loads(capsys.readouterr().out)["results"] if r["score"] >= 0.85]


def test_a_false_alarm_stays_dismissed_and_disabled_references_stay_out(
    tmp_path: Path, photos: dict[str, Image.Image], capsys: pytest.CaptureFixture[str], sscd: Embedder
) -> None:
    index_dir = tmp_path / "index"
    _catalog(index_dir, sscd, {n: photos[n] for n in ("coffee", "astronaut")})
    query, near_copy, other = tmp_path / "q.jpg", tmp_path / "q2.jpg", tmp_path / "crop.jpg"
    query.write_bytes(jpeg_bytes(EDITS["template"](photos["coffee"])))
    near_copy.write_bytes(jpeg_bytes(Image.open(query).convert("RGB"), 50))
    other.write_bytes(jpeg_bytes(EDITS["crop70"](photos["coffee"])))
    for path in (query, near_copy, other):
        assert _search_ids(index_dir, path, capsys) == ["coffee"]

    assert main(["feedback", "--index", str(index_dir), "--not-a-match", str(query), "coffee"]) == 0
    recorded = json.loads(capsys.readouterr().out)
    assert (recorded["reference_id"], recorded["verdict"]) == ("coffee", "not_a_match")
    # Each command reopens the index: the verdict is on disk, not in memory.
    assert _search_ids(index_dir, query, capsys) == []
    assert _search_ids(index_dir, near_copy, capsys) == []
    assert _search_ids(index_dir, other, capsys) == ["coffee"]  # another listing is still caught
    assert main(["gate", "--index", str(index_dir), "--json", str(near_copy)]) == 0
    assert json.loads(capsys.readouterr().out)["decision"] == "pass"
    assert main(["feedback", "--index", str(index_dir), "--not-a-match", str(query), "nope"]) == 2
    capsys.readouterr()

    assert main(["feedback", "--index", str(index_dir)]) == 0
    [listed] = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert listed["id"] == recorded["id"]
    assert main(["feedback", "--index", str(index_dir), "--undo", str(recorded["id"])]) == 0
    capsys.readouterr()
    assert _search_ids(index_dir, query, capsys) == ["coffee"]

    coffee = tmp_path / "coffee.jpg"
    coffee.write_bytes(jpeg_bytes(photos["coffee"]))
    assert main(["disable", "--index", str(index_dir), "coffee", "missing"]) == 1
    capsys.readouterr()
    assert _search_ids(index_dir, coffee, capsys) == []
    # Nor through the gate, nor once its id is ingested again.
    assert main(["gate", "--index", str(index_dir), "--json", str(coffee)]) == 0
    assert json.loads(capsys.readouterr().out)["decision"] == "pass"
    with Index.open(index_dir, writable=True) as index:
        engine_for(sscd, index).ingest([IngestItem("coffee", jpeg_bytes(photos["coffee"], 90))])
        index.save()
    assert _search_ids(index_dir, coffee, capsys) == []
    assert main(["enable", "--index", str(index_dir), "coffee"]) == 0
    capsys.readouterr()
    assert _search_ids(index_dir, coffee, capsys) == ["coffee"]


def test_search_goes_deeper_when_the_top_hits_are_disabled_or_rejected(
    tmp_path: Path, photos: dict[str, Image.Image], sscd: Embedder
) -> None:
    # 60 byte-identical copies of chelsea fill the 50-deep shortlist of a chelsea query; with
    # all of them disabled and chelsea itself rejected for that query, the 3 hits asked for
    # are the next references, found further down.
    engine = engine_for(sscd, Index.create(tmp_path / "index", sscd.info))
    index = engine.index
    assert index is not None
    chelsea = jpeg_bytes(photos["chelsea"], 95)
    others = ("coffee", "astronaut", "rocket", "motorcycle")
    engine.ingest(
        [IngestItem("chelsea", chelsea), *(IngestItem(n, jpeg_bytes(photos[n], 95)) for n in others)]
    )
    copies = [f"chelsea-copy-{i:02}" for i in range(60)]
    engine.ingest([IngestItem(c, chelsea) for c in copies])  # same bytes: the stored descriptor
    query = jpeg_bytes(photos["chelsea"])
    assert {h.external_id for h in engine.search(query, k=3)} <= {"chelsea", *copies}

    assert sorted(index.set_enabled(copies, enabled=False)) == copies
    engine.feedback(query, "chelsea", "not_a_match")
    hits = engine.search(query, k=3)
    assert len(hits) == 3 and {h.external_id for h in hits} <= set(others)
    assert [h.score.similarity for h in hits] == sorted((h.score.similarity for h in hits), reverse=True)
    assert len(engine.search(query, k=10)) == len(others)  # the index is exhausted: all there is
