"""Control plane: facilities, meters, load forecasts, DR events with inbox and append-only audit log.

Revision ID: 0001
Revises:
Create Date: 2025-11-29

Expand-contract: later revisions add columns and tables (expand), move readers over, and
only then drop what is unused (contract), so a running service never meets a schema it
does not understand.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

NOW = sa.text("now()")
DR_STATES = "'pending', 'dispatching', 'active', 'completed', 'failed', 'compensated', 'cancelled'"


def _created_at() -> sa.Column:
    return sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=NOW)


def upgrade() -> None:
    op.create_table(
        "facilities",
        sa.Column("facility_id", sa.Text, primary_key=True),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("country", sa.String(2), nullable=False),
        sa.Column("timezone", sa.Text, nullable=False),
        sa.Column("latitude", sa.Float, nullable=False),
        sa.Column("longitude", sa.Float, nullable=False),
        sa.Column("contract_demand_kw", sa.Float, nullable=False),
        _created_at(),
        sa.CheckConstraint("latitude BETWEEN -90 AND 90", name="facilities_latitude_range"),
        sa.CheckConstraint("longitude BETWEEN -180 AND 180", name="facilities_longitude_range"),
        sa.CheckConstraint("contract_demand_kw > 0", name="facilities_contract_demand_positive"),
    )
    op.create_table(
        "meters",
        sa.Column("meter_id", sa.Text, primary_key=True),
        sa.Column("facility_id", sa.Text, sa.ForeignKey("facilities.facility_id"), nullable=False, index=True),
        sa.Column("kind", sa.Text, nullable=False, server_default="electricity"),
        _created_at(),
    )
    op.create_table(
        "load_forecasts",
        sa.Column("facility_id", sa.Text, sa.ForeignKey("facilities.facility_id"), nullable=False),
        sa.Column("ts", sa.DateTime(timezone=True), nullable=False, comment="start of the 15-minute step"),
        sa.Column("generated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("p10", sa.Float, nullable=False),
        sa.Column("p50", sa.Float, nullable=False),
        sa.Column("p90", sa.Float, nullable=False),
        sa.Column("model_version", sa.Text, nullable=False),
        sa.Column("source", sa.Text, nullable=False),
        sa.Column("data_quality_score", sa.Float),
        # Every issued forecast is kept: DR plans must be explainable after the fact (M4).
        sa.PrimaryKeyConstraint("facility_id", "ts", "generated_at", name="load_forecasts_pkey"),
        sa.CheckConstraint("source IN ('model', 'fallback', 'manual')", name="load_forecasts_source"),
        sa.CheckConstraint("p10 <= p50 AND p50 <= p90", name="load_forecasts_quantiles_ordered"),
        sa.CheckConstraint("data_quality_score BETWEEN 0 AND 1", name="load_forecasts_quality_range"),
    )
    # "Latest forecast per facility": DISTINCT ON (facility_id) ... ORDER BY facility_id, generated_at DESC.
    op.create_index("load_forecasts_latest", "load_forecasts", ["facility_id", sa.text("generated_at DESC")])
    _create_dr_tables()


def _create_dr_tables() -> None:
    op.create_table(
        "dr_events",
        sa.Column("event_id", sa.Text, primary_key=True),
        sa.Column("utility_id", sa.Text, nullable=False),
        sa.Column("revision", sa.Integer, nullable=False, server_default="0"),
        sa.Column("status", sa.Text, nullable=False, server_default="pending"),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ends_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("target_reduction_kw", sa.Float, nullable=False),
        sa.Column("payload", JSONB, nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False, server_default=NOW),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=NOW),
        sa.CheckConstraint(f"status IN ({DR_STATES})", name="dr_events_status"),
        sa.CheckConstraint("ends_at > starts_at", name="dr_events_window"),
        sa.CheckConstraint("target_reduction_kw >= 0", name="dr_events_target_non_negative"),
    )
    op.create_index("dr_events_open", "dr_events", ["starts_at"],
                    postgresql_where=sa.text("status IN ('pending', 'dispatching', 'active')"))
    op.create_table(
        "dr_event_facilities",
        sa.Column("event_id", sa.Text, sa.ForeignKey("dr_events.event_id", ondelete="CASCADE"), primary_key=True),
        sa.Column("facility_id", sa.Text, sa.ForeignKey("facilities.facility_id"), primary_key=True),
        sa.Column("state", sa.Text, nullable=False, server_default="pending"),
        sa.Column("target_reduction_kw", sa.Float),
        sa.Column("achieved_reduction_kw", sa.Float),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=NOW),
        sa.CheckConstraint(f"state IN ({DR_STATES})", name="dr_event_facilities_state"),
    )
    op.create_table(
        "dr_inbox",
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("event_id", sa.Text, nullable=False),
        sa.Column("revision", sa.Integer, nullable=False),
        sa.Column("payload", JSONB, nullable=False),
        sa.Column("trace_id", sa.Text),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False, server_default=NOW),
        sa.Column("processed_at", sa.DateTime(timezone=True)),
        # A redelivered webhook (same event, same revision) is a no-op: idempotent intake.
        sa.UniqueConstraint("event_id", "revision", name="dr_inbox_event_revision"),
    )
    op.create_index("dr_inbox_unprocessed", "dr_inbox", ["received_at"],
                    postgresql_where=sa.text("processed_at IS NULL"))
    _create_audit_log()


def _create_audit_log() -> None:
    op.create_table(
        "dr_audit_log",
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("event_id", sa.Text, nullable=False),
        sa.Column("ts", sa.DateTime(timezone=True), nullable=False, server_default=NOW),
        sa.Column("actor", sa.Text, nullable=False),
        sa.Column("transition", sa.Text, nullable=False),
        sa.Column("detail", JSONB, nullable=False, server_default=sa.text("'{}'::jsonb")),
    )
    op.create_index("dr_audit_log_event", "dr_audit_log", ["event_id", "ts"])
    # Append-only (M5): the database itself refuses to rewrite history, whoever asks.
    op.execute("""
        CREATE FUNCTION dr_audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            RAISE EXCEPTION 'dr_audit_log is append-only: % refused', TG_OP;
        END $$
    """)
    op.execute("""
        CREATE TRIGGER dr_audit_log_no_rewrite BEFORE UPDATE OR DELETE ON dr_audit_log
        FOR EACH ROW EXECUTE FUNCTION dr_audit_log_append_only()
    """)
    op.execute("""
        CREATE TRIGGER dr_audit_log_no_truncate BEFORE TRUNCATE ON dr_audit_log
        FOR EACH STATEMENT EXECUTE FUNCTION dr_audit_log_append_only()
    """)


def downgrade() -> None:
    op.drop_table("dr_audit_log")
    op.execute("DROP FUNCTION dr_audit_log_append_only()")
    op.drop_table("dr_inbox")
    op.drop_table("dr_event_facilities")
    op.drop_table("dr_events")
    op.drop_table("load_forecasts")
    op.drop_table("meters")
    op.drop_table("facilities")
