"""Per-meter thresholds: each stored model's factors on its threshold, by meter.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-20

``modelos.meter_factors`` (``jsonb``, meter id → factor) holds what training set by each
meter's false-alarm budget (``energy_core.detection.meter_calibration``). Models stored
before get ``{}``: every meter keeps the model's own threshold, as it did.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.add_column(
        "modelos",
        sa.Column(
            "meter_factors",
            postgresql.JSONB,
            nullable=False,
            server_default=sa.text("'{}'::jsonb"),
        ),
    )


def downgrade() -> None:
    op.drop_column("modelos", "meter_factors")
