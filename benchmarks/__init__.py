"""Benchmarks of lookalike: the recall suite (``lookalike bench make`` / ``lookalike bench run``:
DISC21-layout data, ISC 2021 metrics, peers side by side, calibration) and speed scripts."""
