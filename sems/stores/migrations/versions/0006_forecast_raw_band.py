"""Each model forecast's raw band and the conformal margin it was issued with, so the next margin can be measured.

Revision ID: 0006_forecast_raw_band
Revises: 0005_dr_reconciliations
Create Date: 2026-11-29

Expand only: `load_forecasts.raw_p10`, `raw_p90` (kW), the model's band before calibration, and
`band_margin`, the widening it got, in normalised load (kW / contract demand). With the raw
band a past forecast scores exactly (`ml.conformal.conformity`; the issued band may have been
clipped), and `load_forecast` recalibrates from the last days' scores. NULL for fallback and
manual rows and for rows issued before this revision.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006_forecast_raw_band"
down_revision = "0005_dr_reconciliations"
branch_labels = None
depends_on = None


COLUMNS = {
    "raw_p10": "the model's P10 before the conformal margin (kW); NULL: not a model forecast, or before 0006",
    "raw_p90": "the model's P90 before the conformal margin (kW); NULL: not a model forecast, or before 0006",
    "band_margin": "conformal widening of the raw band, kW / contract demand; NULL: not a model forecast, or before 0006",
}


def upgrade() -> None:
    for name, comment in COLUMNS.items():
        op.add_column("load_forecasts", sa.Column(name, sa.Float, comment=comment))


def downgrade() -> None:
    for name in COLUMNS:
        op.drop_column("load_forecasts", name)
