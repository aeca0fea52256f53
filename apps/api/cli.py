"""`sems api-token`: a development token for the read API, signed by the local issuer."""

from __future__ import annotations

from typing import Annotated

import typer

from apps.api import dev_issuer
from sems.facilities import demo_fleet
from sems.settings import get_settings

app = typer.Typer(help="Mint a development JWT for the read API (refused in production).")


@app.callback(invoke_without_command=True)
def token(
    facility: Annotated[
        list[str] | None, typer.Option(help="Facility the token grants (repeat); default: all demo ones.")
    ] = None,
    ttl: Annotated[float, typer.Option(help="Lifetime in seconds.")] = 3600.0,
    subject: Annotated[str, typer.Option(help="The `sub` claim.")] = "dev-analyst",
) -> None:
    """Print a token: `curl -H "Authorization: Bearer $(sems api-token)" .../v1/facilities`."""
    settings = get_settings()
    if settings.env == "production" or settings.auth_jwks_url:
        typer.echo("error: tokens come from the configured issuer (SEMS_AUTH_JWKS_URL), not the development one",
                   err=True)
        raise typer.Exit(1)
    granted = facility or [f.facility_id for f in demo_fleet(settings.simulator_facilities, settings.simulator_meters)]
    typer.echo(dev_issuer.mint(settings, granted, subject=subject, ttl_s=ttl))
