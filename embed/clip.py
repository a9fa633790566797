"""CLIP's image tower through open_clip, as a general-purpose (not copy-detection) descriptor.

Weights come from a local checkpoint file or, only when the caller allows it, from the
registry's pretrained tag downloaded by open_clip (the Hugging Face cache is used first).
Nothing here ever falls back to randomly initialised weights: a checkpoint that is missing,
corrupt or does not fit the architecture is a :class:`ModelUnavailableError`.

torch and open_clip are imported lazily, so refusing to build (no weights) is instant.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import socket
import threading
import urllib.request
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import numpy as np
from PIL import Image

from ..errors import InferenceError, ModelUnavailableError
from .base import Embedder, EmbedderInfo
from .spec import ModelSpec

__all__ = ["ClipEmbedder"]

#: Seconds allowed to open a TCP connection (DNS included) to the download host before
#: declaring it unreachable; the probe runs on a daemon thread so a stuck resolver cannot hang.
PROBE_TIMEOUT_S = 3.0
_HF_DEFAULT_ENDPOINT = "https://huggingface.co"


class ClipEmbedder(Embedder):
    """open_clip image tower (``model.encode_image``) of architecture ``spec.weights``."""

    def __init__(
        self,
        spec: ModelSpec,
        checkpoint: str | Path | None = None,
        pretrained: str | None = None,
        allow_download: bool = False,
    ) -> None:
        arch = spec.weights
        tag: str | None = None
        if checkpoint is not None:
            path = Path(checkpoint).expanduser()
            if not path.is_file():
                what = "is a directory, not a file" if path.is_dir() else "does not exist"
                raise ModelUnavailableError(f"{spec.name}: checkpoint {path} {what}")
            path = path.resolve()
            digest = _sha256_file(path)
            pretrained_cfg: dict[str, Any] = {}
        elif allow_download:
            tag = pretrained or spec.pretrained_tag
            if not tag:
                raise ModelUnavailableError(
                    f"{spec.name}: no pretrained tag to download; pass pretrained=<tag> or a local checkpoint"
                )
            path, pretrained_cfg = _resolve_pretrained(spec.name, arch, tag)
            digest = tag
        else:
            raise ModelUnavailableError(
                f"{spec.name}: no weights for open_clip {arch}. Pass a local checkpoint file "
                f"(checkpoint=/path/to/open_clip_model.safetensors or a torch.save'd state_dict), or, "
                f"when online, allow_download=True to fetch the pretrained tag "
                f"{pretrained or spec.pretrained_tag!r} from the Hugging Face Hub"
            )

        self._model, self._preprocess, dim = _load_model(spec.name, arch, path, pretrained_cfg)
        self.info = EmbedderInfo(
            name=spec.name,
            dim=dim,
            version=f"{spec.version}/{tag or 'checkpoint'}",
            weights_digest=digest,
        )

    def _forward(self, batch: list[Image.Image]) -> np.ndarray:
        import torch

        try:
            pixels = torch.stack([self._preprocess(im) for im in batch])
            with torch.inference_mode():
                out = self._model.encode_image(pixels)
            return np.asarray(out.float().cpu().numpy(), dtype=np.float32)
        except (RuntimeError, ValueError, TypeError) as exc:
            raise InferenceError(f"{self.info.name}: inference failed: {exc}") from exc


def _load_model(name: str, arch: str, path: Path, pretrained_cfg: dict[str, Any]) -> tuple[Any, Any, int]:
    """Build ``arch`` with the weights in ``path``: (model in eval mode, eval transform, dim)."""
    import open_clip

    if open_clip.get_model_config(arch) is None:
        raise ModelUnavailableError(f"{name}: open_clip has no architecture {arch!r}")
    try:
        # An absolute path never collides with a pretrained tag name. open_clip loads it with
        # strict=True (missing or unexpected keys raise) and weights_only=True (no pickled code).
        model, _, preprocess = open_clip.create_model_and_transforms(
            arch,
            pretrained=str(path),
            # A tag trained with QuickGELU (e.g. "openai") needs it at inference too.
            force_quick_gelu=bool(pretrained_cfg.get("quick_gelu", False)),
            # The tag's own preprocessing (None keeps the architecture's default).
            image_mean=pretrained_cfg.get("mean"),
            image_std=pretrained_cfg.get("std"),
            image_interpolation=pretrained_cfg.get("interpolation"),
            image_resize_mode=pretrained_cfg.get("resize_mode"),
        )
    except Exception as exc:  # torch/open_clip raise RuntimeError, UnpicklingError, KeyError, ...
        raise ModelUnavailableError(f"{name}: cannot load {arch} weights from {path}: {_why(exc)}") from exc
    model.eval()
    model.requires_grad_(False)
    dim = int(open_clip.get_model_config(arch)["embed_dim"])
    return model, preprocess, dim


def _resolve_pretrained(name: str, arch: str, tag: str) -> tuple[Path, dict[str, Any]]:
    """Local file of open_clip's pretrained ``tag`` for ``arch``, downloading it if needed."""
    import open_clip
    from open_clip.pretrained import download_pretrained

    cfg: dict[str, Any] = dict(open_clip.get_pretrained_cfg(arch, tag) or {})
    if not cfg:
        tags = ", ".join(open_clip.list_pretrained_tags_by_model(arch)) or "none"
        raise ModelUnavailableError(
            f"{name}: open_clip has no pretrained tag {tag!r} for {arch} (tags: {tags})"
        )
    cached = _cached_pretrained(cfg)
    if cached is not None:
        return cached, cfg

    hint = "pass a local checkpoint file instead"
    if cfg.get("hf_hub"):
        try:
            from huggingface_hub import constants as hf_constants
        except ImportError as exc:
            raise ModelUnavailableError(f"{name}: huggingface_hub is not installed; {hint}") from exc
        if hf_constants.is_offline_mode():
            raise ModelUnavailableError(
                f"{name}: {arch}/{tag} is not in the Hugging Face cache and HF_HUB_OFFLINE is set; {hint}"
            )
        url = str(getattr(hf_constants, "ENDPOINT", _HF_DEFAULT_ENDPOINT))
    else:
        url = str(cfg.get("url", ""))
    problem = _unreachable(url)
    if problem is not None:
        raise ModelUnavailableError(f"{name}: cannot download {arch}/{tag} from {url} ({problem}); {hint}")
    try:
        target = download_pretrained(cfg)
    except Exception as exc:  # HTTP, filesystem and checksum errors alike
        raise ModelUnavailableError(
            f"{name}: downloading {arch}/{tag} failed: {type(exc).__name__}: {_first_lines(exc)}; {hint}"
        ) from exc
    if not target or not Path(target).is_file():
        raise ModelUnavailableError(f"{name}: downloading {arch}/{tag} gave no file; {hint}")
    return Path(target), cfg


