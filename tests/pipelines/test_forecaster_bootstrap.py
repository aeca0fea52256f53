"""The bootstrap sensor trains once enough history exists and there is no champion; otherwise it says why not."""

from __future__ import annotations

import uuid

from dagster import RunRequest, SkipReason

from pipelines.forecaster_bootstrap import JOB, bootstrap_tick, champion, decide, history_days
from pipelines.resources import QuestDBResource
from sems.settings import Settings


def test_decisions() -> None:
    unreachable = decide(None, "MLflow unreachable at x", 0.0, 44, "2026-01-02")
    assert isinstance(unreachable, SkipReason) and unreachable.skip_message == "MLflow unreachable at x"
    exists = decide(True, "", 90.0, 44, "2026-01-02")
    assert isinstance(exists, SkipReason) and "exists" in str(exists.skip_message)
    short = decide(False, "", 12.25, 44, "2026-01-02")
    assert isinstance(short, SkipReason) and short.skip_message == "12.2 days of history, training needs 44"
    train = decide(False, "", 44.0, 44, "2026-01-02")
    assert isinstance(train, RunRequest) and train.run_key == "bootstrap-2026-01-02" and train.job_name == JOB


def test_a_tick_against_the_stores(settings: Settings) -> None:
    questdb = QuestDBResource.from_settings(settings)
    rows = questdb.query("SELECT count() AS n, min(ts) AS first FROM facility_load_1m")[0]
    days = history_days(questdb)
    assert days >= 0 and (rows["n"] > 0 or days == 0)

    # A model nobody registered has no champion: the tick then depends on the history only.
    fresh = bootstrap_tick(settings, questdb, model_name=f"no_such_model_{uuid.uuid4().hex[:8]}")
    assert isinstance(fresh, RunRequest) if days >= 44 else isinstance(fresh, SkipReason) and str(
        fresh.skip_message).endswith("days of history, training needs 44")
    assert champion(settings.mlflow_url, "load_forecaster_never_registered") == (False, "")

    dead = bootstrap_tick(settings.model_copy(update={"mlflow_port": 1}), questdb)  # nothing listens on port 1
    assert isinstance(dead, SkipReason) and str(dead.skip_message).startswith("MLflow unreachable at")
