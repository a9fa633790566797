"""Every matcher the benchmark compares, behind one small interface.

A :class:`Method` indexes the reference images once and then answers one query at a time
with scored references, best first. Scores live on a [0, 1] "higher is more similar" scale
so the shipped thresholds (0.85 match, 0.97 near-identical) can be applied to all of them:
lookalike's pipeline and the neural channels report the calibrated similarity of
:class:`lookalike.score.Scorer`; hashes report ``1 - hamming / bits`` (so 0.85 is a pHash
distance of 9 of 64 bits, a PDQ distance of 38 of 256).

A method that cannot run here (weights that must be downloaded, a peer package that does
not install) raises :class:`~lookalike.errors.ModelUnavailableError` when built, with the
reason the report prints.
"""

from __future__ import annotations

import importlib
import tempfile
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from ..embed.factory import get_embedder
from ..embed.hashes import PHASH_BITS, pdq_dihedral, phash
from ..engine import IngestItem
from ..errors import InferenceError, LookalikeError, ModelUnavailableError
from ..factory import open_engine
from ..score.calibration import calibration_for
from ..score.scorer import Scorer
from .dataset import load_image

__all__ = ["DEFAULT_METHODS", "METHODS", "Method", "MethodOptions", "build_method"]

Ranked = list[tuple[str, float]]


@dataclass(frozen=True)
class MethodOptions:
    threads: int | None = None
    clip_checkpoint: str | None = None


class Method(ABC):
    name: str
    #: What the score means, for the report.
    scale: str

    @abstractmethod
    def index(self, references: Sequence[tuple[str, Path]]) -> int:
        """Add the catalog (id, file); the bytes the method keeps for it."""

    @abstractmethod
    def search(self, query: Path, k: int) -> Ranked:
        """The ``k`` best references for one query file, best first."""

    def close(self) -> None:  # noqa: B027 - an optional hook: most methods hold only memory
        """Release what :meth:`index` built."""


def _top_k(ids: Sequence[str], scores: np.ndarray, k: int) -> Ranked:
    # Stable sort: equal scores keep the catalog's id order.
    return [(ids[i], float(scores[i])) for i in np.argsort(-scores, kind="stable")[:k]]


class DescriptorMethod(Method):
    """A fixed-size descriptor per image, compared exhaustively (the catalogs here are small)."""

    def __init__(self) -> None:
        self._ids: list[str] = []
        self._refs = np.zeros((0, 0))

    def describe_references(self, images: list[Image.Image]) -> np.ndarray:
        return np.stack([self.describe(im) for im in images])

    @abstractmethod
    def describe(self, image: Image.Image) -> np.ndarray:
        """The reference descriptor of one image."""

    def describe_query(self, image: Image.Image) -> np.ndarray:
        """One or more query descriptors (variants such as dihedral flips), ``[v, d]``."""
        return self.describe(image)[None, :]

    @abstractmethod
    def similarities(self, query: np.ndarray) -> np.ndarray:
        """Similarity of the query variants to every reference, ``[n]``."""

    def index(self, references: Sequence[tuple[str, Path]]) -> int:
        rows = []
        for start in range(0, len(references), 32):
            batch = references[start : start + 32]
            rows.append(self.describe_references([load_image(path) for _, path in batch]))
        self._ids = [ref_id for ref_id, _ in references]
        self._refs = np.concatenate(rows)
        return int(self._refs.nbytes)

    def search(self, query: Path, k: int) -> Ranked:
        return _top_k(self._ids, self.similarities(self.describe_query(load_image(query))), k)


class HashMethod(DescriptorMethod):
    """Packed binary hashes; similarity ``1 - min over query variants of hamming / bits``."""

    def __init__(
        self,
        name: str,
        bits: int,
        describe: Callable[[Image.Image], np.ndarray],
        variants: Callable[[Image.Image], np.ndarray] | None = None,
    ) -> None:
        super().__init__()
        self.name, self.bits = name, bits
        self.scale = f"1 - Hamming distance / {bits} bits"
        self._describe, self._variants = describe, variants

    def describe(self, image: Image.Image) -> np.ndarray:
        return self._describe(image)

    def describe_query(self, image: Image.Image) -> np.ndarray:
        return self._variants(image) if self._variants else super().describe_query(image)

    def similarities(self, query: np.ndarray) -> np.ndarray:
        xor = np.bitwise_xor(self._refs[None, :, :], query[:, None, :])
        distance = np.unpackbits(xor, axis=-1).sum(axis=-1).min(axis=0)
        return np.asarray(1.0 - distance / self.bits, dtype=np.float64)


