"""PostgreSQL of the local stack: a private cluster under the state dir, from the Debian package.

The cluster is created once with `initdb` and run in the foreground so the stack's
process manager owns it. Local (unix socket) access is `trust` but the socket lives in
a 0700 directory of the cluster's owner; TCP clients authenticate with a password.
After start: the application role and database, the Alembic migrations, the demo fleet.
"""

from __future__ import annotations

import pwd
import signal
import subprocess
import time
from pathlib import Path

import psycopg
from psycopg import sql

from sems.settings import Settings
from sems.stack import accounts, installers, process
from sems.stack.service import Service, StackError, data_dir, run_dir

SUPERUSER = "postgres"


def bin_dir() -> Path | None:
    """The newest installed PostgreSQL's bin dir (Debian puts each major version side by side)."""
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/postgres"), key=lambda p: int(p.parent.parent.name))
    return found[-1].parent if found else None


def _bin(name: str) -> str:
    directory = bin_dir()
    if directory is None:
        raise StackError("PostgreSQL binaries not found: run `apt-get install -y postgresql`")
    return str(directory / name)


def _account() -> pwd.struct_passwd | None:
    return accounts.daemon_account("postgres", "postgresql")


def cluster_dir(settings: Settings) -> Path:
    return data_dir(settings, "postgres")


def socket_dir(settings: Settings) -> Path:
    path = run_dir(settings) / "postgres"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _install(settings: Settings) -> None:
    installers.ensure_debian_packages(["postgresql"], present=bin_dir() is not None)


def _prepare(settings: Settings) -> None:
    """Hand the cluster and socket dirs to the postgres user and run initdb the first time."""
    account = _account()
    cluster, sockets = cluster_dir(settings), socket_dir(settings)
    accounts.check_reachable(account, cluster)
    accounts.hand_over(account, cluster, 0o700)
    accounts.hand_over(account, sockets, 0o700)
    if (cluster / "PG_VERSION").exists():
        _await_killed_postmaster(cluster)
        return
    initdb = [
        _bin("initdb"), "-D", str(cluster), "-U", SUPERUSER, "-E", "UTF8", "--locale=C",
        "--auth-local=trust", "--auth-host=scram-sha-256",
    ]
    try:
        done = subprocess.run(  # noqa: S603 - fixed command
            accounts.as_account(account, initdb), capture_output=True, text=True, timeout=120, check=False
        )
    except subprocess.TimeoutExpired as exc:
        raise StackError(f"initdb timed out; see {cluster}") from exc
    if done.returncode != 0:
        last = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
        raise StackError(f"initdb of {cluster} failed: {last[0][:200]}")


def _await_killed_postmaster(cluster: Path, timeout_s: float = 10.0) -> None:
    """Wait while the postmaster of postmaster.pid is a zombie (SIGKILLed, not yet reaped).

    PostgreSQL would take the zombie for a running server and refuse to start.
    """
    try:
        pid = int((cluster / "postmaster.pid").read_text(encoding="utf-8").splitlines()[0])
    except (OSError, ValueError, IndexError):
        return
    deadline = time.monotonic() + timeout_s
    while Path(f"/proc/{pid}").exists() and not process.pid_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)


def _command(settings: Settings) -> list[str]:
    server = [
        _bin("postgres"), "-D", str(cluster_dir(settings)), "-k", str(socket_dir(settings)),
        "-p", str(settings.postgres_port), "-h", settings.host,
        # Durable, modest: this shares two cores and a few GB with the rest of the stack.
        "-c", "fsync=on", "-c", "synchronous_commit=on", "-c", "full_page_writes=on",
        "-c", "shared_buffers=128MB", "-c", "work_mem=8MB", "-c", "maintenance_work_mem=64MB",
        "-c", "max_connections=100", "-c", "unix_socket_permissions=0700", "-c", "timezone=UTC",
        "-c", "log_timezone=UTC", "-c", "password_encryption=scram-sha-256",
    ]
    return accounts.as_account(_account(), server)


def admin_connection(settings: Settings) -> psycopg.Connection:
    """A superuser connection over the private unix socket (autocommit, for CREATE DATABASE)."""
    return psycopg.connect(
        host=str(socket_dir(settings)), port=settings.postgres_port, user=SUPERUSER, dbname="postgres",
        connect_timeout=max(1, round(settings.postgres_timeout_s)), autocommit=True,
    )


def _healthy(settings: Settings) -> bool:
    """pg_isready over TCP: the server accepts connections on the address clients use."""
    try:
        done = subprocess.run(  # noqa: S603 - fixed command
            [_bin("pg_isready"), "-q", "-h", settings.host, "-p", str(settings.postgres_port), "-t", "2"],
            timeout=4, check=False,
        )
    except (subprocess.TimeoutExpired, StackError, OSError):
        return False
    return done.returncode == 0


def ensure_role_and_database(settings: Settings) -> None:
    """Create (or re-password) the application role and create its database; idempotent."""
    role, password = settings.postgres_user, settings.postgres_password.get_secret_value()
    with admin_connection(settings) as conn:
        exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)).fetchone()
        # CREATEDB: integration tests create scratch databases to prove migrations round-trip.
        statement = "ALTER ROLE {} LOGIN CREATEDB PASSWORD {}"
        if not exists:
            statement = "CREATE ROLE {} LOGIN CREATEDB PASSWORD {}"
        conn.execute(sql.SQL(statement).format(sql.Identifier(role), sql.Literal(password)))
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (settings.postgres_db,)).fetchone():
            conn.execute(sql.SQL("CREATE DATABASE {} OWNER {}").format(
                sql.Identifier(settings.postgres_db), sql.Identifier(role)))


def _after_start(settings: Settings) -> None:
    # Imported here: Alembic and the seed are only needed once the server runs.
    from sems.stores import postgres as store
    from sems.stores import seed

    ensure_role_and_database(settings)
    store.migrate(settings)
    seed.seed_demo_fleet(settings)


SERVICE = Service(
    name="postgres",
    port_setting="postgres_port",
    command=_command,
    healthy=_healthy,
    url=lambda s: f"postgresql://{s.postgres_user}@{s.host}:{s.postgres_port}/{s.postgres_db}",
    install=_install,
    prepare=_prepare,
    after_start=_after_start,
    # Fast shutdown: SIGTERM ("smart") would wait for every client to disconnect.
    stop_signal=signal.SIGINT,
)
