"""Fire drill: does the detector catch each kind of fault on its own?

For each anomaly kind, a ``Simulator(kinds=[kind])`` first produces clean history (no
anomaly injected) for every meter, the detector is fitted on it (per meter, in time order),
then the same simulator goes on with the fault injected at ``anomaly_ratio`` and the new
readings are scored with the clean history as context. Per kind: recall (anomalous
readings flagged), false alarms (normal readings flagged, count and rate) and the median
detection delay (seconds from a fault's first reading to the first alarm inside it; 0 for a
one-reading fault caught at once).

``plugs`` adds simulated smart plugs (no motor temperature, an energy register) to the
meters: each meter's model learns the variables that meter's clean history carries
(``choose_features``), so a plug is drilled without the variable it never sends.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np

from energy_core.detection.evaluation import ScoredPart, figures
from energy_core.detection.protocol import choose_features
from energy_core.detection.registry import DEFAULT_DETECTOR, make_detector
from energy_core.detection.temporal import seasonal_lags_for
from energy_core.telemetry.readings import Reading, feature_matrix
from energy_core.telemetry.simulator import AnomalyKind, Simulator

_START = datetime(2024, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class DrillResult:
    """How one fault kind fared. Rates are fractions; delays in seconds."""

    kind: str
    readings: int
    anomalous: int
    detected: int
    recall: float
    false_alarms: int
    false_alarm_rate: float
    median_delay_s: float | None
    roc_auc: float | None


@dataclass(frozen=True, slots=True)
class DrillReport:
    """One ``DrillResult`` per kind, plus how the drill was run."""

    detector: str
    meters: int
    training_readings: int
    drill_readings: int
    anomaly_ratio: float
    seed: int
    results: tuple[DrillResult, ...]
    plugs: int = 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def run_drill(
    *,
    kinds: Sequence[AnomalyKind | str] | None = None,
    detector: str = DEFAULT_DETECTOR,
    meters: int = 2,
    training_readings: int = 4_000,
    drill_readings: int = 2_000,
    anomaly_ratio: float = 0.02,
    cadence: timedelta = timedelta(minutes=1),
    seed: int = 0,
    plugs: int = 0,
) -> DrillReport:
    """Run the drill for ``kinds`` (all by default); reading counts are over all meters and
    plugs."""
    chosen = [AnomalyKind(kind) for kind in (kinds or list(AnomalyKind))]
    results = [
        _drill_kind(
            kind,
            detector=detector,
            meters=meters,
            plugs=plugs,
            training_readings=training_readings,
            drill_readings=drill_readings,
            anomaly_ratio=anomaly_ratio,
            cadence=cadence,
            seed=seed,
        )
        for kind in chosen
    ]
    return DrillReport(
        detector=detector,
        meters=meters,
        training_readings=training_readings,
        drill_readings=drill_readings,
        anomaly_ratio=anomaly_ratio,
        seed=seed,
        results=tuple(results),
        plugs=plugs,
    )


def _drill_kind(
    kind: AnomalyKind,
    *,
    detector: str,
    meters: int,
    plugs: int,
    training_readings: int,
    drill_readings: int,
    anomaly_ratio: float,
    cadence: timedelta,
    seed: int,
) -> DrillResult:
    simulator = Simulator(meters=meters, plugs=plugs, anomaly_ratio=0.0, kinds=[kind], seed=seed)
    history = simulator.history(training_readings, end=_START, cadence=cadence)
    simulator.anomaly_ratio = anomaly_ratio
    steps = -(-drill_readings // (meters + plugs))
    drill = simulator.history(drill_readings, end=_START + cadence * steps, cadence=cadence)
    parts: list[ScoredPart] = []
    for meter in simulator.meter_ids:
        past = [r for r in history if r.meter_id == meter]
        new = [r for r in drill if r.meter_id == meter]
        if len(past) < 2 or not new:
            continue
        lags = seasonal_lags_for(cadence, len(past))
        features = choose_features(past)
        model = make_detector(detector, features, seasonal_lags=lags)
        context = feature_matrix(past, features)
        model.fit(context)
        X = feature_matrix(new, features)
        parts.append(
            ScoredPart(
                file=kind.value,
                group=meter,
                train_rows=len(past),
                threshold=float(model.threshold_),
                scores=model.score(X, context=context),
                flags=model.predict(X, context=context),
                truth=_truth(new),
                times=np.array([r.timestamp.timestamp() for r in new]),
            )
        )
    result = figures(parts)
    return DrillResult(
        kind=kind.value,
        readings=result.rows,
        anomalous=result.anomalous_rows,
        detected=result.true_positives,
        recall=result.recall,
        false_alarms=result.false_positives,
        false_alarm_rate=result.false_alarm_rate or 0.0,
        median_delay_s=result.median_delay,
        roc_auc=result.roc_auc,
    )


def _truth(readings: Sequence[Reading]) -> np.ndarray[Any, np.dtype[np.bool_]]:
    return np.array([bool(r.is_anomaly) for r in readings], dtype=bool)
