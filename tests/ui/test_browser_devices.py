"""Issue 14's done-when, end to end: a Tasmota and a Shelly Gen2 message published to the real
Mosquitto, an Emoncms-shape POST and a native reading with only voltage, current and active power,
sent to `smartenergy serve --mqtt` on PostgreSQL, end in PostgreSQL with NULLs where nothing was
sent, are scored by the trained model, and show in a real headless Chromium: the Meters tab lists
them (and its pagination label counts them), and the variables tab, filtered to the native
meter, draws the three variables it sent and leaves the others empty.

Skipped with the reason without Chromium, PostgreSQL or an MQTT broker, except under
``CI=true``, where any of them missing is a failure. Screenshots of both tabs are left in the
test's tmp folder (``meters.png``, ``meters-search.png``, ``variables.png``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import subprocess
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import aiomqtt
import httpx
import pytest
from sqlalchemy import text

from energy_core.telemetry.catalogue import VARIABLE_NAMES
from tests.postgres_support import scratch_database
from tests.served.conftest import AUTH, TOKEN, command
from tests.services import free_port, mqtt_test_broker
from tests.ui.test_browser import CHROMIUM_ARGS, _chromium
from tests.unit.decoders import samples

pytestmark = [pytest.mark.browser, pytest.mark.postgres, pytest.mark.mqtt]

T = TypeVar("T")

BROWSER_STEP_MS = 10_000
"""Longest wait for any one step in Chromium. Every wait is bounded: a run takes 15-35 s here
(setup included), and a broken one fails within about a minute instead of hanging."""
HISTORY = 300
"""Simulated readings of meter-01 the model is trained on before the devices send anything."""
NATIVE = {"voltage": 229.5, "current": 3.2, "active_power": 0.7}
EMONCMS_INPUTS = {"power1": 850, "E1": 1234.5}
"""W and Wh; the default emon keys make them channel 1's (energy_core.telemetry.decoders.emon)."""


def wait_for(
    check: Callable[[], T | None],
    timeout: float,
    what: str,
    details: Callable[[], str] = str,
) -> T:
    """``check()``'s first truthy answer; fails saying ``what`` (and ``details()``) after
    ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        found = check()
        if found:
            return found
        if time.monotonic() > deadline:
            pytest.fail(f"{what}: not within {timeout} s\n{details()}")
        time.sleep(0.2)


class Served:
    """`smartenergy serve --mqtt` on a scratch PostgreSQL database, its MQTT topics (native,
    Tasmota, Shelly) under a prefix of its own, so nothing else on the broker mixes in."""

    def __init__(self, database_url: str, prefix: str, broker: tuple[str, int]) -> None:
        self.prefix = prefix
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.workdir = Path(tempfile.mkdtemp(prefix="smartenergy-devices-"))
        host, port = broker
        env = {
            key: value
            for key, value in os.environ.items()
            # PYTEST_CURRENT_TEST would make NiceGUI think it runs inside pytest.
            if not key.startswith(("ENERGY_", "NICEGUI_", "PYTEST_")) and key != "DATABASE_URL"
        }
        env.update(
            PYTHONUNBUFFERED="1",
            DATABASE_URL=database_url,
            ENERGY_PORT=str(self.port),
            ENERGY_INGEST_TOKEN=TOKEN,
            ENERGY_LANGUAGE="en",
            ENERGY_MAX_READINGS="1000000",
            ENERGY_MQTT_URL=f"mqtt://{host}:{port}",
            ENERGY_MQTT_TOPIC=f"{prefix}/+/readings",
            ENERGY_MQTT_TASMOTA_PREFIX=f"{prefix}/tele",
            ENERGY_MQTT_SHELLY_PREFIX=prefix,
            ENERGY_MQTT_CLIENT_ID=prefix,
            ENERGY_MQTT_SESSION_EXPIRY_S="0",
        )
        self.log = (self.workdir / "serve.log").open("w")
        self.process = subprocess.Popen(
            [*command(), "--mqtt"],
            cwd=self.workdir,
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )

    def output(self) -> str:
        self.log.flush()
        return (self.workdir / "serve.log").read_text(errors="replace")[-4000:]

    def wait_until_subscribed(self, timeout: float) -> None:
        """/healthz answers 200 only once the MQTT channel is connected too."""

        def ready() -> bool:
            if self.process.poll() is not None:
                pytest.fail(f"serve exited with {self.process.returncode}\n{self.output()}")
            try:
                return httpx.get(f"{self.base_url}/healthz", timeout=2).status_code == 200
            except httpx.TransportError:
                return False

        wait_for(ready, timeout, "serve --mqtt ready", self.output)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        self.log.close()


@pytest.fixture
def database(pg_server_url: str) -> Iterator[str]:
    """A scratch database of this test's own, migrated, with meter-01's history and a model
    trained on it (so what the devices send is scored on arrival)."""
    from energy_adapters.postgres import upgrade
    from energy_ui.bootstrap import bootstrap
    from energy_ui.settings import Settings

    _chromium()  # skip (or fail under CI) before any work when there is no browser
    with scratch_database(pg_server_url, prefix="smartenergy_devices") as url:
        upgrade(url)
        application = bootstrap(
            Settings(_env_file=None, database_url=url, meters=1, seed=7, max_readings=None)
        )
        try:
            application.monitor.generate_history(HISTORY)
            application.monitor.train()
        finally:
            application.close()
        yield url


@pytest.fixture
def served(database: str) -> Iterator[Served]:
    broker = mqtt_test_broker()
    server = Served(database, f"dev-{uuid.uuid4().hex[:8]}", broker)
    try:
        server.wait_until_subscribed(timeout=30)
        yield server
    finally:
        server.stop()


async def publish(broker: tuple[str, int], *messages: tuple[str, bytes]) -> None:
    host, port = broker
    async with aiomqtt.Client(host, port) as publisher:
        for topic, payload in messages:
            await publisher.publish(topic, payload, qos=1)


def stored_rows(database_url: str, prefix: str) -> dict[str, dict[str, Any]]:
    from energy_adapters.postgres import open_engine

    engine = open_engine(database_url)
    try:
        with engine.connect() as connection:
            result = connection.execute(
                text("SELECT * FROM registros WHERE meter_id LIKE :p"), {"p": f"{prefix}-%"}
            )
            return {row.meter_id: dict(row._mapping) for row in result}
    finally:
        engine.dispose()


def sent_and_null(row: dict[str, Any], sent: dict[str, float]) -> tuple[dict[str, Any], set[str]]:
    """The row's values of the variables in ``sent``, and which other variables are NULL."""
    values = {name: row[name] for name in sent}
    nulls = {name for name in VARIABLE_NAMES if name not in sent and row[name] is None}
    return values, nulls


