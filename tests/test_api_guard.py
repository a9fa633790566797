"""The URL guard behind every route that takes an image URL, over a real server with
private networks off (the default). The server's fetcher resolves names in memory and
routes one public address to a loopback server, so the checks run as in production
without any traffic leaving this machine."""

from __future__ import annotations

import base64
import io
import urllib.parse
from collections.abc import Iterator

import httpx
import pytest
from lookalike.api.app import create_app
from lookalike.api.fetch import Fetcher
from lookalike.api.settings import Settings
from lookalike.benchmarks.server import BackgroundServer
from PIL import Image
from test_fetch import PUBLIC_IP, RESOLVER_TABLE, FakeResolver, Origin, Recorder, hostile_urls

KEY = "guard-test-key"


class Guarded:
    def __init__(self, client: httpx.Client, public: Origin, target: Origin, target6: Origin) -> None:
        self.client = client
        self.public = public  # what images.example (PUBLIC_IP) reaches
        self.target = target  # a loopback server that must never be reached
        self.target6 = target6
        self.transport = Recorder({PUBLIC_IP: public})


@pytest.fixture(scope="module")
def guarded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Guarded]:
    public, target, target6 = Origin(), Origin(), Origin("::1")
    settings = Settings(index=tmp_path_factory.mktemp("guard") / "index", embedder="fake", api_keys=KEY)
    assert settings.allow_private_networks is False
    with httpx.Client(headers={"x-api-key": KEY}) as client:
        state = Guarded(client, public, target, target6)
        fetcher = Fetcher(resolver=FakeResolver(RESOLVER_TABLE), transport=state.transport)
        with BackgroundServer(create_app(settings, fetcher=fetcher)) as server:
            client.base_url = httpx.URL(server.url)
            yield state
    for origin in (public, target, target6):
        origin.close()


def image_b64() -> str:
    buf = io.BytesIO()
    Image.new("RGB", (40, 30), (10, 120, 200)).save(buf, "PNG")
    return base64.b64encode(buf.getvalue()).decode()


def test_hostile_urls_are_refused_on_every_route(guarded: Guarded) -> None:
    urls = hostile_urls(guarded.target.port, guarded.target6.port)
    inline = image_b64()
    for url in urls:
        requests = {
            "/image/match": {"source_url": url, "target_image": inline},
            "/image/search": {"image_url": url},
            "/listings/gate": {"image_url": url},
        }
        for path, body in requests.items():
            response = guarded.client.post(path, json=body)
            assert (response.status_code, response.json()["code"]) == (400, "unsafe_url"), (path, url)
        ingest = guarded.client.post("/index/images", json={"items": [{"id": "x", "image_url": url}]}).json()
        assert ingest["results"][0]["error"]["code"] == "unsafe_url", url
    assert guarded.target.connections == guarded.target6.connections == 0
    assert guarded.transport.requests == []


def test_a_public_url_that_redirects_to_loopback_is_refused(guarded: Guarded) -> None:
    to = urllib.parse.quote(f"http://127.0.0.1:{guarded.target.port}/img.jpg", safe="")
    before = len(guarded.transport.requests)
    response = guarded.client.post(
        "/image/search", json={"image_url": f"http://images.example/redirect?to={to}"}
    )
    assert (response.status_code, response.json()["code"]) == (400, "unsafe_url")
    assert [r.url.host for r in guarded.transport.requests[before:]] == [PUBLIC_IP]
    assert guarded.target.connections == 0


def test_a_public_url_is_fetched(guarded: Guarded) -> None:
    response = guarded.client.post(
        "/image/match",
        json={"source_url": "http://images.example/img.jpg", "target_url": "http://images.example/img.jpg"},
    )
    assert response.status_code == 200, response.text
    assert response.json()["similarity_score"] == 1.0
    assert guarded.public.hosts[-2:] == ["images.example", "images.example"]
