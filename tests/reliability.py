"""Helpers for the reliability tests (docs/reliability.md): a generated file with hand-known
totals, `streammeter` run as real subprocesses, and the store's totals read back.

Sizes: `STREAMMETER_RELIABILITY_RECORDS` (default 40,000) records per generated file; raise
it (e.g. 500000) for a longer import that a SIGKILL or a full disk hits later in its life.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import httpx

from streammeter.ingest.importer import import_file
from streammeter.model.catalog import Asset
from streammeter.model.times import service_clock_at
from streammeter.store import open_store

STREAMMETER = str(Path(sys.executable).with_name("streammeter"))
RECORDS = int(os.environ.get("STREAMMETER_RELIABILITY_RECORDS", "40000"))
ASSETS = 20
SECONDS_PER_RECORD = 4  # every record: a 4 s 1080p segment, 1,000 bytes
BYTES_PER_RECORD = 1000
BASE_TS = 1793491200  # 2026-11-01T00:00:00Z: every record falls on that UTC day
NOW = "2026-11-20T00:00:00Z"  # long after: the windows are settled
TIMEFRAME = [("timeframe[]", str(BASE_TS)), ("timeframe[]", str(BASE_TS + 86400))]


def record(i: int) -> dict[str, Any]:
    return {
        "id": f"req-{i:08d}",
        "timestamp": BASE_TS + (i * 7) % 86400,
        "asset_id": f"asset-{i % ASSETS:02d}",
        "duration": SECONDS_PER_RECORD,
        "tier": "1080p",
        "bytes": BYTES_PER_RECORD,
    }


def write_records(path: Path, start: int, stop: int) -> Path:
    with path.open("w") as handle:
        for i in range(start, stop):
            handle.write(json.dumps(record(i), separators=(",", ":")) + "\n")
    return path


def expected_seconds(start: int, stop: int) -> dict[str, int]:
    """Delivered seconds per asset, by hand: 4 s for every record of the asset."""
    seconds: dict[str, int] = {}
    for i in range(start, stop):
        asset = f"asset-{i % ASSETS:02d}"
        seconds[asset] = seconds.get(asset, 0) + SECONDS_PER_RECORD
    return seconds


ASSET_CATALOG = [
    Asset.model_validate(
        {
            "asset_id": f"asset-{n:02d}",
            "created_at": "2026-10-01T00:00:00Z",
            "asset_state": "ready",
            "asset_duration": 600,
            "asset_resolution_tier": "1080p",
        }
    )
    for n in range(ASSETS)
]


def env_vars(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.pop("STREAMMETER_DB", None)
    env.pop("STREAMMETER_TOKEN", None)
    env["STREAMMETER_NOW"] = NOW
    env["NO_COLOR"] = "1"
    env["COLUMNS"] = "500"  # one line per message, for the assertions
    env.update(extra)
    return env


def cli(*args: str, check: bool = True, **extra_env: str) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [STREAMMETER, *args], capture_output=True, text=True, env=env_vars(**extra_env), timeout=600
    )
    if check and done.returncode != 0:
        raise AssertionError(f"streammeter {' '.join(args)} failed:\n{done.stdout}{done.stderr}")
    return done


def service_clock() -> AbstractContextManager[None]:
    """In-process work on the clock the CLI and server subprocesses get (`env_vars`): minute
    buckets are kept for 30 days by that clock, so the real date must not matter."""
    return service_clock_at(NOW)


def prepare_store(db: Path) -> tuple[str, str]:
    """An environment `prod` with the catalog, and an ingest+read token (id, secret).
    In-process: faster than three CLI runs, and the server is not running yet."""
    with service_clock(), open_store(str(db)) as store:
        env = store.create_environment("prod")
        store.upsert_assets(env.env_key, ASSET_CATALOG)
        return store.create_token(env.env_key, ["ingest", "read"])


def clean_import(db: Path, data: Path) -> float:
    """The reference: `data` imported once, undisturbed, in-process. Returns its duration."""
    prepare_store(db)
    with service_clock(), open_store(str(db)) as store:
        env = store.get_environment("prod")
        assert env is not None
        started = time.monotonic()
        import_file(store, env.env_key, data)
        return time.monotonic() - started


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Server:
    """`streammeter serve` as a real process, so it can be SIGKILLed."""

    def __init__(
        self, db: Path, log: Path, serve_args: Sequence[str] = (), **extra_env: str
    ) -> None:
        self.db, self.log, self.extra_env, self.serve_args = db, log, extra_env, serve_args
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> Server:
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [STREAMMETER, "serve", "--db", str(self.db), "--port", str(self.port),
                 *self.serve_args],
                stdout=log, stderr=subprocess.STDOUT, env=env_vars(**self.extra_env),
            )  # fmt: skip
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"serve exited:\n{self.log.read_text()}")
            try:
                if httpx.get(self.url + "/healthz", timeout=1).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        raise AssertionError(f"serve did not start:\n{self.log.read_text()}")

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(30)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(30)

    def client(self, token: tuple[str, str], timeout: float = 300) -> httpx.Client:
        return httpx.Client(base_url=self.url, auth=token, timeout=timeout)


def api_seconds(client: httpx.Client) -> dict[str, float]:
    """Delivered seconds per asset from the Mux-compatible API."""
    body = client.get("/video/v1/delivery-usage", params=[*TIMEFRAME, ("limit", "100")])
    assert body.status_code == 200, body.text
    return {row["asset_id"]: row["delivered_seconds"] for row in body.json()["data"]}


def store_state(db: Path) -> dict[str, Any]:
    """Everything an import writes, by external ids (keys may differ between stores)."""
    with open_store(str(db)) as store:
        cur = store._cursor()  # type: ignore[attr-defined]
        rollups = {}
        for table in ("usage_minute", "usage_hour", "usage_day", "usage_month"):
            rollups[table] = cur.execute(
                f"SELECT k.external_id, u.bucket, u.tier, sum(u.delivered_us)::BIGINT, "
                f"sum(u.bytes)::BIGINT, sum(u.requests)::BIGINT FROM {table} u "
                "LEFT JOIN entity_keys k ON k.entity_key = u.asset_key GROUP BY ALL "
                "HAVING sum(u.delivered_us) <> 0 OR sum(u.bytes) <> 0 OR sum(u.requests) <> 0 "
                "ORDER BY ALL"
            ).fetchall()
        records, distinct = cur.execute(
            "SELECT count(*), count(DISTINCT request_id) FROM records"
        ).fetchone()
        receipts = [
            (r.content_sha256, r.accepted, r.duplicate, r.rejected)
            for r in store.list_receipts(limit=1000)
        ]
    return {"rollups": rollups, "records": records, "distinct": distinct, "receipts": receipts}


def totals(state: dict[str, Any]) -> tuple[int, int, int]:
    """(delivered microseconds, bytes, requests) over the hour rollups."""
    rows = state["rollups"]["usage_hour"]
    return (sum(r[3] for r in rows), sum(r[4] for r in rows), sum(r[5] for r in rows))
