"""Screenshot the running demo: `python scripts/dashboard_screenshot.py [docs/dashboard.png]`.

Starts `python -m energy_ui` (in-memory demo) on a free port, lets it stream for a while,
and saves a 1400×900 screenshot taken by headless Chromium. ``--tab`` picks another tab.
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from playwright.sync_api import sync_playwright

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until_up(url: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            time.sleep(0.3)
    raise RuntimeError(f"{url} did not answer within {timeout} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("output", nargs="?", default="docs/dashboard.png")
    parser.add_argument("--tab", default="general")
    parser.add_argument("--language", default="es")
    parser.add_argument("--wait", type=float, default=12.0, help="seconds of streaming first")
    parser.add_argument("--full-page", action="store_true")
    parser.add_argument("--width", type=int, default=1400)
    parser.add_argument("--height", type=int, default=900)
    options = parser.parse_args()

    port = free_port()
    env = {
        **os.environ,
        "ENERGY_PORT": str(port),
        "ENERGY_SEED": os.environ.get("ENERGY_SEED", "7"),
        "ENERGY_LANGUAGE": options.language,
        "ENERGY_ANALYSIS_INTERVAL_S": "3",
    }
    root = Path(__file__).resolve().parents[1]
    env["PYTHONPATH"] = str(root / "src") + os.pathsep + env.get("PYTHONPATH", "")
    with tempfile.TemporaryDirectory() as workdir:
        server = subprocess.Popen([sys.executable, "-m", "energy_ui"], cwd=workdir, env=env)
        try:
            url = f"http://127.0.0.1:{port}/"
            wait_until_up(url)
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(
                    executable_path=CHROMIUM, headless=True, args=ARGS
                )
                page = browser.new_page(viewport={"width": options.width, "height": options.height})
                page.goto(url)
                page.wait_for_selector(".nicegui-echart canvas")
                if options.tab != "general":
                    page.click(f"[data-tab={options.tab}]")
                page.wait_for_timeout(options.wait * 1000)
                page.screenshot(path=str(root / options.output), full_page=options.full_page)
                browser.close()
        finally:
            server.terminate()
            server.wait(timeout=10)
    print(root / options.output)


if __name__ == "__main__":
    main()
