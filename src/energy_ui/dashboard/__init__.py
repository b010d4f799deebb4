"""Placeholder until the live dashboard lands: run the in-memory demo and print its analysis."""

from __future__ import annotations

from energy_ui.bootstrap import bootstrap
from energy_ui.settings import Settings


def serve(
    settings: Settings | None = None, *, host: str | None = None, port: int | None = None
) -> None:
    application = bootstrap(settings or Settings())
    monitor = application.monitor
    monitor.generate_history(application.settings.demo_history)
    info = monitor.train()
    snapshot = monitor.analyse()
    print(f"Modelo v{info.version} entrenado con {info.rows} lecturas / trained on {info.rows}")
    print(
        f"Lecturas analizadas / readings analysed: {snapshot.total_readings}; "
        f"anomalías / anomalies: {snapshot.anomalies_detected} ({snapshot.percentage:.1f} %); "
        f"estado / health: {snapshot.health.value} / {snapshot.health.label('en')}"
    )
