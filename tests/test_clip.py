"""ClipEmbedder on a randomly initialised ViT-B-32: no real CLIP weights are needed (or fetched).

The random model is built once per module and saved as a plain state_dict; loading it through
the registry must reproduce the in-memory model's vectors exactly, which proves the weights
were read from the file and not re-initialised.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from lookalike.embed.base import Embedder, l2_normalise
from lookalike.embed.factory import get_embedder
from lookalike.embed.registry import get_spec
from lookalike.errors import ModelUnavailableError
from PIL import Image
from skimage import data

ARCH = "ViT-B-32"
TAG = "laion2b_s34b_b79k"
HF_REPO = "laion/CLIP-ViT-B-32-laion2B-s34B-b79K"
# TEST-NET-1 (RFC 5737): never routed, so a connection neither succeeds nor gets refused.
BLACKHOLE = "https://192.0.2.1"


@pytest.fixture(scope="module")
def photos() -> list[Image.Image]:
    return [Image.fromarray(data.astronaut()), Image.fromarray(data.coffee())]


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, Any, Path]]:
    """(random model, its inference transform, the file its state_dict was saved to)."""
    open_clip = pytest.importorskip("open_clip")
    import torch

    model = open_clip.create_model(ARCH, pretrained=None).eval()
    cfg = open_clip.get_model_preprocess_cfg(model)
    preprocess = open_clip.image_transform(
        cfg["size"],
        is_train=False,
        mean=cfg["mean"],
        std=cfg["std"],
        interpolation=cfg["interpolation"],
        resize_mode=cfg["resize_mode"],
    )
    path = tmp_path_factory.mktemp("clip") / "random-vit-b-32.pt"
    torch.save(model.state_dict(), path)
    yield model, preprocess, path
    path.unlink(missing_ok=True)


@pytest.fixture(scope="module")
def embedder(reference: tuple[Any, Any, Path]) -> Embedder:
    return get_embedder("clip", checkpoint=reference[2])


def _reference_vectors(reference: tuple[Any, Any, Path], images: list[Image.Image]) -> np.ndarray:
    import torch

    model, preprocess, _ = reference
    with torch.inference_mode():
        out = model.encode_image(torch.stack([preprocess(im) for im in images]))
    return l2_normalise(out.numpy())


@pytest.fixture
def offline_hub(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """An empty Hugging Face cache and a Hub endpoint that never answers (no proxy either)."""
    from huggingface_hub import constants

    cache = tmp_path / "hf-cache"
    cache.mkdir()
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(cache))
    monkeypatch.setattr(constants, "ENDPOINT", BLACKHOLE)
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    for var in ("https_proxy", "HTTPS_PROXY", "http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)
    return cache


def test_checkpoint_weights_are_really_loaded(
    embedder: Embedder, reference: tuple[Any, Any, Path], photos: list[Image.Image]
) -> None:
    vecs = embedder.embed(photos)
    assert vecs.shape == (2, 512)
    assert vecs.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vecs, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(vecs, _reference_vectors(reference, photos), atol=1e-5)


def test_info_names_the_checkpoint(embedder: Embedder, reference: tuple[Any, Any, Path]) -> None:
    spec = get_spec("clip")
    assert embedder.info.name == "clip"
    assert embedder.info.dim == 512
    assert embedder.info.version == f"{spec.version}/checkpoint"
    assert embedder.info.weights_digest == hashlib.sha256(reference[2].read_bytes()).hexdigest()


def test_batches_and_odd_modes(embedder: Embedder, photos: list[Image.Image]) -> None:
    both = embedder.embed(photos)
    np.testing.assert_allclose(embedder.embed(photos[:1]), both[:1], atol=1e-5)
    grey_rgba = [photos[0].convert("L"), photos[1].convert("RGBA").resize((97, 301))]
    assert embedder.embed(grey_rgba).shape == (2, 512)
    assert embedder.embed([]).shape == (0, 512)


def test_no_weights_fails_fast_without_importing_torch() -> None:
    code = (
        "import sys, time\n"
        "from lookalike.embed.factory import get_embedder\n"
        "from lookalike.errors import ModelUnavailableError\n"
        "t = time.perf_counter()\n"
        "try:\n"
        "    get_embedder('clip')\n"
        "except ModelUnavailableError as exc:\n"
        "    print(time.perf_counter() - t)\n"
        "    print(exc)\n"
        "print('torch' in sys.modules, 'open_clip' in sys.modules)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    elapsed, message, imported = done.stdout.strip().splitlines()
    assert float(elapsed) < 2.0
    assert "checkpoint" in message and "allow_download" in message
    assert imported == "False False"


def test_no_weights_in_process_is_instant() -> None:
    start = time.perf_counter()
    with pytest.raises(ModelUnavailableError, match="local checkpoint"):
        get_embedder("clip", pretrained=TAG)
    assert time.perf_counter() - start < 2.0


def test_missing_checkpoint(tmp_path: Path) -> None:
    missing = tmp_path / "nope.pt"
    with pytest.raises(ModelUnavailableError, match="does not exist") as info:
        get_embedder("clip", checkpoint=missing)
    assert str(missing) in str(info.value)
    with pytest.raises(ModelUnavailableError, match="directory"):
        get_embedder("clip", checkpoint=tmp_path)


@pytest.mark.parametrize(
    "content", [b"", b"PK\x03\x04 not really a zip", np.random.default_rng(0).bytes(4096)]
)
def test_garbage_checkpoint(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "garbage.pt"
    path.write_bytes(content)
    with pytest.raises(ModelUnavailableError, match="not a readable checkpoint"):
        get_embedder("clip", checkpoint=path)


def test_state_dict_with_wrong_keys(reference: tuple[Any, Any, Path], tmp_path: Path) -> None:
    import torch

    state = dict(reference[0].state_dict())
    del state["visual.proj"]
    state["visual.not_a_layer"] = torch.zeros(3)
    path = tmp_path / "wrong-keys.pt"
    torch.save(state, path)
    with pytest.raises(ModelUnavailableError, match="does not fit") as info:
        get_embedder("clip", checkpoint=path)
    assert "visual.proj" in str(info.value) and "visual.not_a_layer" in str(info.value)


def test_download_offline_fails_quickly(offline_hub: Path) -> None:
    pytest.importorskip("open_clip")
    start = time.perf_counter()
    with pytest.raises(ModelUnavailableError, match="cannot download") as info:
        get_embedder("clip", allow_download=True)
    assert time.perf_counter() - start < 8.0
    assert TAG in str(info.value) and "local checkpoint" in str(info.value)


def test_download_respects_hf_hub_offline(offline_hub: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("open_clip")
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    start = time.perf_counter()
    with pytest.raises(ModelUnavailableError, match="HF_HUB_OFFLINE"):
        get_embedder("clip", allow_download=True)
    assert time.perf_counter() - start < 2.0


def test_unknown_pretrained_tag(offline_hub: Path) -> None:
    pytest.importorskip("open_clip")
    with pytest.raises(ModelUnavailableError, match="no pretrained tag 'no-such-tag'") as info:
        get_embedder("clip", pretrained="no-such-tag", allow_download=True)
    assert TAG in str(info.value)


def test_download_uses_the_hf_cache_without_network(
    offline_hub: Path, reference: tuple[Any, Any, Path], photos: list[Image.Image]
) -> None:
    """A tag downloaded earlier is loaded from the cache even when the Hub is unreachable."""
    commit = "0" * 40
    repo = offline_hub / f"models--{HF_REPO.replace('/', '--')}"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(commit)
    snapshot = repo / "snapshots" / commit
    snapshot.mkdir(parents=True)
    (snapshot / "open_clip_pytorch_model.bin").symlink_to(reference[2])

    start = time.perf_counter()
    emb = get_embedder("clip", allow_download=True)
    assert time.perf_counter() - start < 30.0
    assert emb.info.version == f"{get_spec('clip').version}/{TAG}"
    assert emb.info.weights_digest == TAG
    np.testing.assert_allclose(emb.embed(photos), _reference_vectors(reference, photos), atol=1e-5)
