"""Training time with per-meter thresholds: the pooled fit, then each meter's calibration
scored in this process (sequential) or in joblib processes, by number of meters.

    python bench/train.py            # 64 to 1,000 meters, 12,800 to 500,000 readings, 3 repeats
    python bench/train.py --quick    # 64 and 1,000 meters, 150 readings each, 1 repeat

Per size: ``Simulator`` meters (motor meters, no faults) with one reading a minute each, the
default detector fitted once on them pooled (``fit``), then
``energy_core.detection.meter_calibration.calibrate_meters`` (the step ``Monitor.train``
adds: each meter's rows scored as one sequence, then its factor from its scores) with
``jobs=1`` and ``jobs=N`` (the CPUs, at least 2), the size from which ``Monitor.train``
uses processes (``PARALLEL_MIN_ROWS``) lowered to 0 so that every size can be run both
ways. The pool of processes is started once before timing (``cold`` is that first call,
with the start-up; joblib keeps the pool 5 minutes idle, so a retrain every 5 minutes may
pay it again); the rest are medians. The run checks that both ways give the same factors.
The machine's load average is printed with the figures: processes only pay on free cores, so
the run also gives the CPU seconds of the scoring alone and of the busiest worker process
(what the split's wall time comes to on free cores, plus the dispatch).

Prints a table, then one JSON object as the last line.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

# Bench this checkout's sources, not whichever copy the environment has installed.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from common import emit_json, median, print_table

from energy_core import Simulator, feature_matrix
from energy_core.detection import meter_calibration
from energy_core.detection.meter_calibration import AlarmBudget, calibrate_meters
from energy_core.detection.protocol import choose_features
from energy_core.detection.registry import make_detector

END = datetime(2026, 3, 2, tzinfo=UTC)


def seconds(run: object, repeats: int) -> tuple[float, object]:
    """Median wall time in s of ``repeats`` calls of ``run`` and the last result."""
    durations, result = [], None
    for _ in range(repeats):
        started = time.perf_counter()
        result = run()  # type: ignore[operator]
        durations.append(time.perf_counter() - started)
    return median(durations), result


def busy_seconds(
    detector: object, X: np.ndarray, groups: np.ndarray, times: np.ndarray, jobs: int
) -> tuple[float, float]:
    """CPU seconds of the meters' scoring done in this process, and of the busiest of
    ``jobs`` worker processes given the chunks ``score_meters`` gives them: on free cores
    the split's wall time is about the latter plus the dispatch."""
    from joblib import Parallel, delayed

    started = time.process_time()
    meter_calibration._score_rows(detector, X, groups, times)  # type: ignore[arg-type]
    alone = time.process_time() - started
    meters = list(dict.fromkeys(groups.tolist()))
    chunks = [np.flatnonzero(np.isin(groups, meters[start::jobs])) for start in range(jobs)]
    spent = Parallel(n_jobs=jobs, backend="loky")(
        delayed(_cpu_of_chunk)(detector, X[rows], groups[rows], times[rows]) for rows in chunks
    )
    return alone, max(spent)


def _cpu_of_chunk(detector: object, X: np.ndarray, groups: np.ndarray, times: np.ndarray) -> float:
    started = time.process_time()
    meter_calibration._score_rows(detector, X, groups, times)  # type: ignore[arg-type]
    return time.process_time() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="64 and 1,000 meters, 1 repeat")
    arguments = parser.parse_args()
    sizes = (
        ((64, 150), (1000, 150))
        if arguments.quick
        else ((64, 200), (256, 200), (1000, 200), (1000, 500))
    )
    repeats = 1 if arguments.quick else 3
    jobs = max(os.cpu_count() or 1, 2)
    meter_calibration.PARALLEL_MIN_ROWS = 0  # both ways at every size
    budget = AlarmBudget()
    rows, figures = [], {"cpus": os.cpu_count(), "jobs": jobs}
    cold = None
    load_before = os.getloadavg()[0]
    for meters, per_meter in sizes:
        readings = Simulator(meters=meters, anomaly_ratio=0.0, seed=1).history(
            meters * per_meter, end=END, cadence=timedelta(minutes=1)
        )
        features = choose_features(readings)
        X = feature_matrix(readings, features)
        groups = np.array([r.meter_id for r in readings])
        times = [r.timestamp for r in readings]
        detector = make_detector("temporal", features)
        started = time.perf_counter()
        detector.fit(X, groups=groups, times=np.array([t.timestamp() for t in times]))
        fit_s = time.perf_counter() - started

        def calibrate(jobs: int) -> dict[str, float]:
            return calibrate_meters(detector, X, groups, times, budget, jobs=jobs)  # noqa: B023

        if cold is None:
            started = time.perf_counter()
            calibrate(jobs)
            cold = time.perf_counter() - started
        sequential_s, alone = seconds(lambda: calibrate(1), repeats)
        parallel_s, split = seconds(lambda: calibrate(jobs), repeats)
        if alone != split:
            raise SystemExit(f"{meters} meters: factors differ between 1 and {jobs} processes")
        size = f"{meters}x{per_meter}"
        seconds_of = np.array([t.timestamp() for t in times])
        cpu_alone, cpu_busiest = busy_seconds(detector, X, groups, seconds_of, jobs)
        rows.append(
            [
                meters,
                len(readings),
                f"{fit_s:.2f}",
                f"{sequential_s:.2f}",
                f"{parallel_s:.2f}",
                f"{sequential_s / parallel_s:.2f}×",
                f"{cpu_alone:.2f} → {cpu_busiest:.2f}",
                f"{fit_s + sequential_s:.2f} → {fit_s + parallel_s:.2f}",
            ]
        )
        figures |= {
            f"{size}_fit_s": round(fit_s, 3),
            f"{size}_calibrate_sequential_s": round(sequential_s, 3),
            f"{size}_calibrate_parallel_s": round(parallel_s, 3),
            f"{size}_scoring_cpu_s": round(cpu_alone, 3),
            f"{size}_scoring_cpu_busiest_process_s": round(cpu_busiest, 3),
        }
    print_table(
        f"Training with per-meter thresholds: calibration in 1 or {jobs} processes (median of"
        f" {repeats}; {os.cpu_count()} CPUs, load average {load_before:.1f} before,"
        f" {os.getloadavg()[0]:.1f} after)",
        rows,
        [
            "meters",
            "readings",
            "fit s",
            "calibrate s, 1 process",
            f"calibrate s, {jobs}",
            "speed-up",
            "scoring CPU s: 1 → busiest of N",
            "train s, 1 → N",
        ],
    )
    print(f"first call in {jobs} processes, with their start-up: {cold:.2f} s")
    figures["cold_parallel_s"] = round(cold or 0.0, 3)
    figures["load_average"] = [round(load_before, 2), round(os.getloadavg()[0], 2)]
    emit_json(figures)


if __name__ == "__main__":
    main()
