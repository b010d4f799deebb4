"""An in-memory application with a manual clock and a seeded simulator, served to the
NiceGUI ``user`` fixture."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest
from nicegui.testing import User

from energy_core import Simulator
from energy_ui.bootstrap import Application, bootstrap
from energy_ui.dashboard import Dashboard, create_app
from energy_ui.settings import Settings

# Actions run off the event loop; on a loaded CI machine they take longer than the 0.3 s
# NiceGUI's ``should_see``/``should_not_see`` wait by default, so allow up to 10 s.
PATIENCE = 100


@pytest.fixture(autouse=True)
def patient_user(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("should_see", "should_not_see"):
        original = getattr(User, name)

        async def patient(self: User, *args: object, _original=original, **kwargs: object) -> None:
            kwargs.setdefault("retries", PATIENCE)
            await _original(self, *args, **kwargs)

        monkeypatch.setattr(User, name, patient)


START = datetime(2025, 3, 1, 2, 0, tzinfo=UTC)
"""History of 600 readings of two meters at one per minute: 2025-02-28 21:01 to 03-01 02:00."""
HISTORY = 600


def make_application(
    *, history: int = HISTORY, trained: bool = True, **overrides: object
) -> Application:
    """``overrides``: more settings (e.g. ``admin_password``)."""
    from energy_adapters.memory import ManualClock

    settings = Settings(
        _env_file=None,
        meters=2,
        seed=3,
        demo_history=0,
        language="es",
        history_cadence_s=240,
        **overrides,  # type: ignore[arg-type]
    )
    application = bootstrap(
        settings,
        clock=ManualClock(START),
        simulator=Simulator(meters=2, anomaly_ratio=0.03, seed=3),
    )
    monitor = application.monitor
    monitor.settings = replace(monitor.settings, reset_count=300)
    if history:
        monitor.generate_history(history)
    if trained and history:
        monitor.train()
        monitor.analyse()
    return application


@pytest.fixture
def application() -> Application:
    return make_application()


@pytest.fixture
async def dashboard(user: User, application: Application) -> Dashboard:
    """The dashboard registered on the test app, its producer running, no demo driver."""
    dashboard = create_app(application, demo=False)
    await dashboard.start()
    return dashboard
