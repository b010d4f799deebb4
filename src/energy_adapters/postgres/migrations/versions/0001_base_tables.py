"""Base tables: readings (registros), analyses (metricas) and trained models (modelos).

Revision ID: 0001
Revises:
Create Date: 2025-06-01

One ``double precision`` column per catalogue variable. A variable added to the catalogue
later needs its own migration adding the column; this one creates the catalogue as it is
when it first runs.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

# The catalogue as it was at this revision: a migration must not change when the catalogue
# grows (later revisions add the new variables).
VARIABLE_NAMES = (
    "voltage",
    "current",
    "active_power",
    "power_factor",
    "frequency",
    "motor_temperature",
)

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "registros",
        sa.Column("id", sa.BigInteger, primary_key=True, autoincrement=True),
        sa.Column("meter_id", sa.Text, nullable=False),
        sa.Column("timestamp", sa.DateTime(timezone=True), nullable=False),
        *(sa.Column(name, sa.Double, nullable=False) for name in VARIABLE_NAMES),
        sa.Column("is_anomaly", sa.Boolean),
        sa.Column("anomaly_kind", sa.Text),
        sa.Column("score", sa.Double),
        sa.Column("is_flagged", sa.Boolean),
        sa.Column(
            "top_variables",
            postgresql.ARRAY(sa.Text),
            nullable=False,
            server_default=sa.text("'{}'"),
        ),
    )
    # Time order (ties by id) drives latest pages, windows and retention's cut-off search.
    op.create_index("ix_registros_timestamp_id", "registros", ["timestamp", "id"])
    # Flagged readings are a few per cent: a small partial index serves the anomaly lists.
    op.create_index(
        "ix_registros_flagged_timestamp_id",
        "registros",
        ["timestamp", "id"],
        postgresql_where=sa.text("is_flagged"),
    )

    op.create_table(
        "metricas",
        sa.Column("id", sa.BigInteger, primary_key=True, autoincrement=True),
        sa.Column("computed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("window_start", sa.DateTime(timezone=True)),
        sa.Column("window_end", sa.DateTime(timezone=True)),
        sa.Column("total_readings", sa.BigInteger, nullable=False),
        sa.Column("anomalies_detected", sa.BigInteger, nullable=False),
        sa.Column("percentage", sa.Double, nullable=False),
        sa.Column("health", sa.Text, nullable=False),
        sa.Column("precision", sa.Double),
        sa.Column("recall", sa.Double),
        sa.Column("f1", sa.Double),
        sa.Column("model_version", sa.Integer),
        sa.Column("delta_percentage", sa.Double),
    )
    op.create_index("ix_metricas_computed_at", "metricas", ["computed_at"])

    op.create_table(
        "modelos",
        sa.Column("version", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("trained_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("rows", sa.Integer, nullable=False),
        sa.Column("features", postgresql.ARRAY(sa.Text), nullable=False),
        sa.Column("contamination", sa.Text, nullable=False),
        sa.Column("threshold", sa.Double, nullable=False),
        sa.Column("detector", sa.Text, nullable=False),
        sa.Column(
            "evaluation",
            postgresql.JSONB,
            nullable=False,
            server_default=sa.text("'{}'::jsonb"),
        ),
        sa.Column("format", sa.Text, nullable=False),
        sa.Column("payload", sa.LargeBinary, nullable=False),
        sa.Column(
            "stored_at",
            sa.DateTime(timezone=True),
            nullable=False,
            server_default=sa.text("now()"),
        ),
    )


def downgrade() -> None:
    op.drop_table("modelos")
    op.drop_table("metricas")
    op.drop_table("registros")
