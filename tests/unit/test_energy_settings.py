"""ENERGY_TIMEZONE and ENERGY_TARIFFS: checked at start (a bad one names the setting and what
is wrong), and the application's energy figures follow them."""

from __future__ import annotations

import pytest
from pydantic import ValidationError
from typer.testing import CliRunner

from energy_core.energy import EnergyInsight
from energy_ui.bootstrap import bootstrap
from energy_ui.cli import app
from energy_ui.settings import Settings
from tests.energy_support import DAY, TARIFFS, two_kw_for_two_hours, write_tariffs


@pytest.fixture(autouse=True)
def no_database(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DATABASE_URL", raising=False)


def test_energy_figures_are_in_utc_without_costs_by_default():
    settings = Settings(_env_file=None)
    assert (settings.timezone, settings.tariffs) == ("UTC", None)
    application = bootstrap(settings)
    assert isinstance(application.energy, EnergyInsight)
    assert application.energy.settings.timezone == "UTC"
    assert application.energy.tariffs is None


def test_the_time_zone_and_tariffs_come_from_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("ENERGY_TIMEZONE", "Europe/Madrid")
    monkeypatch.setenv("ENERGY_TARIFFS", str(write_tariffs(tmp_path)))
    application = bootstrap(Settings(_env_file=None, max_readings=None))
    insight = application.energy
    assert insight is not None
    assert insight.settings.timezone == "Europe/Madrid"
    assert insight.tariffs is not None and insight.tariffs.currency == "EUR"
    application.monitor.readings.add_many(two_kw_for_two_hours())
    summary = insight.summary(DAY, DAY.replace(day=3))
    assert summary.consumption.import_kwh == pytest.approx(4.0, rel=0.005)
    assert summary.total_cost is not None
    assert summary.total_cost.energy_amount == pytest.approx(0.40, rel=0.005)


def test_an_unknown_time_zone_is_refused_naming_the_setting(monkeypatch):
    monkeypatch.setenv("ENERGY_TIMEZONE", "Europe/Atlantis")
    with pytest.raises(ValidationError, match=r"timezone\n.*ENERGY_TIMEZONE 'Europe/Atlantis'"):
        Settings(_env_file=None)


def test_an_unusable_tariff_file_is_refused_naming_the_setting_and_its_field(tmp_path):
    broken = tmp_path / "tariffs.toml"
    broken.write_text(TARIFFS.replace('hours = "10:00-14:00"', 'hours = "ten-two"'), "utf-8")
    with pytest.raises(ValidationError) as raised:
        Settings(_env_file=None, tariffs=broken)
    [problem] = raised.value.errors()
    assert problem["loc"] == ("tariffs",)
    assert "ENERGY_TARIFFS" in problem["msg"] and "tariff[0].period[0]" in problem["msg"]
    missing = tmp_path / "nowhere.toml"
    with pytest.raises(ValidationError, match=r"ENERGY_TARIFFS: .*nowhere\.toml: cannot be read"):
        Settings(_env_file=None, tariffs=missing)


def test_a_blank_tariff_setting_means_no_costs(monkeypatch):
    monkeypatch.setenv("ENERGY_TARIFFS", " ")
    assert Settings(_env_file=None).tariffs is None


def test_a_command_started_with_a_bad_tariff_file_says_so_in_one_line(monkeypatch, tmp_path):
    broken = tmp_path / "tariffs.toml"
    broken.write_text("currency = 'EUR'\n[[tariff]]\nname = 'x'\ncolour = 'red'\n", "utf-8")
    monkeypatch.setenv("ENERGY_TARIFFS", str(broken))
    result = CliRunner().invoke(app, ["simulate", "--count", "10"])
    assert result.exit_code == 1
    assert "tariffs: " in result.output and "ENERGY_TARIFFS" in result.output
    assert "Traceback" not in result.output
