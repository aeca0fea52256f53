"""Every bad token is refused (401, or 403 for a facility it does not grant); health and metrics stay open."""

from __future__ import annotations

import time
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from apps.api import dev_issuer
from sems.settings import Settings
from tests.apps.api.conftest import Get

CURRENT = "/v1/facilities/fac-001/current"


def _refused(api_get: Get, bearer: str | None, reason: str) -> None:
    response = api_get(CURRENT, bearer=bearer)
    assert response.status_code == 401, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert reason.lower() in response.json()["detail"].lower(), response.json()["detail"]


def test_a_valid_token_reads_its_facility(api_get: Get) -> None:
    response = api_get(CURRENT)
    assert response.status_code == 200, response.text
    assert response.json()["facility_id"] == "fac-001"


def test_missing_and_malformed_tokens_are_refused(api_get: Get) -> None:
    _refused(api_get, None, "bearer token is required")
    _refused(api_get, "not-a-jwt", "invalid token")


def test_expired_token_is_refused(settings: Settings, api_get: Get) -> None:
    now = int(time.time())
    expired = dev_issuer.mint(settings, ["fac-001"], iat=now - 3600, nbf=now - 3600, exp=now - 600)
    _refused(api_get, expired, "expired")


def test_not_yet_valid_token_is_refused(settings: Settings, api_get: Get) -> None:
    _refused(api_get, dev_issuer.mint(settings, ["fac-001"], nbf=int(time.time()) + 600), "not yet valid")


@pytest.mark.parametrize(("claim", "value", "reason"), [
    ("aud", "someone-elses-api", "audience"),
    ("iss", "https://evil.example/", "issuer"),
])
def test_wrong_audience_or_issuer_is_refused(settings: Settings, api_get: Get, claim: str, value: str,
                                             reason: str) -> None:
    claims: dict[str, Any] = {claim: value}
    _refused(api_get, dev_issuer.mint(settings, ["fac-001"], **claims), reason)


def test_forged_signature_is_refused(settings: Settings, api_get: Get) -> None:
    # Signed by another key but claiming the issuer's key id: only the signature check can catch it.
    forger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    _refused(api_get, dev_issuer.mint(settings, ["fac-001"], key=forger), "Signature verification failed")


def test_tampered_claims_are_refused(settings: Settings, api_get: Get) -> None:
    header, payload, signature = dev_issuer.mint(settings, ["fac-002"]).split(".")
    claims = jwt.decode(dev_issuer.mint(settings, ["fac-001"]), options={"verify_signature": False})
    forged_payload = jwt.utils.base64url_encode(jwt.api_jws.json.dumps(claims).encode()).decode()
    _refused(api_get, f"{header}.{forged_payload}.{signature}", "Signature verification failed")


def test_unknown_key_id_is_refused(settings: Settings, api_get: Get) -> None:
    _refused(api_get, dev_issuer.mint(settings, ["fac-001"], kid="rotated-away"), "Unable to find a signing key")


def test_unsigned_token_is_refused(settings: Settings, api_get: Get) -> None:
    claims = jwt.decode(dev_issuer.mint(settings, ["fac-001"]), options={"verify_signature": False})
    kid = dev_issuer.key_id(dev_issuer.private_key(settings))
    unsigned = jwt.encode(claims, key="", algorithm="none", headers={"kid": kid})
    _refused(api_get, unsigned, "invalid token")


def test_a_facility_outside_the_claim_is_forbidden(settings: Settings, api_get: Get) -> None:
    only_two = dev_issuer.mint(settings, ["fac-002"])
    for path in ("/current", "/forecast", "/dr-events"):
        response = api_get(f"/v1/facilities/fac-001{path}", bearer=only_two)
        assert response.status_code == 403, response.text
        assert "fac-001" in response.json()["detail"]
    assert [f["facility_id"] for f in api_get("/v1/facilities", bearer=only_two).json()] == ["fac-002"]


def test_health_metrics_and_openapi_need_no_token(api_get: Get) -> None:
    for path in ("/healthz", "/metrics", "/openapi.json", dev_issuer.JWKS_PATH):
        assert api_get(path, bearer=None).status_code == 200, path
