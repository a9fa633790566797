"""The playground over a real server, without a browser: the page and its files, keyless
tokens (what they open, for whom, for how long), thumbnails, and the banner line.

The browser itself is in test_playground_browser.py."""

from __future__ import annotations

import base64
import io
import re
import signal
import subprocess
from collections.abc import Iterator
from html.parser import HTMLParser
from importlib.resources import files
from pathlib import Path

import httpx
import pytest
from conftest import jpeg_bytes
from lookalike.api.app import create_app
from lookalike.api.playground import Playground, RateLimiter
from lookalike.api.settings import Settings
from lookalike.benchmarks.server import BackgroundServer
from lookalike.errors import RateLimitedError
from PIL import Image

KEY = "playground-test-key"


def settings_for(folder: Path, **options: object) -> Settings:
    base: dict[str, object] = {"index": folder / "index", "embedder": "fake", "api_keys": KEY}
    return Settings(**{**base, **options})  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def url(tmp_path_factory: pytest.TempPathFactory, photos: dict[str, Image.Image]) -> Iterator[str]:
    settings = settings_for(tmp_path_factory.mktemp("pg"), playground_rate_per_minute=1000)
    with BackgroundServer(create_app(settings)) as server:
        items = [
            {
                "id": f"{name}.jpg",
                "image": base64.b64encode(jpeg_bytes(photos[name])).decode(),
                "metadata": {"n": i},
            }
            for i, name in enumerate(("coffee", "chelsea", "rocket"))
        ]
        added = httpx.post(
            f"{server.url}/index/images", json={"items": items}, headers={"x-api-key": KEY}, timeout=60
        )
        assert added.json()["ingested"] == 3, added.text
        yield server.url


def origin_of(url: str) -> dict[str, str]:
    return {"origin": url}


def mint(url: str, **headers: str) -> httpx.Response:
    return httpx.post(f"{url}/playground/token", headers={**origin_of(url), **headers})


def token_for(url: str) -> str:
    body = mint(url).json()
    assert body["mode"] == "token", body
    assert body["routes"] == ["/image/match", "/image/search", "/feedback"]
    assert body["header"] == "x-playground-token"
    token: str = body["token"]
    return token


# -- the page ---------------------------------------------------------------------------


class _Page(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))


def test_the_page_ships_in_the_package_and_loads_nothing_from_elsewhere(url: str) -> None:
    for name in ("index.html", "playground.css", "playground.js"):
        assert (files("lookalike.api") / "playground-page" / name).is_file()
    page = httpx.get(f"{url}/playground")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    csp = page.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "connect-src 'self'" in csp and "frame-ancestors 'none'" in csp
    parsed = _Page()
    parsed.feed(page.text)
    for tag, attrs in parsed.tags:
        for attr in ("src", "href"):
            ref = attrs.get(attr) or ""
            assert not re.match(r"^(https?:)?//", ref), (tag, ref)  # no CDN, works offline
    for asset, kind in (("playground.css", "text/css"), ("playground.js", "text/javascript")):
        response = httpx.get(f"{url}/playground/assets/{asset}")
        assert response.status_code == 200 and response.headers["content-type"].startswith(kind)
        assert response.headers["x-content-type-options"] == "nosniff"
    assert httpx.get(f"{url}/playground/assets/..%2Fapp.py").status_code == 404
    assert httpx.get(f"{url}/playground/assets/secret.txt").json()["code"] == "not_found"


def test_the_page_has_the_stable_hooks_and_labels(url: str) -> None:
    parsed = _Page()
    parsed.feed(httpx.get(f"{url}/playground").text)
    by_testid = {attrs["data-testid"]: (tag, attrs) for tag, attrs in parsed.tags if attrs.get("data-testid")}
    for hook in ("source-input", "target-input", "search-input"):
        assert by_testid[hook][0] == "input" and by_testid[hook][1]["type"] == "file"
    for hook in ("source-url", "target-url"):
        assert by_testid[hook][1]["type"] == "url"
    for hook in ("compare", "result", "search-results"):
        assert hook in by_testid
    # Every input and select has a label (for=id).
    labelled = {attrs["for"] for tag, attrs in parsed.tags if tag == "label" and attrs.get("for")}
    for tag, attrs in parsed.tags:
        if tag in ("input", "select"):
            assert attrs.get("id") in labelled, attrs
    # Results are announced.
    assert sum(1 for _, attrs in parsed.tags if attrs.get("aria-live") == "polite") >= 2
    assert any(tag == "html" and attrs.get("lang") for tag, attrs in parsed.tags)


