"""The development issuer's JWKS (absent when a production JWKS URL is configured)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from apps.api import dev_issuer
from apps.api.deps import SettingsDep

router = APIRouter(tags=["auth"])


@router.get(dev_issuer.JWKS_PATH, include_in_schema=False)
def jwks(settings: SettingsDep) -> dict[str, Any]:
    """The public keys that sign development tokens."""
    return dev_issuer.jwks(settings)
