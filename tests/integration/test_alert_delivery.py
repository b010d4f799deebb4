"""Alert notifications through PostgreSQL's outbox to a real HTTP receiver: two processes
seeing the same readings and dispatching at once deliver each notification once; a
PostgreSQL restart in the middle of delivery loses none.

Delivery is at least once, by design: a dispatcher that loses the database between the
HTTP send and ``mark_sent`` leaves the notification ``sending``, and it is sent again when
its lease runs out. Every notification carries its event id, so a receiver can drop the
repeat; the restart test checks that a repeat happens only in that window.
"""

from __future__ import annotations

import json
import multiprocessing
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from sqlalchemy import Engine, text

from energy_adapters.memory import ManualClock
from energy_adapters.memory_alerts import MemoryAlertStore, MemoryFeedbackStore, MemoryMuteStore
from energy_adapters.postgres import build_stores, connect, open_engine
from energy_core import Reading, SystemClock
from energy_core.alerts import AlertRules, IncidentRule, Silence
from energy_core.alerts.store import AlertStore, OutboxItem
from energy_core.usecases.alerting import Alerting, AlertSettings, deliver_due
from tests.postgres_support import throwaway_server
from tests.strategies import BASE

pytestmark = pytest.mark.postgres

RULES = AlertRules(
    incidents=IncidentRule(open_after=2, close_after=2), silent=None, health=None, detector=None
)
METERS = [f"m{index:02d}" for index in range(6)]
QUIET_METER = "m05"  # silenced: its notifications are recorded, never sent
SILENCE = Silence.lasting(
    "works", BASE - timedelta(hours=1), timedelta(days=2), meters=(QUIET_METER,)
)
ALERT_TABLES = "alertas, notificaciones, silencios, ventanas_mantenimiento, valoraciones"


def flag_pattern(meter_index: int, length: int) -> list[bool]:
    """Runs of flagged readings (incidents) between quiet stretches, different per meter."""
    run, quiet = 2 + meter_index % 3, 3 + meter_index % 2
    period = run + quiet
    return [(second + meter_index) % period < run for second in range(length)]


def reading_batches(seconds: int = 60, per_batch: int = 5) -> list[list[Reading]]:
    """Every meter's reading each second, ``per_batch`` seconds to a batch."""
    patterns = {meter: flag_pattern(index, seconds) for index, meter in enumerate(METERS)}
    readings = [
        Reading(BASE + timedelta(seconds=second), meter, {"voltage": 230.0}).scored(
            0.9 if patterns[meter][second] else 0.1,
            patterns[meter][second],
            ("voltage",) if patterns[meter][second] else (),
        )
        for second in range(seconds)
        for meter in METERS
    ]
    size = per_batch * len(METERS)
    return [readings[start : start + size] for start in range(0, len(readings), size)]


def reference(batches: list[list[Reading]]) -> MemoryAlertStore:
    """What the in-memory stores hold after the same readings and silence."""
    mutes = MemoryMuteStore()
    mutes.add_silence(SILENCE)
    store = MemoryAlertStore()
    alerting = Alerting(
        store=store,
        mutes=mutes,
        feedback=MemoryFeedbackStore(),
        clock=ManualClock(BASE),
        settings=AlertSettings(rules=RULES),
    )
    for batch in batches:
        alerting.observe(batch)
    return store


