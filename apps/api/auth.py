"""JWT bearer authentication (N2): signature via a JWKS over HTTP, `exp`, `nbf`, `iss`, `aud`, facility scope.

The `facility_ids` claim lists the facilities a caller may read; a request for any other
facility is 403. A bad or missing token is 401 with `WWW-Authenticate: Bearer`; a JWKS
that cannot be fetched is 503 (we cannot tell good tokens from bad ones, so we refuse both).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Annotated

import jwt
from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool

from apps.api.dev_issuer import JWKS_PATH
from sems.settings import Settings

_bearer = HTTPBearer(auto_error=False, description="An RS256 JWT with a `facility_ids` claim")
_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="sems-api"'}


@dataclass(frozen=True)
class Principal:
    """Who is calling and which facilities they may see."""

    subject: str
    facility_ids: frozenset[str]

    def require(self, facility_id: str) -> None:
        if facility_id not in self.facility_ids:
            raise HTTPException(403, f"the token does not grant access to facility {facility_id}")


def jwks_url(settings: Settings) -> str:
    """The configured JWKS (Auth0 in production), else the development issuer's, served by this API."""
    if settings.auth_jwks_url:
        return settings.auth_jwks_url
    if settings.env == "production":
        raise ValueError("SEMS_AUTH_JWKS_URL must be set in production (the development issuer is refused there)")
    return f"http://{settings.host}:{settings.api_port}{JWKS_PATH}"


def jwk_client(settings: Settings) -> jwt.PyJWKClient:
    """Caches the key set; an unknown `kid` refetches it (at most once per cooldown), so key rotation works."""
    return jwt.PyJWKClient(jwks_url(settings), cache_jwk_set=True, lifespan=settings.auth_jwks_cache_s,
                           timeout=settings.auth_jwks_timeout_s)


class ValidatedTokens:
    """Tokens already validated, kept until `exp` (at most the JWKS cache lifetime): RS256 once per token.

    Bounded: when full it is emptied, which only costs re-validation.
    """

    def __init__(self, settings: Settings, max_tokens: int = 10_000) -> None:
        self.settings = settings
        self.max_tokens = max_tokens
        self._seen: dict[str, tuple[Principal, float]] = {}

    def known(self, token: str) -> Principal | None:
        seen = self._seen.get(token)
        return seen[0] if seen is not None and time.time() < seen[1] else None

    def validate(self, client: jwt.PyJWKClient, token: str) -> Principal:
        principal, expires_at = decode(self.settings, client, token)
        if len(self._seen) >= self.max_tokens:
            self._seen.clear()
        self._seen[token] = (principal, min(expires_at, time.time() + self.settings.auth_jwks_cache_s))
        return principal


def decode(settings: Settings, client: jwt.PyJWKClient, token: str) -> tuple[Principal, float]:
    """Validate `token` fully: the principal and its expiry; raises HTTPException 401/503 with the reason."""
    try:
        key = client.get_signing_key_from_jwt(token)
    except jwt.PyJWKClientConnectionError as exc:
        raise HTTPException(503, f"cannot fetch the JWKS to validate tokens: {exc}") from exc
    except (jwt.PyJWKClientError, jwt.DecodeError) as exc:
        raise HTTPException(401, f"invalid token: {exc}", headers=_CHALLENGE) from exc
    try:
        claims = jwt.decode(
            token, key.key, algorithms=list(settings.auth_algorithms), audience=settings.auth_audience,
            issuer=settings.auth_issuer, leeway=settings.auth_leeway_s,
            options={"require": ["exp", "iss", "aud", "sub"], "verify_nbf": True},
        )
    except jwt.InvalidTokenError as exc:
        raise HTTPException(401, f"invalid token: {exc}", headers=_CHALLENGE) from exc
    scope = claims.get("facility_ids", [])
    if not isinstance(scope, list) or not all(isinstance(f, str) for f in scope):
        raise HTTPException(401, "invalid token: facility_ids must be a list of facility ids", headers=_CHALLENGE)
    return Principal(subject=str(claims["sub"]), facility_ids=frozenset(scope)), float(claims["exp"])


async def current_principal(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> Principal:
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise HTTPException(401, "a bearer token is required", headers=_CHALLENGE)
    # The JWKS fetch is blocking HTTP (and may reach this very process in development): off the event loop.
    tokens: ValidatedTokens = request.app.state.validated_tokens
    known = tokens.known(credentials.credentials)
    if known is not None:
        return known
    return await run_in_threadpool(tokens.validate, request.app.state.jwk_client, credentials.credentials)


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]
