"""``ChangeFeed`` over PostgreSQL LISTEN/NOTIFY, shared by every process on one database.

``publish`` sends a NOTIFY with a small JSON payload. ``subscribe`` starts (once) a
listener thread on its own psycopg2 connection; it calls every listener for every event,
reconnects by itself with backoff when the server goes away, and after reconnecting tells
listeners that anything may have changed meanwhile (notifications are not queued for
absent listeners). Listeners run on that thread and must be quick.
"""

from __future__ import annotations

import json
import logging
import os
import select
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

import psycopg2
import psycopg2.extensions
from sqlalchemy import Connection, Engine, func
from sqlalchemy import select as sql_select

from energy_adapters.postgres.urls import Database, describe_url
from energy_core.ports import ChangeEvent, ChangeTopic, Listener

log = logging.getLogger(__name__)

DEFAULT_CHANNEL = "smartenergy_changes"
_TOPICS: frozenset[str] = frozenset({"readings", "metrics", "model", "reset"})
# Told to listeners after a reconnection: what they may have missed while it was down.
CATCH_UP_EVENTS: tuple[ChangeEvent, ...] = (
    ChangeEvent("readings"),
    ChangeEvent("metrics"),
    ChangeEvent("model"),
)
_SYNC_KEY = "sync"


def encode_event(event: ChangeEvent) -> str:
    return json.dumps({"topic": event.topic, "count": event.count, "last_id": event.last_id})


def decode_event(payload: str) -> ChangeEvent | None:
    """The event in ``payload``; ``None`` for anything that is not one of ours."""
    try:
        data = json.loads(payload)
        topic = data["topic"]
        if topic not in _TOPICS:
            return None
        last_id = data.get("last_id")
        return ChangeEvent(
            topic=_as_topic(topic),
            count=int(data.get("count", 0)),
            last_id=None if last_id is None else int(last_id),
        )
    except (ValueError, KeyError, TypeError):
        return None


def _as_topic(topic: str) -> ChangeTopic:
    if topic == "readings":
        return "readings"
    if topic == "metrics":
        return "metrics"
    if topic == "model":
        return "model"
    return "reset"


