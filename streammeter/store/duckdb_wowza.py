"""The Wowza part of the DuckDB store: accounts' billing anchors, legacy keys, delivery targets
and the account-wide usage reads behind `/api/{version}/usage/*` (docs/api/wowza-usage.md).

Mixed into `DuckDBStore`; it uses the store's cursor, transactions and entity keys.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from datetime import date
from importlib import resources
from typing import TYPE_CHECKING, Any

from streammeter.model.times import US_PER_SECOND, now_us
from streammeter.query.windows import split_window
from streammeter.store.base import (
    AccountInfo,
    DeliveryTarget,
    LegacyKey,
    NotFound,
    ResourceInfo,
    UsageCell,
)

_JWT_SECRET_KEY = "wowza_jwt_secret"
_MEASURES = (
    "delivered_us", "bytes", "egress_us", "egress_bytes",
    "egress_additional_us", "egress_additional_bytes",
)  # fmt: skip
_KINDS = ("target", "live_stream", "asset")
_STEPS = ("minute", "hour", "day")


def _now_s() -> int:
    return now_us() // US_PER_SECOND


def _day_split(start: int, end: int) -> list[tuple[str, int, int]]:
    """[start, end) hours over whole UTC days (usage_day) and ragged edge hours (usage_hour):
    never months, so every row belongs to one UTC day."""
    if end <= start:
        return []
    day_lo, day_hi = -(-start // 24) * 24, end - end % 24
    if day_lo >= day_hi:
        return [("usage_hour", start, end)]
    parts = [("usage_hour", start, day_lo)] if start < day_lo else []
    parts.append(("usage_day", day_lo, day_hi))
    if day_hi < end:
        parts.append(("usage_hour", day_hi, end))
    return parts


class DuckDBWowzaMixin:
    """Implements the `# -- wowza` section of `Store` for `DuckDBStore`."""

    if TYPE_CHECKING:  # provided by DuckDBStore
        _con: Any
        _write_lock: Any

        def _cursor(self) -> Any: ...

        def _transaction(self) -> Any: ...

        def _ensure_keys(self, cur: Any, env_key: int, kind: str, ids: Sequence[str]) -> Any: ...

    def _migrate_wowza(self) -> None:
        schema = resources.files("streammeter.store").joinpath("wowza_schema.sql").read_text()
        with self._write_lock:
            self._con.execute(schema)
            self._con.execute(
                "INSERT INTO meta SELECT ?, ? WHERE NOT EXISTS (SELECT 1 FROM meta WHERE key = ?)",
                [_JWT_SECRET_KEY, secrets.token_urlsafe(48), _JWT_SECRET_KEY],
            )

    # -- accounts ----------------------------------------------------------------------------
    def _accounts(self, where: str, params: list[Any]) -> list[AccountInfo]:
        rows = (
            self._cursor()
            .execute(
                "SELECT a.account_id, a.created_at, strftime(s.bill_anchor, '%Y-%m-%d'), "
                "coalesce(s.cycle_months, 1), "
                "list(e.environment_id ORDER BY e.env_key) FILTER (WHERE e.env_key IS NOT NULL),"
                " list(e.env_key ORDER BY e.env_key) FILTER (WHERE e.env_key IS NOT NULL) "
                "FROM accounts a LEFT JOIN account_settings s USING (account_id) "
                f"LEFT JOIN environments e USING (account_id) {where} "
                "GROUP BY ALL ORDER BY a.account_id",
                params,
            )
            .fetchall()
        )
        return [
            AccountInfo(
                account, created, anchor, cycle, tuple(env_ids or ()), tuple(env_keys or ())
            )
            for account, created, anchor, cycle, env_ids, env_keys in rows
        ]

    def get_account(self, account_id: str) -> AccountInfo | None:
        found = self._accounts("WHERE a.account_id = ?", [account_id])
        return found[0] if found else None

    def list_accounts(self) -> list[AccountInfo]:
        return self._accounts("", [])

    def set_bill_anchor(self, account_id: str, anchor: str, cycle_months: int = 1) -> None:
        day = date.fromisoformat(anchor)
        if cycle_months < 0:
            raise ValueError("cycle_months must be >= 0 (0: the anchor itself, no cycle)")
        with self._transaction() as cur:
            known = cur.execute(
                "SELECT 1 FROM accounts WHERE account_id = ?", [account_id]
            ).fetchone()
            if known is None:
                raise NotFound(f"no account {account_id!r}")
            cur.execute(
                "INSERT OR REPLACE INTO account_settings VALUES (?, ?, ?, ?)",
                [account_id, day, cycle_months, _now_s()],
            )

    def jwt_secret(self) -> str:
        row = (
            self._cursor()
            .execute("SELECT value FROM meta WHERE key = ?", [_JWT_SECRET_KEY])
            .fetchone()
        )
        if row is None:  # a store opened read-only before it was ever migrated
            raise RuntimeError("the store has no JWT secret; open it once read-write")
        return str(row[0])

    # -- legacy keys -------------------------------------------------------------------------
    def create_legacy_key(self, account_id: str) -> LegacyKey:
        key = LegacyKey(secrets.token_hex(32), secrets.token_hex(32), account_id, _now_s())
        with self._transaction() as cur:
            if (
                cur.execute("SELECT 1 FROM accounts WHERE account_id = ?", [account_id]).fetchone()
                is None
            ):
                raise NotFound(f"no account {account_id!r}")
            cur.execute(
                "INSERT INTO legacy_keys VALUES (?, ?, ?, ?)",
                [key.access_key, key.api_key, key.account_id, key.created_at],
            )
        return key

    def get_legacy_key(self, access_key: str) -> LegacyKey | None:
        row = (
            self._cursor()
            .execute(
                "SELECT access_key, api_key, account_id, created_at FROM legacy_keys "
                "WHERE access_key = ?",
                [access_key],
            )
            .fetchone()
        )
        return LegacyKey(*row) if row else None

    # -- delivery targets --------------------------------------------------------------------
    def add_delivery_target(self, target: DeliveryTarget) -> DeliveryTarget:
        created = target.created_at or _now_s()
        with self._transaction() as cur:
            existing = cur.execute(
                "SELECT seq, created_at FROM delivery_targets WHERE env_key = ? AND target_id = ?",
                [target.env_key, target.target_id],
            ).fetchone()
            if existing:  # a replaced target keeps its place and creation time
                seq, created = existing
            else:
                seq = cur.execute(
                    "SELECT coalesce(max(seq), 0) + 1 FROM delivery_targets"
                ).fetchone()[0]
            if target.primary:
                cur.execute(
                    "UPDATE delivery_targets SET is_primary = false "
                    "WHERE env_key = ? AND target_id <> ? AND is_primary",
                    [target.env_key, target.target_id],
                )
            cur.execute(
                "INSERT OR REPLACE INTO delivery_targets VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    target.env_key, target.target_id, target.name, target.primary,
                    list(target.hosts), list(target.cidrs), list(target.user_agents), created,
                    seq,
                ],
            )  # fmt: skip
            self._ensure_keys(cur, target.env_key, "target", [target.target_id])
        return DeliveryTarget(
            target.env_key, target.target_id, target.name, target.primary, tuple(target.hosts),
            tuple(target.cidrs), tuple(target.user_agents), created,
        )  # fmt: skip

    def delivery_targets(self, env_key: int) -> list[DeliveryTarget]:
        rows = (
            self._cursor()
            .execute(
                "SELECT env_key, target_id, name, is_primary, hosts, cidrs, user_agents, "
                "created_at FROM delivery_targets WHERE env_key = ? "
                "ORDER BY is_primary DESC, seq",
                [env_key],
            )
            .fetchall()
        )
        return [
            DeliveryTarget(env, tid, name, primary, tuple(h), tuple(c), tuple(u), created)
            for env, tid, name, primary, h, c, u, created in rows
        ]

    # -- usage -------------------------------------------------------------------------------
    @staticmethod
    def _resources_sql(kind: str) -> str:
        """(id, name, archived) of every resource of `kind` in the environments `$envs`."""
        if kind == "target":
            return """
                SELECT id, coalesce(max(name) FILTER (WHERE configured), id) AS name,
                       false AS archived
                FROM (SELECT target_id AS id, name, true AS configured
                      FROM delivery_targets WHERE list_contains($envs, env_key)
                      UNION ALL
                      SELECT external_id, external_id, false FROM entity_keys
                      WHERE kind = 'target' AND list_contains($envs, env_key))
                GROUP BY id"""
        if kind == "live_stream":
            return """
                SELECT k.external_id AS id, k.external_id AS name,
                       coalesce(bool_and(a.asset_state = 'deleted'), false) AS archived
                FROM entity_keys k LEFT JOIN assets a ON a.live_stream_key = k.entity_key
                WHERE k.kind = 'live_stream' AND list_contains($envs, k.env_key)
                GROUP BY k.external_id"""
        if kind == "asset":
            return """
                SELECT k.external_id AS id,
                       coalesce(max(a.passthrough), k.external_id) AS name,
                       coalesce(bool_and(a.asset_state = 'deleted'), false) AS archived
                FROM entity_keys k LEFT JOIN assets a ON a.asset_key = k.entity_key
                WHERE k.kind = 'asset' AND list_contains($envs, k.env_key)
                GROUP BY k.external_id"""
        raise ValueError(f"unknown resource kind {kind!r}; use one of {', '.join(_KINDS)}")

    def account_resources(
        self,
        env_keys: Sequence[int],
        kind: str,
        *,
        ids: Sequence[str] | None = None,
        from_id: str | None = None,
        limit: int | None = None,
        offset: int = 0,
    ) -> tuple[list[ResourceInfo], int]:
        params: dict[str, Any] = {"envs": list(env_keys)}
        sql = f"SELECT id, name, archived FROM ({self._resources_sql(kind)}) WHERE true"
        if ids is not None:
            sql += " AND list_contains($ids, id)"
            params["ids"] = list(ids)
        cur = self._cursor()
        total = cur.execute(f"SELECT count(*) FROM ({sql})", params).fetchone()[0]
        page = sql
        if from_id is not None:
            page += " AND id >= $from_id"
            params["from_id"] = from_id
        page += " ORDER BY id"
        if limit is not None:
            page += " LIMIT $limit OFFSET $offset"
            params |= {"limit": limit, "offset": offset}
        rows = cur.execute(page, params).fetchall()
        return [ResourceInfo(rid, name, bool(archived)) for rid, name, archived in rows], total

    def account_usage(
        self,
        env_keys: Sequence[int],
        start_hour: int,
        end_hour: int,
        *,
        live: bool | None = None,
        kind: str | None = None,
        ids: Sequence[str] | None = None,
        by_resource: bool = False,
        step: str | None = None,
    ) -> list[UsageCell]:
        if step is None:
            parts, sample = split_window(start_hour, end_hour), None
        elif step == "hour":
            parts, sample = [("usage_hour", start_hour, end_hour)], "u.bucket * 3600"
        elif step == "day":
            parts, sample = _day_split(start_hour, end_hour), "(u.bucket - u.bucket % 24) * 3600"
        elif step == "minute":
            parts = [("usage_minute", start_hour * 60, end_hour * 60)]
            sample = "u.bucket * 60"
        else:
            raise ValueError(f"unknown step {step!r}; use one of {', '.join(_STEPS)}")
        if kind is not None and kind not in _KINDS:
            raise ValueError(f"unknown resource kind {kind!r}; use one of {', '.join(_KINDS)}")
        if not parts or not env_keys or (ids is not None and not ids):
            return []
        params: dict[str, Any] = {"envs": list(env_keys)}
        live_filter = ""
        if live is not None:
            live_filter, params["live"] = " AND live = $live", live
        scans = []
        for number, (table, lo, hi) in enumerate(parts):
            scans.append(
                f"SELECT env_key, bucket, asset_key, live_stream_key, target_key, "
                f"{', '.join(_MEASURES)} FROM {table} WHERE list_contains($envs, env_key) "
                f"AND bucket >= $lo{number} AND bucket < $hi{number}{live_filter}"
            )
            params[f"lo{number}"], params[f"hi{number}"] = lo, hi
        joins, columns, groups = "", [], []
        if kind is not None:
            if kind == "target":
                joins = (
                    " LEFT JOIN (SELECT t.env_key, k.entity_key FROM delivery_targets t "
                    "JOIN entity_keys k ON k.env_key = t.env_key AND k.kind = 'target' "
                    "AND k.external_id = t.target_id WHERE t.is_primary) p "
                    "ON p.env_key = u.env_key"
                )
                key = "coalesce(u.target_key, p.entity_key)"
            else:
                key = f"u.{kind}_key"
            joins += f" JOIN entity_keys k ON k.entity_key = {key} AND k.kind = $kind"
            params["kind"] = kind
            if ids is not None:
                joins += " AND list_contains($ids, k.external_id)"
                params["ids"] = list(ids)
        if by_resource:
            if kind is None:
                raise ValueError("by_resource needs a resource kind")
            columns.append("k.external_id")
            groups.append("1")
        else:
            columns.append("NULL")
        if sample is not None:
            columns.append(sample)
            groups.append("2")
        else:
            columns.append("NULL")
        sums = ", ".join(f"coalesce(sum(u.{m}), 0)::BIGINT" for m in _MEASURES)
        sql = f"SELECT {', '.join(columns)}, {sums} FROM ({' UNION ALL '.join(scans)}) u{joins}" + (
            f" GROUP BY {', '.join(groups)} ORDER BY {', '.join(groups)}" if groups else ""
        )
        rows = self._cursor().execute(sql, params).fetchall()
        cells = [UsageCell(row[0], row[1], *(int(v) for v in row[2:])) for row in rows]
        if groups:
            cells = [c for c in cells if any(getattr(c, m) for m in _MEASURES)]
        return cells

    def viewer_sessions(
        self, env_keys: Sequence[int], start_hour: int, end_hour: int, *, live: bool | None = None
    ) -> int:
        if not env_keys or end_hour <= start_hour:
            return 0
        params: dict[str, Any] = {"envs": list(env_keys), "lo": start_hour, "hi": end_hour}
        live_filter = ""
        if live is not None:
            live_filter, params["live"] = " AND r.live = $live", live
        no_sid = "CASE WHEN r.session_id IS NULL THEN {} END"
        asset = (
            "coalesce(CAST(coalesce(r.asset_key, pb.asset_key) AS VARCHAR), 'p:' || r.playback_id)"
        )
        sql = f"""
            SELECT count(*) FROM (
                SELECT DISTINCT r.env_key, r.session_id,
                       {no_sid.format("r.client_ip")}, {no_sid.format("r.user_agent")},
                       {no_sid.format(asset)}, {no_sid.format("r.hour // 24")}
                FROM records r
                LEFT JOIN playback_ids pb ON r.asset_key IS NULL AND pb.env_key = r.env_key
                      AND pb.playback_id = r.playback_id
                WHERE list_contains($envs, r.env_key) AND r.hour >= $lo AND r.hour < $hi
                      AND NOT r.origin{live_filter})
        """
        return int(self._cursor().execute(sql, params).fetchone()[0])
