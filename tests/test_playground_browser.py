"""The playground page in a real browser (Playwright, Debian's Chromium) against a real
``lookalike serve`` process with the SSCD model, on scikit-image's photos.

Skipped, with the reason, where Playwright or Chromium is missing (``make test`` installs
both on Debian). Screenshots are written to each test's tmp dir, and also to
``$LOOKALIKE_SCREENSHOTS`` when that is set (a folder, created if needed).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import ENVELOPE_KEYS
from lookalike.demo import edited_copy
from PIL import Image

sync_api = pytest.importorskip("playwright.sync_api", reason="Playwright for Python is not installed")


def _chromium() -> str | None:
    candidates = [os.environ.get("LOOKALIKE_CHROMIUM", ""), "/usr/bin/chromium"]
    candidates += [shutil.which(name) or "" for name in ("chromium", "chromium-browser", "google-chrome")]
    return next((c for c in candidates if c and os.access(c, os.X_OK)), None)


CHROMIUM = _chromium()
if CHROMIUM is None:
    pytest.skip(
        "Chromium not found (apt-get install chromium, or set LOOKALIKE_CHROMIUM to a Chromium binary)",
        allow_module_level=True,
    )

LOOKALIKE = str(Path(sys.executable).with_name("lookalike"))
KEY = "browser-test-key"
TIMEOUT_MS = 60_000
pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class Server:
    def __init__(self, index: Path, embedder: str, **env: str) -> None:
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        clean = {k: v for k, v in os.environ.items() if not k.startswith("LOOKALIKE_")}
        clean.update(LOOKALIKE_API_KEYS=KEY, LOOKALIKE_EMBEDDER=embedder, LOOKALIKE_THREADS="2", **env)
        cmd = [LOOKALIKE, "serve", "--index", str(index), "--port", str(self.port)]
        self.proc = subprocess.Popen(
            cmd, env=clean, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        assert self.proc.stdout is not None
        self.banner: list[str] = []
        for line in self.proc.stdout:
            self.banner.append(line.rstrip("\n"))
            if "playground:" in line:
                break
        if self.proc.poll() is not None:
            raise RuntimeError(
                f"lookalike serve did not start: {self.proc.stderr.read() if self.proc.stderr else ''}"
            )

    def ingest(self, folder: Path) -> None:
        files = sorted(folder.glob("*.jpg"))
        items = [
            {"id": f.name, "upload": f"f{i}", "metadata": {"sku": f"SKU-{i}"}} for i, f in enumerate(files)
        ]
        parts = {f"f{i}": (f.name, f.read_bytes(), "image/jpeg") for i, f in enumerate(files)}
        answer = httpx.post(
            f"{self.url}/index/images",
            data={"items": json.dumps(items)},
            files=parts,
            headers={"x-api-key": KEY},
            timeout=300,
        )
        assert answer.status_code == 200 and answer.json()["failed"] == 0, answer.text

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, photo_dir: Path) -> Iterator[Server]:
    running = Server(tmp_path_factory.mktemp("pg-index") / "index", "sscd")
    try:
        running.ingest(photo_dir)
        yield running
    finally:
        running.stop()


@pytest.fixture(scope="module")
def files(
    tmp_path_factory: pytest.TempPathFactory, photo_dir: Path, photos: dict[str, Image.Image]
) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("uploads")
    out = {
        "chelsea": photo_dir / "chelsea.jpg",
        "coffee": photo_dir / "coffee.jpg",
        "rocket": photo_dir / "rocket.jpg",
        "notes": folder / "notes.jpg",
        "edited": folder / "chelsea-listing.jpg",
    }
    out["edited"].write_bytes(edited_copy(photo_dir / "chelsea.jpg"))
    out["notes"].write_text("this is not an image, whatever its name says\n")
    return out


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with sync_api.sync_playwright() as p:
        launched = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            yield launched
        finally:
            launched.close()


class Console:
    """The page's console errors and uncaught exceptions; a test may allow some messages."""

    def __init__(self, page: Any) -> None:
        self.errors: list[str] = []
        self.allowed: list[str] = []
        page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: self.errors.append(f"uncaught: {e}"))

    def unexpected(self) -> list[str]:
        return [e for e in self.errors if not any(a in e for a in self.allowed)]


