"""Where archives live: an fsspec file system (local directory or S3) and the partition layout in it.

Layout under the archive root: `day=YYYY-MM-DD/v0001/<dataset>.parquet` plus `manifest.json`.
A version directory is written once and never changed; a re-run of a day writes the next
version beside the earlier ones. The manifest is written last, so a version without one
is an interrupted run, never an archive.

Write-once is atomic, not check-then-write: a writer first claims its version by creating
`v0001/_claimed` exclusively (`open(..., "xb")`: O_EXCL on a local disk, a PutObject with
`If-None-Match: *` on S3), and every file it writes is created the same way. Two writers
of one day can both list `v0001` as next; only one creates its claim, the other moves on
to `v0002`. No file is ever replaced.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import date
from typing import Any

import fsspec

from sems.settings import Settings

MANIFEST = "manifest.json"
CLAIM = "_claimed"
_VERSION = re.compile(r"v(\d{4,})$")
_DAY = re.compile(r"day=(\d{4}-\d{2}-\d{2})$")


class ArchiveError(Exception):
    """An archive is missing, damaged or cannot be written; the message is one line that says which and why."""


@dataclass(frozen=True)
class ArchiveStore:
    """One archive root on one file system (`fs` is an fsspec `AbstractFileSystem`)."""

    fs: Any
    root: str

    def day_dir(self, day: date) -> str:
        return f"{self.root}/day={day.isoformat()}"

    def version_dir(self, day: date, version: int) -> str:
        return f"{self.day_dir(day)}/v{version:04d}"

    def versions(self, day: date) -> list[int]:
        """Every version directory of `day` (complete or not), ascending."""
        try:
            names = self.fs.ls(self.day_dir(day), detail=False, refresh=True)
        except FileNotFoundError:
            return []
        found = (_VERSION.search(name.rstrip("/")) for name in names)
        return sorted(int(m.group(1)) for m in found if m)

    def archived_versions(self, day: date) -> list[int]:
        """Versions of `day` that have a manifest (finished runs)."""
        return [v for v in self.versions(day) if self.fs.exists(f"{self.version_dir(day, v)}/{MANIFEST}")]

    def days(self) -> list[date]:
        """Every day with at least one version directory, ascending."""
        try:
            names = self.fs.ls(self.root, detail=False, refresh=True)
        except FileNotFoundError:
            return []
        found = (_DAY.search(name.rstrip("/")) for name in names)
        return sorted(date.fromisoformat(m.group(1)) for m in found if m)

    def create(self, path: str, body: bytes) -> None:
        """Write `body` to `path` only if nothing is there yet (atomically); FileExistsError if something is."""
        with self.fs.open(path, "xb") as target:
            target.write(body)

    def claim_version(self, day: date, owner: str) -> int:
        """Atomically take the next free version of `day` for one writer; the claim names `owner`."""
        version = max(self.versions(day), default=0) + 1
        while True:
            try:
                self.create(f"{self.version_dir(day, version)}/{CLAIM}", owner.encode())
                return version
            except FileExistsError:  # another writer claimed it between our listing and our create
                version += 1

    def sha256(self, path: str) -> tuple[str, int]:
        """Checksum and size of the stored bytes at `path`, read back from the store in 8 MiB blocks."""
        digest, size = hashlib.sha256(), 0
        with self.fs.open(path, "rb") as stored:
            while block := stored.read(8 * 1024 * 1024):
                digest.update(block)
                size += len(block)
        return digest.hexdigest(), size


def open_store(settings: Settings, root: str | None = None) -> ArchiveStore:
    """The archive store of `settings` (or at `root`): s3:// through s3fs, anything else a local directory."""
    url = (root or settings.archive_url).rstrip("/")
    if url.startswith("s3://"):
        fs = fsspec.filesystem(
            "s3", key=settings.s3_access_key, secret=settings.s3_secret_key.get_secret_value(),
            endpoint_url=settings.s3_url, skip_instance_cache=True,
            config_kwargs={"connect_timeout": settings.s3_timeout_s, "read_timeout": settings.archive_timeout_s,
                           "retries": {"max_attempts": 3}},
        )
        return ArchiveStore(fs, url.removeprefix("s3://"))
    fs = fsspec.filesystem("file", auto_mkdir=True)
    fs.makedirs(url, exist_ok=True)
    return ArchiveStore(fs, url)
