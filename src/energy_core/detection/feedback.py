"""What users' feedback changes in detection.

- A **confirmed fault** is kept out of training: a model must not learn a fault as normal.
- **Repeated false alarms** of a meter raise that meter's threshold: once a meter has at
  least ``min_false_alarms`` marked, its threshold becomes the highest score among the
  readings marked false alarms, plus a margin, at most ``max_factor`` (2) times the model's
  own threshold: what users said was normal no longer alarms (up to that bound), a stronger
  excursion still does.
- What the current model flagged stays out of the next training unless users called it a
  false alarm.

Scores are compared as factors of the model's threshold, so a calibration survives a
retrain (the default detector's scores are in units of its threshold: 1.0).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from energy_core.alerts.store import Feedback
from energy_core.telemetry.readings import Reading

Span = tuple[datetime, datetime]


@dataclass(frozen=True, slots=True)
class FeedbackCalibration:
    """Per meter: the factor on the model's threshold (absent: 1) and the confirmed faults'
    spans (inclusive) that training leaves out."""

    threshold_factors: Mapping[str, float] = field(default_factory=dict)
    confirmed: Mapping[str, tuple[Span, ...]] = field(default_factory=dict)
    false_alarms: Mapping[str, tuple[Span, ...]] = field(default_factory=dict)

    def factor(self, meter_id: str) -> float:
        return self.threshold_factors.get(meter_id, 1.0)

    def is_confirmed_fault(self, reading: Reading) -> bool:
        """Whether users confirmed a fault at this reading of its meter."""
        return any(
            start <= reading.timestamp <= end
            for start, end in self.confirmed.get(reading.meter_id, ())
        )

    def is_false_alarm(self, reading: Reading) -> bool:
        """Whether users said this reading of its meter was a false alarm."""
        return any(
            start <= reading.timestamp <= end
            for start, end in self.false_alarms.get(reading.meter_id, ())
        )

    def training(self, readings: Iterable[Reading]) -> list[Reading]:
        """``readings`` fit to learn normal operation from: without the confirmed faults,
        and without what the current model flagged unless users called it a false alarm —
        a retrain must not learn a running fault as normal. When the model flagged more
        than half of them, it is not trusted to say what is normal and they are kept."""
        kept = [reading for reading in readings if not self.is_confirmed_fault(reading)]
        normal = [
            reading for reading in kept if not reading.is_flagged or self.is_false_alarm(reading)
        ]
        return normal if len(normal) * 2 >= len(kept) else kept


@dataclass(frozen=True, slots=True)
class CalibrationRule:
    """When false alarms raise a meter's threshold, and by how much at most."""

    min_false_alarms: int = 2
    """Marks of one meter needed before its threshold moves (one may be a slip)."""
    margin: float = 0.05
    """The new threshold sits this fraction above the highest false-alarm score."""
    max_factor: float | None = 2.0
    """At most this many times the model's threshold (``None``: no bound). Marks often fall
    on the tail of a real incident, scored far above the threshold; unbounded, a few such
    marks hide the meter's next incidents (bench/feedback.py: recall 97 → 44 % against
    95 % with this bound)."""


def calibrate(
    feedback: Sequence[Feedback],
    marked_readings: Mapping[str, Sequence[Reading]],
    model_threshold: float,
    rule: CalibrationRule | None = None,
) -> FeedbackCalibration:
    """The calibration ``feedback`` asks for. ``marked_readings``: per meter, its stored
    readings inside the spans marked false alarms (their stored scores are used)."""
    rule = rule or CalibrationRule()
    confirmed: dict[str, list[Span]] = defaultdict(list)
    false_alarms: dict[str, int] = defaultdict(int)
    for item in feedback:
        if item.verdict == "confirmed":
            confirmed[item.meter_id].append((item.start, item.end))
        else:
            false_alarms[item.meter_id] += 1
    factors: dict[str, float] = {}
    base = model_threshold if model_threshold > 0 else 1.0
    for meter, count in false_alarms.items():
        if count < rule.min_false_alarms:
            continue
        scores = [
            reading.score
            for reading in marked_readings.get(meter, ())
            if reading.score is not None and reading.is_flagged
        ]
        if not scores:
            continue
        factor = max(scores) / base * (1.0 + rule.margin)
        factor = max(factor, 1.0)
        factors[meter] = factor if rule.max_factor is None else min(factor, rule.max_factor)
    return FeedbackCalibration(
        threshold_factors=factors,
        confirmed={meter: tuple(spans) for meter, spans in confirmed.items()},
        false_alarms={meter: tuple(spans) for meter, spans in false_alarm_spans(feedback).items()},
    )


def false_alarm_spans(feedback: Iterable[Feedback]) -> dict[str, list[Span]]:
    """Per meter, the spans users marked false alarms."""
    spans: dict[str, list[Span]] = defaultdict(list)
    for item in feedback:
        if item.verdict == "false_alarm":
            spans[item.meter_id].append((item.start, item.end))
    return dict(spans)


def verdicts(readings: Sequence[Reading], feedback: Iterable[Feedback]) -> list[Feedback | None]:
    """For each reading, what users said of it: the latest feedback given (by ``at``) on its
    meter whose span (inclusive) covers its timestamp; ``None`` where they said nothing. A
    later verdict on the same readings replaces an earlier one (a user who changed their
    mind). Labels for ``evaluate`` and the exports come from this."""
    by_meter: dict[str, list[Feedback]] = defaultdict(list)
    for item in sorted(feedback, key=lambda item: (item.at, item.id or 0), reverse=True):
        by_meter[item.meter_id].append(item)
    return [
        next(
            (
                item
                for item in by_meter.get(reading.meter_id, ())
                if item.start <= reading.timestamp <= item.end
            ),
            None,
        )
        for reading in readings
    ]