class CosineMethod(DescriptorMethod):
    """Unit vectors compared by cosine."""

    def __init__(self, name: str, describe: Callable[[Image.Image], np.ndarray]) -> None:
        super().__init__()
        self.name, self.scale, self._describe = name, "cosine", describe

    def describe(self, image: Image.Image) -> np.ndarray:
        vector = np.asarray(self._describe(image), dtype=np.float32).ravel()
        return vector / max(float(np.linalg.norm(vector)), 1e-12)

    def similarities(self, query: np.ndarray) -> np.ndarray:
        return np.asarray(self._refs @ query[0], dtype=np.float64)


class EmbeddingMethod(CosineMethod):
    """A neural channel alone: cosine, mapped through its registry calibration (monotonic,
    so the ranking is the raw cosine's)."""

    def __init__(self, name: str, options: MethodOptions) -> None:
        self.embedder = get_embedder(name, threads=options.threads, checkpoint=options.clip_checkpoint)
        super().__init__(name, lambda im: self.embedder.embed([im])[0])
        self.scorer = Scorer(calibration_for(name))
        self.scale = f"cosine mapped by the {name} calibration"

    def describe_references(self, images: list[Image.Image]) -> np.ndarray:
        return self.embedder.embed(images)

    def search(self, query: Path, k: int) -> Ranked:
        # No hash channel and no views: the raw cosine alone, on the decision scale.
        return [(ref_id, self.scorer.similarity(cos, cos, cos)) for ref_id, cos in super().search(query, k)]


class PipelineMethod(Method):
    """lookalike exactly as it ships: an index folder built by ``Engine.ingest`` in batches of
    32 (as ``lookalike ingest``) and queried by ``Engine.search`` (as ``lookalike search``)."""

    scale = "lookalike similarity (normalised best-view cosine, whole-image cosine, verified keypoints)"

    def __init__(self, name: str, options: MethodOptions, embedder: str = "sscd") -> None:
        self.name = name
        self._tmp = tempfile.TemporaryDirectory(prefix="lookalike-bench-")
        self.engine = open_engine(
            Path(self._tmp.name) / "index", embedder=embedder, create=True, threads=options.threads
        )

    def index(self, references: Sequence[tuple[str, Path]]) -> int:
        index = self.engine.index
        assert index is not None
        for start in range(0, len(references), 32):
            batch = references[start : start + 32]
            for outcome in self.engine.ingest([IngestItem(ref_id, path) for ref_id, path in batch]):
                if not outcome.ok:
                    raise LookalikeError(f"lookalike could not ingest {outcome.external_id}: {outcome.error}")
        index.save()
        return index.stats().bytes_on_disk

    def search(self, query: Path, k: int) -> Ranked:
        return [(hit.external_id, hit.score.similarity) for hit in self.engine.search(query, k)]

    def close(self) -> None:
        if self.engine.index is not None:
            self.engine.index.close()
        self._tmp.cleanup()


# -- peers -----------------------------------------------------------------------------------


def _packed(bits: np.ndarray) -> np.ndarray:
    return np.packbits(np.asarray(bits, dtype=bool).ravel())


def _pdqhash(image: Image.Image) -> np.ndarray:
    import pdqhash

    bits, _ = pdqhash.compute(np.asarray(image))
    return _packed(bits)


def _guarded(name: str, fn: Callable[[Image.Image], np.ndarray]) -> Callable[[Image.Image], np.ndarray]:
    """A peer's descriptor with its library's errors translated: the run reports that peer as
    failed and goes on with the others."""

    def call(image: Image.Image) -> np.ndarray:
        try:
            return fn(image)
        except Exception as exc:  # peers raise whatever their libraries raise
            raise InferenceError(f"{name}: {type(exc).__name__}: {exc}") from exc

    return call


def _perception(hasher_name: str, **kwargs: int) -> Callable[[MethodOptions], Method]:
    def build(options: MethodOptions) -> Method:
        name = f"perception-{hasher_name.lower()}"
        try:
            hasher = getattr(importlib.import_module("perception.hashers"), hasher_name)(**kwargs)
        except ImportError as exc:
            raise ModelUnavailableError(
                f"perception is not installed ({exc}); pip install 'lookalike[bench]'"
            ) from exc
        except Exception as exc:  # e.g. an OpenCV build without the contrib img_hash module
            raise ModelUnavailableError(f"{name} cannot start here: {type(exc).__name__}: {exc}") from exc
        describe = _guarded(name, lambda im: _packed(hasher.compute(np.asarray(im), "vector")))
        return HashMethod(name, int(hasher.hash_length), describe)

    return build


