"""Test session wiring: the settings of the isolated test stack that `make test` started."""

from __future__ import annotations

import pytest

from sems.settings import Settings, get_settings


@pytest.fixture(scope="session")
def settings() -> Settings:
    """Settings of the running test stack (`SEMS_STATE_DIR=.sems-test`, ports offset by 1000)."""
    return get_settings()
