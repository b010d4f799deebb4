"""Validation of readings that come from outside (HTTP, MQTT, CSV) against the catalogue.

One pydantic model, generated from the variable catalogue, so every entry point refuses
the same things with the same words: wrong types, non-finite numbers, values outside the
physical bounds, timestamps too far in the future, unknown fields.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, create_model
from pydantic import field_validator as _field_validator

from energy_core.catalogue import VARIABLES
from energy_core.monitor import Rejection
from energy_core.readings import Reading

FUTURE_TOLERANCE = timedelta(minutes=10)
"""How far ahead of our clock a meter's timestamp may be (meter clocks drift)."""

EARLIEST_TIMESTAMP = datetime(2000, 1, 1, tzinfo=UTC)
"""The oldest instant a reading may carry by default: far from the calendar's edges, where
time-zone arithmetic and databases overflow, and older than any meter's data."""

QUERY_RANGE = (datetime(1900, 1, 1, tzinfo=UTC), datetime(2200, 1, 1, tzinfo=UTC))
"""Instants a query may name (``start``/``end``): anything outside is refused, not clamped."""

METER_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.:\-]{0,63}$"


class _ReadingBase(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    meter_id: Annotated[str, Field(pattern=METER_ID_PATTERN, description="meter identifier")]
    timestamp: Annotated[datetime, Field(description="ISO 8601; without a zone it is UTC")]
    is_anomaly: bool | None = Field(None, description="ground truth, when known")
    anomaly_kind: Annotated[str, Field(max_length=200)] | None = None

    @_field_validator("timestamp")
    @classmethod
    def _utc_and_not_in_the_future(cls, value: datetime, info: ValidationInfo) -> datetime:
        moment = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
        context = info.context if isinstance(info.context, Mapping) else {}
        now = context.get("now") or datetime.now(UTC)
        if moment > now + FUTURE_TOLERANCE:
            raise ValueError(f"is in the future (more than {FUTURE_TOLERANCE} ahead of {now})")
        return moment


def _variable_fields() -> dict[str, Any]:
    fields: dict[str, Any] = {}
    for spec in VARIABLES:
        number = Annotated[
            float,
            Field(
                ge=spec.minimum,
                le=spec.maximum,
                allow_inf_nan=False,
                description=f"{spec.label_en} [{spec.unit}]" if spec.unit else spec.label_en,
            ),
        ]
        fields[spec.name] = (number, ...)
    return fields


ReadingIn: type[_ReadingBase] = create_model(
    "ReadingIn", __base__=_ReadingBase, **_variable_fields()
)
"""A reading as an outside source sends it: meter_id, timestamp and every catalogue variable."""


def to_reading(model: _ReadingBase) -> Reading:
    data = model.model_dump()
    return Reading(
        timestamp=data["timestamp"],
        meter_id=data["meter_id"],
        values={spec.name: float(data[spec.name]) for spec in VARIABLES},
        is_anomaly=data["is_anomaly"],
        anomaly_kind=data["anomaly_kind"],
    )


def rejections_of(error: ValidationError, index: int, raw: object) -> list[Rejection]:
    """One rejection per problem pydantic found, naming field, value and reason."""
    found = []
    for problem in error.errors(include_url=False):
        location = ".".join(str(part) for part in problem["loc"]) or "reading"
        value = problem.get("input", raw)
        reason = str(problem["msg"]).removeprefix("Value error, ")
        if problem["type"] == "extra_forbidden":
            reason = "unknown field"
        found.append(Rejection(index, location, value, reason))
    return found


def parse_reading(raw: object, index: int = 0, *, now: datetime | None = None) -> Reading:
    """Validate one raw mapping; raises ``ValidationError`` with every problem."""
    return to_reading(ReadingIn.model_validate(raw, context={"now": now}))


def parse_readings(
    items: Iterable[tuple[int, object]], *, now: datetime | None = None
) -> tuple[list[Reading], list[Rejection]]:
    """Split ``(index, raw)`` pairs into accepted readings and rejections (index kept)."""
    accepted: list[Reading] = []
    rejected: list[Rejection] = []
    for index, raw in items:
        if not isinstance(raw, Mapping):
            rejected.append(Rejection(index, "reading", raw, "must be a JSON object"))
            continue
        try:
            accepted.append(parse_reading(raw, index, now=now))
        except ValidationError as error:
            rejected.extend(rejections_of(error, index, raw))
    return accepted, rejected
