"""Named HTTP ingest tokens (tokens_ingesta), stored as SHA-256 digests only.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01

One row per gateway or device: its name, the digest of its token (the token itself is shown
once by ``smartenergy tokens add`` and kept nowhere), the meter-id globs it may write (empty:
every meter), when it was created and, roughly, last used. Revoking deletes the row.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "tokens_ingesta",
        sa.Column("name", sa.Text, primary_key=True),
        sa.Column("token_sha256", sa.Text, nullable=False, unique=True),
        sa.Column(
            "meter_patterns",
            postgresql.ARRAY(sa.Text),
            nullable=False,
            server_default=sa.text("'{}'::text[]"),
        ),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("token_sha256 ~ '^[0-9a-f]{64}$'", name="tokens_ingesta_sha256"),
    )


def downgrade() -> None:
    op.drop_table("tokens_ingesta")
