"""`fakescope serve` with its real parts: uvicorn on 127.0.0.1, httpx, schemathesis, headless Chromium.

Two kinds of server:
- ``served``: the command itself in a child process (shipped default detector, default localizer), as a
  user starts it; for answers, limits, the schema fuzzing, the browser and the load script.
- ``gated``: the application in this process on a real uvicorn, with a detector that waits on a gate, so
  that a test can hold requests inside the service (a full queue, an upload while it is scored).

On CI (CI=true) nothing here may skip for a missing package, browser or weights: .ci/run installs them.
"""

from __future__ import annotations

import base64
import hashlib
import importlib.util
import io
import json
import os
import re
import shutil
import signal
import stat
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from PIL import Image, PngImagePlugin
from typer.testing import CliRunner

from tests.conftest import ROOT, SAMPLES, weights_present
from tests.malformed import encoded, photo, png_bomb


def _need(condition: bool, why: str) -> None:
    if not condition:
        if os.environ.get("CI"):
            pytest.fail(f"{why} on CI: .ci/run must install it")
        pytest.skip(why, allow_module_level=True)


for _module in ("fastapi", "uvicorn", "python_multipart", "httpx"):
    _need(importlib.util.find_spec(_module) is not None, f"{_module} not installed (pip install '.[serve,test]')")

import httpx  # noqa: E402

SAMPLE = SAMPLES / "public-images-ai-gan-1.jpg"
LIMIT_MB = 2  # the served service's upload limit, small so that the 413 tests send little


def error_of(r: httpx.Response, status: int) -> str:
    """The message of a JSON error answer with ``status``."""
    assert r.status_code == status, (r.status_code, r.text[:300])
    assert r.headers["content-type"].startswith("application/json")
    body = r.json()
    assert body["status"] == status and isinstance(body["error"], str) and body["error"]
    return body["error"]


# --- the command in a child process -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """``fakescope serve --port 0 --localizer default`` as a child process; yields its URL and temp root."""
    _need(weights_present(), "weights not pulled (fakescope weights pull --all)")
    _need(importlib.util.find_spec("torch") is not None, "torch not installed (the default localizer needs it)")
    tmp = tmp_path_factory.mktemp("serve-tmp")
    env = {k: v for k, v in os.environ.items() if k != "FAKESCOPE_TOKEN"}
    env.update(TMPDIR=str(tmp), PYTHONPATH=os.pathsep.join(p for p in (str(ROOT / "src"), env.get("PYTHONPATH")) if p))
    from fakescope.service.launch import launch

    served = launch(["--localizer", "default", "--attributor", "default", "--max-upload-mb", str(LIMIT_MB), "--workers", "2", "--queue", "6"],
                    env=env)  # fmt: skip
    proc, lines = served.proc, served.log
    yield SimpleNamespace(url=served.url, tmp=tmp, pid=proc.pid, log=lines)
    proc.send_signal(signal.SIGINT)
    # uvicorn shuts down cleanly, then exits as interrupted (130), as a Ctrl+C'd command does.
    assert proc.wait(30) in (0, 128 + signal.SIGINT, -signal.SIGINT), "".join(lines[-20:])
    assert any("Application shutdown complete" in line for line in lines), "".join(lines[-20:])
    # The service's private upload folder went with it.
    assert not list(tmp.glob("fakescope-serve-*")), list(tmp.iterdir())


@pytest.fixture(scope="module")
def api(served):
    with httpx.Client(base_url=served.url, timeout=120) as client:
        yield client


@pytest.fixture(scope="module")
def cli_rows(served):
    """What ``fakescope scan`` writes for two samples with the same detector and localizer (in this process)."""
    from fakescope import load_detector, load_localizer
    from fakescope.models import load_attributor
    from fakescope.scanning import output_row, scan_iter

    paths = [str(SAMPLE), str(SAMPLES / "public-images-real-city-1.jpg")]
    heatmaps = served.tmp / "cli-heatmaps"
    rows = [output_row(v) for batch in scan_iter(load_detector(), paths, localizer=load_localizer(),
                                                 heatmaps=heatmaps, attributor=load_attributor())
            for v in batch]  # fmt: skip
    return {Path(r["path"]).name: r for r in rows}


