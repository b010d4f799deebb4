"""What each keyed batch said (lotes.fingerprint), so that a key reused for other readings is
refused instead of answered with the first batch's readings.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30

Keys stored before this revision have no fingerprint; they keep answering as before.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.add_column("lotes", sa.Column("fingerprint", sa.Text, nullable=True))


def downgrade() -> None:
    op.drop_column("lotes", "fingerprint")
