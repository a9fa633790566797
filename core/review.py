"""The review layer: group a batch of new listing images into clusters of copies, so a
reviewer takes one decision per group, and check each group once against the catalog.

    images --describe (one model pass each)--> descriptors
           --k nearest neighbours in a temporary in-memory FAISS index--> candidate pairs
           --pairwise scorer, both directions--> copy edges (similarity >= threshold)
           --star clustering--> groups (every member verified against the representative)
           --average-linkage merge of the groups split from one image--> clusters
           --Engine.gate on the representative--> catalog matches

Star clustering does not chain: a member joins a cluster only when it scores at least the
threshold against the cluster's representative itself, never through a third image, and
when its mean score against the members already in reaches ``LINK_FLOOR`` (average
linkage), so a representative tied to another group by one borderline pair does not pull
that group in. The representative is the image that matches most of the others (ties: the
highest sum of scores), i.e. the member that best matches the rest.

With many copies of one image (41 in the 10,000-image benchmark) its stars split: a heavy
edit that does not reach the first representative, or whose pair with it was never a
candidate, starts its own group. Groups (and images left alone) tied by a copy edge then
merge when the mean score between samples of both reaches ``LINK_FLOOR``: average linkage
between groups, again, so two groups do not chain through one pair or through a third group.

Only candidate pairs are scored (``k`` neighbours per image and per view), and the merge
scores only the pairs between the samples (``MERGE_SAMPLE`` members of each part) of groups
tied by a copy edge, so the scorer runs O(n k) times, not O(n^2); other pairs count as
different.
"""

from __future__ import annotations

import heapq
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .embed.decode import DecodedImage
from .embed.encode import Query, shrunk
from .embed.local import QUERY
from .engine import Engine, GateVerdict, ImageSource
from .errors import LookalikeError
from .score.decision import MATCH_THRESHOLD
from .score.gate import GateDecision, GateRule

__all__ = [
    "CatalogMatch",
    "Cluster",
    "ClusterReport",
    "Member",
    "ReviewItem",
    "b_cubed",
    "cluster_images",
    "merge_groups",
    "star_clusters",
]

#: Average-linkage floor: a member's mean similarity to the other members (over the pairs
#: that were scored) must reach it. Edits of one photo that are not copies of each other at
#: 0.85 (a crop and a template) still score well above it; unrelated photos score near 0.
LINK_FLOOR = 0.5

#: Members of a group (its representative and those scoring best against it) whose pairs
#: with another group's are scored to tell whether the two are one image's copies.
MERGE_SAMPLE = 5

#: Neighbours per image (and per extra view) whose pairs are scored.
DEFAULT_NEIGHBOURS = 20


@dataclass(frozen=True)
class ReviewItem:
    id: str
    source: ImageSource


@dataclass(frozen=True)
class Member:
    """An image of a cluster and its score against the representative (1.0 for itself)."""

    id: str
    score: float


@dataclass(frozen=True)
class CatalogMatch:
    """A catalog reference the cluster's representative matches, and the gate's band."""

    id: str
    score: float
    cosine: float
    decision: GateDecision


@dataclass(frozen=True)
class Cluster:
    id: int
    representative: str
    members: list[Member]
    catalog_matches: list[CatalogMatch] = field(default_factory=list)
    #: The gate's decision on the representative (None without a catalog).
    decision: GateDecision | None = None


@dataclass(frozen=True)
class ClusterReport:
    clusters: list[Cluster]
    singletons: list[str]
    #: (id, error) of the images that could not be decoded.
    failed: list[tuple[str, LookalikeError]] = field(default_factory=list)
    threshold: float = MATCH_THRESHOLD
    processing_time_ms: int = 0


def star_clusters(
    n: int, edges: dict[tuple[int, int], float], threshold: float, link_floor: float = LINK_FLOOR
) -> list[list[tuple[int, float]]]:
    """Clusters of ``n`` nodes from scored pairs ``(i, j) -> similarity``: each is
    ``[(representative, 1.0), (member, its score against the representative), ...]``.

    Nodes are taken in order of how many others they match (then the sum of those scores);
    a node not yet placed that matches anything not yet placed becomes a representative.
    Its neighbours join best first, each only if it matches the representative itself (at
    least ``threshold``) and, on average over the pairs scored with the members already
    in, at least ``link_floor`` (average linkage): an image that one borderline pair ties
    to the representative, but that scores as unrelated to the rest, stays out.
    """
    scored: dict[int, dict[int, float]] = defaultdict(dict)
    for (i, j), s in edges.items():
        if i != j:
            scored[i][j] = scored[j][i] = max(s, scored[i].get(j, 0.0))
    adjacent = {v: {m: s for m, s in near.items() if s >= threshold} for v, near in scored.items()}
    order = sorted(
        (v for v in adjacent if adjacent[v]),
        key=lambda v: (-len(adjacent[v]), -sum(adjacent[v].values()), v),
    )
    placed: set[int] = set()
    clusters: list[list[tuple[int, float]]] = []
    for centre in order:
        if centre in placed:
            continue
        members = [(centre, 1.0)]
        for m, s in sorted(adjacent[centre].items(), key=lambda ms: (-ms[1], ms[0])):
            if m in placed:
                continue
            known = [scored[m][v] for v, _ in members[1:] if v in scored[m]]
            if known and sum(known) / len(known) < link_floor:
                continue
            members.append((m, s))
        if len(members) < 2:
            continue
        placed.update(v for v, _ in members)
        clusters.append(members)
    assert all(0 <= v < n for c in clusters for v, _ in c)
    return clusters


