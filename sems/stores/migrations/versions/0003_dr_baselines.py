"""DR verification per interval and baseline, outbox backoff, and the revision each plan was made for.

Revision ID: 0003_dr_baselines
Revises: 0002_dr
Create Date: 2026-11-29

Expand only: `dr_event_intervals` (per event, facility and 15-minute interval: metered load,
each baseline, the one reported and the achieved reduction), the chosen baseline on each
event facility, and `dr_outbox.next_attempt_at` so background delivery backs off.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003_dr_baselines"
down_revision = "0002_dr"
branch_labels = None
depends_on = None

NOW = sa.text("now()")


def upgrade() -> None:
    op.create_table(
        "dr_event_intervals",
        sa.Column("event_id", sa.Text, sa.ForeignKey("dr_events.event_id", ondelete="CASCADE"), primary_key=True),
        sa.Column("facility_id", sa.Text, primary_key=True),
        sa.Column("starts_at", sa.DateTime(timezone=True), primary_key=True),
        sa.Column("ends_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("metered_kw", sa.Float, comment="mean of facility_load_1m over the interval"),
        sa.Column("minutes", sa.Integer, nullable=False, server_default="0"),
        sa.Column("ten_of_ten_kw", sa.Float, comment="'10 of 10' CBL, day-of adjusted"),
        sa.Column("high_five_of_ten_kw", sa.Float, comment="'high 5 of 10' CBL, day-of adjusted"),
        sa.Column("forecast_p50_kw", sa.Float, comment="P50 of the latest forecast issued before the start"),
        sa.Column("baseline_method", sa.Text, comment="the baseline reported to the utility"),
        sa.Column("baseline_kw", sa.Float),
        sa.Column("achieved_kw", sa.Float, comment="baseline_kw - metered_kw"),
        sa.Column("verified_at", sa.DateTime(timezone=True), nullable=False, server_default=NOW),
    )
    op.add_column("dr_event_facilities", sa.Column("baseline_method", sa.Text))
    op.add_column("dr_event_facilities", sa.Column("baseline_kw", sa.Float))
    op.add_column("dr_event_facilities", sa.Column("metered_kw", sa.Float))
    op.add_column("dr_events", sa.Column("planned_revision", sa.Integer))
    op.add_column("dr_event_facilities", sa.Column("plan_revision", sa.Integer,
                                                   comment="the revision a re-plan was made for; NULL: the first plan"))
    op.add_column("dr_outbox", sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False,
                                         server_default=NOW))


def downgrade() -> None:
    op.drop_column("dr_outbox", "next_attempt_at")
    op.drop_column("dr_events", "planned_revision")
    for column in ("plan_revision", "metered_kw", "baseline_kw", "baseline_method"):
        op.drop_column("dr_event_facilities", column)
    op.drop_table("dr_event_intervals")