@pytest.fixture
def shots(tmp_path: Path) -> Iterator[Any]:
    extra = os.environ.get("LOOKALIKE_SCREENSHOTS")

    def shot(page: Any, name: str, full_page: bool = True) -> Path:
        path = tmp_path / f"{name}.png"
        page.screenshot(path=str(path), full_page=full_page)
        if extra:
            Path(extra).mkdir(parents=True, exist_ok=True)
            shutil.copy(path, Path(extra) / path.name)
        return path

    yield shot


def open_page(browser: Any, url: str, width: int = 1200, height: int = 900) -> tuple[Any, Any, Console]:
    context = browser.new_context(viewport={"width": width, "height": height})
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    console = Console(page)
    page.goto(f"{url}/playground")
    sync_api.expect(page.get_by_test_id("access-status")).not_to_contain_text("Checking", timeout=TIMEOUT_MS)
    return context, page, console


@pytest.fixture
def page(browser: Any, server: Server) -> Iterator[tuple[Any, Console]]:
    context, opened, console = open_page(browser, server.url)
    try:
        yield opened, console
        assert console.unexpected() == []
    finally:
        context.close()


def compare(page: Any, source: Path | str, target: Path | str) -> tuple[dict[str, Any], dict[str, Any]]:
    """Fill both slots (a file or a URL), press Compare; the envelope shown and the raw answer."""
    for slot, value in (("source", source), ("target", target)):
        if isinstance(value, Path):
            page.get_by_test_id(f"{slot}-input").set_input_files(str(value))
        else:
            page.get_by_test_id(f"{slot}-url").fill(value)
    with page.expect_response(lambda r: "/image/match" in r.url) as answer:
        page.get_by_test_id("compare").click()
    raw = answer.value.json()
    result = page.get_by_test_id("result")
    sync_api.expect(result).not_to_be_empty()
    return json.loads(result.text_content()), raw


def box_geometry(page: Any, slot: str) -> tuple[float, float, float, float]:
    """The drawn box as fractions of its image's displayed width and height."""
    img = page.locator(f"#{slot}-preview").bounding_box()
    box = page.get_by_test_id(f"{slot}-box").bounding_box()
    return (
        (box["x"] - img["x"]) / img["width"],
        (box["y"] - img["y"]) / img["height"],
        (box["x"] + box["width"] - img["x"]) / img["width"],
        (box["y"] + box["height"] - img["y"]) / img["height"],
    )


def test_the_banner_names_the_playground(server: Server) -> None:
    assert (
        f"  playground: {server.url}/playground (no key needed in a browser on this machine)" in server.banner
    )


def test_a_photo_and_its_edited_copy_match(
    page: tuple[Any, Console], files: dict[str, Path], shots: Any
) -> None:
    p, _ = page
    sync_api.expect(p.get_by_test_id("access-status")).to_contain_text("No key needed")
    envelope, raw = compare(p, files["chelsea"], files["edited"])
    assert list(envelope) == ENVELOPE_KEYS
    assert envelope["match"] is True and envelope["media_type"] == "image"
    sync_api.expect(p.get_by_test_id("verdict")).to_contain_text("Match")
    for slot in ("source", "target"):
        sync_api.expect(p.locator(f"#{slot}-preview")).to_be_visible()
    # The matched region, when the server explains its answer (POST /image/match?explain=true).
    explain = raw.get("explain") or {}
    for slot in ("source", "target"):
        box = explain.get(f"{slot}_box")
        if box is not None:
            sync_api.expect(p.get_by_test_id(f"{slot}-box")).to_be_visible()
            assert box_geometry(p, slot) == pytest.approx(box, abs=0.02)
    shots(p, "compare-match")


