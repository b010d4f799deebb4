"""What the HTTP API answers, as documented pydantic models (they shape the OpenAPI schema)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, Field

from energy_core import MetricSnapshot, Reading
from energy_core.usecases.monitor import Rejection

FloatArray = npt.NDArray[np.float64]


class RejectionOut(BaseModel):
    index: int = Field(description="position of the reading in the request (0-based)")
    field: str = Field(description="which field was refused")
    reason: str
    value: Any = Field(None, description="the refused value, when short")

    @classmethod
    def of(cls, rejection: Rejection) -> RejectionOut:
        value = rejection.value if len(repr(rejection.value)) <= 200 else None
        return cls(
            index=rejection.index, field=rejection.field, reason=rejection.reason, value=value
        )


class IngestResult(BaseModel):
    accepted: int = Field(description="readings validated, scored and stored")
    rejected: list[RejectionOut] = Field(description="one entry per problem found")
    flagged: int = Field(0, description="accepted readings the current model flagged")
    model_version: int | None = Field(None, description="model that scored them, if any")


class ReadingOut(BaseModel):
    id: int | None
    meter_id: str
    timestamp: datetime
    values: dict[str, float]
    is_anomaly: bool | None
    anomaly_kind: str | None
    score: float | None
    is_flagged: bool | None
    top_variables: list[str] = Field(
        description="the variables most to blame for the score, most first (empty unless flagged)"
    )
    flagged_by: str | None = Field(
        None,
        description="for a flagged reading, which of the detector's views fired: `point` (a "
        "sudden jump), `stuck` (a value held too long), `profile` (unusual for its hour of "
        "the week) or `collective` (a slow drift or an unusual combination of variables); "
        "null when not flagged or when the detector has no views (the isolation forests)",
    )
    expected: dict[str, tuple[float, float]] | None = Field(
        None,
        description="with `expected=true`: per variable, the range [low, high] the current "
        "model expected the value in, the band it compares the value against (the default "
        "detector: the median of the meter's previous readings, give or take the jump that "
        "would alarm); a variable is left out where there is no expectation (the reading was "
        "never scored, lacks it, or its meter has too little history); null unless asked",
    )

    @classmethod
    def of(
        cls, reading: Reading, expected: dict[str, tuple[float, float]] | None = None
    ) -> ReadingOut:
        return cls(
            id=reading.id,
            meter_id=reading.meter_id,
            timestamp=reading.timestamp,
            values=dict(reading.values),
            is_anomaly=reading.is_anomaly,
            anomaly_kind=reading.anomaly_kind,
            score=reading.score,
            is_flagged=reading.is_flagged,
            top_variables=list(reading.top_variables),
            flagged_by=reading.flagged_by,
            expected=expected,
        )


def expected_per_reading(
    ranges: Mapping[str, tuple[FloatArray, FloatArray]], count: int
) -> list[dict[str, tuple[float, float]]]:
    """``Monitor.expected_ranges`` of ``count`` readings as each reading's
    ``{variable: (low, high)}``, without the variables it has no expectation of."""
    found: list[dict[str, tuple[float, float]]] = [{} for _ in range(count)]
    for name, (low, high) in ranges.items():
        for row in np.flatnonzero(np.isfinite(low) & np.isfinite(high)):
            found[row][name] = (round(float(low[row]), 6), round(float(high[row]), 6))
    return found


class ReadingPage(BaseModel):
    items: list[ReadingOut] = Field(description="newest first")
    next_end: datetime | None = Field(
        None, description="pass as `end` to get the next (older) page; null on the last page"
    )


class MetricOut(BaseModel):
    id: int | None
    computed_at: datetime
    window_start: datetime | None
    window_end: datetime | None
    total_readings: int
    anomalies_detected: int
    percentage: float
    health: str = Field(description="Normal, Precaución or Crítico")
    precision: float | None
    recall: float | None
    f1: float | None
    model_version: int | None
    delta_percentage: float | None

    @classmethod
    def of(cls, snapshot: MetricSnapshot) -> MetricOut:
        return cls(
            id=snapshot.id,
            computed_at=snapshot.computed_at,
            window_start=snapshot.window_start,
            window_end=snapshot.window_end,
            total_readings=snapshot.total_readings,
            anomalies_detected=snapshot.anomalies_detected,
            percentage=snapshot.percentage,
            health=snapshot.health.value,
            precision=snapshot.precision,
            recall=snapshot.recall,
            f1=snapshot.f1,
            model_version=snapshot.model_version,
            delta_percentage=snapshot.delta_percentage,
        )


class ChannelHealth(BaseModel):
    """One ingest channel running in the server's process (MQTT under `serve --mqtt`)."""

    up: bool = Field(description="false: the channel is down (e.g. the broker unreachable)")
    connected: bool = Field(description="connected to its broker")
    broker: str | None = Field(None, description="mqtt://host:port (no credentials)")
    topic: str | None = Field(None, description="the topic filter subscribed to")
    last_message_at: datetime | None = Field(None, description="when the last message came")
    messages: int = Field(0, description="messages received since start")
    accepted: int = Field(0, description="readings that passed validation")
    stored: int = Field(0, description="readings stored")
    rejected: int = Field(0, description="messages with at least one rejected reading")
    dropped: int = Field(0, description="readings dropped from the full retry buffer")
    pending: int = Field(0, description="readings waiting for the database")
    failures: int = Field(0, description="unexpected errors (see the server's log)")
    last_error: str | None = Field(None, description="the latest connection problem")


class Health(BaseModel):
    status: str = Field(
        description="ok, or degraded when the database is unreachable or a channel is down"
    )
    storage: str = Field(description="memory or postgres")
    database: str = Field(description="ok, unavailable, or not used")
    model_version: int | None
    channels: dict[str, ChannelHealth] | None = Field(
        None, description="each ingest channel of this process; absent when there is none"
    )


class Problem(BaseModel):
    detail: str
