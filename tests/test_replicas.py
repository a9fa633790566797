"""``lookalike serve`` replicas over one real Milvus server (the shared catalog): what one
ingests the other finds; a replica killed mid-ingest loses no acknowledged id; a server
restart under a running replica is a 503 ``store_unavailable`` until it is back, never a
500. The restart test stops the session's server, so it runs last here and leaves it up."""

from __future__ import annotations

import base64
import os
import signal
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from conftest import PHOTO_NAMES, jpeg_bytes
from milvus_server import LocalMilvus, free_port
from PIL import Image
from test_api_serve import LOOKALIKE, quiet_env

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def store(milvus_server: LocalMilvus) -> str:
    return f"milvus://{milvus_server.address}/replicas{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="module")
def images(photos: dict[str, Image.Image]) -> dict[str, str]:
    return {name: base64.b64encode(jpeg_bytes(photos[name])).decode() for name in PHOTO_NAMES}


@contextmanager
def replica(folder: Path, store: str) -> Iterator[tuple[str, int]]:
    """A ``lookalike serve`` process over the shared catalog, ready: its URL and pid. Its
    output goes to a file: while the server is down it logs more than a pipe holds."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    cmd = [LOOKALIKE, "serve", "--index", str(folder), "--port", str(port), "--no-auth", "--store", store]
    log = folder.with_name(f"{folder.name}.log")
    with log.open("w") as out:
        proc = subprocess.Popen(cmd, env=quiet_env(), stdout=out, stderr=subprocess.STDOUT)
    try:
        for _ in range(240):
            assert proc.poll() is None, log.read_text()[-3000:]
            try:
                if httpx.get(f"{url}/healthz", timeout=5).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.25)
        yield url, proc.pid
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                raise


def _ingest(url: str, items: dict[str, str]) -> httpx.Response:
    body = {"items": [{"id": key, "image": image} for key, image in items.items()]}
    return httpx.post(f"{url}/index/images", json=body, timeout=60)


def _search(url: str, image: str, k: int = 3) -> httpx.Response:
    return httpx.post(f"{url}/image/search", json={"image": image, "k": k}, timeout=60)


def test_what_one_replica_ingests_the_other_finds(tmp_path: Path, store: str, images: dict[str, str]) -> None:
    with replica(tmp_path / "a", store) as (a, _), replica(tmp_path / "b", store) as (b, _):
        added = _ingest(a, {"coffee": images["coffee"], "rocket": images["rocket"]})
        assert added.status_code == 200, added.text
        hits = _search(b, images["coffee"]).json()["results"]
        assert hits[0]["id"] == "coffee"
        assert httpx.get(f"{b}/index/images/rocket", timeout=30).json()["id"] == "rocket"
        assert httpx.delete(f"{b}/index/images/rocket", timeout=30).status_code == 200
        assert httpx.get(f"{a}/index/images/rocket", timeout=30).status_code == 404
        assert httpx.get(f"{a}/index/stats", timeout=30).json()["images"] == 1


def test_a_replica_killed_mid_ingest_loses_no_acknowledged_id(
    tmp_path: Path, store: str, images: dict[str, str]
) -> None:
    acknowledged: list[str] = []
    batch = dict(zip(PHOTO_NAMES, images.values(), strict=True))
    with replica(tmp_path / "survivor", store) as (survivor, _):
        with replica(tmp_path / "victim", store) as (victim, pid):
            enough = threading.Event()

            def ingest_until_killed() -> None:
                for n in range(200):
                    ids = {f"k{n}-{name}": image for name, image in batch.items()}
                    try:
                        answer = _ingest(victim, ids)
                    except httpx.HTTPError:
                        return  # the replica died with this batch in flight: not acknowledged
                    if answer.status_code != 200:
                        return
                    acknowledged.extend(ids)
                    if n >= 2:
                        enough.set()

            writer = threading.Thread(target=ingest_until_killed)
            writer.start()
            assert enough.wait(120), "the victim acknowledged fewer than three batches"
            os.kill(pid, signal.SIGKILL)
            writer.join(60)
        assert len(acknowledged) >= 3 * len(batch)
        missing = [
            key
            for key in acknowledged
            if httpx.get(f"{survivor}/index/images/{key}", timeout=30).status_code != 200
        ]
        assert missing == []


def test_a_server_restart_is_a_503_then_answers_again(
    tmp_path: Path, store: str, images: dict[str, str], milvus_server: LocalMilvus
) -> None:
    with replica(tmp_path / "c", store) as (url, _):
        assert _ingest(url, {"chelsea": images["chelsea"]}).status_code == 200
        milvus_server.stop()
        try:
            down = _search(url, images["chelsea"])
            assert down.status_code == 503, down.text
            assert down.json()["code"] == "store_unavailable" and "retry" in down.json()["message"]
            assert _ingest(url, {"late": images["coffee"]}).status_code == 503
        finally:
            milvus_server.start()
        # Back: the same replica answers without a restart of its own, the catalog intact.
        for _ in range(60):
            answer = _search(url, images["chelsea"])
            if answer.status_code == 200:
                break
            assert answer.status_code == 503, answer.text
        assert answer.status_code == 200
        assert answer.json()["results"][0]["id"] == "chelsea"
