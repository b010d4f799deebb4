"""The variable catalogue: the one place that names what a meter measures.

Everything else (simulator, detector, validation, storage, dashboard) reads this
catalogue instead of repeating variable names, units or bounds.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Language = Literal["es", "en"]


@dataclass(frozen=True, slots=True)
class Variable:
    """One measured quantity with its unit and its physically possible range."""

    name: str
    unit: str
    minimum: float
    maximum: float
    label_es: str
    label_en: str
    counter: bool = False
    """A running total (an energy meter's register): it only grows, except when the meter
    resets it. Its level says nothing about the meter's state now, so detectors leave it out."""

    def label(self, language: Language = "es") -> str:
        """The human label in ``language`` (Spanish or English)."""
        return self.label_es if language == "es" else self.label_en

    def label_with_unit(self, language: Language = "es") -> str:
        """The label followed by the unit in brackets, when there is one."""
        text = self.label(language)
        return f"{text} [{self.unit}]" if self.unit else text

    def within_bounds(self, value: float) -> bool:
        """Whether ``value`` is physically possible for this variable (bounds inclusive)."""
        return self.minimum <= value <= self.maximum


# Bounds are what a low-voltage industrial meter can physically report, not what is
# normal: a reading outside them is a broken message, not an anomaly to detect.
VARIABLES: tuple[Variable, ...] = (
    Variable("voltage", "V", 0.0, 1000.0, "Voltaje", "Voltage"),
    Variable("current", "A", 0.0, 5000.0, "Corriente", "Current"),
    Variable("active_power", "kW", -5000.0, 5000.0, "Potencia activa", "Active power"),
    Variable("power_factor", "", -1.0, 1.0, "Factor de potencia", "Power factor"),
    Variable("frequency", "Hz", 40.0, 70.0, "Frecuencia", "Frequency"),
    Variable("motor_temperature", "°C", -40.0, 250.0, "Temperatura del motor", "Motor temperature"),
    Variable("reactive_power", "kvar", -5000.0, 5000.0, "Potencia reactiva", "Reactive power"),
    Variable("apparent_power", "kVA", 0.0, 5000.0, "Potencia aparente", "Apparent power"),
    # Energy registers: kWh since the meter was installed or last reset (a large industrial
    # meter reaches millions of kWh; a billion is beyond any low-voltage installation).
    Variable(
        "energy_import",
        "kWh",
        0.0,
        1e9,
        "Energía activa importada",
        "Imported active energy",
        counter=True,
    ),
    Variable(
        "energy_export",
        "kWh",
        0.0,
        1e9,
        "Energía activa exportada",
        "Exported active energy",
        counter=True,
    ),
)

VARIABLE_NAMES: tuple[str, ...] = tuple(variable.name for variable in VARIABLES)
"""Every variable a reading may carry, in catalogue order. A reading carries any non-empty
subset of them: what a meter does not measure is absent, never zero."""

DETECTION_VARIABLES: tuple[str, ...] = tuple(spec.name for spec in VARIABLES if not spec.counter)
"""The variables detectors may learn from: every one but the energy counters."""

DEFAULT_FEATURES: tuple[str, ...] = VARIABLE_NAMES[:6]
"""What a detector built without ``features`` learns (and ``feature_matrix`` gives without
them): the six variables SmartEnergy's demo meters send. ``Monitor.train`` chooses the
features from its training data instead (``energy_core.detection.protocol.choose_features``)."""

_BY_NAME: dict[str, Variable] = {variable.name: variable for variable in VARIABLES}


def variable(name: str) -> Variable:
    """The catalogue entry called ``name``; ``KeyError`` names the known ones otherwise."""
    try:
        return _BY_NAME[name]
    except KeyError:
        known = ", ".join(VARIABLE_NAMES)
        raise KeyError(f"unknown variable {name!r}; known variables: {known}") from None
