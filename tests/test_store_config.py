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


def _limit_during_file_import(store) -> str:
    """DuckDB's memory limit seen from inside a file import's transaction."""
    from streammeter.store.base import ReceiptDraft

    env_key = store.create_environment("e").env_key
    draft = ReceiptDraft("file", "log", "cloudfront", "sha", "sha", 1)
    with store.importing(env_key, draft):
        return store._con.execute("SELECT current_setting('memory_limit')").fetchone()[0]


def test_a_file_import_runs_under_the_lower_import_memory_limit(tmp_path, monkeypatch):
    # A long import fills DuckDB's buffer pool up to its limit: 256MB by default while a file
    # is imported keeps a 10 GB import under 1 GB RSS (docs/performance.md#memory).
    with open_store(str(tmp_path / "a.duckdb")) as store:
        during = _limit_during_file_import(store)
        after = store._con.execute("SELECT current_setting('memory_limit')").fetchone()[0]
    assert during.replace(" ", "") in ("244.1MiB", "256.0MB", "256MB")
    assert after.replace(" ", "") in ("953.6MiB", "1.0GiB", "1GB", "1000.0MB")
    monkeypatch.setenv("STREAMMETER_MEMORY_LIMIT", "200MB")  # never raised above the store's
    with open_store(str(tmp_path / "b.duckdb")) as store:
        during = _limit_during_file_import(store)
    assert during.replace(" ", "") in ("190.7MiB", "200.0MB", "200MB")
    monkeypatch.setenv("STREAMMETER_MEMORY_LIMIT", "2GB")
    monkeypatch.setenv("STREAMMETER_IMPORT_MEMORY_LIMIT", "300MB")
    with open_store(str(tmp_path / "c.duckdb")) as store:
        during = _limit_during_file_import(store)
    assert during.replace(" ", "") in ("286.1MiB", "300.0MB", "300MB")


def test_a_bad_import_memory_limit_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("STREAMMETER_IMPORT_MEMORY_LIMIT", "half")
    with pytest.raises(ValueError, match="IMPORT_MEMORY_LIMIT must look like 512MB or 2GB"):
        open_store(str(tmp_path / "d.duckdb"))


def test_the_checkpoint_threshold_is_duckdbs_unless_set(tmp_path, monkeypatch):
    def threshold(name: str) -> str:
        with open_store(str(tmp_path / name)) as store:
            query = "SELECT current_setting('checkpoint_threshold')"
            return store._con.execute(query).fetchone()[0]

    assert threshold("d.duckdb").replace(" ", "") in ("16.0MiB", "16MiB", "16.7MB", "16.0MB")
    monkeypatch.setenv("STREAMMETER_CHECKPOINT_THRESHOLD", "512MB")
    assert threshold("e.duckdb").replace(" ", "") in ("488.2MiB", "512.0MB", "512MB")
    monkeypatch.setenv("STREAMMETER_CHECKPOINT_THRESHOLD", "often")
    with pytest.raises(ValueError, match="STREAMMETER_CHECKPOINT_THRESHOLD must look like 512MB"):
        open_store(str(tmp_path / "f.duckdb"))