def _imagededup(hasher_name: str) -> Callable[[MethodOptions], Method]:
    def build(options: MethodOptions) -> Method:
        try:
            methods = importlib.import_module("imagededup.methods")
        except ImportError as exc:
            raise ModelUnavailableError(
                f"imagededup is not installed ({exc}); pip install 'lookalike[bench]'"
            ) from exc
        hasher = getattr(methods, hasher_name)(verbose=False)
        name = f"imagededup-{hasher_name.lower()}"

        def describe(image: Image.Image) -> np.ndarray:
            return np.frombuffer(
                bytes.fromhex(hasher.encode_image(image_array=np.asarray(image))), dtype=np.uint8
            )

        return HashMethod(name, 64, _guarded(name, describe))

    return build


def _imagededup_cnn(options: MethodOptions) -> Method:
    try:
        cnn = importlib.import_module("imagededup.methods").CNN(verbose=False)
    except Exception as exc:  # torchvision's download raises URLError, HTTPError, OSError...
        raise ModelUnavailableError(
            f"imagededup CNN downloads MobileNetV3 weights at first use, not runnable offline: "
            f"{type(exc).__name__}: {exc}"
        ) from exc
    return CosineMethod(
        "imagededup-cnn", _guarded("imagededup-cnn", lambda im: cnn.encode_image(image_array=np.asarray(im)))
    )


def _immaculate(options: MethodOptions) -> Method:
    try:
        immaculate = importlib.import_module("immaculate")
    except (ImportError, SyntaxError) as exc:
        raise ModelUnavailableError(
            f"immaculate does not install here: its wheels need Python >= 3.12 and its sdist a Rust "
            f"toolchain with crates.io ({type(exc).__name__}: {exc})"
        ) from exc
    raise ModelUnavailableError(
        f"immaculate {getattr(immaculate, '__version__', '?')} groups duplicates inside one folder "
        "(find_duplicates) and has no scored query-vs-catalog search to rank"
    )


METHODS: dict[str, Callable[[MethodOptions], Method]] = {
    "lookalike": lambda o: PipelineMethod("lookalike", o),
    "sscd": lambda o: EmbeddingMethod("sscd", o),
    "sscd-lite": lambda o: EmbeddingMethod("sscd-lite", o),
    "clip": lambda o: EmbeddingMethod("clip", o),
    "phash": lambda o: HashMethod("phash", PHASH_BITS, phash),
    "pdq": lambda o: HashMethod(
        "pdq", 256, lambda im: pdq_dihedral(im)[0][0], lambda im: pdq_dihedral(im)[0]
    ),
    "pdqhash": lambda o: HashMethod("pdqhash", 256, _guarded("pdqhash", _pdqhash)),
    "perception-phash": _perception("PHash", hash_size=16),
    "perception-pdq": _perception("PDQHash"),
    "perception-dhash": _perception("DHash", hash_size=16),
    "perception-ahash": _perception("AverageHash", hash_size=16),
    "perception-marrhildreth": _perception("MarrHildreth"),
    "perception-wavelet": _perception("WaveletHash", hash_size=16),
    "perception-blockmean": _perception("BlockMean"),
    "imagededup-phash": _imagededup("PHash"),
    "imagededup-dhash": _imagededup("DHash"),
    "imagededup-ahash": _imagededup("AHash"),
    "imagededup-whash": _imagededup("WHash"),
    "imagededup-cnn": _imagededup_cnn,
    "immaculate": _immaculate,
}


#: What ``lookalike bench run`` runs without ``--method``: everything but the prototypes,
#: which re-run the whole pipeline and are asked for by name.
DEFAULT_METHODS = [name for name in METHODS if not name.startswith("proto-")]


def build_method(name: str, options: MethodOptions | None = None) -> Method:
    """The method registered as ``name``; raises ModelUnavailableError when it cannot run here."""
    if name not in METHODS:
        raise ModelUnavailableError(f"unknown method {name!r}; choose from {', '.join(METHODS)}")
    return METHODS[name](options or MethodOptions())
