"""Each meter's origin: the channel and payload format its readings came by.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-30

One row per meter in ``medidores`` (channel: http, mqtt, csv, simulator; format: native,
tasmota, shelly, emoncms, emonhub or a mapping's device name), written by the ingest
transaction when it changes. Meters stored before have none until they send again.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "medidores",
        sa.Column("meter_id", sa.Text, primary_key=True),
        sa.Column("channel", sa.Text, nullable=False),
        sa.Column("format", sa.Text, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("medidores")
