"""``lookalike serve`` and :func:`serve` as people start them: a real process, its banner,
its curl line pasted into a shell, and a clean stop on Ctrl-C."""

from __future__ import annotations

import base64
import json
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from conftest import ENVELOPE_KEYS, jpeg_bytes
from lookalike.index.manifest import Manifest
from PIL import Image

LOOKALIKE = str(Path(sys.executable).with_name("lookalike"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def quiet_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOOKALIKE_")}
    return {**env, "LOOKALIKE_EMBEDDER": "fake", **extra}


@contextmanager
def running(cmd: list[str], env: dict[str, str]) -> Iterator[tuple[subprocess.Popen[str], list[str]]]:
    """Start ``cmd`` and wait for its banner (the lines up to the "try:" curl line)."""
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    banner: list[str] = []
    try:
        for line in proc.stdout:
            banner.append(line.rstrip("\n"))
            if line.lstrip().startswith("try:"):
                break
        yield proc, banner
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            proc.wait(timeout=30)


def test_serve_command_with_keys_off_warns_and_stops_cleanly(tmp_path: Path) -> None:
    port = free_port()
    index = tmp_path / "index"
    cmd = [LOOKALIKE, "serve", "--index", str(index), "--port", str(port), "--no-auth"]
    with running(cmd, quiet_env()) as (proc, banner):
        url = f"http://127.0.0.1:{port}"
        assert banner[1:3] == [f"  API:  {url}", f"  docs: {url}/docs"]
        assert "x-api-key" not in banner[3]
        assert httpx.get(f"{url}/index/stats").json()["images"] == 0
        assert "openapi" in httpx.get(f"{url}/docs").text
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=30) == 130  # the shell's code for Ctrl-C, after a clean shutdown
        assert proc.stderr is not None
        log = proc.stderr.read()
        assert "API keys are OFF" in log
        assert "Application shutdown complete" in log
    # The index was created and checkpointed on the way out.
    assert Manifest.load(index).checkpoint is not None


@pytest.mark.parametrize(
    ("options", "message"),
    [(["--index", "INDEX"], "no API keys configured"), (["--no-auth"], "no index to serve")],
)
def test_serve_refuses_to_start_misconfigured(tmp_path: Path, options: list[str], message: str) -> None:
    args = [str(tmp_path / "index") if a == "INDEX" else a for a in options]
    done = subprocess.run(
        [LOOKALIKE, "serve", *args, "--port", str(free_port())],
        env=quiet_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert message in done.stderr
    assert not (tmp_path / "index").exists()


def test_the_printed_curl_line_works_when_pasted(tmp_path: Path, photos: dict[str, Image.Image]) -> None:
    """What ``make run`` does: serve() with a generated key and two example images."""
    source, copy = tmp_path / "source image.jpg", tmp_path / "copy.jpg"
    source.write_bytes(jpeg_bytes(photos["chelsea"]))
    copy.write_bytes(jpeg_bytes(photos["chelsea"], 40))
    port = free_port()
    script = (
        "from lookalike.api.serve import serve; "
        f"serve({str(tmp_path / 'index')!r}, '127.0.0.1', {port}, api_key='demo-key-123', "
        f"example_images=({str(source)!r}, {str(copy)!r}))"
    )
    with running([sys.executable, "-c", script], quiet_env()) as (_, banner):
        curl_line = banner[-1].split("try:", 1)[1].strip()
        assert "x-api-key: demo-key-123" in curl_line
        pasted = subprocess.run(["bash", "-c", curl_line], capture_output=True, text=True, timeout=60)
    body = json.loads(pasted.stdout)
    assert list(body) == ENVELOPE_KEYS
    assert body["match"] is True


@pytest.mark.parametrize("key_variable", [True, False])
def test_curl_line_reads_the_key_from_the_shell(key_variable: bool) -> None:
    from lookalike.api.serve import curl_example

    line = curl_example("http://127.0.0.1:8000", key_variable="LOOKALIKE_API_KEY" if key_variable else None)
    expanded = subprocess.run(
        ["bash", "-c", f"printf '%s\\n' {line.removeprefix('curl ')}"],
        env={**os.environ, "LOOKALIKE_API_KEY": "from-the-shell"},
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    assert ("x-api-key: from-the-shell" in expanded) is key_variable
    assert json.loads(expanded[-1])["source_url"] == "https://example.com/a.jpg"


@pytest.mark.parametrize("via", ["flag", "env"])
def test_serve_keeps_vectors_in_milvus_when_asked(
    tmp_path: Path, photos: dict[str, Image.Image], via: str
) -> None:
    port = free_port()
    index = tmp_path / "index"
    uri = f"milvus://{tmp_path / 'vectors.db'}"
    cmd = [LOOKALIKE, "serve", "--index", str(index), "--port", str(port), "--no-auth"]
    env = quiet_env()
    if via == "flag":
        cmd += ["--store", uri]
    else:
        env["LOOKALIKE_STORE"] = uri
    with running(cmd, env):
        url = f"http://127.0.0.1:{port}"
        image = base64.b64encode(jpeg_bytes(photos["coffee"])).decode()
        added = httpx.post(
            f"{url}/index/images", json={"items": [{"id": "coffee", "image": image}]}, timeout=60
        )
        assert added.status_code == 200, added.text
        hits = httpx.post(f"{url}/image/search", json={"image": image, "k": 1}, timeout=60).json()["results"]
        assert [h["id"] for h in hits] == ["coffee"]
    assert Manifest.load(index).store == uri
