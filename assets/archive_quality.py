"""Great Expectations suites for an archived day of readings, run in bounded batches over the stored Parquet.

GX 1.x validates pandas frames, so the archived file is read back row group by row group
(`archive_check_batch_rows` at a time), never whole. Checks that span batches are made
batch-local with derived columns: `kw_low`/`kw_high` (the facility's plausible range, see
`sems.archive.fleet`: negative kW is legal export, bounded like import by the connection)
and `kwh_step` (the change of cumulative kWh since the meter's previous reading, carried
over from the previous batch). Completeness is validated on a per-meter frame that holds
every registered meter (a silent one at 0 %) plus any meter that reported without being
registered.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd
import pyarrow.parquet as pq

from sems.archive.fleet import KwRange

if TYPE_CHECKING:
    import great_expectations as gx

CHECKS = ("schema", "non_null_keys", "kw_range", "unique_ts_meter", "kwh_monotonic", "completeness")
KEYS = ("ts", "facility_id", "meter_id")
_DERIVED = ("kw_low", "kw_high", "kwh_step")
Meter = tuple[str, str]  # (facility_id, meter_id): the identity of a reading


@dataclass
class CheckOutcome:
    """One check across all batches: passed or not, how many rows failed, details for the metadata."""

    passed: bool = True
    unexpected: int = 0
    details: list[str] = field(default_factory=list)

    def add(self, success: bool, unexpected: int, detail: str) -> None:
        self.passed = self.passed and success
        self.unexpected += unexpected
        if not success and len(self.details) < 5:
            self.details.append(detail)


def _row_suite(columns: list[str]) -> gx.ExpectationSuite:
    import great_expectations as gx  # imported when a check runs: it is slow, and Dagster loads this module often
    import great_expectations.expectations as gxe

    suite = gx.ExpectationSuite(name="readings_archive")
    expectations = [
        ("schema", gxe.ExpectTableColumnsToMatchOrderedList(column_list=[*columns, *_DERIVED])),
        *(("non_null_keys", gxe.ExpectColumnValuesToNotBeNull(column=key)) for key in KEYS),
        ("kw_range", gxe.ExpectColumnValuesToNotBeNull(column="kw_high")),  # a meter of an unknown facility
        ("kw_range", gxe.ExpectColumnPairValuesAToBeGreaterThanB(column_A="kw", column_B="kw_low", or_equal=True)),
        ("kw_range", gxe.ExpectColumnPairValuesAToBeGreaterThanB(column_A="kw_high", column_B="kw", or_equal=True)),
        ("unique_ts_meter", gxe.ExpectCompoundColumnsToBeUnique(column_list=list(KEYS))),
        ("kwh_monotonic", gxe.ExpectColumnValuesToBeBetween(column="kwh_step", min_value=0)),
    ]
    for check, expectation in expectations:
        expectation.meta = {"check": check}
        suite.add_expectation(expectation)
    return suite


def _completeness_suite(minimum: float) -> gx.ExpectationSuite:
    import great_expectations as gx
    import great_expectations.expectations as gxe

    suite = gx.ExpectationSuite(name="readings_archive_completeness")
    expectation = gxe.ExpectColumnValuesToBeBetween(column="completeness", min_value=minimum)
    expectation.meta = {"check": "completeness"}
    suite.add_expectation(expectation)
    return suite


class ArchiveValidator:
    """A file-backed GX context (suites, checkpoints, results, data docs) under `project_dir`."""

    def __init__(self, project_dir: Path) -> None:
        import great_expectations as gx

        self.context = gx.get_context(mode="file", project_root_dir=str(project_dir))
        self.data_docs_index = project_dir / "gx" / "uncommitted" / "data_docs" / "local_site" / "index.html"
        source = self.context.data_sources.add_or_update_pandas("archive")
        self.rows_batch = self._batch(source, "readings")
        self.meters_batch = self._batch(source, "meter_completeness")

    @staticmethod
    def _batch(source: Any, name: str) -> Any:
        asset = next((a for a in source.assets if a.name == name), None) or source.add_dataframe_asset(name)
        existing = next((b for b in asset.batch_definitions if b.name == "whole"), None)
        return existing or asset.add_batch_definition_whole_dataframe("whole")

    def _checkpoint(self, suite: gx.ExpectationSuite, batch: Any) -> gx.Checkpoint:
        import great_expectations as gx

        suite = self.context.suites.add_or_update(suite)
        definition = self.context.validation_definitions.add_or_update(
            gx.ValidationDefinition(name=suite.name, data=batch, suite=suite)
        )
        return self.context.checkpoints.add_or_update(
            gx.Checkpoint(name=f"{suite.name}_checkpoint", validation_definitions=[definition])
        )

    def validate(self, path: str, fs: Any, kw_ranges: dict[str, KwRange], expected: dict[Meter, int],
                 full_day: int, minimum: float, batch_rows: int) -> dict[str, CheckOutcome]:
        """Run every check over the archived readings file at `path`; one outcome per name in CHECKS.

        `expected` holds the readings each registered meter owes that day; a meter that
        reported without being registered is expected for a `full_day`.
        """
        outcomes = {name: CheckOutcome() for name in CHECKS}
        counts: Counter[Meter] = Counter()
        last_kwh: dict[Meter, float] = {}
        with fs.open(path, "rb") as stored:
            parquet = pq.ParquetFile(stored)
            rows = self._checkpoint(_row_suite(parquet.schema_arrow.names), self.rows_batch)
            for batch in parquet.iter_batches(batch_size=batch_rows):
                frame = _derive(batch.to_pandas(), kw_ranges, last_kwh)
                counts.update(frame.groupby(["facility_id", "meter_id"]).size().to_dict())
                _collect(rows.run(batch_parameters={"dataframe": frame}), outcomes)
        meters = completeness_frame(counts, expected, full_day)
        if not meters.empty:
            completeness = self._checkpoint(_completeness_suite(minimum), self.meters_batch)
            _collect(completeness.run(batch_parameters={"dataframe": meters}), outcomes)
            outcomes["completeness"].details = _lowest(meters, minimum)
        self.context.build_data_docs()
        return outcomes


def completeness_frame(counts: Counter[Meter], expected: dict[Meter, int], full_day: int) -> pd.DataFrame:
    """One row per registered or reporting meter: readings archived / readings owed (a silent meter: 0)."""
    meters = sorted(set(expected) | set(counts))
    return pd.DataFrame(
        [{"facility_id": f, "meter_id": m, "readings": counts[(f, m)], "expected": expected.get((f, m), full_day),
          "completeness": counts[(f, m)] / max(1, expected.get((f, m), full_day))} for f, m in meters],
        columns=["facility_id", "meter_id", "readings", "expected", "completeness"],
    )


def _lowest(meters: pd.DataFrame, minimum: float) -> list[str]:
    """The (up to five) least complete meters below `minimum`, for the check's metadata."""
    below = meters[meters["completeness"] < minimum].sort_values(["completeness", "facility_id", "meter_id"])
    return [f"{r.facility_id}/{r.meter_id}: {r.readings} of {r.expected} readings ({r.completeness:.1%})"
            for r in below.head(5).itertuples()]