def test_two_unrelated_photos_do_not_match(
    page: tuple[Any, Console], files: dict[str, Path], shots: Any
) -> None:
    p, _ = page
    envelope, _ = compare(p, files["coffee"], files["rocket"])
    assert envelope["match"] is False
    sync_api.expect(p.get_by_test_id("verdict")).to_contain_text("No match")
    sync_api.expect(p.get_by_test_id("source-box")).to_be_hidden()
    shots(p, "compare-no-match")


def test_search_shows_the_right_first_hit(
    page: tuple[Any, Console], files: dict[str, Path], shots: Any
) -> None:
    p, _ = page
    p.get_by_test_id("search-input").set_input_files(str(files["edited"]))
    p.get_by_test_id("search").click()
    hits = p.get_by_test_id("search-results").get_by_test_id("hit")
    sync_api.expect(hits.first).to_be_visible()
    first = hits.first
    assert first.get_attribute("data-id") == "chelsea.jpg"
    score = float(first.get_attribute("data-score") or 0)
    assert score >= 0.85
    assert first.get_attribute("data-band") in ("auto-block", "review")
    sync_api.expect(first).to_contain_text("SKU-")
    # The thumbnail is shown (decoded by the browser).
    assert first.locator("img").evaluate("img => img.complete && img.naturalWidth > 0")
    assert hits.count() >= 5
    scores = [float(h.get_attribute("data-score") or 0) for h in hits.all()]
    assert scores == sorted(scores, reverse=True)
    sync_api.expect(p.get_by_test_id("search-status")).to_contain_text("best: chelsea.jpg")
    shots(p, "search")


def test_not_a_match_on_a_hit_keeps_it_from_coming_back(
    page: tuple[Any, Console], files: dict[str, Path], server: Server, shots: Any
) -> None:
    p, _ = page
    p.get_by_test_id("search-input").set_input_files(str(files["edited"]))
    p.get_by_test_id("search").click()
    status = p.get_by_test_id("search-status")
    sync_api.expect(status).to_contain_text("best: chelsea.jpg")
    first = p.get_by_test_id("search-results").get_by_test_id("hit").first
    with p.expect_response(lambda r: r.url.endswith("/feedback")) as answer:
        first.get_by_test_id("not-a-match").click()
    recorded = answer.value.json()
    try:
        assert answer.value.status == 200, recorded
        assert (recorded["reference_id"], recorded["verdict"]) == ("chelsea.jpg", "not_a_match")
        sync_api.expect(first.get_by_test_id("review-status")).to_contain_text(
            "will not be matched to chelsea.jpg again"
        )
        assert first.get_attribute("data-verdict") == "not_a_match"
        shots(p, "review-not-a-match")
        # The same image searched again: chelsea.jpg is no longer among the hits.
        p.get_by_test_id("search").click()
        sync_api.expect(status).to_have_text(re.compile(r"best: (?!chelsea\.jpg)"))
        hits = p.get_by_test_id("search-results").get_by_test_id("hit")
        assert "chelsea.jpg" not in [h.get_attribute("data-id") for h in hits.all()]
    finally:
        undo = httpx.delete(f"{server.url}/feedback/{recorded['id']}", headers={"x-api-key": KEY})
        assert undo.json()["deleted"] is True


def test_a_bad_file_shows_a_readable_error(
    page: tuple[Any, Console], files: dict[str, Path], shots: Any
) -> None:
    p, console = page
    console.allowed.append("Failed to load resource")  # the browser logs the 400 itself
    compare(p, files["notes"], files["chelsea"])
    error = p.get_by_test_id("compare-error")
    sync_api.expect(error).to_be_visible()
    text = error.text_content() or ""
    assert "not an image" in text.lower() or "could not be read" in text.lower(), text
    assert "Traceback" not in text and 'File "' not in text
    sync_api.expect(p.get_by_test_id("verdict")).to_be_empty()
    shots(p, "bad-file")
    # Missing input is said before anything is sent.
    p.get_by_role("button", name="Clear").click()
    p.get_by_test_id("compare").click()
    sync_api.expect(error).to_contain_text("Choose a source and a target image")
    p.get_by_test_id("target-input").set_input_files(str(files["chelsea"]))
    p.get_by_test_id("compare").click()
    sync_api.expect(error).to_have_text("Choose a source image, or paste its URL.")
    p.get_by_test_id("search").click()
    sync_api.expect(p.get_by_test_id("search-error")).to_contain_text("Choose an image")
    shots(p, "missing-input")


