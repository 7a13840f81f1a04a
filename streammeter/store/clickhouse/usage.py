"""The native usage API and change feed on ClickHouse: revisions, changes, bucketed usage,
explain (the semantics of store/duckdb_usage.py; design in docs/design/clickhouse.md).

Revisions without transactions. A write that changes rollups (an import, a catalog change that
re-attributes, `rebuild`) first journals an *intent* naming the hours it may change
(`revision_intents`, `done = 0`), writes its rollups, then `_record_revisions`: it recomputes
the fingerprint of each of those hours from the summed `usage_hour` rows, and the hours whose
fingerprint differs from the stored one take a new revision; then the intent is closed. An
intent left open by a dead writer is finished by `recover` (after it repaired the rollups), so
an hour whose numbers changed always gets a revision; one whose numbers came back identical
keeps its own.

The counter is global (as in DuckDB): a revision is taken under the `revisions` writer lock as
one above every row of `usage_revisions` (a claim row, `done = 0`), the hours are written, then
`done = 1`. Claims are never reused (a dead writer's claim still counts), numbers strictly
increase across processes, and `usage_revision()` (the highest done revision) is never above
an hour not yet written, so a change-feed reader that passes it back as `since` misses nothing.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from streammeter.model.times import US_PER_HOUR, next_month_start_hour, now_us
from streammeter.query.usage import UsageParams, UsagePlan
from streammeter.store.base import Receipt
from streammeter.store.clickhouse.conn import Connection, in_list
from streammeter.store.clickhouse.lock import WriterLock
from streammeter.store.clickhouse.sql import attributed_sql

ALL_HOURS = (-(2**31), 2**31 - 1)
_MEASURES = ("d_us", "b", "e_us", "e_b", "r")  # delivered, bytes, egress s/bytes, requests
_NAMES = {"d_us": "delivered_us", "b": "bytes", "e_us": "egress_us", "e_b": "egress_bytes",
          "r": "requests"}  # fmt: skip
_UNIT = "idx, a_key, ls_key, t, lv"  # one bucket of one rollup key
_GROUP_KEYS = {"asset": "a_key", "live_stream": "ls_key", "tier": "t",
               "resource": "if(lv = 1, 'transcoders', 'vod_streams') AS resource"}  # fmt: skip
# ORDER BY of each group: as DuckDB's `name NULLS FIRST` (key 0: no asset / live stream).
_ORDER = {"asset": ("a_key != 0", "a_key_name"), "live_stream": ("ls_key != 0", "ls_key_name"),
          "tier": ("t",), "resource": ("resource",)}  # fmt: skip
# The fingerprint of an hour: XOR of a hash of each rollup key with its summed measures
# (keys summing to zero excluded), so it depends on the numbers only, not on merges.
_FINGERPRINTS = """
    SELECT hour, groupBitXor(h) FROM (
        SELECT bucket AS hour, cityHash64(asset_key, live_stream_key, tier, live, target_key,
               sum(delivered_us), sum(bytes), sum(requests), sum(egress_us),
               sum(egress_bytes), sum(egress_additional_us), sum(egress_additional_bytes)) AS h
        FROM usage_hour WHERE env_key = %(e)s AND bucket >= %(lo)s AND bucket < %(hi)s
        GROUP BY bucket, asset_key, live_stream_key, tier, live, target_key
        HAVING sum(delivered_us) != 0 OR sum(bytes) != 0 OR sum(requests) != 0
            OR sum(egress_us) != 0 OR sum(egress_bytes) != 0
    ) AS keyed GROUP BY hour
