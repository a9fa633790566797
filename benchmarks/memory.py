"""This process's memory, read from ``/proc/self/status`` (Linux): the benchmarks that run
each step in its own process report each step's peak this way."""

from __future__ import annotations

from pathlib import Path

__all__ = ["anon_rss_bytes", "peak_rss_bytes"]


def _status_bytes(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) * 1024
    raise OSError(f"no {field} in /proc/self/status")


def peak_rss_bytes() -> int:
    """This process's peak resident memory so far (VmHWM; mapped file pages count)."""
    return _status_bytes("VmHWM")


def anon_rss_bytes() -> int:
    """This process's own memory now (RssAnon: without mapped file pages, which the kernel
    can drop)."""
    return _status_bytes("RssAnon")
