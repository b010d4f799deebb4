"""SmartEnergy's domain: simulate, validate, detect, explain and score electrical telemetry.

Pure Python over numpy and scikit-learn; no web, database or broker framework.
"""

from energy_core.detection.isolation_forest import IsolationForestDetector
from energy_core.detection.protocol import Detector, NotFittedError
from energy_core.health.alarm import HealthAlarm, HealthChange
from energy_core.health.analysis import (
    HealthState,
    HealthThresholds,
    MetricSnapshot,
    analyse,
    detection_quality,
)
from energy_core.ports import Bucket, ChangeEvent, ModelInfo, ReadingFilter
from energy_core.telemetry.catalogue import VARIABLE_NAMES, VARIABLES, Variable, variable
from energy_core.telemetry.readings import (
    InvalidReadingError,
    Origin,
    Reading,
    feature_matrix,
    labels,
    validate,
)
from energy_core.telemetry.rules import StorageRules
from energy_core.telemetry.simulator import AnomalyKind, MeterProfile, Simulator
from energy_core.telemetry.validation import Rejection
from energy_core.usecases.monitor import (
    IngestReport,
    Monitor,
    MonitorSettings,
    NoModelError,
    RejectedBatchError,
    SystemClock,
    check_batch,
    score_with,
)

__all__ = [
    "VARIABLES",
    "VARIABLE_NAMES",
    "AnomalyKind",
    "Bucket",
    "ChangeEvent",
    "Detector",
    "HealthAlarm",
    "HealthChange",
    "HealthState",
    "HealthThresholds",
    "IngestReport",
    "InvalidReadingError",
    "IsolationForestDetector",
    "MeterProfile",
    "MetricSnapshot",
    "ModelInfo",
    "Monitor",
    "MonitorSettings",
    "NoModelError",
    "NotFittedError",
    "Origin",
    "Reading",
    "ReadingFilter",
    "RejectedBatchError",
    "Rejection",
    "Simulator",
    "StorageRules",
    "SystemClock",
    "Variable",
    "analyse",
    "check_batch",
    "detection_quality",
    "feature_matrix",
    "labels",
    "score_with",
    "validate",
    "variable",
]
