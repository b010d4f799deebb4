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
)

VARIABLE_NAMES: tuple[str, ...] = tuple(variable.name for variable in VARIABLES)

_BY_NAME: dict[str, Variable] = {variable.name: variable for variable in VARIABLES}


def variable(name: str) -> Variable:
    """The catalogue entry called ``name``; ``KeyError`` names the known ones otherwise."""
    try:
        return _BY_NAME[name]
    except KeyError:
        known = ", ".join(VARIABLE_NAMES)
        raise KeyError(f"unknown variable {name!r}; known variables: {known}") from None
