"""AppriseNotifier against real receivers started by the tests on 127.0.0.1: an SMTP
server (aiosmtpd) with a login, an HTTP receiver for Apprise's JSON webhook, a port
that refuses, a receiver too slow to answer and a mail server that never speaks."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from energy_adapters.notify import AppriseNotifier, parse_notify_urls
from energy_core.alerts import Severity
from energy_core.alerts.delivery import DeliveryError, Notification

SLOW_S = 3.0
"""How long the slow receiver waits before it answers (past the notifiers' timeouts)."""
SMTP_USER, SMTP_PASSWORD = "alerts", "s3cret-pw"
INCIDENT = Notification(
    title="Incidente en medidor-3",
    body="Anomalía desde 10:02 UTC; pico 0.91 (voltage_v, current_a).",
    severity=Severity.CRITICAL,
    tags=("incident", "medidor-3"),
    link="http://127.0.0.1:8080/?meter=medidor-3&at=2025-06-01T10:02:00Z",
)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Received:
    """What a test receiver got, with a way to wait for it."""

    items: list[Any] = field(default_factory=list)
    arrived: threading.Condition = field(default_factory=threading.Condition)

    def add(self, item: Any) -> None:
        with self.arrived:
            self.items.append(item)
            self.arrived.notify_all()

    def wait_for(self, count: int, timeout: float = 5.0) -> list[Any]:
        with self.arrived:
            self.arrived.wait_for(lambda: len(self.items) >= count, timeout)
            return list(self.items)


@dataclass
class Webhook:
    port: int
    posts: Received

    def url(self, path: str) -> str:
        return f"json://127.0.0.1:{self.port}{path}"


@pytest.fixture
def webhook() -> Iterator[Webhook]:
    """An HTTP receiver: records each POST (path, JSON body); under /slow it first
    sleeps ``SLOW_S`` seconds."""
    posts = Received()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            payload = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            if self.path.startswith("/slow"):
                time.sleep(SLOW_S)
            posts.add((self.path, payload))
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield Webhook(server.server_address[1], posts)
    finally:
        server.shutdown()
        server.server_close()


@dataclass
class MailServer:
    port: int
    messages: Received

    def url(self, password: str = SMTP_PASSWORD) -> str:
        return (
            f"mailto://{SMTP_USER}:{password}@127.0.0.1:{self.port}"
            "?mode=insecure&from=alerts@plant.example&to=ops@plant.example"
        )


@pytest.fixture
def mail_server() -> Iterator[MailServer]:
    """A real SMTP server (aiosmtpd) on a free port, plain SMTP with a login."""
    messages = Received()

    class Sink:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
            messages.add(envelope)
            return "250 OK"

    def authenticate(server: Any, session: Any, envelope: Any, mechanism: str, data: Any):
        ok = (
            isinstance(data, LoginPassword)
            and data.login == SMTP_USER.encode()
            and data.password == SMTP_PASSWORD.encode()
        )
        return AuthResult(success=ok)

    port = free_port()
    controller = Controller(
        Sink(),
        hostname="127.0.0.1",
        port=port,
        authenticator=authenticate,
        auth_require_tls=False,
    )
    controller.start()
    try:
        yield MailServer(port, messages)
    finally:
        controller.stop()


@pytest.fixture
def refused_port() -> Iterator[int]:
    """A port bound but not listening: every connection is refused at once."""
    with socket.socket() as bound:
        bound.bind(("127.0.0.1", 0))
        yield int(bound.getsockname()[1])


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port that accepts connections and never says a word."""
    with socket.socket() as listening:
        listening.bind(("127.0.0.1", 0))
        listening.listen(8)
        yield int(listening.getsockname()[1])


def test_an_email_reaches_a_real_smtp_server_with_the_title_body_and_link(mail_server):
    notifier = AppriseNotifier(parse_notify_urls(mail_server.url()), timeout=10)

    notifier.send(INCIDENT)

    [envelope] = mail_server.messages.wait_for(1)
    message = message_from_bytes(envelope.original_content, policy=policy.default)
    assert isinstance(message, EmailMessage)
    text = message.get_body(("plain",))
    assert text is not None
    assert [
        envelope.mail_from,
        envelope.rcpt_tos,
    ] == ["alerts@plant.example", ["ops@plant.example"]]
    assert INCIDENT.title == message["Subject"]
    content = text.get_content()
    assert INCIDENT.body in content
    assert INCIDENT.link in content


def test_a_json_webhook_receives_the_title_message_and_type_of_each_severity(webhook):
    notifier = AppriseNotifier(webhook.url("/hook"), timeout=10)

    for severity in Severity:
        notifier.send(Notification(title=f"t-{severity}", body="b", severity=severity))

    payloads = [payload for _, payload in webhook.posts.wait_for(3)]
    assert [(payload["title"], payload["message"], payload["type"]) for payload in payloads] == [
        ("t-info", "b", "info"),
        ("t-warning", "b", "warning"),
        ("t-critical", "b", "failure"),
    ]


def test_the_link_follows_the_body_in_the_webhook_message(webhook):
    AppriseNotifier(webhook.url("/hook")).send(INCIDENT)

    [(_, payload)] = webhook.posts.wait_for(1)
    assert f"{INCIDENT.body}\n\n{INCIDENT.link}" == payload["message"]


def test_a_refused_channel_fails_at_once_by_its_masked_name_while_the_others_receive(
    webhook, mail_server, refused_port
):
    down = f"json://hook:t0ps3cret@127.0.0.1:{refused_port}/down"
    notifier = AppriseNotifier(
        parse_notify_urls(f"{webhook.url('/up')}, {down}, {mail_server.url()}"), timeout=10
    )

    started = time.monotonic()
    with pytest.raises(DeliveryError) as raised:
        notifier.send(INCIDENT)
    elapsed = time.monotonic() - started

    assert elapsed < 2
    assert (f"json://hook:****@127.0.0.1:{refused_port}/down",) == raised.value.channels
    assert "t0ps3cret" not in str(raised.value)
    assert "connection" in raised.value.reason.lower()
    assert [path for path, _ in webhook.posts.wait_for(1)] == ["/up"]
    assert len(mail_server.messages.wait_for(1)) == 1


def test_a_slow_channel_times_out_by_name_within_the_timeout_while_the_others_receive(
    webhook, mail_server
):
    notifier = AppriseNotifier(
        parse_notify_urls(f"{webhook.url('/slow')} {webhook.url('/fast')} {mail_server.url()}"),
        timeout=1.0,
    )

    started = time.monotonic()
    with pytest.raises(DeliveryError) as raised:
        notifier.send(INCIDENT)
    elapsed = time.monotonic() - started

    assert elapsed < SLOW_S - 0.5
    assert (f"json://127.0.0.1:{webhook.port}/slow",) == raised.value.channels
    assert "finish" in raised.value.reason
    assert [path for path, _ in webhook.posts.wait_for(1, timeout=0.5)] == ["/fast"]
    assert len(mail_server.messages.wait_for(1)) == 1


def test_a_mail_server_that_never_answers_fails_within_the_socket_timeout(silent_port, webhook):
    # Apprise waits 15 s for a mail server by default; the notifier's socket timeout
    # applies to e-mail too.
    silent = f"mailto://u:p@127.0.0.1:{silent_port}?mode=insecure&from=a@plant.example"
    notifier = AppriseNotifier(
        parse_notify_urls(f"{silent}, {webhook.url('/up')}"), timeout=30, socket_timeout=0.5
    )

    started = time.monotonic()
    with pytest.raises(DeliveryError) as raised:
        notifier.send(INCIDENT)

    assert time.monotonic() - started < 3
    assert raised.value.channels == (
        f"mailto://u:****@127.0.0.1:{silent_port}?from=a@plant.example",
    )
    assert len(webhook.posts.wait_for(1)) == 1


def test_every_failed_channel_is_listed_and_a_retry_can_go_to_them_only(webhook, refused_port):
    notifier = AppriseNotifier(
        f"{webhook.url('/up')} json://127.0.0.1:{refused_port}/a json://127.0.0.1:{refused_port}/b"
    )

    with pytest.raises(DeliveryError) as raised:
        notifier.send(INCIDENT)
    assert [f"json://127.0.0.1:{refused_port}/a", f"json://127.0.0.1:{refused_port}/b"] == list(
        raised.value.channels
    )
    with pytest.raises(DeliveryError) as again:
        notifier.send(INCIDENT, only=raised.value.channels)

    assert raised.value.channels == again.value.channels
    assert [path for path, _ in webhook.posts.wait_for(2, timeout=0.5)] == ["/up"]


def test_channels_receive_only_what_their_filter_accepts(webhook):
    notifier = AppriseNotifier(
        f"{webhook.url('/all')}"
        f", critical={webhook.url('/critical')}"
        f", warning+boiler={webhook.url('/boiler-warnings')}"
        f", medidor-3={webhook.url('/meter-3')}"
    )

    notifier.send(Notification("boiler", "b", Severity.WARNING, tags=("Boiler",)))
    notifier.send(Notification("info boiler", "b", Severity.INFO, tags=("boiler",)))
    notifier.send(INCIDENT)

    received = webhook.posts.wait_for(6)
    time.sleep(0.2)  # nothing more arrives
    assert sorted(
        [
            ("/all", "boiler"),
            ("/boiler-warnings", "boiler"),
            ("/all", "info boiler"),
            ("/all", INCIDENT.title),
            ("/critical", INCIDENT.title),
            ("/meter-3", INCIDENT.title),
        ]
    ) == sorted((path, payload["title"]) for path, payload in webhook.posts.items)
    assert len(received) == 6


def test_a_notification_no_channel_accepts_is_sent_nowhere(webhook):
    notifier = AppriseNotifier(f"critical={webhook.url('/critical')}")

    notifier.send(Notification("note", "b", Severity.INFO))

    assert webhook.posts.wait_for(1, timeout=0.3) == []
