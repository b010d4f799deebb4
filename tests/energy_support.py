"""A constructed day for the energy tests (issue 18's done-when): a meter at a constant 2 kW
for two hours, a reading every 10 s — 4.0 kWh — and optionally a 6 kW quarter hour that an
incident flags, with the tariff file docs/energy.md prices it by."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from energy_core import Reading
from energy_ui.bootstrap import Application

DAY = datetime(2025, 6, 2, tzinfo=UTC)
"""A Monday."""
METER = "press-1"
STEP = timedelta(seconds=10)
BURST_AT = DAY + timedelta(hours=12)
BURST_END = BURST_AT + timedelta(minutes=15)

TARIFFS = """\
timezone = "UTC"
currency = "EUR"

[[tariff]]
name = "2025"
price = 0.10
demand_charge = 3.0

[[tariff.period]]
name = "peak"
price = 0.20
days = "mon-fri"
hours = "10:00-14:00"
"""


def two_kw_for_two_hours(meter: str = METER) -> list[Reading]:
    """2 kW from 08:00 of ``DAY``, a reading every 10 s until 09:59:50: 4.0 kWh from the
    rollups (each minute's mean held for the minute; 3.994 from the readings themselves)."""
    start = DAY + timedelta(hours=8)
    return [Reading(start + k * STEP, meter, {"active_power": 2.0}) for k in range(2 * 360)]


def burst(meter: str = METER) -> list[Reading]:
    """6 kW from 12:00 for a quarter hour (the last reading 12:14:50): 1.5 kWh less 10 s."""
    return [Reading(BURST_AT + k * STEP, meter, {"active_power": 6.0}) for k in range(90)]


def csv_text(readings: list[Reading]) -> str:
    """``readings`` as the CSV ``smartenergy import`` takes."""
    lines = ["meter_id,timestamp,active_power"]
    lines += [
        f"{r.meter_id},{r.timestamp.isoformat()},{r.values['active_power']}" for r in readings
    ]
    return "\n".join(lines) + "\n"


def write_tariffs(folder: Path) -> Path:
    path = folder / "tariffs.toml"
    path.write_text(TARIFFS, encoding="utf-8")
    return path


def flag_burst(application: Application, meter: str = METER) -> None:
    """The burst's readings, flagged, through the alert rules: an incident from 12:00 (open
    until the application's clock says otherwise)."""
    assert application.alerting is not None
    flagged = [reading.scored(0.9, True, ("active_power",)) for reading in burst(meter)]
    application.alerting.observe(flagged)