ROWS = ".se-meters tbody tr"
FIRST_CELLS = f"Array.from(document.querySelectorAll('{ROWS} td:first-child'))"
LABEL = (  # Quasar's pagination label, the last line of the table's bottom bar
    "(document.querySelector('.se-meters .q-table__bottom')?.innerText ?? '')"
    ".trim().split('\\n').pop().trim()"
)
MEANS = """() => Object.fromEntries(
    Array.from(document.querySelectorAll('.q-card')).flatMap(card => {
        const title = card.innerText.trim().split('\\n')[0];
        const el = card.querySelector('.nicegui-echart');
        const chart = el && getElement(el.id.slice(1))?.chart;
        const mean = chart?.getOption().series.find(s => s.name === 'mean');
        return mean ? [[title, mean.data.map(point => point[1])]] : [];
    })
)"""
"""Each time series card's title → the values of its mean line."""


def screenshot(page: Any, path: Path) -> None:
    """The page once the tab panels' slide is over (mid-slide, two panels share the view)."""
    page.wait_for_function(
        '!document.querySelector(\'[class*="q-transition--"][class*="-active"]\')',
        timeout=BROWSER_STEP_MS,
    )
    page.screenshot(path=str(path), full_page=True)


def meter_ids(page: Any) -> list[str]:
    return list(page.evaluate(f"{FIRST_CELLS}.map(cell => cell.innerText.trim())"))


def wait_for_label(page: Any, expected: str) -> None:
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    with contextlib.suppress(PlaywrightTimeout):  # the assertion below says what it shows
        page.wait_for_function(f"{LABEL} === {json.dumps(expected)}", timeout=BROWSER_STEP_MS)
    assert page.evaluate(LABEL) == expected


def check_meters_tab(page: Any, prefix: str, devices: list[str], shots: Path) -> None:
    """Every meter listed and counted by the pagination label (not "1–0 / 0"); the search,
    answered by the server, narrows the list to the devices (they share the test's prefix)."""
    page.wait_for_function(
        f"document.querySelectorAll('{ROWS}').length === 5", timeout=BROWSER_STEP_MS
    )
    assert meter_ids(page) == [*devices, "meter-01"]
    wait_for_label(page, "1–5 / 5")
    screenshot(page, shots / "meters.png")
    page.get_by_label("Search meter").fill(prefix)
    page.wait_for_function(
        f"document.querySelectorAll('{ROWS}').length === 4", timeout=BROWSER_STEP_MS
    )
    assert meter_ids(page) == devices
    wait_for_label(page, "1–4 / 4")
    screenshot(page, shots / "meters-search.png")


