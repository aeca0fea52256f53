"""A local HTTP server speaking the wire formats of WeatherAPI.com, Open-Meteo and the NWS API.

The real services cannot be reached from tests, so this server answers their paths with
their JSON shapes; `mode` makes it healthy, slow, failing (HTTP 500) or garbled, and
`hits` counts requests per path so tests can see which provider was really called.
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlparse

HOURS = 72


def _hours() -> list[datetime]:
    start = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    return [start + timedelta(hours=i) for i in range(HOURS)]


def weatherapi_body() -> dict[str, Any]:
    hours = [{"time_epoch": int(t.timestamp()), "time": f"{t:%Y-%m-%d %H:%M}", "temp_c": 20.0 + t.hour % 5,
              "humidity": 60} for t in _hours()]
    return {"location": {"name": "Test"}, "forecast": {"forecastday": [{"date": "x", "hour": hours}]}}


def open_meteo_body() -> dict[str, Any]:
    hours = _hours()
    return {"latitude": 52.5, "hourly_units": {"temperature_2m": "°C"},
            "hourly": {"time": [int(t.timestamp()) for t in hours], "temperature_2m": [11.0] * len(hours),
                       "relative_humidity_2m": [70] * len(hours)}}


def nws_forecast_body() -> dict[str, Any]:
    periods = [{"number": i + 1, "startTime": (t - timedelta(hours=5)).replace(tzinfo=None).isoformat() + "-05:00",
                "temperature": 50, "temperatureUnit": "F", "relativeHumidity": {"unitCode": "wmoUnit:percent",
                                                                                "value": 80}}
               for i, t in enumerate(_hours())]
    return {"properties": {"periods": periods}}


class FakeWeather:
    """The server in a daemon thread; `url` is its base, `mode` what it does, `hits` what it saw."""

    def __init__(self) -> None:
        self.mode = "ok"
        self.delay_s = 1.0
        self.hits: Counter[str] = Counter()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - the http.server API
                fake.answer(self)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True  # closing must not wait for a deliberately slow answer
        self.server.block_on_close = False
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def answer(self, request: BaseHTTPRequestHandler) -> None:
        path = urlparse(request.path).path
        self.hits[path.split("/")[1] if path.startswith("/points") else path] += 1
        if self.mode == "slow":
            time.sleep(self.delay_s)  # the server side of a slow provider; the client's timeout must cut it
        if self.mode == "500":
            return self._send(request, 500, b'{"error": "internal"}')
        if self.mode == "garbage":
            return self._send(request, 200, b"<html>maintenance</html>")
        body = self._body(path)
        self._send(request, 200 if body is not None else 404, json.dumps(body or {}).encode())

    def _body(self, path: str) -> dict[str, Any] | None:
        if path.endswith("/forecast.json"):
            return weatherapi_body()
        if path == "/v1/forecast":
            return open_meteo_body()
        if path.startswith("/points/"):
            return {"properties": {"forecastHourly": f"{self.url}/gridpoints/TOP/31,80/forecast/hourly"}}
        if path.endswith("/forecast/hourly"):
            return nws_forecast_body()
        return None

    @staticmethod
    def _send(request: BaseHTTPRequestHandler, status: int, body: bytes) -> None:
        request.send_response(status)
        request.send_header("Content-Type", "application/json")
        request.send_header("Content-Length", str(len(body)))
        request.end_headers()
        request.wfile.write(body)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
