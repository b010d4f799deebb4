"""Detector benchmark: training, scoring and detect-on-ingest, beside scikit-learn.

Every scoring figure of ``IsolationForestDetector`` (which scores through the compiled
forest of ``energy_core.detection.fastforest``) is measured beside scikit-learn's own
``IsolationForest.score_samples`` on the same fitted model, in the same run, and the run
checks that both give the same scores (max |ours - scikit-learn| <= 1e-9).

    python bench/detect.py            # full: trains on 100 k and 1 M readings, scores 1 M
    python bench/detect.py --quick    # under a minute: 100 k training, 200 k scored (x5)

Prints a table of medians over repeats and, as the last line, one JSON object.
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.ensemble import IsolationForest

# Bench this checkout's sources, not whichever copy the environment has installed.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from common import emit_json, median, print_table

from energy_core import (
    IsolationForestDetector,
    Reading,
    Simulator,
    feature_matrix,
    labels,
    score_with,
)
from energy_core.detection.fastforest import compile_forest
from energy_core.detection.registry import make_detector
from energy_core.usecases.monitor import meter_groups

TOLERANCE = 1e-9
TARGET_BATCH5_MS = 5.0
TARGET_1M_S = 5.0
FLEET_METERS = 10_000
TARGET_FLEET_CORE = 0.5  # issue 16: 10,000 meters' readings each second on at most half a core
START = datetime(2025, 1, 1, tzinfo=UTC)
CADENCE = timedelta(minutes=1)


class ScoredByScikitLearn(IsolationForestDetector):
    """The same fitted detector scoring through ``forest_.score_samples``: what
    ``IsolationForestDetector`` did before the compiled forest (explain included)."""

    @classmethod
    def sharing(cls, fitted: IsolationForestDetector) -> ScoredByScikitLearn:
        twin = cls.__new__(cls)
        twin.__dict__.update(fitted.__dict__)  # the very same scaler_ and forest_
        return twin

    def score(self, X: np.ndarray) -> np.ndarray:
        X = self._check(X)
        self._check_is_fitted()
        if len(X) == 0:
            return np.empty(0)
        return -self.forest_.score_samples(self.scaler_.transform(X))


def timings(action: Callable[[], object], repeats: int) -> list[float]:
    """Seconds per call of ``action``, after one call to warm up."""
    action()
    seconds = []
    for _ in range(repeats):
        start = time.perf_counter()
        action()
        seconds.append(time.perf_counter() - start)
    return seconds


def simulated(
    simulator: Simulator, count: int, *, chunk: int = 100_000
) -> tuple[np.ndarray, np.ndarray, datetime]:
    """``count`` readings of ``simulator`` as a feature matrix and labels, built chunk by
    chunk so that a million readings never sit in memory as objects; and the last time."""
    matrices, truths = [], []
    end = START
    for start in range(0, count, chunk):
        size = min(chunk, count - start)
        end += CADENCE * math.ceil(size / 3)
        readings = simulator.history(size, end=end, cadence=CADENCE)
        matrices.append(feature_matrix(readings))
        truth = labels(readings)
        assert truth is not None
        truths.append(truth)
    return np.concatenate(matrices), np.concatenate(truths), end


def sklearn_fit(detector: IsolationForestDetector, X: np.ndarray) -> IsolationForest:
    """scikit-learn's part of ``detector.fit``: the forest alone, same settings, on the
    standardised ``X`` (the offset for the contamination included)."""
    return IsolationForest(
        n_estimators=detector.n_estimators,
        contamination=detector.contamination_,
        max_samples=detector.max_samples,
        random_state=detector.random_state,
    ).fit(detector.scaler_.transform(X))


def batches(readings: list[Reading], size: int, count: int) -> list[list[Reading]]:
    return [readings[i * size : (i + 1) * size] for i in range(count)]


def cycling(items: Sequence[Any]) -> Callable[[], Any]:
    """A function returning the next item at each call, round and round."""
    position = -1

    def take() -> Any:
        nonlocal position
        position = (position + 1) % len(items)
        return items[position]

    return take


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Detector benchmark beside scikit-learn.")
    parser.add_argument("--quick", action="store_true", help="under a minute: 100 k training")
    args = parser.parse_args(argv)
    quick: bool = args.quick

    scored_rows = 200_000 if quick else 1_000_000
    print(f"detect.py ({'quick' if quick else 'full'}): simulating {scored_rows:,} readings…")
    started = time.perf_counter()
    # Three meters; the stream to ingest comes after the history, from the same meters.
    simulator = Simulator(meters=3, seed=1)
    X_all, y_all, end = simulated(simulator, scored_rows)
    stream = simulator.history(20_000, end=end + CADENCE * 7_000, cadence=CADENCE)
    print(f"  simulated in {time.perf_counter() - started:.1f} s")
    diffs: list[float] = []

    def compare(ours: np.ndarray, theirs: np.ndarray) -> None:
        diffs.append(float(np.max(np.abs(ours - theirs), initial=0.0)))

    # --- training --------------------------------------------------------------------
    X_100k, y_100k = X_all[:100_000], y_all[:100_000]
    train_100k = timings(lambda: IsolationForestDetector().fit(X_100k, y_100k), 3)
    detector = IsolationForestDetector().fit(X_100k, y_100k)
    sklearn_fit_100k = timings(lambda: sklearn_fit(detector, X_100k), 3)
    compile_s = timings(lambda: compile_forest(detector.forest_), 5)
    train_1m: list[float] = []
    sklearn_fit_1m: list[float] = []
    if not quick:
        train_1m = timings(lambda: IsolationForestDetector().fit(X_all, y_all), 2)
        sklearn_fit_1m = timings(lambda: sklearn_fit(detector, X_all), 2)
    baseline = ScoredByScikitLearn.sharing(detector)
    forest, scaler = detector.forest_, detector.scaler_

    # --- scoring: batches of 5 and 1,000 and throughput ----------------------------
    X_stream = feature_matrix(stream)
    batch5 = cycling([X_stream[i * 5 : i * 5 + 5] for i in range(300)])
    batch1000 = cycling([X_stream[i * 1000 : i * 1000 + 1000] for i in range(20)])
    score5 = timings(lambda: detector.score(batch5()), 300)
    sklearn5 = timings(lambda: baseline.score(batch5()), 60)
    scaled5 = cycling([scaler.transform(X_stream[i * 5 : i * 5 + 5]) for i in range(300)])
    forest5 = timings(lambda: detector.compiled_.score_samples(scaled5()), 300)
    sklearn_forest5 = timings(lambda: forest.score_samples(scaled5()), 60)
    score1000 = timings(lambda: detector.score(batch1000()), 40)
    sklearn1000 = timings(lambda: baseline.score(batch1000()), 20)
    compare(detector.score(X_stream), baseline.score(X_stream))

    # --- scoring 1 M (quick: 200 k, extrapolated) ---------------------------------------
    bulk_repeats = 3
    bulk = timings(lambda: detector.score(X_all), bulk_repeats)
    sklearn_bulk = timings(lambda: baseline.score(X_all), bulk_repeats)
    compare(detector.score(X_all), baseline.score(X_all))
    to_1m = 1_000_000 / len(X_all)

    # --- detect-on-ingest: score_with = score + flag + explain the flagged ------------------
    ingest5_batches = batches(stream, 5, 300)
    flagged_readings = [r for r in score_with(detector, stream) if r.is_flagged]
    all_flagged5 = batches(flagged_readings, 5, min(100, len(flagged_readings) // 5))
    ingest1000_batches = batches(stream, 1000, 20)

    def ingest_timings(
        batches: list[list[Reading]], repeats: int, sklearn_repeats: int
    ) -> tuple[list[float], list[float]]:
        """Seconds per ``score_with`` call, ours then scikit-learn's, each through
        ``batches`` in turn from the first."""
        take = cycling(batches)
        ours = timings(lambda: score_with(detector, take()), repeats)
        take = cycling(batches)
        return ours, timings(lambda: score_with(baseline, take()), sklearn_repeats)

    ingest5, sklearn_ingest5 = ingest_timings(ingest5_batches, 300, 60)
    ingest5_flagged, sklearn_ingest5_flagged = ingest_timings(all_flagged5, 100, 30)
    ingest1000, sklearn_ingest1000 = ingest_timings(ingest1000_batches, 20, 10)
    ours_verdicts = score_with(detector, stream)
    their_verdicts = score_with(baseline, stream)
    compare(
        np.array([r.score for r in ours_verdicts], dtype=float),
        np.array([r.score for r in their_verdicts], dtype=float),
    )
    verdicts_equal = all(
        (a.is_flagged, a.top_variables) == (b.is_flagged, b.top_variables)
        for a, b in zip(ours_verdicts, their_verdicts, strict=True)
    )
    flagged_per_5 = statistics.mean(
        sum(bool(r.is_flagged) for r in score_with(detector, b)) for b in ingest5_batches
    )

    # --- the default live detector: temporal, scoring each batch after its meters' context --
    temporal_history = Simulator(meters=3, seed=2).history(
        100_000, end=end, cadence=timedelta(seconds=0.6)
    )
    temporal_X = feature_matrix(temporal_history)
    temporal_groups = meter_groups(temporal_history)
    train_temporal = timings(
        lambda: make_detector("temporal").fit(temporal_X, groups=temporal_groups), 1 if quick else 3
    )
    temporal = make_detector("temporal").fit(temporal_X[:30_000], groups=temporal_groups[:30_000])
    live = temporal_history[30_000:]

    def with_context(start: int, size: int) -> Callable[[], object]:
        batch = live[start : start + size]
        context = {
            meter: feature_matrix(
                [r for r in live[max(0, start - 3 * temporal.context_rows) : start]
                 if r.meter_id == meter][-temporal.context_rows :]
            )
            for meter in {r.meter_id for r in batch}
        }  # fmt: skip
        return lambda: score_with(temporal, batch, context=context)

    temporal5 = [with_context(1_000 + 5 * i, 5) for i in range(100)]
    temporal1000 = [with_context(10_000 + 1_000 * i, 1_000) for i in range(10)]
    next_t5 = cycling(temporal5)
    temporal_ingest5 = timings(lambda: next_t5()(), 200)
    next_t1000 = cycling(temporal1000)
    temporal_ingest1000 = timings(lambda: next_t1000()(), 20)

    # --- a fleet: 10,000 meters sending one reading each, every second ----------------------
    # What each second of a 10,000-meter site costs the scorer: every meter's new reading with
    # its context (its previous context_rows readings), features of all meters in one numpy
    # pass; second after second as live, so that what the detector keeps from one second for
    # the next (each meter's short medians) is used as it is live. The first second (nothing
    # kept yet: a start, a model loaded) is reported apart.
    fleet_meters = 2_000 if quick else FLEET_METERS
    fleet_seconds = 1 + (3 if quick else 5)
    fleet = Simulator(meters=fleet_meters, seed=5).history(
        fleet_meters * (temporal.context_rows + fleet_seconds),
        end=end,
        cadence=timedelta(seconds=1),
    )
    fleet_X = feature_matrix(fleet)
    fleet_rows: dict[str, list[int]] = {}
    for row, reading in enumerate(fleet):
        fleet_rows.setdefault(reading.meter_id, []).append(row)
    assert all(len(rows) == temporal.context_rows + fleet_seconds for rows in fleet_rows.values())
    fleet_cpu: list[float] = []
    for second in range(fleet_seconds):
        at = temporal.context_rows + second
        fleet_batch = [fleet[rows[at]] for rows in fleet_rows.values()]
        fleet_context = {meter: fleet_X[rows[second:at]] for meter, rows in fleet_rows.items()}
        started_cpu = time.process_time()
        score_with(temporal, fleet_batch, context=fleet_context)
        fleet_cpu.append(time.process_time() - started_cpu)
    fleet_cold, fleet_cpu = fleet_cpu[0], fleet_cpu[1:]
    fleet_share = median(fleet_cpu) * FLEET_METERS / fleet_meters  # CPU s per second of readings

    # --- report --------------------------------------------------------------------------
    max_abs_diff = max(diffs)
    ms = 1e3
    score_1m = median(bulk) * to_1m
    sklearn_1m = median(sklearn_bulk) * to_1m
    rows: list[tuple[str, float, float | None, str, str]] = [
        # what, ours, scikit-learn, unit, target
        ("train on 100 k readings (vs forest.fit alone)", median(train_100k),
         median(sklearn_fit_100k), "s", ""),
        ("  of which compiling the forest", median(compile_s) * ms, None, "ms", ""),
    ]  # fmt: skip
    if train_1m:
        rows.append(
            ("train on 1 M readings (vs forest.fit alone)", median(train_1m),
             median(sklearn_fit_1m), "s", "")
        )  # fmt: skip
    rows += [
        ("score a batch of 5 (detector.score)", median(score5) * ms, median(sklearn5) * ms, "ms",
         f"<= {TARGET_BATCH5_MS:g} ms"),
        ("  forest only (scaled input)", median(forest5) * ms, median(sklearn_forest5) * ms,
         "ms", ""),
        ("score a batch of 1,000", median(score1000) * ms, median(sklearn1000) * ms, "ms", ""),
        *(
            [(f"score {len(X_all):,} readings", median(bulk), median(sklearn_bulk), "s", "")]
            if quick
            else []
        ),
        ("score 1 M readings" + (" (extrapolated x5)" if quick else ""), score_1m, sklearn_1m,
         "s", f"<= {TARGET_1M_S:g} s"),
        ("ingest 5: score_with (score+flag+explain)", median(ingest5) * ms,
         median(sklearn_ingest5) * ms, "ms", f"<= {TARGET_BATCH5_MS:g} ms"),
        ("ingest 5, all 5 flagged (worst case)", median(ingest5_flagged) * ms,
         median(sklearn_ingest5_flagged) * ms, "ms", f"<= {TARGET_BATCH5_MS:g} ms"),
        ("ingest 1,000: score_with", median(ingest1000) * ms, median(sklearn_ingest1000) * ms,
         "ms", ""),
        ("temporal (live default): train 100 k", median(train_temporal), None, "s", ""),
        ("temporal: ingest 5 with context", median(temporal_ingest5) * ms, None, "ms",
         f"<= {TARGET_BATCH5_MS:g} ms"),
        ("temporal: ingest 1,000 with context", median(temporal_ingest1000) * ms, None, "ms", ""),
        (f"temporal: {fleet_meters:,} meters x 1 reading, CPU", median(fleet_cpu) * ms, None,
         "ms", ""),
        ("  the first second (nothing kept yet), CPU", fleet_cold * ms, None, "ms", ""),
        (f"  share of a core for {FLEET_METERS:,} meters at 1/s"
         + (" (extrapolated)" if quick else ""), 100 * fleet_share, None, "%",
         f"<= {100 * TARGET_FLEET_CORE:g} %"),
    ]  # fmt: skip
    print_table(
        "",
        [
            (
                what,
                f"{ours:.3f} {unit}",
                "" if theirs is None else f"{theirs:.3f} {unit}",
                "" if theirs is None else f"{theirs / ours:.1f}x",
                target,
            )
            for what, ours, theirs, unit, target in rows
        ],
        ("measurement (median)", "ours", "scikit-learn", "x faster", "target"),
    )
    print(
        "scikit-learn: the same fitted detector scoring through"
        " IsolationForest.score_samples (as before the compiled forest), same run."
    )
    print(
        f"flagged per batch of 5: {flagged_per_5:.2f};"
        f" flags and explanations of {len(stream):,} streamed readings equal: {verdicts_equal};"
        f" max |ours - scikit-learn| = {max_abs_diff:.3g} (<= {TOLERANCE:g}:"
        f" {max_abs_diff <= TOLERANCE})"
    )
    if quick:
        print(f"quick: 1 M figures extrapolated from {len(X_all):,} readings (x{to_1m:g})")

    targets = {
        "batch5": median(score5) * ms <= TARGET_BATCH5_MS,
        "ingest5": median(ingest5) * ms <= TARGET_BATCH5_MS,
        "score_1m": score_1m <= TARGET_1M_S,
        "equal": max_abs_diff <= TOLERANCE and verdicts_equal,
        "fleet_10k": fleet_share <= TARGET_FLEET_CORE,
    }
    result = {
        "quick": quick,
        "score_batch5_ms_p50": median(score5) * ms,
        "sklearn_batch5_ms_p50": median(sklearn5) * ms,
        "forest_batch5_ms_p50": median(forest5) * ms,
        "sklearn_forest_batch5_ms_p50": median(sklearn_forest5) * ms,
        "score_batch1000_ms_p50": median(score1000) * ms,
        "sklearn_batch1000_ms_p50": median(sklearn1000) * ms,
        "score_1m_s": score_1m,
        "sklearn_1m_s": sklearn_1m,
        "score_1m_extrapolated_from": len(X_all) if quick else None,
        "ingest_batch5_ms_p50": median(ingest5) * ms,
        "sklearn_ingest_batch5_ms_p50": median(sklearn_ingest5) * ms,
        "ingest_batch5_all_flagged_ms_p50": median(ingest5_flagged) * ms,
        "ingest_batch1000_ms_p50": median(ingest1000) * ms,
        "sklearn_ingest_batch1000_ms_p50": median(sklearn_ingest1000) * ms,
        "temporal_ingest_batch5_ms_p50": median(temporal_ingest5) * ms,
        "temporal_ingest_batch1000_ms_p50": median(temporal_ingest1000) * ms,
        "temporal_fleet_meters": fleet_meters,
        "temporal_fleet_cpu_ms_p50": median(fleet_cpu) * ms,
        "temporal_fleet_cold_cpu_ms": fleet_cold * ms,
        "temporal_fleet_10k_core_share": fleet_share,
        "temporal_train_100k_s": median(train_temporal),
        "train_100k_s": median(train_100k),
        "train_1m_s": median(train_1m) if train_1m else None,
        "sklearn_fit_100k_s": median(sklearn_fit_100k),
        "sklearn_fit_1m_s": median(sklearn_fit_1m) if sklearn_fit_1m else None,
        "compile_ms": median(compile_s) * ms,
        "max_abs_diff": max_abs_diff,
        "verdicts_equal": verdicts_equal,
        "targets_met": targets,
    }
    emit_json(result)
    return 0 if targets["equal"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
