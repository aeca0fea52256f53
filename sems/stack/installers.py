"""Install-on-first-use helpers: Debian packages, Maven artifacts, Go binaries, Java.

Everything downloaded is cached under `settings.cache_dir` (shared between the dev and
test stacks) so the second start is quick. Failures become one-line `StackError`s.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path

from sems.settings import Settings
from sems.stack.service import StackError

INSTALL_TIMEOUT_S = 1800


def run_tool(cmd: Sequence[str], what: str, *, env: dict[str, str] | None = None, cwd: Path | None = None) -> str:
    try:
        done = subprocess.run(  # noqa: S603 - fixed commands
            list(cmd),
            capture_output=True,
            text=True,
            timeout=INSTALL_TIMEOUT_S,
            env=env,
            cwd=cwd,
            check=False,
        )
    except FileNotFoundError as exc:
        raise StackError(f"{what} failed: {cmd[0]} not found; install it and retry") from exc
    except subprocess.TimeoutExpired as exc:
        raise StackError(f"{what} timed out after {INSTALL_TIMEOUT_S}s; check the network and retry") from exc
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["(no output)"]
        raise StackError(f"{what} failed ({cmd[0]} exit {done.returncode}): {tail[0][:200]}")
    return done.stdout


def ensure_debian_packages(packages: Sequence[str], present: bool) -> None:
    """apt-get install `packages` unless `present` says they are already there."""
    if present:
        return
    if os.geteuid() != 0:
        names = " ".join(packages)
        raise StackError(f"missing Debian packages {names}: run `sudo apt-get install -y {names}`")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    run_tool(["apt-get", "update", "-qq"], "apt-get update", env=env)
    run_tool(["apt-get", "install", "-y", "-qq", "--no-install-recommends", *packages], "apt-get install", env=env)


def java_home() -> Path:
    """A Java 17+ installation (JAVA_HOME first, then `java` on PATH)."""
    candidates = [Path(p) / "bin" / "java" for p in [os.environ.get("JAVA_HOME", "")] if p]
    on_path = shutil.which("java")
    if on_path:
        candidates.append(Path(on_path).resolve())
    for java in candidates:
        if java.exists() and _java_major(java) >= 17:
            return java.parent.parent
    raise StackError("Java 17+ not found: install it (`apt-get install -y openjdk-17-jre-headless`) or set JAVA_HOME")


def java_bin() -> str:
    return str(java_home() / "bin" / "java")


def _java_major(java: Path) -> int:
    try:
        out = subprocess.run([str(java), "-version"], capture_output=True, text=True, timeout=30, check=False)  # noqa: S603
    except (OSError, subprocess.TimeoutExpired):
        return 0
    match = re.search(r'version "(\d+)', out.stderr + out.stdout)
    return int(match.group(1)) if match else 0


_POM = """<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>sems.local</groupId><artifactId>{name}</artifactId><version>1</version>
  <packaging>pom</packaging>
  <dependencies>
{deps}
  </dependencies>
</project>
"""


def maven_jars(settings: Settings, name: str, coordinates: Sequence[str]) -> Path:
    """Resolve `group:artifact:version` coordinates with their runtime dependencies into a cached dir.

    Returns the directory holding the jars. A marker file records what was resolved, so a
    second call with the same coordinates does nothing.
    """
    dest = settings.cache_dir / "maven" / name
    marker = dest / ".resolved"
    wanted = "\n".join(coordinates)
    if marker.exists() and marker.read_text(encoding="utf-8") == wanted:
        return dest
    if shutil.which("mvn") is None:
        raise StackError("Maven (mvn) not found: run `apt-get install -y maven` and retry")
    dest.mkdir(parents=True, exist_ok=True)
    for old in dest.glob("*.jar"):
        old.unlink()
    deps = "\n".join(
        f"    <dependency><groupId>{g}</groupId><artifactId>{a}</artifactId><version>{v}</version></dependency>"
        for g, a, v in (c.split(":") for c in coordinates)
    )
    pom = dest / "pom.xml"
    pom.write_text(_POM.format(name=name, deps=deps), encoding="utf-8")
    run_tool(
        ["mvn", "-q", "-B", "-f", str(pom), "dependency:copy-dependencies",
         f"-DoutputDirectory={dest}", "-DincludeScope=runtime"],
        f"resolving {name} jars with Maven",
    )
    marker.write_text(wanted, encoding="utf-8")
    return dest


def go_binary(settings: Settings, package: str, version: str, binary: str) -> Path:
    """`go install package@version` into the cache, once; returns the binary's path."""
    bin_dir = settings.cache_dir / "go" / version
    path = bin_dir / binary
    if path.exists():
        return path
    if shutil.which("go") is None:
        raise StackError("Go not found: install Go 1.22+ (`apt-get install -y golang`) and retry")
    bin_dir.mkdir(parents=True, exist_ok=True)
    run_tool(["go", "install", f"{package}@v{version}"], f"building {binary} with go install",
         env={**os.environ, "GOBIN": str(bin_dir), "GOFLAGS": "-mod=mod"})
    return path