def check_variables_tab(page: Any, native: str) -> None:
    """A click on the native meter filters the dashboard to it; its variables tab draws the
    three variables it sent and leaves the others empty: a gap, never 0."""
    page.click(f"{ROWS}:has-text('{native}')")
    page.wait_for_selector(f".q-chip:has-text('{native}')", timeout=BROWSER_STEP_MS)
    page.click("[data-tab=variables]")
    page.wait_for_function(
        f"({MEANS})()['Voltage over time']?.includes({NATIVE['voltage']})", timeout=BROWSER_STEP_MS
    )
    means = page.evaluate(MEANS)
    assert means["Voltage over time"] == [NATIVE["voltage"]]
    assert means["Current over time"] == [NATIVE["current"]]
    assert means["Active power over time"] == [NATIVE["active_power"]]
    for missing in ("Power factor", "Frequency", "Motor temperature"):
        assert means[f"{missing} over time"] == [None], missing


def test_device_payloads_end_in_postgresql_scored_and_show_in_the_browser(
    served: Served, database: str, tmp_path: Path
) -> None:
    prefix, broker = served.prefix, mqtt_test_broker()
    plug, shelly, node, native = (f"{prefix}-{name}" for name in ("plug", "pm", "emontx", "native"))
    emoncms = f"{node}.1"  # an Emoncms node's power1/E1 are its channel 1

    asyncio.run(
        publish(
            broker,
            (f"{prefix}/tele/{plug}/SENSOR", samples.TASMOTA_POW_R2),
            (f"{prefix}/{shelly}/status/pm1:0", samples.SHELLY_PM_MINI),
        )
    )
    with httpx.Client(base_url=served.base_url, headers=AUTH, timeout=30) as client:
        emon = client.post(
            "/api/v1/emoncms/input/post",
            params={"node": node, "fulljson": json.dumps(EMONCMS_INPUTS)},
        )
        assert (emon.status_code, emon.json()) == (200, {"success": True})
        reading = {"meter_id": native, "timestamp": datetime.now(UTC).isoformat(), **NATIVE}
        answer = client.post("/api/v1/readings", json=[reading])
        assert answer.status_code == 200, answer.text
        assert answer.json()["accepted"] == 1 and answer.json()["model_version"] == 1

    def all_four() -> dict[str, dict[str, Any]] | None:
        found = stored_rows(database, prefix)
        return found if len(found) == 4 else None

    rows = wait_for(all_four, 15, "four readings in PostgreSQL", served.output)
    assert sorted(rows) == sorted([plug, shelly, emoncms, native])
    # What each device sent, in the catalogue's units; NULL for every variable it did not send.
    tasmota = {  # Pow R2: W → kW, VA → kVA, var → kvar; Total is kWh already
        "voltage": 227.0,
        "current": 11.661,
        "active_power": pytest.approx(2.635),
        "apparent_power": pytest.approx(2.65),
        "reactive_power": pytest.approx(0.282),
        "power_factor": 0.99,
        "energy_import": pytest.approx(6.294),
    }
    pm_mini = {  # pm1:0: apower W → kW, aenergy/ret_aenergy Wh → kWh
        "voltage": 234.5,
        "current": 0.043,
        "active_power": pytest.approx(0.0044),
        "frequency": 50.1,
        "energy_import": pytest.approx(73.112963),
        "energy_export": 0.0,
    }
    emon_values = {"active_power": pytest.approx(0.85), "energy_import": pytest.approx(1.2345)}
    for meter, sent in (
        (plug, tasmota),
        (shelly, pm_mini),
        (emoncms, emon_values),
        (native, NATIVE),
    ):
        values, nulls = sent_and_null(rows[meter], sent)
        assert values == sent, meter
        assert nulls == set(VARIABLE_NAMES) - set(sent), meter
        assert rows[meter]["score"] is not None, f"{meter} was not scored"
        assert rows[meter]["top_variables"], meter
        assert set(rows[meter]["top_variables"]) <= set(sent), meter  # never a missing variable

    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path / "profile"),
            executable_path=_chromium(),
            headless=True,
            args=CHROMIUM_ARGS,
            viewport={"width": 1400, "height": 900},
        )
        errors: list[str] = []
        try:
            context.set_default_timeout(BROWSER_STEP_MS)
            page = context.new_page()
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda error: errors.append(str(error)))
            page.goto(served.base_url + "/")
            page.click("[data-tab=meters]")
            check_meters_tab(page, prefix, [emoncms, native, plug, shelly], tmp_path)
            check_variables_tab(page, native)
            screenshot(page, tmp_path / "variables.png")
            page.wait_for_timeout(300)  # let pending renders report any error
        finally:
            context.close()
    assert errors == []