# -- tokens -----------------------------------------------------------------------------


def test_a_token_opens_match_and_search_only(url: str, photos: dict[str, Image.Image]) -> None:
    token = token_for(url)
    headers = {"x-playground-token": token, **origin_of(url)}
    image = jpeg_bytes(photos["coffee"])
    match = httpx.post(
        f"{url}/image/match",
        files={"source_image": ("a.jpg", image), "target_image": ("b.jpg", image)},
        headers=headers,
        timeout=60,
    )
    assert (match.status_code, match.json()["match"]) == (200, True)
    search = httpx.post(
        f"{url}/image/search", files={"image": ("q.jpg", image)}, data={"k": "2"}, headers=headers, timeout=60
    )
    assert search.status_code == 200 and search.json()["results"][0]["id"] == "coffee.jpg"
    for method, path in [
        ("GET", "/index/stats"),
        ("GET", "/index/images/coffee.jpg"),
        ("GET", "/index/images/coffee.jpg/thumbnail"),
        ("DELETE", "/index/images/coffee.jpg"),
        ("POST", "/index/images"),
        ("POST", "/listings/gate"),
        ("GET", "/metrics"),
    ]:
        response = httpx.request(method, f"{url}{path}", headers=headers, json={})
        assert (response.status_code, response.json()["code"]) == (403, "forbidden"), (path, response.text)
    # Nothing was deleted.
    assert httpx.get(f"{url}/index/stats", headers={"x-api-key": KEY}).json()["images"] == 3


def test_a_token_records_a_verdict_on_this_machine_only(
    url: str, tmp_path: Path, photos: dict[str, Image.Image]
) -> None:
    """The page's review buttons: POST /feedback with the token, on the server's machine."""
    headers = {"x-playground-token": token_for(url), **origin_of(url)}
    verdict = {"reference_id": "rocket.jpg", "verdict": "not_a_match"}
    image = {"image": ("q.jpg", jpeg_bytes(photos["rocket"]))}
    recorded = httpx.post(f"{url}/feedback", files=image, data=verdict, headers=headers, timeout=60)
    assert recorded.status_code == 200, recorded.text
    try:
        # Listing and undoing verdicts still need a key.
        for method, path in [("GET", "/feedback"), ("DELETE", f"/feedback/{recorded.json()['id']}")]:
            response = httpx.request(method, f"{url}{path}", headers=headers)
            assert (response.status_code, response.json()["code"]) == (403, "forbidden"), path
    finally:
        undo = httpx.delete(f"{url}/feedback/{recorded.json()['id']}", headers={"x-api-key": KEY})
        assert undo.json()["deleted"] is True
    # A playground open to anyone does not record verdicts: a seller could dismiss a match.
    with BackgroundServer(create_app(settings_for(tmp_path, playground="open"))) as server:
        body = mint(server.url).json()
        assert body["routes"] == ["/image/match", "/image/search"]
        opened = {"x-playground-token": body["token"], **origin_of(server.url)}
        refused = httpx.post(f"{server.url}/feedback", files=image, data=verdict, headers=opened)
        assert (refused.status_code, refused.json()["code"]) == (403, "forbidden")
        assert "does not record verdicts" in refused.json()["message"]


def test_a_token_is_bound_to_the_page_origin_and_signed(url: str) -> None:
    token = token_for(url)
    body = {"image_url": "https://example.com/a.jpg"}
    cases = {
        "no origin": ({"x-playground-token": token}, 403, "forbidden"),
        "other origin": ({"x-playground-token": token, "origin": "http://evil.example"}, 403, "forbidden"),
        "tampered": ({"x-playground-token": token[:-2] + "AA", **origin_of(url)}, 401, "invalid_api_key"),
        "not a token": ({"x-playground-token": "hello", **origin_of(url)}, 401, "invalid_api_key"),
    }
    for case, (headers, status, code) in cases.items():
        response = httpx.post(f"{url}/image/search", json=body, headers=headers)
        assert (response.status_code, response.json()["code"]) == (status, code), case
    # A token as an API key is just a wrong key.
    as_key = httpx.post(f"{url}/image/search", json=body, headers={"x-api-key": token})
    assert as_key.json()["code"] == "invalid_api_key"


