"""Whatever a device sends, a decoder returns readings or raises DecodeError, and the MQTT
subscriber answers every message on a device topic without raising."""

from __future__ import annotations

import contextlib
import json
from datetime import UTC, datetime

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from energy_adapters.memory import ManualClock
from energy_core import Simulator
from energy_core.telemetry.decoders import DecodeError, emon, shelly, tasmota
from energy_ui.bootstrap import bootstrap
from energy_ui.mqtt import MqttIngestor
from energy_ui.settings import Settings
from tests.strategies import BASE

RECEIVED = datetime(2026, 3, 1, tzinfo=UTC)
KEYS = st.sampled_from(
    [
        "ENERGY",
        "Power",
        "Voltage",
        "Total",
        "Time",
        "apower",
        "aenergy",
        "total",
        "params",
        "method",
        "ts",
        "switch:0",
        "em:0",
        "a_voltage",
        "power1",
        "vrms",
        "time",
        "x",
    ]
)
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**30), max_value=10**30)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=12)
    | st.sampled_from(["NotifyStatus", "NotifyFullStatus", "2024-01-01T00:00:00", "1e400"])
)
JSON = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(KEYS, inner, max_size=5),
    max_leaves=20,
)
TOPICS = st.sampled_from(
    [
        "tele/dev/SENSOR",
        "dev/status/switch:0",
        "dev/status/em:0",
        "dev/status/emdata:0",
        "dev/events/rpc",
        "dev/status/em1:1",
    ]
)
no_deadline = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])


@no_deadline
@given(topic=TOPICS, payload=JSON)
def test_decoders_return_readings_or_raise_decode_error_only(topic, payload):
    decode = tasmota.decode if topic.startswith("tele/") else shelly.decode
    try:
        readings = decode(topic, payload, RECEIVED)
    except DecodeError as error:
        assert str(error).startswith(f"{topic}: ")
        return
    for reading in readings:
        assert isinstance(reading["meter_id"], str) and reading["meter_id"].startswith("dev")
        assert isinstance(reading["timestamp"], datetime) and reading["timestamp"].tzinfo


@no_deadline
@given(
    params=st.dictionaries(
        st.sampled_from(["node", "fulljson", "json", "csv", "data", "time", "sentat", "offset"]),
        st.text(max_size=40) | JSON.map(json.dumps),
        max_size=5,
    )
)
def test_the_emoncms_input_decoders_raise_only_decode_error(params):
    for decode in (emon.decode_input_post, emon.decode_input_bulk):
        with contextlib.suppress(DecodeError):
            decode(params, RECEIVED)


@no_deadline
@given(topic=TOPICS, payload=st.binary(max_size=200) | JSON.map(lambda v: json.dumps(v).encode()))
def test_the_subscriber_answers_every_device_message_without_raising(topic, payload):
    subscriber = MqttIngestor(APPLICATION.monitor, APPLICATION.settings)
    before = APPLICATION.monitor.queries.count()
    verdict = subscriber.handle(topic, payload)
    assert subscriber.counters.failures == 0
    assert APPLICATION.monitor.queries.count() == before + verdict.accepted


APPLICATION = bootstrap(
    Settings(_env_file=None, max_readings=None, meters=1),
    clock=ManualClock(BASE),
    simulator=Simulator(seed=1),
)