def _cached_pretrained(cfg: dict[str, Any]) -> Path | None:
    """The tag's weights if a previous download left them in a local cache (no network)."""
    hf_hub = str(cfg.get("hf_hub", ""))
    if hf_hub:
        try:
            from huggingface_hub import try_to_load_from_cache
            from open_clip.constants import HF_SAFE_WEIGHTS_NAME, HF_WEIGHTS_NAME
        except ImportError:
            return None
        repo_id, filename = os.path.split(hf_hub)
        filename = filename or HF_WEIGHTS_NAME
        # open_clip prefers a .safetensors twin of a pickle file when the repo has one.
        candidates = [filename]
        if filename == HF_WEIGHTS_NAME:
            candidates.insert(0, HF_SAFE_WEIGHTS_NAME)
        elif filename.endswith((".bin", ".pth")):
            candidates.insert(0, filename[:-4] + ".safetensors")
        for candidate in candidates:
            found = try_to_load_from_cache(repo_id, candidate)
            if isinstance(found, str) and Path(found).is_file():
                return Path(found)
        return None
    url = str(cfg.get("url", ""))
    if url:
        # open_clip's own download cache for URL-only tags.
        local = Path("~/.cache/clip").expanduser() / os.path.basename(urlsplit(url).path)
        if local.is_file():
            return local
    return None


def _unreachable(url: str, timeout: float = PROBE_TIMEOUT_S) -> str | None:
    """None when a TCP connection to ``url``'s host (or the HTTPS proxy) opens within
    ``timeout`` seconds, else why not. Never blocks longer than about ``timeout + 1`` s."""
    target = urllib.request.getproxies().get("https") or url
    parts = urlsplit(target if "://" in target else f"http://{target}")
    host = parts.hostname
    if not host:
        return f"no host in {url!r}"
    port = parts.port or (443 if parts.scheme == "https" else 80)
    outcome: list[str | None] = []

    def probe() -> None:
        try:
            with socket.create_connection((host, port), timeout=timeout):
                outcome.append(None)
        except OSError as exc:
            outcome.append(f"{type(exc).__name__}: {exc}")

    # create_connection's timeout does not cover name resolution: bound the whole probe.
    thread = threading.Thread(target=probe, name="lookalike-clip-probe", daemon=True)
    thread.start()
    thread.join(timeout + 1.0)
    if not outcome:
        return f"no connection to {host}:{port} within {timeout:g} s"
    return outcome[0]


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    try:
        with path.open("rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                digest.update(chunk)
    except OSError as exc:
        raise ModelUnavailableError(f"cannot read checkpoint {path}: {exc.strerror or exc}") from exc
    return digest.hexdigest()


def _why(exc: BaseException) -> str:
    """A load failure in words; torch's own messages are long and, for a corrupt file, advise
    ``weights_only=False``, which lookalike never does."""
    text = str(exc)
    if "loading state_dict" in text:
        return f"the state_dict does not fit the architecture: {_first_lines(exc)}"
    unreadable = (pickle.UnpicklingError, EOFError, UnicodeDecodeError, StopIteration, AttributeError)
    markers = ("PytorchStreamReader", "central directory", "invalid load key", "HeaderTooLarge", "header")
    if isinstance(exc, unreadable) or any(m in text for m in markers):
        return (
            "not a readable checkpoint (corrupt or truncated file, or not a state_dict saved "
            f"with torch.save or safetensors) [{type(exc).__name__}]"
        )
    return f"{type(exc).__name__}: {_first_lines(exc)}"


def _first_lines(exc: BaseException, n: int = 3, max_chars: int = 600) -> str:
    """Start of an exception's message: torch's key-mismatch errors list hundreds of keys."""
    lines = str(exc).strip().splitlines()
    text = " ".join(line.strip() for line in lines[:n])
    if len(lines) > n or len(text) > max_chars:
        text = text[:max_chars] + " ..."
    return text