"""
# The current row of each hour of one environment (exact before merges).
_CURRENT_HOURS = (
    "SELECT hour, revision, fingerprint, changed_at FROM hour_revisions "
    "WHERE env_key = %(e)s AND hour >= %(lo)s AND hour < %(hi)s "
    "ORDER BY revision DESC LIMIT 1 BY hour"
)


@dataclass(frozen=True)
class RevisionIntent:
    """A write about to change the rollups of hours [lo_hour, hi_hour) of one environment."""

    env_key: int
    intent_id: str
    lo_hour: int
    hi_hour: int


def _ints(values: list[int]) -> str:
    return ", ".join(str(int(v)) for v in values)


def _window_index(column: str, windows: list[tuple[int, int, int]]) -> str:
    """Position (1-based, 0: none) of the window [lo, hi) containing `column` (disjoint)."""
    ordered = sorted(windows)
    los, his = _ints([w[0] for w in ordered]), _ints([w[1] for w in ordered])
    return f"arrayFirstIndex((lo, hi) -> {column} >= lo AND {column} < hi, [{los}], [{his}])"


def _bucket_values(table: str, lo: int, hi: int) -> list[int]:
    """The `bucket` values of `table` in [lo, hi) (hours; days and months start hours)."""
    if table == "usage_hour":
        return list(range(lo, hi))
    if table == "usage_day":
        return list(range(lo, hi, 24))
    values, start = [], lo
    while start < hi:
        values.append(start)
        start = next_month_start_hour(start)
    return values


def _usage_row(raw: dict[str, Any], group_by: tuple[str, ...],
               environment: str | None) -> dict[str, Any]:  # fmt: skip
    """A row as DuckDB gives it: names (None for no asset / live stream), then measures."""
    row: dict[str, Any] = {"idx": int(raw["idx"])}
    for group in group_by:
        if group in ("asset", "live_stream"):
            key = "a_key" if group == "asset" else "ls_key"
            row[f"{group}_id"] = raw[f"{key}_name"] if raw[key] else None
        elif group == "tier":
            row["tier"] = int(raw["t"])
        elif group == "environment":
            row["environment"] = environment
        else:
            row["resource"] = raw["resource"]
    for m in _MEASURES:
        row[_NAMES[m]] = int(raw[f"s_{m}"])
    if "tier" not in group_by:
        for c in range(6):
            value = raw[f"t{c}"]
            row[f"t{c}"] = None if value is None else int(value)
    return row


class ClickHouseUsageMixin:
    """Mixed into `ClickHouseStore` (which provides the connection, queries and locks)."""

    _conn: Connection
    _q: Callable[..., list[tuple]]
    _lock: Callable[[str], WriterLock]
    _environment_id: Callable[[int], str]

    # -- revisions: writes ------------------------------------------------------------------
    def _revision_intent(
        self, env_key: int, where: str | None = None, params: dict[str, Any] | None = None
    ) -> RevisionIntent | None:
        """Journal a write about to change the rollups of the records matching `where` (every
        hour of the environment when None). Call before its rollups; None: no records."""
        if where is None:
            return self._open_intent(env_key, *ALL_HOURS)
        first, last, count = self._q(
            "SELECT min(hour), max(hour), count() FROM records "
            f"WHERE env_key = %(e)s AND ({where})",
            {"e": env_key, **(params or {})},
        )[0]
        return self._open_intent(env_key, int(first), int(last) + 1) if count else None

    def _import_intent(self, env_key: int, receipt: Receipt) -> RevisionIntent | None:
        """Journal an import's rollups before its receipt (the commit point): the hours of its
        accepted records, first to last (the receipt's counts)."""
        if not receipt.accepted:
            return None
        if receipt.first_ts_us is None or receipt.last_ts_us is None:
            return self._revision_intent(env_key, "receipt_id = %(r)s", {"r": receipt.receipt_id})
        lo, hi = receipt.first_ts_us // US_PER_HOUR, receipt.last_ts_us // US_PER_HOUR + 1
        return self._open_intent(env_key, lo, hi)

    def _open_intent(self, env_key: int, lo_hour: int, hi_hour: int) -> RevisionIntent:
        intent = RevisionIntent(env_key, secrets.token_hex(8), lo_hour, hi_hour)
        self._journal(intent, done=False)
        return intent

    def _journal(self, intent: RevisionIntent, *, done: bool) -> None:
        self._conn.insert(
            "revision_intents", ["env_key", "intent_id", "lo_hour", "hi_hour", "done", "at"],
            [(intent.env_key, intent.intent_id, intent.lo_hour, intent.hi_hour, int(done),
              now_us())],
        )  # fmt: skip

    def _record_revisions(self, *intents: RevisionIntent | None) -> None:
        """After the rollups of `intents` are written (under their environments' locks): give
        the hours whose numbers changed one new revision, then close the intents."""
        found = [intent for intent in intents if intent is not None]
        changed = [row for intent in found for row in self._changed_hours(intent)]
        if changed:
            self._write_revision(changed)
        for intent in found:
            self._journal(intent, done=True)

    def _changed_hours(self, intent: RevisionIntent) -> list[tuple[int, int, int]]:
        """(env_key, hour, fingerprint) of the intent's hours whose fingerprint changed."""
        span = {"e": intent.env_key, "lo": intent.lo_hour, "hi": intent.hi_hour}
        now = {int(h): int(fp) for h, fp in self._q(_FINGERPRINTS, span)}
        stored = {int(h): int(fp) for h, _, fp, _ in self._q(_CURRENT_HOURS, span)}
        return [
            (intent.env_key, hour, now.get(hour, 0))
            for hour in sorted(now.keys() | stored.keys())
            if now.get(hour, 0) != stored.get(hour, 0)
        ]

    def _write_revision(self, changed: list[tuple[int, int, int]]) -> None:
        """Take the next revision (claim, hours, done) under the global `revisions` lock."""
        with self._lock("revisions") as lock:
            revision = int(self._q("SELECT max(revision) FROM usage_revisions")[0][0] or 0) + 1
            at = now_us()
            columns = ["revision", "done", "at"]
            self._conn.insert("usage_revisions", columns, [(revision, 0, at)])
            lock.verify()  # still ours: whoever breaks it later reads our claim
            self._conn.insert(
                "hour_revisions", ["env_key", "hour", "revision", "fingerprint", "changed_at"],
                [(env_key, hour, revision, fp, at) for env_key, hour, fp in changed],
            )  # fmt: skip
            self._conn.insert("usage_revisions", columns, [(revision, 1, at)])

    def _finish_intents(self, env_key: int) -> None:
        """Record the revisions of intents a dead writer left open (`recover`, after the
        rollups were repaired)."""
        rows = self._q(
            "SELECT intent_id, min(lo_hour), max(hi_hour) FROM revision_intents "
            "WHERE env_key = %(e)s GROUP BY intent_id HAVING max(done) = 0",
            {"e": env_key},
        )
        self._record_revisions(*(RevisionIntent(env_key, i, lo, hi) for i, lo, hi in rows))

    # -- revisions: reads -------------------------------------------------------------------
    def usage_revision(self) -> int:
        return int(self._q("SELECT max(revision) FROM usage_revisions WHERE done = 1")[0][0] or 0)

    def hour_revisions(self, env_key: int, lo_hour: int, hi_hour: int) -> dict[int, int]:
        rows = self._q(_CURRENT_HOURS, {"e": env_key, "lo": lo_hour, "hi": hi_hour})
        return {int(hour): int(revision) for hour, revision, _, _ in rows}

    def usage_changes(
        self, env_key: int, since: int, limit: int = 1000, after: tuple[int, int] | None = None
    ) -> list[dict[str, int]]:
        """Hours whose numbers changed at a revision > `since`, by (revision, hour)."""
        after_filter = ""
        if after is not None:
            rev, hour = int(after[0]), int(after[1])
            after_filter = f" AND (revision > {rev} OR (revision = {rev} AND hour > {hour}))"
        rows = self._q(
            f"SELECT hour, revision, changed_at FROM ({_CURRENT_HOURS}) AS current "
            f"WHERE revision > %(since)s{after_filter} ORDER BY revision, hour LIMIT %(n)s",
            {"e": env_key, "lo": ALL_HOURS[0], "hi": ALL_HOURS[1], "since": int(since),
             "n": int(limit)},
        )  # fmt: skip
        return [{"hour": int(h), "revision": int(r), "changed_at": int(c)} for h, r, c in rows]

    # -- bucketed usage ---------------------------------------------------------------------
    def _entity_keys(self, env_key: int, kind: str, ids: tuple[str, ...]) -> list[int]:
        rows = self._q(
            "SELECT DISTINCT entity_key FROM entity_keys WHERE env_key = %(e)s AND kind = %(k)s "
            f"AND external_id IN {in_list(sorted(set(ids)))}",
            {"e": env_key, "k": kind},
        )
        return sorted(int(row[0]) for row in rows)

    def _usage_filters(self, env_key: int, params: UsageParams) -> str | None:
        """` AND ...` on (asset_key, live_stream_key, tier); None when no id is known."""
        filters = ""
        wanted = (("asset", params.asset_ids, "asset_key"),
                  ("live_stream", params.live_stream_ids, "live_stream_key"))  # fmt: skip
        for kind, ids, column in wanted:
            if ids:
                keys = self._entity_keys(env_key, kind, ids)
                if not keys:
                    return None
                filters += f" AND {column} IN ({_ints(keys)})"
        if params.tiers:
            filters += f" AND tier IN ({_ints(list(params.tiers))})"
        return filters

    @staticmethod
    def _rollup_scan(table: str, ranges: list[tuple[int, int, int]], env_key: int,
                     filters: str) -> str:  # fmt: skip
        """Rows of `table` in the plan's whole-hour ranges, with their bucket index."""
        buckets, indexes = [], []
        for lo, hi, idx in ranges:
            values = _bucket_values(table, lo, hi)
            buckets += values
            indexes += [idx] * len(values)
        return (
            f"SELECT toInt32(transform(bucket, [{_ints(buckets)}], [{_ints(indexes)}], -1)) "
            "AS idx, asset_key AS a_key, live_stream_key AS ls_key, tier AS t, live AS lv, "
            "delivered_us AS m_d_us, bytes AS m_b, egress_us AS m_e_us, "
            f"egress_bytes AS m_e_b, requests AS m_r FROM {table} "
            f"WHERE env_key = {int(env_key)} AND bucket IN ({_ints(buckets)}){filters}"
        )

    @staticmethod
    def _partial_scan(partials: list[tuple[int, int, int]], filters: str) -> str:
        """Attributed records in the plan's parts of hours, with their bucket index."""
        hours = sorted({h for lo, hi, _ in partials
                        for h in range(lo // US_PER_HOUR, -(-hi // US_PER_HOUR))})  # fmt: skip
        indexes = _ints([idx for _, _, idx in sorted(partials)])
        pos = _window_index("ts_us", partials)
        # (ts_us outside the lambda too: 18.16 reads only columns named outside lambdas)
        lo, hi = min(w[0] for w in partials), max(w[1] for w in partials)
        return f"""
            SELECT toInt32(arrayElement([{indexes}], {pos})) AS idx, asset_key AS a_key,
                   live_stream_key AS ls_key, tier AS t, live AS lv,
                   toInt64(if(origin = 1, 0, seconds_us)) AS m_d_us,
                   toInt64(if(origin = 1, 0, bytes)) AS m_b,
                   toInt64(if(origin = 1, seconds_us, 0)) AS m_e_us,
                   toInt64(if(origin = 1, bytes, 0)) AS m_e_b, toInt64(1) AS m_r
            FROM ({attributed_sql(f"hour IN {in_list(hours)}")}) AS x
            WHERE ts_us >= {lo} AND ts_us < {hi} AND {pos} > 0{filters}"""

    @staticmethod
    def _grouped_usage(scans: list[str], group_by: tuple[str, ...]) -> str:
        """One row per (bucket, group): summed measures and, without a tier group, delivered
        µs per tier (NULL: no usage of that tier in the group, as DuckDB's FILTER gives)."""
        keys = [_GROUP_KEYS[g] for g in group_by if g in _GROUP_KEYS]
        tiers = ""
        if "tier" not in group_by:
            tiers = "".join(
                f", if(countIf(t = {c}) > 0, sumIf(u_d_us, t = {c}), NULL) AS t{c}"
                for c in range(6)
            )
        # First one row per rollup key and bucket (keys that sum to zero dropped), so the
        # answer does not depend on how far SummingMergeTree merged.
        return f"""
            SELECT {", ".join(["idx", *keys])},
                   {", ".join(f"sum(u_{m}) AS s_{m}" for m in _MEASURES)}{tiers}
            FROM (
                SELECT {_UNIT}, {", ".join(f"sum(m_{m}) AS u_{m}" for m in _MEASURES)}
                FROM ({" UNION ALL ".join(scans)}) AS scans
                GROUP BY {_UNIT} HAVING {" OR ".join(f"u_{m} != 0" for m in _MEASURES)}
            ) AS units
            GROUP BY {", ".join(["idx", *(k.split(" AS ")[-1] for k in keys)])}
            HAVING {" OR ".join(f"s_{m} != 0" for m in _MEASURES)}"""

    @staticmethod
    def _named(grouped: str, env_key: int, group_by: tuple[str, ...]) -> tuple[str, list[str]]:
        """`grouped` with asset and live stream names joined, and its columns."""
        columns = ["idx", *(_GROUP_KEYS[g].split(" AS ")[-1] for g in group_by
                            if g in _GROUP_KEYS)]  # fmt: skip
        columns += [f"s_{m}" for m in _MEASURES]
        columns += [] if "tier" in group_by else [f"t{c}" for c in range(6)]
        sql = grouped
        for group, key in (("asset", "a_key"), ("live_stream", "ls_key")):
            if group in group_by:
                columns.append(f"{key}_name")
                sql = f"""
                    SELECT * FROM ({sql}) AS g ANY LEFT JOIN (
                        SELECT entity_key AS {key}, external_id AS {key}_name FROM entity_keys
                        WHERE env_key = {int(env_key)} AND kind = '{group}'
                    ) AS n USING ({key})"""
        return sql, columns

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
        filters = self._usage_filters(env_key, params)
        if filters is None:
            return [], 0
        scans = []
        for table in ("usage_hour", "usage_day", "usage_month"):
            ranges = [(lo, hi, idx) for t, lo, hi, idx in plan.ranges if t == table]
            if ranges:
                scans.append(self._rollup_scan(table, ranges, env_key, filters))
        if plan.partials:
            scans.append(self._partial_scan(plan.partials, filters))
        if not scans:
            return [], 0
        grouped = self._grouped_usage(scans, params.group_by)
        envs = {"envs": (env_key,)}
        total = int(self._q(f"SELECT count() FROM ({grouped}) AS grouped", envs)[0][0])
        if offset >= total:
            return [], total
        named, columns = self._named(grouped, env_key, params.group_by)
        order = ["idx"] + [o for g in params.group_by for o in _ORDER.get(g, ())]
        result = self._q(
            f"SELECT {', '.join(columns)} FROM ({named}) AS page ORDER BY {', '.join(order)} "
            f"LIMIT {int(offset)}, {int(limit)}",
            envs,
        )
        environment = self._environment_id(env_key) if "environment" in params.group_by else None
        return [
            _usage_row(dict(zip(columns, row, strict=True)), params.group_by, environment)
            for row in result
        ], total

    # -- explain ------------------------------------------------------------------------------
    def explain_usage(
        self, env_key: int, asset_id: str, hour: int, tier: int | None = None
    ) -> list[dict[str, Any]]:
        """The receipts and line ranges whose records make up one (asset, hour[, tier]) cell:
        the hour's records attributed by `attributed_sql` itself, carrying receipt and line."""
        keys = self._entity_keys(env_key, "asset", (asset_id,))
        if not keys:
            return []
        tier_filter = "" if tier is None else f" AND tier = {int(tier)}"
        attributed = attributed_sql(f"hour = {int(hour)}", ("receipt_id", "line_no", "earned_us"))
        cells = self._q(
            f"""
            SELECT carried_receipt_id AS rid, min(carried_line_no), max(carried_line_no),
                   count(), sum(if(origin = 1, 0, seconds_us)), sum(if(origin = 1, 0, bytes)),
                   sum(if(origin = 1, seconds_us, 0)), sum(if(origin = 1, bytes, 0)),
                   sum(carried_earned_us), min(ts_us) AS first_ts
            FROM ({attributed}) AS x WHERE asset_key = {keys[0]}{tier_filter}
            GROUP BY rid ORDER BY first_ts, rid""",
            {"envs": (env_key,)},
        )
        receipts = {
            rid: (name, source, fmt, imported_at)
            for rid, name, source, fmt, imported_at in self._q(
                "SELECT receipt_id, name, source, format, imported_at FROM receipts "
                f"WHERE env_key = %(e)s AND receipt_id IN {in_list([c[0] for c in cells])}",
                {"e": env_key},
            )
        }
        names = ("first_line", "last_line", "records", "delivered_us", "bytes", "egress_us",
                 "egress_bytes", "earned_us")  # fmt: skip
        found = []
        for rid, *numbers, _ in cells:
            name, source, fmt, imported_at = receipts.get(rid, (None, None, None, None))
            found.append({
                "receipt_id": rid, "name": name, "source": source, "format": fmt,
                "imported_at": imported_at,
                **{key: int(value) for key, value in zip(names, numbers, strict=True)},
            })  # fmt: skip
        return found

    # -- metrics ------------------------------------------------------------------------------
    def usage_health(self, first_provisional_hour: int) -> dict[str, Any]:
        """Figures for /metrics: quarantine size, receipt notes, newest data per source,
        oldest hour with data that is still provisional (>= `first_provisional_hour`).
        Quarantine lines of imports that never committed are not counted."""
        quarantined = self._q(
            "SELECT count() FROM quarantine WHERE receipt_id GLOBAL IN "
            "(SELECT receipt_id FROM receipts)"
        )[0][0]
        notes = self._q(
            "SELECT notes FROM receipts WHERE notes != '{}' ORDER BY imported_at, receipt_id"
        )
        newest = self._q(
            "SELECT source, format, max(last_ts_us) FROM receipts WHERE last_ts_us IS NOT NULL "
            "GROUP BY source, format"
        )
        oldest, count = self._q(
            "SELECT min(hour), count() FROM hour_revisions WHERE hour >= %(h)s",
            {"h": int(first_provisional_hour)},
        )[0]
        return {
            "quarantined": int(quarantined),
            "notes": [row[0] for row in notes],
            "newest_us": {(source, fmt): int(ts) for source, fmt, ts in newest},
            "oldest_provisional_hour": int(oldest) if count else None,
        }
