"""SmartEnergy's domain: simulate, validate, detect, explain and score electrical telemetry.

Pure Python over numpy and scikit-learn; no web, database or broker framework.
"""

from energy_core.catalogue import VARIABLE_NAMES, VARIABLES, Variable, variable
from energy_core.detector import Detector, IsolationForestDetector, NotFittedError
from energy_core.metrics import (
    HealthState,
    HealthThresholds,
    MetricSnapshot,
    analyse,
    detection_quality,
)
from energy_core.monitor import (
    IngestReport,
    Monitor,
    MonitorSettings,
    NoModelError,
    RejectedBatchError,
    SystemClock,
    check_batch,
    score_with,
)
from energy_core.ports import Bucket, ChangeEvent, ModelInfo, ReadingFilter
from energy_core.readings import InvalidReadingError, Reading, feature_matrix, labels, validate
from energy_core.rules import StorageRules
from energy_core.simulator import AnomalyKind, MeterProfile, Simulator
from energy_core.validation import Rejection

__all__ = [
    "VARIABLES",
    "VARIABLE_NAMES",
    "AnomalyKind",
    "Bucket",
    "ChangeEvent",
    "Detector",
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
