"""Demand response saga: more states, webhook deliveries, BMS commands with prior state, report outbox.

Revision ID: 0002_dr
Revises: 0001
Create Date: 2026-11-29

Expand only: new tables, new nullable columns, and wider state checks (the saga's
received/planned/releasing). Downgrade maps the new states back to the nearest old one
before narrowing the checks again.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0002_dr"
down_revision = "0001"
branch_labels = None
depends_on = None

NOW = sa.text("now()")
OLD_STATES = "'pending', 'dispatching', 'active', 'completed', 'failed', 'compensated', 'cancelled'"
NEW_STATES = OLD_STATES + ", 'received', 'planned', 'releasing'"
CHECKS = (("dr_events", "dr_events_status", "status"), ("dr_event_facilities", "dr_event_facilities_state", "state"))


def _set_state_checks(states: str) -> None:
    for table, name, column in CHECKS:
        op.drop_constraint(name, table, type_="check")
        op.create_check_constraint(name, table, f"{column} IN ({states})")


def upgrade() -> None:
    _set_state_checks(NEW_STATES)
    op.add_column("dr_events", sa.Column("request", JSONB, comment="the normalised event the saga works from"))
    op.add_column("dr_events", sa.Column("callback_url", sa.Text))
    op.add_column("dr_events", sa.Column("achieved_reduction_kw", sa.Float))
    op.add_column("dr_events", sa.Column("verification", JSONB))
    op.add_column("dr_event_facilities", sa.Column("plan", JSONB))
    op.add_column("dr_event_facilities", sa.Column("forecast_quality", sa.Text))
    op.add_column("dr_event_facilities", sa.Column("error", sa.Text))
    op.add_column("facilities", sa.Column("manager_email", sa.Text))
    op.add_column("dr_inbox", sa.Column("utility_id", sa.Text))
    op.add_column("dr_inbox", sa.Column("operation", sa.Text))
    op.add_column("dr_inbox", sa.Column("answer", JSONB, comment="status and body the webhook answered"))
    op.create_table(
        "dr_webhook_deliveries",
        # Standard Webhooks `webhook-id`: each signed delivery is accepted once (replay protection).
        sa.Column("webhook_id", sa.Text, primary_key=True),
        sa.Column("utility_id", sa.Text, nullable=False),
        sa.Column("event_id", sa.Text, nullable=False),
        sa.Column("revision", sa.Integer, nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False, server_default=NOW),
    )
    op.create_table(
        "dr_bms_commands",
        sa.Column("idempotency_key", sa.Text, primary_key=True),
        sa.Column("event_id", sa.Text, sa.ForeignKey("dr_events.event_id", ondelete="CASCADE"), nullable=False),
        sa.Column("facility_id", sa.Text, nullable=False),
        sa.Column("point", sa.Text, nullable=False),
        sa.Column("action", sa.Text, nullable=False),
        sa.Column("prior_value", sa.Float, nullable=False, comment="the device's value before SEMS changed it"),
        sa.Column("target_value", sa.Float, nullable=False),
        sa.Column("state", sa.Text, nullable=False),
        sa.Column("error", sa.Text),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=NOW),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=NOW),
        sa.CheckConstraint("action IN ('apply', 'restore')", name="dr_bms_commands_action"),
        sa.CheckConstraint("state IN ('sending', 'confirmed', 'not_applied', 'failed')", name="dr_bms_commands_state"),
    )
    op.create_index("dr_bms_commands_event", "dr_bms_commands", ["event_id", "facility_id"])
    op.create_table(
        "dr_outbox",
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("event_id", sa.Text, nullable=False),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("destination", sa.Text, nullable=False),
        sa.Column("payload", JSONB, nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("last_error", sa.Text),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=NOW),
        sa.Column("delivered_at", sa.DateTime(timezone=True)),
        sa.UniqueConstraint("event_id", "kind", "destination", name="dr_outbox_once"),
    )


def downgrade() -> None:
    op.drop_table("dr_outbox")
    op.drop_table("dr_bms_commands")
    op.drop_table("dr_webhook_deliveries")
    for column in ("answer", "operation", "utility_id"):
        op.drop_column("dr_inbox", column)
    op.drop_column("facilities", "manager_email")
    for column in ("error", "forecast_quality", "plan"):
        op.drop_column("dr_event_facilities", column)
    for column in ("verification", "achieved_reduction_kw", "callback_url", "request"):
        op.drop_column("dr_events", column)
    op.execute("UPDATE dr_events SET status = 'pending' WHERE status IN ('received', 'planned')")
    op.execute("UPDATE dr_events SET status = 'active' WHERE status = 'releasing'")
    op.execute("UPDATE dr_event_facilities SET state = 'pending' WHERE state IN ('received', 'planned')")
    op.execute("UPDATE dr_event_facilities SET state = 'active' WHERE state = 'releasing'")
    _set_state_checks(OLD_STATES)
