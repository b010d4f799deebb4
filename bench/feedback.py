"""Feedback's effect on detection: false alarms and recall before and after a user marks the
first N false alarms of each meter.

    python bench/feedback.py            # two scenarios, N = 0, 2, 5, 10, 5 seeds: a few minutes
    python bench/feedback.py --quick    # the plant scenario, 3 seeds, shorter: about a minute

Per seed and scenario, a ``Monitor`` in memory (with ``Alerting`` over the memory stores,
which feedback needs) on the ``Simulator`` (5 meters, labels known), fed a history one
reading per meter per second and trained once (the default detector); then a labelled stream
of the same cadence, ingested through ``Monitor.ingest`` ten seconds at a time on a manual
clock. During the **marking window** a simulated user looks at each batch's flagged readings
and marks each one whose label is normal as ``false_alarm`` (``Monitor.give_feedback``, one
reading per mark), until N of each meter are marked; then the **evaluation window** goes on
with no more feedback. No retraining meanwhile.

Figures on the evaluation window: false-alarm rate = flagged normal / normal readings, recall =
flagged anomalous / anomalous readings. "Before" is N = 0 on the very same readings (same
seed: the stream does not depend on the flags), so before and after differ only by the
feedback. Medians over seeds.

Scenarios:

- **plant**: the demo's plant (``IncidentSchedule``, an episode every 3 minutes across the
  meters; no per-reading faults) — the faults the dashboard's users see;
- **per-reading**: ``anomaly_ratio`` 0.02 (the seed's ``stream``), every variable of every
  reading hit with that probability.

Prints a table, then one JSON object as the last line.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

# Bench this checkout's sources, not whichever copy the environment has installed.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from common import emit_json, median, print_table

from energy_adapters.memory import (
    ManualClock,
    MemoryChangeFeed,
    MemoryMetricRepository,
    MemoryModelStore,
    MemoryReadingRepository,
)
from energy_adapters.memory_alerts import MemoryAlertStore, MemoryFeedbackStore, MemoryMuteStore
from energy_core import Monitor, MonitorSettings, Reading, Simulator
from energy_core.alerts.store import Feedback
from energy_core.detection.feedback import CalibrationRule, calibrate
from energy_core.usecases.alerting import Alerting

METERS = 5
CADENCE = timedelta(seconds=1)
STEP = timedelta(seconds=10)
"""The stream arrives ten seconds (50 readings) at a time; the user reacts between steps."""
START = datetime(2026, 3, 2, 8, tzinfo=UTC)
SCENARIOS = ("plant", "per-reading")
TAIL = timedelta(seconds=60)
THRESHOLD = 1.0
"""The default detector's threshold: its scores are in units of it."""
WHAT_IF = {"cap 2×": CalibrationRule(max_factor=2.0), "cap 1.5×": CalibrationRule(max_factor=1.5)}
"""Other rules of ``energy_core.detection.feedback``, recomputed offline for comparison."""


@dataclass
class Counts:
    normal: int = 0
    false_alarms: int = 0
    anomalous: int = 0
    detected: int = 0

    def add(self, reading: Reading) -> None:
        if reading.is_anomaly:
            self.anomalous += 1
            self.detected += bool(reading.is_flagged)
        else:
            self.normal += 1
            self.false_alarms += bool(reading.is_flagged)

    @property
    def false_alarm_rate(self) -> float:
        return self.false_alarms / self.normal if self.normal else 0.0

    @property
    def recall(self) -> float:
        return self.detected / self.anomalous if self.anomalous else float("nan")


@dataclass
class Run:
    scenario: str
    seed: int
    marks: int
    marking: Counts = field(default_factory=Counts)
    evaluation: Counts = field(default_factory=Counts)
    marked: int = 0
    factors: dict[str, float] = field(default_factory=dict)
    batches: list[tuple[str, list[Reading]]] = field(default_factory=list)
    """Each step's stored readings (scored), by window."""
    tail_false_alarms: int = 0
    """Evaluation-window false alarms within ``TAIL`` after an episode of their meter."""


def monitor(scenario: str, seed: int) -> tuple[Monitor, ManualClock]:
    store = MemoryReadingRepository(max_readings=None)
    clock = ManualClock(START)
    plant: dict[str, Any] = {}
    if scenario == "plant":  # the demo's plant
        from energy_core.telemetry.simulator import IncidentSchedule

        plant["incidents"] = IncidentSchedule(mean_gap=timedelta(minutes=3))
    simulator = Simulator(
        meters=METERS,
        anomaly_ratio=0.02 if scenario == "per-reading" else 0.0,
        seed=seed,
        **plant,
    )
    return (
        Monitor(
            readings=store,
            queries=store,
            metrics=MemoryMetricRepository(),
            models=MemoryModelStore(),
            feed=MemoryChangeFeed(),
            clock=clock,
            simulator=simulator,
            # Feedback's effect alone: no per-meter budget factors (bench/calibration.py).
            settings=MonitorSettings(max_readings=None, history_cadence=CADENCE, alarm_budget=None),
            alerting=Alerting(
                store=MemoryAlertStore(),
                mutes=MemoryMuteStore(),
                feedback=MemoryFeedbackStore(),
                clock=clock,
            ),
        ),
        clock,
    )


