"""The ``lookalike`` command line. Each command lives in the module of what it drives
(:mod:`.images`, :mod:`.catalog`, :mod:`.index`, :mod:`.serve`, :mod:`.bench`); :mod:`.main`
imports only the one named on the command line, so ``lookalike --help`` loads no model,
FAISS, OpenCV or web server."""

from .main import main

__all__ = ["main"]