def test_scan_answers_the_row_fakescope_scan_writes(api, cli_rows):
    from fakescope.scanning import FIELDS

    data = SAMPLE.read_bytes()
    r = api.post("/v1/scan", files={"file": (SAMPLE.name, data, "image/jpeg")})
    assert r.status_code == 200, r.text
    got = r.json()
    want = cli_rows[SAMPLE.name]
    assert set(FIELDS) <= set(got)
    for key in ("p_fake", "verdict", "verdict_set", "reliability", "detector", "width", "height", "format", "notes",
                "flagged_share", "localizer", "localizer_p_fake", "explanation", "family", "generator"):  # fmt: skip
        assert got[key] == want[key], key
    assert got["family"] and got["attribution_p"] == pytest.approx(want["attribution_p"], abs=1e-5)
    assert got["path"] == SAMPLE.name and got["path_bytes"] is None and got["error"] is None
    assert got["sha256"] == hashlib.sha256(data).hexdigest() and got["bytes"] == len(data)
    # No server path anywhere in the answer: the heatmap travels as PNG bytes, not as a file name.
    assert "heatmap" not in got and "overlay" not in got and str(ROOT) not in r.text
    assert "fakescope-serve-" not in r.text
    band = got["unsure_band"]
    assert 0 <= band["low"] <= band["high"] <= 1 and "error level" in band["rule"]
    if got["verdict"] == "real":
        assert got["p_fake"] < band["high"]
    if band["low"] < got["p_fake"] < band["high"]:
        assert got["verdict"] == "unsure"
    assert got["card"]["name"] == got["detector"] and got["card"]["not_trained_on"]


def test_heatmap_is_the_localizers_map(api, cli_rows):
    r = api.post("/v1/scan", files={"file": ("city.jpg", (SAMPLES / "public-images-real-city-1.jpg").read_bytes())})
    got = r.json()
    heat = Image.open(io.BytesIO(base64.b64decode(got["heatmap_png"])))
    assert heat.format == "PNG" and heat.mode == "L" and heat.size == (got["width"], got["height"])
    m = np.asarray(heat)
    # 255 = 1.0; the share at or above 0.5 is the share the row reports as flagged.
    assert abs((m >= 128).mean() - got["flagged_share"]) < 1e-3
    cli_map = np.asarray(Image.open(cli_rows["public-images-real-city-1.jpg"]["heatmap"]))
    assert np.array_equal(m, cli_map)
    assert got["explanation"].startswith(got["localizer"])


def test_format_comes_from_the_bytes_not_the_name_or_type(api):
    png = encoded(photo(1, (96, 96)), "PNG")
    r = api.post("/v1/scan", files={"file": ("holiday.txt", png, "text/plain")})
    assert r.status_code == 200 and r.json()["format"] == "PNG"
    r = api.post("/v1/scan", files={"file": ("photo.jpg", b"plain text named photo.jpg", "image/jpeg")})
    assert "not an image format" in error_of(r, 415)
    r = api.post("/v1/scan", files={"file": ("photo.jpg", b"%!PS-Adobe-3.0 EPSF-3.0\n", "image/jpeg")})
    error_of(r, 415)  # Pillow could open EPS (through Ghostscript); the service reads only signed image formats


def test_limits_and_bad_images(api):
    big = b"\xff\xd8\xff" + b"\0" * (LIMIT_MB * 1_000_000)
    assert "upload limit" in error_of(api.post("/v1/scan", files={"file": ("big.jpg", big)}), 413)

    def chunks():  # no Content-Length: the limit is counted as the body arrives
        boundary = b"--xyz\r\n"
        yield boundary + b'Content-Disposition: form-data; name="file"; filename="big.jpg"\r\n\r\n'
        for _ in range(LIMIT_MB * 4 + 4):
            yield b"\0" * 262_144
        yield b"\r\n--xyz--\r\n"

    r = api.post("/v1/scan", content=chunks(), headers={"Content-Type": "multipart/form-data; boundary=xyz"})
    assert "upload limit" in error_of(r, 413)
    assert "decompression-bomb guard" in error_of(api.post("/v1/scan", files={"file": ("b.png", png_bomb())}), 413)
    cut = SAMPLE.read_bytes()[:600]
    assert "truncated" in error_of(api.post("/v1/scan", files={"file": ("cut.jpg", cut)}), 422)
    assert "empty file" in error_of(api.post("/v1/scan", files={"file": ("empty.jpg", b"")}), 422)


