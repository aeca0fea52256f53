"""`sems archive ...`: restore a day by hand, verify every manifest, time archive + restore.

Problems an operator can act on (a missing or damaged archive, a taken table name, an
unreachable store) end with one line on stderr and exit code 1.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Annotated, TypeVar

import typer
from botocore.exceptions import BotoCoreError, ClientError

from sems.archive.restore import restore_day
from sems.archive.store import ArchiveError, open_store
from sems.archive.verify import verify_store
from sems.settings import get_settings
from sems.stores.questdb import QuestDBError

app = typer.Typer(help="Parquet archives: restore a day, verify every manifest.", no_args_is_help=True)
T = TypeVar("T")
Day = Annotated[datetime, typer.Option("--day", formats=["%Y-%m-%d"], help="UTC day, YYYY-MM-DD.")]
Root = Annotated[str | None, typer.Option("--root", help="Archive root (default: SEMS_ARCHIVE_ROOT).")]


def one_line_errors(action: Callable[[], T]) -> T:
    """Run `action`; an archive, QuestDB or store problem becomes one line on stderr and exit 1."""
    try:
        return action()
    except (ArchiveError, QuestDBError, OSError, ValueError, BotoCoreError, ClientError) as exc:
        typer.echo(f"error: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}", err=True)
        raise typer.Exit(1) from None


@app.command("restore")
def restore(
    day: Day,
    table: Annotated[str | None, typer.Option(help="New scratch table (default restore_<dataset>_<day>).")] = None,
    dataset: Annotated[str, typer.Option(help="Archived QuestDB table to restore.")] = "readings",
    root: Root = None,
) -> None:
    """Restore one archived day into a new scratch QuestDB table and compare it with the manifest."""
    settings = get_settings()
    report = one_line_errors(lambda: restore_day(settings, open_store(settings, root), day.date(), dataset, table))
    if not report.ok:
        typer.echo(f"error: restore of {report.day} into {report.table} differs: {'; '.join(report.mismatches)}",
                   err=True)
        raise typer.Exit(1)
    typer.echo(f"restored {report.rows} rows of {report.dataset} {report.day} v{report.version} into "
               f"{report.table}: matches the manifest")


@app.command("verify")
def verify(root: Root = None) -> None:
    """Re-check every archived file against its manifest (presence, size, sha256, rows). Exit 1 on any problem."""
    settings = get_settings()
    checks = one_line_errors(lambda: verify_store(open_store(settings, root)))
    for check in checks:
        status = "ok" if check.ok else "FAILED"
        typer.echo(f"{check.day} v{check.version:04d} {status} {check.rows} rows")
        for problem in check.problems:
            typer.echo(f"error: {problem}", err=True)
    failed = [c for c in checks if not c.ok]
    typer.echo(f"{len(checks)} versions checked, {len(failed)} failed")
    if failed:
        raise typer.Exit(1)


def bench(
    meters: Annotated[int, typer.Option(help="Meters in the synthetic day (10,000 = the target's 57.6 M rows).")],
    day: Day,
    root: Root = None,
) -> None:
    """Load a synthetic day of N meters at 15 s, time its archive and its restore, print rows/s; then drop it all."""
    from sems.archive import bench as archive_bench

    settings = get_settings()
    store = one_line_errors(lambda: open_store(settings, root or str(settings.state / "bench-archive")))
    figures = one_line_errors(lambda: archive_bench.run(settings, store, day.date(), meters, progress=typer.echo))
    rows = figures["rows"]
    typer.echo(f"load: {figures['loaded']:,.0f} rows in {figures['load_s']:.1f} s, "
               f"{figures['loaded'] / figures['load_s']:,.0f} rows/s (not a target; ILP/HTTP + WAL apply)")
    typer.echo(f"meters={meters} rows={rows:.0f} parquet_bytes={figures['bytes']:.0f} "
               f"restore_matches_manifest={bool(figures['restore_ok'])}")
    typer.echo(f"archive: {figures['archive_s']:.1f} s, {rows / figures['archive_s']:,.0f} rows/s")
    typer.echo(f"restore: {figures['restore_s']:.1f} s, {rows / figures['restore_s']:,.0f} rows/s")