def run(
    scenario: str, seed: int, marks: int, history: int, marking: timedelta, evaluation: timedelta
) -> Run:
    app, clock = monitor(scenario, seed)
    app.generate_history(history)
    if app.train().threshold != THRESHOLD:
        raise SystemExit("the default detector's threshold is no longer 1: update THRESHOLD")
    result = Run(scenario, seed, marks)
    given: dict[str, int] = {}
    per_step = METERS * round(STEP / CADENCE)
    for window, length in (("marking", marking), ("evaluation", evaluation)):
        counts: Counts = getattr(result, window)
        for _ in range(round(length / STEP)):
            clock.advance(STEP)
            batch = app.simulator.next_batch(per_step, at=clock.now(), interval=STEP)
            stored = app.ingest(batch).stored
            result.batches.append((window, stored))
            for reading in stored:
                counts.add(reading)
            if window != "marking":
                continue
            for reading in stored:
                meter = reading.meter_id
                if reading.is_flagged and not reading.is_anomaly and given.get(meter, 0) < marks:
                    given[meter] = given.get(meter, 0) + 1
                    app.give_feedback(
                        Feedback(
                            meter,
                            reading.timestamp,
                            reading.timestamp,
                            "false_alarm",
                            by="bench",
                            at=clock.now(),
                        )
                    )
    result.marked = sum(given.values())
    result.factors = dict(app.calibration.threshold_factors)
    evaluated = [r for window, batch in result.batches if window == "evaluation" for r in batch]
    if evaluated:
        episodes = app.simulator.episodes(START, evaluated[-1].timestamp + CADENCE)
        ends: dict[str, list[datetime]] = {}
        for episode in episodes:
            ends.setdefault(episode.meter_id, []).append(episode.end)
        result.tail_false_alarms = sum(
            1
            for r in evaluated
            if r.is_flagged
            and not r.is_anomaly
            and any(timedelta(0) <= r.timestamp - end <= TAIL for end in ends.get(r.meter_id, ()))
        )
    return result


def offline(
    batches: list[tuple[str, list[Reading]]], marks: int, rule: CalibrationRule
) -> tuple[Counts, int, dict[str, float]]:
    """The evaluation window's counts had the user marked the first ``marks`` false alarms of
    each meter under ``rule``, recomputed from the scores stored with no feedback (feedback
    changes flags, never scores: ``score_with`` compares each score with its meter's
    threshold); marks are given after each step, as ``run`` gives them."""
    feedback: list[Feedback] = []
    marked: dict[str, list[Reading]] = {}
    factors: dict[str, float] = {}
    counts = Counts()
    for window, batch in batches:
        flagged = [
            r.scored(r.score, r.score > THRESHOLD * factors.get(r.meter_id, 1.0), r.top_variables)
            if r.score is not None
            else r
            for r in batch
        ]
        if window == "evaluation":
            for reading in flagged:
                counts.add(reading)
            continue
        for reading in flagged:
            meter = reading.meter_id
            if reading.is_flagged and not reading.is_anomaly and len(marked.get(meter, ())) < marks:
                marked.setdefault(meter, []).append(reading)
                at = reading.timestamp
                feedback.append(Feedback(meter, at, at, "false_alarm", by="bench", at=at))
                factors = dict(calibrate(feedback, marked, THRESHOLD, rule).threshold_factors)
    return counts, sum(len(v) for v in marked.values()), factors


