"""A meter that has just started reporting, in a real headless Chromium: one partial reading,
flagged, sent over HTTP to the in-memory dashboard (`python -m energy_ui`). What ECharts draws
on the variables tab, filtered to that meter: the lone point has a symbol, the flagged reading
a red mark on each variable it carries, and the axes frame it alike on every chart (minutes,
not two days; ±5 %, not 100–350 V); a second reading gives the axes back to ECharts.

Skipped with the reason without Chromium, except under ``CI=true``. The screenshot is left in
the test's tmp folder (``variables.png``).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.ui.test_browser import CHROMIUM_ARGS, SRC, _chromium, _free_port

pytestmark = pytest.mark.browser

TOKEN = "sparse-test-token-" + "x" * 16
STEP_MS = 10_000
"""Longest wait for any one step in Chromium."""
METER = "plug-one"
ODD = {"voltage": 300.0, "current": 40.0, "active_power": 0.7}
"""Far from the demo's meters: the demo's model flags it."""
PADDED = {"voltage": [280, 320], "current": [38, 42], "active_power": [0.66, 0.74]}

CHARTS = """() => Object.fromEntries(
    Array.from(document.querySelectorAll('.q-card')).flatMap(card => {
        const title = card.innerText.trim().split('\\n')[0];
        const el = card.querySelector('.nicegui-echart');
        const chart = el && getElement(el.id.slice(1))?.chart;
        if (!chart || chart.getOption().series.length !== 6) return [];
        const model = chart.getModel();
        const mean = model.getSeriesByIndex(2).getData();
        const extent = (axis) => model.getComponent(axis, 0).axis.scale.getExtent();
        return [[title, {
            symbols: Array.from({length: mean.count()}, (_, i) => mean.getItemVisual(i, 'symbol')),
            means: chart.getOption().series[2].data.map(point => point[1]),
            marks: chart.getOption().series[3].data.map(point => point[1]),
            highs: chart.getOption().series[5].data.map(point => point[2]).filter(v => v != null),
            x: extent('xAxis'),
            y: extent('yAxis'),
        }]];
    })
)"""
"""Each time series card's title → what ECharts made of it: the mean line's symbols, the
means, the red marks' values, the expected band's highs and the axes' extents."""


@pytest.fixture
def server(tmp_path: Path) -> Iterator[str]:
    """`python -m energy_ui` in memory, with a trained demo model and HTTP ingest open."""
    _chromium()
    port = _free_port()
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("ENERGY_", "NICEGUI_", "PYTEST_")) and key != "DATABASE_URL"
    }
    env.update(
        ENERGY_PORT=str(port),
        ENERGY_DEMO_HISTORY="300",
        ENERGY_SEED="11",
        ENERGY_LANGUAGE="en",
        ENERGY_INGEST_TOKEN=TOKEN,
        ENERGY_STREAM_INTERVAL_S="5",
        PYTHONPATH=os.pathsep.join(filter(None, [str(SRC), os.environ.get("PYTHONPATH")])),
    )
    log = (tmp_path / "server.log").open("w")
    process = subprocess.Popen(
        [sys.executable, "-m", "energy_ui"], cwd=tmp_path, env=env, stdout=log, stderr=log
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                pytest.fail("the dashboard exited:\n" + (tmp_path / "server.log").read_text())
            try:
                # The demo trains its model before it opens the page.
                if httpx.get(url + "/", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                pytest.fail("the dashboard did not start")
            time.sleep(0.2)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
        log.close()


def send(url: str, values: dict[str, float]) -> dict[str, Any]:
    reading = {"meter_id": METER, "timestamp": datetime.now(UTC).isoformat(), **values}
    answer = httpx.post(
        url + "/api/v1/readings",
        json=[reading],
        headers={"Authorization": f"Bearer {TOKEN}"},
        timeout=30,
    )
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


def test_a_lone_flagged_reading_is_drawn_marked_and_framed_alike_on_every_chart(
    server: str, tmp_path: Path
) -> None:
    from playwright.sync_api import sync_playwright

    answer = send(server, ODD)
    assert (answer["accepted"], answer["flagged"]) == (1, 1)  # the premise
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=_chromium(), args=CHROMIUM_ARGS)
        errors: list[str] = []
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            page.set_default_timeout(STEP_MS)
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda error: errors.append(str(error)))
            page.goto(server + "/")
            page.click("[data-tab=meters]")
            page.click(f".se-meters tbody tr:has-text('{METER}')")
            page.wait_for_selector(f".q-chip:has-text('{METER}')")
            page.click("[data-tab=variables]")
            page.wait_for_function(f"({CHARTS})()['Voltage over time']?.means[0] === 300")
            # The band arrives after the page and redraws each chart: at a minute's turn the
            # charts may briefly be framed a minute apart; they must agree once it has.
            page.wait_for_function(
                f"new Set(Object.values(({CHARTS})()).map(c => String(c.x))).size === 1"
            )
            charts = page.evaluate(CHARTS)
            page.screenshot(path=str(tmp_path / "variables.png"), full_page=True)
            for name, value in ODD.items():
                chart = charts[f"{name.replace('_', ' ').capitalize()} over time"]
                assert (chart["means"], chart["symbols"]) == ([value], ["circle"]), name
                assert chart["marks"] == [value], name  # on each, not only the first named
                assert chart["y"] == pytest.approx(PADDED[name]), name
            assert charts["Frequency over time"]["marks"] == []
            windows = {tuple(chart["x"]) for chart in charts.values()}
            assert len(windows) == 1, windows  # the same time window on every chart
            start, end = windows.pop()
            assert 10 * 60_000 <= end - start <= 12 * 60_000  # minutes, not two days

            # A second reading: a line without symbols, on axes ECharts fits again.
            send(server, {"voltage": 231.0})
            page.wait_for_function(f"({CHARTS})()['Voltage over time'].means.length === 2")
            voltage = page.evaluate(CHARTS)["Voltage over time"]
            assert voltage["symbols"] == ["none", "none"]
            # Fitted to the data (the second reading's expected band, around the first one,
            # among it), not padded by half of it (100–350).
            top = max([300.0, *voltage["highs"]])
            assert voltage["y"][0] >= 200 and voltage["y"][1] <= top + 20
            assert voltage["x"][1] - voltage["x"][0] < 60_000
            page.wait_for_timeout(300)  # let pending renders report any error
        finally:
            browser.close()
    assert errors == []
