"""Unit tests of the QuestDB table definitions (no server needed)."""

from __future__ import annotations

from sems.settings import Settings
from sems.stores.questdb_schema import tables


def test_every_table_is_wal_daily_deduplicated_on_ts_first() -> None:
    for table in tables(Settings()).values():
        sql = table.create_sql()
        assert "TIMESTAMP(ts) PARTITION BY DAY" in sql and " WAL " in sql, table.name
        assert f"DEDUP UPSERT KEYS(ts, {', '.join(table.keys)})" in sql, table.name
        assert set(table.keys) <= {name for name, _ in table.columns}, table.name


def test_the_tables_the_pipeline_needs_exist() -> None:
    assert set(tables(Settings())) == {
        "readings", "reading_lineage", "meter_load_1m", "facility_load_1m", "facility_load_15m", "facility_load_1h"}


def test_ttl_comes_from_settings_and_rollups_outlive_raw_readings() -> None:
    defined = tables(Settings(questdb_readings_ttl_days=30, questdb_rollups_ttl_days=400))
    raw = ("readings", "reading_lineage")  # a message's lineage is kept as long as its readings
    assert all("TTL 30 DAYS" in defined[n].create_sql() for n in raw)
    assert all("TTL 400 DAYS" in t.create_sql() for n, t in defined.items() if n not in raw)


def test_symbols_are_the_symbol_columns() -> None:
    defined = tables(Settings())
    assert defined["readings"].symbols == ("facility_id", "meter_id")
    assert defined["facility_load_1m"].symbols == ("facility_id",)


def test_add_column_sql_is_idempotent_sql() -> None:
    sql = tables(Settings())["reading_lineage"].add_column_sql("trace_id")
    assert sql == "ALTER TABLE reading_lineage ADD COLUMN IF NOT EXISTS trace_id VARCHAR"
