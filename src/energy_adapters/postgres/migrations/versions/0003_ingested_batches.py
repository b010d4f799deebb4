"""Keys of ingested batches (lotes), so that a batch retried after an error is stored once.

Revision ID: 0003
Revises: 0002
Create Date: 2025-06-03

A writer that did not hear whether its batch was stored (the connection dropped at commit,
or a step after the commit failed) retries it under the same key; the repository finds the
key, written in the same transaction as the readings, and answers with what was stored then
instead of storing it again. Keys older than a day are forgotten.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "lotes",
        sa.Column("key", sa.Text, primary_key=True),
        sa.Column("first_id", sa.BigInteger, nullable=False),
        sa.Column("last_id", sa.BigInteger, nullable=False),
        sa.Column(
            "stored_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
    )
    op.create_index("lotes_stored_at", "lotes", ["stored_at"])


def downgrade() -> None:
    op.drop_table("lotes")
