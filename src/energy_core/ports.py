"""Ports: what the core needs from the outside world, as small protocols.

Adapters (``energy_adapters``) implement them in memory and on PostgreSQL; the contract
tests in ``tests/contract`` hold every adapter to the same behaviour.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal, Protocol, get_args

from energy_core.detection.protocol import Detector
from energy_core.health.analysis import HealthState, HealthThresholds, MetricSnapshot
from energy_core.telemetry.readings import Origin, Reading

ReadingState = Literal["normal", "anomalous"]


class BatchRefusedError(ValueError):
    """Storage refused one batch for what it holds (not an outage): only that batch fails.

    The message is fit for the sender; it never carries the database's own text.
    """


class IdempotencyConflictError(ValueError):
    """A batch key was offered again with different readings: refused, nothing stored."""

    def __init__(self, key: str) -> None:
        self.key = key
        super().__init__(
            f"idempotency key {key!r} was already used for a different batch; "
            "use a new key for new readings"
        )


@dataclass(frozen=True, slots=True)
class ReadingFilter:
    """Which readings a query is about. ``None`` means no restriction.

    ``state`` refers to the model's verdict: ``"anomalous"`` = flagged, ``"normal"`` = not
    flagged (unscored readings count as normal). ``start`` is inclusive, ``end`` exclusive.
    """

    start: datetime | None = None
    end: datetime | None = None
    meter_ids: tuple[str, ...] = ()
    state: ReadingState | None = None


@dataclass(frozen=True, slots=True)
class Bucket:
    """A time bucket of one variable: its envelope, mean, size and flagged readings.

    ``count`` is how many of the bucket's readings carry the variable (its mean is over
    them); when none does, ``minimum``, ``maximum`` and ``mean`` are NaN: a gap, not a zero.
    ``flagged`` counts every flagged reading of the bucket.
    """

    start: datetime
    count: int
    minimum: float
    maximum: float
    mean: float
    flagged: int


class ReadingRepository(Protocol):
    """Writes to the stored readings (table ``registros``): what the use cases change."""

    def add_many(self, readings: Sequence[Reading], *, key: str | None = None) -> list[Reading]:
        """Store ``readings`` in one transaction; return them carrying their new ids.

        ``key`` makes a retry safe: a batch already stored under the same key is not
        stored again, and what it stored is returned. Each meter's newest ``origin`` among
        the readings that carry one is kept (``MeterOverview.origin``).
        """
        ...

    def update_scores(self, readings: Sequence[Reading]) -> None:
        """Write the scores, flags and top variables of already stored readings (by id)."""
        ...

    def delete_oldest(self, keep: int) -> int:
        """Keep only the ``keep`` most recent readings; return how many were deleted."""
        ...

    def delete_before(self, cutoff: datetime) -> int: ...

    def clear(self) -> None: ...


class ReadingQueries(Protocol):
    """Reads of the stored readings: what pages, the read API and training ask (after
    cosmicpython's ``views``). Never changes anything."""

    def count(self, where: ReadingFilter | None = None) -> int: ...

    def latest(self, n: int, where: ReadingFilter | None = None) -> list[Reading]:
        """The ``n`` most recent readings, newest first."""
        ...

    def window(self, where: ReadingFilter, limit: int | None = None) -> list[Reading]:
        """Readings matching ``where`` in time order; with ``limit``, the most recent ones."""
        ...

    def sample(self, where: ReadingFilter, limit: int) -> list[Reading]:
        """At most ``limit`` readings spread evenly over the matching ones, in time order."""
        ...

    def since(
        self, last_id: int, limit: int = 10_000, meter_ids: Sequence[str] | None = None
    ) -> list[Reading]:
        """Readings stored after the one with id ``last_id``, in id order (for live push);
        with ``meter_ids``, only those meters' (``limit`` counts what is returned)."""
        ...

    def downsample(self, variable: str, where: ReadingFilter, buckets: int) -> list[Bucket]:
        """``variable`` over the matching readings in at most ``buckets`` equal time buckets."""
        ...

    def downsample_many(
        self, variables: Sequence[str], where: ReadingFilter, buckets: int
    ) -> dict[str, list[Bucket]]:
        """``downsample`` of each of ``variables`` (same window, same buckets), read at once."""
        ...

    def meters(self) -> list[str]: ...

    def time_range(self) -> tuple[datetime, datetime] | None: ...

    def last_id(self) -> int:
        """The id of the newest stored reading, 0 when empty."""
        ...


class MetricRepository(Protocol):
    """Stored analyses (table ``metricas``)."""

    def add(self, snapshot: MetricSnapshot) -> MetricSnapshot:
        """Store ``snapshot``; return it carrying its new id."""
        ...

    def latest(self, n: int = 1) -> list[MetricSnapshot]:
        """The ``n`` most recent snapshots, newest first."""
        ...

    def clear(self) -> None: ...


@dataclass(frozen=True, slots=True)
class ModelInfo:
    """What is known of a stored model. ``version`` is assigned by the store.

    ``meter_factors``: per meter, the factor on ``threshold`` that keeps it within its
    false-alarm budget (``energy_core.detection.meter_calibration``); a meter absent, or a
    model stored before meters were calibrated, keeps the model's threshold (factor 1).
    """

    trained_at: datetime
    rows: int
    features: tuple[str, ...]
    contamination: str
    threshold: float
    detector: str = "isolation_forest"
    evaluation: Mapping[str, float] = field(default_factory=dict)
    version: int | None = None
    meter_factors: Mapping[str, float] = field(default_factory=dict)


class ModelStore(Protocol):
    """Trained detectors with their metadata, by increasing version."""

    def save(self, detector: Detector, info: ModelInfo) -> ModelInfo:
        """Store a fitted detector; return its info carrying the new version."""
        ...

    def latest_version(self) -> int | None: ...

    def info(self, version: int | None = None) -> ModelInfo | None:
        """The info of ``version`` (the latest when ``None``); ``None`` when absent."""
        ...

    def load(self, version: int | None = None) -> tuple[Detector, ModelInfo] | None:
        """The detector of ``version`` (the latest when ``None``); ``None`` when absent."""
        ...

    def versions(self) -> list[ModelInfo]: ...


ChangeTopic = Literal["readings", "metrics", "model", "reset"]


@dataclass(frozen=True, slots=True)
class ChangeEvent:
    """Something changed in storage; listeners re-read what is new."""

    topic: ChangeTopic
    count: int = 0
    last_id: int | None = None


Listener = Callable[[ChangeEvent], None]


class ChangeFeed(Protocol):
    """Tells other parts (and other processes, on PostgreSQL) what changed."""

    def publish(self, event: ChangeEvent) -> None: ...

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Call ``listener`` for every event; returns a function that unsubscribes."""
        ...


class LogUnavailableError(ConnectionError):
    """The reading log cannot take readings right now (its servers are unreachable, or it
    is full): retry later. Readings it acknowledged before stay in it."""


class ReadingLog(Protocol):
    """A durable, partitioned log of validated readings between the channels that receive
    them (gateways) and the processes that score and store them (workers): NATS JetStream
    at scale (``energy_adapters.nats_log``). A meter's readings go to one partition, in the
    order appended."""

    def append(self, readings: Sequence[Reading]) -> None:
        """Durably append ``readings``; returns once the log holds every one of them.

        ``LogUnavailableError``: it could not take them all. Appending the same readings
        again (a retry) appends none of them twice within the log's duplicate window.
        """
        ...


class Clock(Protocol):
    def now(self) -> datetime:
        """The current instant, aware, in UTC."""
        ...


FleetSort = Literal[
    "meter_id",
    "last_seen",
    "cadence_s",
    "readings_last_hour",
    "flagged_last_hour",
    "flagged_share",
    "health",
]
FLEET_SORTS: tuple[FleetSort, ...] = get_args(FleetSort)
FleetHealth = Literal["normal", "caution", "critical", "silent"]
"""A meter's health now: its state over the last hour, or ``silent`` (nothing in it)."""
FLEET_HEALTHS: tuple[FleetHealth, ...] = get_args(FleetHealth)
MAX_FLEET_PAGE = 500
"""Most meters in one page of the fleet."""


@dataclass(frozen=True, slots=True)
class FleetQuery:
    """One page of the fleet: which meters, in which order.

    ``page`` counts from 1. ``meter_contains`` keeps meters whose id contains it (any case).
    ``sort``: a column of ``MeterOverview``; ``health`` orders like ``flagged_share``. Meters
    without a value for the sorted column come last in either order; ties by meter id.
    """

    page: int = 1
    page_size: int = 50
    sort: FleetSort = "meter_id"
    descending: bool = False
    meter_contains: str = ""
    health: FleetHealth | None = None
    thresholds: HealthThresholds = field(default_factory=HealthThresholds)

    def __post_init__(self) -> None:
        if self.page < 1:
            raise ValueError(f"page must be 1 or more, got {self.page}")
        if not 1 <= self.page_size <= MAX_FLEET_PAGE:
            raise ValueError(
                f"page_size must be within [1, {MAX_FLEET_PAGE}], got {self.page_size}"
            )
        if self.sort not in FLEET_SORTS:
            raise ValueError(f"unknown sort {self.sort!r}; known: {', '.join(FLEET_SORTS)}")
        if self.health is not None and self.health not in FLEET_HEALTHS:
            raise ValueError(f"unknown health {self.health!r}; known: {', '.join(FLEET_HEALTHS)}")

    @property
    def offset(self) -> int:
        """How many matching meters come before this page."""
        return (self.page - 1) * self.page_size


@dataclass(frozen=True, slots=True)
class MeterOverview:
    """One meter of the fleet as it stands at the query's ``now``.

    ``variables``: the catalogue variables its newest readings carry (catalogue order).
    ``cadence_s``: the median interval between its newest readings, in seconds (``None``
    with a single reading). The last hour is the 60 whole UTC minutes up to and including
    the current one; ``flagged_share`` is the percentage of its readings there the model
    flagged, ``health`` that share against the thresholds; both ``None`` when it sent
    nothing in that hour (silent).
    """

    meter_id: str
    variables: tuple[str, ...]
    last_seen: datetime
    cadence_s: float | None
    readings_last_hour: int
    flagged_last_hour: int
    flagged_share: float | None
    health: HealthState | None
    origin: Origin | None = None
    """The channel and payload format of its newest readings that said (``None``: stored
    by code that did not say, e.g. a library caller)."""


@dataclass(frozen=True, slots=True)
class FleetPage:
    """A page of meters and how many match the query in all."""

    rows: tuple[MeterOverview, ...]
    total: int
    query: FleetQuery


class FleetQueries(Protocol):
    """The read side of the fleet: one row per meter, paged, sorted and filtered by storage."""

    def meters_overview(self, query: FleetQuery, now: datetime) -> FleetPage: ...
