"""Per-minute rollups and per-meter counters, back-filled from the stored readings.

Revision ID: 0002
Revises: 0001
Create Date: 2025-06-02

``registros_por_minuto`` keeps, per meter and epoch-aligned minute, the count, the flagged
count and each variable's min, max and sum, so wide downsampling never reads raw rows.
``registros_contadores`` keeps per-meter totals so ``count()`` is a read of a few rows.
The repository keeps both true in the same transaction as every write.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

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

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | None = None
depends_on: str | None = None


def _variable_columns(name: str) -> tuple[str, str, str]:
    return f"{name}_min", f"{name}_max", f"{name}_sum"


def upgrade() -> None:
    op.create_table(
        "registros_por_minuto",
        sa.Column("minute", sa.DateTime(timezone=True), primary_key=True),
        sa.Column("meter_id", sa.Text, primary_key=True),
        sa.Column("readings", sa.Integer, nullable=False),
        sa.Column("flagged", sa.Integer, nullable=False),
        *(
            sa.Column(column, sa.Double, nullable=False)
            for name in VARIABLE_NAMES
            for column in _variable_columns(name)
        ),
    )
    op.create_table(
        "registros_contadores",
        sa.Column("meter_id", sa.Text, primary_key=True),
        sa.Column("readings", sa.BigInteger, nullable=False),
        sa.Column("flagged", sa.BigInteger, nullable=False),
    )
    # Back-fill from whatever revision 0001 stored, one statement per table.
    columns = ", ".join(column for name in VARIABLE_NAMES for column in _variable_columns(name))
    aggregates = ", ".join(f"min({name}), max({name}), sum({name})" for name in VARIABLE_NAMES)
    op.execute(
        f"""
        INSERT INTO registros_por_minuto (minute, meter_id, readings, flagged, {columns})
        SELECT date_bin('1 minute', timestamp, timestamptz '1970-01-01 00:00:00+00'),
               meter_id, count(*), count(*) FILTER (WHERE is_flagged), {aggregates}
        FROM registros
        GROUP BY 1, 2
        """
    )
    op.execute(
        """
        INSERT INTO registros_contadores (meter_id, readings, flagged)
        SELECT meter_id, count(*), count(*) FILTER (WHERE is_flagged)
        FROM registros
        GROUP BY meter_id
        """
    )


def downgrade() -> None:
    op.drop_table("registros_contadores")
    op.drop_table("registros_por_minuto")
