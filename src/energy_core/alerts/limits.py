"""Limit rules set by the user: a variable of a meter past a value for long enough
("active power > 9 kW for 5 min", "power factor < 0.85 for 15 min"), with recovery
hysteresis.

Per rule and meter, in time order, over the readings that carry the rule's variable (one
that lacks it neither starts nor clears anything):

- a breach starts at the first breaching reading and ends at the first one that does not
  breach; the alert opens at the reading where the breach has lasted ``for_duration``
  (measured on reading timestamps; ``0`` opens at once), and starts when the breach did;
- once open, it resolves at the first reading past the recovery level: ``value - margin``
  for ``>``/``>=``, ``value + margin`` for ``<``/``<=`` (with ``margin`` 0, the first
  reading that does not breach).

The compact text form (``parse_limit``)::

    <variable> <comparison> <value> [<unit>] [for <duration>] [on <pattern>[,<pattern>…]]
        [margin <number>] [severity info|warning|critical] [name <text…>]

e.g. ``active_power > 9 kW for 5m on plant-*`` or ``power_factor < 0.85 for 15m margin 0.02``.
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal, TypeVar, cast, get_args

from energy_core.alerts._events import EventBuffer
from energy_core.alerts.model import (
    Alert,
    AlertEvent,
    AlertKind,
    Severity,
    format_duration,
    limit_key,
    parse_duration,
)
from energy_core.telemetry.catalogue import VARIABLE_NAMES, variable
from energy_core.telemetry.meter_patterns import allows, check_patterns
from energy_core.telemetry.readings import Reading

Comparison = Literal[">", ">=", "<", "<="]
COMPARISONS: tuple[Comparison, ...] = get_args(Comparison)
_COMPARE: dict[str, Callable[[float, float], bool]] = {
    ">": operator.gt,
    ">=": operator.ge,
    "<": operator.lt,
    "<=": operator.le,
}
_RULE_ID = re.compile(r"[A-Za-z0-9_.:\-]{1,64}")


@dataclass(frozen=True, slots=True)
class LimitRule:
    """A limit on one variable: ``<variable> <comparison> <value>`` for ``for_duration``.

    ``id``: a stable name (letters, digits, ``_ . : -``; up to 64), part of the alert key.
    ``variable``: a catalogue variable (``energy_core.telemetry.catalogue``); ``value`` and
    ``margin`` are in its unit (kW for ``active_power``). ``meters``: meter-id globs the
    rule applies to (none: every meter). ``margin`` ≥ 0: how far back past ``value`` a
    reading must be to clear an open alert. ``name``: an optional label for people.
    Invalid settings raise ``ValueError`` naming the field.
    """

    id: str
    variable: str
    comparison: Comparison
    value: float
    for_duration: timedelta = timedelta(0)
    meters: tuple[str, ...] = ()
    severity: Severity = Severity.WARNING
    margin: float = 0.0
    name: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.id, str) or not _RULE_ID.fullmatch(self.id):
            raise ValueError(
                f"id {self.id!r}: 1 to 64 letters, digits or _ . : - (no spaces) are needed"
            )
        if self.variable not in VARIABLE_NAMES:
            raise ValueError(
                f"variable {self.variable!r}: unknown; known: {', '.join(VARIABLE_NAMES)}"
            )
        if self.comparison not in COMPARISONS:
            raise ValueError(
                f"comparison {self.comparison!r}: must be one of {', '.join(COMPARISONS)}"
            )
        if (
            isinstance(self.value, bool)
            or not isinstance(self.value, int | float)
            or not math.isfinite(self.value)
        ):
            raise ValueError(f"value {self.value!r}: must be a finite number")
        if not isinstance(self.for_duration, timedelta) or self.for_duration < timedelta(0):
            raise ValueError(f"for_duration {self.for_duration!r}: must not be negative")
        if (
            isinstance(self.margin, bool)
            or not isinstance(self.margin, int | float)
            or not math.isfinite(self.margin)
            or self.margin < 0
        ):
            raise ValueError(f"margin {self.margin!r}: must be a finite number, 0 or more")
        try:
            severity = Severity(self.severity)
        except ValueError:
            known = ", ".join(Severity)
            raise ValueError(f"severity {self.severity!r}: must be one of {known}") from None
        if isinstance(self.meters, str):
            raise ValueError(f"meters {self.meters!r}: must be a list of patterns, not a text")
        object.__setattr__(self, "meters", check_patterns(self.meters))
        object.__setattr__(self, "severity", severity)
        object.__setattr__(self, "value", float(self.value))
        object.__setattr__(self, "margin", float(self.margin))

    @property
    def recovery_level(self) -> float:
        """The level an open alert's variable must get back past to resolve (its unit)."""
        if self.comparison in (">", ">="):
            return self.value - self.margin
        return self.value + self.margin

    def breaches(self, value: float) -> bool:
        """Whether ``value`` (the variable's unit) is past the limit."""
        return _COMPARE[self.comparison](value, self.value)

    def recovered(self, value: float) -> bool:
        """Whether ``value`` is back past the recovery level (clears an open alert)."""
        return not _COMPARE[self.comparison](value, self.recovery_level)

    def applies_to(self, meter_id: str) -> bool:
        """Whether the rule watches ``meter_id``."""
        return allows(self.meters, meter_id)

    @property
    def text(self) -> str:
        """The rule in the compact form ``parse_limit`` reads (without its id)."""
        parts = [self.variable, self.comparison, f"{self.value:g}"]
        unit = variable(self.variable).unit
        if unit:
            parts.append(unit)
        if self.for_duration:
            parts += ["for", format_duration(self.for_duration)]
        if self.meters:
            parts += ["on", ",".join(self.meters)]
        if self.margin:
            parts += ["margin", f"{self.margin:g}"]
        if self.severity is not Severity.WARNING:
            parts += ["severity", self.severity.value]
        if self.name:
            parts += ["name", self.name]
        return " ".join(parts)


