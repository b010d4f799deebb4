from __future__ import annotations

import pytest
from pydantic import ValidationError

from energy_ui.bootstrap import bootstrap
from energy_ui.settings import Settings


def test_database_url_keeps_the_originals_name_and_others_take_the_prefix(monkeypatch):
    monkeypatch.setenv("DATABASE_URL", "postgresql://u:p@db:5432/smartenergy")
    monkeypatch.setenv("ENERGY_PORT", "8090")
    monkeypatch.setenv("ENERGY_LANGUAGE", "en")
    settings = Settings(_env_file=None)
    assert settings.database_url == "postgresql://u:p@db:5432/smartenergy"
    assert (settings.port, settings.language) == (8090, "en")


def test_settings_are_read_from_a_dotenv_file(tmp_path, monkeypatch):
    monkeypatch.delenv("DATABASE_URL", raising=False)
    env = tmp_path / ".env"
    env.write_text("DATABASE_URL=postgresql://a@b/c\nENERGY_METERS=7\n", encoding="utf-8")
    settings = Settings(_env_file=env)
    assert settings.database_url == "postgresql://a@b/c" and settings.meters == 7


def test_a_blank_database_url_means_the_memory_demo(monkeypatch):
    monkeypatch.setenv("DATABASE_URL", "  ")
    assert Settings(_env_file=None).database_url is None


def test_invalid_settings_name_the_field(monkeypatch):
    monkeypatch.setenv("ENERGY_PORT", "99999")
    with pytest.raises(ValidationError, match="port"):
        Settings(_env_file=None)


def test_bootstrap_without_a_database_builds_the_memory_application(monkeypatch):
    monkeypatch.delenv("DATABASE_URL", raising=False)
    app = bootstrap(Settings(_env_file=None, max_readings=50, meters=2, seed=1))
    assert app.mode == "memory"
    app.monitor.generate_history(120)
    assert app.monitor.queries.count() == 50
    assert app.monitor.simulator.meter_ids == ("meter-01", "meter-02")
    app.close()


def test_the_holiday_calendar_reaches_the_monitor_and_an_unknown_one_is_named(monkeypatch):
    monkeypatch.setenv("ENERGY_HOLIDAYS", "ES")
    assert Settings(_env_file=None).monitor_settings().holidays == "ES"
    monkeypatch.setenv("ENERGY_HOLIDAYS", " ")
    assert Settings(_env_file=None).monitor_settings().holidays is None
    monkeypatch.setenv("ENERGY_HOLIDAYS", "XX")
    with pytest.raises(ValidationError, match=r"ENERGY_HOLIDAYS.*XX"):
        Settings(_env_file=None)
