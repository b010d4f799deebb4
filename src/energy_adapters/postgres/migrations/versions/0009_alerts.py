"""Alerting: alert occurrences (alertas), their outbox (notificaciones), silences
(silencios), maintenance windows (ventanas_mantenimiento) and feedback (valoraciones).

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-10

``alertas`` holds one row per occurrence (``key`` and ``started_at``, unique), as of its
latest event, with its acknowledgement and when it was last sent. ``notificaciones`` is
the outbox: one row per event to tell (``event_id`` unique, so processes that saw the same
event queue it once), written in the same transaction as its alert and claimed by
dispatchers with ``FOR UPDATE SKIP LOCKED``. ``details`` and the alert snapshot of a
notification are ``jsonb``; lists of globs and variables ``text[]``.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | None = None
depends_on: str | None = None

# As they were at this revision (the core's Literals may grow; a later revision follows).
_DELIVERY_STATES = ("pending", "sending", "sent", "failed", "suppressed")
_NOTIFICATION_KINDS = ("opened", "resolved", "escalated", "repeat")
_VERDICTS = ("false_alarm", "confirmed")
_EMPTY_TEXTS = sa.text("'{}'::text[]")


def _one_of(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(value) for value in values)})"


def upgrade() -> None:
    op.create_table(
        "alertas",
        sa.Column("id", sa.BigInteger, primary_key=True, autoincrement=True),
        sa.Column("key", sa.Text, nullable=False),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("rule_id", sa.Text, nullable=False),
        sa.Column("meter_id", sa.Text, nullable=True),
        sa.Column("severity", sa.Text, nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("peak", sa.Double, nullable=True),
        sa.Column("readings", sa.BigInteger, nullable=False),
        sa.Column(
            "top_variables", postgresql.ARRAY(sa.Text), nullable=False, server_default=_EMPTY_TEXTS
        ),
        sa.Column(
            "details", postgresql.JSONB, nullable=False, server_default=sa.text("'{}'::jsonb")
        ),
        sa.Column("acknowledged_by", sa.Text, nullable=True),
        sa.Column("acknowledged_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("acknowledgement_comment", sa.Text, nullable=True),
        sa.Column("last_sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("announced", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.UniqueConstraint("key", "started_at", name="alertas_occurrence"),
        sa.CheckConstraint(
            "(acknowledged_by IS NULL) = (acknowledged_at IS NULL)", name="alertas_acknowledgement"
        ),
    )
    # Lists newest first by start (ties by id); a meter's alerts; the few open ones.
    op.create_index("ix_alertas_started_at_id", "alertas", ["started_at", "id"])
    op.create_index("ix_alertas_meter_started_at", "alertas", ["meter_id", "started_at", "id"])
    op.create_index(
        "ix_alertas_open",
        "alertas",
        ["started_at", "id"],
        postgresql_where=sa.text("ended_at IS NULL"),
    )

    op.create_table(
        "notificaciones",
        sa.Column("id", sa.BigInteger, primary_key=True, autoincrement=True),
        sa.Column(
            "alert_id",
            sa.BigInteger,
            sa.ForeignKey("alertas.id", ondelete="CASCADE", name="notificaciones_alert"),
            nullable=False,
        ),
        sa.Column("event_id", sa.Text, nullable=False),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("alert", postgresql.JSONB, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("state", sa.Text, nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False, server_default=sa.text("0")),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text, nullable=True),
        sa.Column(
            "retry_channels",
            postgresql.ARRAY(sa.Text),
            nullable=False,
            server_default=sa.text("'{}'::text[]"),
        ),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.UniqueConstraint("event_id", name="notificaciones_event"),
        sa.CheckConstraint(_one_of("state", _DELIVERY_STATES), name="notificaciones_state"),
        sa.CheckConstraint(_one_of("kind", _NOTIFICATION_KINDS), name="notificaciones_kind"),
    )
    # The dispatchers' queue: only what is waiting or on its way, in id order.
    op.create_index(
        "ix_notificaciones_due",
        "notificaciones",
        ["id"],
        postgresql_where=sa.text("state IN ('pending', 'sending')"),
    )
    op.create_index("ix_notificaciones_alert_id", "notificaciones", ["alert_id", "id"])

    op.create_table(
        "silencios",
        sa.Column("id", sa.Text, primary_key=True),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ends_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("meters", postgresql.ARRAY(sa.Text), nullable=False, server_default=_EMPTY_TEXTS),
        sa.Column(
            "rule_ids", postgresql.ARRAY(sa.Text), nullable=False, server_default=_EMPTY_TEXTS
        ),
        sa.Column("created_by", sa.Text, nullable=False, server_default=""),
        sa.Column("comment", sa.Text, nullable=False, server_default=""),
        sa.CheckConstraint("ends_at > starts_at", name="silencios_span"),
    )

    op.create_table(
        "ventanas_mantenimiento",
        sa.Column("id", sa.Text, primary_key=True),
        sa.Column("days", postgresql.ARRAY(sa.SmallInteger), nullable=False),
        sa.Column("start_time", sa.Time(timezone=False), nullable=False),
        sa.Column("end_time", sa.Time(timezone=False), nullable=False),
        sa.Column("timezone", sa.Text, nullable=False),
        sa.Column("meters", postgresql.ARRAY(sa.Text), nullable=False, server_default=_EMPTY_TEXTS),
        sa.Column(
            "rule_ids", postgresql.ARRAY(sa.Text), nullable=False, server_default=_EMPTY_TEXTS
        ),
        sa.Column("comment", sa.Text, nullable=False, server_default=""),
        sa.CheckConstraint(
            "cardinality(days) > 0 AND days <@ '{0,1,2,3,4,5,6}'::smallint[]",
            name="ventanas_mantenimiento_days",
        ),
    )

    # No foreign key to alertas: feedback may name an alert of another store, and outlives it.
    op.create_table(
        "valoraciones",
        sa.Column("id", sa.BigInteger, primary_key=True, autoincrement=True),
        sa.Column("meter_id", sa.Text, nullable=False),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ends_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("verdict", sa.Text, nullable=False),
        sa.Column("given_by", sa.Text, nullable=False),
        sa.Column("given_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("alert_id", sa.BigInteger, nullable=True),
        sa.Column("fault_kind", sa.Text, nullable=True),
        sa.Column(
            "variables", postgresql.ARRAY(sa.Text), nullable=False, server_default=_EMPTY_TEXTS
        ),
        sa.Column("comment", sa.Text, nullable=False, server_default=""),
        sa.CheckConstraint(_one_of("verdict", _VERDICTS), name="valoraciones_verdict"),
        sa.CheckConstraint("ends_at >= starts_at", name="valoraciones_span"),
    )
    op.create_index("ix_valoraciones_meter_id", "valoraciones", ["meter_id", "id"])
    op.create_index("ix_valoraciones_alert_id", "valoraciones", ["alert_id"])


def downgrade() -> None:
    op.drop_table("valoraciones")
    op.drop_table("ventanas_mantenimiento")
    op.drop_table("silencios")
    op.drop_table("notificaciones")
    op.drop_table("alertas")