# --- a webhook receiver -------------------------------------------------------------------------
class Receiver:
    """A local HTTP server counting the notifications POSTed to it (by event id).

    ``hold_at``: the POST of that number (from 1) is held, unanswered, until ``release``
    is set (``holding`` is set meanwhile)."""

    def __init__(self, delay_s: float = 0.0, hold_at: int | None = None) -> None:
        self.received: list[str] = []
        self.lock = threading.Lock()
        self.holding, self.release = threading.Event(), threading.Event()
        posts = iter(range(1, 1_000_000))
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with receiver.lock:
                    number = next(posts)
                if number == hold_at:
                    receiver.holding.set()
                    receiver.release.wait(30)
                time.sleep(delay_s)
                with receiver.lock:
                    receiver.received.append(body["event_id"])
                self.send_response(204)
                self.end_headers()

            def log_message(self, *_args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def event_ids(self) -> list[str]:
        with self.lock:
            return list(self.received)

    def __enter__(self) -> Receiver:
        self.thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


def webhook(url: str) -> Callable[[OutboxItem], None]:
    """A JSON webhook channel: the notification with its event id (for receivers that
    dedupe); raises on anything but a 2xx answer."""

    def send(item: OutboxItem) -> None:
        body = {
            "event_id": item.event_id,
            "kind": item.kind,
            "key": item.alert.key,
            "meter_id": item.alert.meter_id,
            "severity": item.alert.severity.value,
        }
        request = urllib.request.Request(
            url,
            data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=5) as answer:
            if not 200 <= answer.status < 300:
                raise ConnectionError(f"webhook answered {answer.status}")

    return send


class Dispatcher(threading.Thread):
    """``deliver_due`` in a loop until stopped; whatever fails (the database away) is
    counted and tried again shortly."""

    def __init__(
        self,
        store: AlertStore,
        send: Callable[[OutboxItem], None],
        settings: AlertSettings,
        stop: Any,  # a threading or multiprocessing Event
    ) -> None:
        super().__init__(daemon=True)
        self.store, self.send, self.settings, self.stop = store, send, settings, stop
        self.errors: list[str] = []

    def run(self) -> None:
        clock = SystemClock()
        while not self.stop.is_set():
            try:
                report = deliver_due(self.store, self.send, clock, self.settings, limit=5)
            except Exception as error:
                self.errors.append(f"{type(error).__name__}: {error}"[:200])
                time.sleep(0.1)
                continue
            if not report.sent and not report.failed:
                time.sleep(0.02)


def outbox(engine: Engine) -> dict[str, str]:
    """Every notification's state by event id."""
    with engine.connect() as connection:
        rows = connection.execute(text("SELECT event_id, state FROM notificaciones"))
        return {event_id: state for event_id, state in rows}


def wait_for(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


# --- two processes ------------------------------------------------------------------------------
def alerting_process(url: str, hook: str, start: Any, stop: Any) -> None:
    """A whole application process: its own engine and ``Alerting``, observing every
    batch, with two dispatcher threads delivering until told to stop."""
    engine = open_engine(url)
    stores = build_stores(engine)
    try:
        settings = AlertSettings(rules=RULES)
        alerting = Alerting(
            store=stores.alerts,
            mutes=stores.mutes,
            feedback=stores.feedback,
            clock=SystemClock(),
            settings=settings,
        )
        dispatchers = [Dispatcher(stores.alerts, webhook(hook), settings, stop) for _ in range(2)]
        start.wait(30)
        for dispatcher in dispatchers:
            dispatcher.start()
        for batch in reading_batches():
            alerting.observe(batch)
            time.sleep(0.005)
        for dispatcher in dispatchers:
            dispatcher.join(timeout=120)
        errors = [error for dispatcher in dispatchers for error in dispatcher.errors]
        if errors:
            raise SystemExit(f"dispatchers failed: {errors[:3]}")
    finally:
        stores.close()


@contextmanager
def emptied(engine: Engine) -> Iterator[None]:
    with engine.begin() as connection:
        connection.execute(text(f"TRUNCATE {ALERT_TABLES} RESTART IDENTITY"))
    yield
    with engine.begin() as connection:  # other tests of this session expect none
        connection.execute(text(f"TRUNCATE {ALERT_TABLES} RESTART IDENTITY"))


def test_two_processes_seeing_the_same_readings_deliver_each_notification_once(
    pg_stores, pg_database_url
):
    memory = reference(reading_batches())
    expected = memory.notifications(limit=10_000)
    to_send = {item.event_id for item in expected if item.state == "pending"}
    silenced = {item.event_id for item in expected if item.state == "suppressed"}
    assert len(to_send) >= 20 and silenced  # the readings make incidents, some silenced

    with emptied(pg_stores.engine), Receiver() as receiver:
        pg_stores.mutes.add_silence(SILENCE)
        context = multiprocessing.get_context("spawn")
        start, stop = context.Event(), context.Event()
        processes = [
            context.Process(
                target=alerting_process, args=(pg_database_url, receiver.url, start, stop)
            )
            for _ in range(2)
        ]
        for process in processes:
            process.start()
        start.set()
        try:
            wait_for(
                lambda: (
                    len(receiver.event_ids()) >= len(to_send)
                    and set(outbox(pg_stores.engine).values()) <= {"sent", "suppressed"}
                ),
                timeout=90,
                what="every notification sent",
            )
            time.sleep(0.5)  # anything sent twice would arrive now
        finally:
            stop.set()
            for process in processes:
                process.join(timeout=60)
        assert [process.exitcode for process in processes] == [0, 0]

        received = receiver.event_ids()
        assert sorted(received) == sorted(to_send)  # each once, none silenced
        states = outbox(pg_stores.engine)
        assert {event_id for event_id, state in states.items() if state == "sent"} == to_send
        assert {event_id for event_id, state in states.items() if state == "suppressed"} == silenced
        # Both processes stored the same occurrences, once each, as they ended up.
        assert [item.alert for item in memory.alerts(limit=1000)] == [
            item.alert for item in pg_stores.alerts.alerts(limit=1000)
        ]


# --- a restart of PostgreSQL --------------------------------------------------------------------
def test_a_postgres_restart_during_delivery_loses_none_and_sends_none_twice(caplog):
    batches = reading_batches(seconds=120)
    queued = reference(batches).notifications(limit=10_000)
    expected = {item.event_id for item in queued if item.state == "pending"}
    with throwaway_server() as server, connect(server.url, connect_timeout=2) as stores:
        alerting = Alerting(
            store=stores.alerts,
            mutes=stores.mutes,
            feedback=stores.feedback,
            clock=SystemClock(),
            settings=AlertSettings(rules=RULES),
        )
        alerting.silence(SILENCE)
        for batch in batches:
            alerting.observe(batch)
        assert set(outbox(stores.engine)) == {item.event_id for item in queued}
        assert len(expected) >= 60

        # The 10th notification is answered only once the server is down: its dispatcher
        # has to mark it sent while the database is away.
        settings = AlertSettings(rules=RULES, lease_s=20.0, first_retry_s=0.2)
        stop = threading.Event()
        with Receiver(delay_s=0.01, hold_at=10) as receiver:
            dispatchers = [
                Dispatcher(stores.alerts, webhook(receiver.url), settings, stop) for _ in range(2)
            ]
            for dispatcher in dispatchers:
                dispatcher.start()
            try:
                assert receiver.holding.wait(30), "delivery did not start"
                server.stop()
                receiver.release.set()
                time.sleep(1.5)
                before_back = set(receiver.event_ids())
                server.start()
                wait_for(
                    lambda: set(outbox(stores.engine).values()) == {"sent", "suppressed"},
                    timeout=90,
                    what="every notification sent after the restart",
                )
                time.sleep(0.5)  # anything sent twice would arrive now
            finally:
                stop.set()
                for dispatcher in dispatchers:
                    dispatcher.join(timeout=30)
            received = receiver.event_ids()

        assert 10 <= len(before_back) < len(expected), "the restart came mid-delivery"
        assert sorted(received) == sorted(expected)  # none lost, none twice
        # The held notification (at least) was sent while the database was down, and marked
        # once it was back rather than sent again after its lease.
        assert any("the database is away" in record.message for record in caplog.records)


def test_a_dispatcher_that_dies_after_sending_leaves_its_notification_to_be_sent_again(
    pg_stores,
):
    """The at-least-once window: sent, then the process died before ``mark_sent``. After
    the lease another dispatcher sends it again, with the same event id."""
    with emptied(pg_stores.engine), Receiver() as receiver:
        alerting = Alerting(
            store=pg_stores.alerts,
            mutes=pg_stores.mutes,
            feedback=pg_stores.feedback,
            clock=SystemClock(),
            settings=AlertSettings(rules=RULES),
        )
        alerting.observe(reading_batches(seconds=4, per_batch=4)[0])
        clock = SystemClock()
        [item, *_] = pg_stores.alerts.claim_due(clock.now(), 1, 0.2)
        webhook(receiver.url)(item)  # ...and the process is gone

        time.sleep(0.3)
        report = deliver_due(pg_stores.alerts, webhook(receiver.url), clock, limit=100)
        assert item.id in [sent.id for sent in report.sent]
        assert receiver.event_ids().count(item.event_id) == 2
        assert len(set(receiver.event_ids())) == len(receiver.event_ids()) - 1