def test_tokens_go_only_to_the_page_on_this_machine(url: str) -> None:
    cases = {
        # Another page's script (its Origin is not this server).
        "cross-site": {"origin": "http://evil.example"},
        # DNS rebinding: a foreign name that resolves here (Host and Origin agree, not loopback).
        "rebinding": {"host": "evil.example:80", "origin": "http://evil.example:80"},
        # A reverse proxy on this machine forwarding the network.
        "proxied": {**origin_of(url), "x-forwarded-for": "203.0.113.9"},
    }
    for case, headers in cases.items():
        response = httpx.post(f"{url}/playground/token", headers=headers)
        body = response.json()
        assert "token" not in body, case
        assert (response.status_code, body.get("mode") or body["code"]) in {
            (200, "key"),
            (403, "forbidden"),
        }, case
    assert mint(url, **{"x-forwarded-for": "203.0.113.9"}).json()["mode"] == "key"
    # A token minted here and replayed through a proxy is refused too.
    token = token_for(url)
    replay = httpx.post(
        f"{url}/image/search",
        json={"image_url": "https://example.com/a.jpg"},
        headers={"x-playground-token": token, **origin_of(url), "x-forwarded-for": "203.0.113.9"},
    )
    assert replay.status_code == 403


def test_url_mode_goes_through_the_url_guard(url: str) -> None:
    headers = {"x-playground-token": token_for(url), **origin_of(url)}
    response = httpx.post(
        f"{url}/image/match",
        json={"source_url": f"{url}/healthz", "target_url": "http://169.254.169.254/latest/meta-data"},
        headers=headers,
    )
    assert (response.status_code, response.json()["code"]) == (400, "unsafe_url")


class _Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


class _Request:
    """What Playground reads of a request."""

    def __init__(self, client: str, **headers: str) -> None:
        self.client = type("Client", (), {"host": client})()
        self.headers = {k.lower(): v for k, v in headers.items()}


@pytest.mark.parametrize(
    ("mode", "client", "host", "keyless"),
    [
        ("loopback", "127.0.0.1", "127.0.0.1:8000", True),
        ("loopback", "::1", "[::1]:8000", True),
        ("loopback", "127.0.0.1", "localhost:8000", True),
        ("loopback", "192.168.1.20", "192.168.1.5:8000", False),
        ("loopback", "127.0.0.1", "myhost.example:8000", False),
        ("open", "192.168.1.20", "192.168.1.5:8000", True),
        ("key", "127.0.0.1", "127.0.0.1:8000", False),
    ],
)
def test_who_goes_without_a_key(tmp_path: Path, mode: str, client: str, host: str, keyless: bool) -> None:
    playground = Playground(settings_for(tmp_path, playground=mode))
    request = _Request(client, host=host, origin=f"http://{host}")
    assert (playground.keyless_refusal(request) is None) is keyless  # type: ignore[arg-type]


def test_tokens_expire_and_die_with_the_process(tmp_path: Path) -> None:
    clock = _Clock()
    settings = settings_for(tmp_path, playground_token_ttl_s=60)
    playground = Playground(settings, clock=clock)
    request = _Request("127.0.0.1", host="127.0.0.1:8000", origin="http://127.0.0.1:8000")
    token, ttl = playground.issue(request)  # type: ignore[arg-type]
    assert ttl == 60
    playground.check(token, request)  # type: ignore[arg-type]
    clock.now += 61
    with pytest.raises(Exception, match="expired") as expired:
        playground.check(token, request)  # type: ignore[arg-type]
    assert getattr(expired.value, "code", None) == "token_expired"
    # Another process (a restart) has another secret.
    with pytest.raises(Exception, match="invalid playground token"):
        Playground(settings, clock=_Clock()).check(token, request)  # type: ignore[arg-type]


def test_the_rate_limit_is_per_client_and_recovers() -> None:
    clock = _Clock()
    limiter = RateLimiter(3, clock=clock)
    for _ in range(3):
        limiter.hit("a")
    with pytest.raises(RateLimitedError, match="at most 3 a minute"):
        limiter.hit("a")
    limiter.hit("b")  # another client is not held back
    clock.now += 60
    limiter.hit("a")