def merge_groups(
    n: int,
    groups: list[list[tuple[int, float]]],
    linked: Iterable[tuple[int, int]],
    similarity: Callable[[int, int], float],
    link_floor: float = LINK_FLOOR,
    sample: int = MERGE_SAMPLE,
) -> list[list[tuple[int, float]]]:
    """Join the groups (and the nodes left on their own) that star clustering split out of
    one image's copies: with many copies, a copy that does not reach the first
    representative (a heavy edit, or a pair never scored) starts its own group.

    Groups tied by a ``linked`` pair (a scored pair at or above the threshold) merge by
    average linkage: best first, while the mean ``similarity`` between the two groups'
    samples (up to ``sample`` members of each constituent: its representative and the
    members closest to it) reaches ``link_floor``. A merged group is compared through all
    its constituents' samples, so two groups do not chain through a third that each
    resembles. The representative is the largest constituent's; every member's score is
    its ``similarity`` to it. Returns groups shaped as :func:`star_clusters`'."""
    parts: list[list[tuple[int, float]]] = list(groups)
    placed = {v for g in groups for v, _ in g}
    parts += [[(v, 1.0)] for v in range(n) if v not in placed]
    part_of = {v: p for p, g in enumerate(parts) for v, _ in g}
    samples = {p: [v for v, _ in g[:sample]] for p, g in enumerate(parts)}
    within: dict[int, list[int]] = {p: [p] for p in range(len(parts))}
    near: dict[int, set[int]] = defaultdict(set)
    for i, j in linked:
        a, b = part_of[i], part_of[j]
        if a != b:
            near[a].add(b)
            near[b].add(a)

    def linkage(a: int, b: int) -> float:
        scores = [similarity(x, y) for x in samples[a] for y in samples[b]]
        return sum(scores) / len(scores)

    queue = [(-linkage(a, b), a, b) for a in sorted(near) for b in sorted(near[a]) if a < b]
    heapq.heapify(queue)
    while queue:
        best, a, b = heapq.heappop(queue)
        if -best < link_floor:
            break
        if a not in within or b not in within:
            continue  # merged since this pair was queued
        c = len(parts)
        parts.append([])
        within[c] = within.pop(a) + within.pop(b)
        samples[c] = samples.pop(a) + samples.pop(b)
        near[c] = (near.pop(a) | near.pop(b)) - {a, b}
        for x in near[c]:
            near[x] -= {a, b}
            near[x].add(c)
            heapq.heappush(queue, (-linkage(c, x), min(c, x), max(c, x)))
    merged: list[list[tuple[int, float]]] = []
    for constituents in sorted(within.values()):
        if len(constituents) == 1:
            if len(parts[constituents[0]]) > 1:
                merged.append(parts[constituents[0]])
            continue
        biggest = max(constituents, key=lambda p: (len(parts[p]), -p))
        rep = parts[biggest][0][0]
        rest = list(parts[biggest][1:])
        rest += [(v, similarity(rep, v)) for p in constituents if p != biggest for v, _ in parts[p]]
        merged.append([(rep, 1.0), *sorted(rest, key=lambda vs: (-vs[1], vs[0]))])
    return merged


