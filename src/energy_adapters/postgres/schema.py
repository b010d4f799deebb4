"""The tables as SQLAlchemy Core objects, for queries. Migrations create them (see ``migrations``).

Variable columns come from the catalogue: one ``double precision`` column per variable in
``registros``, NULL where a reading does not carry it, and ``<variable>_min``/``_max``/``_sum``
(over the values present, NULL when none) and ``<variable>_count`` in the per-minute rollups.
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
    Table,
    Text,
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
    Column("id", BigInteger, primary_key=True),
    Column("meter_id", Text, nullable=False),
    Column("timestamp", DateTime(timezone=True), nullable=False),
    *(Column(name, Double, nullable=True) for name in VARIABLE_NAMES),
    Column("is_anomaly", Boolean),
    Column("anomaly_kind", Text),
    Column("score", Double),
    Column("is_flagged", Boolean),
    Column("top_variables", ARRAY(Text), nullable=False),
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

ALL_TABLES: tuple[Table, ...] = (
    readings,
    minute_rollups,
    meter_counters,
    metric_snapshots,
    models,
    ingested_batches,
    meter_origins,
)
