"""Arrival → browser latency of live readings, in memory mode and on PostgreSQL.

`python bench/live_latency.py [--mode both|memory|postgres] [--readings 300] [--quick]`

Opens the dashboard in headless Chromium, then ingests readings one by one through
``Monitor.ingest`` and notes the wall-clock time of each arrival. In the page, a
MutationObserver on the status panel's "latest reading #id" text notes when each id
appears. Latency = appearance − arrival (same machine, same clock).

- **memory**: the dashboard is served in this process (no demo driver); the baseline is the
  server's share, arrival → the producer's ``LiveUpdate`` emit.
- **postgres**: a scratch database beside ``DATABASE_URL``'s (dropped at the end); the
  dashboard runs as a separate ``smartenergy serve`` process and learns of new readings by
  LISTEN/NOTIFY; this process is the writer (its own ``Monitor``, its own connection). The
  baseline is the writer's share, arrival → committed and notified (``ingest`` returned).

Prints a table, then one JSON line with ``memory_p50_ms``, ``memory_p95_ms``,
``postgres_p50_ms`` and ``postgres_p95_ms`` (``null`` for a mode not run).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

# Bench this checkout's sources, not whichever copy the environment has installed.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from common import (
    ROOT,
    emit_json,
    free_port,
    median,
    percentile,
    print_table,
    running,
    scratch_database,
    serve_command,
    server_url,
    wait_until_answers,
)

from energy_core import Monitor
from energy_ui.bootstrap import bootstrap
from energy_ui.settings import Settings

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
BROWSER_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
OBSERVER = """
() => {
  window.__seen = [];
  const target = document.querySelector('.se-latest-reading');
  const note = () => {
    const match = (document.querySelector('.se-latest-reading')?.innerText ?? '').match(/#(\\d+)/);
    if (match) window.__seen.push([Number(match[1]), performance.timeOrigin + performance.now()]);
  };
  new MutationObserver(note).observe(target.parentElement,
    {childList: true, characterData: true, subtree: true});
}
"""
Arrivals = dict[int, float]


def summary(name: str, values: list[float]) -> dict[str, Any]:
    return {
        "what": name,
        "n": len(values),
        "min": min(values),
        "p50": median(values),
        "p95": percentile(values, 0.95),
        "p99": percentile(values, 0.99),
        "max": max(values),
    }


def ingest_one_by_one(
    monitor: Monitor, count: int, interval: float, stored_at: Arrivals | None = None
) -> Arrivals:
    """Ingest ``count`` single readings ``interval`` s apart; arrival time (ms) per id."""
    arrivals: Arrivals = {}
    for _ in range(count):
        batch = monitor.simulator.next_batch(1, at=monitor.clock.now())
        arrived = time.time() * 1000
        stored = monitor.ingest(batch).stored
        reading_id = stored[-1].id
        assert reading_id is not None
        arrivals[reading_id] = arrived
        if stored_at is not None:
            stored_at[reading_id] = time.time() * 1000
        time.sleep(interval)
    return arrivals


def watch_page(url: str, tab: str, write: Callable[[], Arrivals]) -> tuple[Arrivals, list[float]]:
    """Open ``url`` in Chromium, run ``write`` while observing; (arrivals, latencies in ms)."""
    from playwright.sync_api import sync_playwright

    wait_until_answers(url)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=BROWSER_ARGS
        )
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        page.goto(url)
        page.wait_for_selector(".se-latest-reading")
        if tab != "general":
            page.click(f"[data-tab={tab}]")
        page.wait_for_timeout(1000)  # first render done
        page.evaluate(OBSERVER)
        arrivals = write()
        page.wait_for_timeout(1500)
        seen = page.evaluate("window.__seen")
        browser.close()
    first_seen: dict[int, float] = {}
    for reading_id, at in seen:
        first_seen.setdefault(int(reading_id), float(at))
    return arrivals, [first_seen[i] - arrivals[i] for i in arrivals if i in first_seen]


def prepared(settings: Settings, history: int) -> Any:
    """An application with ``history`` readings, a trained model and one analysis."""
    application = bootstrap(settings)
    application.monitor.generate_history(history)
    application.monitor.train()
    application.monitor.analyse()
    return application


# --- PostgreSQL: a separate `smartenergy serve` process, this process writes -------------
def measure_postgres(options: argparse.Namespace) -> dict[str, Any]:
    with scratch_database(server_url(), "bench_live") as url:
        settings = Settings(_env_file=None, database_url=url, seed=1, demo_history=0)
        writer = prepared(settings, options.history)
        port = free_port()
        # The server's settings as the writer's (this environment's), but this database.
        env = {**os.environ, "DATABASE_URL": url, "PYTHONPATH": str(ROOT / "src")}
        # In a folder of its own: no stray .env; NiceGUI's storage lands there.
        with tempfile.TemporaryDirectory() as workdir:
            log = Path(workdir) / "serve.log"
            try:
                with running(serve_command(port), cwd=Path(workdir), env=env, log=log):
                    stored_at: Arrivals = {}
                    arrivals, browser = watch_page(
                        f"http://127.0.0.1:{port}/",
                        options.tab,
                        lambda: ingest_one_by_one(
                            writer.monitor, options.readings, options.interval, stored_at
                        ),
                    )
            finally:
                writer.close()
            if not browser:
                log_text = log.read_text(errors="replace")
                raise SystemExit(f"no reading reached the browser; serve log:\n{log_text}")
    writer_share = [stored_at[i] - arrivals[i] for i in arrivals]
    return {
        "sent": len(arrivals),
        "rows": [
            summary("arrival → committed + NOTIFY (writer, baseline)", writer_share),
            summary("arrival → text in the browser (end to end)", browser),
        ],
    }


# --- memory: served in this process ------------------------------------------------------
def measure_memory(options: argparse.Namespace) -> dict[str, Any]:
    from nicegui import app, core, ui

    from energy_ui.dashboard import create_app
    from energy_ui.dashboard.live import LiveUpdate

    application = prepared(Settings(_env_file=None, seed=1, demo_history=0), options.history)
    dashboard = create_app(application, demo=False)
    emitted: Arrivals = {}

    def on_update(update: LiveUpdate) -> None:
        now = time.time() * 1000
        for reading in update.readings:
            if reading.id is not None:
                emitted.setdefault(reading.id, now)

    dashboard.producer.updates.subscribe(on_update)
    port = free_port()
    result: dict[str, Any] = {}

    def drive() -> None:
        try:
            result["arrivals"], result["browser"] = watch_page(
                f"http://127.0.0.1:{port}/",
                options.tab,
                lambda: ingest_one_by_one(application.monitor, options.readings, options.interval),
            )
        except Exception as error:  # reported by the main thread
            result["error"] = repr(error)
        finally:
            assert core.loop is not None
            core.loop.call_soon_threadsafe(app.shutdown)

    app.on_startup(lambda: threading.Thread(target=drive, daemon=True).start())
    ui.run(port=port, reload=False, show=False, show_welcome_message=False, title="bench")
    if "error" in result:
        raise SystemExit(f"bench failed: {result['error']}")
    arrivals: Arrivals = result["arrivals"]
    server = [emitted[i] - arrivals[i] for i in arrivals if i in emitted]
    return {
        "sent": len(arrivals),
        "rows": [
            summary("arrival → producer emit (server, baseline)", server),
            summary("arrival → text in the browser (end to end)", result["browser"]),
        ],
    }


def print_rows(title: str, rows: list[dict[str, Any]]) -> None:
    """``summary`` rows as a table, then a blank line."""
    statistics = ("min", "p50", "p95", "p99", "max")
    print_table(
        title,
        [(row["what"], row["n"], *(f"{row[name]:.1f}" for name in statistics)) for row in rows],
        ("what", "n", *statistics),
    )
    print()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--mode", choices=["both", "memory", "postgres"], default="both")
    parser.add_argument("--readings", type=int, default=300)
    parser.add_argument("--interval", type=float, default=0.1, help="seconds between readings")
    parser.add_argument("--history", type=int, default=10_000)
    parser.add_argument("--tab", default="general", help="tab open meanwhile (its charts update)")
    parser.add_argument(
        "--quick", action="store_true", help="100 readings 50 ms apart over 2,000 stored"
    )
    options = parser.parse_args()
    if options.quick:  # under a minute in all: most of it is starting servers and browsers
        options.readings, options.interval, options.history = 100, 0.05, 2_000

    figures: dict[str, Any] = {}
    # PostgreSQL first: the memory mode runs NiceGUI in this process, which ends with it.
    for mode in ("postgres", "memory"):
        if options.mode not in ("both", mode):
            figures.update({f"{mode}_p50_ms": None, f"{mode}_p95_ms": None})
            continue
        measured = measure_postgres(options) if mode == "postgres" else measure_memory(options)
        baseline, browser = measured["rows"]
        print_rows(
            f"{mode}: {measured['sent']} readings one every {options.interval * 1000:.0f} ms,"
            f" {options.history} stored, model trained, tab {options.tab}; times in ms",
            measured["rows"],
        )
        figures.update(
            {
                f"{mode}_p50_ms": round(browser["p50"], 1),
                f"{mode}_p95_ms": round(browser["p95"], 1),
                f"{mode}_observed": browser["n"],
                f"{mode}_sent": measured["sent"],
                f"{mode}_baseline_p50_ms": round(baseline["p50"], 1),
            }
        )
    emit_json(figures)


if __name__ == "__main__":
    main()
