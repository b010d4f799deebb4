"""`smartenergy alerts`: list, ack, silence, unsilence, silences, rules, test-notify and
maintenance windows, against an in-memory application (the commands' own storage replaced by
one the test prepared) and a local HTTP receiver for the test notification."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from typer.testing import CliRunner

from energy_adapters.memory import ManualClock
from energy_core import Reading, Simulator
from energy_ui import cli_alerts
from energy_ui.bootstrap import Application, bootstrap
from energy_ui.cli import app
from energy_ui.settings import Settings
from tests.services import free_port
from tests.strategies import BASE

runner = CliRunner()
VALUES = {"voltage": 230.0, "current": 10.0, "active_power": 2.0}


@pytest.fixture(autouse=True)
def no_database(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.delenv("ENERGY_DATABASE_URL", raising=False)
    monkeypatch.delenv("ENERGY_NOTIFY_URLS", raising=False)
    monkeypatch.chdir(tmp_path)  # no .env is read from the repository


@pytest.fixture(autouse=True)
def wide_tables(monkeypatch: pytest.MonkeyPatch) -> None:
    """A terminal wide enough that the tables' cells are not wrapped mid-word."""
    monkeypatch.setattr(cli_alerts.out, "width", 240)


def invoke(*arguments: str, expect: int = 0) -> tuple[str, str]:
    result = runner.invoke(app, list(arguments))
    assert result.exit_code == expect, (result.stdout, result.stderr)
    return result.stdout, result.stderr


@pytest.fixture
def application(monkeypatch: pytest.MonkeyPatch) -> Application:
    """One in-memory application every command of the test uses (as a shared database
    would be): an incident of m-1 resolved an hour ago, one of m-2 open now."""
    made = bootstrap(
        Settings(_env_file=None, max_readings=None), clock=ManualClock(BASE), simulator=Simulator()
    )
    assert made.alerting is not None
    for meter, start, normal in (("m-1", BASE - timedelta(hours=1), 10), ("m-2", BASE, 0)):
        readings = [
            Reading(timestamp=start + timedelta(seconds=k), meter_id=meter, values=VALUES).scored(
                0.9 if k < 3 else 0.1, k < 3, ("voltage",) if k < 3 else ()
            )
            for k in range(3 + normal)
        ]
        made.alerting.observe(readings)
    monkeypatch.setattr(cli_alerts, "bootstrap", lambda settings: made)
    return made


def ids(application: Application, meter: str) -> int:
    assert application.alerting is not None
    return application.alerting.store.alerts(meter_id=meter, limit=1)[0].id


@pytest.mark.parametrize(
    "command",
    [
        "alerts",
        "alerts list",
        "alerts ack",
        "alerts silence",
        "alerts unsilence",
        "alerts silences",
        "alerts rules",
        "alerts test-notify",
        "alerts windows",
        "alerts windows add",
        "alerts windows list",
        "alerts windows remove",
    ],
)
def test_every_alerts_command_has_help(command: str) -> None:
    result = runner.invoke(app, [*command.split(), "--help"])
    assert result.exit_code == 0
    assert "Usage" in result.stdout


def test_list_shows_the_alerts_newest_first(application: Application) -> None:
    stdout, stderr = invoke("alerts", "list")
    assert "en memoria" in stderr  # this command's memory: nothing it changes is kept
    assert stdout.index("m-2") < stdout.index("m-1")
    assert "abierta" in stdout and "resuelta" in stdout and "Incidencia" in stdout


def test_list_filters_and_its_json_is_the_apis_shape(application: Application) -> None:
    stdout, _ = invoke("alerts", "list", "--open", "--json")
    [alert] = json.loads(stdout)
    assert (alert["meter_id"], alert["open"], alert["kind"]) == ("m-2", True, "incident")
    assert alert["top_variables"] == ["voltage"] and alert["readings"] == 3
    stdout, _ = invoke("alerts", "list", "--meter", "m-1", "--json")
    assert [item["meter_id"] for item in json.loads(stdout)] == ["m-1"]
    stdout, _ = invoke("alerts", "list", "--meter", "m-9")
    assert "ninguna alerta" in stdout


def test_ack_records_who_and_a_comment(application: Application) -> None:
    alert_id = ids(application, "m-2")
    stdout, _ = invoke("alerts", "ack", str(alert_id), "--by", "Ana", "--comment", "on my way")
    assert f"alerta {alert_id} reconocida por Ana" in stdout
    assert application.alerting is not None
    stored = application.alerting.store.get(alert_id)
    assert stored is not None and stored.acknowledgement is not None
    assert (stored.acknowledgement.by, stored.acknowledgement.comment) == ("Ana", "on my way")
    stdout, _ = invoke("alerts", "list", "--open")
    assert "Ana" in stdout


def test_ack_of_an_unknown_alert_fails(application: Application) -> None:
    _, stderr = invoke("alerts", "ack", "999", "--by", "Ana", expect=1)
    assert "no existe la alerta 999" in stderr


