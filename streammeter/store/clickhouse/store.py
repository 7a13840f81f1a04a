"""ClickHouse store: the `Store` interface on a ClickHouse server (or cluster), over the native
protocol. Design and limits: docs/design/clickhouse.md.

Exactness without transactions: every write that reads before it writes (imports, catalog
changes, environment creation, rebuild) runs under a writer lock kept in ClickHouse
(clickhouse/lock.py), per environment. Under it, reads see every earlier write (inserts into
Distributed tables are synchronous), so request-id dedupe and re-attribution are exact before
any merge. An import's receipt row is its commit point: records of an import without a receipt
are ignored everywhere, and its rollups are written from its records after the receipt.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import secrets
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from streammeter.counting import llhls
from streammeter.counting.record import Counted, DeliveryRecord
from streammeter.model.catalog import Asset
from streammeter.model.times import (
    US_PER_SECOND,
    hour_of,
    month_start_hour,
    next_month_start_hour,
    now_us,
)
from streammeter.store.base import (
    LATE_WINDOW_US,
    Environment,
    ImportSession,
    ImportSessionBase,
    Receipt,
    ReceiptDraft,
    Store,
    TokenInfo,
)
from streammeter.store.clickhouse.conn import (
    ChdbConnection,
    ClickHouseURL,
    Connection,
    DriverConnection,
    in_list,
)
from streammeter.store.clickhouse.delivery import ASSET_COLUMNS, ClickHouseDeliveryMixin
from streammeter.store.clickhouse.dump import ClickHouseDumpMixin
from streammeter.store.clickhouse.index import ClickHouseIndexMixin
from streammeter.store.clickhouse.lock import WriterLock
from streammeter.store.clickhouse.rolling import ClickHouseRollingMixin
from streammeter.store.clickhouse.schema import ROLLUP_TABLES, SCHEMA_VERSION, ddl
from streammeter.store.clickhouse.sql import (
    COMMITTED,
    CURRENT_ASSETS,
    CURRENT_PLAYBACK,
    retract_all_sql,
    rollup_insert_sql,
)
from streammeter.store.clickhouse.usage import ClickHouseUsageMixin
from streammeter.store.clickhouse.wowza import ClickHouseWowzaMixin

_RECEIPT_COLUMNS = (
    "receipt_id", "env_key", "source", "name", "format", "content_sha256", "root_sha256",
    "parent_receipt_id", "byte_size", "line_offset", "lines_read", "accepted", "duplicate",
    "rejected", "notes", "first_ts_us", "last_ts_us", "bytes_measure", "imported_at",
)  # fmt: skip
_RECORD_COLUMNS = (
    "env_key", "receipt_id", "line_no", "request_id", "ts_us", "hour", "asset_key",
    "playback_id", "live_stream_key", "kind", "track", "tier_hint", "duration_us", "bytes",
    "method", "status", "body_bytes", "object_bytes", "session_id", "earned_us", "media_us",
    "rendition_id", "media_sequence", "part_index", "live", "origin", "client_ip",
    "user_agent", "target_key", "additional_target",
)  # fmt: skip
ID_SLICE = 2000  # ids per IN list (keeps statements small)


def _now_s() -> int:
    return now_us() // US_PER_SECOND


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def entity_key(env_key: int, kind: str, external_id: str) -> int:
    """A stable positive 63-bit key for (environment, kind, external id)."""
    digest = hashlib.blake2b(
        f"{env_key}\x00{kind}\x00{external_id}".encode(), digest_size=8
    ).digest()
    return (int.from_bytes(digest, "big") >> 1) or 1


def _duration_us(record: DeliveryRecord) -> int | None:
    d = record.duration
    if d is None:
        return None
    quotient, remainder = divmod(d.numerator * US_PER_SECOND, d.denominator)
    twice = 2 * remainder  # round half to even, in integers
    if twice > d.denominator or (twice == d.denominator and quotient % 2):
        quotient += 1
    return quotient


class ClickHouseStore(
    ClickHouseIndexMixin,
    ClickHouseWowzaMixin,
    ClickHouseUsageMixin,
    ClickHouseDumpMixin,
    ClickHouseRollingMixin,
    ClickHouseDeliveryMixin,
    Store,
):
    """`clickhouse://user:pass@host:9000/database[?cluster=NAME]`, or `chdb` (tests)."""

    def __init__(
        self,
        url: str | ClickHouseURL,
        *,
        read_only: bool = False,
        cluster: str | None = None,
        chdb_path: str | None = None,
    ) -> None:
        self.url = ClickHouseURL.parse(url) if isinstance(url, str) else url
        self.database = self.url.database
        self.read_only = read_only
        self._chdb: ChdbConnection | None = None
        self._chdb_lock = threading.RLock()
        if chdb_path is not None:
            self._chdb = ChdbConnection(chdb_path, self.database)
        self._local = threading.local()
        self._node_list: list[tuple[str, int]] | None = None
        self._connections: list[Connection] = []
        self._connections_lock = threading.Lock()
        wanted = cluster or self.url.cluster
        if not read_only:
            self.migrate(wanted)
        self.cluster = self._meta("cluster") or None
        if wanted and self.cluster != wanted:
            raise ValueError(
                f"{self.url.redacted()} was created without --cluster {wanted} "
                f"(cluster: {self.cluster or 'none'})"
            )

    # -- plumbing --------------------------------------------------------------------------
    def _new_connection(self, *, database: str | None = None, host: str | None = None,
                        port: int | None = None, track: bool = True) -> Connection:  # fmt: skip
        if self._chdb is not None:
            return _SharedChdb(self._chdb, self._chdb_lock)
        conn = DriverConnection(self.url, database=database, host=host, port=port)
        if track:  # closed by close(); untracked ones are closed by their user
            with self._connections_lock:
                self._connections.append(conn)
        return conn

    @property
    def _conn(self) -> Connection:
        """This thread's connection (a clickhouse-driver client is not shared by threads)."""
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._local.conn = self._new_connection()
        return conn

    def _q(self, sql: str, params: dict[str, Any] | None = None) -> list[tuple]:
        return self._conn.execute(sql, params)

    def _nodes(self) -> list[tuple[str, int]]:
        """(host, tcp port) of every node: the cluster's replicas, or the one server."""
        if self._node_list is not None:
            return self._node_list
        if self._chdb is not None or not self._cluster_name():
            return [(self.url.host, self.url.port)]
        conn = self._new_connection(database="system", track=False)
        try:
            rows = conn.execute(
                "SELECT host_address, port FROM system.clusters WHERE cluster = %(c)s "
                "ORDER BY shard_num, replica_num",
                {"c": self._cluster_name()},
            )
        finally:
            conn.close()
        if not rows:
            raise ValueError(f"cluster {self._cluster_name()!r} is not in remote_servers")
        self._node_list = [(host, int(port)) for host, port in rows]
        return self._node_list

    def _cluster_name(self) -> str | None:
        return getattr(self, "cluster", None) or getattr(self, "_migrating_cluster", None)

    def migrate(self, cluster: str | None = None) -> list[str]:
        """Create (or upgrade) the schema on every node; returns the nodes done. `cluster`:
        local tables on each node plus Distributed tables over them (fixed at creation)."""
        existing = self._existing_cluster()
        if existing is not None:
            if cluster and existing != cluster:
                raise ValueError(
                    f"{self.url.redacted()} already exists "
                    f"{'on cluster ' + existing if existing else 'on a single node'}"
                )
            cluster = existing or None
        self._migrating_cluster = cluster
        self._node_list = None
        done = []
        for host, port in self._nodes():
            conn = self._chdb_or(host, port)
            try:
                for statement in ddl(self.database, cluster):
                    conn.execute(statement)
            finally:
                conn.close()
            done.append(f"{host}:{port}")
        if self._meta("schema_version") != str(SCHEMA_VERSION):
            self._set_meta("schema_version", str(SCHEMA_VERSION))
        if existing is None:
            self._set_meta("cluster", cluster or "")
        self._migrate_wowza()
        return done

    def _existing_cluster(self) -> str | None:
        """None before the schema exists; else the cluster it was created on ('' = none)."""
        conn = self._chdb_or(self.url.host, self.url.port)
        try:
            found = conn.execute(
                "SELECT count() FROM system.tables WHERE database = %(d)s AND name = 'meta'",
                {"d": self.database},
            )[0][0]
        finally:
            conn.close()
        if not found:
            return None
        return self._meta("cluster") or ""

    def _chdb_or(self, host: str, port: int) -> Connection:
        if self._chdb is not None:
            return _SharedChdb(self._chdb, self._chdb_lock)
        return self._new_connection(database="system", host=host, port=port, track=False)

    def _meta(self, key: str) -> str | None:
        rows = self._q(
            f"SELECT value FROM {self.database}.meta WHERE key = %(k)s "
            "ORDER BY version DESC LIMIT 1",
            {"k": key},
        )
        return rows[0][0] if rows else None

    def _set_meta(self, key: str, value: str) -> None:
        self._conn.insert(
            f"{self.database}.meta", ["key", "value", "version"], [(key, value, time.time_ns())]
        )

    def _lock(self, name: str) -> WriterLock:
        """A writer lock on the coordinator (first node)."""
        host, port = self._nodes()[0]
        return WriterLock(
            lambda: self._chdb_or(host, port),
            self.database,
            name,
            heartbeat=self._chdb is None,
        )

    @contextmanager
    def _env_lock(self, env_key: int) -> Iterator[WriterLock]:
        lock = self._lock(f"env_{int(env_key)}")
        lock.acquire()
        try:
            if lock.broke_stale:
                self.recover(env_key)
            yield lock
        finally:
            lock.release()

    def close(self) -> None:
        self._close_shard_pool()
        with self._connections_lock:
            for conn in self._connections:
                with contextlib.suppress(Exception):  # a dead socket
                    conn.close()
            self._connections.clear()
        self._local = threading.local()
        if self._chdb is not None:
            self._chdb.close()
            self._chdb = None

    # -- environments and tokens -----------------------------------------------------------
    def create_environment(self, name: str, account_id: str | None = None) -> Environment:
        env_id = secrets.token_hex(5)
        account = account_id or f"acct_{env_id}"
        created = _now_s()
        with _held(self._lock("environments")):
            key = int(self._q("SELECT toInt32(max(env_key) + 1) FROM environments")[0][0] or 1)
            known = self._q(
                "SELECT count() FROM accounts WHERE account_id = %(a)s", {"a": account}
            )[0][0]
            if not known:
                self._conn.insert("accounts", ["account_id", "created_at"], [(account, created)])
            self._conn.insert(
                "environments",
                ["env_key", "environment_id", "name", "account_id", "created_at"],
                [(key, env_id, name, account, created)],
            )
        return Environment(key, env_id, name, account, created)

    def _environments(self, where: str = "1", params: dict[str, Any] | None = None) -> list:
        return self._q(
            "SELECT env_key, environment_id, name, account_id, created_at FROM environments "
            f"WHERE {where} ORDER BY env_key",
            params,
        )

    def get_environment(self, ref: str) -> Environment | None:
        rows = self._environments("environment_id = %(r)s OR name = %(r)s", {"r": ref})
        rows.sort(key=lambda row: (row[1] != ref, row[0]))
        if not rows:
            return None
        if len(rows) > 1 and rows[0][1] != ref:
            raise LookupError(
                f"{len(rows)} environments are named {ref!r}; use the environment id instead"
            )
        return Environment(*rows[0])

    def list_environments(self) -> list[Environment]:
        return [Environment(*row) for row in self._environments()]

    def _environment_id(self, env_key: int) -> str:
        rows = self._environments("env_key = %(k)s", {"k": env_key})
        return rows[0][1]

    def create_token(self, env_key: int, scopes: Sequence[str]) -> tuple[str, str]:
        token_id, secret = str(uuid.uuid4()), secrets.token_urlsafe(36)
        self._conn.insert(
            "tokens",
            ["token_id", "env_key", "secret_sha256", "scopes", "created_at"],
            [(token_id, env_key, _sha256(secret), ",".join(sorted(set(scopes))), _now_s())],
        )
        return token_id, secret

    def _token_rows(self, where: str, params: dict[str, Any] | None = None) -> list[TokenInfo]:
        environments = {key: env_id for key, env_id, *_ in self._environments()}
        revoked = dict(self._q(
            "SELECT token_id, min(revoked_at) FROM token_revocations GROUP BY token_id"
        ))  # fmt: skip
        rows = self._q(
            "SELECT token_id, env_key, scopes, created_at FROM tokens "
            f"WHERE {where} ORDER BY created_at, token_id",
            params,
        )
        return [
            TokenInfo(
                tid,
                key,
                environments.get(key, ""),
                frozenset(scopes.split(",")),
                created,
                revoked.get(tid),
            )  # fmt: skip
            for tid, key, scopes, created in rows
        ]

    def _revoked(self, token_id: str) -> bool:
        return bool(self._q(
            "SELECT count() FROM token_revocations WHERE token_id = %(t)s", {"t": token_id}
        )[0][0])  # fmt: skip

    def verify_token(self, token_id: str, secret: str) -> TokenInfo | None:
        # Two plain lookups, not GLOBAL NOT IN: on every request, and 18.16 can lose the
        # temporary table of a GLOBAL IN on a shard ("Table default._data1 doesn't exist").
        rows = self._q(
            "SELECT secret_sha256 FROM tokens WHERE token_id = %(t)s LIMIT 1", {"t": token_id}
        )
        if rows and self._revoked(token_id):
            rows = []
        # Compare in constant time; hash even when the token is unknown.
        expected = rows[0][0] if rows else _sha256("")
        if not hmac.compare_digest(expected, _sha256(secret)) or not rows:
            return None
        return self._token_rows("token_id = %(t)s", {"t": token_id})[0]

    def list_tokens(self, env_key: int | None = None) -> list[TokenInfo]:
        if env_key is None:
            return self._token_rows("1")
        return self._token_rows("env_key = %(k)s", {"k": env_key})

    def revoke_token(self, token_id: str) -> bool:
        found = self._q("SELECT count() FROM tokens WHERE token_id = %(t)s", {"t": token_id})[0][
            0
        ] and not self._revoked(token_id)
        if found:  # a second revocation row is harmless: the earliest one counts
            self._conn.insert("token_revocations", ["token_id", "revoked_at"],
                              [(token_id, _now_s())])  # fmt: skip
        return bool(found)

    # -- catalog ---------------------------------------------------------------------------
    def _remember_keys(self, env_key: int, kind: str, ids: Sequence[str]) -> dict[str, int]:
        keys = {external: entity_key(env_key, kind, external) for external in set(ids) if external}
        if keys:
            self._conn.insert(
                "entity_keys",
                ["env_key", "kind", "external_id", "entity_key"],
                [(env_key, kind, ext, key) for ext, key in sorted(keys.items())],
            )
        return keys

    def _next_version(self, env_key: int) -> int:
        """Strictly above every catalog version of the environment (called under its lock)."""
        top = self._q(
            "SELECT max(v) FROM (SELECT max(version) AS v FROM assets WHERE env_key = %(e)s "
            "UNION ALL SELECT max(version) AS v FROM playback_ids WHERE env_key = %(e)s)",
            {"e": env_key},
        )[0][0]
        return max(time.time_ns() // 1000, int(top or 0) + 1)

    def _current_playback(self, env_key: int, where: str, params: dict[str, Any]) -> list:
        return self._q(
            f"SELECT playback_id, policy, asset_key FROM ({CURRENT_PLAYBACK}) WHERE {where} "
            "ORDER BY playback_id",
            {"envs": (env_key,), **params},
        )

    def _apply_rollups(
        self,
        env_key: int,
        where: str,
        params: dict[str, Any],
        sign: int,
        hours: tuple[int, int] | None = None,
    ) -> None:
        """Rollup deltas of the records matching `where` (hours: their first and last hour,
        when known), in the calendar levels and the rolling window's generations."""
        for table in ROLLUP_TABLES:
            self._q(rollup_insert_sql(table, where, sign), {"envs": (env_key,), **params})
        self._apply_rolling(env_key, where, params, sign, hours)

    def upsert_assets(self, env_key: int, assets: Sequence[Asset]) -> int:
        if not assets:
            return 0
        latest = {asset.asset_id: asset for asset in assets}  # last one wins within a call
        updated = _now_s()
        with self._env_lock(env_key) as lock:
            asset_keys = self._remember_keys(env_key, "asset", list(latest))
            live_ids = [a.live_stream_id for a in latest.values() if a.live_stream_id]
            live_keys = self._remember_keys(env_key, "live_stream", live_ids)
            keys = sorted(asset_keys.values())
            playback = sorted({p.id for a in latest.values() for p in a.playback_ids})
            old = self._current_playback(env_key, f"asset_key IN {in_list(keys)}", {})
            old_playback = sorted({row[0] for row in old})
            where = (
                f"asset_key IN {in_list(keys)} OR "
                f"(asset_key = 0 AND ifNull(playback_id, '') IN "
                f"{in_list(sorted(set(playback + old_playback)))})"
            )
            affected = self._q(
                f"SELECT count() FROM records WHERE env_key = %(e)s AND ({where}) AND {COMMITTED}",
                {"e": env_key, "envs": (env_key,)},
            )[0][0]
            lock.verify()
            change = secrets.token_hex(8)
            if affected:
                intent = self._revision_intent(env_key, where)
                self._catalog_change(env_key, change, done=False)
                self._apply_rollups(env_key, where, {}, sign=-1)
            version = self._next_version(env_key)
            self._conn.insert(
                "assets",
                ["env_key", "asset_key", *ASSET_COLUMNS, "live_stream_key", "updated_at",
                 "version"],
                [
                    (env_key, asset_keys[a.asset_id], a.asset_id, a.live_stream_id, a.passthrough,
                     a.created_at if a.created_at is not None else updated, a.deleted_at,
                     a.asset_state, a.asset_duration, a.asset_resolution_tier,
                     a.asset_encoding_tier, a.asset_video_quality,
                     live_keys.get(a.live_stream_id or "", 0), updated, version)
                    for a in latest.values()
                ],
            )  # fmt: skip
            new_rows = {
                p.id: (env_key, p.id, p.policy, asset_keys[a.asset_id], 0, version)
                for a in latest.values()
                for p in a.playback_ids
            }
            gone = [
                (env_key, pid, policy, key, 1, version)
                for pid, policy, key in old
                if pid not in new_rows
            ]
            self._conn.insert(
                "playback_ids",
                ["env_key", "playback_id", "policy", "asset_key", "deleted", "version"],
                [*gone, *new_rows.values()],
            )
            if affected:
                self._apply_rollups(env_key, where, {}, sign=1)
                self._record_revisions(intent)
                self._catalog_change(env_key, change, done=True)
        return len(latest)

    def _catalog_change(self, env_key: int, change: str, *, done: bool) -> None:
        self._conn.insert(
            "catalog_changes", ["env_key", "change_id", "done", "at"],
            [(env_key, change, int(done), _now_s())],
        )  # fmt: skip

    def _asset_dicts(
        self, env_key: int, where: str, params: dict[str, Any], tail: str = ""
    ) -> list[dict[str, Any]]:
        rows = self._q(
            f"SELECT asset_key, {', '.join(ASSET_COLUMNS)} FROM ({CURRENT_ASSETS}) "
            f"WHERE {where} {tail}",
            {"envs": (env_key,), **params},
        )
        keys = [row[0] for row in rows]
        playback: dict[int, list[dict[str, str]]] = {}
        if keys:
            for pid, policy, key in self._current_playback(
                env_key, f"asset_key IN {in_list(keys)}", {}
            ):
                playback.setdefault(key, []).append({"id": pid, "policy": policy})
        found = []
        for row in rows:
            asset = dict(zip(ASSET_COLUMNS, row[1:], strict=True))
            asset["playback_ids"] = playback.get(row[0])
            found.append(asset)
        return found

    def get_asset(self, env_key: int, asset_id: str) -> dict[str, Any] | None:
        found = self._asset_dicts(env_key, "asset_id = %(a)s", {"a": asset_id})
        return found[0] if found else None

    def list_assets(
        self, env_key: int, limit: int, offset: int
    ) -> tuple[list[dict[str, Any]], int]:
        total = self._q(f"SELECT count() FROM ({CURRENT_ASSETS})", {"envs": (env_key,)})[0][0]
        page = self._asset_dicts(
            env_key, "1", {"l": int(limit), "o": int(offset)},
            "ORDER BY asset_id LIMIT %(o)s, %(l)s",
        )  # fmt: skip
        return page, int(total)

    def live_streams(self, env_key: int, live_stream_id: str | None = None) -> list[dict[str, Any]]:
        rows = self._q(
            f"SELECT live_stream_id, asset_id, created_at FROM ({CURRENT_ASSETS}) "
            "WHERE live_stream_id IS NOT NULL "
            + ("AND live_stream_id = %(ls)s " if live_stream_id is not None else "")
            + "ORDER BY live_stream_id, created_at, asset_id",
            {"envs": (env_key,), "ls": live_stream_id},
        )
        streams: dict[str, list[str]] = {}
        for ls, asset_id, _ in rows:
            streams.setdefault(ls, []).append(asset_id)
        return [{"live_stream_id": ls, "asset_ids": ids} for ls, ids in streams.items()]

    def delete_asset(self, env_key: int, asset_id: str, deleted_at: int) -> bool:
        with self._env_lock(env_key):
            names = [
                "env_key", "asset_key", *ASSET_COLUMNS, "live_stream_key", "updated_at",
                "version",
            ]  # fmt: skip
            rows = self._q(
                f"SELECT {', '.join(names)} FROM ({CURRENT_ASSETS}) WHERE asset_id = %(a)s",
                {"envs": (env_key,), "a": asset_id},
            )
            if not rows:
                return False
            row = dict(zip(names, rows[0], strict=True))
            row["asset_state"] = "deleted"
            row["deleted_at"] = row["deleted_at"] if row["deleted_at"] is not None else deleted_at
            row["updated_at"] = _now_s()
            row["version"] = self._next_version(env_key)
            self._conn.insert("assets", names, [tuple(row[n] for n in names)])
        return True

    # -- ingest ----------------------------------------------------------------------------
    def _receipts(self, where: str, params: dict[str, Any], tail: str = "") -> list[Receipt]:
        environments = {key: env_id for key, env_id, *_ in self._environments()}
        rows = self._q(
            f"SELECT {', '.join(_RECEIPT_COLUMNS)} FROM receipts WHERE {where} {tail}", params
        )
        receipts = []
        for row in rows:
            values = list(row)
            values[1] = environments.get(values[1], "")
            values[14] = json.loads(values[14])
            receipts.append(Receipt(*values))
        return receipts

    def find_receipt_by_content(self, env_key: int, content_sha256: str) -> Receipt | None:
        found = self._receipts(
            "env_key = %(e)s AND content_sha256 = %(c)s",
            {"e": env_key, "c": content_sha256},
            "ORDER BY imported_at, receipt_id LIMIT 1",
        )
        return found[0] if found else None

    def latest_receipts_for_name(self, env_key: int, name: str) -> list[Receipt]:
        return self._receipts(
            "env_key = %(e)s AND name = %(n)s AND source = 'file'",
            {"e": env_key, "n": name},
            "ORDER BY byte_size DESC",
        )

    @contextmanager
    def importing(self, env_key: int, draft: ReceiptDraft) -> Iterator[ImportSession]:
        with self._env_lock(env_key) as lock:
            yield _ClickHouseImport(self, lock, env_key, draft)

    def list_receipts(self, env_key: int | None = None, limit: int = 100) -> list[Receipt]:
        where, params = ("env_key = %(e)s", {"e": env_key}) if env_key is not None else ("1", {})
        return self._receipts(
            where, {**params, "l": int(limit)}, "ORDER BY imported_at DESC, receipt_id LIMIT %(l)s"
        )

    def get_receipt(self, receipt_id: str) -> Receipt | None:
        found = self._receipts("receipt_id = %(r)s", {"r": receipt_id}, "LIMIT 1")
        return found[0] if found else None

    def quarantined(self, receipt_id: str, limit: int = 1000) -> list[dict[str, Any]]:
        rows = self._q(
            "SELECT line_no, reason, raw FROM quarantine WHERE receipt_id = %(r)s "
            "ORDER BY line_no LIMIT %(l)s",
            {"r": receipt_id, "l": int(limit)},
        )
        return [{"line": line, "reason": reason, "raw": raw} for line, reason, raw in rows]

    # -- query (delivery_usage: store/clickhouse/delivery.py) ----------------------------
    def rollup_snapshot(self, table: str = "usage_hour") -> list[tuple[Any, ...]]:
        if table not in ROLLUP_TABLES:
            raise ValueError(f"unknown rollup table {table}")
        rows = self._q(
            "SELECT env_key, bucket, asset_key, live_stream_key, tier, sum(delivered_us) AS d, "
            f"sum(bytes) AS b, sum(requests) AS r FROM {table} "
            "GROUP BY env_key, bucket, asset_key, live_stream_key, tier "
            "HAVING d != 0 OR b != 0 OR r != 0"
        )
        snapshot = [
            (int(env), int(bucket), int(asset) or None, int(live) or None, int(tier),
             int(d), int(b), int(r))
            for env, bucket, asset, live, tier, d, b, r in rows
        ]  # fmt: skip
        return sorted(snapshot, key=lambda row: tuple((v is None, v or 0) for v in row))

    def entity_names(self) -> dict[int, str]:
        """entity key -> external id (for audits and tests)."""
        return dict(self._q("SELECT DISTINCT entity_key, external_id FROM entity_keys"))

    # -- maintenance -----------------------------------------------------------------------
    def rebuild(self) -> None:
        """Recompute every rollup from the committed records: each table first gets the
        negation of its current sums (so it sums to zero), then the deltas of every record."""
        # No environment is created meanwhile (global lock), none is written (theirs).
        locks = [self._lock("environments")]
        locks[0].acquire()
        try:
            env_keys = [env.env_key for env in self.list_environments()]
            for key in sorted(env_keys):
                locks.append(self._lock(f"env_{key}"))
                locks[-1].acquire()
        except BaseException:
            for lock in reversed(locks):
                lock.release()
            raise
        try:
            envs = tuple(env_keys) or (0,)
            intents = [self._revision_intent(key) for key in env_keys]
            for table in ROLLUP_TABLES:
                self._q(retract_all_sql(table))
                self._q(rollup_insert_sql(table, "1", 1), {"envs": envs})
            for key in env_keys:
                self._refill_generations(key)
            self._record_revisions(*intents)
        finally:
            for lock in reversed(locks):
                lock.release()
        self.compact()

    def recover(self, env_key: int) -> int:
        """After a writer died: finish the rollups of imports that committed (receipt written)
        but did not record them as rolled up, by recomputing the buckets their records touch.
        A catalog change interrupted between its retraction and its re-assertion is repaired
        by recomputing the environment's rollups from its records and the current catalog.
        Then the revisions of the writes that changed rollups without recording them.
        Returns the number of imports and catalog changes repaired."""
        changes = [row[0] for row in self._q(
            "SELECT change_id FROM catalog_changes WHERE env_key = %(e)s "
            "GROUP BY change_id HAVING max(done) = 0",
            {"e": env_key},
        )]  # fmt: skip
        if changes:
            for table in ROLLUP_TABLES:
                self._q(retract_all_sql(table, f"env_key = {int(env_key)}"))
                self._q(rollup_insert_sql(table, "1", 1), {"envs": (env_key,)})
            self._refill_generations(env_key)
            for change in changes:
                self._catalog_change(env_key, change, done=True)
        pending = self._q(
            "SELECT receipt_id FROM receipts WHERE env_key = %(e)s AND receipt_id GLOBAL NOT IN "
            "(SELECT receipt_id FROM receipts_rolled_up WHERE env_key = %(e)s)",
            {"e": env_key},
        )
        ids = [row[0] for row in pending]
        if not ids or changes:  # a recomputed environment has every import rolled up
            if ids:
                self._conn.insert(
                    "receipts_rolled_up", ["env_key", "receipt_id", "done_at"],
                    [(env_key, rid, _now_s()) for rid in ids],
                )  # fmt: skip
            self._finish_intents(env_key)
            return len(ids) + len(changes)
        span = self._q(
            f"SELECT min(hour), max(hour), count() FROM records WHERE env_key = %(e)s "
            f"AND receipt_id IN {in_list(ids)}",
            {"e": env_key},
        )[0]
        if span[2]:  # (an empty import has no buckets to finish)
            lo, hi = int(span[0]), int(span[1])
            ranges = {
                "usage_minute": (lo * 60, (hi + 1) * 60),
                "usage_hour": (lo, hi + 1),
                "usage_day": (lo - lo % 24, hi - hi % 24 + 24),
                "usage_month": (month_start_hour(lo), next_month_start_hour(hi)),
            }
            for table, (b_lo, b_hi) in ranges.items():
                # Make the buckets sum to zero, then add back every committed record in them.
                bucket_where = f"env_key = {int(env_key)} AND bucket >= {b_lo} AND bucket < {b_hi}"
                self._q(retract_all_sql(table, bucket_where))
                if table == "usage_minute":
                    record_where = f"ts_us >= {b_lo * 60_000_000} AND ts_us < {b_hi * 60_000_000}"
                else:
                    record_where = f"hour >= {b_lo} AND hour < {b_hi}"
                self._q(rollup_insert_sql(table, record_where, 1), {"envs": (env_key,)})
        self._refill_generations(env_key)
        self._conn.insert(
            "receipts_rolled_up", ["env_key", "receipt_id", "done_at"],
            [(env_key, rid, _now_s()) for rid in ids],
        )  # fmt: skip
        self._finish_intents(env_key)
        return len(ids)

    def repair(self) -> int:
        """`recover` every environment, each under its writer lock (`streammeter migrate`)."""
        repaired = 0
        for env in self.list_environments():
            with self._env_lock(env.env_key) as lock:
                if not lock.broke_stale:  # else _env_lock already recovered it
                    repaired += self.recover(env.env_key)
        return repaired

    def compact(self) -> None:
        """Merge rollup parts on every node (SummingMergeTree then drops all-zero rows)."""
        suffix = "_local" if self.cluster else ""
        for host, port in self._nodes():
            conn = self._chdb_or(host, port)
            for table in (*ROLLUP_TABLES, "usage_rolling"):
                conn.execute(f"OPTIMIZE TABLE {self.database}.{table}{suffix} FINAL")


class _SharedChdb:
    """The chdb session (one per process) shared under a lock; close() leaves it open."""

    def __init__(self, conn: ChdbConnection, lock: threading.RLock) -> None:
        self._inner, self._lock = conn, lock

    def execute(self, sql: str, params: dict[str, Any] | None = None) -> list[tuple]:
        with self._lock:
            return self._inner.execute(sql, params)

    def insert(self, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        with self._lock:
            self._inner.insert(table, columns, rows)

    def execute_counted(self, sql: str) -> tuple[list[tuple], int | None]:
        with self._lock:
            return self._inner.execute_counted(sql)

    def close(self) -> None:
        pass


@contextmanager
def _held(lock: WriterLock) -> Iterator[WriterLock]:
    lock.acquire()
    try:
        yield lock
    finally:
        lock.release()


class _ClickHouseImport(ImportSessionBase):
    """One import under the environment's writer lock. Records go in chunk by chunk; the
    receipt (the commit point) and then the rollups are written by `finish`."""

    def __init__(
        self, store: ClickHouseStore, lock: WriterLock, env_key: int, draft: ReceiptDraft
    ) -> None:
        super().__init__(env_key, draft)
        self._store, self._lock = store, lock
        self._keys_seen: set[tuple[str, str]] = set()
        # Another writer may have imported the same content while we waited for the lock.
        self._earlier = store.find_receipt_by_content(env_key, draft.content_sha256)

    def _q(self, sql: str, params: dict[str, Any] | None = None) -> list[tuple]:
        return self._store._q(sql, params)

    def _existing_ids(self, items: Sequence[tuple[int, DeliveryRecord, Counted]]) -> set[int]:
        """Indexes of items whose request id is already stored (committed, or earlier in this
        import) within the late window of their timestamp."""
        wanted: dict[str, list[int]] = {}
        for i, (_, record, _) in enumerate(items):
            if record.request_id is not None:
                wanted.setdefault(record.request_id, []).append(i)
        if not wanted:
            return set()
        stamps = [items[i][1].ts_us for idx in wanted.values() for i in idx]
        lo, hi = min(stamps) - LATE_WINDOW_US, max(stamps) + LATE_WINDOW_US
        ids = sorted(wanted)
        stored: dict[str, list[int]] = {}
        for start in range(0, len(ids), ID_SLICE):
            rows = self._q(
                "SELECT request_id, ts_us FROM (SELECT request_id, ts_us, receipt_id FROM records "
                "WHERE env_key = %(e)s AND ts_us >= %(lo)s AND ts_us <= %(hi)s "
                f"AND request_id IN {in_list(ids[start : start + ID_SLICE])}) AS found "
                "WHERE receipt_id = %(mine)s OR receipt_id IN "
                "(SELECT receipt_id FROM receipts WHERE env_key = %(e)s)",
                {"e": self._env_key, "lo": lo, "hi": hi, "mine": self.receipt_id},
            )
            for rid, ts in rows:
                stored.setdefault(rid, []).append(int(ts))
        duplicate = set()
        for rid, stamps_of in stored.items():
            for i in wanted.get(rid, []):
                ts = items[i][1].ts_us
                if any(abs(ts - other) <= LATE_WINDOW_US for other in stamps_of):
                    duplicate.add(i)
        return duplicate

    def add(self, items: Sequence[tuple[int, DeliveryRecord, Counted]]) -> list[str]:
        if self._earlier is not None:  # the same content committed meanwhile: a no-op
            return ["duplicate"] * len(items)
        statuses = ["accepted"] * len(items)
        seen: set[str] = set()
        for i, (_, record, _) in enumerate(items):  # first copy within the chunk wins
            if record.request_id is not None:
                if record.request_id in seen:
                    statuses[i] = "duplicate"
                seen.add(record.request_id)
        for i in self._existing_ids(items):
            statuses[i] = "duplicate"
        accepted = [i for i, status in enumerate(statuses) if status == "accepted"]
        earned = {i: items[i][2].earned_us for i in accepted}
        self._count_llhls_once(items, accepted, earned)
        env = self._env_key
        for kind, attr in (("asset", "asset_id"), ("live_stream", "live_stream_id"),
                           ("target", "target")):  # fmt: skip
            new = {
                getattr(items[i][1], attr) for i in accepted
                if getattr(items[i][1], attr) and (kind, getattr(items[i][1], attr))
                not in self._keys_seen
            }  # fmt: skip
            self._store._remember_keys(env, kind, sorted(new))
            self._keys_seen.update((kind, value) for value in new)
        rows = []
        for i in accepted:
            line_no, rec, _ = items[i]
            rows.append((
                env, self.receipt_id, line_no, rec.request_id, rec.ts_us,
                rec.ts_us // 3_600_000_000,
                entity_key(env, "asset", rec.asset_id) if rec.asset_id else 0,
                rec.playback_id,
                entity_key(env, "live_stream", rec.live_stream_id) if rec.live_stream_id else 0,
                rec.kind, rec.track, rec.tier_hint, _duration_us(rec), rec.bytes, rec.method,
                rec.status, rec.body_bytes, rec.object_bytes, rec.session_id, earned[i],
                items[i][2].earned_us, rec.rendition_id, rec.media_sequence, rec.part_index,
                int(bool(rec.live)), int(bool(rec.origin)), rec.client_ip, rec.user_agent,
                entity_key(env, "target", rec.target) if rec.target else 0,
                int(bool(rec.additional_target)),
            ))  # fmt: skip
        self._lock.verify()
        self._store._conn.insert("records", _RECORD_COLUMNS, rows)
        self._note_unknown([items[i][1] for i in accepted])
        return statuses

    def _note_unknown(self, records: list[DeliveryRecord]) -> None:
        assets = sorted({r.asset_id for r in records if r.asset_id})
        playback = sorted({r.playback_id for r in records if not r.asset_id and r.playback_id})
        known_assets: set[str] = set()
        known_playback: set[str] = set()
        envs = {"envs": (self._env_key,)}
        for start in range(0, len(assets), ID_SLICE):
            known_assets.update(row[0] for row in self._q(
                f"SELECT asset_id FROM ({CURRENT_ASSETS}) WHERE asset_id IN "
                f"{in_list(assets[start : start + ID_SLICE])}", envs,
            ))  # fmt: skip
        for start in range(0, len(playback), ID_SLICE):
            known_playback.update(row[0] for row in self._q(
                f"SELECT playback_id FROM ({CURRENT_PLAYBACK}) WHERE playback_id IN "
                f"{in_list(playback[start : start + ID_SLICE])}", envs,
            ))  # fmt: skip
        for r in records:
            if r.asset_id:
                self._unknown_asset += r.asset_id not in known_assets
            elif r.playback_id:
                self._unknown_playback += r.playback_id not in known_playback

    def _count_llhls_once(
        self,
        items: Sequence[tuple[int, DeliveryRecord, Counted]],
        accepted: list[int],
        earned: dict[int, int],
    ) -> None:
        """counting.md 4.5 (counting/llhls.py), with the group sums of the stored (committed
        or this import's) records."""
        keyed = llhls.grouped(items, accepted)
        if not keyed:
            return
        env = self._env_key
        sessions = sorted({items[i][1].session_id for i in keyed})
        names = {entity_key(env, "asset", items[i][1].asset_id): items[i][1].asset_id
                 for i in keyed}  # fmt: skip
        stored: dict[llhls.GroupKey, tuple[int, int]] = {}
        for start in range(0, len(sessions), ID_SLICE):
            rows = self._q(
                "SELECT asset_key, session_id, rendition_id, media_sequence, "
                "sumIf(media_us, part_index IS NULL), sumIf(media_us, part_index IS NOT NULL) "
                "FROM (SELECT * FROM records WHERE env_key = %(e)s AND media_sequence IS NOT NULL "
                f"AND session_id IN {in_list(sessions[start : start + ID_SLICE])}) AS r "
                "WHERE receipt_id = %(mine)s OR receipt_id IN "
                "(SELECT receipt_id FROM receipts WHERE env_key = %(e)s) "
                "GROUP BY asset_key, session_id, rendition_id, media_sequence",
                {"e": env, "mine": self.receipt_id},
            )
            for key, sid, rendition, seq, whole, parts in rows:
                if key in names:
                    stored[(names[key], sid, rendition, int(seq))] = (int(whole), int(parts))
        earned.update(llhls.earn_once(items, keyed, stored))

    def finish(self, counts: dict[str, Any]) -> Receipt:
        if self._earlier is not None:
            self._earlier.already_imported = True
            return self._earlier
        store = self._store
        receipt = self._receipt(store._environment_id(self._env_key), counts)
        intent = store._import_intent(self._env_key, receipt)  # before the commit point
        if self._quarantine:
            store._conn.insert("quarantine", ["receipt_id", "line_no", "reason", "raw"],
                               self._quarantine)  # fmt: skip
        self._lock.verify()
        store._conn.insert(
            "receipts",
            _RECEIPT_COLUMNS,
            [self._receipt_row(receipt)],
        )  # fmt: skip
        # Committed. The rollups follow from the records (a crash here: `recover`).
        if receipt.accepted:
            hours = None
            if receipt.first_ts_us is not None and receipt.last_ts_us is not None:
                hours = (hour_of(receipt.first_ts_us), hour_of(receipt.last_ts_us))
            store._apply_rollups(
                self._env_key, "receipt_id = %(rid)s", {"rid": self.receipt_id}, sign=1, hours=hours
            )
        store._record_revisions(intent)
        store._conn.insert(
            "receipts_rolled_up", ["env_key", "receipt_id", "done_at"],
            [(self._env_key, self.receipt_id, _now_s())],
        )  # fmt: skip
        return receipt
