"""Quick health probes used by the stack: TCP accept and HTTP 2xx, each with a short timeout."""

from __future__ import annotations

import socket
import urllib.error
import urllib.request

PROBE_TIMEOUT_S = 2.0


def tcp_open(host: str, port: int, timeout_s: float = PROBE_TIMEOUT_S) -> bool:
    """True if something accepts TCP connections on host:port."""
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            return True
    except OSError:
        return False


def http_ok(url: str, timeout_s: float = PROBE_TIMEOUT_S) -> bool:
    """True if GET `url` answers 2xx within the timeout."""
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as response:  # noqa: S310 - loopback URLs from settings
            return 200 <= int(response.status) < 300
    except (urllib.error.URLError, OSError, ValueError):
        return False


def port_free(host: str, port: int) -> bool:
    """True if nothing listens on host:port (so a service of ours may bind it)."""
    return not tcp_open(host, port, timeout_s=0.5)


def http_probe(port_setting: str, path: str):  # type: ignore[no-untyped-def]
    """A `Service.healthy` that GETs http://host:<settings.port_setting><path>."""
    return lambda s: http_ok(f"http://{s.host}:{getattr(s, port_setting)}{path}")


def http_link(port_setting: str, path: str = ""):  # type: ignore[no-untyped-def]
    """A `Service.url` for the status table."""
    return lambda s: f"http://{s.host}:{getattr(s, port_setting)}{path}"