def test_silence_then_unsilence(application: Application) -> None:
    assert application.alerting is not None
    stdout, _ = invoke(
        "alerts", "silence", "--meter", "m-*", "--rule", "incident", "--for", "2h", "--by", "Ana"
    )
    [silence] = application.alerting.mutes.silences()
    assert (silence.meters, silence.rule_ids, silence.created_by) == (
        ("m-*",),
        ("incident",),
        "Ana",
    )
    assert silence.ends_at - silence.starts_at == timedelta(hours=2)
    assert f"silencio {silence.id}: m-*, incident hasta 2025-06-01 02:00:00 UTC" in stdout
    stdout, _ = invoke("alerts", "silences", "--json")
    assert [item["id"] for item in json.loads(stdout)] == [silence.id]
    stdout, _ = invoke("--lang", "en", "alerts", "unsilence", silence.id)
    assert f"silence {silence.id} ended" in stdout
    assert application.alerting.mutes.silences() == []
    _, stderr = invoke("alerts", "unsilence", silence.id, expect=1)
    assert f"no existe el silencio {silence.id}" in stderr


def test_a_silence_names_what_it_mutes_and_for_how_long(application: Application) -> None:
    result = runner.invoke(app, ["alerts", "silence", "--meter", "m-1", "--for", "forever"])
    assert result.exit_code == 2 and "--for" in result.output
    _, stderr = invoke("alerts", "silence", "--for", "2h", expect=1)
    assert "meters, rule_ids" in stderr
    _, stderr = invoke("alerts", "silence", "--meter", "m 1", "--for", "2h", expect=1)
    assert "meter pattern 'm 1'" in stderr
    assert application.alerting is not None and application.alerting.mutes.silences() == []


def test_maintenance_windows_add_list_remove(application: Application) -> None:
    assert application.alerting is not None
    stdout, _ = invoke(
        "alerts", "windows", "add", "sunday", "sun 02:00-04:00 Europe/Madrid", "--meter", "m-*"
    )
    assert "ventana sunday: sun 02:00-04:00 Europe/Madrid" in stdout
    [window] = application.alerting.mutes.windows()
    assert (window.timezone, window.meters) == ("Europe/Madrid", ("m-*",))
    stdout, _ = invoke("alerts", "windows", "list")
    assert "sunday" in stdout and "Europe/Madrid" in stdout
    stdout, _ = invoke("alerts", "windows", "list", "--json")
    assert json.loads(stdout)[0]["schedule"] == "sun 02:00-04:00 Europe/Madrid"
    invoke("alerts", "windows", "remove", "sunday")
    assert application.alerting.mutes.windows() == []
    _, stderr = invoke("alerts", "windows", "remove", "sunday", expect=1)
    assert "no existe la ventana sunday" in stderr


def test_a_window_that_cannot_be_read_names_the_part(application: Application) -> None:
    _, stderr = invoke("alerts", "windows", "add", "w", "sun 02:00-04:00 Mars/Olympus", expect=1)
    assert "timezone 'Mars/Olympus': unknown time zone" in stderr
    _, stderr = invoke("alerts", "windows", "add", "w", "someday 02:00-04:00", expect=1)
    assert "days 'someday'" in stderr


def test_rules_lists_what_is_in_force(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ENERGY_ALERT_LIMITS", "active_power > 9 kW for 5m on plant-*")
    monkeypatch.setenv("ENERGY_ALERT_REPEAT_S", "3600")
    stdout, _ = invoke("--lang", "en", "alerts", "rules")
    assert "opens after 2 readings flagged in a row" in stdout
    assert "Limit: active_power > 9 kW for 5m on plant-*" in stdout
    assert "told again every 1h" in stdout
    stdout, _ = invoke("alerts", "rules", "--json")
    rules = json.loads(stdout)
    assert [rule["rule_id"] for rule in rules] == [
        "incident",
        "limit-1",
        "silent_meter",
        "health",
        "detector",
        "repeat",
    ]


def test_with_alerts_off_the_commands_say_so(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ENERGY_ALERTS", "false")
    _, stderr = invoke("alerts", "list", expect=1)
    assert "ENERGY_ALERTS=false" in stderr


# --- test-notify ------------------------------------------------------------------------------
class Receiver:
    """A local HTTP endpoint keeping each JSON body POSTed to it."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []
        bodies = self.bodies

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                bodies.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    found = Receiver()
    yield found
    found.close()


def test_test_notify_reaches_every_channel_even_routed_ones(
    monkeypatch: pytest.MonkeyPatch, receiver: Receiver
) -> None:
    urls = (
        f"json://127.0.0.1:{receiver.port}/all, "
        f"critical+boiler=json://127.0.0.1:{receiver.port}/boiler"
    )
    monkeypatch.setenv("ENERGY_NOTIFY_URLS", urls)
    stdout, _ = invoke("--lang", "en", "alerts", "test-notify")
    assert f"json://127.0.0.1:{receiver.port}/all: delivered" in stdout
    assert f"json://127.0.0.1:{receiver.port}/boiler: delivered" in stdout
    assert (
        sorted(body["title"] for body in receiver.bodies) == ["SmartEnergy: test notification"] * 2
    )


def test_test_notify_names_the_channel_that_failed_and_exits_1(
    monkeypatch: pytest.MonkeyPatch, receiver: Receiver
) -> None:
    refused = free_port()  # nothing listens there
    monkeypatch.setenv(
        "ENERGY_NOTIFY_URLS",
        f"json://127.0.0.1:{receiver.port}/ok, json://127.0.0.1:{refused}/down",
    )
    stdout, stderr = invoke("alerts", "test-notify", expect=1)
    assert f"json://127.0.0.1:{receiver.port}/ok: entregado" in stdout
    assert f"json://127.0.0.1:{refused}/down: falló:" in stderr
    assert len(receiver.bodies) == 1


def test_test_notify_without_channels_says_what_to_set() -> None:
    _, stderr = invoke("alerts", "test-notify", expect=1)
    assert "ENERGY_NOTIFY_URLS" in stderr