def test_no_file_path_is_read(api):
    sample = str(SAMPLE)
    assert "file paths" in error_of(api.post("/v1/scan", files={"path": (None, sample)}), 400)
    assert "not multipart" in error_of(api.post("/v1/scan", data={"path": sample}), 415)
    assert "file paths" in error_of(api.post("/v1/scan", data={"path": sample},
                                             files={"file": ("x.jpg", SAMPLE.read_bytes())}), 400)  # fmt: skip
    assert "file paths" in error_of(api.post("/v1/scan", params={"path": sample},
                                             files={"file": ("x.jpg", SAMPLE.read_bytes())}), 400)  # fmt: skip
    error_of(api.post("/v1/scan", json={"path": sample}), 415)
    # A file name is a label only: a name with folders in it is cut to its last part and nothing is opened.
    r = api.post("/v1/scan", files={"file": ("../../etc/passwd", SAMPLE.read_bytes())})
    assert r.status_code == 200 and r.json()["path"] == "passwd"


def test_errors_are_json_with_the_right_code(api):
    assert "no route" in error_of(api.get("/v1/nothing"), 404)
    assert "not allowed" in error_of(api.delete("/v1/scan"), 405)
    body = b"--b\r\nContent-Disposition: form-data; name=\"file\"; filename=\"x.jpg\"\r\n\r\nabc"  # never closed
    error_of(api.post("/v1/scan", content=body, headers={"Content-Type": "multipart/form-data; boundary=b"}), 400)
    r = api.post("/v1/scan", content=b"--b--\r\n", headers={"Content-Type": "multipart/form-data; boundary=b"})
    assert "no part named 'file'" in error_of(r, 422)
    two = [("file", ("a.jpg", SAMPLE.read_bytes())), ("file", ("b.jpg", SAMPLE.read_bytes()))]
    assert "one image per request" in error_of(api.post("/v1/scan", files=two), 400)


def test_health_detectors_and_docs(api):
    health = api.get("/v1/health").json()
    assert health["status"] == "ok" and health["auth"] is False and health["capacity"] == 8
    det = api.get("/v1/detectors").json()
    from fakescope.models import TRAINED_LOCALIZERS

    shipped = json.loads((TRAINED_LOCALIZERS / "default" / "card.json").read_text())["name"]
    assert det["detector"]["name"] == "ensemble" and det["localizer"]["name"] == shipped
    assert "default" in det["shipped"] and "JPEG" in det["formats"] and "TGA" not in det["formats"]
    assert det["max_upload_bytes"] == LIMIT_MB * 1_000_000
    schema = api.get("/openapi.json").json()
    body = schema["paths"]["/v1/scan"]["post"]["requestBody"]["content"]["multipart/form-data"]["schema"]
    assert body["required"] == ["file"] and body["properties"]["file"]["format"] == "binary"
    for code in ("200", "400", "401", "413", "415", "422", "503"):
        assert code in schema["paths"]["/v1/scan"]["post"]["responses"]
    docs = api.get("/docs")
    assert docs.status_code == 200 and "/openapi.json" in docs.text


def test_answer_carries_provenance_evidence(api):
    info = PngImagePlugin.PngInfo()
    info.add_text("parameters", "a lighthouse at dusk\nSteps: 20, Sampler: Euler a, CFG scale: 7, Seed: 42")
    data = encoded(photo(5, (128, 128)), "PNG", pnginfo=info)
    r = api.post("/v1/scan", files={"file": ("gen.png", data)})
    assert r.status_code == 200, r.text
    prov = r.json()["provenance"]
    assert isinstance(prov, dict) and "Sampler: Euler a" in json.dumps(prov)
    assert "fakescope-serve-" not in r.text  # the service's temp file is never named in an answer


