"""Validation of readings that come from outside (HTTP, MQTT, CSV) against the catalogue.

One pydantic model, generated from the variable catalogue, so every entry point refuses
the same things with the same words: wrong types, non-finite numbers, values outside the
physical bounds, timestamps too far in the future, unknown fields, and a reading that carries
no variable at all. Every variable is optional (a meter sends what it measures): one that is
absent, or sent as ``null``, is not in the reading.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    create_model,
    model_validator,
)
from pydantic import field_validator as _field_validator
from pydantic_core import PydanticCustomError

from energy_core.telemetry.catalogue import VARIABLE_NAMES, VARIABLES
from energy_core.telemetry.readings import Origin, Reading, no_variable_reason
from energy_core.telemetry.rules import (
    DEFAULT_RULES,
    EARLIEST_TIMESTAMP,
    MAX_TEXT_LENGTH,
    StorageRules,
)

__all__ = [
    "EARLIEST_TIMESTAMP",
    "QUERY_RANGE",
    "ReadingFromText",
    "ReadingIn",
    "Rejection",
    "parse_reading",
    "parse_readings",
    "rejections_of",
    "to_reading",
]

METER_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.:\-]{0,63}$"

QUERY_RANGE = (datetime(1900, 1, 1, tzinfo=UTC), datetime(2200, 1, 1, tzinfo=UTC))
"""Instants a query may name (``start``/``end``): anything outside is refused, not clamped."""

NO_VARIABLE = "no_variable"
"""The error type of a reading that carries none of the catalogue's variables."""

_SHOWN_TEXT = 80
"""A refused value longer than this is echoed back shortened."""


@dataclass(frozen=True, slots=True)
class Rejection:
    """One reading that was refused: where (its index in a batch, or its line in a file),
    which field, which value and why."""

    index: int
    field: str
    value: object
    reason: str

    def __str__(self) -> str:
        return f"reading {self.index}: {self.field}={self.value!r}: {self.reason}"


def _rules(info: ValidationInfo) -> tuple[StorageRules, datetime]:
    context = info.context if isinstance(info.context, Mapping) else {}
    return context.get("rules") or DEFAULT_RULES, context.get("now") or datetime.now(UTC)


