"""The embedded default store: one DuckDB file, nothing to start."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
import secrets
import threading
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from importlib import resources
from typing import Any, cast

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from streammeter.counting import llhls
from streammeter.counting.record import Counted, DeliveryRecord
from streammeter.counting.rows import ROW_SCHEMA, CountedRows
from streammeter.model.catalog import Asset
from streammeter.model.times import US_PER_HOUR, US_PER_SECOND, hour_of, now_us
from streammeter.query.windows import signed_cover
from streammeter.store import request_keys
from streammeter.store.attribution import (
    ASSET_LEVELS,
    LEVELS,
    MINUTE_RETENTION_DAYS,
    ROLLING_TABLE,
    asset_rollup_insert_sql,
    attributed_sql,
    rollup_insert_sql,
)
from streammeter.store.base import (
    DUMP_FAMILIES,
    LATE_WINDOW_US,
    Environment,
    ImportGroup,
    ImportSession,
    ImportSessionBase,
    Receipt,
    ReceiptDraft,
    Store,
    StoreFull,
    StoreLocked,
    TokenInfo,
    UsageRow,
)
from streammeter.store.duckdb_dump import DuckDBDumpMixin
from streammeter.store.duckdb_index import DuckDBIndexMixin
from streammeter.store.duckdb_usage import DuckDBUsageMixin
from streammeter.store.duckdb_wowza import DuckDBWowzaMixin
from streammeter.store.generations import ANY_HOUR, NO_HOUR, ChangeFloors, SharedGenerations

SCHEMA_VERSION = "1"
DEFAULT_MEMORY_LIMIT = "1GB"
#: DuckDB's memory limit while a file is imported (never above the store's): the import's RSS
#: is ~350 MB of Python and parsing plus about this much (docs/performance.md#memory).
DEFAULT_IMPORT_MEMORY_LIMIT = "256MB"
_SIZE = re.compile(r"(\d+(?:\.\d+)?)\s*([KMGT]?)(i?)B", re.IGNORECASE)
_MEASURES = (
    "delivered_us", "bytes", "requests", "egress_us", "egress_bytes",
    "egress_additional_us", "egress_additional_bytes",
)  # fmt: skip
_SUMS = ", ".join(f"sum({m})::BIGINT AS {m}" for m in _MEASURES)
_NONZERO = " OR ".join(f"sum({m}) <> 0" for m in _MEASURES)
ROLLUP_TABLES = tuple(LEVELS)
ASSET_ROLLUP_TABLES = tuple(ASSET_LEVELS)
_ASSET_MEASURES = ("total_us", "t1_us", "t2_us", "t3_us", "t4_us", "t5_us")
_ASSET_COLUMNS = (
    "asset_id, live_stream_id, passthrough, created_at, deleted_at, asset_state, "
    "asset_duration, asset_resolution_tier, asset_encoding_tier, asset_video_quality"
)
_RECEIPT_FIELDS = DUMP_FAMILIES["receipts"]  # the `receipts` table's columns, in order
_RECEIPT_COLUMNS = (
    "receipt_id, environment_id, source, r.name, format, content_sha256, root_sha256, "
    "parent_receipt_id, byte_size, line_offset, lines_read, accepted, duplicate, rejected, "
    "notes, first_ts_us, last_ts_us, bytes_measure, imported_at"
)
_STAGE_SCHEMA = pa.schema([("idx", pa.int32()), ("receipt_id", pa.string()), *ROW_SCHEMA])
#: The columns of `records`, in order (schema.sql).
_RECORD_COLUMNS = (
    "env_key", "receipt_id", "line_no", "request_id", "ts_us", "hour", "asset_key",
    "playback_id", "live_stream_key", "kind", "track", "tier_hint", "duration_us", "bytes",
    "method", "status", "body_bytes", "object_bytes", "session_id", "earned_us", "media_us",
    "rendition_id", "media_sequence", "part_index", "live", "origin", "client_ip", "user_agent",
    "target_key", "additional_target",
)  # fmt: skip
#: (entity kind, staged column of its external id)
_ENTITY_COLUMNS = (("asset", "asset_id"), ("live_stream", "live_stream_id"), ("target", "target"))


def _now_s() -> int:
    return now_us() // US_PER_SECOND


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _usage_scan(level: str, sign: int, *, every_env: bool = False) -> str:
    """SELECT (env_key, asset_key, total, t1..t5) of one signed part of a delivery-usage
    window, with `env_key = ?` (unless `every_env`) and `bucket >= ? AND bucket < ?` to bind
    (the rolling level has no buckets); hours come from the narrow usage_hour rows, longer
    buckets and the rolling window from the per-asset rollups."""
    neg = "-" if sign < 0 else ""
    env = "TRUE" if every_env else "env_key = ?"
    if level == "hour":
        tiers = ", ".join(
            f"{neg}CASE WHEN tier = {code} THEN delivered_us END AS t{code}" for code in range(1, 6)
        )
        return (
            f"SELECT env_key, asset_key, {neg}delivered_us AS total, {tiers} FROM usage_hour "
            f"WHERE {env} AND bucket >= ? AND bucket < ? AND tier > 0 "
            "AND asset_key IS NOT NULL"
        )
    tiers = ", ".join(f"{neg}t{code}_us AS t{code}" for code in range(1, 6))
    buckets = "" if level == "rolling" else " AND bucket >= ? AND bucket < ?"
    return (
        f"SELECT env_key, asset_key, {neg}total_us AS total, {tiers} FROM asset_usage_{level} "
        f"WHERE {env}{buckets}"
    )


class DuckDBStore(DuckDBIndexMixin, DuckDBWowzaMixin, DuckDBUsageMixin, DuckDBDumpMixin, Store):
    counts_rows = True

    def __init__(self, path: str, *, read_only: bool = False) -> None:
        self.path = path
        try:
            self._con = duckdb.connect(path, read_only=read_only)
        except duckdb.IOException as exc:
            if "lock" in str(exc).lower():
                raise StoreLocked(
                    f"the store {path} is in use by another process (is `streammeter serve` "
                    "running?). Stop it, or send this command through the running server with "
                    "--url http://HOST:PORT and --token TOKEN_ID:SECRET."
                ) from None
            raise
        self._limit_memory(path, read_only)
        self._write_lock = threading.RLock()
        # write_generations(): counted when a write transaction ends (committed or not).
        self._writes = self._catalog_writes = 0
        self._published: SharedGenerations | None = None
        self._floors = ChangeFloors()  # changed_floor()
        self._in_import = threading.local()
        self._local = threading.local()
        self._read_only, self._needs_reopen = read_only, False
        if not read_only:
            self._migrate()

    # -- plumbing --------------------------------------------------------------------------
    @staticmethod
    def _memory_setting(name: str, default: str) -> str:
        limit = os.environ.get(name, default).strip()
        if not _SIZE.fullmatch(limit):
            raise ValueError(f"{name} must look like 512MB or 2GB, got {limit!r}")
        return limit

    @staticmethod
    def _size_bytes(limit: str) -> float:
        """Bytes of a DuckDB memory size ('512MB', '1GiB', '488.2 MiB')."""
        found = _SIZE.fullmatch(limit.strip())
        assert found is not None, limit
        number, unit, binary = found.groups()
        power = " KMGT".index(unit.upper() or " ")
        return float(number) * (1024 if binary else 1000) ** power

    def _limit_memory(self, path: str, read_only: bool) -> None:
        """Bound DuckDB's memory so a huge import spills to disk instead of growing RSS
        (docs/configuration.md). `STREAMMETER_MEMORY_LIMIT`, default 1GB; while a file is
        imported, `STREAMMETER_IMPORT_MEMORY_LIMIT` (default 256MB) if lower. Also the
        write-ahead log's size that makes DuckDB checkpoint, `STREAMMETER_CHECKPOINT_THRESHOLD`
        (fewer, larger checkpoints: more ingest under load, docs/performance.md)."""
        self._memory_limit = self._memory_setting("STREAMMETER_MEMORY_LIMIT", DEFAULT_MEMORY_LIMIT)
        self._import_memory_limit = self._memory_setting(
            "STREAMMETER_IMPORT_MEMORY_LIMIT", DEFAULT_IMPORT_MEMORY_LIMIT
        )
        self._con.execute(f"SET memory_limit = '{self._memory_limit}'")
        if os.environ.get("STREAMMETER_CHECKPOINT_THRESHOLD"):  # unset: DuckDB's (16 MB)
            threshold = self._memory_setting("STREAMMETER_CHECKPOINT_THRESHOLD", "")
            self._con.execute(f"SET checkpoint_threshold = '{threshold}'")
        if path != ":memory:" and not read_only:
            self._con.execute("SET temp_directory = ?", [path + ".tmp"])

    @contextmanager
    def _file_import_memory(self) -> Iterator[None]:
        """DuckDB's memory limit lowered to the import limit while a file is imported (a
        long file fills DuckDB's buffer pool with the blocks it appends: RSS grows up to the
        limit), then set back to the store's."""
        with self._write_lock:  # one import at a time changes it
            cur = self._cursor()
            current = cur.execute("SELECT current_setting('memory_limit')").fetchone()[0]
            lower = self._size_bytes(self._import_memory_limit) < self._size_bytes(current)
            if lower:
                cur.execute(f"SET memory_limit = '{self._import_memory_limit}'")
            try:
                yield
            finally:
                if lower:
                    with suppress(duckdb.Error):  # e.g. a database invalidated meanwhile
                        self._cursor().execute(f"SET memory_limit = '{self._memory_limit}'")

    def _cursor(self) -> duckdb.DuckDBPyConnection:
        if self._needs_reopen:
            self._reopen()
        cursor = getattr(self._local, "cursor", None)
        if cursor is None:
            cursor = self._con.cursor()
            self._local.cursor = cursor
        return cursor

    def _migrate(self) -> None:
        schema = resources.files("streammeter.store").joinpath("schema.sql").read_text()
        with self._write_lock:
            had_asset_rollups = self._con.execute(
                "SELECT count(*) FROM information_schema.tables "
                "WHERE table_name = 'asset_usage_day'"
            ).fetchone()[0]
            self._con.execute(schema)
            if not had_asset_rollups:  # a store made before they existed: fill them once
                for table in ASSET_ROLLUP_TABLES:
                    self._con.execute(
                        asset_rollup_insert_sql(table, f"({attributed_sql('records')})")
                    )
            request_keys.migrate(self._con)
            self._migrate_index()
            self._migrate_wowza()
            self._migrate_usage()
            self._con.execute(
                "INSERT OR REPLACE INTO meta VALUES ('schema_version', ?)", [SCHEMA_VERSION]
            )

    def write_generations(self) -> tuple[int, int] | None:
        # One process owns the file for writing (DuckDB's lock), and every write of this
        # process goes through this object's _transaction.
        return self._writes, self._catalog_writes

    def changed_floor(self, since: int, until: int) -> int | None:
        return self._floors.floor_since(since, until)

    def publish_generations(self, shared: SharedGenerations) -> None:
        """Also write the generations to `shared` whenever they move, for front processes
        (`serve --workers N`, docs/design/fronts.md)."""
        with self._write_lock:
            self._published = shared
            shared.publish(self._writes, self._catalog_writes)

    @contextmanager
    def _transaction(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """One write transaction: all of it commits, or none of it (docs/reliability.md)."""
        with self._write_lock:
            try:
                cur = self._cursor()
                cur.execute("BEGIN TRANSACTION")
                try:
                    yield cur
                except BaseException:
                    self._rollback_quietly(cur)
                    raise
                try:
                    cur.execute("COMMIT")
                except BaseException:  # e.g. the disk filled while committing
                    self._rollback_quietly(cur)
                    raise
            except duckdb.Error as exc:
                self._recover(exc)
                raise
            finally:  # committed or not, counted while the lock is held (write_generations)
                self._writes += 1
                floor = ANY_HOUR
                if getattr(self._in_import, "active", False):
                    floor = self._in_import.floor  # lowered by _apply_rollups' answers
                else:
                    self._catalog_writes += 1
                self._floors.record(self._writes, floor)
                if self._published is not None:  # before the write's answer is sent
                    self._published.publish(self._writes, self._catalog_writes, floor)

    @staticmethod
    def _rollback_quietly(cur: duckdb.DuckDBPyConnection) -> None:
        """Roll back, keeping the original error: a failed COMMIT may have ended the
        transaction already, and an invalidated database refuses everything."""
        with suppress(duckdb.Error):
            cur.execute("ROLLBACK")

    def _recover(self, exc: duckdb.Error) -> None:
        """After a failed write: reopen a database DuckDB invalidated (a fatal error, such as
        a checkpoint that could not be written, refuses every later statement until it is
        reopened; what was committed is in the file and its WAL), and turn a full disk into
        `StoreFull`."""
        message = str(exc)
        if isinstance(exc, duckdb.FatalException) or "database has been invalidated" in message:
            self._needs_reopen = True
            with suppress(duckdb.Error):  # if it fails (disk still full?), the next use retries
                self._reopen()
        if "no space left on device" in message.lower():
            raise StoreFull(
                f"the disk holding the store {self.path} is full (No space left on device): "
                "nothing of this write was stored. Free some space and retry; an import that "
                "is retried is counted once."
            ) from exc

    def _reopen(self) -> None:
        with self._write_lock:
            if not self._needs_reopen:
                return  # another thread did it
            with suppress(duckdb.Error):
                self._con.close()  # closes every thread's cursor too
            self._local = threading.local()
            self._con = duckdb.connect(self.path, read_only=self._read_only)
            self._limit_memory(self.path, self._read_only)
            self._needs_reopen = False

    def close(self) -> None:
        self._con.close()

    # -- environments and tokens -----------------------------------------------------------
    def create_environment(self, name: str, account_id: str | None = None) -> Environment:
        env_id = secrets.token_hex(5)
        account = account_id or f"acct_{env_id}"
        created = _now_s()
        with self._transaction() as cur:
            key = cur.execute("SELECT coalesce(max(env_key), 0) + 1 FROM environments").fetchone()
            cur.execute(
                "INSERT INTO accounts SELECT ?, ? WHERE ? NOT IN (SELECT account_id FROM accounts)",
                [account, created, account],
            )
            cur.execute(
                "INSERT INTO environments VALUES (?, ?, ?, ?, ?)",
                [key[0], env_id, name, account, created],
            )
        return Environment(key[0], env_id, name, account, created)

    def get_environment(self, ref: str) -> Environment | None:
        rows = (
            self._cursor()
            .execute(
                "SELECT env_key, environment_id, name, account_id, created_at FROM environments "
                "WHERE environment_id = ? OR name = ? ORDER BY environment_id = ? DESC, env_key",
                [ref, ref, ref],
            )
            .fetchall()
        )
        if not rows:
            return None
        if len(rows) > 1 and rows[0][1] != ref:
            raise LookupError(
                f"{len(rows)} environments are named {ref!r}; use the environment id instead"
            )
        return Environment(*rows[0])

    def list_environments(self) -> list[Environment]:
        rows = (
            self._cursor()
            .execute(
                "SELECT env_key, environment_id, name, account_id, created_at FROM environments "
                "ORDER BY env_key"
            )
            .fetchall()
        )
        return [Environment(*row) for row in rows]

    def create_token(self, env_key: int, scopes: Sequence[str]) -> tuple[str, str]:
        token_id, secret = str(uuid.uuid4()), secrets.token_urlsafe(36)
        with self._transaction() as cur:
            cur.execute(
                "INSERT INTO tokens VALUES (?, ?, ?, ?, ?, NULL)",
                [token_id, env_key, _sha256(secret), ",".join(sorted(set(scopes))), _now_s()],
            )
        return token_id, secret

    def _token_rows(self, where: str, params: list[Any]) -> list[TokenInfo]:
        rows = (
            self._cursor()
            .execute(
                "SELECT t.token_id, t.env_key, e.environment_id, t.scopes, t.created_at, "
                f"t.revoked_at FROM tokens t JOIN environments e USING (env_key) {where} "
                "ORDER BY t.created_at, t.token_id",
                params,
            )
            .fetchall()
        )
        return [
            TokenInfo(tid, key, env, frozenset(scopes.split(",")), created, revoked)
            for tid, key, env, scopes, created, revoked in rows
        ]

    def verify_token(self, token_id: str, secret: str) -> TokenInfo | None:
        row = (
            self._cursor()
            .execute(
                "SELECT secret_sha256 FROM tokens WHERE token_id = ? AND revoked_at IS NULL",
                [token_id],
            )
            .fetchone()
        )
        # Compare in constant time; hash even when the token is unknown.
        expected = row[0] if row else _sha256("")
        if not hmac.compare_digest(expected, _sha256(secret)) or row is None:
            return None
        return self._token_rows("WHERE t.token_id = ?", [token_id])[0]

    def list_tokens(self, env_key: int | None = None) -> list[TokenInfo]:
        if env_key is None:
            return self._token_rows("", [])
        return self._token_rows("WHERE t.env_key = ?", [env_key])

    def revoke_token(self, token_id: str) -> bool:
        with self._transaction() as cur:
            found = cur.execute(
                "UPDATE tokens SET revoked_at = ? WHERE token_id = ? AND revoked_at IS NULL "
                "RETURNING token_id",
                [_now_s(), token_id],
            ).fetchall()
        return bool(found)

    # -- catalog ---------------------------------------------------------------------------
    @staticmethod
    def _ensure_keys(
        cur: duckdb.DuckDBPyConnection, env_key: int, kind: str, ids: Sequence[str]
    ) -> dict[str, int]:
        if not ids:
            return {}
        # A replacement scan of the local table (not register(), which lives until commit).
        new_ids = pa.table({"external_id": pa.array(sorted(set(ids)), pa.string())})
        cur.execute(
            "INSERT INTO entity_keys SELECT nextval('entity_key_seq'), ?, ?, n.external_id "
            "FROM new_ids n ANTI JOIN (SELECT external_id FROM entity_keys "
            "WHERE env_key = ? AND kind = ?) k USING (external_id)",
            [env_key, kind, env_key, kind],
        )
        rows = cur.execute(
            "SELECT k.external_id, k.entity_key FROM entity_keys k "
            "SEMI JOIN new_ids n USING (external_id) WHERE k.env_key = ? AND k.kind = ?",
            [env_key, kind],
        ).fetchall()
        del new_ids
        return dict(rows)

    def upsert_assets(self, env_key: int, assets: Sequence[Asset]) -> int:
        if not assets:
            return 0
        latest = {asset.asset_id: asset for asset in assets}  # last one wins within a call
        updated = _now_s()
        with self._transaction() as cur:
            asset_keys = self._ensure_keys(cur, env_key, "asset", list(latest))
            live_keys = self._ensure_keys(
                cur,
                env_key,
                "live_stream",
                [a.live_stream_id for a in latest.values() if a.live_stream_id],
            )
            playback = [p.id for a in latest.values() for p in a.playback_ids]
            keys = list(asset_keys.values())
            old_playback = [
                r[0]
                for r in cur.execute(
                    "SELECT playback_id FROM playback_ids "
                    "WHERE env_key = ? AND list_contains(?, asset_key)",
                    [env_key, keys],
                ).fetchall()
            ]
            affected = self._stage_affected(cur, env_key, keys, playback + old_playback)
            if affected:
                self._apply_rollups(cur, "affected", sign=-1)
            cur.execute("DELETE FROM assets WHERE list_contains(?, asset_key)", [keys])
            cur.execute(
                "DELETE FROM playback_ids WHERE env_key = ? AND (list_contains(?, asset_key) "
                "OR list_contains(?, playback_id))",
                [env_key, keys, playback],
            )
            cur.executemany(
                f"INSERT INTO assets (asset_key, env_key, {_ASSET_COLUMNS}, live_stream_key, "
                "updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    [
                        asset_keys[a.asset_id], env_key, a.asset_id, a.live_stream_id,
                        a.passthrough, a.created_at if a.created_at is not None else updated,
                        a.deleted_at, a.asset_state, a.asset_duration, a.asset_resolution_tier,
                        a.asset_encoding_tier, a.asset_video_quality,
                        live_keys.get(a.live_stream_id or ""), updated,
                    ]
                    for a in latest.values()
                ],
            )  # fmt: skip
            pb_rows = [
                [env_key, p.id, p.policy, asset_keys[a.asset_id]]
                for a in latest.values()
                for p in a.playback_ids
            ]
            if pb_rows:
                cur.executemany("INSERT OR REPLACE INTO playback_ids VALUES (?, ?, ?, ?)", pb_rows)
            if affected:
                self._apply_rollups(cur, "affected", sign=1)
                cur.execute("DROP TABLE affected")
        return len(latest)

    @staticmethod
    def _stage_affected(
        cur: duckdb.DuckDBPyConnection, env_key: int, asset_keys: list[int], playback: list[str]
    ) -> int:
        """Stage the records whose attribution depends on these assets/playback ids."""
        cur.execute(
            "CREATE OR REPLACE TEMP TABLE affected AS SELECT * FROM records WHERE env_key = ? "
            "AND (list_contains(?, asset_key) "
            "     OR (asset_key IS NULL AND list_contains(?, playback_id)))",
            [env_key, asset_keys, playback],
        )
        count = cur.execute("SELECT count(*) FROM affected").fetchone()[0]
        if not count:
            cur.execute("DROP TABLE affected")
        return count

    @staticmethod
    def _apply_rollups(
        cur: duckdb.DuckDBPyConnection, source: str, sign: int = 1, *, rows: pa.Table | None = None
    ) -> int:
        """Append the rollup deltas of `source` (a table with the `records` columns), or of
        `rows` (the same as an Arrow table: an import's chunk). Returns the lowest hour whose
        numbers changed (`_record_changes`)."""
        # Attribute once (the catalog joins), then every level groups the attributed rows.
        if rows is None:
            cur.execute(f"CREATE OR REPLACE TEMP TABLE attributed AS {attributed_sql(source)}")
            attributed = None
        else:
            # An import's chunk stays in Arrow, read through replacement scans of these locals:
            # a temporary table created and dropped inside the import's transaction is kept
            # (its rows spilled to the temp directory, its metadata in memory) until COMMIT,
            # ~35 MB of RSS and ~0.6 GB of temporary files per million lines (performance.md).
            source_rows = rows  # noqa: F841
            attributed = cur.sql(attributed_sql("source_rows")).to_arrow_table()
        for table in ROLLUP_TABLES:
            cur.execute(rollup_insert_sql(table, "attributed", sign))
        for table in ASSET_ROLLUP_TABLES:
            cur.execute(asset_rollup_insert_sql(table, "attributed", sign))
        lo, hi = cur.execute("SELECT start_hour, end_hour FROM rolling_window").fetchone()
        if lo < hi:
            cur.execute(asset_rollup_insert_sql(ROLLING_TABLE, "attributed", sign, hours=(lo, hi)))
        floor = DuckDBUsageMixin._record_changes(
            cur, "attributed", sign, absolute=source == "rebuild_source", rows=attributed
        )
        if attributed is None:
            cur.execute("DROP TABLE attributed")
        return floor

    def _asset_dicts(self, where: str, params: list[Any], tail: str = "") -> list[dict[str, Any]]:
        cur = self._cursor()
        rows = cur.execute(
            f"SELECT {_ASSET_COLUMNS}, "
            "(SELECT list({'id': p.playback_id, 'policy': p.policy} ORDER BY p.playback_id) "
            " FROM playback_ids p WHERE p.asset_key = a.asset_key) AS playback_ids "
            f"FROM assets a {where} {tail}",
            params,
        )
        names = [d[0] for d in rows.description]
        return [dict(zip(names, row, strict=True)) for row in rows.fetchall()]

    def get_asset(self, env_key: int, asset_id: str) -> dict[str, Any] | None:
        found = self._asset_dicts("WHERE env_key = ? AND asset_id = ?", [env_key, asset_id])
        return found[0] if found else None

    def list_assets(
        self, env_key: int, limit: int, offset: int
    ) -> tuple[list[dict[str, Any]], int]:
        total = (
            self._cursor()
            .execute("SELECT count(*) FROM assets WHERE env_key = ?", [env_key])
            .fetchone()[0]
        )
        page = self._asset_dicts(
            "WHERE env_key = ?", [env_key, limit, offset], "ORDER BY asset_id LIMIT ? OFFSET ?"
        )
        return page, total

    def live_streams(self, env_key: int, live_stream_id: str | None = None) -> list[dict[str, Any]]:
        rows = (
            self._cursor()
            .execute(
                "SELECT live_stream_id, list(asset_id ORDER BY created_at, asset_id) FROM assets "
                "WHERE env_key = ? AND live_stream_id IS NOT NULL "
                "AND (? IS NULL OR live_stream_id = ?) GROUP BY live_stream_id ORDER BY 1",
                [env_key, live_stream_id, live_stream_id],
            )
            .fetchall()
        )
        return [{"live_stream_id": ls, "asset_ids": ids} for ls, ids in rows]

    def delete_asset(self, env_key: int, asset_id: str, deleted_at: int) -> bool:
        with self._transaction() as cur:
            found = cur.execute(
                "UPDATE assets SET asset_state = 'deleted', "
                "deleted_at = coalesce(deleted_at, ?), updated_at = ? "
                "WHERE env_key = ? AND asset_id = ? RETURNING asset_key",
                [deleted_at, _now_s(), env_key, asset_id],
            ).fetchall()
        return bool(found)

    # -- ingest ----------------------------------------------------------------------------
    def _receipts(self, where: str, params: list[Any], tail: str = "") -> list[Receipt]:
        rows = (
            self._cursor()
            .execute(
                f"SELECT {_RECEIPT_COLUMNS} FROM receipts r JOIN environments e USING (env_key) "
                f"{where} {tail}",
                params,
            )
            .fetchall()
        )
        receipts = []
        for row in rows:
            values = list(row)
            values[14] = json.loads(values[14])
            receipts.append(Receipt(*values))
        return receipts

    def find_receipt_by_content(self, env_key: int, content_sha256: str) -> Receipt | None:
        found = self._receipts(
            "WHERE r.env_key = ? AND content_sha256 = ?", [env_key, content_sha256]
        )
        return found[0] if found else None

    def latest_receipts_for_name(self, env_key: int, name: str) -> list[Receipt]:
        return self._receipts(
            "WHERE r.env_key = ? AND r.name = ? AND source = 'file'",
            [env_key, name],
            "ORDER BY byte_size DESC",
        )

    @contextmanager
    def importing(self, env_key: int, draft: ReceiptDraft) -> Iterator[ImportSession]:
        if draft.source != "file":
            with self.importing_group(env_key) as group:
                yield group.session(draft)
            return
        with self._file_import_memory(), self.importing_group(env_key) as group:
            yield group.session(draft)

    @contextmanager
    def importing_group(self, env_key: int) -> Iterator[ImportGroup]:
        self._in_import.active = True  # an import writes no catalog (write_generations)
        self._in_import.floor = NO_HOUR  # nor any hour but those its rollups change
        try:
            with self._transaction() as cur:
                yield _DuckDBGroup(self, cur, env_key)
        finally:
            self._in_import.active = False

    def find_receipts_by_content(
        self, env_key: int, content_sha256s: Sequence[str]
    ) -> dict[str, Receipt]:
        found = self._receipts(
            "WHERE r.env_key = ? AND list_contains(?, content_sha256)",
            [env_key, sorted(set(content_sha256s))],
        )
        return {receipt.content_sha256: receipt for receipt in found}

    def list_receipts(self, env_key: int | None = None, limit: int = 100) -> list[Receipt]:
        where, params = ("WHERE r.env_key = ?", [env_key]) if env_key is not None else ("", [])
        return self._receipts(
            where, [*params, limit], "ORDER BY imported_at DESC, receipt_id LIMIT ?"
        )

    def get_receipt(self, receipt_id: str) -> Receipt | None:
        found = self._receipts("WHERE receipt_id = ?", [receipt_id])
        return found[0] if found else None

    def quarantined(self, receipt_id: str, limit: int = 1000) -> list[dict[str, Any]]:
        rows = (
            self._cursor()
            .execute(
                "SELECT line_no, reason, raw FROM quarantine WHERE receipt_id = ? "
                "ORDER BY line_no LIMIT ?",
                [receipt_id, limit],
            )
            .fetchall()
        )
        return [{"line": line, "reason": reason, "raw": raw} for line, reason, raw in rows]

    # -- query -----------------------------------------------------------------------------
    def delivery_usage(
        self,
        env_key: int,
        start_hour: int,
        end_hour: int,
        *,
        asset_id: str | None = None,
        live_stream_id: str | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> tuple[list[UsageRow], int]:
        cur = self._cursor()
        cur.execute("BEGIN TRANSACTION")  # one snapshot: the rolling window and its rows
        try:
            return self._delivery_usage(
                cur, env_key, start_hour, end_hour, asset_id, live_stream_id, limit, offset
            )
        finally:
            cur.execute("COMMIT")

    def _delivery_usage(
        self,
        cur: duckdb.DuckDBPyConnection,
        env_key: int,
        start_hour: int,
        end_hour: int,
        asset_id: str | None,
        live_stream_id: str | None,
        limit: int,
        offset: int,
    ) -> tuple[list[UsageRow], int]:
        key_filter, key_params = "", []
        if asset_id is not None:
            row = cur.execute(
                "SELECT asset_key FROM assets WHERE env_key = ? AND asset_id = ?",
                [env_key, asset_id],
            ).fetchone()
            if row is None:
                return [], 0
            key_filter, key_params = " AND asset_key = ?", [row[0]]
        rolling = cur.execute("SELECT start_hour, end_hour FROM rolling_window").fetchone()
        scans, params = [], []
        for level, lo, hi, sign in signed_cover(start_hour, end_hour, hour_of(now_us()), rolling):
            scans.append(_usage_scan(level, sign) + key_filter)
            params += [env_key, *([] if level == "rolling" else [lo, hi]), *key_params]
        if not scans:
            return [], 0
        live_filter = ""
        if live_stream_id is not None:
            live_filter = " AND a.live_stream_id = ?"
        # The window is read as signed parts (query/windows.signed_cover): hours at the edges
        # from usage_hour, days/weeks/months from the per-asset rollups, a ragged month as the
        # month minus its hours outside the window. Two passes over those rows
        # (docs/performance.md): the page is chosen on each asset's total alone, then the
        # per-tier split is summed for the page's assets only, and the catalog columns are
        # joined for the page only. `usage` is inlined in both passes (not materialized);
        # `ranked` and `page` are computed once, and the row count is a scalar count of
        # `ranked` (a `count(*) OVER ()` over 200,000 rows cost ~100 ms).
        sql = f"""
            WITH usage AS NOT MATERIALIZED ({" UNION ALL ".join(scans)}),
            totals AS (
                SELECT asset_key, sum(total) AS total FROM usage GROUP BY asset_key
            ),
            ranked AS MATERIALIZED (
                SELECT t.asset_key, t.total, a.asset_id
                FROM totals t JOIN assets a USING (asset_key)
                WHERE t.total > 0{live_filter}
            ),
            page AS MATERIALIZED (
                SELECT asset_key, total, asset_id, (SELECT count(*) FROM ranked) AS row_count
                FROM ranked ORDER BY total DESC, asset_id LIMIT ? OFFSET ?
            ),
            tiers AS (
                SELECT asset_key, sum(t1) AS t1, sum(t2) AS t2, sum(t3) AS t3, sum(t4) AS t4,
                       sum(t5) AS t5
                FROM usage WHERE asset_key IN (SELECT asset_key FROM page)
                GROUP BY asset_key
            )
            SELECT s.t1, s.t2, s.t3, s.t4, s.t5, g.total, g.row_count,
                   {", ".join("a." + c.strip() for c in _ASSET_COLUMNS.split(","))}
            FROM page g JOIN tiers s USING (asset_key) JOIN assets a USING (asset_key)
            ORDER BY g.total DESC, g.asset_id
        """
        params += ([live_stream_id] if live_stream_id is not None else []) + [limit, offset]
        result = cur.execute(sql, params)
        names = [d[0] for d in result.description]
        rows = result.fetchall()
        if not rows:
            total = self._count_usage_rows(cur, sql, params) if offset else 0
            return [], total
        usage = []
        for row in rows:
            tiers = {code: int(row[code - 1]) for code in range(1, 6) if row[code - 1]}
            asset = dict(zip(names[7:], row[7:], strict=True))
            usage.append(UsageRow(asset=asset, tiers_us=tiers, total_us=int(row[5])))
        return usage, int(rows[0][6])

    @staticmethod
    def _count_usage_rows(cur: duckdb.DuckDBPyConnection, sql: str, params: list[Any]) -> int:
        """total_row_count for a page past the end: same query, first page."""
        row = cur.execute(sql, [*params[:-2], 1, 0]).fetchone()
        return int(row[6]) if row else 0

    def rollup_snapshot(self, table: str = "usage_hour") -> list[tuple[Any, ...]]:
        if table not in ROLLUP_TABLES:
            raise ValueError(f"unknown rollup table {table}")
        return (
            self._cursor()
            .execute(
                f"SELECT env_key, bucket, asset_key, live_stream_key, tier, sum(delivered_us), "
                f"sum(bytes), sum(requests) FROM {table} GROUP BY ALL "
                "HAVING sum(delivered_us) <> 0 OR sum(bytes) <> 0 OR sum(requests) <> 0 "
                "ORDER BY ALL"
            )
            .fetchall()
        )

    # -- maintenance -----------------------------------------------------------------------
    def rebuild(self) -> None:
        with self._transaction() as cur:
            for table in (*ROLLUP_TABLES, *ASSET_ROLLUP_TABLES, ROLLING_TABLE):
                cur.execute(f"DELETE FROM {table}")
            cur.execute(
                "CREATE OR REPLACE TEMP TABLE rebuild_source AS "
                "SELECT * FROM records ORDER BY env_key, hour"
            )
            self._apply_rollups(cur, "rebuild_source")
            cur.execute("DROP TABLE rebuild_source")
        self.compact()

    def compact(self) -> None:
        """Merge rollup deltas; drop minute buckets older than the retention window."""
        with self._transaction() as cur:
            for table in ROLLUP_TABLES:
                cur.execute(
                    f"CREATE OR REPLACE TEMP TABLE compacted AS "
                    f"SELECT env_key, bucket, asset_key, live_stream_key, tier, live, "
                    f"target_key, {_SUMS} FROM {table} GROUP BY ALL HAVING {_NONZERO} "
                    f"ORDER BY env_key, bucket, asset_key"
                )
                cur.execute(f"DELETE FROM {table}")
                cur.execute(f"INSERT INTO {table} SELECT * FROM compacted")
            sums = ", ".join(f"sum({m})::BIGINT AS {m}" for m in _ASSET_MEASURES)
            nonzero = " OR ".join(f"sum({m}) <> 0" for m in _ASSET_MEASURES)
            for table in (*ASSET_ROLLUP_TABLES, ROLLING_TABLE):
                cur.execute(
                    f"CREATE OR REPLACE TEMP TABLE compacted AS "
                    f"SELECT env_key, bucket, asset_key, {sums} FROM {table} "
                    f"GROUP BY ALL HAVING {nonzero} ORDER BY env_key, bucket, asset_key"
                )
                cur.execute(f"DELETE FROM {table}")
                cur.execute(f"INSERT INTO {table} SELECT * FROM compacted")
            cur.execute("DROP TABLE compacted")
            oldest_minute = (now_us() // 60_000_000) - MINUTE_RETENTION_DAYS * 24 * 60
            cur.execute("DELETE FROM usage_minute WHERE bucket < ?", [oldest_minute])

    def rolling_window(self) -> tuple[int, int]:
        row = self._cursor().execute("SELECT start_hour, end_hour FROM rolling_window").fetchone()
        return int(row[0]), int(row[1])

    def set_rolling_window(self, start_hour: int, end_hour: int) -> bool:
        if self.rolling_window() == (start_hour, end_hour):
            return False
        with self._transaction() as cur:
            cur.execute("DELETE FROM asset_usage_rolling")
            cur.execute("UPDATE rolling_window SET start_hour = ?, end_hour = ?",
                        [start_hour, end_hour])  # fmt: skip
            parts = signed_cover(start_hour, end_hour, hour_of(now_us()))
            if not parts:
                return True
            scans = " UNION ALL ".join(_usage_scan(level, sign, every_env=True)
                                       for level, _, _, sign in parts)  # fmt: skip
            sums = ", ".join(  # a tier no row of an asset has: sum() is NULL, the level 0
                f"coalesce(sum({c}), 0)::BIGINT" for c in ("total", "t1", "t2", "t3", "t4", "t5")
            )
            cur.execute(
                f"INSERT INTO asset_usage_rolling SELECT env_key, 0, asset_key, {sums} "
                f"FROM ({scans}) GROUP BY env_key, asset_key "
                "HAVING sum(total) <> 0 OR sum(t1) <> 0 OR sum(t2) <> 0 OR sum(t3) <> 0 "
                "OR sum(t4) <> 0 OR sum(t5) <> 0 ORDER BY env_key, asset_key",
                [bound for _, lo, hi, _ in parts for bound in (lo, hi)],
            )
        return True


def _repeated_request_ids(stage: pa.Table, stored: set[int]) -> list[int]:
    """`idx` of the staged rows whose request id an earlier accepted row of the chunk has,
    within `LATE_WINDOW_US` of it: the rows as if stored one by one (`stored`: the rows a
    stored record already makes duplicates), so that chunk boundaries change nothing."""
    with_ids = stage.select(["request_id", "idx", "ts_us"]).filter(
        pc.is_valid(stage.column("request_id"))
    )
    counts = with_ids.group_by("request_id", use_threads=False).aggregate([("idx", "count")])
    if counts.num_rows == with_ids.num_rows:
        return []  # the usual case: no id twice in the chunk
    again = pc.filter(counts.column("request_id"), pc.greater(counts.column("idx_count"), 1))
    rows = with_ids.filter(pc.is_in(with_ids.column("request_id"), again)).sort_by("idx")
    kept: dict[str, list[int]] = {}  # request id -> instants of its accepted rows so far
    repeated = []
    columns = (rows.column(name).to_pylist() for name in ("request_id", "idx", "ts_us"))
    for request_id, idx, ts_us in zip(*columns, strict=True):
        if idx in stored:
            continue
        earlier = kept.setdefault(request_id, [])
        if any(abs(ts_us - ts) <= LATE_WINDOW_US for ts in earlier):
            repeated.append(idx)
        else:
            earlier.append(ts_us)
    return repeated


class _DuckDBImport(ImportSessionBase):
    """One file or batch: its records go through its group (`_DuckDBGroup`), alone for a file
    or a single batch, with the other batches of a group commit."""

    def __init__(self, group: _DuckDBGroup, env_key: int, draft: ReceiptDraft) -> None:
        super().__init__(env_key, draft)
        self._group = group

    def add(self, items: Sequence[tuple[int, DeliveryRecord, Counted]]) -> list[str]:
        return self._group.add([(self, items)])[0]

    def add_rows(self, rows: CountedRows) -> list[str]:
        return self._group.add_rows([(self, rows)])[0]

    def finish(self, counts: dict[str, Any]) -> Receipt:
        return self._group.finish([(self, counts)])[0]


class _DuckDBGroup(ImportGroup):
    """Stages each chunk (the items of one or more sessions) as Arrow, dedupes it against
    stored records, appends rollup deltas: each statement runs once per chunk, whatever the
    number of sessions in it."""

    def __init__(self, store: DuckDBStore, cur: duckdb.DuckDBPyConnection, env_key: int) -> None:
        self._store, self._cur, self._env_key = store, cur, env_key
        self._sessions: dict[str, _DuckDBImport] = {}

    def session(self, draft: ReceiptDraft) -> _DuckDBImport:
        session = _DuckDBImport(self, self._env_key, draft)
        self._sessions[session.receipt_id] = session
        return session

    def add(
        self, parts: Sequence[tuple[ImportSession, Sequence[tuple[int, DeliveryRecord, Counted]]]]
    ) -> list[list[str]]:
        items = [item for _, part in parts for item in part]
        receipt_ids = [cast(_DuckDBImport, s).receipt_id for s, part in parts for _ in part]
        statuses = self._add(items, receipt_ids) if items else []
        split, start = [], 0
        for _, part in parts:
            split.append(statuses[start : start + len(part)])
            start += len(part)
        return split

    def add_rows(self, parts: Sequence[tuple[ImportSession, CountedRows]]) -> list[list[str]]:
        if not parts:
            return []
        tables = [
            counted.rows.append_column(
                "receipt_id",
                pa.array([cast(_DuckDBImport, session).receipt_id] * len(counted), pa.string()),
            )
            for session, counted in parts
        ]
        rows = pa.concat_tables(tables)
        rows = rows.append_column("idx", pa.array(range(rows.num_rows), pa.int32()))
        statuses = self._add_stage(rows.select(_STAGE_SCHEMA.names).cast(_STAGE_SCHEMA))
        split, start = [], 0
        for _, counted in parts:
            split.append(statuses[start : start + len(counted)])
            start += len(counted)
        return split

    def _add(
        self, items: Sequence[tuple[int, DeliveryRecord, Counted]], receipt_ids: list[str]
    ) -> list[str]:
        return self._add_stage(self._arrow(items, receipt_ids), items)

    def _add_stage(
        self,
        stage_arrow: pa.Table,
        items: Sequence[tuple[int, DeliveryRecord, Counted]] | None = None,
    ) -> list[str]:
        """Dedupe, key and store staged rows (`_STAGE_SCHEMA`); their statuses in order.
        `items`: the same rows as records, for LL-HLS parts (counting.md 4.5); None for rows
        that cannot be parts (generic records)."""
        statuses = ["accepted"] * stage_arrow.num_rows
        cur = self._cur
        # Nothing of a chunk is kept in DuckDB but what it appends: the chunk stays in Arrow,
        # read through DuckDB's replacement scans of local variables. Not cur.register(), nor
        # temporary tables: DuckDB keeps every object registered, and every temporary table
        # created (even dropped), inside a transaction until it commits, which made a file
        # import's memory and temporary files grow with its length (docs/performance.md).
        stored = set(self._stored_request_ids(stage_arrow))
        for idx in [*stored, *_repeated_request_ids(stage_arrow, stored)]:
            statuses[idx] = "duplicate"  # the first copy in the chunk wins
        accepted_idx = [i for i, status in enumerate(statuses) if status == "accepted"]
        if items is not None:
            stage_arrow = self._count_llhls_once(stage_arrow, items, accepted_idx)
        if len(accepted_idx) != len(statuses):
            stage_arrow = stage_arrow.take(pa.array(accepted_idx, pa.int32()))
        import_chunk = self._import_chunk(stage_arrow)
        del stage_arrow
        cur.execute("INSERT INTO records SELECT * FROM import_chunk")
        cur.execute(f"INSERT INTO request_keys {request_keys.key_rows_sql('import_chunk')}")
        floor = self._store._apply_rollups(cur, "import_chunk", rows=import_chunk)
        self._store._in_import.floor = min(self._store._in_import.floor, floor)
        self._count_unknown(import_chunk)
        return statuses

    def _stored_request_ids(self, stage_arrow: pa.Table) -> list[int]:
        """Indexes of staged rows whose request id a stored record has (counting.md 7)."""
        with_ids = stage_arrow.filter(pc.is_valid(stage_arrow.column("request_id")))
        if not with_ids.num_rows:
            return []
        low, high = pc.min_max(with_ids.column("ts_us")).values()
        window = [
            self._env_key, low.as_py() - LATE_WINDOW_US, high.as_py() + LATE_WINDOW_US,
            LATE_WINDOW_US, LATE_WINDOW_US,
        ]  # fmt: skip
        # First the integer keys (store/request_keys.py): a scan of narrow rows, not of every
        # stored id string. The constant bounds (implied by the per-row window) let DuckDB
        # skip row groups outside this chunk's time span (zone maps).
        matched = self._cur.execute(  # `with_ids`: a replacement scan (see _add_stage)
            "SELECT s.idx FROM with_ids s WHERE EXISTS ("
            " SELECT 1 FROM request_keys k WHERE k.env_key = ?"
            " AND k.request_key = hash(s.request_id) AND k.ts_us BETWEEN ? AND ?"
            " AND k.ts_us BETWEEN s.ts_us - ? AND s.ts_us + ?)",
            window,
        ).fetchall()
        if not matched:
            return []
        # Then the ids themselves, for the key matches only: a collision is no duplicate.
        idx = with_ids.column("idx")
        matched_idx = pa.array([i for (i,) in matched], idx.type)
        candidates = with_ids.filter(pc.is_in(idx, matched_idx))  # noqa: F841 (scanned below)
        rows = self._cur.execute(
            "SELECT s.idx FROM candidates s WHERE EXISTS ("
            " SELECT 1 FROM records r WHERE r.env_key = ? AND r.request_id = s.request_id"
            " AND r.ts_us BETWEEN ? AND ?"
            " AND r.ts_us BETWEEN s.ts_us - ? AND s.ts_us + ?)",
            window,
        ).fetchall()
        return [idx for (idx,) in rows]

    def _entity_keys(self, accepted: pa.Table) -> dict[str, pa.Array]:
        """The integer key of every asset / live stream / target id of `accepted` (given one
        if new), by column: aligned with the rows, null where the id is."""
        keys = {}
        for kind, name in _ENTITY_COLUMNS:
            column = accepted.column(name)
            ids = [i for i in pc.unique(column).to_pylist() if i]
            known = self._store._ensure_keys(self._cur, self._env_key, kind, ids)
            at = pc.index_in(column, value_set=pa.array(list(known), pa.string()))
            keys[name] = pa.array(list(known.values()), pa.int32()).take(at)
        return keys

    def _count_unknown(self, import_chunk: pa.Table) -> None:
        """Count, per session, the accepted records (`import_chunk`, read through a replacement
        scan) whose asset or playback id the catalog does not know (`attribution_notes`)."""
        rows = self._cur.execute(
            "SELECT c.receipt_id, "
            "       count(*) FILTER (WHERE c.asset_key IS NOT NULL AND a.asset_key IS NULL), "
            "       count(*) FILTER (WHERE c.asset_key IS NULL AND c.playback_id IS NOT NULL "
            "                AND pb.asset_key IS NULL) "
            "FROM import_chunk c LEFT JOIN assets a ON a.asset_key = c.asset_key "
            "LEFT JOIN playback_ids pb ON c.asset_key IS NULL AND pb.env_key = c.env_key "
            "     AND pb.playback_id = c.playback_id GROUP BY c.receipt_id"
        ).fetchall()
        for receipt_id, unknown_asset, unknown_playback in rows:
            session = self._sessions[receipt_id]
            session._unknown_asset += unknown_asset
            session._unknown_playback += unknown_playback

    def _import_chunk(self, stage_arrow: pa.Table) -> pa.Table:
        """The accepted staged rows as `records` rows (in their order), with their entity
        keys: Arrow columns laid out as the table's."""
        keys = self._entity_keys(stage_arrow)
        rows = stage_arrow.num_rows
        columns = {
            "env_key": pa.array([self._env_key] * rows, pa.int32()),
            "hour": pc.divide(stage_arrow.column("ts_us"), US_PER_HOUR).cast(pa.int32()),
            "asset_key": keys["asset_id"],
            "live_stream_key": keys["live_stream_id"],
            "target_key": keys["target"],
        }
        return pa.table(
            {
                name: columns[name] if name in columns else stage_arrow.column(name)
                for name in _RECORD_COLUMNS
            }
        )

    def _count_llhls_once(
        self,
        stage_arrow: pa.Table,
        items: Sequence[tuple[int, DeliveryRecord, Counted]],
        accepted: list[int],
    ) -> pa.Table:
        """counting.md 4.5 (counting/llhls.py), with the group sums of the stored records:
        `stage_arrow` with the `earned_us` of the records that earn less."""
        keyed = llhls.grouped(items, accepted)
        if not keyed:
            return stage_arrow
        sessions = sorted({items[i][1].session_id for i in keyed})
        # The sessions as a table (read by the SQL through a replacement scan, see add()): a
        # hash semi join rather than a list scan per stored record.
        llhls_sessions = pa.table({"session_id": pa.array(sessions, pa.string())})  # noqa: F841
        rows = self._cur.execute(
            "SELECT k.external_id, r.session_id, r.rendition_id, r.media_sequence, "
            "coalesce(sum(r.media_us) FILTER (WHERE r.part_index IS NULL), 0), "
            "coalesce(sum(r.media_us) FILTER (WHERE r.part_index IS NOT NULL), 0) "
            "FROM records r JOIN entity_keys k ON k.entity_key = r.asset_key "
            "WHERE r.env_key = ? "
            "AND r.session_id IN (SELECT session_id FROM llhls_sessions) "
            "AND r.media_sequence IS NOT NULL GROUP BY ALL",
            [self._env_key],
        ).fetchall()
        stored = {tuple(row[:4]): (row[4], row[5]) for row in rows}
        overrides = {
            i: earned
            for i, earned in llhls.earn_once(items, keyed, stored).items()  # type: ignore[arg-type]
            if earned != items[i][2].earned_us
        }
        if not overrides:
            return stage_arrow
        # Row i of the staged chunk is item i (`idx`).
        earned = stage_arrow.column("earned_us").to_pylist()
        for i, value in overrides.items():
            earned[i] = value
        column = stage_arrow.schema.get_field_index("earned_us")
        return stage_arrow.set_column(
            column, stage_arrow.schema.field(column), pa.array(earned, pa.int64())
        )

    @staticmethod
    def _arrow(
        items: Sequence[tuple[int, DeliveryRecord, Counted]], receipt_ids: list[str]
    ) -> pa.Table:
        # Column by column (one comprehension each) rather than row by row.
        recs = [item[1] for item in items]
        earned = [item[2].earned_us for item in items]
        durations: list[int | None] = []
        for rec in recs:
            d = rec.duration
            if d is None:
                durations.append(None)
            elif d.denominator == 1:
                durations.append(d.numerator * US_PER_SECOND)
            else:  # round(d * US_PER_SECOND): half to even, in integers
                quotient, remainder = divmod(d.numerator * US_PER_SECOND, d.denominator)
                twice = 2 * remainder
                if twice > d.denominator or (twice == d.denominator and quotient % 2):
                    quotient += 1
                durations.append(quotient)
        columns: dict[str, list[Any]] = {
            "idx": list(range(len(items))),
            "receipt_id": receipt_ids,
            "line_no": [item[0] for item in items],
            "request_id": [r.request_id for r in recs],
            "ts_us": [r.ts_us for r in recs],
            "asset_id": [r.asset_id for r in recs],
            "playback_id": [r.playback_id for r in recs],
            "live_stream_id": [r.live_stream_id for r in recs],
            "kind": [r.kind for r in recs],
            "track": [r.track for r in recs],
            "tier_hint": [r.tier_hint for r in recs],
            "duration_us": durations,
            "bytes": [r.bytes for r in recs],
            "method": [r.method for r in recs],
            "status": [r.status for r in recs],
            "body_bytes": [r.body_bytes for r in recs],
            "object_bytes": [r.object_bytes for r in recs],
            "session_id": [r.session_id for r in recs],
            "earned_us": earned,
            "media_us": earned,
            "rendition_id": [r.rendition_id for r in recs],
            "media_sequence": [r.media_sequence for r in recs],
            "part_index": [r.part_index for r in recs],
            "live": [r.live for r in recs],
            "origin": [r.origin for r in recs],
            "client_ip": [r.client_ip for r in recs],
            "user_agent": [r.user_agent for r in recs],
            "target": [r.target for r in recs],
            "additional_target": [r.additional_target for r in recs],
        }
        return pa.table(columns, schema=_STAGE_SCHEMA)

    def finish(self, counts: Sequence[tuple[ImportSession, dict[str, Any]]]) -> list[Receipt]:
        cur = self._cur
        sessions = [cast(_DuckDBImport, session) for session, _ in counts]
        quarantine = [row for session in sessions for row in session._quarantine]
        if quarantine:
            cur.executemany("INSERT INTO quarantine VALUES (?, ?, ?, ?)", quarantine)
        env_id = cur.execute(
            "SELECT environment_id FROM environments WHERE env_key = ?", [self._env_key]
        ).fetchone()[0]
        receipts = [s._receipt(env_id, c) for s, (_, c) in zip(sessions, counts, strict=True)]
        if receipts:  # one statement for all of them
            row = "(" + ", ".join("?" * len(_RECEIPT_FIELDS)) + ")"
            cur.execute(
                "INSERT INTO receipts VALUES " + ", ".join([row] * len(receipts)),
                [v for s, r in zip(sessions, receipts, strict=True) for v in s._receipt_row(r)],
            )
        return receipts
