"""Issue 14: the drag-and-drop web app at `/`, against a live `synthscope serve`, in headless Chromium.

Three files go in through the page's file input at once: speech-like WAV, spoken MP3 and a text file. Two rows
must end with a verdict and a timeline, the text file with the API's own problem; keyboard focus on a timeline
cell must show that window's details; the page must load nothing from anywhere but the server, break no rule of
its CSP, and its assets must be content-hashed and cached as immutable.

Needs Debian's `chromium` and `chromium-driver` packages, and Selenium. SYNTHSCOPE_SCREENSHOT=1 also writes the
finished page to docs/web-app.png (the test's tmp folder always gets one).
"""

from __future__ import annotations

import csv
import os
import re
import shutil
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from synthscope.config import Settings
from synthscope_api.routers import web
from tests.fixtures.audio import espeak, voice_like, write_audio
from tests.fixtures.service import Server, free_port, running, service_env

ROOT = Path(__file__).resolve().parents[2]
IMMUTABLE = "public, max-age=31536000, immutable"


# --- the asset table and the CSP, without a server ---


def test_every_reference_between_assets_is_rewritten_to_a_hashed_name() -> None:
    site = web.load_site()
    index = site.index.decode()
    for name in ("app.js", "style.css", "icon.svg"):
        assert f'"{site.urls[name]}"' in index
    assert not re.search(r"""["']\./[\w-]+\.(js|css|svg)["']""", index) and "{{" not in index
    for hashed, asset in site.assets.items():
        _, digest, ext = hashed.rsplit(".", 2)
        assert len(digest) == 12 and asset.etag == f'"{digest}"'
        if ext == "js":
            for ref in re.findall(r"""from\s+["']\./([^"']+)["']""", asset.body.decode()):
                assert ref in site.assets, f"{hashed} imports {ref}, which is not served"


