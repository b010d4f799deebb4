"""The reading log's pure parts: a meter's partition is stable, a batch survives the trip
through a message, and partitions keep each meter's readings in order."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from energy_adapters.nats_log import LogConfig, by_partition, decode, encode, partition_of
from energy_core import Origin, Reading

T0 = datetime(2026, 3, 2, 8, 0, 0, 123456, tzinfo=UTC)


def test_a_meters_partition_is_the_same_in_every_process_and_release():
    # CRC-32, not hash(): these values must never change, or a running fleet would
    # store a meter's readings from two partitions (two owners) during an upgrade.
    assert [partition_of(meter, 16) for meter in ("m00", "press-1", "línea-ñ")] == [14, 12, 1]
    assert partition_of("press-1", 1) == 0


def test_partitions_spread_meters_evenly_enough():
    counts = [0] * 16
    for number in range(10_000):
        counts[partition_of(f"meter-{number:05d}", 16)] += 1
    assert min(counts) > 10_000 / 16 * 0.9 and max(counts) < 10_000 / 16 * 1.1


def test_a_batch_survives_the_message_exactly():
    readings = [
        Reading(T0, "press-1", {"voltage": 231.5, "active_power": 2.25}, origin=Origin("http")),
        Reading(
            T0 + timedelta(seconds=1),
            "kiln",
            {"temperature": 61.0},
            is_anomaly=True,
            anomaly_kind="overheating",
            origin=Origin("mqtt", "tasmota"),
        ),
        Reading(T0, "bare", {"current": 0.5}),
    ]
    back = decode(encode(readings))
    assert back == readings
    assert [reading.origin for reading in back] == [reading.origin for reading in readings]
    assert back[0].timestamp.tzinfo is not None


def test_grouping_by_partition_keeps_each_meters_order():
    readings = [
        Reading(T0 + timedelta(seconds=step), meter, {"voltage": 230.0 + step})
        for step in range(5)
        for meter in ("a", "b", "c", "d")
    ]
    groups = by_partition(readings, 3)
    assert sum(len(group) for group in groups.values()) == len(readings)
    for partition, group in groups.items():
        assert {partition_of(reading.meter_id, 3) for reading in group} == {partition}
        for meter in {reading.meter_id for reading in group}:
            mine = [reading.timestamp for reading in group if reading.meter_id == meter]
            assert mine == sorted(mine)


def test_the_config_names_everything_under_its_prefix_and_hides_credentials():
    config = LogConfig(url="nats://user:secret@n1:4222, nats://n2", prefix="site-a")
    assert (config.stream, config.subject(3), config.leases_bucket) == (
        "site-a-readings",
        "site-a.readings.3",
        "site-a-leases",
    )
    assert config.shown == "nats://n1:4222,nats://n2:4222"
    with pytest.raises(ValueError, match="partitions"):
        LogConfig(url="nats://n1", partitions=0)
    with pytest.raises(ValueError, match="prefix"):
        LogConfig(url="nats://n1", prefix="a.b")
