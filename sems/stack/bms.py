"""The simulated BMSs (SOAP, one endpoint per facility) as a service of the local stack.

Production talks to real building management systems at `bms_url_template`; locally and
in tests every facility's BMS is `python -m apps.simulator.bms`, with fault injection.
"""

from __future__ import annotations

from sems.stack.controller import python_module
from sems.stack.health import http_link, http_probe
from sems.stack.service import Service

SERVICE = Service(
    name="bms-simulator",
    port_setting="bms_port",
    command=lambda s: python_module("apps.simulator.bms"),
    # /healthz answers from the same threaded server that serves SOAP.
    healthy=http_probe("bms_port", "/healthz"),
    url=http_link("bms_port", "/bms/fac-001?wsdl"),
)
