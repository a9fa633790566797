// lookalike playground: plain JavaScript, no build step, no third-party code.
// It talks to this server only: POST /playground/token, /image/match, /image/search,
// /feedback (a reviewer's verdict on a search hit).
"use strict";

(() => {
  const $ = (id) => document.getElementById(id);

  // The route that compares two items of each media type.
  // VIDEO HOOK: when /video/match lands, add `video: "/video/match"` here and a media switch
  // in index.html (see the VIDEO HOOK comment there); nothing else needs to know.
  const MEDIA_ROUTES = { image: "/image/match" };
  const KEY_STORE = "lookalike.apiKey";
  // The listing gate's bands (POST /listings/gate defaults).
  const BANDS = [
    [0.97, "auto-block"],
    [0.85, "review"],
    [-Infinity, "pass"],
  ];

  const access = { mode: "pending", token: null, header: null, expiresAt: 0 };

  // ---- helpers the tests call too (window.lookalikePlayground) ------------------------

  function band(score) {
    for (const [floor, name] of BANDS) if (score >= floor) return name;
    return "pass";
  }

  /** Place `el` over its image at `box` = [x0, y0, x1, y1], fractions of the image's width
   *  and height; hide it when there is no valid box. Returns whether it is shown. */
  function drawBox(el, box) {
    const ok =
      Array.isArray(box) &&
      box.length === 4 &&
      box.every((v) => typeof v === "number" && Number.isFinite(v)) &&
      box[2] > box[0] &&
      box[3] > box[1];
    if (!ok) {
      el.hidden = true;
      return false;
    }
    const [x0, y0, x1, y1] = box.map((v) => Math.min(1, Math.max(0, v)));
    el.style.left = `${x0 * 100}%`;
    el.style.top = `${y0 * 100}%`;
    el.style.width = `${(x1 - x0) * 100}%`;
    el.style.height = `${(y1 - y0) * 100}%`;
    el.hidden = false;
    return true;
  }

  const FRIENDLY = {
    not_an_image: "That file is not an image.",
    undecodable_image: "That image could not be read.",
    truncated_image: "That image file is cut short.",
    empty_image: "That file is empty.",
    unsupported_format: "That image type is not supported.",
    image_too_large: "That image is too large.",
    request_too_large: "The request is too large.",
    unsafe_url: "The server refuses to fetch that URL (it only fetches public http(s) addresses).",
    fetch_failed: "The server could not download that URL.",
    fetch_timeout: "Downloading that URL took too long.",
    missing_api_key: "An API key is needed.",
    invalid_api_key: "That API key was refused.",
    token_expired: "The page's access expired; reload the page.",
    forbidden: "Not allowed from this page.",
    rate_limited: "Too many requests; wait a little.",
    validation_error: "The request was incomplete.",
    bad_input: "The input was refused.",
    bad_request: "The request was refused.",
  };

  /** One readable line for a failed request: what happened, then the server's own message. */
  function describeError(status, body) {
    if (body && typeof body.code === "string") {
      const lead = FRIENDLY[body.code] || `The server refused the request (${status}).`;
      const detail = typeof body.message === "string" ? body.message : "";
      return `${lead} ${detail ? `Details: ${detail}` : ""} [${body.code}]`.replace(/\s+/g, " ").trim();
    }
    if (status === 0) return "Could not reach the server. Is it still running?";
    return `The server answered ${status} without an explanation.`;
  }

  // ---- access: a token from this machine, or an API key ------------------------------

  function storedKey() {
    try {
      return sessionStorage.getItem(KEY_STORE) || "";
    } catch {
      return "";
    }
  }

  function showAccess(text, askForKey) {
    $("access-status").textContent = text;
    $("key-form").hidden = !askForKey;
  }

  async function getAccess() {
    const key = storedKey();
    if (key) {
      access.mode = "key";
      showAccess("Using the API key saved in this tab.", true);
      return;
    }
    let data = null;
    try {
      const res = await fetch("/playground/token", { method: "POST", credentials: "same-origin" });
      data = await res.json();
    } catch {
      data = null;
    }
    if (data && data.mode === "token") {
      Object.assign(access, {
        mode: "token",
        token: data.token,
        header: data.header,
        expiresAt: Date.now() + (data.expires_in - 10) * 1000,
      });
      showAccess("No key needed on this machine: compare and search are open to this page.", false);
    } else if (data && data.mode === "none") {
      access.mode = "none";
      showAccess("API keys are off on this server (local demo).", false);
    } else {
      access.mode = "key";
      const why = data && data.reason ? ` ${data.reason}` : "";
      showAccess(`Enter an API key to use the playground.${why}`, true);
    }
  }

  function authHeaders() {
    if (access.mode === "key") {
      const key = storedKey();
      return key ? { "x-api-key": key } : {};
    }
    if (access.mode === "token" && access.token) return { [access.header]: access.token };
    return {};
  }

  async function post(path, form, retry = true) {
    if (access.mode === "token" && Date.now() > access.expiresAt) await getAccess();
    let res;
    try {
      res = await fetch(path, { method: "POST", headers: authHeaders(), body: form, credentials: "same-origin" });
    } catch {
      return { ok: false, status: 0, body: null };
    }
    let body = null;
    try {
      body = await res.json();
    } catch {
      body = null;
    }
    if (retry && res.status === 401 && body && body.code === "token_expired") {
      await getAccess();
      return post(path, form, false);
    }
    if (res.status === 401 && access.mode !== "token") showAccess(describeError(res.status, body), true);
    return { ok: res.ok, status: res.status, body };
  }

  // ---- inputs: file pickers, drop zones, URLs, previews ------------------------------

  const objectUrls = {};

  function preview(slot) {
    const file = $(`${slot}-input`).files[0];
    const url = $(`${slot}-url`).value.trim();
    const img = $(`${slot}-preview`);
    const figure = $(`${slot}-figure`);
    $(`${slot}-box`).hidden = true;
    if (objectUrls[slot]) {
      URL.revokeObjectURL(objectUrls[slot]);
      delete objectUrls[slot];
    }
    if (file) {
      objectUrls[slot] = URL.createObjectURL(file);
      img.src = objectUrls[slot];
      $(`${slot}-caption`).textContent = file.name;
    } else if (/^https?:\/\//i.test(url)) {
      img.referrerPolicy = "no-referrer";
      img.src = url;
      $(`${slot}-caption`).textContent = url;
    } else {
      figure.hidden = true;
      img.removeAttribute("src");
      return;
    }
    figure.hidden = false;
  }

  function previewFailed(slot) {
    const figure = $(`${slot}-figure`);
    if (!$(`${slot}-preview`).getAttribute("src")) return;
    figure.hidden = true;
    $(`${slot}-name`).textContent = "No preview: the browser cannot show this file (the server will say why).";
  }

  function fileChosen(slot) {
    const file = $(`${slot}-input`).files[0];
    $(`${slot}-name`).textContent = file ? `Chosen: ${file.name}` : "or drop one here";
    if (slot !== "search") {
      if (file) $(`${slot}-url`).value = "";
      preview(slot);
    }
  }

  function wireDrop(zone) {
    const slot = zone.dataset.drop;
    const input = $(`${slot}-input`);
    zone.addEventListener("dragover", (e) => {
      e.preventDefault();
      zone.classList.add("over");
    });
    zone.addEventListener("dragleave", () => zone.classList.remove("over"));
    zone.addEventListener("drop", (e) => {
      e.preventDefault();
      zone.classList.remove("over");
      const dt = e.dataTransfer;
      if (dt.files && dt.files.length) {
        input.files = dt.files;
        input.dispatchEvent(new Event("change", { bubbles: true }));
      } else if (slot !== "search") {
        const url = (dt.getData("text/uri-list") || dt.getData("text/plain") || "").split("\n")[0].trim();
        if (url) {
          $(`${slot}-url`).value = url;
          $(`${slot}-url`).dispatchEvent(new Event("input", { bubbles: true }));
        }
      }
    });
  }

  /** Add slot's image (a file part, or a URL field) to `form`; false when there is none. */
  function addImage(form, slot) {
    const file = $(`${slot}-input`).files[0];
    const url = $(`${slot}-url`).value.trim();
    if (file) form.append(`${slot}_image`, file, file.name);
    else if (url) form.append(`${slot}_url`, url);
    else return false;
    return true;
  }

  function showError(id, text) {
    const el = $(id);
    el.textContent = text;
    el.hidden = !text;
  }

  // ---- compare --------------------------------------------------------------------

  /** The explain block in words: what the score rests on. */
  function evidence(explain) {
    const parts = [];
    const num = (v) => typeof v === "number" && Number.isFinite(v);
    if (num(explain.cosine)) parts.push(`descriptor cosine ${explain.cosine.toFixed(3)}`);
    if (num(explain.hash_distance)) parts.push(`pHash distance ${explain.hash_distance} of 64 bits`);
    if (num(explain.inliers)) parts.push(`${explain.inliers} keypoints agree`);
    if (typeof explain.view === "string" && explain.view) parts.push(`view: ${explain.view}`);
    return parts.length ? `Evidence: ${parts.join(", ")}.` : "";
  }

  const ENVELOPE = ["match", "confidence", "similarity_score", "processing_time_ms", "media_type", "matched_segments"];

  async function compare(event) {
    event.preventDefault();
    const form = new FormData();
    showError("compare-error", "");
    $("verdict").textContent = "";
    $("verdict").className = "verdict";
    $("result").textContent = "";
    for (const slot of ["source", "target"]) $(`${slot}-box`).hidden = true;
    $("evidence").hidden = true;
    const missing = ["source", "target"].filter((slot) => !addImage(form, slot));
    if (missing.length) {
      showError(
        "compare-error",
        missing.length === 2
          ? "Choose a source and a target image, or paste their URLs."
          : `Choose a ${missing[0]} image, or paste its URL.`,
      );
      return;
    }
    const button = $("compare");
    button.disabled = true;
    $("verdict").textContent = "Comparing…";
    try {
      const { ok, status, body } = await post(`${MEDIA_ROUTES.image}?explain=true`, form);
      if (!ok || !body) {
        $("verdict").textContent = "";
        showError("compare-error", describeError(status, body));
        if (body) $("result").textContent = JSON.stringify(body, null, 2);
        return;
      }
      const envelope = {};
      for (const key of ENVELOPE) if (key in body) envelope[key] = body[key];
      $("result").textContent = JSON.stringify(envelope, null, 2);
      const score = Number(body.similarity_score).toFixed(4);
      $("verdict").textContent = body.match
        ? `Match: the target is a copy of the source (similarity ${score}, confidence ${body.confidence}).`
        : `No match: the target is not a copy of the source (similarity ${score}, confidence ${body.confidence}).`;
      $("verdict").className = `verdict ${body.match ? "match" : "nomatch"}`;
      // The matched region of each image, when the server explains a match (an unrelated
      // pair has no region in common to draw).
      const explain = body.explain || null;
      if (explain) {
        if (body.match) {
          drawBox($("source-box"), explain.source_box);
          drawBox($("target-box"), explain.target_box);
        }
        $("evidence").textContent = evidence(explain);
        $("evidence").hidden = !$("evidence").textContent;
      }
    } finally {
      button.disabled = false;
    }
  }

  // ---- review: a verdict on (the searched image, a hit), POST /feedback -----------------

  let searched = null; // the image file the hits on the page were found for

  const VERDICTS = [
    ["not_a_match", "Not a match", "not-a-match"],
    ["confirmed", "Confirm", "confirm"],
  ];

  function reviewButtons(hit) {
    const box = document.createElement("div");
    box.className = "review";
    const status = document.createElement("p");
    status.className = "review-status";
    status.setAttribute("data-testid", "review-status");
    status.setAttribute("role", "status");
    for (const [verdict, label, testid] of VERDICTS) {
      const button = document.createElement("button");
      button.type = "button";
      button.className = "secondary";
      button.textContent = label;
      button.setAttribute("data-testid", testid);
      button.setAttribute("aria-label", `${label}: ${hit.id}`);
      button.addEventListener("click", () => review(hit, verdict, box, status));
      box.append(button);
    }
    box.append(status);
    return box;
  }

  async function review(hit, verdict, box, status) {
    const form = new FormData();
    form.append("image", searched, searched.name);
    form.append("reference_id", hit.id);
    form.append("verdict", verdict);
    const buttons = box.querySelectorAll("button");
    buttons.forEach((b) => (b.disabled = true));
    status.textContent = "Recording…";
    const { ok, status: code, body } = await post("/feedback", form);
    if (!ok || !body) {
      status.textContent = describeError(code, body);
      buttons.forEach((b) => (b.disabled = false));
      return;
    }
    box.closest(".hit").dataset.verdict = verdict;
    status.textContent =
      verdict === "not_a_match"
        ? `Recorded (#${body.id}): this image, or a near-identical copy, will not be matched to ${hit.id} again.`
        : `Recorded (#${body.id}): a confirmed copy of ${hit.id}.`;
  }

  // ---- search ---------------------------------------------------------------------

  function hitItem(hit) {
    const li = document.createElement("li");
    li.className = "hit";
    li.dataset.testid = "hit";
    li.setAttribute("data-testid", "hit");
    li.dataset.id = hit.id;
    li.dataset.score = String(hit.score);
    const name = band(hit.score);
    li.dataset.band = name;
    if (hit.thumbnail) {
      const img = document.createElement("img");
      img.src = hit.thumbnail;
      img.alt = `Catalog image ${hit.id}`;
      li.append(img);
    } else {
      const none = document.createElement("div");
      none.className = "noimg";
      none.textContent = "no thumbnail stored";
      li.append(none);
    }
    const id = document.createElement("p");
    id.className = "id";
    id.textContent = hit.id;
    const score = document.createElement("p");
    score.className = "score";
    const badge = document.createElement("span");
    badge.className = `band band-${name}`;
    badge.textContent = name;
    score.append(`score ${Number(hit.score).toFixed(4)} `, badge);
    li.append(id, score);
    const meta = hit.metadata || {};
    if (Object.keys(meta).length || hit.source) {
      const pre = document.createElement("pre");
      pre.textContent = JSON.stringify(hit.source ? { ...meta, source: hit.source } : meta, null, 1);
      pre.setAttribute("aria-label", `Metadata of ${hit.id}`);
      li.append(pre);
    }
    // A video hit stands for its frames: verdicts are on single reference images.
    if (!hit.timestamps) li.append(reviewButtons(hit));
    return li;
  }

  async function search(event) {
    event.preventDefault();
    const file = $("search-input").files[0];
    const list = $("search-results");
    showError("search-error", "");
    list.replaceChildren();
    if (!file) {
      showError("search-error", "Choose an image to search for.");
      return;
    }
    const form = new FormData();
    form.append("image", file, file.name);
    form.append("k", $("search-k").value);
    form.append("thumbnails", "true");
    const button = $("search");
    button.disabled = true;
    $("search-status").textContent = "Searching…";
    try {
      const { ok, status, body } = await post("/image/search", form);
      if (!ok || !body) {
        $("search-status").textContent = "";
        showError("search-error", describeError(status, body));
        return;
      }
      searched = file;
      const hits = body.results || [];
      list.replaceChildren(...hits.map(hitItem));
      $("search-status").textContent = hits.length
        ? `${hits.length} result${hits.length === 1 ? "" : "s"}; best: ${hits[0].id}, score ${Number(hits[0].score).toFixed(4)} (${band(hits[0].score)}).`
        : "No catalog images found (is the index empty?).";
    } finally {
      button.disabled = false;
    }
  }

  // ---- wiring ---------------------------------------------------------------------

  function start() {
    for (const slot of ["source", "target", "search"]) {
      $(`${slot}-input`).addEventListener("change", () => fileChosen(slot));
    }
    for (const slot of ["source", "target"]) {
      $(`${slot}-preview`).addEventListener("error", () => previewFailed(slot));
      $(`${slot}-url`).addEventListener("input", () => {
        if ($(`${slot}-url`).value.trim()) {
          $(`${slot}-input`).value = "";
          $(`${slot}-name`).textContent = "or drop one here";
        }
        preview(slot);
      });
    }
    document.querySelectorAll(".drop").forEach(wireDrop);
    $("compare-form").addEventListener("submit", compare);
    $("compare-form").addEventListener("reset", () => {
      setTimeout(() => {
        for (const slot of ["source", "target"]) fileChosen(slot);
        showError("compare-error", "");
        $("verdict").textContent = "";
        $("result").textContent = "";
      });
    });
    $("search-form").addEventListener("submit", search);
    $("key-form").addEventListener("submit", (e) => {
      e.preventDefault();
      const key = $("api-key").value.trim();
      if (!key) return;
      try {
        sessionStorage.setItem(KEY_STORE, key);
      } catch {
        /* storage off: the key lives until the page closes */
      }
      $("api-key").value = "";
      access.mode = "key";
      showAccess("Using the API key saved in this tab.", true);
    });
    $("forget-key").addEventListener("click", () => {
      try {
        sessionStorage.removeItem(KEY_STORE);
      } catch {
        /* nothing stored */
      }
      getAccess();
    });
    getAccess();
  }

  window.lookalikePlayground = { band, drawBox, describeError, access };
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