_HEAD = re.compile(
    r"\s*(?P<variable>[A-Za-z_][A-Za-z0-9_]*)\s*(?P<comparison>[<>=!]+)\s*"
    r"(?P<value>[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)(?P<unit>[^\s]*)(?P<rest>.*)",
    re.DOTALL,
)
_KEYWORDS = ("for", "on", "margin", "severity", "name")


def parse_limit(text: str, *, rule_id: str | None = None) -> LimitRule:
    """A ``LimitRule`` from its compact text (see the module's docstring), with ``rule_id``
    as its id (default: a slug of the text). ``ValueError`` naming the part that is wrong.
    """
    head = _HEAD.fullmatch(text)
    if head is None:
        raise ValueError(
            f"limit {text!r}: expected '<variable> <comparison> <value> [for <duration>]"
            " [on <meters>] [margin <number>] [severity <level>] [name <text>]',"
            " e.g. 'active_power > 9 kW for 5m on plant-*'"
        )
    name = head["variable"]
    if name not in VARIABLE_NAMES:
        raise ValueError(
            f"limit {text!r}: unknown variable {name!r}; known: {', '.join(VARIABLE_NAMES)}"
        )
    comparison = head["comparison"]
    if comparison not in COMPARISONS:
        raise ValueError(
            f"limit {text!r}: comparison {comparison!r} must be one of {', '.join(COMPARISONS)}"
        )
    words = head["rest"].split()
    unit = head["unit"]
    if not unit and words and words[0] not in _KEYWORDS:
        unit = words.pop(0)
    if unit:
        expected = variable(name).unit
        if unit.lower() != expected.lower():
            wanted = f"{name}'s unit is {expected}" if expected else f"{name} has no unit"
            raise ValueError(
                f"limit {text!r}: unexpected {unit!r} after the value: {wanted};"
                f" options are {', '.join(_KEYWORDS)}"
            )
    options = _options(text, words)
    for_duration = timedelta(0)
    meters: tuple[str, ...] = ()
    margin = 0.0
    severity = Severity.WARNING
    if "for" in options:
        for_duration = _part(text, "for", lambda: parse_duration(options["for"]))
    if "on" in options:
        patterns = [pattern for pattern in options["on"].split(",") if pattern]
        meters = _part(text, "on", lambda: check_patterns(patterns))
    if "margin" in options:
        margin = _part(text, "margin", lambda: _number(options["margin"]))
    if "severity" in options:
        severity = _part(text, "severity", lambda: _severity(options["severity"]))
    return LimitRule(
        id=rule_id if rule_id is not None else _slug(text),
        variable=name,
        comparison=cast(Comparison, comparison),  # checked above
        value=float(head["value"]),
        for_duration=for_duration,
        meters=meters,
        severity=severity,
        margin=margin,
        name=options.get("name"),
    )


