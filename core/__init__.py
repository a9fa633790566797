"""lookalike: find copied images in a local reference catalog.

The flow, one layer per step::

    bytes --decode_image--> DecodedImage --Encoder--> Descriptor --Index--> candidates
          --Scorer--> PairScore --> MatchResult / gate decision

:func:`open_engine` wires an :class:`Engine` over the steps; the CLI, the HTTP service and
the benchmark all go through it. Names are imported on first use (PEP 562), so
``import lookalike`` loads no model, FAISS or OpenCV.
"""

from importlib.metadata import version as _version
from typing import TYPE_CHECKING

from ._lazy import lazy_exports

if TYPE_CHECKING:
    from .embed.base import Embedder, EmbedderInfo
    from .embed.decode import DecodedImage, decode_image
    from .embed.descriptor import Descriptor
    from .embed.encode import Encoder
    from .embed.factory import get_embedder
    from .embed.registry import MODELS
    from .engine import Engine, GateVerdict, Hit, IngestItem, IngestOutcome
    from .errors import LookalikeError
    from .factory import open_engine
    from .index.store import Index
    from .score.decision import IDENTICAL_THRESHOLD, MATCH_THRESHOLD, MatchResult
    from .score.gate import GateRule
    from .score.scorer import PairScore, Scorer

__version__ = _version("lookalike")

__all__ = [
    "IDENTICAL_THRESHOLD",
    "MATCH_THRESHOLD",
    "MODELS",
    "DecodedImage",
    "Descriptor",
    "Embedder",
    "EmbedderInfo",
    "Encoder",
    "Engine",
    "GateRule",
    "GateVerdict",
    "Hit",
    "Index",
    "IngestItem",
    "IngestOutcome",
    "LookalikeError",
    "MatchResult",
    "PairScore",
    "Scorer",
    "__version__",
    "decode_image",
    "get_embedder",
    "open_engine",
]

__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        ".embed.base": ("Embedder", "EmbedderInfo"),
        ".embed.decode": ("DecodedImage", "decode_image"),
        ".embed.descriptor": ("Descriptor",),
        ".embed.encode": ("Encoder",),
        ".embed.factory": ("get_embedder",),
        ".embed.registry": ("MODELS",),
        ".engine": ("Engine", "GateVerdict", "Hit", "IngestItem", "IngestOutcome"),
        ".errors": ("LookalikeError",),
        ".factory": ("open_engine",),
        ".index.store": ("Index",),
        ".score.decision": ("IDENTICAL_THRESHOLD", "MATCH_THRESHOLD", "MatchResult"),
        ".score.gate": ("GateRule",),
        ".score.scorer": ("PairScore", "Scorer"),
    },
)
