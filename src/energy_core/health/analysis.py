"""Analysis results: counts, percentage, precision/recall/F1 and the health state."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

import numpy as np
import numpy.typing as npt

from energy_core.telemetry.catalogue import Language


class HealthState(StrEnum):
    """How worried an operator should be; values are the original's Spanish names."""

    NORMAL = "Normal"
    CAUTION = "Precaución"
    CRITICAL = "Crítico"

    def label(self, language: Language = "es") -> str:
        english = {"Normal": "Normal", "Precaución": "Caution", "Crítico": "Critical"}
        return self.value if language == "es" else english[self.value]

    @property
    def severity(self) -> int:
        return list(HealthState).index(self)


@dataclass(frozen=True, slots=True)
class HealthThresholds:
    """Percentages of flagged readings at which the state turns to caution and to critical.

    Defaults: a healthy installation scored by a detector calibrated on it flags a few per
    cent (its contamination); below 5 % is normal. Between 5 % and 15 % something is
    recurring and deserves a look. At 15 % or more, faults are systemic: critical.
    """

    caution: float = 5.0
    critical: float = 15.0

    def __post_init__(self) -> None:
        if not 0.0 <= self.caution <= self.critical <= 100.0:
            raise ValueError(
                f"thresholds must satisfy 0 <= caution <= critical <= 100,"
                f" got caution={self.caution}, critical={self.critical}"
            )

    def state(self, percentage: float) -> HealthState:
        if percentage >= self.critical:
            return HealthState.CRITICAL
        if percentage >= self.caution:
            return HealthState.CAUTION
        return HealthState.NORMAL


@dataclass(frozen=True, slots=True)
class MetricSnapshot:
    """One analysis (a row of table ``metricas``). Percentages are in [0, 100]."""

    computed_at: datetime
    window_start: datetime | None
    window_end: datetime | None
    total_readings: int
    anomalies_detected: int
    percentage: float
    health: HealthState
    precision: float | None = None
    recall: float | None = None
    f1: float | None = None
    model_version: int | None = None
    delta_percentage: float | None = None
    id: int | None = None


@dataclass(frozen=True, slots=True)
class Quality:
    precision: float
    recall: float
    f1: float


def detection_quality(flagged: npt.NDArray[np.bool_], truth: npt.NDArray[np.bool_]) -> Quality:
    """Precision, recall and F1 of ``flagged`` against ``truth`` (0 where undefined)."""
    true_positives = int(np.sum(flagged & truth))
    predicted = int(np.sum(flagged))
    actual = int(np.sum(truth))
    precision = true_positives / predicted if predicted else 0.0
    recall = true_positives / actual if actual else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return Quality(precision=precision, recall=recall, f1=f1)


def analyse(
    flagged: npt.NDArray[np.bool_],
    *,
    computed_at: datetime,
    truth: npt.NDArray[np.bool_] | None = None,
    window: tuple[datetime, datetime] | None = None,
    thresholds: HealthThresholds | None = None,
    model_version: int | None = None,
    previous: MetricSnapshot | None = None,
) -> MetricSnapshot:
    """Summarise the model's flags over a window into a snapshot."""
    thresholds = thresholds or HealthThresholds()
    total = len(flagged)
    detected = int(np.sum(flagged))
    percentage = 100.0 * detected / total if total else 0.0
    quality = detection_quality(flagged, truth) if truth is not None and total else None
    return MetricSnapshot(
        computed_at=computed_at,
        window_start=window[0] if window else None,
        window_end=window[1] if window else None,
        total_readings=total,
        anomalies_detected=detected,
        percentage=percentage,
        health=thresholds.state(percentage),
        precision=quality.precision if quality else None,
        recall=quality.recall if quality else None,
        f1=quality.f1 if quality else None,
        model_version=model_version,
        delta_percentage=percentage - previous.percentage if previous else None,
    )
