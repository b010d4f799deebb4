"""Issue 15's done-when: the in-memory demo, started with an Apprise JSON webhook in
ENERGY_NOTIFY_URLS, delivers an incident notification to that receiver within a minute of
starting, without any click."""

from __future__ import annotations

import http.server
import json
import threading
import time
from collections.abc import Iterator

import pytest

from tests.served.conftest import ServedApp
from tests.services import free_port


class Receiver:
    """A local HTTP endpoint that keeps every JSON body POSTed to it."""

    def __init__(self) -> None:
        self.bodies: list[dict] = []
        received = self.bodies

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("content-length", 0))
                received.append(json.loads(self.rfile.read(length)))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.port = free_port()
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    found = Receiver()
    yield found
    found.close()


def test_the_demo_delivers_an_incident_to_a_webhook_within_a_minute(receiver: Receiver):
    started = time.monotonic()
    app = ServedApp(
        "alerts",
        ENERGY_DEMO_HISTORY="2000",
        ENERGY_NOTIFY_URLS=f"json://127.0.0.1:{receiver.port}/hook",
    )
    try:
        app.wait_until_ready()
        while time.monotonic() - started < 60:
            if any(body["title"].startswith("Incident on") for body in receiver.bodies):
                break
            time.sleep(0.5)
        incidents = [body for body in receiver.bodies if body["title"].startswith("Incident on")]
        assert incidents, f"no incident in 60 s; received: {receiver.bodies}\n{app.output()}"
        first = incidents[0]
        assert first["type"] in ("warning", "failure")
        assert f"http://127.0.0.1:{app.port}/?" in first["message"]  # a link to the dashboard
        assert "meter=" in first["message"]
    finally:
        app.stop()