def _options(text: str, words: Sequence[str]) -> dict[str, str]:
    options: dict[str, str] = {}
    index = 0
    while index < len(words):
        keyword = words[index].lower()
        if keyword not in _KEYWORDS:
            raise ValueError(
                f"limit {text!r}: unexpected {words[index]!r}; expected one of"
                f" {', '.join(_KEYWORDS)}"
            )
        if keyword in options:
            raise ValueError(f"limit {text!r}: {keyword!r} is given twice")
        if keyword == "name":
            value = " ".join(words[index + 1 :])
            index = len(words)
        else:
            value = words[index + 1] if index + 1 < len(words) else ""
            index += 2
        if not value:
            raise ValueError(f"limit {text!r}: {keyword!r} needs a value after it")
        options[keyword] = value
    return options


_T = TypeVar("_T")


def _part(text: str, keyword: str, parse: Callable[[], _T]) -> _T:
    try:
        return parse()
    except ValueError as error:
        raise ValueError(f"limit {text!r}: {keyword}: {error}") from None


def _number(text: str) -> float:
    try:
        number = float(text)
    except ValueError:
        raise ValueError(f"{text!r} is not a number") from None
    if not math.isfinite(number) or number < 0:
        raise ValueError(f"{text!r} must be a finite number, 0 or more")
    return number


def _severity(text: str) -> Severity:
    try:
        return Severity(text.lower())
    except ValueError:
        raise ValueError(f"{text!r} must be one of {', '.join(Severity)}") from None


def _slug(text: str) -> str:
    replaced = {">=": "ge", "<=": "le", ">": "gt", "<": "lt"}
    words = re.split(r"(>=|<=|>|<)", text.strip())
    slug = "-".join(replaced.get(word, word) for part in words for word in part.split() if word)
    slug = re.sub(r"[^A-Za-z0-9_.\-]+", "-", slug)
    return slug[:64].strip("-") or "limit"


@dataclass(slots=True)
class _Breach:
    start: datetime | None = None
    peak: float = math.nan
    readings: int = 0
    alert: Alert | None = None


