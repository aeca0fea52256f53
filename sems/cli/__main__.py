"""`python -m sems.cli` runs the `sems` command."""

from sems.cli.main import app

app()