class PostgresChangeFeed:
    """Change events on channel ``channel`` of the database behind ``engine``."""

    def __init__(
        self,
        database: Database | Engine,
        *,
        channel: str = DEFAULT_CHANNEL,
        first_retry_delay: float = 0.1,
        max_retry_delay: float = 5.0,
        connect_timeout: int = 5,
    ) -> None:
        self._db = database if isinstance(database, Database) else Database(database)
        self.channel = channel
        self._first_retry_delay = first_retry_delay
        self._max_retry_delay = max_retry_delay
        self._connect_timeout = connect_timeout
        self._lock = threading.Lock()
        self._listeners: list[Listener] = []
        self._thread: threading.Thread | None = None
        self._closing = threading.Event()
        self._listening = threading.Event()
        # A pipe the thread also waits on, so close() wakes it at once.
        self._wake_read, self._wake_write = os.pipe()
        self._sync_seen = threading.Condition(self._lock)
        self._sync_id = uuid.uuid4().hex
        self._sync_counter = 0
        self._last_sync = 0
        self._closed = False
        self.reconnections = 0

    # --- publishing -----------------------------------------------------------------------
    def publish(self, event: ChangeEvent) -> None:
        """NOTIFY ``event`` to every process listening (the caller's change is committed:
        one owner announces, after the commit)."""
        with self._db.transaction() as connection:
            self._notify(connection, encode_event(event))

    def _notify(self, connection: Connection, payload: str) -> None:
        connection.execute(sql_select(func.pg_notify(self.channel, payload)))

    # --- subscribing ----------------------------------------------------------------------
    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Call ``listener`` for every event; waits (up to the connect timeout) until the
        listener connection is up, so events published right after are not missed."""
        with self._lock:
            if self._closed:
                raise RuntimeError("this change feed is closed")
            self._listeners.append(listener)
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name=f"change-feed:{self.channel}", daemon=True
                )
                self._thread.start()
        if not self._listening.wait(self._connect_timeout):
            log.warning("change feed: not listening yet on %s", describe_url(self._db.engine.url))

        def unsubscribe() -> None:
            with self._lock:
                if listener in self._listeners:
                    self._listeners.remove(listener)

        return unsubscribe

    @property
    def is_listening(self) -> bool:
        return self._listening.is_set()

    def sync(self, timeout: float = 5.0) -> bool:
        """Wait until every event published before this call reached the listeners.

        Sends a private marker through the channel: notifications arrive in commit order,
        so once the listener thread sees the marker, it has handed over the earlier ones.
        Returns ``False`` on timeout or when nobody listens.
        """
        if self._thread is None:
            return False
        with self._lock:
            self._sync_counter += 1
            token = self._sync_counter
        with self._db.transaction() as connection:
            self._notify(connection, json.dumps({_SYNC_KEY: token, "feed": self._sync_id}))
        deadline = time.monotonic() + timeout
        with self._sync_seen:
            while self._last_sync < token:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._sync_seen.wait(remaining)
        return True

    def close(self) -> None:
        """Stop the listener thread and close its connection. Idempotent."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            thread = self._thread
        self._closing.set()
        os.write(self._wake_write, b"x")
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=10)
        self._listening.clear()
        os.close(self._wake_read)
        os.close(self._wake_write)

    def __enter__(self) -> PostgresChangeFeed:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # --- the listener thread --------------------------------------------------------------
    def _connect(self) -> psycopg2.extensions.connection:
        engine = self._db.engine
        _args, parameters = engine.dialect.create_connect_args(engine.url)
        parameters = {
            **parameters,
            "connect_timeout": self._connect_timeout,
            "application_name": "smartenergy-listener",
            # Notice a silently vanished server within about a minute.
            "keepalives": 1,
            "keepalives_idle": 20,
            "keepalives_interval": 5,
            "keepalives_count": 3,
        }
        connection = psycopg2.connect(**parameters)
        connection.set_session(autocommit=True)
        with connection.cursor() as cursor:
            cursor.execute(f'LISTEN "{self.channel.replace(chr(34), chr(34) * 2)}"')
        return connection

    def _run(self) -> None:
        delay = self._first_retry_delay
        connected_before = False
        while not self._closing.is_set():
            connection = None
            try:
                connection = self._connect()
                self._listening.set()
                if connected_before:
                    self.reconnections += 1
                    log.info("change feed: listening again on channel %s", self.channel)
                    for event in CATCH_UP_EVENTS:
                        self._dispatch(event)
                connected_before = True
                delay = self._first_retry_delay
                self._listen(connection)
            except Exception as error:  # the thread must outlive any failure, and retry
                self._listening.clear()
                reason = " ".join(str(error).split())
                log.warning(
                    "change feed: connection to %s lost (%s); retrying in %.1f s",
                    describe_url(self._db.engine.url),
                    reason,
                    delay,
                )
                self._closing.wait(delay)
                delay = min(delay * 2, self._max_retry_delay)
            finally:
                self._listening.clear()
                if connection is not None:
                    connection.close()

    def _listen(self, connection: psycopg2.extensions.connection) -> None:
        while not self._closing.is_set():
            readable, _, _ = select.select([connection, self._wake_read], [], [], 5.0)
            if self._wake_read in readable:
                return
            connection.poll()
            while connection.notifies:
                notification = connection.notifies.pop(0)
                self._receive(notification.payload)

    def _receive(self, payload: str) -> None:
        event = decode_event(payload)
        if event is not None:
            self._dispatch(event)
            return
        try:
            data: Any = json.loads(payload)
        except ValueError:
            return
        if isinstance(data, dict) and data.get("feed") == self._sync_id and _SYNC_KEY in data:
            with self._sync_seen:
                self._last_sync = max(self._last_sync, int(data[_SYNC_KEY]))
                self._sync_seen.notify_all()

    def _dispatch(self, event: ChangeEvent) -> None:
        with self._lock:
            listeners = list(self._listeners)
        for listener in listeners:
            try:
                listener(event)
            except Exception:
                log.exception("change listener failed on %s", event)