def test_the_csp_allows_the_upload_host_and_nothing_else(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("STORAGE_EMULATOR_HOST", raising=False)

    def csp(**kw: Any) -> str:
        return web.content_security_policy(Settings(_env_file=None, **{"public_url": None, **kw}))

    local = csp(backend="local")
    assert "connect-src 'self';" in local and "unsafe-inline" not in local and "media-src 'self' blob:" in local
    assert "connect-src 'self' https://api.example.com;" in csp(public_url="https://api.example.com/v1")
    assert "connect-src 'self' https://storage.googleapis.com;" in csp(backend="gcp")
    custom = csp(backend="gcp", gcs_signed_url_endpoint="https://up.example.com")
    assert "connect-src 'self' https://up.example.com;" in custom
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", "http://127.0.0.1:9023")
    assert "connect-src 'self' http://127.0.0.1:9023;" in csp(backend="gcp")


# --- the real page in a real browser ---


def _chromium() -> Any:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    browser, driver = shutil.which("chromium"), shutil.which("chromedriver")
    if not browser or not driver:
        pytest.fail("chromium and chromedriver are needed (Debian packages chromium, chromium-driver)")
    opts = webdriver.ChromeOptions()
    opts.binary_location = browser
    for arg in (
        "--headless=new",
        "--no-sandbox",  # containers run us as root
        "--disable-dev-shm-usage",
        "--window-size=1200,900",
        "--autoplay-policy=no-user-gesture-required",
        "--no-first-run",
        "--disable-background-networking",  # no update checks etc. in the request log
    ):
        opts.add_argument(arg)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    return webdriver.Chrome(options=opts, service=Service(driver))


@pytest.fixture(scope="module")
def server(tiny_bundle: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    root = tmp_path_factory.mktemp("web")
    port = free_port()
    env = service_env(root / "data", tiny_bundle)
    with running(Server(["-m", "synthscope.cli", "serve", "--port", str(port)], env, root / "server.log", port)) as s:
        yield s


@pytest.fixture
def files(tmp_path: Path) -> list[Path]:
    rng = np.random.default_rng(14)
    wav = write_audio(tmp_path / "speech-like.wav", voice_like(11.0, rng))  # 4 windows: the free tier shows 3
    mp3 = write_audio(
        tmp_path / "spoken.mp3", espeak("Every window of audio gets its own probability on the timeline.")
    )
    txt = tmp_path / "notes.txt"
    txt.write_text("not audio at all\n" * 40)
    return [wav, mp3, txt]


@pytest.mark.slow
def test_the_page_is_cached_and_locked_down(server: Server) -> None:
    with httpx.Client(base_url=server.url, timeout=30, trust_env=False) as c:
        page = c.get("/")
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
        assert page.headers["cache-control"] == "no-cache"
        csp = page.headers["content-security-policy"]
        assert "default-src 'self'" in csp and "script-src 'self';" in csp and "connect-src 'self';" in csp
        assert "unsafe-inline" not in csp and "media-src 'self' blob:" in csp
        assert page.headers["x-frame-options"] == "DENY"  # the security middleware still runs
        assert c.get("/", headers={"If-None-Match": page.headers["etag"]}).status_code == 304
        urls = re.findall(r'(?:src|href)="(/assets/[^"]+)"', page.text)
        assert len(urls) >= 3
        for url in urls:
            r = c.get(url)
            assert r.status_code == 200 and r.headers["cache-control"] == IMMUTABLE, url
        assert c.get("/assets/app.js").status_code == 404  # unhashed names are never served
        paths = c.get("/openapi.json").json()["paths"]
        assert "/" not in paths and not any(p.startswith("/assets") for p in paths)


@pytest.mark.slow
def _drop(driver: Any, files: list[Path]) -> None:
    """A real drop on the drop zone: the files are read into a staging input (WebDriver's only way to hand a page
    local files), then dragenter / dragover / drop are dispatched on #dropzone carrying them in a DataTransfer,
    so the page's own drop handler takes them."""
    staging = driver.execute_script(
        "const i = document.createElement('input'); i.type = 'file'; i.multiple = true;"
        "i.className = 'visually-hidden'; document.body.appendChild(i); return i;"
    )
    staging.send_keys("\n".join(str(f) for f in files))
    driver.execute_script(
        "const dt = new DataTransfer(); for (const f of arguments[0].files) dt.items.add(f);"
        "const zone = document.getElementById('dropzone');"
        "for (const type of ['dragenter', 'dragover', 'drop'])"
        "  zone.dispatchEvent(new DragEvent(type, {bubbles: true, cancelable: true, dataTransfer: dt}));"
        "arguments[0].remove();",
        staging,
    )


def test_three_files_dropped_at_once(server: Server, files: list[Path], tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import WebDriverWait

    t0 = time.monotonic()
    driver = _chromium()
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    try:
        driver.execute_cdp_cmd("Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(downloads)})
        driver.get(server.url + "/")
        WebDriverWait(driver, 15).until(lambda d: d.execute_script("return document.documentElement.dataset.ready"))
        _drop(driver, files)

        finished = ".job[data-state=completed], .job[data-state=failed], .job[data-state=na]"
        WebDriverWait(driver, 60).until(lambda d: len(d.find_elements(By.CSS_SELECTOR, finished)) == 3)
        rows = {r.find_element(By.CLASS_NAME, "job-name").text: r for r in driver.find_elements(By.CLASS_NAME, "job")}
        states = {name: r.get_attribute("data-state") for name, r in rows.items()}
        assert states == {"speech-like.wav": "completed", "spoken.mp3": "completed", "notes.txt": "failed"}, (
            server.logs()[-3000:]
        )
        for name in ("speech-like.wav", "spoken.mp3"):
            row = rows[name]
            assert row.find_element(By.CLASS_NAME, "verdict").text.strip()
            assert row.find_elements(By.CSS_SELECTOR, ".timeline .cell[data-index]")
            assert row.find_element(By.CSS_SELECTOR, ".tl-line").get_attribute("d").startswith("M")
        error = rows["notes.txt"].find_element(By.CLASS_NAME, "job-error").text
        assert "Not a supported audio format" in error and ".txt" in error
        wav = rows["speech-like.wav"]
        assert "free tier" in wav.find_element(By.CSS_SELECTOR, ".limited").text
        assert wav.find_elements(By.CSS_SELECTOR, ".cell.locked")  # the redacted rest of the timeline

        # Keyboard: focus the first window, arrow to the second; the detail line follows the focus.
        cells = wav.find_elements(By.CSS_SELECTOR, ".cell[data-index]")
        driver.execute_script("arguments[0].focus()", cells[0])
        driver.switch_to.active_element.send_keys(Keys.ARROW_RIGHT)
        assert driver.switch_to.active_element.get_attribute("data-index") == "1"
        detail = wav.find_element(By.CLASS_NAME, "tl-detail").text
        assert "Window 2 of 4" in detail and "3.0 s – 6.0 s" in detail and "AI probability" in detail, detail

        # Enter on a window plays the local file from there; the cursor follows.
        audio = wav.find_element(By.TAG_NAME, "audio")
        assert audio.get_attribute("src").startswith("blob:")
        WebDriverWait(driver, 10).until(lambda d: d.execute_script("return arguments[0].readyState >= 1", audio))
        driver.switch_to.active_element.send_keys(Keys.ENTER)
        WebDriverWait(driver, 10).until(lambda d: d.execute_script("return arguments[0].currentTime >= 2.9", audio))
        driver.execute_script("arguments[0].pause()", audio)
        assert wav.find_elements(By.CSS_SELECTOR, ".tl-cursor.active")

        # The batch summary, and its CSV export as a real download.
        assert len(driver.find_elements(By.CSS_SELECTOR, "#summary tbody tr")) == 3
        driver.find_element(By.ID, "export-csv").click()
        WebDriverWait(driver, 10).until(lambda d: any(downloads.glob("*.csv")))
        with next(downloads.glob("*.csv")).open(newline="") as f:
            exported = {row["file_name"]: row for row in csv.DictReader(f)}
        assert exported["spoken.mp3"]["status"] == "completed" and exported["spoken.mp3"]["verdict"]
        assert exported["notes.txt"]["error_title"] == "Not a supported audio format"

        _screenshot(driver, tmp_path / "web-app.png")
        print(f"\nweb app test: {time.monotonic() - t0:.1f} s in the browser; screenshot {tmp_path / 'web-app.png'}")

        # A paid tier's report (not redacted) shows per-detector scores and the explanation: the page's own row
        # module renders one, since an anonymous page only ever gets free-tier reports.
        text = driver.execute_async_script(
            """const [url, report, done] = arguments;
            import(url).then(({ createRow }) => {
              const file = new File([new Uint8Array(64)], "pro.wav", { type: "audio/wav" });
              const job = { id: "job-pro", file, state: "completed", finished: true, report, taskId: report.task_id };
              const { row, update } = createRow(job);
              document.getElementById("files").append(row);
              update();
              row.querySelector(".cell[data-index='1']").focus();
              done(row.innerText);
            }, (e) => done(String(e)));""",
            web.SITE.urls["row.js"],
            _pro_report(),
        )
        assert "Detectors" in text and "speech_encoder 0.1" in text and "Limited view" not in text, text
        assert "Detectors: fakeprint 40.0% · speech_encoder 70.0%" in text and "Pitch is too steady" in text, text

        # Everything came from the server itself (or the dropped files, as blob: URLs), and no CSP rule broke.
        requested = _requested_urls(driver)
        assert requested and all(u.startswith((server.url + "/", "blob:", "data:")) for u in requested), requested
        console = [e["message"] for e in driver.get_log("browser")]
        assert not [m for m in console if "Content Security Policy" in m], console

        # Phone width: nothing wider than the screen (the summary table scrolls inside its own box).
        driver.set_window_size(390, 844)
        width = driver.execute_script("return [document.documentElement.scrollWidth, window.innerWidth]")
        assert width[0] <= width[1], width
    finally:
        driver.quit()


def _pro_report() -> dict[str, Any]:
    windows = [
        {"start": 3.0 * i, "end": 3.0 * (i + 1), "ai_probability": p, "label": label, "detectors": d}
        for i, (p, label, d) in enumerate(
            [
                (0.2, "human", {"fakeprint": 0.1, "speech_encoder": 0.3}),
                (0.55, "uncertain", {"fakeprint": 0.4, "speech_encoder": 0.7}),
                (0.9, "ai", {"fakeprint": 0.85, "speech_encoder": 0.95}),
            ]
        )
    ]
    result = {
        "verdict": "mixed",
        "ai_probability": 0.61,
        "confidence": 0.4,
        "reason": None,
        "summary": {"windows": 3, "ai_windows": 1, "human_windows": 1, "uncertain_windows": 1, "ai_share": 0.33},
        "timeline": windows,
        "detectors": [
            {"name": "fakeprint", "version": "1.0", "ai_probability": 0.45, "weight": 0.5, "status": "ok"},
            {"name": "speech_encoder", "version": "0.1", "ai_probability": 0.65, "weight": 0.5, "status": "ok"},
        ],
        "degraded": [],
        "explanation": ["Pitch is too steady in the last window."],
        "audio": {
            "duration_s": 9.0,
            "sample_rate": 16000,
            "channels": 1,
            "format": "wav",
            "sha256": "0" * 64,
            "size_bytes": 64,
        },
        "model": {
            "bundle": "tiny",
            "version": "1",
            "sha256": "0" * 64,
            "profile": "default",
            "detectors": ["fakeprint", "speech_encoder"],
        },
        "timing": {"decode_ms": 1.0, "analyze_ms": 2.0, "total_ms": 3.0},
    }
    return {
        "task_id": "rep_pro",
        "status": "completed",
        "stage": "done",
        "tier": "pro",
        "limited": False,
        "progress": {"percent": 100.0, "windows_done": 3, "windows_total": 3},
        "result": result,
    }


def _requested_urls(driver: Any) -> list[str]:
    import json

    urls = []
    for entry in driver.get_log("performance"):
        msg = json.loads(entry["message"])["message"]
        if msg["method"] == "Network.requestWillBeSent":
            urls.append(msg["params"]["request"]["url"])
    return urls


def _screenshot(driver: Any, path: Path) -> None:
    """The whole page at desktop width; also docs/web-app.png when SYNTHSCOPE_SCREENSHOT asks for it."""
    height = driver.execute_script("return document.documentElement.scrollHeight")
    driver.set_window_size(1200, min(height + 40, 4000))
    inner = driver.execute_script("return window.innerHeight")  # the window's frame takes some of its height
    driver.set_window_size(1200, min(2 * height + 40 - inner, 4000))
    driver.execute_script("window.scrollTo(0, 0)")
    driver.save_screenshot(str(path))
    if os.environ.get("SYNTHSCOPE_SCREENSHOT"):
        shutil.copyfile(path, ROOT / "docs" / "web-app.png")
        print(f"screenshot written to {ROOT / 'docs' / 'web-app.png'}", file=sys.stderr)
