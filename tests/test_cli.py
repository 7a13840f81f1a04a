"""The command line, run as a real process: the README's worked example end to end."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import mux_python
import pytest

FIXTURES = Path(__file__).parent / "fixtures"
NOW = str(1607990400 + 12 * 3600)


def cli(
    *args: str, db: Path, check: bool = True, env: dict | None = None
) -> subprocess.CompletedProcess:
    result = subprocess.run(
        [sys.executable, "-m", "streammeter", *args, "--db", str(db)],
        capture_output=True, text=True, env={**os.environ, "STREAMMETER_NOW": NOW, **(env or {})},
        timeout=120,
    )  # fmt: skip
    if check and result.returncode != 0:
        raise AssertionError(
            f"{args} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}"
        )
    return result


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def prepared(tmp_path):
    db = tmp_path / "cli.duckdb"
    env_id = json.loads(cli("environments", "create", "prod", "--json", db=db).stdout)["id"]
    token = json.loads(cli("tokens", "create", "--environment", env_id, "--json", db=db).stdout)
    cli(
        "assets",
        "import",
        "--environment",
        "prod",
        str(FIXTURES / "mux_example_assets.ndjson"),
        db=db,
    )
    return db, env_id, token


def test_worked_example_offline(prepared):
    db, env_id, _ = prepared
    first = cli(
        "ingest", "--environment", env_id, str(FIXTURES / "mux_example_records.ndjson"), db=db
    )
    assert "54 accepted, 1 duplicate, 1 rejected" in first.stdout
    again = cli(
        "ingest", "-e", "prod", str(FIXTURES / "mux_example_records.ndjson"), "--json", db=db
    )
    assert json.loads(again.stdout)[0]["already_imported"] is True
    usage = cli("usage", "-e", "prod", "--from", "1607817600", "--to", "2020-12-15T00:00:00Z",
                "--output", "json", db=db)  # fmt: skip
    assert json.loads(usage.stdout) == json.loads((FIXTURES / "mux_docs_example.json").read_text())
    as_csv = cli(
        "usage", "-e", "prod", "--from", "1607817600", "--to", "1607990400", "-o", "csv", db=db
    )
    assert as_csv.stdout.splitlines() == [
        "asset_id,delivered_seconds,tier_2160p,tier_1440p,tier_1080p,tier_720p,tier_audio_only",
        "Ww4v2q2H4MNbHIAM2wApKb3cmrh7eHjGLUjdKohR5wM,206.366667,0,0,100,100,6.366667",
        "Qlb007on1TwN43XLIG027QJlUxm3jd01v5PRi1aXhnyFZY,30,0,0,10,10,10",
    ]
    receipts = json.loads(cli("receipts", "list", "--json", db=db).stdout)
    assert len(receipts) == 1
    shown = json.loads(cli("receipts", "show", receipts[0]["receipt_id"], "--json", db=db).stdout)
    assert [(q["line"], q["reason"][:10]) for q in shown["quarantine"]] == [(56, "timestamp:")]
    cli("rebuild", db=db)
    after = cli(
        "usage", "-e", "prod", "--from", "1607817600", "--to", "1607990400", "-o", "csv", db=db
    )
    assert after.stdout == as_csv.stdout


def test_first_run_says_what_to_do(tmp_path):
    result = cli("environments", "list", db=tmp_path / "empty.duckdb")
    assert "No environments yet. Create one: streammeter environments create prod" in result.stdout
    missing = cli("usage", "-e", "prod", db=tmp_path / "empty.duckdb", check=False)
    assert missing.returncode == 1
    assert "streammeter environments create NAME" in missing.stderr


def test_serve_lock_error_and_url_passthrough(prepared):
    db, env_id, token = prepared
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "streammeter", "serve", "--db", str(db), "--port", str(port)],
        env={**os.environ, "STREAMMETER_NOW": NOW}, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{base}/healthz").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "server did not start"
            time.sleep(0.1)
        # A second process cannot open the store while serve runs, and is told what to do.
        locked = cli("ingest", "-e", env_id, str(FIXTURES / "mux_example_records.ndjson"),
                     db=db, check=False)  # fmt: skip
        assert locked.returncode == 2
        assert "in use by another process" in locked.stderr and "--url" in locked.stderr
        # Through the server instead.
        auth = f"{token['id']}:{token['secret']}"
        denied = cli("ingest", str(FIXTURES / "mux_example_records.ndjson"), "--url", base,
                     "--token", auth, db=db, check=False)  # fmt: skip
        assert denied.returncode != 0 and "403" in denied.stderr  # a read token cannot ingest
        admin = json.loads(
            subprocess.run(
                [sys.executable, "-m", "streammeter", "tokens", "create", "-e", env_id,
                 "--scope", "ingest", "--json", "--db", str(db)],
                capture_output=True, text=True,
            ).stdout or "null"
        )  # fmt: skip
        assert admin is None  # the store is locked: tokens are created before serving
        config = mux_python.Configuration(host=base)
        config.username, config.password = token["id"], token["secret"]
        api = mux_python.DeliveryUsageApi(mux_python.ApiClient(config))
        assert api.list_delivery_usage(timeframe=["1607817600", "1607990400"]).data == []
    finally:
        server.terminate()
        server.wait(10)


def test_ingest_and_usage_through_the_server(prepared):
    db, env_id, _ = prepared
    token = json.loads(
        cli(
            "tokens",
            "create",
            "-e",
            env_id,
            "--scope",
            "ingest",
            "--scope",
            "read",
            "--json",
            db=db,
        ).stdout
    )
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "streammeter", "serve", "--db", str(db), "--port", str(port)],
        env={**os.environ, "STREAMMETER_NOW": NOW}, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    auth = f"{token['id']}:{token['secret']}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{base}/healthz").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "server did not start"
            time.sleep(0.1)
        ingested = cli("ingest", str(FIXTURES / "mux_example_records.ndjson"), "--url", base,
                       "--token", auth, db=db)  # fmt: skip
        assert "54 accepted, 1 duplicate, 1 rejected" in ingested.stdout
        usage = cli("usage", "--url", base, "--token", auth, "--from", "1607817600",
                    "--to", "1607990400", "-o", "json", db=db)  # fmt: skip
        assert json.loads(usage.stdout) == json.loads(
            (FIXTURES / "mux_docs_example.json").read_text()
        )
    finally:
        server.terminate()
        server.wait(10)
