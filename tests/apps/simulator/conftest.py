"""The simulator's integration tests watch Kafka with the bridge tests' tail fixture."""

from tests.streaming.bridge.conftest import tail  # noqa: F401 - re-exported fixture