def test_urls_go_through_the_url_guard(page: tuple[Any, Console], server: Server, shots: Any) -> None:
    p, console = page
    console.allowed.append("Failed to load resource")
    compare(p, f"{server.url}/healthz", "http://169.254.169.254/latest/meta-data/")
    sync_api.expect(p.get_by_test_id("compare-error")).to_contain_text("refuses to fetch that URL")
    sync_api.expect(p.get_by_test_id("compare-error")).to_contain_text("unsafe_url")


def test_boxes_are_drawn_where_explain_puts_them(
    page: tuple[Any, Console], files: dict[str, Path], shots: Any
) -> None:
    """The drawing alone, against a canned answer in the shape of the explain contract
    (independent of whether the server explains yet)."""
    p, _ = page
    canned = {
        "match": True,
        "confidence": "high",
        "similarity_score": 0.91,
        "processing_time_ms": 5,
        "media_type": "image",
        "matched_segments": [],
        "explain": {
            "cosine": 0.8,
            "normalised": 0.91,
            "hash_distance": 30,
            "inliers": 42,
            "view": "mirror",
            "source_box": [0.1, 0.2, 0.6, 0.9],
            "target_box": [0.0, 0.05, 1.0, 0.5],
        },
    }
    p.route("**/image/match*", lambda route: route.fulfill(json=canned))
    envelope, _ = compare(p, files["chelsea"], files["coffee"])
    assert "explain" not in envelope  # the result shows the envelope itself
    for slot in ("source", "target"):
        sync_api.expect(p.get_by_test_id(f"{slot}-box")).to_be_visible()
        assert box_geometry(p, slot) == pytest.approx(canned["explain"][f"{slot}_box"], abs=0.01)
    sync_api.expect(p.get_by_test_id("evidence")).to_have_text(
        "Evidence: descriptor cosine 0.800, pHash distance 30 of 64 bits, 42 keypoints agree, view: mirror."
    )
    shots(p, "boxes")
    # Anything but a valid box is not drawn.
    for bad in (None, [0.5, 0.5, 0.2, 0.9], [0, 0, 1], ["a", 0, 1, 1], [0, 0, float("nan"), 1]):
        shown = p.evaluate(
            "box => window.lookalikePlayground.drawBox(document.getElementById('source-box'), box)", bad
        )
        assert shown is False, bad
    sync_api.expect(p.get_by_test_id("source-box")).to_be_hidden()


def test_the_page_works_375_px_wide(browser: Any, server: Server, files: dict[str, Path], shots: Any) -> None:
    context, p, console = open_page(browser, server.url, width=375, height=812)
    try:
        envelope, _ = compare(p, files["chelsea"], files["edited"])
        assert envelope["match"] is True
        p.get_by_test_id("search-input").set_input_files(str(files["edited"]))
        p.get_by_test_id("search").click()
        sync_api.expect(p.get_by_test_id("hit").first).to_be_visible()
        assert p.evaluate("document.documentElement.scrollWidth") <= 375
        for hook in ("compare", "search", "source-input", "target-url"):
            box = p.get_by_test_id(hook).bounding_box()
            assert box["x"] >= 0 and box["x"] + box["width"] <= 375, hook
        shots(p, "mobile-375")
        assert console.unexpected() == []
    finally:
        context.close()


