"""The development token issuer: an RSA key pair under the state dir, its JWKS, and tokens signed with it.

Production validates Auth0 tokens against the tenant's JWKS (`SEMS_AUTH_JWKS_URL`); outside
production, with no JWKS URL set, the API serves this issuer's public key at
`/.well-known/jwks.json` and validates against it over HTTP, the same path production takes.
`sems api-token` mints a token for a developer or a test.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from sems.settings import Settings

JWKS_PATH = "/.well-known/jwks.json"


def key_path(settings: Settings) -> Path:
    return settings.state / "auth" / "dev-issuer.pem"


def private_key(settings: Settings) -> rsa.RSAPrivateKey:
    """The issuer's key, created on first use (0600); every process of one stack shares it."""
    path = key_path(settings)
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
        # Write then rename: a concurrent reader never sees half a key.
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_bytes(pem)
        tmp.chmod(0o600)
        tmp.replace(path)
    loaded = serialization.load_pem_private_key(path.read_bytes(), password=None)
    assert isinstance(loaded, rsa.RSAPrivateKey)
    return loaded


def key_id(key: rsa.RSAPrivateKey) -> str:
    """RFC 7638 thumbprint of the public key: stable across restarts, new with a new key."""
    import base64
    import hashlib
    import json

    jwk = json.loads(RSAAlgorithm.to_jwk(key.public_key()))
    canonical = json.dumps({k: jwk[k] for k in ("e", "kty", "n")}, separators=(",", ":"), sort_keys=True)
    return base64.urlsafe_b64encode(hashlib.sha256(canonical.encode()).digest()).rstrip(b"=").decode()


def jwks(settings: Settings) -> dict[str, Any]:
    """The public JWKS document of the development issuer."""
    key = private_key(settings)
    jwk = RSAAlgorithm.to_jwk(key.public_key(), as_dict=True)
    return {"keys": [{**jwk, "kid": key_id(key), "use": "sig", "alg": "RS256"}]}


def mint(
    settings: Settings,
    facility_ids: Sequence[str],
    *,
    subject: str = "dev-analyst",
    ttl_s: float = 3600.0,
    key: rsa.RSAPrivateKey | None = None,
    **overrides: Any,
) -> str:
    """A signed RS256 token for `facility_ids`; `overrides` replace claims or headers (`kid`) for tests."""
    signing_key = key or private_key(settings)
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": settings.auth_issuer, "aud": settings.auth_audience, "sub": subject,
        "iat": now, "nbf": now, "exp": now + int(ttl_s), "facility_ids": list(facility_ids),
    }
    kid = overrides.pop("kid", key_id(private_key(settings)))
    claims.update(overrides)
    return jwt.encode(claims, signing_key, algorithm="RS256", headers={"kid": kid})
