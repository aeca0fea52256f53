"""The restore drill (S5): restore a random archived day into a throw-away table and compare it with its manifest."""

from __future__ import annotations

import random
from datetime import UTC, datetime

from sems.archive.restore import RestoreReport, drop_scratch, restore_day
from sems.archive.store import ArchiveError, ArchiveStore
from sems.settings import Settings


def restore_drill(settings: Settings, store: ArchiveStore, rng: random.Random | None = None) -> RestoreReport:
    """Pick a random archived day, restore its raw readings, compare, and drop the scratch table again."""
    days = [day for day in store.days() if store.archived_versions(day)]
    if not days:
        raise ArchiveError(f"no archived day under {store.root}: nothing to drill")
    day = (rng or random.SystemRandom()).choice(days)
    table = f"drill_readings_{day:%Y%m%d}_{datetime.now(UTC):%H%M%S%f}"
    try:
        return restore_day(settings, store, day, "readings", table)
    finally:
        drop_scratch(settings, table)