def test_schema_fuzzing_finds_no_server_error(served):
    """A bounded schemathesis run over every operation of the schema, valid and invalid inputs."""
    _need(importlib.util.find_spec("schemathesis") is not None, "schemathesis not installed")
    import schemathesis
    from hypothesis import HealthCheck, Phase, given, settings
    from schemathesis import GenerationMode

    schema = schemathesis.openapi.from_url(f"{served.url}/openapi.json")
    seen = []
    for result in schema.get_all_operations():
        op = result.ok()
        # Invalid inputs exist only where there are inputs: the upload.
        modes = [GenerationMode.POSITIVE] + ([GenerationMode.NEGATIVE] if op.method.upper() == "POST" else [])
        for mode in modes:

            @given(case=op.as_strategy(generation_mode=mode))
            @settings(max_examples=15, deadline=None, database=None, derandomize=True, phases=[Phase.generate],
                      suppress_health_check=list(HealthCheck))  # fmt: skip
            def check(case):
                response = case.call(base_url=served.url, timeout=120)
                assert response.status_code < 500, (case.method, case.path, response.status_code, response.text)
                seen.append(response.status_code)
                # Every check (documented status, content type, response schema, invalid input refused) but
                # "schema-valid input accepted": a schema cannot say "the bytes of a decodable image", so
                # random bytes in the 'file' part are rightly refused (415, 422).
                case.validate_response(response, excluded_checks=[schemathesis.checks.positive_data_acceptance])

            check()
    assert len(seen) >= 20 and any(s < 300 for s in seen) and any(400 <= s < 500 for s in seen)


def test_load_script_reports_latency_and_memory(served, capsys):
    from benchmarks.service_load import main

    code = main(["--url", served.url, "--pid", str(served.pid), "--requests", "24", "--concurrency", "4",
                 "--warmup", "4", "--max-growth-mb", "200"])  # fmt: skip
    out = capsys.readouterr().out
    assert code == 0, out
    header, rule, row = out.splitlines()[:3]
    cols = [c.strip() for c in row.strip("|").split("|")]
    names = [c.strip() for c in header.strip("|").split("|")]
    got = dict(zip(names, cols))
    assert got["requests"] == "24" and got["not 200"] == "0"
    assert 0 < float(got["p50 ms"]) <= float(got["p99 ms"]) <= float(got["max ms"])
    assert float(got["RSS at end MB"]) > 100  # the service's own memory was read (the models alone are more)


def test_load_section_replaces_its_older_copy_below_the_hand_run_marker(tmp_path):
    from benchmarks.service_load import MARK, write_doc
    from fakescope.evaluation.benchmark.render import HAND_RUN

    doc = tmp_path / "BENCHMARKS.md"
    doc.write_text("# page\n\nrendered tables\n")
    write_doc(doc, f"{MARK}\nfirst\n{MARK}\n")
    write_doc(doc, f"{MARK}\nsecond\n{MARK}\n")
    text = doc.read_text()
    assert text.count(MARK) == 2 and "second" in text and "first" not in text
    assert text.index("rendered tables") < text.index(HAND_RUN) < text.index(MARK)


# --- the page in headless Chromium ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def browser():
    _need(importlib.util.find_spec("selenium") is not None, "selenium not installed")
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    _need(chromium is not None and driver is not None,
          "chromium and chromedriver not installed (apt-get install chromium chromium-driver)")  # fmt: skip
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = chromium
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                "--window-size=1280,1400"):
        opts.add_argument(arg)
    drv = webdriver.Chrome(service=Service(driver), options=opts)
    drv.set_page_load_timeout(60)
    yield drv
    drv.quit()


