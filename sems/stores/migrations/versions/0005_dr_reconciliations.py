"""DR reconciliation results, so a discrepancy is visible where operators look (the API's /metrics).

Revision ID: 0005_dr_reconciliations
Revises: 0004_facility_bms_url
Create Date: 2026-11-29

Expand only: `dr_reconciliations`, one row per event, facility and check: the recorded and the
freshly measured reduction, their relative difference, and whether it is past the tolerance.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005_dr_reconciliations"
down_revision = "0004_facility_bms_url"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "dr_reconciliations",
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("event_id", sa.Text, sa.ForeignKey("dr_events.event_id", ondelete="CASCADE"), nullable=False),
        sa.Column("facility_id", sa.Text, nullable=False),
        sa.Column("checked_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.text("now()")),
        sa.Column("recorded_kw", sa.Float, nullable=False),
        sa.Column("fresh_kw", sa.Float, nullable=False),
        sa.Column("discrepancy", sa.Float, nullable=False, comment="|fresh - recorded| / |recorded|"),
        sa.Column("off", sa.Boolean, nullable=False, comment="past dr_reconciliation_tolerance: an alert"),
    )
    op.create_index("dr_reconciliations_latest", "dr_reconciliations", ["event_id", "facility_id", "checked_at"])


def downgrade() -> None:
    op.drop_table("dr_reconciliations")
