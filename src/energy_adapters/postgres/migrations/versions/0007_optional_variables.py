"""Readings with the variables a meter has: variable columns NULLable, four new variables,
and per-variable counts in the per-minute rollups.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-12

A reading carries any non-empty subset of the catalogue; a variable its meter did not send
is NULL (never 0). ``registros`` gains reactive_power (kvar), apparent_power (kVA) and the
energy registers energy_import / energy_export (kWh). ``registros_por_minuto`` keeps, for
every variable, its min, max and sum over the values present (NULL when none) and how many
values there were (``<variable>_count``), so a bucket's mean is its sum over its count.

Existing data is kept: every stored reading carried the six original variables, so their
counts are the minute's reading count; the new variables have none.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

# The catalogue as it is at this revision: a migration must not change when it grows.
ORIGINAL_VARIABLES = (
    "voltage",
    "current",
    "active_power",
    "power_factor",
    "frequency",
    "motor_temperature",
)
NEW_VARIABLES = ("reactive_power", "apparent_power", "energy_import", "energy_export")

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    for name in ORIGINAL_VARIABLES:
        op.alter_column("registros", name, existing_type=sa.Double, nullable=True)
        for column in (f"{name}_min", f"{name}_max", f"{name}_sum"):
            op.alter_column("registros_por_minuto", column, existing_type=sa.Double, nullable=True)
    for name in NEW_VARIABLES:
        op.add_column("registros", sa.Column(name, sa.Double, nullable=True))
        for column in (f"{name}_min", f"{name}_max", f"{name}_sum"):
            op.add_column("registros_por_minuto", sa.Column(column, sa.Double, nullable=True))
    for name in (*ORIGINAL_VARIABLES, *NEW_VARIABLES):
        op.add_column(
            "registros_por_minuto",
            sa.Column(f"{name}_count", sa.Integer, nullable=False, server_default="0"),
        )
    # Every reading stored so far carried the six original variables.
    counts = ", ".join(f"{name}_count = readings" for name in ORIGINAL_VARIABLES)
    op.execute(f"UPDATE registros_por_minuto SET {counts}")


def downgrade() -> None:
    """Back to six mandatory variables: refused (NOT NULL fails) while a stored reading
    lacks one of them; the four new variables are dropped with their values."""
    for name in (*ORIGINAL_VARIABLES, *NEW_VARIABLES):
        op.drop_column("registros_por_minuto", f"{name}_count")
    for name in NEW_VARIABLES:
        for column in (f"{name}_min", f"{name}_max", f"{name}_sum"):
            op.drop_column("registros_por_minuto", column)
        op.drop_column("registros", name)
    for name in ORIGINAL_VARIABLES:
        for column in (f"{name}_min", f"{name}_max", f"{name}_sum"):
            op.alter_column("registros_por_minuto", column, existing_type=sa.Double, nullable=False)
        op.alter_column("registros", name, existing_type=sa.Double, nullable=False)
