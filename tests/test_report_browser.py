"""A published sweep report opened in headless Chromium with the network off: no console
errors, no request leaves the disk, every chart draws, and the page is not blank.

Uses the system Chromium (Debian's `chromium` package, installed here if missing and we
are root) driven by playwright, which downloads no browser of its own."""

from __future__ import annotations

import base64
import os
import shutil
import subprocess
import sys

import pytest
import yaml

from conftest import DATA, ROOT

FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
LOCAL_SCHEMES = ("file:", "data:", "blob:", "about:")
INK = """async (src) => {
  const image = new Image(); image.src = src; await image.decode();
  const canvas = document.createElement("canvas");
  canvas.width = image.width; canvas.height = image.height;
  const context = canvas.getContext("2d"); context.drawImage(image, 0, 0);
  const pixels = context.getImageData(0, 0, canvas.width, canvas.height).data;
  let ink = 0;
  for (let i = 0; i < pixels.length; i += 4)
    if (pixels[i] < 235 || pixels[i + 1] < 235 || pixels[i + 2] < 235) ink++;
  return ink / (pixels.length / 4);
}"""


def find_chromium() -> str | None:
    for name in (os.environ.get("WORKBENCH_CHROMIUM"), "chromium", "chromium-browser"):
        if name and shutil.which(name):
            return shutil.which(name)
    return None


@pytest.fixture(scope="module")
def chromium() -> str:
    pytest.importorskip(
        "playwright.sync_api",
        reason="pip install playwright (it drives the system chromium; no browser download needed)",
    )
    path = find_chromium()
    if path is None and hasattr(os, "geteuid") and os.geteuid() == 0 and shutil.which("apt-get"):
        subprocess.run(
            "apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium",
            shell=True,
            capture_output=True,
            timeout=900,
        )
        path = find_chromium()
    if path is None:
        pytest.skip(
            "chromium not found and could not be installed: apt-get install -y chromium "
            "(or set WORKBENCH_CHROMIUM to a Chromium binary)"
        )
    return path


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    """A real sweep: explore_replays.ipynb over two games, published."""
    root = tmp_path_factory.mktemp("browser")
    grid = root / "grid.yaml"
    grid.write_text(
        yaml.safe_dump(
            {
                "parameters": {
                    "store": str(root / "store"),
                    "replays": str(DATA),
                    "max_frames": 120,
                    "heatmap_games": 2,
                },
                "grid": {"game_index": [0, 1]},
            }
        )
    )
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "workbench.cli",
            "sweep",
            str(ROOT / "notebooks" / "explore_replays.ipynb"),
            "--grid",
            str(grid),
            "--out",
            str(root / "runs"),
            "--report",
            str(root / "report"),
            "--workers",
            "2",
            "--timeout",
            "300",
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    return root / "report"


def ink(page, png: bytes) -> float:
    """Share of a screenshot's pixels that are not (near) white, measured by the browser."""
    return page.evaluate(INK, "data:image/png;base64," + base64.b64encode(png).decode())


