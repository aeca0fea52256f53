"""Standard Webhooks signatures (https://www.standardwebhooks.com): which utility signed a delivery.

A delivery carries `webhook-id`, `webhook-timestamp` (Unix seconds) and
`webhook-signature` (space-separated `v1,<base64 HMAC-SHA256>` of "{id}.{timestamp}.{body}").
Each utility has its own secret (`whsec_` + base64 of the key); the signature that verifies
names the utility. Timestamps outside the tolerance are refused before any HMAC, so an old
captured request cannot be replayed later; a replay inside the window is caught by the
delivery id (see `intake`).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import time
from collections.abc import Mapping

from pydantic import SecretStr

SECRET_PREFIX = "whsec_"


class SignatureError(Exception):
    """The delivery is not authentic (or not fresh); the message is the precise reason."""


def secret_key(secret: str) -> bytes:
    """The HMAC key of a `whsec_...` secret."""
    try:
        return base64.b64decode(secret.removeprefix(SECRET_PREFIX), validate=True)
    except binascii.Error as exc:
        raise ValueError("a webhook secret must be 'whsec_' followed by base64") from exc


def sign(secret: str, webhook_id: str, timestamp: int, body: bytes) -> str:
    """The `webhook-signature` header value for a delivery (what a utility sends; used by tests and the bench)."""
    mac = hmac.new(secret_key(secret), f"{webhook_id}.{timestamp}.".encode() + body, hashlib.sha256)
    return "v1," + base64.b64encode(mac.digest()).decode()


def verify(
    secrets: Mapping[str, SecretStr], headers: Mapping[str, str], body: bytes, *, tolerance_s: int,
    now: float | None = None,
) -> str:
    """The utility whose secret signed this delivery; raises `SignatureError` with the reason otherwise."""
    webhook_id, stamp, signatures = (headers.get(h) for h in ("webhook-id", "webhook-timestamp", "webhook-signature"))
    missing = [h for h, v in (("webhook-id", webhook_id), ("webhook-timestamp", stamp),
                              ("webhook-signature", signatures)) if not v]
    if missing:
        raise SignatureError(f"missing header(s): {', '.join(missing)}")
    assert webhook_id and stamp and signatures
    try:
        timestamp = int(stamp)
    except ValueError as exc:
        raise SignatureError("webhook-timestamp must be Unix seconds") from exc
    skew = (time.time() if now is None else now) - timestamp
    if abs(skew) > tolerance_s:
        raise SignatureError(f"webhook-timestamp is {skew:+.0f} s from now; allowed +/- {tolerance_s} s")
    offered = [s.split(",", 1)[1] for s in signatures.split() if s.startswith("v1,")]
    if not offered:
        raise SignatureError("webhook-signature has no 'v1,<base64>' signature")
    for utility_id, secret in secrets.items():
        expected = sign(secret.get_secret_value(), webhook_id, timestamp, body).split(",", 1)[1]
        if any(hmac.compare_digest(expected, candidate) for candidate in offered):
            return utility_id
    raise SignatureError("no signature matches the secret of any configured utility")
