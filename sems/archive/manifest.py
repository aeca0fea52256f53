"""The manifest of one archived partition: what was archived, from where, with which schema, and its checksums.

One JSON document per version directory. It is the contract that `verify` and restore
drills check the stored files against: row counts, min/max timestamp, sha256 and size
per file, column sums for aggregate comparison, and the schema with the source's column
types (QuestDB or PostgreSQL), so a restore years later recreates the same table.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import date
from importlib.metadata import PackageNotFoundError, version


@dataclass(frozen=True)
class Column:
    """One column: its name and its type in the source database (e.g. `SYMBOL`, `DOUBLE`, `TIMESTAMP`)."""

    name: str
    source_type: str


@dataclass(frozen=True)
class ArchivedFile:
    """One Parquet file of a partition and what it must contain."""

    dataset: str  # source table, e.g. `readings` or `dr_audit_log`
    source: str  # `questdb` or `postgres`
    path: str  # relative to the version directory
    rows: int
    min_ts: str | None
    max_ts: str | None
    sha256: str
    bytes: int
    columns: list[Column]
    sums: dict[str, float] = field(default_factory=dict)  # numeric column sums, for restore comparison
    row_groups: int = 0


@dataclass(frozen=True)
class Manifest:
    """Everything archived for one day in one version."""

    day: str
    version: int
    created_at: str
    software_version: str
    files: list[ArchivedFile]

    def file(self, dataset: str) -> ArchivedFile:
        for archived in self.files:
            if archived.dataset == dataset:
                return archived
        raise KeyError(f"no {dataset} in the archive of {self.day} v{self.version}")

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> Manifest:
        raw = json.loads(text)
        files = [
            ArchivedFile(**{**f, "columns": [Column(**c) for c in f["columns"]]}) for f in raw.pop("files")
        ]
        return cls(files=files, **raw)

    @property
    def date(self) -> date:
        return date.fromisoformat(self.day)


def software_version() -> str:
    """The installed SEMS version recorded in each manifest."""
    try:
        return f"sems {version('sems')}"
    except PackageNotFoundError:
        return "sems (not installed)"
