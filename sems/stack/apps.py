"""The project's own Python services: API, bridge, Beam job, simulator, Streamlit.

The simulator is also every demo facility's SOAP BMS (`bms_port`, `/bms/<facility_id>`,
with fault injection): one process, so BMS commands change the meter readings it publishes.

Each runs with this interpreter (the project's venv), reads the same `SEMS_*` settings
that `controller.child_env` passes down, and exposes an HTTP health endpoint.
Dagster and MLflow have modules of their own (`dagster.py`, `mlflow.py`).
"""

from __future__ import annotations

from sems.stack import prism
from sems.stack.controller import python_module
from sems.stack.health import http_link, http_probe
from sems.stack.service import Service

API = Service(
    name="api",
    port_setting="api_port",
    command=lambda s: python_module(
        "uvicorn", "apps.api.main:app", "--host", s.host, "--port", str(s.api_port), "--no-access-log",
        "--workers", str(s.api_workers),
    ),
    healthy=http_probe("api_port", "/healthz"),
    url=http_link("api_port", "/docs"),
)

BEAM_JOB = Service(
    name="beam-job",
    port_setting="beam_job_port",
    command=lambda s: python_module("streaming.beam_job"),
    install=prism.install,
    healthy=http_probe("beam_job_port", "/healthz"),
    url=http_link("beam_job_port", "/metrics"),
)

BRIDGE = Service(
    name="bridge",
    port_setting="bridge_port",
    command=lambda s: python_module("streaming.bridge"),
    healthy=http_probe("bridge_port", "/healthz"),
    url=http_link("bridge_port", "/metrics"),
)

SIMULATOR = Service(
    name="simulator",
    port_setting="simulator_port",
    command=lambda s: python_module("apps.simulator"),
    extra_port_settings=("bms_port",),
    healthy=http_probe("simulator_port", "/healthz"),
    url=http_link("simulator_port", "/metrics"),
)

STREAMLIT = Service(
    name="streamlit",
    port_setting="streamlit_port",
    command=lambda s: python_module(
        "streamlit", "run", "apps/streamlit/app.py",
        "--server.address", s.host, "--server.port", str(s.streamlit_port),
        "--server.headless", "true", "--browser.gatherUsageStats", "false",
    ),
    healthy=http_probe("streamlit_port", "/_stcore/health"),
    url=http_link("streamlit_port"),
)

# Start order: consumers before producers, so nothing the simulator publishes waits long.
SERVICES = [API, BEAM_JOB, BRIDGE, SIMULATOR, STREAMLIT]
