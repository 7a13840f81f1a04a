"""Shared fixtures: a temporary store, an environment with tokens, a live HTTP server."""

from __future__ import annotations

import json
import os
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import uvicorn

from streammeter.api import create_app
from streammeter.config import Settings
from streammeter.store import Store, open_store
from streammeter.store.base import Environment

SAMPLES = Path(__file__).resolve().parents[1].parent / "shared" / "delivery-samples"
# The ClickHouse cluster (one per session) and stores of every engine.
pytest_plugins = ("tests.clickhouse_fixtures",)


@dataclass
class Tenant:
    env: Environment
    read: tuple[str, str]  # (token id, secret)
    ingest: tuple[str, str]
    admin: tuple[str, str]


#: Engines every store-facing test runs on (the `store` fixture and everything built on it:
#: `tenant`, `server`): the embedded DuckDB file and the two-shard ClickHouse cluster
#: (tests/clickhouse_fixtures.py). A test that is about DuckDB itself is marked
#: `@pytest.mark.duckdb_only`.
SKIP_CLICKHOUSE = os.environ.get("STREAMMETER_SKIP_CLICKHOUSE") == "1"
STORE_ENGINES = ["duckdb"] if SKIP_CLICKHOUSE else ["duckdb", "clickhouse"]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "store_engine" in metafunc.fixturenames:
        only_duckdb = metafunc.definition.get_closest_marker("duckdb_only") is not None
        metafunc.parametrize("store_engine", ["duckdb"] if only_duckdb else STORE_ENGINES)


@pytest.fixture
def store(store_engine: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Store]:
    if store_engine == "duckdb":
        with open_store(str(tmp_path / "test.duckdb")) as opened:
            yield opened
        return
    from tests.clickhouse_fixtures import drop_database

    port = request.getfixturevalue("clickhouse")
    database = f"t_{uuid.uuid4().hex[:12]}"
    opened = open_store(f"clickhouse://default@127.0.0.1:{port}/{database}?cluster=streammeter")
    try:
        yield opened
    finally:
        opened.close()
        drop_database(port, database)


def raw_query(store: Store, sql: str) -> list[tuple]:
    """Rows of SQL that both engines accept, straight from the store's tables (for tests of
    what is kept)."""
    if hasattr(store, "_q"):  # ClickHouse
        return [tuple(row) for row in store._q(sql)]
    return store._cursor().execute(sql).fetchall()


def make_tenant(store: Store, name: str, account: str | None = None) -> Tenant:
    env = store.create_environment(name, account)
    return Tenant(
        env,
        store.create_token(env.env_key, ["read"]),
        store.create_token(env.env_key, ["ingest"]),
        store.create_token(env.env_key, ["admin"]),
    )


@pytest.fixture
def tenant(store: Store) -> Tenant:
    return make_tenant(store, "prod")


def write_ndjson(path: Path, records: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


class LiveServer:
    """uvicorn serving the real app on a free loopback port, in a background thread."""

    def __init__(self, store: Store, settings: Settings | None = None) -> None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(
            create_app(store, settings or Settings()), host="127.0.0.1", port=self.port,
            log_level="warning", lifespan="off",
        )  # fmt: skip
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> LiveServer:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("server did not start")
            time.sleep(0.01)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(5)

    def client(self, token: tuple[str, str] | None = None) -> httpx.Client:
        return httpx.Client(base_url=self.url, auth=token, timeout=30)


@pytest.fixture
def server(store: Store) -> Iterator[LiveServer]:
    with LiveServer(store) as live:
        yield live
