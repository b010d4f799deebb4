"""Readings and rollups partitioned by day (revision 0011): writers create the days they
need (and the days around today), retention drops whole days older than its cut and trims
only the day that straddles it, a reading for a day that has no partition lands in the
default partition and moves out when its day is made, and through all of it the counts,
rollups and counters stay equal to a fresh count of the raw rows."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, text

from energy_adapters.postgres import PostgresReadingRepository, partitions
from energy_adapters.postgres.partitions import day_of, partition_name, window
from energy_core import Reading, ReadingFilter, Simulator
from tests.postgres_support import bookkeeping_errors
from tests.strategies import BASE

pytestmark = pytest.mark.postgres

DAYS = 4
CADENCE = timedelta(minutes=10)


def four_days(meters: int = 3, seed: int = 2) -> list[Reading]:
    """``meters`` meters every 10 minutes from just after BASE to just before 4 days on."""
    steps = DAYS * 24 * 6
    history = Simulator(meters=meters, seed=seed, anomaly_ratio=0.03).history(
        steps * meters, end=BASE + timedelta(days=DAYS, minutes=-7), cadence=CADENCE
    )
    return [
        reading.scored(0.5, index % 9 == 0, ("voltage",) if index % 9 == 0 else ())
        for index, reading in enumerate(history)
    ]


def store(repository: PostgresReadingRepository, readings: list[Reading]) -> list[Reading]:
    stored: list[Reading] = []
    for start in range(0, len(readings), 500):
        stored += repository.add_many(readings[start : start + 500])
    return stored


def days_with_partitions(engine: Engine) -> dict[str, set[int]]:
    with engine.connect() as connection:
        return partitions.stored_days(connection)


def in_default(engine: Engine) -> tuple[int, int]:
    """Rows in the default partitions of the readings and of the rollups."""
    with engine.connect() as connection:
        return (
            connection.execute(text("SELECT count(*) FROM registros_default")).scalar_one(),
            connection.execute(
                text("SELECT count(*) FROM registros_por_minuto_default")
            ).scalar_one(),
        )


FIRST_DAY = day_of(BASE)


def test_writers_make_the_days_they_need_and_nothing_lands_in_the_default(pg_stores):
    readings = four_days()
    store(pg_stores.readings, readings)
    made = days_with_partitions(pg_stores.engine)
    wanted = set(range(FIRST_DAY, FIRST_DAY + DAYS)) | window(day_of(datetime.now(UTC)))
    assert wanted <= made["registros"] and wanted <= made["registros_por_minuto"]
    assert in_default(pg_stores.engine) == (0, 0)
    with pg_stores.engine.connect() as connection:
        per_day = connection.execute(
            text(f"SELECT count(*) FROM {partition_name('registros', FIRST_DAY + 1)}")
        ).scalar_one()
    assert per_day == 3 * 144
    assert pg_stores.queries.count() == len(readings)
    assert bookkeeping_errors(pg_stores.engine) == []


def test_a_batch_across_distant_days_gets_a_partition_for_each(pg_stores):
    far = [
        Reading(datetime(2001, 3, 4, 5, 6, tzinfo=UTC), "old", {"voltage": 230.0}),
        Reading(BASE + timedelta(hours=3), "now", {"voltage": 231.0}),
        Reading(datetime(2031, 1, 1, tzinfo=UTC), "ahead", {"voltage": 232.0}),
    ]
    stored = pg_stores.readings.add_many(far)
    made = days_with_partitions(pg_stores.engine)["registros"]
    assert {day_of(reading.timestamp) for reading in far} <= made
    assert in_default(pg_stores.engine) == (0, 0)
    assert pg_stores.queries.window(ReadingFilter()) == stored
    assert bookkeeping_errors(pg_stores.engine) == []


def test_the_first_and_the_last_day_python_knows_get_partitions_too(pg_stores):
    edges = [
        Reading(datetime(1, 1, 1, 0, 0, 1, tzinfo=UTC), "old", {"voltage": 230.0}),
        Reading(datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC), "far", {"voltage": 231.0}),
    ]
    stored = pg_stores.readings.add_many(edges)
    made = days_with_partitions(pg_stores.engine)["registros_por_minuto"]
    assert {day_of(reading.timestamp) for reading in edges} <= made
    assert in_default(pg_stores.engine) == (0, 0)
    assert pg_stores.queries.window(ReadingFilter()) == stored
    assert bookkeeping_errors(pg_stores.engine) == []
    assert pg_stores.readings.delete_before(datetime(2, 1, 1, tzinfo=UTC)) == 1
    assert day_of(edges[0].timestamp) not in days_with_partitions(pg_stores.engine)["registros"]


def test_retention_by_age_drops_whole_days_and_trims_the_day_straddling_the_cut(pg_stores):
    readings = four_days()
    store(pg_stores.readings, readings)
    cutoff = BASE + timedelta(days=2, hours=7, seconds=3)
    expected = sum(1 for reading in readings if reading.timestamp < cutoff)

    assert pg_stores.readings.delete_before(cutoff) == expected

    made = days_with_partitions(pg_stores.engine)
    for parent in ("registros", "registros_por_minuto"):
        assert FIRST_DAY not in made[parent] and FIRST_DAY + 1 not in made[parent]
        assert FIRST_DAY + 2 in made[parent]  # the straddling day, trimmed
    kept = [reading for reading in readings if reading.timestamp >= cutoff]
    assert pg_stores.queries.count() == len(kept)
    window_kept = pg_stores.queries.window(ReadingFilter())
    assert [(r.timestamp, r.meter_id) for r in window_kept] == [
        (r.timestamp, r.meter_id) for r in kept
    ]
    flagged = sum(1 for reading in kept if reading.is_flagged)
    assert pg_stores.queries.count(ReadingFilter(state="anomalous")) == flagged
    assert bookkeeping_errors(pg_stores.engine) == []
    assert pg_stores.readings.delete_before(cutoff) == 0


def test_the_row_cap_drops_whole_days_too_and_keeps_exactly_the_newest(pg_stores):
    readings = four_days()
    stored = store(pg_stores.readings, readings)
    keep = 3 * 144 + 200  # the cut falls inside the third day

    assert pg_stores.readings.delete_oldest(keep) == len(readings) - keep

    made = days_with_partitions(pg_stores.engine)["registros"]
    assert FIRST_DAY not in made and FIRST_DAY + 1 not in made and FIRST_DAY + 2 in made
    assert pg_stores.queries.count() == keep
    assert [r.id for r in pg_stores.queries.window(ReadingFilter())] == [
        r.id for r in stored[-keep:]
    ]
    assert bookkeeping_errors(pg_stores.engine) == []


def test_a_reading_for_a_dropped_day_lands_in_the_default_and_moves_out_with_its_day(
    pg_stores,
):
    engine = pg_stores.engine
    writer = PostgresReadingRepository(engine)
    first = store(writer, four_days(meters=1)[:200])  # the first day and a bit of the second
    # Another process drops the first day: this writer still believes it is there.
    assert PostgresReadingRepository(engine).delete_before(BASE + timedelta(days=1)) > 0
    assert FIRST_DAY not in days_with_partitions(engine)["registros"]
    late = Reading(BASE + timedelta(hours=5, seconds=1), "meter-01", {"voltage": 229.0})

    [stored_late] = writer.add_many([late])

    assert in_default(engine) == (1, 1)
    assert pg_stores.queries.window(ReadingFilter(end=BASE + timedelta(days=1))) == [stored_late]
    assert bookkeeping_errors(engine) == []
    assert pg_stores.queries.count() == 1 + sum(
        1 for reading in first if reading.timestamp >= BASE + timedelta(days=1)
    )

    # A writer that knows the day is gone makes it again: the default's rows move into it.
    other = Reading(BASE + timedelta(hours=6), "meter-01", {"voltage": 228.0})
    [stored_other] = PostgresReadingRepository(engine).add_many([other])
    assert in_default(engine) == (0, 0)
    assert FIRST_DAY in days_with_partitions(engine)["registros_por_minuto"]
    assert pg_stores.queries.window(ReadingFilter(end=BASE + timedelta(days=1))) == [
        stored_late,
        stored_other,
    ]
    assert bookkeeping_errors(engine) == []
    # ... and the next retention drops it whole, the default's former rows with it.
    assert PostgresReadingRepository(engine).delete_before(BASE + timedelta(days=1)) == 2
    assert bookkeeping_errors(engine) == []


def test_retention_waits_for_busy_readings_at_most_the_lock_timeout_then_tries_again(
    pg_stores, monkeypatch
):
    monkeypatch.setattr(partitions, "LOCK_TIMEOUT", "200ms")
    readings = four_days(meters=1)
    store(pg_stores.readings, readings)
    cutoff = BASE + timedelta(days=2)
    with pg_stores.engine.connect() as reader:
        # A long read holds its share of the readings until it ends.
        reader.execute(text("SELECT count(*) FROM registros"))
        started = time.monotonic()
        assert pg_stores.readings.delete_before(cutoff) == 0
        assert time.monotonic() - started < 2.0
        assert pg_stores.queries.count() == len(readings)
        reader.rollback()
    expected = sum(1 for reading in readings if reading.timestamp < cutoff)
    assert pg_stores.readings.delete_before(cutoff) == expected
    assert pg_stores.queries.count() == len(readings) - expected
    assert bookkeeping_errors(pg_stores.engine) == []


def test_writers_go_on_while_days_are_dropped(pg_stores):
    engine = pg_stores.engine
    old = four_days(meters=2)
    store(pg_stores.readings, old)
    now = BASE + timedelta(days=DAYS, hours=1)
    errors: list[BaseException] = []
    written: list[int] = []

    def write(meter: str) -> None:
        repository = PostgresReadingRepository(engine)
        try:
            for step in range(40):
                at = now + timedelta(seconds=step)
                written.append(len(repository.add_many([Reading(at, meter, {"current": 1.0})])))
        except BaseException as error:
            errors.append(error)

    writers = [threading.Thread(target=write, args=(f"live-{n}",)) for n in range(3)]
    for writer in writers:
        writer.start()
    dropped = 0
    for day in range(1, DAYS):
        dropped += PostgresReadingRepository(engine).delete_before(BASE + timedelta(days=day))
    for writer in writers:
        writer.join()

    assert errors == []
    cut = BASE + timedelta(days=DAYS - 1)
    assert dropped == sum(1 for reading in old if reading.timestamp < cut)
    assert pg_stores.queries.count() == len(old) - dropped + sum(written)
    assert bookkeeping_errors(engine) == []


def test_a_late_writer_of_a_day_being_dropped_is_never_the_deadlock_victim(pg_stores, monkeypatch):
    """A writer holding the readings (a batch of today under way) that then writes into a
    day retention is dropping waits for the drop's lock on that day while the drop waits for
    the writer: the drop gives way before PostgreSQL's deadlock check would cancel the
    writer."""
    monkeypatch.setattr(partitions, "LOCK_TIMEOUT", "1s")
    readings = four_days(meters=1)
    store(pg_stores.readings, readings)
    add = text(
        "INSERT INTO registros (meter_id, timestamp, top_variables) VALUES ('late', :at, '{}')"
    )
    outcome: list[int] = []
    with pg_stores.engine.connect() as writer:
        writer.execute(add, {"at": BASE + timedelta(days=1, hours=2)})  # holds the readings
        retention = threading.Thread(
            target=lambda: outcome.append(
                PostgresReadingRepository(pg_stores.engine).delete_before(BASE + timedelta(days=1))
            )
        )
        retention.start()
        time.sleep(0.2)
        writer.execute(add, {"at": BASE + timedelta(hours=2)})  # a late reading of day one
        retention.join()
        writer.rollback()
    assert outcome == [0]  # postponed
    expected = sum(1 for reading in readings if reading.timestamp < BASE + timedelta(days=1))
    assert pg_stores.readings.delete_before(BASE + timedelta(days=1)) == expected
    assert bookkeeping_errors(pg_stores.engine) == []


def test_a_writer_already_waiting_for_a_day_being_dropped_makes_the_drop_give_way(
    pg_stores, monkeypatch
):
    """The other order: the writer waits for the day before the drop asks for the whole
    tables; the drop sees it waiting and gives way at once, so the writer is never the one
    PostgreSQL's deadlock check cancels."""
    monkeypatch.setattr(partitions, "LOCK_TIMEOUT", "2s")
    readings = four_days(meters=1)
    store(pg_stores.readings, readings)
    add = text(
        "INSERT INTO registros (meter_id, timestamp, top_variables) VALUES ('late', :at, '{}')"
    )
    outcome: list[int] = []
    failures: list[BaseException] = []
    with pg_stores.engine.connect() as holder, pg_stores.engine.connect() as writer:
        holder.execute(add, {"at": BASE + timedelta(hours=1)})  # day one, until rolled back
        writer.execute(add, {"at": BASE + timedelta(days=1, hours=2)})  # holds the readings
        retention = threading.Thread(
            target=lambda: outcome.append(
                PostgresReadingRepository(pg_stores.engine).delete_before(BASE + timedelta(days=1))
            )
        )
        retention.start()  # waits for the holder's lock on day one
        time.sleep(0.2)

        def late() -> None:
            try:
                writer.execute(add, {"at": BASE + timedelta(hours=2)})  # queues behind it
            except BaseException as error:
                failures.append(error)

        late_writer = threading.Thread(target=late)
        late_writer.start()
        time.sleep(0.5)
        holder.rollback()  # the drop gets day one, and finds the writer waiting
        retention.join()
        late_writer.join()
        writer.rollback()
    assert failures == []
    assert outcome == [0]
    expected = sum(1 for reading in readings if reading.timestamp < BASE + timedelta(days=1))
    assert pg_stores.readings.delete_before(BASE + timedelta(days=1)) == expected
    assert bookkeeping_errors(pg_stores.engine) == []
