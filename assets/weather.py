"""The `weather_forecast` asset: hourly weather per facility from the provider chain, with its provenance."""

from datetime import UTC, datetime

import polars as pl
from dagster import AssetExecutionContext, MetadataValue, Output, asset

from assets.forecasts import fleet_or_settings
from pipelines.resources import ForecastingResource, PostgresResource
from sems.settings import get_settings
from sems.weather.chain import WeatherChain, chain
from sems.weather.model import WeatherUnavailable


def fleet_weather(
    weather: WeatherChain, facilities: list[dict[str, object]], hours: int, now: datetime
) -> tuple[pl.DataFrame, dict[str, str]]:
    """Weather rows (facility_id, ts, temp_c, humidity_pct, provider, age_s) and why facilities have none."""
    frames, missing = [], {}
    for facility in facilities:
        try:
            forecast = weather.forecast(float(facility["latitude"]), float(facility["longitude"]),  # type: ignore[arg-type]
                                        hours, now)
        except WeatherUnavailable as exc:
            missing[str(facility["facility_id"])] = str(exc)
            continue
        frames.append(forecast.hourly.with_columns(
            facility_id=pl.lit(facility["facility_id"]), provider=pl.lit(forecast.provider),
            age_s=pl.lit(forecast.age_s(now)),
        ))
    return (pl.concat(frames) if frames else pl.DataFrame()), missing


@asset(group_name="forecasting", kinds={"python"})
def weather_forecast(
    context: AssetExecutionContext, postgres: PostgresResource, forecasting: ForecastingResource
) -> Output[pl.DataFrame]:
    """Next hours of weather per facility: first provider that answers, else the cached forecast with its age."""
    now = datetime.now(UTC)
    fleet, note = fleet_or_settings(postgres)  # PostgreSQL down: the configured fleet, forecasts are buffered
    if note:
        context.log.warning(note)
    facilities = fleet.select("facility_id", "latitude", "longitude").to_dicts()
    frame, missing = fleet_weather(chain(get_settings()), facilities, forecasting.horizon_hours, now)
    if missing:
        # Forecasting still runs for these: the load-only fallback, flagged as such.
        context.log.warning(f"no weather for {sorted(missing)}: {missing}")
    providers = frame.group_by("provider").agg(pl.col("facility_id").n_unique()).rows() if frame.height else []
    return Output(frame, metadata={
        "providers": MetadataValue.json(dict(providers)),
        "max_age_s": float(frame["age_s"].max()) if frame.height else -1.0,  # type: ignore[arg-type]
        "facilities_without_weather": MetadataValue.json(missing),
    })