def test_keyboard_only(page: tuple[Any, Console], files: dict[str, Path], shots: Any) -> None:
    p, _ = page

    def tab_to(testid: str, limit: int = 40) -> None:
        for _ in range(limit):
            p.keyboard.press("Tab")
            if p.evaluate("document.activeElement && document.activeElement.dataset.testid") == testid:
                return
        raise AssertionError(f"Tab never reached {testid}")

    def choose_with_space(file: Path) -> None:
        """Space on the focused file input opens the chooser (Enter does not in Chromium);
        one retry, should the key press land while the page is busy."""
        for attempt in (1, 2):
            try:
                with p.expect_file_chooser(timeout=10_000) as chooser:
                    p.keyboard.press("Space")
            except sync_api.TimeoutError:
                if attempt == 2:
                    raise
                continue
            chooser.value.set_files(str(file))
            return

    for slot, file in (("source", files["chelsea"]), ("target", files["edited"])):
        tab_to(f"{slot}-input")
        choose_with_space(file)
    tab_to("compare")
    # The focused control shows it (an outline, not the browser default being removed).
    assert p.evaluate("getComputedStyle(document.activeElement).outlineStyle") != "none"
    p.keyboard.press("Enter")
    sync_api.expect(p.get_by_test_id("verdict")).to_contain_text("Match")
    assert json.loads(p.get_by_test_id("result").text_content())["match"] is True
    tab_to("search-input")
    choose_with_space(files["edited"])
    tab_to("search")
    p.keyboard.press("Enter")
    sync_api.expect(p.get_by_test_id("hit").first).to_have_attribute("data-id", "chelsea.jpg")
    shots(p, "keyboard", full_page=False)


def _luminance(rgb: list[float]) -> float:
    def channel(c: float) -> float:
        c /= 255
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (channel(c) for c in rgb[:3])
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def test_text_contrast_and_announcements(page: tuple[Any, Console]) -> None:
    p, _ = page
    pairs = p.evaluate(
        """() => {
          const rgb = (s) => s.match(/[\\d.]+/g).map(Number);
          const bg = (el) => {
            for (; el; el = el.parentElement) {
              const c = getComputedStyle(el).backgroundColor;
              if (!c.startsWith('rgba(0, 0, 0, 0)')) return rgb(c);
            }
            return [255, 255, 255];
          };
          const sel = 'h1, h2, p, label, legend, button, .band, summary, figcaption, .drop-hint, a';
          return [...document.querySelectorAll(sel)]
            .filter((el) => el.offsetParent !== null && el.textContent.trim())
            .map((el) => [el.tagName + '.' + el.className, rgb(getComputedStyle(el).color), bg(el)]);
        }"""
    )
    assert len(pairs) > 10
    for name, fg, bg in pairs:
        light, dark = sorted((_luminance(fg), _luminance(bg)), reverse=True)
        assert (light + 0.05) / (dark + 0.05) >= 4.5, name
    for hook in ("verdict", "search-status"):
        live = p.get_by_test_id(hook).locator("xpath=..")
        assert live.get_attribute("aria-live") == "polite"


def test_with_a_key_instead_of_a_token(
    browser: Any, tmp_path: Path, files: dict[str, Path], shots: Any
) -> None:
    """LOOKALIKE_PLAYGROUND=key: the page asks for a key and keeps it in sessionStorage only."""
    server = Server(tmp_path / "index", "fake", LOOKALIKE_PLAYGROUND="key")
    try:
        context, p, console = open_page(browser, server.url)
        console.allowed.append("Failed to load resource")  # the 401 before a key is given
        sync_api.expect(p.get_by_test_id("key-form")).to_be_visible()
        sync_api.expect(p.get_by_test_id("access-status")).to_contain_text("Enter an API key")
        compare(p, files["coffee"], files["coffee"])
        sync_api.expect(p.get_by_test_id("compare-error")).to_contain_text("An API key is needed")
        p.get_by_label("API key").fill(KEY)
        p.get_by_role("button", name="Use key").click()
        envelope, _ = compare(p, files["coffee"], files["coffee"])
        assert envelope["match"] is True
        assert p.evaluate("sessionStorage.getItem('lookalike.apiKey')") == KEY
        assert p.evaluate("localStorage.length") == 0
        assert p.evaluate("document.cookie") == ""
        shots(p, "key-mode")
        context.close()
    finally:
        server.stop()
