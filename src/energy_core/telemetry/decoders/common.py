"""What every device decoder shares: the error it raises, the raw reading it returns, reading
numbers and instants out of decoded JSON, and MQTT topic filters.

A decoder turns one device message (its topic, its decoded JSON, the instant it was received)
into readings in SmartEnergy's own raw shape: mappings with ``meter_id``, ``timestamp`` (an
aware datetime) and the catalogue variables the device sent, in catalogue units. It checks the
message's *shape* (is this the device's JSON, are the numbers numbers) and leaves the *values*
to the one validation every channel shares: a voltage of -5 V is passed on, and refused there.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, tzinfo
from typing import Final, Protocol

RawReading = dict[str, object]
"""A reading as SmartEnergy's channels hand it to validation: meter_id, timestamp, variables."""

MAX_CHANNELS: Final = 16
"""Most channels (phases) one message may carry; more is not a meter's message."""

_SHOWN: Final = 60


class DecodeError(ValueError):
    """A device message in no shape its decoder knows: the message names the topic and what
    was expected (and where, when one field is wrong)."""

    def __init__(self, topic: str, problem: str) -> None:
        self.topic = topic
        self.problem = problem
        super().__init__(f"{topic}: {problem}")


class Decoder(Protocol):
    """A device family's decoder: one message in, its readings out (``DecodeError`` if the
    message is not in the family's shape). ``device``: the device the channel's topic filter
    names; ``None``: read it from the topic's usual layout."""

    def __call__(
        self, topic: str, payload: object, received_at: datetime, *, device: str | None = None
    ) -> list[RawReading]: ...


def shown(value: object) -> str:
    """``value`` as an error message shows it: short, containers by their kind."""
    if isinstance(value, Mapping):
        return "{…}"
    if isinstance(value, list | tuple):
        return "[…]"
    text = repr(value)
    return text if len(text) <= _SHOWN else f"{text[: _SHOWN - 1]}…"


def number(topic: str, where: str, value: object) -> float | None:
    """``value`` as a float; ``None`` stays ``None`` (absent). Anything but a JSON number
    (text, true/false, an object) is a ``DecodeError`` naming ``where``."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise DecodeError(topic, f"{where}={shown(value)}: expected a number")
    try:
        return float(value)
    except OverflowError:  # an integer beyond any float
        raise DecodeError(topic, f"{where}={shown(value)}: expected a number") from None


def unix_time(topic: str, where: str, value: object) -> datetime:
    """``value`` (seconds since 1970, a number or numeric text) as an aware UTC instant."""
    seconds: float | None
    if isinstance(value, str):
        try:
            seconds = float(value.strip())
        except ValueError:
            seconds = None
    elif isinstance(value, int | float) and not isinstance(value, bool):
        seconds = float(value)
    else:
        seconds = None
    if seconds is None or not math.isfinite(seconds):
        raise DecodeError(topic, f"{where}={shown(value)}: expected a Unix time in seconds")
    try:
        return datetime.fromtimestamp(seconds, tz=UTC)
    except (OverflowError, OSError, ValueError):
        raise DecodeError(
            topic, f"{where}={shown(value)}: expected a Unix time in seconds"
        ) from None


def local_time(
    topic: str, where: str, value: object, zone: tzinfo, parse: Callable[[str], datetime]
) -> datetime:
    """Text parsed by ``parse`` as an aware UTC instant: a time without an offset is read in
    ``zone``; one with an offset keeps it. ``DecodeError`` naming ``where`` otherwise."""
    if not isinstance(value, str):
        raise DecodeError(topic, f"{where}={shown(value)}: expected a date and time")
    try:
        moment = parse(value.strip())
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=zone)
        return moment.astimezone(UTC)
    except (ValueError, OverflowError):
        raise DecodeError(topic, f"{where}={shown(value)}: expected a date and time") from None


def reading(meter_id: str, timestamp: datetime, values: Mapping[str, float]) -> RawReading:
    return {"meter_id": meter_id, "timestamp": timestamp, **values}


def check_filter(topic_filter: str) -> str:
    """``topic_filter`` itself if MQTT accepts it as a subscription, else ``ValueError``."""
    if not topic_filter:
        raise ValueError("must not be empty")
    levels = topic_filter.split("/")
    for position, level in enumerate(levels):
        if "#" in level and (level != "#" or position != len(levels) - 1):
            raise ValueError("'#' may only be the last level")
        if "+" in level and level != "+":
            raise ValueError("'+' must be a whole level")
    return topic_filter


def topic_matches(topic_filter: str, topic: str) -> bool:
    """Whether ``topic`` matches the subscription ``topic_filter`` as an MQTT broker matches
    it (``+`` one level, ``#`` any levels at the end; ``$`` topics only by name)."""
    if topic.startswith("$") and not topic_filter.startswith("$"):
        return False
    wanted = topic_filter.split("/")
    levels = topic.split("/")
    for position, level in enumerate(wanted):
        if level == "#":
            return True
        if position >= len(levels):
            return False
        if level != "+" and level != levels[position]:
            return False
    return len(levels) == len(wanted)


def wildcards(topic_filter: str, topic: str) -> tuple[str, ...]:
    """The levels of ``topic`` that the filter's ``+`` levels matched, in order."""
    levels = topic.split("/")
    return tuple(
        levels[position]
        for position, level in enumerate(topic_filter.split("/"))
        if level == "+" and position < len(levels)
    )
