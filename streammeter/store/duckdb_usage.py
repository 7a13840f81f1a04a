"""Native usage API on DuckDB: hour revisions (the change feed), bucketed usage, explain.

Revisions (counting.md 8, docs/api/usage.md): every write path that appends rollup deltas
calls `_record_changes` (from `DuckDBStore._apply_rollups`). It updates an additive fingerprint
of the numbers of each hour the deltas touch; an hour whose fingerprint differs from the one
before the transaction takes the transaction's revision (one global counter, one value per
transaction).
An hour whose numbers come back identical (a `rebuild`, a catalog change that retracts and
re-asserts the same attribution) keeps its revision.
"""

from __future__ import annotations

import secrets
from importlib import resources
from typing import Any

import duckdb
import pyarrow as pa

from streammeter.model.times import US_PER_HOUR, now_us
from streammeter.query.usage import UsageParams, UsagePlan
from streammeter.store.attribution import attributed_sql
from streammeter.store.generations import NO_HOUR

_MEASURE_COLUMNS = ("delivered_us", "bytes", "requests", "egress_us", "egress_bytes")
_GROUP_SQL = {
    "asset": ("ka.external_id", "asset_id"),
    "live_stream": ("kl.external_id", "live_stream_id"),
    "tier": ("u.tier", "tier"),
    "environment": ("e.environment_id", "environment"),
    "resource": ("CASE WHEN u.live THEN 'transcoders' ELSE 'vod_streams' END", "resource"),
}
_REVISION_ROWS = pa.schema(
    [
        ("env_key", pa.int32()),
        ("hour", pa.int32()),
        ("revision", pa.int64()),
        ("fingerprint", pa.string()),
        ("base_revision", pa.int64()),
        ("base_fingerprint", pa.string()),
        ("txn", pa.string()),
        ("changed_at", pa.int64()),
    ]
)


_PROCESS_NONCE = secrets.token_hex(6)  # txid_current() restarts with the process
_PRIME = 2**61 - 1


def _ints(values: list[int]) -> str:
    return ", ".join(str(int(v)) for v in values)


