"""Pin the public surface: a change here is a change users see."""

from __future__ import annotations

import importlib.metadata
import subprocess
import sys

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
    assert {"embed", "score", "index", "api", "benchmarks", "cli"} <= installed


HEAVY = ("faiss", "cv2", "onnxruntime", "torch", "uvicorn", "fastapi")


def _loaded_after(code: str) -> set[str]:
    """Which heavy libraries a fresh interpreter has imported after running ``code``."""
    probe = f"{code}\nimport sys\nprint(' '.join(m for m in {HEAVY!r} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    return set(out.splitlines()[-1].split())  # the last line; any help text comes before it


def test_import_lookalike_is_light() -> None:
    assert _loaded_after("import lookalike") == set()
    assert (
        _loaded_after("import lookalike.score.decision, lookalike.score.gate, lookalike.embed.registry")
        == set()
    )


def test_help_loads_no_model_index_or_server() -> None:
    code = "from lookalike.cli import main\ntry:\n    main(['--help'])\nexcept SystemExit:\n    pass"
    assert _loaded_after(code) == set()
    # A command's own help loads only that command's module: info needs FAISS, not a model.
    code = "from lookalike.cli import main\ntry:\n    main(['info', '--help'])\nexcept SystemExit:\n    pass"
    assert _loaded_after(code) == {"faiss"}


def test_lazy_exports_resolve_to_their_modules() -> None:
    from lookalike.engine import Engine
    from lookalike.score.scorer import Scorer

    assert lookalike.Engine is Engine and lookalike.Scorer is Scorer
    assert "open_engine" in dir(lookalike)