def pct(value: float) -> str:
    return f"{100 * value:.2f} %"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--marks", default="0,2,5,10", help="N: false alarms marked per meter")
    parser.add_argument("--history", type=int, default=20_000, help="readings trained on")
    parser.add_argument("--marking-min", type=float, default=30.0)
    parser.add_argument("--evaluation-min", type=float, default=60.0)
    parser.add_argument("--scenario", choices=[*SCENARIOS, "both"], default="both")
    parser.add_argument("--quick", action="store_true", help="plant, 3 seeds, 20 + 30 min")
    options = parser.parse_args()
    if options.quick:
        options.seeds, options.scenario = 3, "plant"
        options.marking_min, options.evaluation_min = 20.0, 30.0
    marks = sorted({int(n) for n in options.marks.split(",")} | {0})
    scenarios = SCENARIOS if options.scenario == "both" else (options.scenario,)
    marking = timedelta(minutes=options.marking_min)
    evaluation = timedelta(minutes=options.evaluation_min)

    started = time.monotonic()
    runs: dict[tuple[str, int], list[Run]] = {}
    for scenario in scenarios:
        for n in marks:
            runs[(scenario, n)] = [
                run(scenario, seed, n, options.history, marking, evaluation)
                for seed in range(1, options.seeds + 1)
            ]

    figures: dict[str, Any] = {}
    rows = []
    what_if_rows = []
    agrees = True
    for scenario in scenarios:
        before = runs[(scenario, 0)]
        for n in marks:
            found = runs[(scenario, n)]
            rows.append(
                row(
                    scenario,
                    n,
                    [(r.evaluation, b.evaluation) for r, b in zip(found, before, strict=True)],
                    found,
                )
            )
            key = f"{scenario.replace('-', '_')}_n{n}"
            figures.update(summary(key, found, before))
            # The same marks recomputed offline from the N = 0 run's scores: must agree.
            for r, b in zip(found, before, strict=True):
                counts, marked, _ = offline(b.batches, n, CalibrationRule())
                same = (counts.false_alarms, counts.detected, marked) == (
                    r.evaluation.false_alarms,
                    r.evaluation.detected,
                    r.marked,
                )
                agrees = agrees and same
            for name, rule in WHAT_IF.items():
                if n == 0:
                    continue
                pairs = []
                marked_counts = []
                factors: list[float] = []
                for b in before:
                    counts, marked, found_factors = offline(b.batches, n, rule)
                    pairs.append((counts, b.evaluation))
                    marked_counts.append(marked)
                    factors += found_factors.values()
                what_if_rows.append(
                    row(f"{scenario}, {name}", n, pairs, None, marked_counts, factors)
                )
    header = (
        "scenario",
        "N",
        "marked",
        "meters raised",
        "factor",
        "FA rate before",
        "after",
        "change",
        "recall before",
        "after",
        "change",
        "FA after",
        "… incident tails",
        "normal",
        "anomalous",
    )
    print_table(
        f"Feedback on the simulator: {METERS} meters at 1 reading/s, trained on "
        f"{options.history:,} readings; the user marks the first N false alarms per meter "
        f"during {options.marking_min:g} min, then {options.evaluation_min:g} min are measured "
        f"(medians of {options.seeds} seeds; 'before' = N 0 on the same readings; incident "
        f"tails: false alarms within {TAIL.seconds} s after an episode of their meter ended)",
        rows,
        header,
    )
    print()
    print_table(
        "What if: other CalibrationRule settings, recomputed from the N = 0 runs' scores "
        f"(the product's rule recomputed the same way agrees with the runs: {agrees})",
        what_if_rows,
        header[:-3],
    )
    print()
    figures["offline_agrees"] = agrees
    figures["seeds"] = options.seeds
    figures["seconds"] = round(time.monotonic() - started, 1)
    emit_json(figures)


def row(
    scenario: str,
    n: int,
    pairs: list[tuple[Counts, Counts]],
    runs: list[Run] | None,
    marked: list[int] | None = None,
    factors: list[float] | None = None,
) -> tuple[Any, ...]:
    """A table row: (after, before) counts per seed."""
    if runs is not None:
        marked = [r.marked for r in runs]
        factors = [f for r in runs for f in r.factors.values()]
        raised = f"{median([len(r.factors) for r in runs]):.0f}/{METERS}"
    else:
        raised = ""
    assert marked is not None and factors is not None
    after, before = [p[0] for p in pairs], [p[1] for p in pairs]
    cells: list[Any] = [
        scenario,
        n,
        int(median(marked)),
        raised,
        f"{statistics.median(factors):.2f}" if factors else "-",
        pct(median([c.false_alarm_rate for c in before])),
        pct(median([c.false_alarm_rate for c in after])),
        f"{100 * median([relative(a, b) for a, b in pairs]):+.0f} %",
        pct(median([c.recall for c in before])),
        pct(median([c.recall for c in after])),
        f"{100 * median([a.recall - b.recall for a, b in pairs]):+.1f} pt",
    ]
    if runs is not None:
        cells += [
            int(median([c.false_alarms for c in after])),
            int(median([r.tail_false_alarms for r in runs])),
            int(median([c.normal for c in after])),
            int(median([c.anomalous for c in after])),
        ]
    return tuple(cells)


def relative(after: Counts, before: Counts) -> float:
    """The false-alarm rate's change, as a fraction of the rate before (0 when it was 0)."""
    if not before.false_alarm_rate:
        return 0.0
    return (after.false_alarm_rate - before.false_alarm_rate) / before.false_alarm_rate


def summary(key: str, found: list[Run], before: list[Run]) -> dict[str, Any]:
    pairs = list(zip(found, before, strict=True))
    return {
        f"{key}_false_alarm_rate": round(median([r.evaluation.false_alarm_rate for r in found]), 6),
        f"{key}_recall": round(median([r.evaluation.recall for r in found]), 4),
        f"{key}_false_alarm_change_pct": round(
            100 * median([relative(r.evaluation, b.evaluation) for r, b in pairs]), 1
        ),
        f"{key}_recall_change_pt": round(
            100 * median([r.evaluation.recall - b.evaluation.recall for r, b in pairs]), 2
        ),
        f"{key}_marked": median([r.marked for r in found]),
    }


if __name__ == "__main__":
    main()
