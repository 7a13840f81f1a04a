"""The quick load benchmark runs end to end: a real server, wrk and the event driver, and no
request fails. No timing assertions (the numbers are in docs/performance.md)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from bench.load import run as load

pytestmark = pytest.mark.skipif(shutil.which("wrk") is None, reason="wrk is not installed")


@pytest.mark.parametrize("workers", [1, 2], ids=["one-process", "front-and-owner"])
def test_quick_load_runs_without_errors(tmp_path: Path, workers: int) -> None:
    cfg = load.default_config(quick=True)
    cfg.duration, cfg.workers = 4.0, workers
    result = load.run(cfg, log=lambda _: None, scratch_dir=tmp_path)
    assert [r["window_hours"] for r in result["rows"]] == [1, 24, 90 * 24]
    for row in result["rows"]:
        assert row["requests"] > 0, row
        assert row["non2xx"] == 0 and row["socket_errors"] == 0, row
        assert row["total_row_count"] > 0
    ingest = result["ingest"]
    assert ingest["batches_ok"] > 0 and ingest["batches_failed"] == 0
    assert ingest["records_accepted"] == ingest["batches_ok"] * cfg.batch
    assert load.errors(result) == 0
    assert "target zero errors: met" in load.format_result(result)