def test_the_server_answers_429_past_the_rate(tmp_path: Path, photos: dict[str, Image.Image]) -> None:
    settings = settings_for(tmp_path, playground_rate_per_minute=3)
    with BackgroundServer(create_app(settings)) as server:
        token = token_for(server.url)  # the first of three
        headers = {"x-playground-token": token, **origin_of(server.url)}
        body = {"image": base64.b64encode(jpeg_bytes(photos["coffee"].resize((64, 48)))).decode(), "k": 1}
        answers = [httpx.post(f"{server.url}/image/search", json=body, headers=headers) for _ in range(3)]
        assert [a.status_code for a in answers] == [200, 200, 429]
        assert "at most 3 a minute" in answers[-1].json()["message"]
        # A key is not rate limited.
        keyed = httpx.post(f"{server.url}/image/search", json=body, headers={"x-api-key": KEY})
        assert keyed.status_code != 429


@pytest.mark.parametrize("mode", ["key", "off"])
def test_key_mode_and_off(tmp_path: Path, mode: str) -> None:
    with BackgroundServer(create_app(settings_for(tmp_path, playground=mode))) as server:
        if mode == "off":
            assert httpx.get(f"{server.url}/playground").status_code == 404
            return
        assert httpx.get(f"{server.url}/playground").status_code == 200
        body = mint(server.url).json()
        assert body["mode"] == "key" and "LOOKALIKE_PLAYGROUND=key" in body["reason"]


def test_keys_off_needs_neither_key_nor_token(tmp_path: Path) -> None:
    with BackgroundServer(create_app(settings_for(tmp_path, auth_disabled=True, api_keys=""))) as server:
        assert mint(server.url).json()["mode"] == "none"


# -- thumbnails -------------------------------------------------------------------------


def test_every_reference_gets_a_thumbnail(url: str) -> None:
    response = httpx.get(f"{url}/index/images/chelsea.jpg/thumbnail", headers={"x-api-key": KEY})
    assert response.status_code == 200 and response.headers["content-type"] == "image/jpeg"
    with Image.open(io.BytesIO(response.content)) as im:
        assert im.format == "JPEG" and max(im.size) == 256
    # The record route still answers for the same id.
    record = httpx.get(f"{url}/index/images/chelsea.jpg", headers={"x-api-key": KEY}).json()
    assert record["id"] == "chelsea.jpg"
    missing = httpx.get(f"{url}/index/images/nope.jpg/thumbnail", headers={"x-api-key": KEY})
    assert (missing.status_code, missing.json()["code"]) == (404, "not_found")
    assert httpx.get(f"{url}/index/images/chelsea.jpg/thumbnail").json()["code"] == "missing_api_key"


def test_search_can_carry_thumbnails(url: str, photos: dict[str, Image.Image]) -> None:
    image = base64.b64encode(jpeg_bytes(photos["rocket"])).decode()
    plain = httpx.post(
        f"{url}/image/search", json={"image": image, "k": 2}, headers={"x-api-key": KEY}
    ).json()
    assert all("thumbnail" not in hit for hit in plain["results"])
    rich = httpx.post(
        f"{url}/image/search", json={"image": image, "k": 2, "thumbnails": True}, headers={"x-api-key": KEY}
    ).json()
    first = rich["results"][0]
    assert first["id"] == "rocket.jpg"
    assert first["thumbnail"].startswith("data:image/jpeg;base64,")
    with Image.open(io.BytesIO(base64.b64decode(first["thumbnail"].split(",", 1)[1]))) as im:
        assert max(im.size) == 256


def test_the_banner_prints_the_playground_next_to_the_curl_line(tmp_path: Path) -> None:
    from test_api_serve import LOOKALIKE, free_port, quiet_env

    port = free_port()
    cmd = [LOOKALIKE, "serve", "--index", str(tmp_path / "index"), "--port", str(port), "--no-auth"]
    proc = subprocess.Popen(
        cmd, env=quiet_env(), stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
    )
    try:
        assert proc.stdout is not None
        lines = [proc.stdout.readline().rstrip("\n") for _ in range(5)]
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=30)
    assert lines[3].lstrip().startswith("try:")
    assert (
        lines[4]
        == f"  playground: http://127.0.0.1:{port}/playground (no key needed in a browser on this machine)"
    )
