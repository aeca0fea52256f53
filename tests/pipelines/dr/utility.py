"""A local stand-in for a utility's OpenADR 3 report endpoint: records each POSTed report, fails the first N."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class Utility:
    """`POST /openadr3/reports`: answers 503 to the first `failures` requests, then 201 with the report (VTN style)."""

    def __init__(self, host: str, failures: int = 0) -> None:
        self.received: list[dict[str, Any]] = []
        self.answers: list[int] = []
        self.failures = failures
        utility = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's hook
                report = json.loads(self.rfile.read(int(self.headers["content-length"])))
                status = 503 if len(utility.answers) < utility.failures else 201
                utility.received.append(report)
                utility.answers.append(status)
                body = json.dumps(report if status == 201 else {"title": "busy"}).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                """Quiet."""

        self.server = ThreadingHTTPServer((host, 0), Handler)
        self.url = f"http://{host}:{self.server.server_address[1]}/openadr3/reports"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
