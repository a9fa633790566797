"""API keys over a real server: missing, wrong and right keys on every route, keys from a
file of hashes, keys kept out of logs and messages, and the explicit no-auth demo mode."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from lookalike.api.app import create_app
from lookalike.api.auth import KeyStore
from lookalike.api.settings import Settings
from lookalike.benchmarks.server import BackgroundServer
from lookalike.errors import ConfigError

PLAIN_KEYS = ("plain-key-one", "plain-key-two")
FILE_KEY = "file-key-only-its-hash-is-stored"
WRONG_KEY = "wrong-key-SECRET-4e1d"
PROTECTED = [
    ("POST", "/image/match"),
    ("POST", "/image/search"),
    ("POST", "/listings/gate"),
    ("POST", "/index/images"),
    ("GET", "/index/images/some-id"),
    ("DELETE", "/index/images/some-id"),
    ("GET", "/index/stats"),
    ("GET", "/metrics"),
]


def settings_for(folder: Path, **options: object) -> Settings:
    return Settings(index=folder / "index", embedder="fake", **options)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    folder = tmp_path_factory.mktemp("auth")
    key_file = folder / "keys.sha256"
    digest = hashlib.sha256(FILE_KEY.encode()).hexdigest()
    key_file.write_text(f"# issued to the catalog team\nsha256:{digest}\n\n")
    settings = settings_for(folder, api_keys=",".join(PLAIN_KEYS), api_keys_file=key_file)
    with BackgroundServer(create_app(settings)) as server:
        yield server.url


def test_healthz_needs_no_key(url: str) -> None:
    response = httpx.get(f"{url}/healthz")
    assert (response.status_code, response.json()) == (200, {"status": "ok"})


@pytest.mark.parametrize(("method", "path"), PROTECTED)
def test_a_missing_or_wrong_key_is_refused(url: str, method: str, path: str) -> None:
    cases = {
        "missing_api_key": {},
        "invalid_api_key": {"x-api-key": WRONG_KEY},
    }
    for code, headers in cases.items():
        response = httpx.request(method, f"{url}{path}", headers=headers, json={})
        assert (response.status_code, response.json()["code"]) == (401, code)
        assert response.headers["www-authenticate"] == "Bearer"
    wrong_bearer = httpx.request(method, f"{url}{path}", headers={"authorization": f"Bearer {WRONG_KEY}"})
    assert wrong_bearer.json()["code"] == "invalid_api_key"
    basic = httpx.request(method, f"{url}{path}", headers={"authorization": "Basic dXNlcjpwYXNz"})
    assert basic.json()["code"] == "missing_api_key"


@pytest.mark.parametrize(("method", "path"), PROTECTED)
def test_every_configured_key_is_accepted(url: str, method: str, path: str) -> None:
    for headers in (
        {"x-api-key": PLAIN_KEYS[0]},
        {"authorization": f"Bearer {PLAIN_KEYS[1]}"},
        {"x-api-key": FILE_KEY},
    ):
        response = httpx.request(method, f"{url}{path}", headers=headers, json={})
        # Past the key check each route answers on its own terms (200, 404 or 422).
        assert response.status_code in (200, 404, 422), (headers, response.text)


def test_keys_never_reach_logs_or_messages(url: str, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    bodies = []
    for key in (WRONG_KEY, PLAIN_KEYS[0]):
        for headers in ({"x-api-key": key}, {"authorization": f"Bearer {key}"}):
            bodies.append(httpx.get(f"{url}/index/stats", headers=headers).text)
            bodies.append(httpx.post(f"{url}/image/match", headers=headers, content=b"{broken").text)
    assert "/index/stats" in caplog.text  # the server's access log was captured
    for key in (WRONG_KEY, PLAIN_KEYS[0]):
        assert key not in caplog.text
        assert not any(key in body for body in bodies)


def test_a_key_file_must_hold_hashes(tmp_path: Path) -> None:
    key_file = tmp_path / "keys"
    key_file.write_text("a-plain-key-pasted-by-mistake\n")
    with pytest.raises(ConfigError, match=r"keys:1: not a SHA-256") as caught:
        KeyStore.from_settings(settings_for(tmp_path, api_keys_file=key_file))
    assert "pasted" not in str(caught.value)


def test_no_keys_means_no_service(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no API keys configured"):
        create_app(settings_for(tmp_path, api_keys=""))


def test_keys_off_must_be_asked_for_and_warns(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="lookalike.api"):
        app = create_app(settings_for(tmp_path, auth_disabled=True))
    assert "API keys are OFF" in caplog.text
    with BackgroundServer(app) as server:
        assert httpx.get(f"{server.url}/index/stats").status_code == 200


def test_metrics_can_be_made_public(tmp_path: Path) -> None:
    app = create_app(settings_for(tmp_path, api_keys="k", metrics_public=True))
    with BackgroundServer(app) as server:
        assert httpx.get(f"{server.url}/metrics").status_code == 200
        assert httpx.get(f"{server.url}/index/stats").status_code == 401


def test_openapi_documents_every_body_with_examples(url: str) -> None:
    schema = httpx.get(f"{url}/openapi.json").json()
    components = schema["components"]["schemas"]
    documented = 0
    for path, methods in schema["paths"].items():
        for method, operation in methods.items():
            refs = []
            body = operation.get("requestBody")
            if body is not None:
                assert set(body["content"]) == {"application/json", "multipart/form-data"}, path
                refs.append(body["content"]["application/json"]["schema"]["$ref"])
            ok = operation["responses"]["200"]["content"]
            if path == "/metrics":
                assert list(ok) == ["text/plain"]
            if "application/json" in ok:
                refs.append(ok["application/json"]["schema"]["$ref"])
            for ref in refs:
                assert components[ref.rsplit("/", 1)[1]].get("examples"), (method, path, ref)
                documented += 1
            if path != "/healthz":
                assert {"APIKeyHeader": []} in operation["security"], (method, path)
    # 12 image routes + /video/match (request and answer) + the review routes: /listings/clusters
    # (2), POST /feedback (2), GET /feedback, DELETE /feedback/{id}, PATCH /index/images/{id} (2)
    assert documented == 22


def test_settings_come_from_lookalike_variables(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("LOOKALIKE_API_KEYS", " key-a, key-b ,,")
    monkeypatch.setenv("LOOKALIKE_ALLOW_PRIVATE_NETWORKS", "true")
    monkeypatch.setenv("LOOKALIKE_MAX_IMAGE_BYTES", "1048576")
    monkeypatch.setenv("LOOKALIKE_INDEX", str(tmp_path))
    settings = Settings()
    assert [k.get_secret_value() for k in settings.api_keys] == ["key-a", "key-b"]
    assert "key-a" not in repr(settings)
    assert settings.allow_private_networks is True
    assert settings.max_image_bytes == 1024 * 1024
    assert settings.index == tmp_path
    KeyStore.from_settings(settings).check("key-b")