def test_page_scores_images_and_draws_the_overlay(served, api, browser, tmp_path):
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import WebDriverWait

    files = [SAMPLE, SAMPLES / "public-images-real-city-1.jpg"]
    expected = {f.name: api.post("/v1/scan", files={"file": (f.name, f.read_bytes())}).json() for f in files}
    # Phone width: the page must fit without sideways scrolling.
    browser.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                            {"width": 390, "height": 844, "deviceScaleFactor": 1, "mobile": True})  # fmt: skip
    browser.get(served.url + "/")
    # Keyboard: Tab reaches the "Choose images" button; every visible control has a label.
    for _ in range(4):
        ActionChains(browser).send_keys(Keys.TAB).perform()
        if browser.switch_to.active_element.get_attribute("id") == "pick":
            break
    assert browser.switch_to.active_element.get_attribute("id") == "pick"

    browser.find_element(By.ID, "files").send_keys("\n".join(str(f) for f in files))
    WebDriverWait(browser, 120).until(
        lambda d: len(d.find_elements(By.CSS_SELECTOR, ".result[data-overlay='drawn']")) == len(files))
    painted = []
    for card in browser.find_elements(By.CSS_SELECTOR, ".result"):
        name = card.find_element(By.CSS_SELECTOR, ".name").text
        want = expected[name]
        assert card.get_attribute("data-verdict") == want["verdict"]
        assert f"p_fake {want['p_fake']:.3f}" in card.find_element(By.CSS_SELECTOR, ".verdict").text
        band = card.find_element(By.CSS_SELECTOR, ".band")
        bar = card.find_element(By.CSS_SELECTOR, ".bar")
        share = band.size["width"] / bar.size["width"]
        assert abs(share - (want["unsure_band"]["high"] - want["unsure_band"]["low"])) < 0.03
        assert card.find_element(By.CSS_SELECTOR, ".explanation").text == want["explanation"]
        # The overlay is drawn: the canvas holds the map's pixels (transparent where the map is under 0.25).
        canvas = card.find_element(By.CSS_SELECTOR, "canvas.overlay")
        drawn = browser.execute_script(
            "const c = arguments[0], d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;"
            "let n = 0; for (let i = 3; i < d.length; i += 4) if (d[i] > 0) n++; return [n, c.width, c.height];",
            canvas)  # fmt: skip
        m = np.asarray(Image.open(io.BytesIO(base64.b64decode(want["heatmap_png"]))), dtype=np.float64) / 255
        assert drawn[1:] == [want["width"], want["height"]]
        assert abs(drawn[0] - (m > 0.2510).sum()) <= 0.01 * m.size
        painted.append(drawn[0])
        # The opacity slider works from the keyboard.
        slider = card.find_element(By.CSS_SELECTOR, ".opacity-input")
        label = browser.find_element(By.CSS_SELECTOR, f"label[for='{slider.get_attribute('id')}']")
        assert label.text == "Heatmap opacity"
        slider.send_keys(Keys.ARROW_LEFT, Keys.ARROW_LEFT)
        assert float(canvas.value_of_css_property("opacity")) == pytest.approx(0.5)
    assert max(painted) > 0  # some overlay holds pixels, so the count above is not compared on empty maps alone
    width, inner = browser.execute_script("return [document.documentElement.scrollWidth, window.innerWidth]")
    assert inner == 390 and width <= inner
    unlabelled = browser.execute_script(
        "return [...document.querySelectorAll('input, button')].filter(e => e.offsetParent !== null &&"
        " !(e.labels && e.labels.length) && !e.getAttribute('aria-label') && !e.textContent.trim()).length")
    assert unlabelled == 0
    # Offline: every resource the page loaded came from the service itself.
    origins = browser.execute_script(
        "return performance.getEntriesByType('resource').map(e => new URL(e.name).origin)")
    assert origins and set(origins) <= {served.url}
    shots = Path(os.environ.get("FAKESCOPE_SCREENSHOTS", tmp_path))
    shots.mkdir(parents=True, exist_ok=True)
    shot = shots / "service-page-phone.png"
    assert browser.save_screenshot(str(shot))
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and Image.open(shot).size[0] == 390


# --- the application in this process, with a gated detector ----------------------------------------------------


class GatedDetector:
    """Scores 0.9 once its gate is open; counts the images that reached it."""

    name = "gated"
    extractors = ()

    def __init__(self):
        self.gate = threading.Event()
        self.gate.set()
        self.entered = threading.Semaphore(0)
        self.calls = 0
        self.train_config = SimpleNamespace(unsure_band=(0.3, 0.7))

    def predict_proba(self, images):
        self.calls += 1
        self.entered.release()
        assert self.gate.wait(60), "the test never opened the gate"
        return np.full(len(images), 0.9)

    def verdict_of(self, p):
        return "fake" if p >= 0.7 else "real" if p <= 0.3 else "unsure"


