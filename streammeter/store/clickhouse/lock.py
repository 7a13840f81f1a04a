"""Writer locks in ClickHouse itself, for any number of processes and hosts.

ClickHouse has no transactions and no row locks, but `CREATE TABLE x` on one server is atomic:
of two clients creating the same table, exactly one succeeds. A lock is therefore a table
`lock_<name>` on one fixed node (the coordinator: the first replica of the cluster's first
shard, or the single server). The holder creates it, writes heartbeat rows into it from a
thread with its own connection, and drops it to release.

A holder that died leaves its table: a lock whose newest heartbeat (or, with none yet, the
table's creation) is older than `stale_after` seconds is broken by `RENAME TABLE` (atomic,
so of several breakers exactly one succeeds) and a drop; then the breaker competes normally.
The holder re-reads its own row before it commits (`verify`), so a holder that was presumed
dead fails instead of writing alongside a new one.
"""

from __future__ import annotations

import os
import secrets
import threading
import time
from collections.abc import Callable
from typing import Any

from streammeter.store.clickhouse.conn import Connection

HEARTBEAT_S = 2.0


class LockTimeout(TimeoutError):
    pass


class LockLost(RuntimeError):
    pass


def _is_exists_error(exc: Exception) -> bool:
    text = str(exc)
    return "already exists" in text or "Code: 57" in text or "TABLE_ALREADY_EXISTS" in text


def _is_missing_error(exc: Exception) -> bool:
    text = str(exc)
    return (
        "doesn't exist" in text or "does not exist" in text or "Code: 60" in text
        or "UNKNOWN_TABLE" in text
    )  # fmt: skip


class WriterLock:
    """One named lock held through `connect()`-made connections to the coordinator."""

    def __init__(
        self,
        connect: Callable[[], Connection],
        database: str,
        name: str,
        *,
        wait_s: float | None = None,
        stale_after_s: float | None = None,
        heartbeat: bool = True,
    ) -> None:
        self._connect = connect
        self.table = f"{database}.lock_{name}"
        self.holder = secrets.token_hex(8)
        self.wait_s = (
            wait_s
            if wait_s is not None
            else float(os.environ.get("STREAMMETER_CLICKHOUSE_LOCK_WAIT", "600"))
        )
        self.stale_after_s = (
            stale_after_s
            if stale_after_s is not None
            else float(os.environ.get("STREAMMETER_CLICKHOUSE_LOCK_STALE", "30"))
        )
        self._conn: Connection | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.broke_stale = False
        self._heartbeat = heartbeat

    def acquire(self) -> None:
        try:
            self._acquire()
        except BaseException:
            if self._conn is not None:
                self._conn.close()
                self._conn = None
            raise

    def _acquire(self) -> None:
        conn = self._conn = self._connect()
        deadline = time.monotonic() + self.wait_s
        delay = 0.01
        while True:
            try:
                conn.execute(f"CREATE TABLE {self.table} (holder String, at Int64) ENGINE = Log")
                break
            except Exception as exc:
                if not _is_exists_error(exc):
                    raise
            if self._stale(conn):
                self._break(conn)
                continue
            if time.monotonic() > deadline:
                raise LockTimeout(f"waited {self.wait_s:.0f}s for {self.table}")
            time.sleep(delay)
            delay = min(delay * 2, 0.2)
        self._beat(conn)
        if self._heartbeat:
            self._thread = threading.Thread(target=self._heartbeats, daemon=True)
            self._thread.start()

    def _beat(self, conn: Connection) -> None:
        # The coordinator's clock, not ours: every contender judges staleness by one clock.
        conn.execute(
            f"INSERT INTO {self.table} (holder, at) "
            "SELECT %(h)s, toInt64(toUInt32(now())) * 1000000",
            {"h": self.holder},
        )

    def _heartbeats(self) -> None:
        conn = self._connect()
        try:
            while not self._stop.wait(HEARTBEAT_S):
                try:
                    self._beat(conn)
                except Exception:  # the table was broken or the server is away: verify fails
                    return
        finally:
            conn.close()

    def _stale(self, conn: Connection) -> bool:
        try:
            rows = conn.execute(
                "SELECT toInt64(toUInt32(now())) - intDiv(max(at), 1000000), count() "
                f"FROM {self.table}"
            )
        except Exception as exc:
            if _is_missing_error(exc):
                return False  # released meanwhile: try again
            raise
        age, count = rows[0]
        if count:
            return int(age) > self.stale_after_s
        database, table = self.table.split(".")
        created = conn.execute(  # no heartbeat yet: the table's age
            "SELECT toInt64(toUInt32(now())) - toInt64(toUInt32(metadata_modification_time)) "
            "FROM system.tables WHERE database = %(db)s AND name = %(t)s",
            {"db": database, "t": table},
        )
        return bool(created) and int(created[0][0]) > self.stale_after_s + 5

    def _break(self, conn: Connection) -> None:
        aside = f"{self.table}_stale_{secrets.token_hex(4)}"
        try:
            conn.execute(f"RENAME TABLE {self.table} TO {aside}")
        except Exception as exc:
            if _is_missing_error(exc):
                return  # someone else broke or released it
            raise
        conn.execute(f"DROP TABLE IF EXISTS {aside}")
        self.broke_stale = True

    def verify(self) -> None:
        """Raise LockLost unless this holder still owns the lock (called before commits)."""
        assert self._conn is not None
        try:
            rows = self._conn.execute(
                f"SELECT count() FROM {self.table} WHERE holder = %(h)s", {"h": self.holder}
            )
        except Exception as exc:
            if _is_missing_error(exc):
                raise LockLost(f"{self.table} was broken by another writer") from None
            raise
        if not rows[0][0]:
            raise LockLost(f"{self.table} is held by another writer")

    def release(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(HEARTBEAT_S + 5)
        conn = self._conn
        if conn is None:
            return
        try:
            owner = conn.execute(f"SELECT count() FROM {self.table} WHERE holder = %(h)s",
                                 {"h": self.holder})  # fmt: skip
            if owner[0][0]:
                conn.execute(f"DROP TABLE IF EXISTS {self.table}")
        except Exception as exc:
            if not _is_missing_error(exc):
                raise
        finally:
            conn.close()
            self._conn = None

    def __enter__(self) -> WriterLock:
        self.acquire()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.release()
