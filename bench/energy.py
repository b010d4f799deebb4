"""How fast energy insight answers (consumption by day, 15-minute demand, cost at a
time-of-use tariff) from the per-minute rollups, against the same figures computed from the
raw readings in the same run, and whether both agree.

Loads meters at 1 Hz (``--quick``: 10 meters × 1 day = 864 k readings; default: that, then
10 meters × 7 days = 6 M) as numpy columns through one binary COPY per meter, half of them
sending an energy register (one of which resets mid-way), one with a 30-minute hole; builds
the rollups and counters with one statement each, as the migration back-fills them.

Measures, for all meters over the whole span (Europe/Madrid days, the tariff of
docs/energy.md):

- **rollups**: ``EnergyInsight(PostgresEnergyQueries).summary`` — the product's path — and
  its two halves, the read (``minutes``) and the computation;
- **raw**: the raw rows of the energy variables read as numpy columns (binary COPY) and the
  same computation at each reading's own instant: the baseline;
- **agreement**: per meter and day, imported kWh; per meter, peak demand and cost; the
  largest relative difference between the two (must be ≤ 0.5 %).

Then, without raw rows, rollups alone for more meters (``--rollup-meters``, default 1,000
meters × 1 day, 100 with ``--quick``; 0 to skip), to see how the rollup path grows, and what
that says of the issue's target (a month of 1,000 meters at 1 Hz in ≤ 200 ms): extrapolated,
since such a month is 2.6 G readings.

DATABASE_URL names the server (default: the local one); everything happens in a scratch
database of its own, dropped at the end.

    python bench/energy.py --quick
"""

from __future__ import annotations

import argparse
import io
import math
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import Engine, text

# Bench this checkout's sources, not whichever copy the environment has installed.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from common import emit_json, print_table, scratch_engine, server_url, timed

from energy_adapters.postgres import describe_url
from energy_adapters.postgres.binary_copy import COLUMNS, HEADER, TRAILER
from energy_adapters.postgres.energy import PostgresEnergyQueries
from energy_adapters.postgres.rollups import MINUTE_OF_TIMESTAMP
from energy_adapters.postgres.schema import rollup_columns, rollup_count_column
from energy_core.energy import (
    EnergyInsight,
    EnergySettings,
    EnergySummary,
    MeterSeries,
    Samples,
    consumption,
    cost,
    demand,
    parse_tariffs,
    series_from_minutes,
)
from energy_core.telemetry.catalogue import VARIABLE_NAMES

START = datetime(2025, 6, 2, tzinfo=UTC) - timedelta(hours=2)  # Madrid midnight
SETTINGS = EnergySettings(timezone="Europe/Madrid")
TARIFFS = parse_tariffs(
    """
    timezone = "Europe/Madrid"
    currency = "EUR"
    [[tariff]]
    name = "2025"
    valid_from = 2025-01-01
    price = 0.10
    demand_charge = 3.2
    [[tariff.period]]
    name = "peak"
    price = 0.22
    days = ["mon", "tue", "wed", "thu", "fri"]
    hours = "10:00-14:00"
    [[tariff.period]]
    name = "night"
    price = 0.06
    days = "daily"
    hours = "22:00-06:00"
    """
)
AGREEMENT = 0.005
TARGET_MS = 200.0
_UNIX_SECONDS_AT_2000 = int(datetime(2000, 1, 1, tzinfo=UTC).timestamp())
_TEXT_OID = 25
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def meter_name(index: int) -> str:
    return f"e-{index:04d}"


def _row_type(sent: Sequence[str]) -> np.dtype[Any]:
    """One binary COPY row of ``registros`` sending ``sent`` (others NULL), fixed-width."""
    fields: list[tuple[str, str]] = [
        ("fields", ">i2"),
        ("id_length", ">i4"),
        ("id", ">i8"),
        ("timestamp_length", ">i4"),
        ("timestamp", ">i8"),
    ]
    for name in VARIABLE_NAMES:
        fields.append((f"{name}_length", ">i4"))
        if name in sent:
            fields.append((name, ">f8"))
    fields += [
        ("meter_length", ">i4"),
        ("meter", "S6"),
        ("is_anomaly_length", ">i4"),
        ("kind_length", ">i4"),
        ("score_length", ">i4"),
        ("is_flagged_length", ">i4"),
        ("top_length", ">i4"),
        ("top_dimensions", ">i4"),
        ("top_has_nulls", ">i4"),
        ("top_element_type", ">i4"),
    ]
    return np.dtype(fields)


