"""The running API against its own OpenAPI spec (schemathesis): documented statuses, content types and shapes.

The spec comes from the application code (no network at collection); the calls go over HTTP
to the stack's API service, with a token for every demo facility.
"""

from __future__ import annotations

import hypothesis
import schemathesis

from apps.api.main import create_app
from sems.settings import Settings, get_settings

# The read API and health; the DR webhook (signed by utilities, not JWT) has tests of its own.
schema = schemathesis.openapi.from_dict(create_app(get_settings()).openapi()).include(
    path_regex=r"^/(v1/facilities|healthz)"
)


@schema.parametrize()
@hypothesis.settings(max_examples=8, deadline=None, suppress_health_check=list(hypothesis.HealthCheck))
def test_every_operation_conforms_to_the_spec(case: schemathesis.Case, settings: Settings, token: str) -> None:
    case.call_and_validate(base_url=f"http://{settings.host}:{settings.api_port}",
                           headers={"Authorization": f"Bearer {token}"})
