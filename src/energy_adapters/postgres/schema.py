"""The tables as SQLAlchemy Core objects, for queries. Migrations create them (see ``migrations``).

Variable columns come from the catalogue: one ``double precision`` column per variable in
``registros``, NULL where a reading does not carry it, and ``<variable>_min``/``_max``/``_sum``
(over the values present, NULL when none) and ``<variable>_count`` in the per-minute rollups.

``registros`` and ``registros_por_minuto`` are partitioned by day on their time column
(revision 0011, see ``partitions``): their primary keys include it, ``(id, timestamp)`` and
``(minute, meter_id)``. Ids are still unique: they all come from ``registros_id_seq``.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import (
    ARRAY,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Double,
    Integer,
    LargeBinary,
    MetaData,
    SmallInteger,
    Table,
    Text,
    Time,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB

from energy_core.telemetry.catalogue import VARIABLE_NAMES

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
ROLLUP_WIDTH = timedelta(minutes=1)
READINGS_ID_SEQUENCE = "registros_id_seq"

metadata = MetaData()


def rollup_columns(name: str) -> tuple[str, str, str]:
    """The rollup columns of variable ``name``: its minimum, maximum and sum."""
    return f"{name}_min", f"{name}_max", f"{name}_sum"


def rollup_count_column(name: str) -> str:
    """The rollup column counting the readings of a minute that carry variable ``name``."""
    return f"{name}_count"


readings = Table(
    "registros",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("meter_id", Text, nullable=False),
    Column("timestamp", DateTime(timezone=True), primary_key=True),
    *(Column(name, Double, nullable=True) for name in VARIABLE_NAMES),
    Column("is_anomaly", Boolean),
    Column("anomaly_kind", Text),
    Column("score", Double),
    Column("is_flagged", Boolean),
    Column("top_variables", ARRAY(Text), nullable=False),
    Column("flagged_by", Text, nullable=True),
)

minute_rollups = Table(
    "registros_por_minuto",
    metadata,
    Column("minute", DateTime(timezone=True), primary_key=True),
    Column("meter_id", Text, primary_key=True),
    Column("readings", Integer, nullable=False),
    Column("flagged", Integer, nullable=False),
    *(
        Column(column, Double, nullable=True)
        for name in VARIABLE_NAMES
        for column in rollup_columns(name)
    ),
    *(Column(rollup_count_column(name), Integer, nullable=False) for name in VARIABLE_NAMES),
)

meter_counters = Table(
    "registros_contadores",
    metadata,
    Column("meter_id", Text, primary_key=True),
    Column("readings", BigInteger, nullable=False),
    Column("flagged", BigInteger, nullable=False),
)

metric_snapshots = Table(
    "metricas",
    metadata,
    Column("id", BigInteger, primary_key=True),
    Column("computed_at", DateTime(timezone=True), nullable=False),
    Column("window_start", DateTime(timezone=True)),
    Column("window_end", DateTime(timezone=True)),
    Column("total_readings", BigInteger, nullable=False),
    Column("anomalies_detected", BigInteger, nullable=False),
    Column("percentage", Double, nullable=False),
    Column("health", Text, nullable=False),
    Column("precision", Double),
    Column("recall", Double),
    Column("f1", Double),
    Column("model_version", Integer),
    Column("delta_percentage", Double),
)

models = Table(
    "modelos",
    metadata,
    Column("version", Integer, primary_key=True),
    Column("trained_at", DateTime(timezone=True), nullable=False),
    Column("rows", Integer, nullable=False),
    Column("features", ARRAY(Text), nullable=False),
    Column("contamination", Text, nullable=False),
    Column("threshold", Double, nullable=False),
    Column("detector", Text, nullable=False),
    Column("evaluation", JSONB, nullable=False),
    # Per meter, the factor on the threshold (its false-alarm budget); {}: factor 1 everywhere.
    Column("meter_factors", JSONB, nullable=False, server_default=text("'{}'::jsonb")),
    Column("format", Text, nullable=False),
    Column("payload", LargeBinary, nullable=False),
    Column("stored_at", DateTime(timezone=True), nullable=False),
)

ingested_batches = Table(
    "lotes",
    metadata,
    Column("key", Text, primary_key=True),
    Column("first_id", BigInteger, nullable=False),
    Column("last_id", BigInteger, nullable=False),
    Column("stored_at", DateTime(timezone=True), nullable=False),
    Column("fingerprint", Text, nullable=True),
)
"""Keys of batches stored with one (``add_many(..., key=)``) and the ids they got."""

meter_origins = Table(
    "medidores",
    metadata,
    Column("meter_id", Text, primary_key=True),
    Column("channel", Text, nullable=False),
    Column("format", Text, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)
"""Each meter's origin (``Reading.origin`` of its newest stored batch that carried one)."""

