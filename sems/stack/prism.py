"""The Prism runner binary (Beam's portable runner in Go), built once with `go install` and cached.

Beam's Python SDK would download a release build from GitHub, which is unreachable here;
the Go module proxy is reachable, so the binary is built from the Beam module of the same
version as the Python SDK. The Beam job service installs it and hands its path to the runner.
"""

from __future__ import annotations

from pathlib import Path

from sems.settings import Settings
from sems.stack import installers

PACKAGE = "github.com/apache/beam/sdks/v2/go/cmd/prism"


def install(settings: Settings) -> None:
    """`Service.install` hook: make sure the binary exists (quick when cached)."""
    binary(settings)


def binary(settings: Settings) -> Path:
    """Path of the Prism binary for `settings.beam_version`, building it on first use."""
    return installers.go_binary(settings, PACKAGE, settings.beam_version, "prism")
