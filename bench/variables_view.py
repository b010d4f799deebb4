"""How fast the dashboard's Variables and Meters views load on the query bench's data.

Loads the readings of ``query.py`` (1 M by default: 10 meters at 1 Hz, about 28 hours, with
their rollups and counters) into a scratch database, then times ``load_view`` (everything a
page shows for its filters, the Variables tab's envelopes among it; and, alone, its
``sample``), ``load_zoom`` (one variable re-queried over a zoomed hour), the Meters tab's
first page (``meters_overview``) and ``load_expected`` (the detector's expected band of a
one-meter view, which the Variables tab reads after the page, off the event loop): first
with no model (no band can be drawn), then after ``Monitor.train`` (the default detector).
Prints a table of medians and, as its last line, one JSON object.

DATABASE_URL names the server (default: the local one); the scratch database is dropped at
the end.

    PYTHONPATH=src python bench/variables_view.py --quick
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

# Bench this checkout's sources, not whichever copy the environment has installed.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from common import emit_json, print_table, scratch_database, server_url, timed
from query import END, load

from energy_adapters.postgres import connect, describe_url
from energy_core.ports import FleetQuery
from energy_core.usecases.monitor import Monitor, MonitorSettings
from energy_ui.dashboard.filters import Filters
from energy_ui.dashboard.queries import BandRequest, load_expected, load_view, load_zoom

TARGET_MS = 100.0
"""The Meters and Variables views load in at most this (median)."""


def cases(monitor: Monitor, fleet: Any) -> list[tuple[str, str, Callable[[], Any]]]:
    last_day = (END - timedelta(days=1)).date()
    one_meter = ("meter-01",)
    day_of_one = Filters(meters=one_meter, date_from=last_day, date_to=last_day)
    all_of_one = Filters(meters=one_meter)
    hour_end = END - timedelta(hours=1)
    return [
        (
            "view_default",
            "page, default filters (all meters)",
            lambda: load_view(monitor, Filters()),
        ),
        ("view_meter_day", "page, one meter, last 24 h", lambda: load_view(monitor, day_of_one)),
        ("view_meter_all", "page, one meter, all stored", lambda: load_view(monitor, all_of_one)),
        (
            "sample_default",
            "  its sample: all meters, all stored",
            lambda: sample_of(monitor, Filters()),
        ),
        (
            "sample_meter_day",
            "  its sample: one meter, last 24 h",
            lambda: sample_of(monitor, day_of_one),
        ),
        (
            "zoom_meter_hour",
            "zoom, one meter, one hour",
            lambda: load_zoom(
                monitor, day_of_one, "voltage", hour_end - timedelta(hours=1), hour_end
            ),
        ),
        ("meters_page", "Meters tab, first page", lambda: fleet.meters_overview(FleetQuery(), END)),
        (
            "band_meter_day",
            "band, one meter, last 24 h",
            lambda: load_expected(monitor, BandRequest(day_of_one, one_meter[0])),
        ),
        (
            "band_zoom_hour",
            "band, one meter, zoomed hour",
            lambda: load_expected(
                monitor,
                BandRequest(
                    day_of_one, one_meter[0], start=hour_end - timedelta(hours=1), end=hour_end
                ),
            ),
        ),
        (
            "variables_meter_day",
            "Variables tab data: 6 envelopes (one meter, 24 h)",
            lambda: envelopes_of(monitor, day_of_one),
        ),
    ]


def envelopes_of(monitor: Monitor, filters: Filters) -> object:
    """What the Variables tab itself draws from storage: each variable's envelope, read at
    once as the page reads them."""
    where = monitor.readable(filters.reading_filter())
    return monitor.queries.downsample_many(filters.variables, where, max(filters.sampling, 2))


def sample_of(monitor: Monitor, filters: Filters) -> object:
    """The page's sample (the readings its scatter plots and histograms draw)."""
    return monitor.queries.sample(monitor.readable(filters.reading_filter()), filters.sampling)


def band_size(monitor: Monitor, filters: Filters) -> int:
    """Readings the expected band of ``filters``' one-meter view covers (0: none)."""
    band = load_expected(monitor, BandRequest(filters, filters.meters[0]))
    return max((len(points) for points in band.values()), default=0)


def measure(monitor: Monitor, fleet: Any, repeats: int, phase: str) -> dict[str, float]:
    results: dict[str, float] = {}
    table = []
    for key, label, run in cases(monitor, fleet):
        p50, p90, _ = timed(run, repeats)
        results[f"{key}_{phase}_ms_p50"] = round(p50, 1)
        table.append((label, f"{p50:.1f}", f"{p90:.1f}"))
    print_table(f"\n{phase}", table, ("view", "p50 ms", "p90 ms"))
    return results


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="10 repeats instead of 30")
    parser.add_argument("--rows", type=int, default=1_000_000, help="readings to store")
    parser.add_argument("--repeats", type=int, help="runs per view (median)")
    args = parser.parse_args(argv)
    repeats = args.repeats or (10 if args.quick else 30)
    url = server_url()
    print(f"server {describe_url(url)}; 10 meters at 1 Hz")
    with scratch_database(url, "smartenergy_bench_view") as database_url:
        stores = connect(database_url)
        try:
            seconds = load(stores.engine, args.rows)
            print(f"loaded {args.rows:,} readings in {seconds:.1f} s")
            monitor = Monitor(
                readings=stores.readings,
                queries=stores.queries,
                metrics=stores.metrics,
                models=stores.models,
                feed=stores.feed,
                settings=MonitorSettings(max_readings=None),
            )
            results: dict[str, Any] = {"rows": args.rows, "load_s": round(seconds, 1)}
            results |= measure(monitor, stores.fleet, repeats, "no_model")
            started = time.perf_counter()
            info = monitor.train()
            print(
                f"\ntrained {info.detector} on {info.rows:,} readings in "
                f"{time.perf_counter() - started:.1f} s"
            )
            results |= measure(monitor, stores.fleet, repeats, "model")
            last_day = (END - timedelta(days=1)).date()
            results["band_readings_meter_day"] = band_size(
                monitor, Filters(meters=("meter-01",), date_from=last_day, date_to=last_day)
            )
        finally:
            stores.close()
    checked = (
        "view_default",
        "view_meter_day",
        "meters_page",
        "variables_meter_day",
        "band_meter_day",
        "zoom_meter_hour",
    )
    print(f"\ntargets (≤ {TARGET_MS:.0f} ms, with the model):")
    for key in checked:
        value = results[f"{key}_model_ms_p50"]
        print(f"  {key}: {value:.1f} ms {'met' if value <= TARGET_MS else 'MISSED'}")
    results["targets_met"] = all(results[f"{key}_model_ms_p50"] <= TARGET_MS for key in checked)
    emit_json(results)


if __name__ == "__main__":
    main()