def meter_columns(index: int, seconds: int, counter: bool) -> dict[str, np.ndarray]:
    """A plausible meter at 1 Hz for ``seconds`` from START: a daily load curve with noise."""
    rng = np.random.default_rng(index)
    t = np.arange(seconds, dtype=np.float64)
    hours = ((t + START.hour * 3600) % 86_400) / 3600.0
    load = (
        0.35 + 0.45 * np.exp(-(((hours - 13.0) / 4.0) ** 2)) + 0.03 * rng.standard_normal(seconds)
    )
    power = np.clip(8.0 * load * (1 + 0.05 * (index % 7)), 0.05, None)
    factor = np.clip(0.84 + 0.1 * load + 0.01 * rng.standard_normal(seconds), 0.0, 1.0)
    voltage = 230.0 + 0.8 * rng.standard_normal(seconds)
    columns = {
        "active_power": power,
        "power_factor": factor,
        "voltage": voltage,
        "current": power * 1000.0 / (voltage * factor),
    }
    if counter:
        register = 1000.0 * (index + 1) + np.concatenate(
            ([0.0], np.cumsum((power[1:] + power[:-1]) / 2.0) / 3600.0)
        )
        if index == 1:  # a reset half-way: counted again from the new value
            half = seconds // 2
            register[half:] -= register[half] - 3.0
        columns["energy_import"] = register
    return columns