def scrub(page) -> bool | None:
    """Drag the frame slider of a scrubber chart (if the page has one): do players move?"""
    slider = page.locator(".chart input[type=range]")
    if not slider.count():
        return None
    symbols = page.locator(".chart:has(input[type=range]) svg.marks g.mark-symbol path")
    where = "els => els.map(e => e.getAttribute('transform'))"
    before = symbols.evaluate_all(where)
    slider.first.fill(str(int(slider.first.get_attribute("max")) // 2))
    page.wait_for_timeout(300)
    return symbols.evaluate_all(where) != before


def open_offline(chromium: str, page_path, user_data_dir) -> dict:
    """Load a page from disk with the network off; what the browser saw."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout
    from playwright.sync_api import sync_playwright

    seen = {"errors": [], "requests": []}
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(user_data_dir),
            executable_path=chromium,
            args=FLAGS,
            headless=True,
            offline=True,
            viewport={"width": 1280, "height": 1400},
        )
        try:
            page = context.new_page()
            page.on("console", lambda m: m.type == "error" and seen["errors"].append(m.text))
            page.on("pageerror", lambda e: seen["errors"].append(str(e)))
            page.on("request", lambda r: r.url.startswith(LOCAL_SCHEMES) or seen["requests"].append(r.url))
            page.goto(page_path.as_uri(), wait_until="load")
            seen["charts"] = page.locator(".chart").count()
            try:
                page.wait_for_function(
                    "n => document.querySelectorAll('.chart svg.marks, .chart canvas').length >= n",
                    arg=seen["charts"],
                    timeout=30_000,
                )
            except PlaywrightTimeout:
                pass  # the counts below tell what did not draw
            seen["drawn"] = page.locator(".chart svg.marks, .chart canvas").count()
            seen["marks"] = page.locator(".chart svg.marks path, .chart svg.marks rect").count()
            seen["ink"] = ink(page, page.screenshot())
            first_chart = page.locator(".chart svg.marks, .chart canvas").first
            seen["chart_ink"] = ink(page, first_chart.screenshot()) if seen["drawn"] else 0.0
            seen["scrubbed"] = scrub(page)
        finally:
            context.close()
    return seen


def test_report_index_renders_offline(chromium, report, tmp_path):
    seen = open_offline(chromium, report / "index.html", tmp_path / "profile")
    assert seen["errors"] == [] and seen["requests"] == []
    assert seen["charts"] >= 1 and seen["drawn"] == seen["charts"] and seen["marks"] > 10, seen
    assert seen["ink"] > 0.02 and seen["chart_ink"] > 0.02, seen  # not blank


def test_arm_notebook_page_renders_offline(chromium, report, tmp_path):
    page = sorted((report / "arms").glob("*.html"))[0]
    seen = open_offline(chromium, page, tmp_path / "profile")
    assert seen["errors"] == [] and seen["requests"] == []
    assert seen["charts"] == 4 and seen["drawn"] == 4 and seen["marks"] > 100, seen
    assert seen["scrubbed"] is True, "the frame slider of the static scrubber moves nothing"
    assert seen["ink"] > 0.02 and seen["chart_ink"] > 0.02, seen


def test_marimo_explorer_runs_with_no_network(chromium, bundled_store, tmp_path):
    """`marimo run` serves the app's front end from the installed package: the explorer
    opens and draws with every request outside localhost refused. (`marimo export html`
    loads its front end from a CDN, so it is blank offline: the README gives the
    workaround, `marimo export ipynb --include-outputs` then `workbench publish`.)"""
    import socket
    import time

    from playwright.sync_api import sync_playwright

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "marimo",
            "run",
            str(ROOT / "notebooks" / "replay_explorer.py"),
            "--headless",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--no-token",
            "--",
            "--store",
            str(bundled_store),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    outside, errors = [], []
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:  # the server is up when its port answers
            with socket.socket() as client:
                if client.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.5)
        local = f"http://127.0.0.1:{port}"
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=chromium, args=FLAGS, headless=True)
            try:
                context = browser.new_context(viewport={"width": 1280, "height": 1400})

                def gate(route):
                    url = route.request.url
                    if url.startswith((local, "ws://127.0.0.1", *LOCAL_SCHEMES)):
                        return route.continue_()
                    outside.append(url)
                    return route.abort()

                context.route("**/*", gate)
                page = context.new_page()
                page.on("pageerror", lambda e: errors.append(str(e)))
                page.goto(local, wait_until="load")
                page.get_by_text("frames shown").first.wait_for(timeout=90_000)
                page.wait_for_function("document.querySelectorAll('svg.marks, canvas').length >= 1", timeout=90_000)
                charts = page.locator("svg.marks, canvas").count()
            finally:
                browser.close()
    finally:
        server.terminate()
        server.wait(timeout=30)
    assert outside == [], outside
    assert charts >= 1 and errors == [], errors
