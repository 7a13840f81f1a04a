"""The quick delivery-usage benchmark runs, and our query equals the naive one on its data.

No timing assertions: this only keeps `bench/` working (the numbers are in
docs/performance.md).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from bench import delivery_usage as bench
from streammeter.store import open_store
from streammeter.store.duckdb_store import ROLLUP_TABLES


def test_quick_benchmark_runs_and_ours_equals_naive(tmp_path: Path) -> None:
    params = bench.QUICK_DATA
    info = bench.generate(tmp_path / "quick.duckdb", params, log=lambda _: None)
    assert info.rows["assets"] == params.assets
    assert abs(info.rows["usage_hour"] - params.rows_target) < params.rows_target * 0.05
    with open_store(info.path) as store:
        for table in ("usage_day", "usage_month"):  # the levels agree with the hour rows
            sums = store._con.execute(
                f"SELECT (SELECT sum(delivered_us) FROM usage_hour), "
                f"(SELECT sum(delivered_us) FROM {table})"
            ).fetchone()
            assert sums[0] == sums[1]
        # run_queries raises BenchmarkMismatch unless every page equals the naive one
        results = bench.run_queries(
            store, info.env_key, params, repeat=1, naive_repeat=1, log=lambda _: None
        )
    assert [r.window for r in results if r.offset == 0] == ["90d", "1d", "1h"]
    assert all(r.total_row_count > 0 for r in results)
    assert any(r.offset > 0 for r in results)
    assert bench.format_queries(results)


def test_quick_ingest_measurement_restores_the_store(tmp_path: Path) -> None:
    path = bench.ingest_file(2_000, seed=7, path=tmp_path / "records.ndjson")
    result = bench.run_ingest(2_000, seed=7, repeat=1, path=path, log=lambda _: None)
    modes = result["modes"]
    assert list(modes)[:2] == ["usage_hour only", "hour+day+month"]
    assert all(mode["records_per_s"] > 0 for mode in modes.values())
    assert bench.format_ingest(result)
    from streammeter.store import duckdb_store

    assert duckdb_store.ROLLUP_TABLES == ROLLUP_TABLES  # the monkeypatch is undone
    assert "timed_apply" not in repr(duckdb_store.DuckDBStore.__dict__["_apply_rollups"])


@pytest.mark.skipif(
    os.environ.get("STREAMMETER_SKIP_CLICKHOUSE") == "1", reason="STREAMMETER_SKIP_CLICKHOUSE=1"
)
def test_quick_benchmark_on_clickhouse_side_by_side(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`--quick --clickhouse auto`: the two-shard cluster is started and stopped, the data is
    loaded, and every page of both ClickHouse queries equals the DuckDB page (else main
    raises BenchmarkMismatch)."""
    results = tmp_path / "results.json"
    argv = [
        "--quick", "--clickhouse", "auto", "--db", str(tmp_path / "quick.duckdb"),
        "--repeat", "1", "--naive-repeat", "1", "--ingest-records", "2000",
        "--ingest-repeat", "1", "--ingest-file", str(tmp_path / "records.ndjson"),
        "--json", str(results),
    ]  # fmt: skip
    assert bench.main(argv) == 0
    out = capsys.readouterr().out
    assert "every page equal on both engines (ours == naive == DuckDB's)" in out
    header = next(line for line in out.splitlines() if "DuckDB" in line and "ClickHouse" in line)
    assert header.index("DuckDB") < header.index("ClickHouse")
    assert "ingest side by side" in out
    report = json.loads(results.read_text())
    ch = report["clickhouse"]
    assert ch["pages_equal_duckdb"] is True
    pages = [(q["window"], q["offset"], q["total_row_count"]) for q in report["queries"]]
    assert [(q["window"], q["offset"], q["total_row_count"]) for q in ch["queries"]] == pages
    assert ch["data"]["rows"]["usage_hour"] == report["data"]["rows"]["usage_hour"]
    assert ch["ingest"]["records_per_s"] > 0
    assert {s["query"] for s in ch["statements"]} == {"ours", "naive"}
