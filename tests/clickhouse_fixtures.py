"""The ClickHouse test cluster and stores of every engine, for the ClickHouse test modules.

Registered once as a plugin (tests/conftest.py `pytest_plugins`), so the session's cluster
starts once however many modules use it: `clickhouse` starts two clickhouse-server processes
(scripts/clickhouse-cluster.sh: cluster `streammeter`, two shards on loopback) and stops them
at the end; `engines` opens fresh stores of each engine (`ENGINES`) for one test.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from streammeter.store import Store, open_store

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "clickhouse-cluster.sh"
SKIP = os.environ.get("STREAMMETER_SKIP_CLICKHOUSE") == "1"

try:
    import chdb  # noqa: F401

    HAVE_CHDB = True
except ImportError:
    HAVE_CHDB = False
ENGINES = ["duckdb", "ch_node", "ch_cluster"] + (["chdb"] if HAVE_CHDB else [])
CH_ENGINES = [e for e in ENGINES if e != "duckdb"]


# -- the cluster ------------------------------------------------------------------------------
def _free_base() -> int:
    # Each pytest-xdist worker (gw0, gw1, ...) searches its own range: two workers probing the
    # same ports at once would both find them free.
    worker = int(os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw") or 0)
    start = 21000 + worker * 6300
    for base in range(start, start + 6300, 700):
        ports = [base + off for off in (0, 9, 123, 100, 109, 223)]
        try:
            for port in ports:
                with socket.socket() as probe:
                    probe.bind(("127.0.0.1", port))
        except OSError:
            continue
        return base
    raise RuntimeError("no free ports for the ClickHouse test cluster")


def _ensure_server() -> None:
    if shutil.which("clickhouse-server") or shutil.which("clickhouse"):
        return
    if os.geteuid() == 0 and shutil.which("apt-get"):
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        subprocess.run(["apt-get", "install", "-y", "-qq", "clickhouse-server",
                        "clickhouse-client"], check=False, env=env,
                       stdout=subprocess.DEVNULL)  # fmt: skip
    if not (shutil.which("clickhouse-server") or shutil.which("clickhouse")):
        pytest.fail(
            "clickhouse-server is not installed (apt-get install clickhouse-server "
            "clickhouse-client); set STREAMMETER_SKIP_CLICKHOUSE=1 to skip these tests"
        )


@pytest.fixture(scope="session")
def clickhouse(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    """The two-shard cluster; yields shard 1's native TCP port."""
    _ensure_server()
    root = tmp_path_factory.mktemp("clickhouse")
    base = _free_base()
    env = {**os.environ, "CH_BASE_PORT": str(base)}
    started = subprocess.run(
        [str(SCRIPT), "start", str(root)], env=env, capture_output=True, text=True
    )
    try:
        if started.returncode != 0:
            pytest.fail(f"the ClickHouse cluster did not start:\n{started.stdout}{started.stderr}")
        yield base
    finally:
        subprocess.run([str(SCRIPT), "stop", str(root)], env=env, check=False)


class Engines:
    """Opens fresh stores of each engine for one test."""

    def __init__(self, port: int, tmp: Path) -> None:
        self.port, self.tmp = port, tmp
        self.opened: list[Store] = []

    def url(self, engine: str, database: str) -> str:
        tail = "?cluster=streammeter" if engine == "ch_cluster" else ""
        return f"clickhouse://default@127.0.0.1:{self.port}/{database}{tail}"

    def open(self, engine: str, name: str | None = None) -> Store:
        database = name or f"t_{uuid.uuid4().hex[:12]}"
        if engine == "duckdb":
            store = open_store(str(self.tmp / f"{database}.duckdb"))
        elif engine == "chdb":
            from streammeter.store.clickhouse import ClickHouseStore

            for earlier in [s for s in self.opened if getattr(s, "_chdb", None) is not None]:
                earlier.close()  # one chdb session per process

            store = ClickHouseStore(
                f"clickhouse://chdb/{database}", chdb_path=str(self.tmp / f"{database}.chdb")
            )
        else:
            store = open_store(self.url(engine, database))
        self.opened.append(store)
        return store

    def close(self) -> None:
        for store in self.opened:
            store.close()


@pytest.fixture
def engines(clickhouse: int, tmp_path: Path) -> Iterator[Engines]:
    opened = Engines(clickhouse, tmp_path)
    try:
        yield opened
    finally:
        opened.close()


def drop_database(port: int, database: str) -> None:
    """Drop a test database on both shards (scripts/clickhouse-cluster.sh: ports base, +100)."""
    from clickhouse_driver import Client

    for node_port in (port, port + 100):
        client = Client("127.0.0.1", port=node_port, user="default")
        try:
            client.execute(f"DROP DATABASE IF EXISTS {database}")
        finally:
            client.disconnect()
