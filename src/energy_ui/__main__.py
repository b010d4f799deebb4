"""`python -m energy_ui`: for now, run the in-memory demo and print its analysis."""

from __future__ import annotations

from energy_adapters.memory import (
    MemoryChangeFeed,
    MemoryMetricRepository,
    MemoryModelStore,
    MemoryReadingRepository,
)
from energy_core import Monitor, Simulator


def main() -> None:
    monitor = Monitor(
        readings=MemoryReadingRepository(),
        metrics=MemoryMetricRepository(),
        models=MemoryModelStore(),
        feed=MemoryChangeFeed(),
        simulator=Simulator(meters=3, seed=None),
    )
    monitor.generate_history(10_000)
    info = monitor.train()
    snapshot = monitor.analyse()
    print(f"Modelo v{info.version} entrenado con {info.rows} lecturas / trained on {info.rows}")
    print(
        f"Lecturas analizadas / readings analysed: {snapshot.total_readings}; "
        f"anomalías / anomalies: {snapshot.anomalies_detected} ({snapshot.percentage:.1f} %); "
        f"estado / health: {snapshot.health.value} / {snapshot.health.label('en')}"
    )


if __name__ == "__main__":
    main()
