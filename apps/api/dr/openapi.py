"""What the OpenAPI spec says about the DR webhook: its two body forms with examples, its 202 and its refusals.

The route reads the raw body (the signature is verified over the exact bytes before anything is
parsed), so FastAPI cannot infer the body from a parameter: it is documented here from the very
models the body is parsed with, and the route's wire behaviour stays what it is.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, TypeAdapter

from apps.api.dr.openadr import Notification
from apps.api.dr.payloads import PlainEvent
from apps.api.problems import documented


class EventAccepted(BaseModel):
    """The 202: the event revision is persisted; its saga state is at `status_url`."""

    event_id: str
    revision: int
    operation: Literal["upsert", "cancel"]
    status_url: str


PLAIN_EXAMPLE = {
    "event_id": "peak-2026-06-02", "revision": 0, "facility_ids": ["fac-001", "fac-002"],
    "start": "2026-06-02T17:00:00Z", "end": "2026-06-02T18:00:00Z", "target_reduction_kw": 120,
    "callback_url": "https://utility.example/openadr3/reports",
}
OPENADR3_EXAMPLE = {
    "objectType": "EVENT", "operation": "POST", "object": {
        "id": "evt-42", "objectType": "EVENT", "programID": "peak-rebate",
        "modificationDateTime": "2026-06-01T12:00:00Z",
        "intervalPeriod": {"start": "2026-06-02T17:00:00Z", "duration": "PT30M"},
        "targets": [{"type": "RESOURCE_NAME", "values": ["fac-003"]}],
        "intervals": [{"id": 0, "payloads": [{"type": "SIMPLE", "values": [1]}]},
                      {"id": 1, "payloads": [{"type": "SIMPLE", "values": [2]}]}]}}


def _inlined(schema: dict[str, Any]) -> dict[str, Any]:
    """The schema with its `$defs` references replaced by the definitions (a route cannot add components)."""
    definitions = schema.pop("$defs", {})

    def resolve(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref", "")
            if ref.startswith("#/$defs/"):
                return resolve(definitions[ref.removeprefix("#/$defs/")])
            return {key: resolve(value) for key, value in node.items()}
        if isinstance(node, list):
            return [resolve(item) for item in node]
        return node

    return dict(resolve(schema))


WEBHOOK_BODY: dict[str, Any] = {"requestBody": {"required": True, "content": {"application/json": {
    "schema": _inlined(TypeAdapter(PlainEvent | Notification).json_schema()),
    "examples": {
        "plain": {"summary": "plain JSON event (revision 0; a higher revision updates, status cancelled cancels)",
                  "value": PLAIN_EXAMPLE},
        "openadr3": {"summary": "OpenADR 3 EVENT notification (POST/PUT create or update, DELETE cancels)",
                     "value": OPENADR3_EXAMPLE},
    },
}}}}

WEBHOOK_RESPONSES: dict[int | str, dict[str, Any]] = {
    202: {"model": EventAccepted, "description": "accepted (or this revision again: the stored answer); "
                                                 "Location is the status URL"},
    400: documented("the body is not JSON"),
    401: documented("webhook-id, webhook-timestamp or webhook-signature missing; timestamp outside the "
                    "tolerance; no signature matches the secret of any configured utility"),
    403: documented("the event belongs to another utility"),
    409: documented("the webhook-id was delivered before (replay), or the revision is older than the stored one"),
    413: documented("the body is larger than the configured limit"),
    422: documented("neither form validates (`errors` lists why), or unknown facility ids (`unknown_facilities`)"),
    500: documented("unexpected error; the log has the details under `trace_id`"),
    503: documented("the control-plane database (PostgreSQL) is unavailable; see Retry-After"),
}