class LimitTracker:
    """Every limit rule over every meter, from readings in time order.

    A meter's reading at or before its previous one is ignored. State: per meter, which
    rules apply (matched once) and one small record per rule in breach.
    """

    def __init__(self, rules: Iterable[LimitRule] = ()) -> None:
        self.rules = tuple(rules)
        ids = [rule.id for rule in self.rules]
        repeated = sorted({rule_id for rule_id in ids if ids.count(rule_id) > 1})
        if repeated:
            raise ValueError(f"limit rule ids must be unique; repeated: {', '.join(repeated)}")
        self._rules_by_id = {rule.id: rule for rule in self.rules}
        self._applicable: dict[str, tuple[LimitRule, ...]] = {}
        self._last: dict[str, datetime] = {}
        self._breaches: dict[tuple[str, str], _Breach] = {}

    def observe(self, readings: Iterable[Reading]) -> list[AlertEvent]:
        """Take readings (each meter's in time order); the events they cause, in time
        order: at most one ``updated`` per alert."""
        if not self.rules:
            return []
        events = EventBuffer()
        breaches = self._breaches
        for reading in readings:
            meter = reading.meter_id
            last = self._last.get(meter)
            if last is not None and reading.timestamp <= last:
                continue
            self._last[meter] = reading.timestamp
            rules = self._applicable.get(meter)
            if rules is None:
                rules = self._applicable[meter] = tuple(
                    rule for rule in self.rules if rule.applies_to(meter)
                )
            values = reading.values
            for rule in rules:
                value = values.get(rule.variable)
                if value is None:
                    continue
                # the common case, a meter within its limits, without building anything
                if (rule.id, meter) in breaches or rule.breaches(value):
                    self._step(rule, reading, value, events)
        return events.events()

    def open_alerts(self) -> list[Alert]:
        """The limit alerts open now, oldest first."""
        alerts = [breach.alert for breach in self._breaches.values() if breach.alert is not None]
        return sorted(alerts, key=lambda alert: alert.started_at)

    def has_open(self, meter_id: str) -> bool:
        """Whether ``meter_id`` has an open limit alert."""
        for rule in self.rules:
            breach = self._breaches.get((rule.id, meter_id))
            if breach is not None and breach.alert is not None:
                return True
        return False

    def restore(self, alert: Alert) -> bool:
        """Take back a limit alert left open by an earlier run; ``False`` (ignored) when it
        is not an open limit alert or its rule is gone (the caller may close it)."""
        rule = self._rules_by_id.get(alert.rule_id)
        if (
            alert.kind is not AlertKind.LIMIT
            or not alert.is_open
            or alert.meter_id is None
            or rule is None
        ):
            return False
        peak = alert.peak if alert.peak is not None else math.nan
        self._breaches[(rule.id, alert.meter_id)] = _Breach(
            alert.started_at, peak, alert.readings, alert
        )
        last = self._last.get(alert.meter_id)
        self._last[alert.meter_id] = (
            alert.updated_at if last is None else max(last, alert.updated_at)
        )
        return True

    def drop(self, meter_id: str) -> None:
        """Forget ``meter_id`` (its open alerts too, without events)."""
        self._applicable.pop(meter_id, None)
        self._last.pop(meter_id, None)
        for rule in self.rules:
            self._breaches.pop((rule.id, meter_id), None)

    def forget(self) -> None:
        """Forget every meter (after a data reset), without events."""
        self._applicable.clear()
        self._last.clear()
        self._breaches.clear()

    def _step(self, rule: LimitRule, reading: Reading, value: float, events: EventBuffer) -> None:
        key = (rule.id, reading.meter_id)
        breach = self._breaches.get(key)
        at = reading.timestamp
        if breach is not None and breach.alert is not None:
            if rule.recovered(value):
                resolved = self._alert(rule, reading.meter_id, breach, at, value, ended=True)
                events.resolved(resolved, at)
                del self._breaches[key]
                return
            breach.readings += 1
            peak = _farther(rule, breach.peak, value)
            if peak == breach.peak:
                # Nothing worth storing changed: a meter held over a limit for hours must
                # not rewrite its alert at every reading (its count is told at the end).
                return
            breach.peak = peak
            breach.alert = self._alert(rule, reading.meter_id, breach, at, value)
            events.updated(breach.alert, at)
            return
        if not rule.breaches(value):
            if breach is not None:
                del self._breaches[key]
            return
        if breach is None:
            breach = self._breaches[key] = _Breach(start=at, peak=value)
        else:
            breach.peak = _farther(rule, breach.peak, value)
        breach.readings += 1
        assert breach.start is not None
        if at - breach.start >= rule.for_duration:
            breach.alert = self._alert(rule, reading.meter_id, breach, at, value)
            events.opened(breach.alert, at)

    @staticmethod
    def _alert(
        rule: LimitRule,
        meter_id: str,
        breach: _Breach,
        at: datetime,
        value: float,
        *,
        ended: bool = False,
    ) -> Alert:
        assert breach.start is not None
        details: dict[str, str | float | int] = {
            "variable": rule.variable,
            "comparison": rule.comparison,
            "value": rule.value,
            "margin": rule.margin,
            "for_s": rule.for_duration.total_seconds(),
            "last_value": value,
            "rule": rule.text,
        }
        if rule.name:
            details["name"] = rule.name
        return Alert(
            key=limit_key(rule.id, meter_id),
            kind=AlertKind.LIMIT,
            rule_id=rule.id,
            meter_id=meter_id,
            severity=rule.severity,
            started_at=breach.start,
            updated_at=at,
            ended_at=at if ended else None,
            peak=breach.peak,
            readings=breach.readings,
            top_variables=(rule.variable,),
            details=details,
        )


def _farther(rule: LimitRule, peak: float, value: float) -> float:
    """The more extreme of ``peak`` and ``value`` in the rule's direction."""
    if math.isnan(peak):
        return value
    return max(peak, value) if rule.comparison in (">", ">=") else min(peak, value)