def _derive(frame: pd.DataFrame, kw_ranges: dict[str, KwRange], last_kwh: dict[Meter, float]) -> pd.DataFrame:
    """Add `kw_low`/`kw_high` and `kwh_step` (carrying each meter's last cumulative kWh across batches)."""
    frame = frame.copy()
    frame["kw_low"] = frame["facility_id"].map({f: r.low for f, r in kw_ranges.items()})
    frame["kw_high"] = frame["facility_id"].map({f: r.high for f, r in kw_ranges.items()})
    ordered = frame.sort_values(["facility_id", "meter_id", "ts"], kind="stable")
    previous = ordered.groupby(["facility_id", "meter_id"])["kwh"].shift(1)
    carried = pd.Series(list(zip(ordered["facility_id"], ordered["meter_id"], strict=True)), index=ordered.index)
    previous = previous.fillna(carried.map(last_kwh))
    frame["kwh_step"] = (ordered["kwh"] - previous).reindex(frame.index)
    for (facility, meter), kwh in ordered.groupby(["facility_id", "meter_id"])["kwh"].last().items():
        last_kwh[(facility, meter)] = kwh
    return frame


def _collect(result: Any, outcomes: dict[str, CheckOutcome]) -> None:
    for run in result.run_results.values():
        for item in run.results:
            config = item.expectation_config
            unexpected = int((item.result or {}).get("unexpected_count") or 0)
            outcomes[config.meta["check"]].add(
                bool(item.success), unexpected, f"{config.type}({config.kwargs.get('column', '')}): {unexpected} rows"
            )
