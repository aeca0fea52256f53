"""The running API against its own OpenAPI spec (schemathesis): documented statuses, content types and shapes.

The spec comes from the application code (no network at collection); the calls go over HTTP
to the stack's API service. Reads carry a token for every demo facility. The DR webhook is
fuzzed from the body forms its spec documents (and checked against the refusals it documents),
with every generated request signed the way a utility signs it (Standard Webhooks, the stack's
secret) so the fuzz reaches parsing and intake instead of stopping at the signature.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

import hypothesis
import requests
import schemathesis
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from apps.api.dr.openadr import Notification
from apps.api.dr.payloads import PlainEvent
from apps.api.dr.signatures import sign
from apps.api.main import create_app
from apps.api.problems import PROBLEM_JSON
from sems.settings import Settings, get_settings

WEBHOOK = "/v1/dr/events"

schema = schemathesis.openapi.from_dict(create_app(get_settings()).openapi())
reads = schema.include(path_regex=r"^/(v1/facilities|v1/dr/facilities|healthz)")
webhook = schema.include(path_regex=r"^/v1/dr/events")


class SignedSession(requests.Session):
    """Signs each prepared request over its exact body bytes, with a fresh delivery id and timestamp."""

    def __init__(self, secret: str) -> None:
        super().__init__()
        self.secret = secret

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        body = request.body or b""
        body = body.encode() if isinstance(body, str) else body
        webhook_id, stamp = f"msg_{uuid.uuid4().hex}", int(time.time())
        request.headers.update({"webhook-id": webhook_id, "webhook-timestamp": str(stamp),
                                "webhook-signature": sign(self.secret, webhook_id, stamp, body)})
        return super().send(request, **kwargs)


def _no_5xx_and_problems_for_4xx(response: schemathesis.Response) -> None:
    assert response.status_code < 500, response.text
    if 400 <= response.status_code < 500:
        content_type = response.headers.get("content-type", [])  # schemathesis keeps every value of a header
        assert content_type == [PROBLEM_JSON], (response.status_code, content_type, response.text)
        assert response.json()["status"] == response.status_code


@reads.parametrize()
@hypothesis.settings(max_examples=8, deadline=None, suppress_health_check=list(hypothesis.HealthCheck))
def test_every_read_operation_conforms_to_the_spec(case: schemathesis.Case, settings: Settings, token: str) -> None:
    response = case.call_and_validate(base_url=f"http://{settings.host}:{settings.api_port}",
                                      headers={"Authorization": f"Bearer {token}"})
    _no_5xx_and_problems_for_4xx(response)


@webhook.parametrize()
@hypothesis.settings(max_examples=40, deadline=None, suppress_health_check=list(hypothesis.HealthCheck))
def test_the_signed_dr_webhook_never_fails_and_refuses_with_problem_documents(
    case: schemathesis.Case, settings: Settings
) -> None:
    secret = next(iter(settings.dr_webhook_secrets.values())).get_secret_value()
    with SignedSession(secret) as session:
        response = case.call(base_url=f"http://{settings.host}:{settings.api_port}", session=session)
    # Every refusal is documented now: its status, its content type and the problem document's shape are checked.
    case.validate_response(response, checks=[not_a_server_error, status_code_conformance, content_type_conformance,
                                             response_schema_conformance])
    if case.method == "POST":
        assert response.status_code != 401, response.text  # every request was signed: refusals come from the body
    _no_5xx_and_problems_for_4xx(response)


def test_the_webhook_documents_both_body_forms_with_examples_and_its_problem_answers() -> None:
    operation = create_app(get_settings()).openapi()["paths"][WEBHOOK]["post"]
    body = operation["requestBody"]["content"]["application/json"]
    titles = {branch.get("title") for branch in body["schema"]["anyOf"]}
    assert titles == {"PlainEvent", "Notification"}
    assert PlainEvent.model_validate(body["examples"]["plain"]["value"])
    assert Notification.model_validate(body["examples"]["openadr3"]["value"])
    refusals = {int(code) for code in operation["responses"]} - {202}
    assert refusals == {400, 401, 403, 409, 413, 422, 500, 503}
    for code in refusals:
        problem_schema = operation["responses"][str(code)]["content"][PROBLEM_JSON]["schema"]
        assert problem_schema == {"$ref": "#/components/schemas/ProblemDocument"}