# --- alerting (revision 0009) -----------------------------------------------------------
alerts = Table(
    "alertas",
    metadata,
    Column("id", BigInteger, primary_key=True),
    Column("key", Text, nullable=False),
    Column("kind", Text, nullable=False),
    Column("rule_id", Text, nullable=False),
    Column("meter_id", Text),
    Column("severity", Text, nullable=False),
    Column("started_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("ended_at", DateTime(timezone=True)),
    Column("peak", Double),
    Column("readings", BigInteger, nullable=False),
    Column("top_variables", ARRAY(Text), nullable=False),
    Column("details", JSONB, nullable=False),
    Column("acknowledged_by", Text),
    Column("acknowledged_at", DateTime(timezone=True)),
    Column("acknowledgement_comment", Text),
    Column("last_sent_at", DateTime(timezone=True)),
    Column("announced", Boolean, nullable=False),
)
"""Alert occurrences (unique ``key``, ``started_at``) as of their latest event."""

notifications = Table(
    "notificaciones",
    metadata,
    Column("id", BigInteger, primary_key=True),
    Column("alert_id", BigInteger, nullable=False),
    Column("event_id", Text, nullable=False, unique=True),
    Column("kind", Text, nullable=False),
    Column("alert", JSONB, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("state", Text, nullable=False),
    Column("reason", Text, nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("next_attempt_at", DateTime(timezone=True)),
    Column("last_error", Text),
    Column("retry_channels", ARRAY(Text), nullable=False, server_default=text("'{}'::text[]")),
    Column("sent_at", DateTime(timezone=True)),
)
"""The outbox: one row per event to tell, the alert as it was then in ``alert``."""

silences = Table(
    "silencios",
    metadata,
    Column("id", Text, primary_key=True),
    Column("starts_at", DateTime(timezone=True), nullable=False),
    Column("ends_at", DateTime(timezone=True), nullable=False),
    Column("meters", ARRAY(Text), nullable=False),
    Column("rule_ids", ARRAY(Text), nullable=False),
    Column("created_by", Text, nullable=False),
    Column("comment", Text, nullable=False),
)

maintenance_windows = Table(
    "ventanas_mantenimiento",
    metadata,
    Column("id", Text, primary_key=True),
    Column("days", ARRAY(SmallInteger), nullable=False),
    Column("start_time", Time(timezone=False), nullable=False),
    Column("end_time", Time(timezone=False), nullable=False),
    Column("timezone", Text, nullable=False),
    Column("meters", ARRAY(Text), nullable=False),
    Column("rule_ids", ARRAY(Text), nullable=False),
    Column("comment", Text, nullable=False),
)

feedback = Table(
    "valoraciones",
    metadata,
    Column("id", BigInteger, primary_key=True),
    Column("meter_id", Text, nullable=False),
    Column("starts_at", DateTime(timezone=True), nullable=False),
    Column("ends_at", DateTime(timezone=True), nullable=False),
    Column("verdict", Text, nullable=False),
    Column("given_by", Text, nullable=False),
    Column("given_at", DateTime(timezone=True), nullable=False),
    Column("alert_id", BigInteger),
    Column("fault_kind", Text),
    Column("variables", ARRAY(Text), nullable=False),
    Column("comment", Text, nullable=False),
)
"""Users' verdicts on incidents and flagged readings."""

ALL_TABLES: tuple[Table, ...] = (
    readings,
    minute_rollups,
    meter_counters,
    metric_snapshots,
    models,
    ingested_batches,
    meter_origins,
    alerts,
    notifications,
    silences,
    maintenance_windows,
    feedback,
)
