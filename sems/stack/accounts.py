"""System accounts for Debian daemons that refuse to run as root (PostgreSQL) or drop to their own user (Mosquitto).

When `sems` runs as root, such a daemon runs as its package's system user: the files it
needs are handed over to that user, and every directory above them must let it pass.
When `sems` runs as an ordinary user, the daemon simply runs as that user.
"""

from __future__ import annotations

import os
import pwd
import stat
from collections.abc import Sequence
from pathlib import Path

from sems.stack.service import StackError


def daemon_account(user: str, package: str) -> pwd.struct_passwd | None:
    """The system user a daemon runs as when we are root; None when we are not root (it runs as us)."""
    if os.geteuid() != 0:
        return None
    try:
        return pwd.getpwnam(user)
    except KeyError:
        raise StackError(f"system user {user!r} is missing: run `apt-get install --reinstall -y {package}`") from None


def as_account(account: pwd.struct_passwd | None, argv: Sequence[str]) -> list[str]:
    """`argv` run as `account`; setpriv execs in place, so the recorded pid is the daemon itself."""
    if account is None:
        return list(argv)
    return ["setpriv", f"--reuid={account.pw_uid}", f"--regid={account.pw_gid}", "--init-groups", "--", *argv]


def hand_over(account: pwd.struct_passwd | None, path: Path, mode: int) -> None:
    """Give `path` to `account` (when we are root) with `mode`, so the daemon can use it."""
    if account is not None and (path.stat().st_uid, path.stat().st_gid) != (account.pw_uid, account.pw_gid):
        os.chown(path, account.pw_uid, account.pw_gid)
    path.chmod(mode)


def check_reachable(account: pwd.struct_passwd | None, path: Path) -> None:
    """Fail with a one-line fix if a directory above `path` does not let `account` through."""
    if account is None:
        return
    groups = set(os.getgrouplist(account.pw_name, account.pw_gid))
    for parent in path.resolve().parents:
        st = parent.stat()
        if st.st_uid == account.pw_uid:
            allowed = bool(st.st_mode & stat.S_IXUSR)
        elif st.st_gid in groups:
            allowed = bool(st.st_mode & stat.S_IXGRP)
        else:
            allowed = bool(st.st_mode & stat.S_IXOTH)
        if not allowed:
            raise StackError(
                f"{account.pw_name} cannot reach {path}: run `chmod o+x {parent}` or set SEMS_STATE_DIR elsewhere"
            )
