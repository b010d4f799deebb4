"""Per-meter indexes: a meter's newest readings and its minutes without scanning the others.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-10

The fleet view (``energy_adapters.postgres.fleet``) reads, for each meter of a page, its
newest readings (last seen, cadence, the variables it sends) and its rollups of the last
hour. The existing indexes lead with time, so both meant reading every meter's rows of the
period. A query filtered to a few meters (the dashboard after a click on one) gains too.

The indexes are built inside the migration's transaction: on a large table, writers wait
until they are built.
"""

from __future__ import annotations

from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_index("ix_registros_meter_timestamp_id", "registros", ["meter_id", "timestamp", "id"])
    op.create_index(
        "ix_registros_por_minuto_meter_minute", "registros_por_minuto", ["meter_id", "minute"]
    )


def downgrade() -> None:
    op.drop_index("ix_registros_por_minuto_meter_minute", table_name="registros_por_minuto")
    op.drop_index("ix_registros_meter_timestamp_id", table_name="registros")