def _neighbours(vectors: np.ndarray, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """(cosines, positions) of each query row's ``k`` nearest ``vectors`` (inner product)."""
    import faiss  # a FAISS flat index, in memory and thrown away with the batch

    index = faiss.IndexFlatIP(vectors.shape[1])
    index.add(np.ascontiguousarray(vectors, dtype=np.float32))
    cosines, found = index.search(np.ascontiguousarray(queries, dtype=np.float32), min(k, len(vectors)))
    return cosines, found


def _describe(
    engine: Engine, items: Sequence[ReviewItem], batch: int = 32
) -> tuple[list[int], list[Query], list[LookalikeError | None]]:
    """The items that decode, as queries whose descriptor is also what they are as a reference."""
    errors: list[LookalikeError | None] = [None] * len(items)
    positions: list[int] = []
    queries: list[Query] = []
    # Decoded a batch at a time, and each query keeps only the pixels its keypoints and view
    # need (640 px, as a JPEG): a batch of 10,000 listings must not hold 10,000 decoded images.
    for start in range(0, len(items), batch):
        chunk: list[tuple[int, DecodedImage]] = []
        for pos in range(start, min(start + batch, len(items))):
            try:
                chunk.append((pos, engine.decode(items[pos].source)))
            except LookalikeError as exc:
                errors[pos] = exc
        images = [img.image for _, img in chunk]
        # The reference descriptor (with its stored keypoints) is also the query's full view:
        # both come from the same working copy, as Encoder.query describes it.
        for (pos, _), image, described in zip(chunk, images, engine.encoder.encode(images), strict=True):
            query = Query(described, shrunk(image, QUERY.side), engine.embedder)
            query.compact()
            positions.append(pos)
            queries.append(query)
    return positions, queries, errors


def cluster_images(
    engine: Engine,
    items: Sequence[ReviewItem],
    threshold: float = MATCH_THRESHOLD,
    rule: GateRule | None = None,
    k: int = DEFAULT_NEIGHBOURS,
    progress: Callable[[int], Any] | None = None,
) -> ClusterReport:
    """Group ``items`` into clusters of copies (see the module); with an index on ``engine``
    (and ``rule``, default the gate's 0.97 / 0.85), check each cluster's representative
    once against the catalog."""
    start = time.perf_counter()
    positions, queries, errors = _describe(engine, items)
    if progress:
        progress(len(items))
    n = len(queries)
    edges: dict[tuple[int, int], float] = {}
    scorer = engine.scorer

    def similarity(i: int, j: int) -> float:
        """The pair's score, scored once: both ways, since a crop is a copy of its original
        and the original contains the crop."""
        pair = (min(i, j), max(i, j))
        if pair not in edges:
            a = scorer.score(queries[i], queries[j].descriptor).similarity
            b = a if a >= threshold else scorer.score(queries[j], queries[i].descriptor).similarity
            edges[pair] = max(a, b)
        return edges[pair]

    if n > 1:
        vectors = np.stack([q.vectors[0] for q in queries])
        cosines, found = _neighbours(vectors, vectors, k + 1)
        candidates: dict[int, set[int]] = {i: {int(j) for j in found[i] if 0 <= j != i} for i in range(n)}
        for i, q in enumerate(queries):
            others = [float(c) for c, j in zip(cosines[i], found[i], strict=True) if 0 <= j != i]
            if scorer.wants_views(np.array(others), pair=False) and q.add_views():
                _, more = _neighbours(vectors, q.vectors[1:], k + 1)
                candidates[i].update(int(j) for j in more.ravel() if 0 <= j != i)
        for i, j in sorted({(min(i, j), max(i, j)) for i, js in candidates.items() for j in js}):
            similarity(i, j)
    linked = [pair for pair, s in edges.items() if s >= threshold]
    groups = merge_groups(n, star_clusters(n, edges, threshold), linked, similarity)
    ids = [items[pos].id for pos in positions]
    clusters: list[Cluster] = []
    index = engine.index
    gate_rule = rule or GateRule()
    for number, group in enumerate(groups, 1):
        members = [Member(ids[v], round(s, 4)) for v, s in group]
        matches: list[CatalogMatch] = []
        decision: GateDecision | None = None
        if index is not None:
            verdict: GateVerdict = engine.gate(queries[group[0][0]], gate_rule)
            decision = verdict.decision
            matches = [
                CatalogMatch(m.id, m.score, m.hit.score.full_cosine, m.decision) for m in verdict.matches
            ]
        clusters.append(Cluster(number, members[0].id, members, matches, decision))
    clustered = {v for group in groups for v, _ in group}
    return ClusterReport(
        clusters=clusters,
        singletons=[ids[v] for v in range(n) if v not in clustered],
        failed=[(items[pos].id, err) for pos, err in enumerate(errors) if err is not None],
        threshold=threshold,
        processing_time_ms=round((time.perf_counter() - start) * 1000),
    )


def b_cubed(truth: dict[str, str], found: Iterable[Iterable[str]]) -> tuple[float, float]:
    """B-cubed (precision, recall) of predicted clusters ``found`` (ids missing from it are
    singletons) against ``truth`` (id -> true group)."""
    predicted: dict[str, frozenset[str]] = {}
    for group in found:
        members = frozenset(group)
        for m in members:
            predicted[m] = members
    by_truth: dict[str, set[str]] = defaultdict(set)
    for item, group_name in truth.items():
        by_truth[group_name].add(item)
    precision = recall = 0.0
    for item, group_name in truth.items():
        mine = predicted.get(item, frozenset({item}))
        same = by_truth[group_name]
        correct = len(mine & same)
        precision += correct / len(mine)
        recall += correct / len(same)
    return precision / len(truth), recall / len(truth)