@pytest.fixture
def gated(tmp_path):
    """Start the application with a gated detector on a real uvicorn in this process: ``start(**config)``."""
    import uvicorn

    from fakescope.service import ServiceConfig, create_app

    running = []

    def start(by_name: bool = False, **kw):
        """``by_name``: load the detector as ``fakescope serve`` does (through ``load_detector``)."""
        config = ServiceConfig(upload_parent=str(tmp_path), **kw)
        app = create_app(config, detector=None if by_name else GatedDetector())
        det = app.state.engine.detector
        server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning"))
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        t0 = time.time()
        while not server.started:
            assert thread.is_alive() and time.time() - t0 < 30
            time.sleep(0.02)
        port = server.servers[0].sockets[0].getsockname()[1]
        running.append((server, thread, det))
        det.entered = threading.Semaphore(0)  # forget the warm-up
        det.calls_at_start = det.calls
        return SimpleNamespace(url=f"http://127.0.0.1:{port}", det=det, folder=app.state.upload_dir, app=app)

    yield start
    for server, thread, det in running:
        det.gate.set()
        server.should_exit = True
        thread.join(15)
        assert not thread.is_alive()


def _post_in_thread(url: str, data: bytes, out: list, headers=None) -> threading.Thread:
    def go():
        with httpx.Client(timeout=60) as c:
            out.append(c.post(f"{url}/v1/scan", files={"file": ("a.png", data)}, headers=headers or {}))

    t = threading.Thread(target=go)
    t.start()
    return t


def test_model_is_loaded_and_warmed_up_once_at_start(gated, monkeypatch):
    import fakescope.models

    loads = []

    def load_detector(name):
        loads.append(name)
        return GatedDetector()

    monkeypatch.setattr(fakescope.models, "load_detector", load_detector)
    s = gated(by_name=True, detector="some-name")
    assert loads == ["some-name"] and s.det.calls_at_start == 1  # loaded and run once before any request
    png = encoded(photo(6), "PNG")
    for _ in range(3):
        assert httpx.post(f"{s.url}/v1/scan", files={"file": ("a.png", png)}).status_code == 200
    assert loads == ["some-name"] and s.det.calls == 4


def test_full_queue_answers_503_at_once_then_recovers(gated):
    s = gated(workers=1, queue=1)
    png = encoded(photo(2), "PNG")
    s.det.gate.clear()
    first, second = [], []
    t1 = _post_in_thread(s.url, png, first)
    assert s.det.entered.acquire(timeout=30)  # the one worker holds the first request
    t2 = _post_in_thread(s.url, png, second)
    t0 = time.time()
    while httpx.get(f"{s.url}/v1/health").json()["in_flight"] < 2:  # the second waits in the queue
        assert time.time() - t0 < 30
        time.sleep(0.02)
    t0 = time.time()
    r = httpx.post(f"{s.url}/v1/scan", files={"file": ("c.png", png)}, timeout=30)
    assert time.time() - t0 < 5
    assert "busy" in error_of(r, 503) and r.headers["Retry-After"] == "1"
    s.det.gate.set()
    t1.join(30)
    t2.join(30)
    assert first[0].status_code == second[0].status_code == 200 and first[0].json()["verdict"] == "fake"
    assert httpx.get(f"{s.url}/v1/health").json()["in_flight"] == 0
    assert httpx.post(f"{s.url}/v1/scan", files={"file": ("d.png", png)}, timeout=30).status_code == 200


def test_upload_is_in_the_private_temp_folder_only_while_scored(gated, tmp_path):
    s = gated()
    folder = Path(s.folder)
    assert folder.parent == tmp_path and folder.name.startswith("fakescope-serve-")
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    png = encoded(photo(3, (80, 80)), "PNG")
    s.det.gate.clear()
    out = []
    t = _post_in_thread(s.url, png, out)
    assert s.det.entered.acquire(timeout=30)
    held = list(folder.iterdir())
    assert len(held) == 1 and held[0].read_bytes() == png and stat.S_IMODE(held[0].stat().st_mode) == 0o600
    # Nothing else was written anywhere under the temp root.
    assert [p for p in tmp_path.rglob("*") if p.is_file()] == held
    s.det.gate.set()
    t.join(30)
    assert out[0].status_code == 200
    assert list(folder.iterdir()) == []  # deleted by the time the answer arrived
    # Refused uploads leave nothing either: not an image, over the limit, a cut body.
    error_of(httpx.post(f"{s.url}/v1/scan", files={"file": ("t.jpg", b"text")}), 415)
    over = httpx.post(f"{s.url}/v1/scan", files={"file": ("b.jpg", b"\0" * 25_000_001)}, timeout=60)
    assert "upload limit" in error_of(over, 413)
    cut = b"--b\r\nContent-Disposition: form-data; name=\"file\"; filename=\"x.jpg\"\r\n\r\n" + png[:100]
    error_of(httpx.post(f"{s.url}/v1/scan", content=cut, headers={"Content-Type": "multipart/form-data; boundary=b"}),
             400)  # fmt: skip
    assert list(folder.iterdir()) == []


