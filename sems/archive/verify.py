"""Re-checking archives against their manifests: every file present, same bytes (sha256, size), same row count.

`verify_store` walks every day and version, so a file that was corrupted, truncated or
deleted after it was archived is found the next time anyone verifies, not at restore
time months later (S5).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import pyarrow.parquet as pq

from sems.archive.manifest import Manifest
from sems.archive.store import MANIFEST, ArchiveError, ArchiveStore


@dataclass(frozen=True)
class VersionCheck:
    """The outcome of verifying one version of one day; `problems` empty means intact."""

    day: date
    version: int
    problems: list[str]
    rows: int = 0

    @property
    def ok(self) -> bool:
        return not self.problems


def load_manifest(store: ArchiveStore, day: date, version: int) -> Manifest:
    path = f"{store.version_dir(day, version)}/{MANIFEST}"
    try:
        with store.fs.open(path, "rb") as stored:
            return Manifest.from_json(stored.read().decode())
    except FileNotFoundError:
        raise ArchiveError(f"{path} missing: version {version} of {day} never finished archiving") from None
    except (ValueError, KeyError, TypeError) as exc:
        raise ArchiveError(f"{path} unreadable: {exc}") from None


def latest_manifest(store: ArchiveStore, day: date) -> Manifest:
    """The newest finished version of `day`."""
    versions = store.archived_versions(day)
    if not versions:
        raise ArchiveError(f"no archive of {day} under {store.root}")
    return load_manifest(store, day, versions[-1])


def verify_version(store: ArchiveStore, day: date, version: int) -> VersionCheck:
    """Check every file of one version against its manifest."""
    try:
        manifest = load_manifest(store, day, version)
    except ArchiveError as exc:
        return VersionCheck(day, version, [str(exc)])
    problems = []
    for archived in manifest.files:
        path = f"{store.version_dir(day, version)}/{archived.path}"
        try:
            digest, size = store.sha256(path)
            with store.fs.open(path, "rb") as stored:
                rows = pq.ParquetFile(stored).metadata.num_rows
        except FileNotFoundError:
            problems.append(f"{path}: missing")
            continue
        except (OSError, ValueError) as exc:  # pyarrow raises ArrowInvalid (a ValueError) on a damaged footer
            problems.append(f"{path}: unreadable Parquet ({str(exc).splitlines()[0]})")
            continue
        if size != archived.bytes:
            problems.append(f"{path}: {size} bytes, manifest says {archived.bytes}")
        if digest != archived.sha256:
            problems.append(f"{path}: sha256 {digest[:12]}..., manifest says {archived.sha256[:12]}...")
        if rows != archived.rows:
            problems.append(f"{path}: {rows} rows, manifest says {archived.rows}")
    return VersionCheck(day, version, problems, sum(f.rows for f in manifest.files))


def verify_store(store: ArchiveStore) -> list[VersionCheck]:
    """Verify every version of every archived day, oldest first."""
    return [verify_version(store, day, v) for day in store.days() for v in store.versions(day)]
