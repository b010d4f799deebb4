"""Per-meter thresholds on a simulated plant: false alarms per meter-day and recall of
injected faults with the model's one threshold (before) and with each meter's factor from
its false-alarm budget (after).

    python bench/calibration.py          # 20 meters every 10 s, 2 test days, 3 seeds
    python bench/calibration.py --quick  # the same plant every 30 s, 1 test day, 1 seed

The plant (per seed): ``Simulator`` with 12 motor meters and 8 smart plugs and the demo's
``IncidentSchedule`` (an episode every 8 minutes across the plant: sags, overcurrents,
overheating, stuck and spiking sensors…), one reading per meter every ``cadence``. Six
meters are made noisier than the simulator's own (their current and active power get an
extra multiplicative noise of 3 % for three of them, 6 % for three more: a load that
fluctuates), in training and test alike. The history holds faults too, unlabelled for the
detector, as a plant's does.

A ``Monitor`` in memory (the default detector, ``ENERGY_ALARM_BUDGET``'s default of 1 a
day) goes through the live cycle: it ingests day 1 (nothing to score it yet) and trains
(**first model**: one detector on every meter pooled, then each meter's factor from its own
training scores); it ingests day 2, scored and flagged by that model with its factors, and
trains again on day 2 (**retrained**: what the model flagged stays out of training unless
users called it a false alarm, ``FeedbackCalibration.training``). The test days are scored
by each model with its training's last readings as context, once; each variant only moves
the thresholds:

- **pooled**: the model's threshold on every meter (before);
- **per meter, N/day**: each meter's factor for a budget of N alarms per day (after; N = 1
  is the default and the factors train stored);
- **one plant-wide factor**: one factor from every meter's training scores pooled, at the
  same total budget (meters × 1 a day): what a single calibrated threshold does.

Figures on the test days: an **alarm** is a run of flagged readings of one meter (a gap of
more than 3 unflagged readings starts a new one, as ``IncidentRule``'s default closes an
incident); a **false alarm** is an alarm holding no labelled reading. False alarms per
meter-day: mean over meters, the worst meter, meter-runs over 1 a day. **Recall**: share of
the fault episodes (runs of labelled readings of one meter) with at least one flagged
reading, and share of labelled readings flagged. Sums over seeds.

Prints a table, then one JSON object as the last line.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

# Bench this checkout's sources, not whichever copy the environment has installed.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from common import emit_json, print_table

from energy_adapters.memory import (
    ManualClock,
    MemoryChangeFeed,
    MemoryMetricRepository,
    MemoryModelStore,
    MemoryReadingRepository,
)
from energy_core import Monitor, MonitorSettings, Reading, ReadingFilter, Simulator, feature_matrix
from energy_core.detection.meter_calibration import (
    AlarmBudget,
    budget_factor,
    exceedance_probability,
)
from energy_core.telemetry.simulator import IncidentSchedule

MOTORS, PLUGS = 12, 8
NOISY = {"meter-02": 0.03, "meter-05": 0.03, "plug-03": 0.03}
NOISY |= {"meter-08": 0.06, "meter-11": 0.06, "plug-06": 0.06}
"""Meters made noisier: extra relative noise on current and active power."""
BUDGETS = (0.2, 1.0, 5.0)
START = datetime(2026, 3, 2, tzinfo=UTC)
GAP = 3
"""Unflagged readings that end an alarm (``IncidentRule``'s default ``close_after``)."""


def noisier(readings: list[Reading], seed: int) -> list[Reading]:
    rng = np.random.default_rng(seed + 1000)
    out = []
    for reading in readings:
        spread = NOISY.get(reading.meter_id)
        if spread:
            values = dict(reading.values)
            for name in ("current", "active_power"):
                if name in values:
                    values[name] *= 1.0 + rng.normal(0.0, spread)
            reading = replace(reading, values=values)
        out.append(reading)
    return out


def plant(seed: int, cadence: timedelta, days: int) -> list[Reading]:
    simulator = Simulator(
        meters=MOTORS, plugs=PLUGS, anomaly_ratio=0.0, seed=seed, incidents=IncidentSchedule()
    )
    steps = round(timedelta(days=days) / cadence)
    meters = MOTORS + PLUGS
    readings = simulator.history(steps * meters, end=START + timedelta(days=days), cadence=cadence)
    return noisier(readings, seed)


@dataclass
class Figures:
    meter_days: float = 0.0
    false_alarms: int = 0
    worst: float = 0.0
    """False alarms per day of the worst meter (the largest over seeds)."""
    over_budget: int = 0
    """Meter-runs above 1 false alarm a day."""
    meters: int = 0
    episodes: int = 0
    caught: int = 0
    faulty_readings: int = 0
    flagged_faulty: int = 0

    def row(self, name: str) -> list[str]:
        return [
            name,
            f"{self.false_alarms / self.meter_days:.2f}",
            f"{self.worst:.1f}",
            f"{self.over_budget}/{self.meters}",
            f"{100 * self.caught / self.episodes:.1f} %",
            f"{100 * self.flagged_faulty / self.faulty_readings:.1f} %",
        ]

    def json(self) -> dict[str, float]:
        return {
            "false_alarms_per_meter_day": round(self.false_alarms / self.meter_days, 3),
            "worst_meter_per_day": round(self.worst, 2),
            "meters_over_1_per_day": self.over_budget,
            "episode_recall": round(self.caught / self.episodes, 4),
            "reading_recall": round(self.flagged_faulty / self.faulty_readings, 4),
        }


def runs(flags: np.ndarray, gap: int) -> list[tuple[int, int]]:
    """(first, last) row of each run of True, runs closer than ``gap`` False rows merged."""
    rows = np.flatnonzero(flags)
    if len(rows) == 0:
        return []
    breaks = np.flatnonzero(np.diff(rows) > gap + 1)
    starts = np.concatenate([[rows[0]], rows[breaks + 1]])
    ends = np.concatenate([rows[breaks], [rows[-1]]])
    return list(zip(starts.tolist(), ends.tolist(), strict=True))


def measure(
    figures: Figures,
    scores: dict[str, np.ndarray],
    truth: dict[str, np.ndarray],
    factors: dict[str, float],
    days: float,
) -> None:
    for meter, score in scores.items():
        flags = score > factors.get(meter, 1.0)
        label = truth[meter]
        false = sum(1 for a, b in runs(flags, GAP) if not label[a : b + 1].any())
        figures.false_alarms += false
        figures.meter_days += days
        figures.meters += 1
        figures.worst = max(figures.worst, false / days)
        figures.over_budget += false / days > 1.0
        for a, b in runs(label, 0):
            figures.episodes += 1
            figures.caught += bool(flags[a : b + 1].any())
        figures.faulty_readings += int(label.sum())
        figures.flagged_faulty += int((flags & label).sum())


Scores = dict[str, np.ndarray]


@dataclass
class Model:
    """One trained model's scores: on the test days, and on its training (warm-up left out,
    as train reads them), per meter; the factors train stored."""

    test: Scores
    training: Scores
    factors: dict[str, float]
    train_s: float


def scored(monitor: Monitor, training: list[Reading], test: list[Reading]) -> Model:
    started = time.perf_counter()
    info = monitor.train()
    train_s = time.perf_counter() - started
    model = monitor.current_model()
    assert model is not None
    detector = model[0]
    X_train, X_test = (feature_matrix(part, detector.features) for part in (training, test))
    g_train, g_test = (np.array([r.meter_id for r in part]) for part in (training, test))
    t_train, t_test = (
        np.array([r.timestamp.timestamp() for r in part]) for part in (training, test)
    )
    meters = sorted(set(g_test.tolist()))
    context = {m: X_train[g_train == m][-detector.context_rows :] for m in meters}
    on_test = detector.score(X_test, context=context, groups=g_test, times=t_test)
    on_training = detector.score(X_train, groups=g_train, times=t_train)
    warm_up = detector.context_rows
    return Model(
        test={m: on_test[g_test == m] / detector.threshold_ for m in meters},
        training={m: on_training[g_train == m][warm_up:] / detector.threshold_ for m in meters},
        factors=dict(info.meter_factors),
        train_s=train_s,
    )


def run_seed(seed: int, cadence: timedelta, test_days: int) -> tuple[dict[str, Model], Scores]:
    readings = plant(seed, cadence, 2 + test_days)
    day1, day2 = START + timedelta(days=1), START + timedelta(days=2)
    first = [r for r in readings if r.timestamp <= day1]
    second = [r for r in readings if day1 < r.timestamp <= day2]
    test = [r for r in readings if r.timestamp > day2]
    store = MemoryReadingRepository(max_readings=None)
    clock = ManualClock(day1)
    monitor = Monitor(
        readings=store,
        queries=store,
        metrics=MemoryMetricRepository(),
        models=MemoryModelStore(),
        feed=MemoryChangeFeed(),
        clock=clock,
        settings=MonitorSettings(
            max_readings=None, train_limit=len(first), alarm_budget=AlarmBudget(per_day=1.0)
        ),
    )
    for start in range(0, len(first), 20_000):
        monitor.ingest(first[start : start + 20_000])
    models = {"first model": scored(monitor, first, test)}
    clock.advance(timedelta(days=1))
    for start in range(0, len(second), 2_000):
        monitor.ingest(second[start : start + 2_000])
    kept = monitor.calibration.training(monitor.queries.window(ReadingFilter(), limit=len(first)))
    models["retrained"] = scored(monitor, kept, test)
    labels = {
        m: np.array([bool(r.is_anomaly) for r in test if r.meter_id == m])
        for m in models["first model"].test
    }
    return models, labels


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="30 s cadence, 1 test day, 1 seed")
    parser.add_argument("--seeds", type=int, default=None)
    arguments = parser.parse_args()
    cadence = timedelta(seconds=30 if arguments.quick else 10)
    test_days = 1 if arguments.quick else 2
    seeds = range(arguments.seeds or (1 if arguments.quick else 3))
    variants = ["pooled", *(f"per meter, {b:g}/day" for b in BUDGETS), "one plant-wide factor"]
    rounds = ("first model", "retrained")
    figures = {(r, name): Figures() for r in rounds for name in variants}
    raised = {r: [] for r in rounds}
    for seed in seeds:
        models, truth = run_seed(seed, cadence, test_days)
        for round_, model in models.items():
            per_budget = {
                budget: {
                    m: budget_factor(s, exceedance_probability(budget, cadence))
                    for m, s in model.training.items()
                }
                for budget in BUDGETS
            }
            # The default budget's, recomputed as train computes them, are the stored ones.
            assert {m: f for m, f in per_budget[1.0].items() if f > 1.0} == model.factors
            raised[round_] += list(model.factors.values())
            pooled = np.concatenate(list(model.training.values()))
            plant_wide = budget_factor(pooled, exceedance_probability(1.0, cadence))
            measure(figures[round_, "pooled"], model.test, truth, {}, test_days)
            for budget in BUDGETS:
                name = f"per meter, {budget:g}/day"
                measure(figures[round_, name], model.test, truth, per_budget[budget], test_days)
            measure(
                figures[round_, "one plant-wide factor"],
                model.test,
                truth,
                dict.fromkeys(model.test, plant_wide),
                test_days,
            )
            print(
                f"seed {seed}, {round_}: trained in {model.train_s:.1f} s,"
                f" {len(model.factors)} meters raised, plant-wide factor {plant_wide:.2f}",
                file=sys.stderr,
            )
    meters = MOTORS + PLUGS
    print_table(
        f"Per-meter thresholds: {meters} meters ({len(NOISY)} noisier), one reading each"
        f" {cadence.total_seconds():g} s, trained on a day, {test_days} test day(s),"
        f" {len(seeds)} seed(s)",
        [[round_, *figures[round_, name].row(name)] for round_ in rounds for name in variants],
        [
            "model",
            "thresholds",
            "false alarms / meter-day",
            "worst meter / day",
            "meters > 1/day",
            "episode recall",
            "reading recall",
        ],
    )
    for round_ in rounds:
        factors = sorted(raised[round_])
        print(
            f"{round_}: {len(factors)} of {meters * len(seeds)} meter-runs raised by the default"
            f" budget, median factor {np.median(factors) if factors else 1.0:.2f},"
            f" {sum(f >= AlarmBudget().max_factor for f in factors)} at the cap"
        )
    emit_json(
        {
            "meters": meters,
            "cadence_s": cadence.total_seconds(),
            "seeds": len(seeds),
            "test_days": test_days,
            **{
                f"{key_of(round_)}_{key_of(name)}_{key}": value
                for round_ in rounds
                for name in variants
                for key, value in figures[round_, name].json().items()
            },
        }
    )


def key_of(name: str) -> str:
    return name.replace(", ", "_").replace(" ", "_").replace("/", "_per_").replace("-", "_")


if __name__ == "__main__":
    main()
