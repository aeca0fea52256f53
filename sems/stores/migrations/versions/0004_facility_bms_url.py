"""Each facility's own BMS address.

Revision ID: 0004_facility_bms_url
Revises: 0003_dr_baselines
Create Date: 2026-11-29

Expand only: `facilities.bms_url`, the SOAP endpoint of the facility's BMS. NULL keeps the
address from the settings (`bms_url_template`, or the local simulator), so nothing changes for
facilities that do not name one.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004_facility_bms_url"
down_revision = "0003_dr_baselines"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("facilities", sa.Column("bms_url", sa.Text, comment="the facility's BMS SOAP endpoint; NULL: the "
                                                                      "settings' bms_url_template or the simulator"))


def downgrade() -> None:
    op.drop_column("facilities", "bms_url")
