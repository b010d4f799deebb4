"""The view that flagged each reading: ``registros.flagged_by``.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-21

A reading flagged by a detector with views (``energy_core.detection.temporal.VIEWS``:
``point``, ``stuck``, ``profile``, ``collective``) keeps which one fired, so that an
explanation says why as well as which variables (issue 16). ``text``, NULL when unknown:
readings not flagged, flagged by a detector without views (the forests), or stored before
this revision. Added on the partitioned parent, it reaches every day's partition and the
DEFAULT one; a nullable column without a default changes the catalogue only, no row is
rewritten. Downgrade drops it (with the views stored).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.add_column("registros", sa.Column("flagged_by", sa.Text, nullable=True))


def downgrade() -> None:
    op.drop_column("registros", "flagged_by")
