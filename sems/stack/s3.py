"""A local S3-compatible object store (moto's server) for the archive: `s3://` exactly as in production.

State is in memory: objects vanish when the server stops. Production points
`SEMS_S3_ENDPOINT_URL` at a real object store; locally this server exists so the archive
path through s3fs (multipart uploads, listings, read-back) is exercised over the real wire.
"""

from __future__ import annotations

import botocore.exceptions

from sems.settings import Settings
from sems.stack.controller import python_module
from sems.stack.health import http_link
from sems.stack.service import Service


def client(settings: Settings):  # type: ignore[no-untyped-def]
    """A boto3 S3 client for the configured endpoint, with short timeouts."""
    import boto3
    from botocore.config import Config

    return boto3.client(
        "s3", endpoint_url=settings.s3_url, region_name="us-east-1",
        aws_access_key_id=settings.s3_access_key, aws_secret_access_key=settings.s3_secret_key.get_secret_value(),
        config=Config(
            connect_timeout=settings.s3_timeout_s, read_timeout=settings.s3_timeout_s, retries={"max_attempts": 1}
        ),
    )


def _healthy(settings: Settings) -> bool:
    """The server answers a real S3 call (ListBuckets), not just a TCP accept."""
    try:
        client(settings).list_buckets()
        return True
    except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError):
        return False


def ensure_bucket(settings: Settings) -> None:
    """Create the archive bucket if it is missing (idempotent)."""
    s3 = client(settings)
    names = {b["Name"] for b in s3.list_buckets().get("Buckets", [])}
    if settings.s3_bucket not in names:
        s3.create_bucket(Bucket=settings.s3_bucket)


SERVICE = Service(
    name="s3",
    port_setting="s3_port",
    command=lambda s: python_module("moto.server", "-H", s.host, "-p", str(s.s3_port)),
    healthy=_healthy,
    url=http_link("s3_port"),
    after_start=ensure_bucket,
)