def load(engine: Engine, meters: int, days: int) -> tuple[int, float]:
    """Store ``meters`` meters at 1 Hz for ``days`` days from START (meter 2 silent for 30
    minutes in the middle); returns the readings stored and the seconds it took."""
    started = time.perf_counter()
    seconds = days * 86_400
    statement = f"COPY registros ({', '.join(COLUMNS)}) FROM STDIN WITH (FORMAT binary)"
    first_id = 1
    for index in range(meters):
        counter = index % 2 == 1
        columns = meter_columns(index, seconds, counter)
        keep = np.ones(seconds, dtype=bool)
        if index == 2:
            keep[seconds // 2 : seconds // 2 + 1800] = False
        sent = [name for name in VARIABLE_NAMES if name in columns]
        row = np.zeros(int(keep.sum()), dtype=_row_type(sent))
        row["fields"] = len(COLUMNS)
        row["id_length"] = row["timestamp_length"] = 8
        row["id"] = np.arange(first_id, first_id + len(row))
        start_second = int((START - _EPOCH).total_seconds())
        row["timestamp"] = (start_second + np.flatnonzero(keep) - _UNIX_SECONDS_AT_2000) * 1_000_000
        for name in VARIABLE_NAMES:
            if name in columns:
                row[f"{name}_length"] = 8
                row[name] = columns[name][keep]
            else:
                row[f"{name}_length"] = -1
        row["meter_length"] = 6
        row["meter"] = meter_name(index).encode()
        for name in ("is_anomaly", "kind", "score", "is_flagged"):
            row[f"{name}_length"] = -1
        row["top_length"] = 12
        row["top_element_type"] = _TEXT_OID
        first_id += len(row)
        connection = engine.raw_connection()
        try:
            cursor = connection.cursor()
            payload = HEADER + row.tobytes() + TRAILER
            cursor.copy_expert(statement, io.BytesIO(payload))  # type: ignore[attr-defined]
            cursor.close()
            connection.commit()
        finally:
            connection.close()
    build_rollups(engine, first_id - 1)
    return first_id - 1, time.perf_counter() - started


def build_rollups(engine: Engine, rows: int) -> None:
    columns = ", ".join(
        column
        for name in VARIABLE_NAMES
        for column in (*rollup_columns(name), rollup_count_column(name))
    )
    aggregates = ", ".join(
        f"min({name}), max({name}), sum({name}), count({name})" for name in VARIABLE_NAMES
    )
    with engine.begin() as connection:
        connection.execute(text("SELECT setval('registros_id_seq', :n)"), {"n": rows})
        connection.execute(
            text(
                f"INSERT INTO registros_por_minuto (minute, meter_id, readings, flagged, {columns})"
                f" SELECT {MINUTE_OF_TIMESTAMP}, meter_id, count(*), 0, {aggregates}"
                " FROM registros GROUP BY 1, 2"
            )
        )
        connection.execute(
            text(
                "INSERT INTO registros_contadores (meter_id, readings, flagged)"
                " SELECT meter_id, count(*), 0 FROM registros GROUP BY meter_id"
            )
        )
    vacuum(engine)


def vacuum(engine: Engine) -> None:
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(text("VACUUM ANALYZE registros, registros_por_minuto"))


def load_rollups_only(engine: Engine, meters: int, days: int) -> tuple[int, float]:
    """Per-minute rollups of ``meters`` power meters at 1 Hz for ``days`` days, written
    directly (no raw rows): 60 readings a minute, a daily load curve."""
    started = time.perf_counter()
    counts = {rollup_count_column(name): "0" for name in VARIABLE_NAMES}
    counts[rollup_count_column("active_power")] = "60"
    counts[rollup_count_column("power_factor")] = "60"
    low, high, total = rollup_columns("active_power")
    factor_low, factor_high, factor_total = rollup_columns("power_factor")
    with engine.begin() as connection:
        connection.execute(
            text(
                f"""
                INSERT INTO registros_por_minuto (minute, meter_id, readings, flagged,
                    {low}, {high}, {total}, {factor_low}, {factor_high}, {factor_total},
                    {", ".join(counts)})
                SELECT minute, 'r-' || lpad(m::text, 4, '0'), 60, 0,
                       p * 0.95, p * 1.05, p * 60, 0.88, 0.92, 54.0, {", ".join(counts.values())}
                FROM generate_series(0, :meters - 1) AS m,
                     generate_series(:start, :end, interval '1 minute') AS minute,
                     LATERAL (SELECT 8.0 * (1 + 0.05 * (m % 7)) * (0.35 + 0.45 * exp(-power(
                         (extract(epoch FROM minute)::bigint % 86400 / 3600.0 + 2 - 13) / 4, 2)))
                         AS p) AS load
                """
            ),
            {
                "meters": meters,
                "start": START,
                "end": START + timedelta(days=days) - timedelta(minutes=1),
            },
        )
        connection.execute(
            text(
                "INSERT INTO registros_contadores (meter_id, readings, flagged)"
                " SELECT 'r-' || lpad(m::text, 4, '0'), 1, 0 FROM generate_series(0, :n - 1) m"
            ),
            {"n": meters},
        )
    vacuum(engine)
    return meters * days * 1440, time.perf_counter() - started


# --- the raw baseline ---------------------------------------------------------------------
_RAW_FIELDS = ("active_power", "power_factor", "reactive_power", "energy_import", "energy_export")
_RAW_ROW = np.dtype(
    [("fields", ">i2"), ("t_length", ">i4"), ("t", ">f8"), ("m_length", ">i4"), ("m", ">i4")]
    + [item for name in _RAW_FIELDS for item in ((f"{name}_length", ">i4"), (name, ">f8"))]
)


def raw_series(
    engine: Engine, meters: Sequence[str], start: datetime, end: datetime
) -> dict[str, MeterSeries]:
    """Each meter's series at its readings' own instants, from ``registros``."""
    selection = ", ".join(f"coalesce({name}, 'NaN')::float8" for name in _RAW_FIELDS)
    query = f"""
        SELECT extract(epoch FROM r.timestamp)::float8, (m.position - 1)::int4, {selection}
        FROM unnest(%(meters)s::text[]) WITH ORDINALITY AS m (meter_id, position)
        JOIN registros r ON r.meter_id = m.meter_id
        WHERE r.timestamp >= %(start)s AND r.timestamp < %(end)s
        ORDER BY m.position, r.timestamp
    """
    connection = engine.raw_connection()
    try:
        cursor = connection.cursor()
        sql = cursor.mogrify(query, {"meters": list(meters), "start": start, "end": end}).decode()
        output = io.BytesIO()
        cursor.copy_expert(f"COPY ({sql}) TO STDOUT (FORMAT binary)", output)  # type: ignore[attr-defined]
        cursor.close()
    finally:
        connection.close()
    payload = output.getvalue()
    rows = np.frombuffer(payload[19:-2], dtype=_RAW_ROW)
    result = {}
    positions, first = np.unique(rows["m"], return_index=True)
    bounds = [*first.tolist(), len(rows)]
    for position, low, high in zip(positions.tolist(), bounds, bounds[1:], strict=False):
        part = rows[low:high]
        t = part["t"].astype(np.float64)

        def samples(name: str, part: Any = part, t: np.ndarray = t) -> Samples:
            values = part[name].astype(np.float64)
            present = ~np.isnan(values)
            return Samples(t[present], values[present])

        power = samples("active_power")
        factor = np.abs(part["power_factor"].astype(np.float64)[~np.isnan(part["active_power"])])
        name = meters[position]
        result[name] = MeterSeries(
            name, power, factor, samples("energy_import"), samples("energy_export")
        )
    return result


def compute(series: dict[str, MeterSeries], start: datetime, end: datetime) -> tuple[Any, ...]:
    used = consumption(series, start, end, period="day", settings=SETTINGS)
    meter_demand, total_demand = demand(series, start, end, settings=SETTINGS)
    meter_cost, total_cost = cost(series, start, end, tariffs=TARIFFS, settings=SETTINGS)
    return used, meter_demand, total_demand, meter_cost, total_cost


def relative(one: float, other: float) -> float:
    scale = max(abs(one), abs(other), 1e-9)
    return abs(one - other) / scale


def agreement(rolled: EnergySummary, exact: tuple[Any, ...]) -> dict[str, float]:
    used, meter_demand, _, meter_cost, total_cost = exact
    days = max(
        relative(a.import_kwh, b.import_kwh)
        for ma, mb in zip(rolled.consumption.meters, used.meters, strict=True)
        for a, b in zip(ma.periods, mb.periods, strict=True)
        if max(a.import_kwh, b.import_kwh) > 0.1
    )
    peaks = max(
        relative(a.peak_kw, b.peak_kw) for a, b in zip(rolled.demand, meter_demand, strict=True)
    )
    costs = max(relative(a.total, b.total) for a, b in zip(rolled.costs, meter_cost, strict=True))
    assert rolled.total_cost is not None
    return {
        "day_kwh": days,
        "peak_kw": peaks,
        "cost": costs,
        "total_cost": relative(rolled.total_cost.total, total_cost.total),
    }


def measure(engine: Engine, meters: int, days: int, repeats: int) -> dict[str, Any]:
    queries = PostgresEnergyQueries(engine)
    insight = EnergyInsight(queries, settings=SETTINGS, tariffs=TARIFFS)
    start, end = START, START + timedelta(days=days)
    names = [meter_name(index) for index in range(meters)]
    gap = SETTINGS.gap_limit

    def read() -> Any:
        return queries.minutes(start - gap, end + gap)

    minutes = read()
    rolled_series = {m.meter_id: series_from_minutes(m) for m in minutes}
    cases = [
        ("summary", "rollups: EnergyInsight.summary", lambda: insight.summary(start, end), repeats),
        ("minutes", "  the read (minutes)", read, repeats),
        (
            "compute",
            "  the computation",
            lambda: compute({m.meter_id: series_from_minutes(m) for m in minutes}, start, end),
            repeats,
        ),
        (
            "raw_read",
            "raw: rows as numpy columns",
            lambda: raw_series(engine, names, start, end),
            3,
        ),
    ]
    results: dict[str, Any] = {"meters": meters, "days": days}
    table = []
    answers = {}
    for key, label, run, times in cases:
        p50, p90, answer = timed(run, times)
        answers[key] = answer
        results[f"{key}_ms_p50"] = round(p50, 1)
        table.append((label, f"{p50:,.1f}", f"{p90:,.1f}"))
    exact_series = answers["raw_read"]
    p50, p90, exact = timed(lambda: compute(exact_series, start, end), 3)
    results["raw_compute_ms_p50"] = round(p50, 1)
    results["raw_ms_p50"] = round(results["raw_read_ms_p50"] + p50, 1)
    table.append(("  the same computation at each reading", f"{p50:,.1f}", f"{p90:,.1f}"))
    table.append(("raw: read + computation (baseline)", f"{results['raw_ms_p50']:,.1f}", ""))
    print_table(
        f"\n{meters} meters × {days} day(s) at 1 Hz ({meters * days * 86_400:,} readings,"
        f" {sum(len(m) for m in minutes):,} rollup minutes)",
        table,
        ("path", "p50 ms", "p90 ms"),
    )
    differences = agreement(answers["summary"], exact)
    worst = max(differences.values())
    results.update({f"difference_{key}": round(value, 6) for key, value in differences.items()})
    results["agree"] = worst <= AGREEMENT
    results["raw_over_rollups"] = round(results["raw_ms_p50"] / results["summary_ms_p50"], 1)
    print(
        "agreement (largest relative difference, rollups vs raw): "
        + ", ".join(f"{key} {value:.4%}" for key, value in differences.items())
        + f" -> {'agree' if results['agree'] else 'DISAGREE'} (limit {AGREEMENT:.1%})"
    )
    del rolled_series
    return results


def measure_rollups_only(engine: Engine, meters: int, days: int, repeats: int) -> dict[str, Any]:
    queries = PostgresEnergyQueries(engine)
    insight = EnergyInsight(queries, settings=SETTINGS, tariffs=TARIFFS)
    start, end = START, START + timedelta(days=days)
    gap = SETTINGS.gap_limit
    p50, _, summary = timed(lambda: insight.summary(start, end), repeats)
    read_p50, _, _ = timed(lambda: queries.minutes(start - gap, end + gap), repeats)
    per_meter_day = p50 / (meters * days)
    estimate = per_meter_day * 1000 * 30
    print_table(
        f"\nrollups only: {meters} meters × {days} day(s)"
        f" ({meters * days * 1440:,} rollup minutes)",
        [
            ("EnergyInsight.summary", f"{p50:,.1f}"),
            ("  the read (minutes)", f"{read_p50:,.1f}"),
            ("per meter-day", f"{per_meter_day:.3f}"),
            ("1,000 meters × 30 days, extrapolated", f"{estimate:,.0f}"),
        ],
        ("", "ms"),
    )
    assert len(summary.consumption.meters) == meters
    return {
        "rollup_only_meters": meters,
        "rollup_only_days": days,
        "rollup_only_summary_ms_p50": round(p50, 1),
        "rollup_only_minutes_ms_p50": round(read_p50, 1),
        "month_1000_meters_ms_estimate": round(estimate),
    }


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="10 meters × 1 day only")
    parser.add_argument("--repeats", type=int, default=5, help="runs of the rollup path (median)")
    parser.add_argument(
        "--rollup-meters",
        type=int,
        help="meters of the rollups-only run (default 1,000; 100 with --quick; 0: skip)",
    )
    args = parser.parse_args(argv)
    sizes = [(10, 1)] if args.quick else [(10, 1), (10, 7)]
    url = server_url()
    print(f"server {describe_url(url)}")
    results: dict[str, Any] = {}
    for meters, days in sizes:
        with scratch_engine(url, "smartenergy_bench_energy") as engine:
            rows, seconds = load(engine, meters, days)
            print(f"loaded {rows:,} readings with rollups and counters in {seconds:.1f} s")
            results = {**measure(engine, meters, days, args.repeats), "load_s": round(seconds, 1)}
    rollup_meters = args.rollup_meters
    if rollup_meters is None:
        rollup_meters = 100 if args.quick else 1000
    if rollup_meters > 0:
        with scratch_engine(url, "smartenergy_bench_energy") as engine:
            minutes, seconds = load_rollups_only(engine, rollup_meters, 1)
            print(f"\nwrote {minutes:,} rollup minutes in {seconds:.1f} s")
            results.update(measure_rollups_only(engine, rollup_meters, 1, 3))
    estimate = results.get("month_1000_meters_ms_estimate", math.nan)
    print(
        f"\nrollups vs raw at {results['meters']} meters × {results['days']} day(s):"
        f" {results['raw_over_rollups']}× faster, {'agree' if results['agree'] else 'DISAGREE'};"
        f" target (a month of 1,000 meters ≤ {TARGET_MS:.0f} ms): extrapolated {estimate:,.0f} ms,"
        f" {'met' if estimate <= TARGET_MS else 'MISSED'}"
    )
    emit_json(results)


if __name__ == "__main__":
    main()