def test_default_upload_limit_is_25_mb(gated):
    s = gated()
    assert s.app.state.engine.config.max_upload_bytes == 25_000_000
    # Just under the limit passes the size check (and is refused as no image); one byte over is 413.
    under = httpx.post(f"{s.url}/v1/scan", files={"file": ("u.jpg", b"\0" * 25_000_000)}, timeout=60)
    error_of(under, 415)
    over = httpx.post(f"{s.url}/v1/scan", files={"file": ("o.jpg", b"\0" * 25_000_001)}, timeout=60)
    assert "25.0 MB" in error_of(over, 413)


def test_token_guards_every_route_but_health_and_the_page(gated, monkeypatch):
    import hmac

    from fakescope.service import app as app_module

    calls = []
    compare = hmac.compare_digest

    def spy(a, b):
        calls.append((a, b))
        return compare(a, b)

    monkeypatch.setattr(app_module.hmac, "compare_digest", spy)
    s = gated(token="s3cret-token")
    png = encoded(photo(4), "PNG")
    good = {"Authorization": "Bearer s3cret-token"}
    for bad in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic czNjcmV0LXRva2Vu"},
                {"Authorization": "Bearer s3cret-token-and-more"}):  # fmt: skip
        for method, path in (("GET", "/v1/detectors"), ("GET", "/openapi.json"), ("GET", "/docs"),
                             ("POST", "/v1/scan"), ("GET", "/v1/nothing")):  # fmt: skip
            kw = {"files": {"file": ("a.png", png)}} if method == "POST" else {}
            r = httpx.request(method, s.url + path, headers=bad, **kw)
            assert "bearer token" in error_of(r, 401), (bad, path)
            assert r.headers["WWW-Authenticate"].startswith("Bearer")
    assert list(Path(s.folder).iterdir()) == []  # refused uploads were never stored
    assert calls and all(b == b"s3cret-token" for _, b in calls)
    assert httpx.get(s.url + "/v1/health").json()["auth"] is True
    assert httpx.get(s.url + "/").status_code == 200  # the page itself holds nothing; it asks for the token
    assert httpx.get(s.url + "/static/app.js").status_code == 200
    assert httpx.get(s.url + "/v1/detectors", headers=good).status_code == 200
    r = httpx.post(s.url + "/v1/scan", files={"file": ("a.png", png)}, headers={"Authorization": "bearer s3cret-token"})
    assert r.status_code == 200 and r.json()["verdict"] == "fake"


def test_page_is_self_contained(gated):
    s = gated()
    r = httpx.get(s.url + "/")
    assert r.status_code == 200 and "script-src 'self'" in r.headers["Content-Security-Policy"]
    refs = re.findall(r'(?:src|href)="([^"]+)"', r.text)
    assert refs and all(ref.startswith(("/static/", "#", "data:")) for ref in refs), refs
    for ref in (x for x in refs if x.startswith("/static/")):
        asset = httpx.get(s.url + ref)
        assert asset.status_code == 200 and "http://" not in asset.text and "https://" not in asset.text


# --- the command line ----------------------------------------------------------------------------------------


def test_serve_command_help_and_bad_detector():
    from fakescope.cli.main import app

    runner = CliRunner()
    r = runner.invoke(app, ["serve", "--help"])
    assert r.exit_code == 0 and "--max-upload-mb" in r.output and "25" in r.output and "--localizer" in r.output
    r = runner.invoke(app, ["serve", "--detector", "no-such-detector", "--port", "0"])
    assert r.exit_code == 2 and "no trained detector 'no-such-detector'" in r.output
    r = runner.invoke(app, ["serve", "--max-upload-mb", "0"])
    assert r.exit_code == 2 and "must be positive" in r.output
