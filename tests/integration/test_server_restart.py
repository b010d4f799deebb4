"""A throwaway PostgreSQL restarted under a live writer and a live change-feed listener:
both recover by themselves, and every accepted reading is stored exactly once."""

from __future__ import annotations

import threading
import time
from collections import Counter
from datetime import timedelta

import pytest
import sqlalchemy.exc
from sqlalchemy import text

from energy_adapters.postgres import DatabaseUnavailableError, connect
from energy_core import ChangeEvent, Monitor, MonitorSettings, Reading, Simulator
from tests.postgres_support import bookkeeping_errors, throwaway_server
from tests.strategies import BASE

pytestmark = pytest.mark.postgres

BATCHES = 60
BATCH_SIZE = 50


class RetryingWriter(threading.Thread):
    """Ingests batch after batch; a batch that fails is retried until it is accepted.

    A failure can come after the server committed (the acknowledgement was lost), so
    before retrying it asks whether the batch is already there: then it counts as
    accepted and is not written twice.
    """

    def __init__(self, monitor: Monitor, engine: sqlalchemy.Engine) -> None:
        super().__init__(daemon=True)
        self.monitor = monitor
        self.engine = engine
        self.accepted: list[tuple[str, object]] = []
        self.failures: list[str] = []
        self.stored_batches = 0
        simulator = Simulator(meters=2, seed=5)
        self.batches = [
            simulator.next_batch(BATCH_SIZE, at=BASE + timedelta(seconds=index))
            for index in range(BATCHES)
        ]

    def already_stored(self, batch: list[Reading]) -> bool:
        first = batch[0]
        with self.engine.connect() as connection:
            found = connection.execute(
                text("SELECT count(*) FROM registros WHERE meter_id = :m AND timestamp = :t"),
                {"m": first.meter_id, "t": first.timestamp},
            ).scalar_one()
        return bool(found)

    def run(self) -> None:
        for batch in self.batches:
            attempt = 0
            while True:
                try:
                    if attempt and self.already_stored(batch):
                        break
                    self.monitor.ingest(batch)
                    break
                except (DatabaseUnavailableError, sqlalchemy.exc.DBAPIError) as error:
                    self.failures.append(" ".join(str(error).split())[:200])
                    attempt += 1
                    time.sleep(0.2)
            self.accepted.extend((reading.meter_id, reading.timestamp) for reading in batch)
            self.stored_batches += 1
            time.sleep(0.02)


def test_writer_and_listener_recover_from_a_restart_with_nothing_accepted_lost():
    with throwaway_server() as server:
        writer_stores = connect(server.url, connect_timeout=2)
        listener_stores = connect(server.url, migrate=False, connect_timeout=2)
        try:
            events: list[ChangeEvent] = []
            listener_stores.feed.subscribe(events.append)
            monitor = Monitor(
                readings=writer_stores.readings,
                queries=writer_stores.queries,
                metrics=writer_stores.metrics,
                models=writer_stores.models,
                feed=writer_stores.feed,
                settings=MonitorSettings(max_readings=None),
            )
            writer = RetryingWriter(monitor, writer_stores.engine)
            writer.start()
            deadline = time.monotonic() + 30
            while writer.stored_batches < 10 and time.monotonic() < deadline:
                time.sleep(0.05)
            assert writer.stored_batches >= 10

            server.stop()
            with pytest.raises(DatabaseUnavailableError) as raised:
                writer_stores.queries.count()
            assert "\n" not in str(raised.value) and f":{server.port}" in str(raised.value)
            time.sleep(1.0)
            server.start()

            writer.join(timeout=60)
            assert not writer.is_alive()
            assert writer.failures, "the restart should have interrupted the writer"

            with writer_stores.engine.connect() as connection:
                rows = connection.execute(text("SELECT meter_id, timestamp FROM registros"))
                stored = Counter((meter_id, moment) for meter_id, moment in rows)
            assert sum(stored.values()) == len(writer.accepted) == BATCHES * BATCH_SIZE
            assert set(stored) == set(writer.accepted)
            assert max(stored.values()) == 1
            assert bookkeeping_errors(writer_stores.engine) == []

            # The listener reconnected by itself and hears batches written after the restart.
            assert listener_stores.feed.sync(timeout=15)
            assert listener_stores.feed.reconnections >= 1
            assert ChangeEvent("readings") in events  # the catch-up after reconnecting
            last_id = writer_stores.queries.last_id()
            assert ChangeEvent("readings", count=BATCH_SIZE, last_id=last_id) in events
        finally:
            listener_stores.close()
            writer_stores.close()
