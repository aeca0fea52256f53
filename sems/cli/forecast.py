"""`sems forecast upload FILE.csv --facility ID`: an analyst's load profile overriding the forecast.

Bad CSVs, unknown facilities and unreachable stores end with one line on stderr and exit 1.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Annotated

import typer
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from sems import forecast_buffer
from sems.manual_forecast import ManualForecastError, profile
from sems.settings import get_settings
from sems.stores import postgres

app = typer.Typer(help="Load forecasts: manual overrides.", no_args_is_help=True)


def _known(facility_id: str) -> bool:
    db = postgres.engine(get_settings())
    try:
        with db.connect() as conn:
            return conn.execute(text("SELECT 1 FROM facilities WHERE facility_id = :f"),
                                {"f": facility_id}).first() is not None
    finally:
        db.dispose()


@app.command("upload")
def upload(
    file: Annotated[Path, typer.Argument(help="CSV with ts, kw (and optionally p10, p90).")],
    facility: Annotated[str, typer.Option("--facility", help="Facility the profile is for.")],
) -> None:
    """Write the CSV's period as source='manual' forecasts; later forecast runs keep these values."""
    settings = get_settings()
    try:
        rows = profile(file, facility, timedelta(minutes=settings.forecast_step_minutes))
        if not _known(facility):
            raise ManualForecastError(f"unknown facility {facility}")
        outcome = forecast_buffer.write(settings, rows)
    except (ManualForecastError, DBAPIError, OSError) as exc:
        typer.echo(f"error: {str(exc).splitlines()[0]}", err=True)
        raise typer.Exit(1) from None
    where = "stored" if outcome.stored else f"buffered in Kafka (PostgreSQL: {outcome.error})"
    typer.echo(f"{len(rows)} manual steps for {facility} from {rows[0]['ts']:%Y-%m-%dT%H:%M}Z "
               f"to {rows[-1]['ts']:%Y-%m-%dT%H:%M}Z {where}")
