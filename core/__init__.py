"""lookalike: find copied images in a local reference catalog.

The flow, one module per step::

    bytes --decode_image--> DecodedImage --Encoder--> Descriptor --Index--> candidates
          --Scorer--> PairScore --> MatchResult / decision

:class:`Engine` strings the steps together; the CLI, the HTTP service and the benchmark
all go through it.
"""

from importlib.metadata import version as _version

from .embed.base import Embedder, EmbedderInfo
from .embed.decode import DecodedImage, decode_image
from .embed.encode import Descriptor, Encoder
from .embed.registry import MODELS, get_embedder
from .engine import Engine, Hit, IngestItem, IngestOutcome
from .errors import LookalikeError
from .index.store import Index
from .score import IDENTICAL_THRESHOLD, MATCH_THRESHOLD, MatchResult, PairScore, Scorer

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
]
