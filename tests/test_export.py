"""`streammeter export`: day partitions in Parquet and CSV, read back; resumable, idempotent."""

from __future__ import annotations

import csv
import json

import pyarrow.parquet as pq
from typer.testing import CliRunner

from streammeter.cli.main import app
from streammeter.ingest.importer import import_file
from streammeter.model.catalog import Asset
from streammeter.store import open_store
from tests.conftest import make_tenant, write_ndjson

RECORDS = [
    {"timestamp": "2026-11-19T23:30:00Z", "asset_id": "a", "duration": 6, "bytes": 100},
    {"timestamp": "2026-11-20T00:10:00Z", "asset_id": "a", "duration": 4, "tier": "1080p",
     "bytes": 40},
    {"timestamp": "2026-11-20T00:20:00Z", "asset_id": "b", "duration": 2, "live": True,
     "bytes": 20},
]  # fmt: skip
EXPECTED = [
    ("2026-11-19", "2026-11-19T23:00:00Z", "a", "720p", "vod_streams", 6.0, 100, 1),
    ("2026-11-20", "2026-11-20T00:00:00Z", "a", "720p", "vod_streams", 0.0, 0, 0),
    ("2026-11-20", "2026-11-20T00:00:00Z", "a", "1080p", "vod_streams", 4.0, 40, 1),
    ("2026-11-20", "2026-11-20T00:00:00Z", "b", "720p", "transcoders", 2.0, 20, 1),
]


def _setup(tmp_path, monkeypatch):
    monkeypatch.setenv("STREAMMETER_NOW", "2026-11-25T00:00:00Z")
    db = str(tmp_path / "x.duckdb")
    with open_store(db) as store:
        tenant = make_tenant(store, "prod")
        store.upsert_assets(tenant.env.env_key, [
            Asset(asset_id="a", asset_resolution_tier="720p"),
            Asset(asset_id="b", asset_resolution_tier="720p"),
        ])  # fmt: skip
        import_file(store, tenant.env.env_key, write_ndjson(tmp_path / "r.ndjson", RECORDS))
    return db


def _run(db, out, fmt):
    result = CliRunner().invoke(app, [
        "export", "--db", db, "-e", "prod", "--from", "2026-11-19", "--to", "2026-11-22",
        "--format", fmt, "--output", str(out), "--quiet",
    ])  # fmt: skip
    assert result.exit_code == 0, result.output
    return result.output


def _rows(out, fmt):
    found = []
    for day in ("2026-11-19", "2026-11-20", "2026-11-21"):
        path = out / f"date={day}" / f"part.{fmt}"
        if fmt == "parquet":
            rows = pq.read_table(path).to_pylist()
        else:
            with path.open() as handle:
                rows = list(csv.DictReader(handle))
        for r in rows:
            found.append((day, r["bucket_start"], r["asset_id"], r["tier"], r["resource"],
                          float(r["delivered_seconds"]), int(r["bytes"]), int(r["requests"])))
    return [f for f in found if f[5] or f[6]]


def test_parquet_and_csv_exports_read_back(tmp_path, monkeypatch):
    db = _setup(tmp_path, monkeypatch)
    for fmt in ("parquet", "csv"):
        out = tmp_path / f"out-{fmt}"
        assert "3 partitions written (3 rows)" in _run(db, out, fmt)
        assert _rows(out, fmt) == [e for e in EXPECTED if e[5] or e[6]]
        manifest = json.loads((out / "manifest.json").read_text())
        assert sorted(manifest["partitions"]) == ["2026-11-19", "2026-11-20", "2026-11-21"]
        assert manifest["partitions"]["2026-11-21"]["rows"] == 0
        assert {p["status"] for p in manifest["partitions"].values()} == {"final"}


def test_export_is_resumable_and_idempotent(tmp_path, monkeypatch):
    db = _setup(tmp_path, monkeypatch)
    out = tmp_path / "out"
    _run(db, out, "parquet")
    first = (out / "manifest.json").read_text()
    assert "0 partitions written (0 rows), 3 unchanged and skipped" in _run(db, out, "parquet")
    assert (out / "manifest.json").read_text() == first
    # A damaged file is written again; a late record re-exports its day only.
    (out / "date=2026-11-19" / "part.parquet").write_bytes(b"garbage")
    with open_store(db) as store:
        env = store.get_environment("prod")
        import_file(store, env.env_key, write_ndjson(tmp_path / "late.ndjson", [
            {"timestamp": "2026-11-21T05:00:00Z", "asset_id": "a", "duration": 1},
        ]))  # fmt: skip
    assert "2 partitions written (2 rows), 1 unchanged and skipped" in _run(db, out, "parquet")
    assert _rows(out, "parquet")[-1][:6] == (
        "2026-11-21", "2026-11-21T05:00:00Z", "a", "720p", "vod_streams", 1.0,
    )  # fmt: skip
    assert not list(out.rglob("*.tmp"))
