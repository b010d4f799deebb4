"""Alerting's domain rules, pure and in memory: anomaly incidents, limit rules, silent
meters, installation health and detector health become alert events (opened, updated,
resolved); the notification policy says which to send (silences, maintenance windows,
acknowledgements, repeats). Storage, delivery and pages build on this package.

Typical use::

    engine = AlertEngine(AlertRules(limits=(parse_limit("active_power > 9 kW for 5m"),)))
    events = engine.observe(scored_readings) + engine.check(now)
    policy = NotificationPolicy(repeat_every=timedelta(hours=4))
    to_send = [event for event in events if policy.decide(event).send]
"""

from energy_core.alerts.detector_health import (
    DETECTOR_CONDITIONS,
    DetectorCondition,
    DetectorHealth,
    DetectorHealthRule,
    DetectorStatus,
)
from energy_core.alerts.engine import AlertEngine, AlertRules
from energy_core.alerts.health import HealthAlerts, health_severity
from energy_core.alerts.incidents import IncidentRule, IncidentTracker
from energy_core.alerts.limits import (
    COMPARISONS,
    Comparison,
    LimitRule,
    LimitTracker,
    parse_limit,
)
from energy_core.alerts.model import (
    EVENT_KINDS,
    HEALTH_KEY,
    Alert,
    AlertEvent,
    AlertKind,
    DetailValue,
    EventKind,
    Severity,
    detector_key,
    format_duration,
    incident_key,
    limit_key,
    parse_duration,
    silent_key,
)
from energy_core.alerts.policy import (
    DAY_NAMES,
    Acknowledgement,
    Action,
    Decision,
    MaintenanceWindow,
    NotificationPolicy,
    Reason,
    Silence,
)
from energy_core.alerts.silent import SilentMeterRule, SilentMeterTracker

__all__ = [
    "COMPARISONS",
    "DAY_NAMES",
    "DETECTOR_CONDITIONS",
    "EVENT_KINDS",
    "HEALTH_KEY",
    "Acknowledgement",
    "Action",
    "Alert",
    "AlertEngine",
    "AlertEvent",
    "AlertKind",
    "AlertRules",
    "Comparison",
    "Decision",
    "DetailValue",
    "DetectorCondition",
    "DetectorHealth",
    "DetectorHealthRule",
    "DetectorStatus",
    "EventKind",
    "HealthAlerts",
    "IncidentRule",
    "IncidentTracker",
    "LimitRule",
    "LimitTracker",
    "MaintenanceWindow",
    "NotificationPolicy",
    "Reason",
    "Severity",
    "Silence",
    "SilentMeterRule",
    "SilentMeterTracker",
    "detector_key",
    "format_duration",
    "health_severity",
    "incident_key",
    "limit_key",
    "parse_duration",
    "parse_limit",
    "silent_key",
]
