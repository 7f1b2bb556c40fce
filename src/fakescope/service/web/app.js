// fakescope's page: send each dropped or chosen image to POST /v1/scan and show the answer.
// No dependencies, nothing fetched but this service's own routes; every text from the service is set with
// textContent, never parsed as HTML.
"use strict";

(() => {
  const $ = (sel, root = document) => root.querySelector(sel);
  const state = { token: "", auth: false, queue: [], running: 0, maxParallel: 2, seq: 0 };

  // The map's colour ramp, the same as the CLI's overlays (dark blue, magenta, orange, yellow).
  const STOPS = [[13, 8, 135], [156, 23, 158], [237, 121, 83], [240, 249, 33]];

  function colourise(canvas, mapImage) {
    // The map is grey (255 = certainly manipulated). Colour it, and let weak evidence stay transparent
    // (below 0.25 nothing, then alpha rising to full at 1), as the CLI's overlay does.
    canvas.width = mapImage.naturalWidth;
    canvas.height = mapImage.naturalHeight;
    const ctx = canvas.getContext("2d");
    ctx.drawImage(mapImage, 0, 0);
    const pixels = ctx.getImageData(0, 0, canvas.width, canvas.height);
    const d = pixels.data;
    for (let i = 0; i < d.length; i += 4) {
      const v = d[i] / 255;
      const t = v * (STOPS.length - 1);
      const k = Math.min(Math.floor(t), STOPS.length - 2);
      const f = t - k;
      for (let c = 0; c < 3; c++) d[i + c] = STOPS[k][c] * (1 - f) + STOPS[k + 1][c] * f;
      d[i + 3] = Math.max(0, Math.min(1, (v - 0.25) / 0.75)) * 255;
    }
    ctx.putImageData(pixels, 0, 0);
  }

  function headers() {
    return state.token ? { Authorization: `Bearer ${state.token}` } : {};
  }

  function say(text) {
    $("#status").textContent = text;
  }

  function fmt(p) {
    return Number(p).toFixed(3);
  }

  const VERDICT_TEXT = {
    real: "Real photograph",
    fake: "Generated or manipulated",
    unsure: "Unsure",
  };

  function addTerm(dl, term, value) {
    const dt = document.createElement("dt");
    dt.textContent = term;
    const dd = document.createElement("dd");
    if (value !== null && typeof value === "object") {
      const entries = Array.isArray(value) ? value.map((v, i) => [String(i + 1), v]) : Object.entries(value);
      if (!entries.length) {
        dd.textContent = Array.isArray(value) ? "none" : "nothing found";
      } else {
        const inner = document.createElement("dl");
        for (const [k, v] of entries) addTerm(inner, k, v);
        dd.appendChild(inner);
      }
    } else {
      dd.textContent = value === null || value === undefined ? "—" : String(value);
    }
    dl.append(dt, dd);
  }

  function newCard(file) {
    const n = ++state.seq;
    const node = $("#result-template").content.firstElementChild.cloneNode(true);
    node.id = `result-${n}`;
    $(".name", node).textContent = file.name || "pasted image";
    const photo = $(".photo", node);
    photo.src = URL.createObjectURL(file);
    photo.alt = `The image ${file.name || "pasted"}`;
    const slider = $(".opacity-input", node);
    slider.id = `opacity-${n}`;
    $(".opacity-label", node).htmlFor = slider.id;
    $("#results").prepend(node);
    return node;
  }

  function showResult(node, r) {
    node.dataset.verdict = r.verdict;
    node.dataset.pFake = r.p_fake;
    const verdict = $(".verdict", node);
    verdict.textContent = `${VERDICT_TEXT[r.verdict] || r.verdict} · p_fake ${fmt(r.p_fake)}`;
    verdict.className = `verdict verdict-${r.verdict}`;

    const band = r.unsure_band;
    const bar = $(".bar", node);
    $(".band", node).style.left = `${band.low * 100}%`;
    $(".band", node).style.width = `${(band.high - band.low) * 100}%`;
    $(".marker", node).style.left = `${r.p_fake * 100}%`;
    bar.setAttribute("aria-label",
      `p_fake ${fmt(r.p_fake)} on a scale from 0 (real) to 1 (generated); unsure between ${fmt(band.low)} and ${fmt(band.high)}`);
    $(".probability", node).textContent =
      `Calibrated probability of generated or manipulated: ${fmt(r.p_fake)}. Unsure band ${fmt(band.low)}–${fmt(band.high)} (${band.rule}).`;
    $(".bar-block", node).hidden = false;
    $(".reliability", node).textContent = r.reliability || "";

    if (r.explanation) {
      const ex = $(".explanation", node);
      ex.textContent = r.explanation;
      ex.hidden = false;
    }
    if ("provenance" in r && r.provenance !== null) {
      addTerm($(".provenance-list", node), "evidence", r.provenance);
      $(".provenance", node).hidden = false;
    }
    const details = $(".details-list", node);
    addTerm(details, "detector", `${r.card.name}: ${r.card.summary || ""}`);
    if (r.card.not_trained_on) addTerm(details, "not trained on", r.card.not_trained_on);
    addTerm(details, "verdict set", r.verdict_set === null ? "none (no verdict sets)" : r.verdict_set.join(" + ") || "empty");
    addTerm(details, "size", `${r.width} × ${r.height} ${r.format}, ${r.bytes} bytes`);
    if (r.notes && r.notes.length) addTerm(details, "notes", r.notes.join("; "));
    if (r.localizer) addTerm(details, "localizer", `${r.localizer}, flagged ${(r.flagged_share * 100).toFixed(1)}% of the image`);
    addTerm(details, "sha256", r.sha256);

    if (r.heatmap_png) {
      const canvas = $(".overlay", node);
      const slider = $(".opacity-input", node);
      const shown = $(".opacity-value", node);
      const map = new Image();
      map.onload = () => {
        colourise(canvas, map);
        canvas.hidden = false;
        node.dataset.overlay = "drawn";
      };
      map.src = `data:image/png;base64,${r.heatmap_png}`;
      const apply = () => {
        canvas.style.opacity = slider.value / 100;
        shown.textContent = `${slider.value}%`;
      };
      slider.addEventListener("input", apply);
      apply();
      $(".opacity", node).hidden = false;
      const photo = $(".photo", node);
      // A format the browser cannot show (HEIC, TIFF): the map alone, on a neutral ground.
      photo.addEventListener("error", () => {
        photo.hidden = true;
        $(".stage", node).classList.add("no-photo");
      });
    }
  }

  function showError(node, message) {
    node.dataset.verdict = "error";
    const verdict = $(".verdict", node);
    verdict.textContent = `Not scored: ${message}`;
    verdict.className = "verdict verdict-error";
  }

  async function scanOne(file, node) {
    for (let attempt = 0; attempt < 6; attempt++) {
      const body = new FormData();
      body.append("file", file, file.name || "pasted");
      let res;
      try {
        res = await fetch("/v1/scan", { method: "POST", body, headers: headers() });
      } catch (err) {
        showError(node, `the service did not answer (${err.message})`);
        return;
      }
      if (res.status === 503) { // busy: wait as asked, then try again
        const wait = Number(res.headers.get("Retry-After") || 1);
        await new Promise((ok) => setTimeout(ok, wait * 1000 * (attempt + 1)));
        continue;
      }
      let payload;
      try {
        payload = await res.json();
      } catch {
        payload = { error: `HTTP ${res.status}` };
      }
      if (res.ok) {
        showResult(node, payload);
      } else {
        if (res.status === 401) {
          $("#token-box").hidden = false;
          $("#token").focus();
        }
        showError(node, payload.error || `HTTP ${res.status}`);
      }
      return;
    }
    showError(node, "the service stayed busy; try again in a moment");
  }

  function pump() {
    while (state.running < state.maxParallel && state.queue.length) {
      const [file, node] = state.queue.shift();
      state.running++;
      scanOne(file, node).finally(() => {
        state.running--;
        const left = state.queue.length + state.running;
        say(left ? `Scoring… ${left} left` : "Done.");
        pump();
      });
    }
  }

  function add(files) {
    const images = [...files];
    if (!images.length) return;
    for (const file of images) state.queue.push([file, newCard(file)]);
    say(`Scoring ${state.queue.length + state.running} image${images.length > 1 ? "s" : ""}…`);
    pump();
  }

  async function describeService() {
    try {
      const health = await (await fetch("/v1/health")).json();
      state.auth = health.auth;
      $("#token-box").hidden = !health.auth;
      state.maxParallel = Math.max(1, Math.min(4, health.capacity - 1));
      if (health.auth && !state.token) return;
      const res = await fetch("/v1/detectors", { headers: headers() });
      if (!res.ok) return;
      const info = await res.json();
      const loc = info.localizer ? `; heatmaps from ${info.localizer.name}` : "; no heatmaps (start with --localizer)";
      $("#detector-info").textContent = `Detector: ${info.detector.name} (${info.detector.summary || ""})${loc}.`;
    } catch {
      say("The service is not reachable.");
    }
  }

  document.addEventListener("DOMContentLoaded", () => {
    const input = $("#files");
    const drop = $("#drop");
    $("#pick").addEventListener("click", () => input.click());
    input.addEventListener("change", () => {
      add(input.files);
      input.value = "";
    });
    $("#token").addEventListener("input", (e) => {
      state.token = e.target.value.trim();
    });
    $("#token").addEventListener("change", describeService);
    for (const kind of ["dragenter", "dragover"]) {
      drop.addEventListener(kind, (e) => {
        e.preventDefault();
        drop.classList.add("over");
      });
    }
    for (const kind of ["dragleave", "drop"]) drop.addEventListener(kind, () => drop.classList.remove("over"));
    drop.addEventListener("drop", (e) => {
      e.preventDefault();
      add(e.dataTransfer.files);
    });
    document.addEventListener("paste", (e) => {
      const files = [...(e.clipboardData?.files || [])];
      if (files.length) add(files);
    });
    describeService();
  });
})();