class _ReadingBase(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    meter_id: Annotated[str, Field(pattern=METER_ID_PATTERN, description="meter identifier")]
    timestamp: Annotated[
        datetime,
        Field(
            description="ISO 8601; without a zone it is UTC; from 2000-01-01 (settable) to "
            "10 minutes ahead of the server's clock"
        ),
    ]
    is_anomaly: bool | None = Field(None, description="ground truth, when known")
    anomaly_kind: Annotated[str, Field(max_length=MAX_TEXT_LENGTH)] | None = Field(
        None, description="ground truth: which fault, when known; printable text"
    )

    @_field_validator("timestamp")
    @classmethod
    def _utc_and_in_range(cls, value: datetime, info: ValidationInfo) -> datetime:
        try:
            moment = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
        except OverflowError:  # an offset that pushes it past the calendar's edge
            raise ValueError("is outside the calendar once converted to UTC") from None
        rules, now = _rules(info)
        problem = rules.timestamp_problem(moment, now)
        if problem is not None:
            raise ValueError(problem)
        return moment

    @model_validator(mode="after")
    def _some_variable(self) -> _ReadingBase:
        if all(getattr(self, name, None) is None for name in VARIABLE_NAMES):
            raise PydanticCustomError(NO_VARIABLE, no_variable_reason())
        return self

    @_field_validator("anomaly_kind")
    @classmethod
    def _storable_text(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is not None:
            problem = _rules(info)[0].text_problem(value)
            if problem is not None:
                raise ValueError(problem)
        return value


def _variable_fields(*, strict: bool) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    for spec in VARIABLES:
        number = Annotated[
            float,
            Field(
                ge=spec.minimum,
                le=spec.maximum,
                allow_inf_nan=False,
                strict=strict,
                description=f"{spec.label_en} [{spec.unit}]" if spec.unit else spec.label_en,
            ),
        ]
        fields[spec.name] = (number | None, None)
    return fields


class _StrictGroundTruth(_ReadingBase):
    is_anomaly: Annotated[bool, Field(strict=True)] | None = Field(
        None, description="ground truth, when known: true or false"
    )


ReadingIn: type[_ReadingBase] = create_model(
    "ReadingIn", __base__=_StrictGroundTruth, **_variable_fields(strict=True)
)
"""A reading as a JSON source sends it: meter_id, timestamp and the catalogue variables the
meter has (at least one). Numbers are JSON numbers: ``true`` or ``"230"`` is refused, not read
as 1.0 or 230.0."""

ReadingFromText: type[_ReadingBase] = create_model(
    "ReadingFromText", __base__=_ReadingBase, **_variable_fields(strict=False)
)
"""The same reading from a text source (a CSV cell is always text): numbers as decimal
text, ground truth as true/false/1/0."""


def to_reading(model: _ReadingBase, origin: Origin | None = None) -> Reading:
    data = model.model_dump()
    return Reading(
        origin=origin,
        timestamp=data["timestamp"],
        meter_id=data["meter_id"],
        values={name: float(data[name]) for name in VARIABLE_NAMES if data[name] is not None},
        is_anomaly=data["is_anomaly"],
        anomaly_kind=data["anomaly_kind"],
    )


def rejections_of(error: ValidationError, index: int, raw: object) -> list[Rejection]:
    """One rejection per problem pydantic found, naming field, value and reason."""
    found = []
    for problem in error.errors(include_url=False):
        location = _printable(".".join(str(part) for part in problem["loc"])) or "reading"
        value = _shown(problem.get("input", raw))
        if problem["type"] in ("missing", NO_VARIABLE):
            value = None
        reason = str(problem["msg"]).removeprefix("Value error, ")
        if problem["type"] == "extra_forbidden":
            reason = "unknown field"
        elif problem["type"] == "missing":
            reason = "missing"
        found.append(Rejection(index, location, value, reason))
    return found


def _printable(text: str) -> str:
    """``text`` with lone surrogates spelt as escapes: it can be encoded anywhere."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def _shown(value: object) -> object:
    """``value`` as a rejection echoes it: short scalars as they are, long text shortened,
    containers by their kind (a refused value may be huge or deeply nested)."""
    if isinstance(value, str):
        value = _printable(value)
        return value[:_SHOWN_TEXT] + "…" if len(value) > _SHOWN_TEXT else value
    if isinstance(value, Mapping):
        return "{…}"
    if isinstance(value, list | tuple):
        return "[…]"
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > 10**18:
        return "a number too large"
    return value


def parse_reading(
    raw: object,
    index: int = 0,
    *,
    now: datetime | None = None,
    rules: StorageRules = DEFAULT_RULES,
    from_text: bool = False,
    origin: Origin | None = None,
) -> Reading:
    """Validate one raw mapping; raises ``ValidationError`` with every problem."""
    model = ReadingFromText if from_text else ReadingIn
    return to_reading(model.model_validate(raw, context={"now": now, "rules": rules}), origin)


def parse_readings(
    items: Iterable[tuple[int, object]],
    *,
    now: datetime | None = None,
    rules: StorageRules = DEFAULT_RULES,
    from_text: bool = False,
    origin: Origin | None = None,
) -> tuple[list[Reading], list[Rejection]]:
    """Split ``(index, raw)`` pairs into accepted readings and rejections (index kept).

    ``from_text``: the values come from a text source (CSV), so numbers arrive as text.
    ``origin``: the channel and format every accepted reading carries.
    """
    accepted: list[Reading] = []
    rejected: list[Rejection] = []
    for index, raw in items:
        if not isinstance(raw, Mapping):
            rejected.append(Rejection(index, "reading", _shown(raw), "must be a JSON object"))
            continue
        try:
            accepted.append(
                parse_reading(raw, index, now=now, rules=rules, from_text=from_text, origin=origin)
            )
        except ValidationError as error:
            rejected.extend(rejections_of(error, index, raw))
    return accepted, rejected
