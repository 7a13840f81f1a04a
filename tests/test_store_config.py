"""Store settings: DuckDB's memory is bounded so big imports spill instead of growing."""

from __future__ import annotations

import pytest

from streammeter.store import open_store


def test_memory_limit_defaults_to_1gb_and_is_configurable(tmp_path, monkeypatch):
    with open_store(str(tmp_path / "a.duckdb")) as store:
        limit = store._con.execute("SELECT current_setting('memory_limit')").fetchone()[0]
        temp = store._con.execute("SELECT current_setting('temp_directory')").fetchone()[0]
    assert limit.replace(" ", "") in ("953.6MiB", "1.0GiB", "1GB", "1000.0MB")
    assert temp == str(tmp_path / "a.duckdb") + ".tmp"
    monkeypatch.setenv("STREAMMETER_MEMORY_LIMIT", "256MB")
    with open_store(str(tmp_path / "b.duckdb")) as store:
        limit = store._con.execute("SELECT current_setting('memory_limit')").fetchone()[0]
    assert limit.replace(" ", "") in ("244.1MiB", "256.0MB", "256MB")


def test_a_bad_memory_limit_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("STREAMMETER_MEMORY_LIMIT", "lots")
    with pytest.raises(ValueError, match="must look like 512MB or 2GB, got 'lots'"):
        open_store(str(tmp_path / "c.duckdb"))