class DuckDBUsageMixin:
    _con: duckdb.DuckDBPyConnection
    _write_lock: Any

    def _cursor(self) -> duckdb.DuckDBPyConnection:  # provided by DuckDBStore
        raise NotImplementedError

    def _migrate_usage(self) -> None:
        schema = resources.files("streammeter.store").joinpath("usage_schema.sql").read_text()
        with self._write_lock:
            self._con.execute(schema)
            self._con.execute(
                "INSERT INTO usage_revision SELECT 1, 0, '' "
                "WHERE NOT EXISTS (SELECT 1 FROM usage_revision)"
            )

    # -- revisions ------------------------------------------------------------------------
    @staticmethod
    def _record_changes(
        cur: duckdb.DuckDBPyConnection,
        attributed: str,
        sign: int = 1,
        *,
        absolute: bool = False,
        rows: pa.Table | None = None,
    ) -> int:
        """After the rollup deltas of `attributed` (rows of `attributed_sql`, `sign` -1 =
        retracted) were appended in this transaction: give the hours whose numbers changed this
        transaction's revision. Returns the lowest such hour (NO_HOUR if none), the write's
        floor (store/generations.py).

        Each hour keeps an additive fingerprint of its usage: the sum, over its rollup keys and
        measures, of hash(key, measure) x value, modulo a 61-bit prime. It is updated from the
        deltas alone (no read of earlier rollup rows), and is the same whatever the order or
        split of the deltas, so numbers that come back identical give the same fingerprint.
        `rebuild` recomputes rollups from nothing: its fingerprints are `absolute`. A static
        method like `DuckDBStore._apply_rollups`, which calls it: the transaction is named
        by this process's nonce and DuckDB's `txid_current()`. `rows`: the attributed rows
        as an Arrow table instead of a table named `attributed` (an import's chunk)."""
        if rows is not None:  # read through a replacement scan of this local
            attributed_rows = rows  # noqa: F841
            attributed = "attributed_rows"
        txn = f"{_PROCESS_NONCE}:{cur.execute('SELECT txid_current()').fetchall()[0][0]}"
        key = "asset_key, live_stream_key, tier, live, target_key"
        terms = " + ".join(
            f"(hash({key}, {i}) % {_PRIME})::HUGEINT * m{i} % {_PRIME}" for i in range(7)
        )
        rows = cur.execute(
            f"""
            WITH keyed AS (
                SELECT env_key, hour, {key},
                       coalesce(sum(seconds_us) FILTER (WHERE NOT origin), 0) AS m0,
                       coalesce(sum(bytes) FILTER (WHERE NOT origin), 0) AS m1,
                       count(*) AS m2,
                       coalesce(sum(seconds_us) FILTER (WHERE origin), 0) AS m3,
                       coalesce(sum(bytes) FILTER (WHERE origin), 0) AS m4,
                       coalesce(sum(seconds_us) FILTER (WHERE origin AND additional_target), 0)
                           AS m5,
                       coalesce(sum(bytes) FILTER (WHERE origin AND additional_target), 0) AS m6
                FROM {attributed} GROUP BY ALL
            ),
            delta AS (
                SELECT env_key, hour, sum({terms}) AS s FROM keyed GROUP BY ALL
            )
            SELECT d.env_key, d.hour, CAST(((d.s % {_PRIME}) + {_PRIME}) % {_PRIME} AS BIGINT),
                   o.revision, o.fingerprint, o.base_revision, o.base_fingerprint, o.txn
            FROM delta d
            LEFT JOIN usage_hour_revisions o ON o.env_key = d.env_key AND o.hour = d.hour
            """
        ).fetchall()
        computed = []
        for env_key, hour, delta, *old in rows:
            current = 0 if absolute or old[1] is None else int(old[1])
            fp = (current + sign * int(delta)) % _PRIME
            computed.append((env_key, hour, str(fp), *old))
        rows = computed
        updates: list[tuple[Any, ...]] = []
        for env_key, hour, fp, rev, old_fp, base_rev, base_fp, old_txn in rows:
            if rev is not None and old_txn == txn:  # touched earlier in this transaction
                before_rev, before_fp = base_rev, base_fp
            else:
                before_rev, before_fp = rev, old_fp
            if fp == (before_fp if before_fp is not None else "0"):
                if rev is not None and old_txn == txn:  # changed, then changed back
                    updates.append((env_key, hour, before_rev, before_fp, None))
                continue
            updates.append((env_key, hour, None, fp, (before_rev, before_fp)))
        if not updates:
            return NO_HOUR
        revision = None
        if any(u[2] is None for u in updates):
            current, owner = cur.execute(
                "SELECT revision, txn FROM usage_revision WHERE id = 1"
            ).fetchall()[0]
            revision = current if owner == txn else current + 1
            if owner != txn:
                cur.execute(
                    "UPDATE usage_revision SET revision = ?, txn = ? WHERE id = 1", [revision, txn]
                ).fetchall()
        now = now_us()
        columns: dict[str, list[Any]] = {name: [] for name in _REVISION_ROWS.names}
        for env_key, hour, rev, fp, before in updates:
            columns["env_key"].append(env_key)
            columns["hour"].append(hour)
            if rev is None and before is not None:  # changed in this transaction
                columns["revision"].append(revision)
                columns["base_revision"].append(before[0])
                columns["base_fingerprint"].append(before[1])
            else:  # restored: back to the state before this transaction
                columns["revision"].append(rev)
                columns["base_revision"].append(None)
                columns["base_fingerprint"].append(None)
            columns["fingerprint"].append(fp)
            columns["txn"].append(txn)
            columns["changed_at"].append(now)
        # A replacement scan of the local table (not register(), which lives until commit).
        usage_rev_updates = pa.table(columns, schema=_REVISION_ROWS)
        cur.execute(
            "DELETE FROM usage_hour_revisions o USING usage_rev_updates n "
            "WHERE o.env_key = n.env_key AND o.hour = n.hour"
        ).fetchall()
        # A restored hour that had no row before this transaction has no revision at all.
        cur.execute(
            "INSERT INTO usage_hour_revisions SELECT * FROM usage_rev_updates "
            "WHERE revision IS NOT NULL"
        ).fetchall()
        del usage_rev_updates
        # Every hour changed in this transaction came back: give its revision number back.
        cur.execute(
            "UPDATE usage_revision SET revision = revision - 1, txn = '' WHERE id = 1 AND txn = ? "
            "AND NOT EXISTS (SELECT 1 FROM usage_hour_revisions h "
            "                WHERE h.revision = usage_revision.revision)",
            [txn],
        )
        return min(update[1] for update in updates)

    def usage_revision(self) -> int:
        rows = self._cursor().execute("SELECT revision FROM usage_revision WHERE id = 1").fetchall()
        row = rows[0] if rows else None
        return int(row[0]) if row else 0

    def hour_revisions(self, env_key: int, lo_hour: int, hi_hour: int) -> dict[int, int]:
        rows = (
            self._cursor()
            .execute(
                "SELECT hour, revision FROM usage_hour_revisions "
                "WHERE env_key = ? AND hour >= ? AND hour < ?",
                [env_key, lo_hour, hi_hour],
            )
            .fetchall()
        )
        return {int(h): int(r) for h, r in rows}

    def usage_changes(
        self, env_key: int, since: int, limit: int = 1000, after: tuple[int, int] | None = None
    ) -> list[dict[str, int]]:
        """Hours whose numbers changed at a revision > `since`, by (revision, hour)."""
        where, params = "", [env_key, since]
        if after is not None:
            where, params = " AND (revision, hour) > (?, ?)", [*params, *after]
        rows = (
            self._cursor()
            .execute(
                "SELECT hour, revision, changed_at FROM usage_hour_revisions "
                f"WHERE env_key = ? AND revision > ?{where} ORDER BY revision, hour LIMIT ?",
                [*params, limit],
            )
            .fetchall()
        )
        return [{"hour": h, "revision": r, "changed_at": c} for h, r, c in rows]

    # -- bucketed usage ---------------------------------------------------------------------
    def native_usage(
        self,
        env_key: int,
        params: UsageParams,
        plan: UsagePlan,
        *,
        limit: int = 1000,
        offset: int = 0,
    ) -> tuple[list[dict[str, Any]], int]:
        """Rows (bucket index, group columns, measures in µs/bytes), ordered, one page."""
        cur = self._cursor()
        filters: list[str] = []
        if params.asset_ids:
            keys = self._entity_keys(env_key, "asset", params.asset_ids)
            if not keys:
                return [], 0
            filters.append(f"asset_key IN ({_ints(keys)})")
        if params.live_stream_ids:
            keys = self._entity_keys(env_key, "live_stream", params.live_stream_ids)
            if not keys:
                return [], 0
            filters.append(f"live_stream_key IN ({_ints(keys)})")
        if params.tiers:
            filters.append(f"tier IN ({_ints(list(params.tiers))})")
        where = "".join(" AND " + f for f in filters)
        columns = (
            "asset_key, live_stream_key, tier, live, delivered_us, bytes, requests, "
            "egress_us, egress_bytes"
        )
        scans: list[str] = []
        for table in ("usage_hour", "usage_day", "usage_month"):
            ranges = [(lo, hi, idx) for t, lo, hi, idx in plan.ranges if t == table]
            if not ranges:
                continue
            values = ", ".join(f"({lo}, {hi}, {idx})" for lo, hi, idx in ranges)
            scans.append(
                f"SELECT w.idx, {columns} FROM {table} JOIN (VALUES {values}) w(lo, hi, idx) "
                f"ON bucket >= w.lo AND bucket < w.hi WHERE env_key = {int(env_key)}{where}"
            )
        if plan.partials:
            values = ", ".join(f"({lo}, {hi}, {idx})" for lo, hi, idx in plan.partials)
            hours = sorted(
                {
                    h
                    for lo, hi, _ in plan.partials
                    for h in range(lo // US_PER_HOUR, -(-hi // US_PER_HOUR))
                }
            )
            source = (
                f"(SELECT * FROM records WHERE env_key = {int(env_key)} "
                f"AND hour IN ({_ints(hours)}))"
            )
            scans.append(
                f"""SELECT w.idx, asset_key, live_stream_key, tier, live,
                       CASE WHEN origin THEN 0 ELSE seconds_us END AS delivered_us,
                       CASE WHEN origin THEN 0 ELSE bytes END AS bytes, 1 AS requests,
                       CASE WHEN origin THEN seconds_us ELSE 0 END AS egress_us,
                       CASE WHEN origin THEN bytes ELSE 0 END AS egress_bytes
                FROM ({attributed_sql(source)}) x
                JOIN (VALUES {values}) w(lo, hi, idx) ON x.ts_us >= w.lo AND x.ts_us < w.hi
                WHERE true{where}"""
            )
        if not scans:
            return [], 0
        groups = [_GROUP_SQL[g] for g in params.group_by]
        by_tier = "tier" not in params.group_by
        tier_sums = ""
        if by_tier:
            tier_sums = "".join(
                f", sum(u.delivered_us) FILTER (WHERE u.tier = {code})::BIGINT AS t{code}"
                for code in range(6)
            )
        select_groups = "".join(f", {expr} AS {name}" for expr, name in groups)
        order = ", ".join(["u.idx"] + [f"{name} NULLS FIRST" for _, name in groups])
        sql = f"""
            SELECT u.idx{select_groups},
                   sum(u.delivered_us)::BIGINT AS delivered_us,
                   sum(u.bytes)::BIGINT AS bytes,
                   sum(u.egress_us)::BIGINT AS egress_us,
                   sum(u.egress_bytes)::BIGINT AS egress_bytes,
                   sum(u.requests)::BIGINT AS requests{tier_sums},
                   count(*) OVER () AS row_count
            FROM ({" UNION ALL ".join(scans)}) u
            LEFT JOIN entity_keys ka ON ka.entity_key = u.asset_key
            LEFT JOIN entity_keys kl ON kl.entity_key = u.live_stream_key
            JOIN environments e ON e.env_key = {int(env_key)}
            GROUP BY ALL
            HAVING {" OR ".join(f"sum(u.{m}) <> 0" for m in _MEASURE_COLUMNS)}
            ORDER BY {order}
            LIMIT ? OFFSET ?
        """
        result = cur.execute(sql, [limit, offset])
        names = [d[0] for d in result.description]
        rows = [dict(zip(names, row, strict=True)) for row in result.fetchall()]
        if not rows:
            return [], self._usage_row_count(sql) if offset else 0
        total = int(rows[0]["row_count"])
        for row in rows:
            del row["row_count"]
        return rows, total

    def _usage_row_count(self, sql: str) -> int:
        rows = self._cursor().execute(sql, [1, 0]).fetchall()
        row = rows[0] if rows else None
        return int(row[-1]) if row else 0

    def _entity_keys(self, env_key: int, kind: str, ids: tuple[str, ...]) -> list[int]:
        rows = (
            self._cursor()
            .execute(
                "SELECT entity_key FROM entity_keys WHERE env_key = ? AND kind = ? "
                "AND list_contains(?, external_id)",
                [env_key, kind, list(ids)],
            )
            .fetchall()
        )
        return [int(r[0]) for r in rows]

    # -- explain ------------------------------------------------------------------------------
    def explain_usage(
        self, env_key: int, asset_id: str, hour: int, tier: int | None = None
    ) -> list[dict[str, Any]]:
        """The receipts and line ranges whose records make up one (asset, hour[, tier]) cell.

        The records of the hour are attributed by `attributed_sql` itself (so asset and tier
        are decided exactly as for the rollups); `target_key` carries a row id through it to
        join back to (receipt_id, line_no)."""
        keys = self._entity_keys(env_key, "asset", (asset_id,))
        if not keys:
            return []
        cur = self._cursor()
        tier_filter = "" if tier is None else f" AND x.tier = {int(tier)}"
        source = "(SELECT * EXCLUDE (rid) REPLACE (rid AS target_key) FROM hour_records)"
        sql = f"""
            WITH hour_records AS MATERIALIZED (
                SELECT *, CAST(row_number() OVER (ORDER BY receipt_id, line_no) AS INTEGER) AS rid
                FROM records WHERE env_key = ? AND hour = ?
            ),
            x AS ({attributed_sql(source)})
            SELECT h.receipt_id, rc.name, rc.source, rc.format, rc.imported_at,
                   min(h.line_no) AS first_line, max(h.line_no) AS last_line,
                   count(*) AS records,
                   sum(CASE WHEN x.origin THEN 0 ELSE x.seconds_us END)::BIGINT AS delivered_us,
                   sum(CASE WHEN x.origin THEN 0 ELSE x.bytes END)::BIGINT AS bytes,
                   sum(CASE WHEN x.origin THEN x.seconds_us ELSE 0 END)::BIGINT AS egress_us,
                   sum(CASE WHEN x.origin THEN x.bytes ELSE 0 END)::BIGINT AS egress_bytes,
                   sum(h.earned_us)::BIGINT AS earned_us
            FROM x JOIN hour_records h ON h.rid = x.target_key
            LEFT JOIN receipts rc ON rc.receipt_id = h.receipt_id
            WHERE x.asset_key = ?{tier_filter}
            GROUP BY ALL ORDER BY min(h.ts_us), h.receipt_id
        """
        result = cur.execute(sql, [env_key, hour, keys[0]])
        names = [d[0] for d in result.description]
        return [dict(zip(names, row, strict=True)) for row in result.fetchall()]

    # -- metrics ------------------------------------------------------------------------------
    def usage_health(self, first_provisional_hour: int) -> dict[str, Any]:
        """Figures for /metrics: quarantine size, receipt notes, newest data per source,
        oldest hour with data that is still provisional (>= `first_provisional_hour`)."""
        cur = self._cursor()
        quarantined = cur.execute("SELECT count(*) FROM quarantine").fetchall()[0][0]
        notes = cur.execute("SELECT notes FROM receipts WHERE notes <> '{}'").fetchall()
        newest = cur.execute(
            "SELECT source, format, max(last_ts_us) FROM receipts WHERE last_ts_us IS NOT NULL "
            "GROUP BY ALL"
        ).fetchall()
        oldest = cur.execute(
            "SELECT min(hour) FROM usage_hour_revisions WHERE hour >= ?", [first_provisional_hour]
        ).fetchall()[0][0]
        return {
            "quarantined": int(quarantined),
            "notes": [n[0] for n in notes],
            "newest_us": {(source, fmt): int(ts) for source, fmt, ts in newest},
            "oldest_provisional_hour": None if oldest is None else int(oldest),
        }
