"""Pin the public surface: a change here is a change users see."""

from __future__ import annotations

import importlib.metadata

import lookalike
from lookalike import errors


def test_public_names() -> None:
    assert sorted(lookalike.__all__) == sorted(
        [
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
    )
    for name in lookalike.__all__:
        assert getattr(lookalike, name) is not None


def test_every_error_derives_from_the_base_and_is_in_the_tree() -> None:
    doc = errors.__doc__ or ""
    for name in errors.__all__:
        cls = getattr(errors, name)
        assert issubclass(cls, errors.LookalikeError)
        assert f"{name} " in doc, f"{name} is missing from the tree drawn in errors.py"
        assert isinstance(cls.code, str) and 400 <= cls.http_status < 600


def test_only_the_lookalike_name_is_installed() -> None:
    files = importlib.metadata.files("lookalike") or []
    tops = {f.parts[0] for f in files if f.parts[0] not in ("..",) and not f.parts[0].endswith(".dist-info")}
    assert tops == {"lookalike"}, tops
    installed = {f.parts[1] for f in files if f.parts[0] == "lookalike" and len(f.parts) > 2}
    assert {"embed", "index"} <= installed
