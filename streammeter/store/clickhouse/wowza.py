"""The Wowza family on ClickHouse: accounts' billing anchors, the JWT secret, legacy keys,
delivery targets and the account-wide usage reads behind `/api/{version}/usage/*`, with the
semantics of the DuckDB store (store/duckdb_wowza.py; docs/design/clickhouse.md).

Replaced values (billing anchors, targets) are versioned rows, read as the highest version
(exact before merges); versions are taken under a writer lock, so they are strictly
increasing per table. Entity keys are client-side hashes (store.py `entity_key`).
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Sequence
from datetime import date
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
from streammeter.store.clickhouse.conn import in_list
from streammeter.store.clickhouse.sql import COMMITTED, CURRENT_ASSETS, CURRENT_PLAYBACK
from streammeter.store.duckdb_wowza import _JWT_SECRET_KEY, _KINDS, _MEASURES, _STEPS, _day_split

if TYPE_CHECKING:
    from streammeter.store.clickhouse.lock import WriterLock

CURRENT_TARGETS = (
    "SELECT env_key, target_id, name, is_primary, hosts, cidrs, user_agents, created_at, seq "
    "FROM delivery_targets WHERE env_key IN %(envs)s "
    "ORDER BY version DESC LIMIT 1 BY env_key, target_id"
)
CURRENT_SETTINGS = (
    "SELECT account_id, bill_anchor, cycle_months FROM account_settings "
    "ORDER BY version DESC LIMIT 1 BY account_id"
)
_TARGET_COLUMNS = (
    "env_key", "target_id", "name", "is_primary", "hosts", "cidrs", "user_agents", "created_at",
    "seq", "version",
)  # fmt: skip
# Sample start (seconds) of a rollup bucket, per trend step.
_SAMPLES = {
    "minute": "toInt64(bucket) * 60",
    "hour": "toInt64(bucket) * 3600",
    "day": "intDiv(toInt64(bucket), 24) * 86400",
}


def _now_s() -> int:
    return now_us() // US_PER_SECOND


def _target(row: Sequence[Any]) -> DeliveryTarget:
    """A `CURRENT_TARGETS` row as a DeliveryTarget."""
    env, tid, name, primary, hosts, cidrs, agents, created, _ = row
    return DeliveryTarget(
        int(env), tid, name, bool(primary), tuple(json.loads(hosts)), tuple(json.loads(cidrs)),
        tuple(json.loads(agents)), int(created),
    )  # fmt: skip


def _windows(start_hour: int, end_hour: int, step: str | None) -> list[tuple[str, int, int]]:
    """(rollup table, first bucket, end bucket) covering the window at the step's grain."""
    if step is None:
        return split_window(start_hour, end_hour)
    if step == "hour":
        return [("usage_hour", start_hour, end_hour)]
    if step == "day":
        return _day_split(start_hour, end_hour)
    if step == "minute":
        return [("usage_minute", start_hour * 60, end_hour * 60)]
    raise ValueError(f"unknown step {step!r}; use one of {', '.join(_STEPS)}")


def _resources_sql(kind: str) -> str:
    """(id, name, archived) of every resource of `kind` in the environments `envs`
    (parameters `kind`, `envs`)."""
    known = (
        "SELECT DISTINCT external_id, entity_key FROM entity_keys "
        "WHERE kind = %(kind)s AND env_key IN %(envs)s"
    )
    if kind == "target":
        return f"""
            SELECT id, if(max(configured) = 1, maxIf(label, configured = 1), id) AS name,
                   toUInt8(0) AS archived
            FROM (SELECT target_id AS id, name AS label, toUInt8(1) AS configured
                  FROM ({CURRENT_TARGETS}) AS current
                  UNION ALL
                  SELECT external_id AS id, external_id AS label, toUInt8(0) AS configured
                  FROM ({known}) AS seen) AS targets
            GROUP BY id"""
    if kind == "live_stream":
        return f"""
            SELECT id, id AS name, minIf(all_deleted, has_assets = 1) AS archived
            FROM (SELECT external_id AS id, all_deleted, has_assets FROM ({known}) AS k
                  ANY LEFT JOIN (
                      SELECT live_stream_key AS entity_key,
                             min(asset_state = 'deleted') AS all_deleted,
                             toUInt8(1) AS has_assets
                      FROM ({CURRENT_ASSETS}) AS current WHERE live_stream_key != 0
                      GROUP BY live_stream_key) AS a USING (entity_key)) AS streams
            GROUP BY id"""
    if kind == "asset":
        return f"""
            SELECT id, ifNull(max(passthrough), id) AS name,
                   minIf(deleted, has_asset = 1) AS archived
            FROM (SELECT external_id AS id, passthrough, deleted, has_asset FROM ({known}) AS k
                  ANY LEFT JOIN (
                      SELECT asset_key AS entity_key, passthrough,
                             asset_state = 'deleted' AS deleted, toUInt8(1) AS has_asset
                      FROM ({CURRENT_ASSETS}) AS current) AS a USING (entity_key)) AS assets
            GROUP BY id"""
    raise ValueError(f"unknown resource kind {kind!r}; use one of {', '.join(_KINDS)}")


class ClickHouseWowzaMixin:
    """Implements the `# -- wowza` section of `Store` for `ClickHouseStore`."""

    if TYPE_CHECKING:  # provided by ClickHouseStore
        _conn: Any

        def _q(self, sql: str, params: dict[str, Any] | None = None) -> list[tuple]: ...

        def _lock(self, name: str) -> WriterLock: ...

        def _meta(self, key: str) -> str | None: ...

        def _set_meta(self, key: str, value: str) -> None: ...

        def _remember_keys(self, env_key: int, kind: str, ids: Sequence[str]) -> Any: ...

    def _migrate_wowza(self) -> None:
        """Create the JWT secret once, whichever process opens the store first."""
        if self._meta(_JWT_SECRET_KEY) is not None:
            return
        with self._lock("jwt_secret") as lock:
            if self._meta(_JWT_SECRET_KEY) is None:
                lock.verify()
                self._set_meta(_JWT_SECRET_KEY, secrets.token_urlsafe(48))

    def _version(self, table: str, where: str, params: dict[str, Any]) -> int:
        """Strictly above every version of `table` matching `where` (called under a lock)."""
        top = self._q(f"SELECT max(version) FROM {table} WHERE {where}", params)[0][0]
        return max(time.time_ns() // 1000, int(top or 0) + 1)

    # -- accounts ----------------------------------------------------------------------------
    def _accounts(self, where: str, params: dict[str, Any]) -> list[AccountInfo]:
        created = self._q(
            f"SELECT account_id, min(created_at) FROM accounts WHERE {where} "
            "GROUP BY account_id ORDER BY account_id",
            params,
        )
        settings = {
            account: (anchor, int(cycle))
            for account, anchor, cycle in self._q(
                f"SELECT * FROM ({CURRENT_SETTINGS}) AS current WHERE {where}", params
            )
        }
        environments: dict[str, list[tuple[str, int]]] = {}
        for account, env_id, key in self._q(
            f"SELECT account_id, environment_id, env_key FROM environments WHERE {where} "
            "ORDER BY env_key",
            params,
        ):
            environments.setdefault(account, []).append((env_id, int(key)))
        accounts = []
        for account, created_at in created:
            anchor, cycle = settings.get(account, (None, 1))
            envs = environments.get(account, [])
            accounts.append(AccountInfo(
                account, int(created_at), anchor, cycle, tuple(e for e, _ in envs),
                tuple(k for _, k in envs),
            ))  # fmt: skip
        return accounts

    def _account_known(self, account_id: str) -> bool:
        found = self._q("SELECT count() FROM accounts WHERE account_id = %(a)s", {"a": account_id})
        return bool(found[0][0])

    def get_account(self, account_id: str) -> AccountInfo | None:
        found = self._accounts("account_id = %(a)s", {"a": account_id})
        return found[0] if found else None

    def list_accounts(self) -> list[AccountInfo]:
        return self._accounts("1", {})

    def set_bill_anchor(self, account_id: str, anchor: str, cycle_months: int = 1) -> None:
        day = date.fromisoformat(anchor)
        if cycle_months < 0:
            raise ValueError("cycle_months must be >= 0 (0: the anchor itself, no cycle)")
        with self._lock("account_settings") as lock:
            if not self._account_known(account_id):
                raise NotFound(f"no account {account_id!r}")
            version = self._version("account_settings", "account_id = %(a)s", {"a": account_id})
            lock.verify()
            self._conn.insert(
                "account_settings",
                ["account_id", "bill_anchor", "cycle_months", "updated_at", "version"],
                [(account_id, day.isoformat(), cycle_months, _now_s(), version)],
            )

    def jwt_secret(self) -> str:
        secret = self._meta(_JWT_SECRET_KEY)
        if secret is None:  # a store opened read-only before it was ever migrated
            raise RuntimeError("the store has no JWT secret; open it once read-write")
        return secret

    # -- legacy keys -------------------------------------------------------------------------
    def create_legacy_key(self, account_id: str) -> LegacyKey:
        key = LegacyKey(secrets.token_hex(32), secrets.token_hex(32), account_id, _now_s())
        if not self._account_known(account_id):  # accounts are never removed: no lock needed
            raise NotFound(f"no account {account_id!r}")
        self._conn.insert(
            "legacy_keys",
            ["access_key", "api_key", "account_id", "created_at"],
            [(key.access_key, key.api_key, key.account_id, key.created_at)],
        )
        return key

    def get_legacy_key(self, access_key: str) -> LegacyKey | None:
        rows = self._q(
            "SELECT access_key, api_key, account_id, created_at FROM legacy_keys "
            "WHERE access_key = %(k)s LIMIT 1",
            {"k": access_key},
        )
        return LegacyKey(rows[0][0], rows[0][1], rows[0][2], int(rows[0][3])) if rows else None

    # -- delivery targets --------------------------------------------------------------------
    def _current_targets(self, env_keys: Sequence[int], where: str = "1") -> list[tuple]:
        return self._q(
            f"SELECT * FROM ({CURRENT_TARGETS}) AS current WHERE {where} "
            "ORDER BY env_key, is_primary DESC, seq",
            {"envs": tuple(env_keys)},
        )

    def add_delivery_target(self, target: DeliveryTarget) -> DeliveryTarget:
        env = int(target.env_key)
        created = target.created_at or _now_s()
        with self._lock(f"targets_{env}") as lock:
            current = {row[1]: row for row in self._current_targets([env])}
            version = self._version("delivery_targets", "env_key = %(e)s", {"e": env})
            seq = version
            if target.target_id in current:  # a replaced target keeps its place and creation
                created, seq = int(current[target.target_id][7]), int(current[target.target_id][8])
            rows = [
                (*row[:3], 0, *row[4:], version)  # demoted: a new version, not primary
                for tid, row in current.items()
                if target.primary and row[3] and tid != target.target_id
            ]
            rows.append((
                env, target.target_id, target.name, int(target.primary),
                json.dumps(list(target.hosts)), json.dumps(list(target.cidrs)),
                json.dumps(list(target.user_agents)), created, seq, version,
            ))  # fmt: skip
            self._remember_keys(env, "target", [target.target_id])
            lock.verify()
            self._conn.insert("delivery_targets", _TARGET_COLUMNS, rows)
        return DeliveryTarget(
            env, target.target_id, target.name, target.primary, tuple(target.hosts),
            tuple(target.cidrs), tuple(target.user_agents), created,
        )  # fmt: skip

    def delivery_targets(self, env_key: int) -> list[DeliveryTarget]:
        return [_target(row) for row in self._current_targets([env_key])]

    # -- usage -------------------------------------------------------------------------------
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
        resources = _resources_sql(kind)
        if not env_keys:
            return [], 0
        params: dict[str, Any] = {"envs": tuple(env_keys), "kind": kind}
        sql = f"SELECT id, name, archived FROM ({resources}) AS resources WHERE 1"
        if ids is not None:
            sql += f" AND id IN {in_list(list(ids))}"
        total = int(self._q(f"SELECT count() FROM ({sql}) AS matching", params)[0][0])
        if from_id is not None:
            sql += " AND id >= %(from_id)s"
            params["from_id"] = from_id
        sql += " ORDER BY id"
        if limit is not None:
            sql += " LIMIT %(offset)s, %(limit)s"
            params |= {"limit": int(limit), "offset": int(offset)}
        rows = self._q(sql, params)
        return [ResourceInfo(rid, name, bool(archived)) for rid, name, archived in rows], total

    def _resource_key(self, kind: str, env_keys: Sequence[int]) -> str:
        """SQL of a rollup row's resource key: its target (else its environment's primary
        target, 0 if none), live stream or asset."""
        from streammeter.store.clickhouse.store import entity_key  # (store.py imports us)

        if kind != "target":
            return f"{kind}_key"
        primary = "toInt64(0)"
        for row in self._current_targets(env_keys, "is_primary = 1"):
            env, tid = int(row[0]), row[1]
            primary = f"if(env_key = {env}, toInt64({entity_key(env, 'target', tid)}), {primary})"
        return f"if(target_key != 0, target_key, {primary})"

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
        parts = _windows(start_hour, end_hour, step)
        if kind is not None and kind not in _KINDS:
            raise ValueError(f"unknown resource kind {kind!r}; use one of {', '.join(_KINDS)}")
        if not parts or not env_keys or (ids is not None and not ids):
            return []
        if by_resource and kind is None:
            raise ValueError("by_resource needs a resource kind")
        params: dict[str, Any] = {"envs": tuple(env_keys)}
        live_filter = "" if live is None else f" AND live = {int(live)}"
        scans = " UNION ALL ".join(
            f"SELECT env_key, bucket, asset_key, live_stream_key, target_key, "
            f"{', '.join(_MEASURES)} FROM {table} WHERE env_key IN %(envs)s "
            f"AND bucket >= {int(lo)} AND bucket < {int(hi)}{live_filter}"
            for table, lo, hi in parts
        )
        columns = list(_MEASURES)
        if step is not None:
            columns.insert(0, f"{_SAMPLES[step]} AS sample_s")
        if kind is not None:
            columns.insert(0, f"{self._resource_key(kind, env_keys)} AS resource_key")
        source = f"(SELECT {', '.join(columns)} FROM ({scans}) AS u) AS cells"
        if kind is not None:  # only usage of a known resource (of `ids`, if given); ALL, as
            # `names` has one row per key (ANY INNER keeps one row per key on current servers)
            names = (
                "SELECT DISTINCT entity_key AS resource_key, external_id FROM entity_keys "
                "WHERE kind = %(kind)s AND env_key IN %(envs)s"
                + ("" if ids is None else f" AND external_id IN {in_list(list(ids))}")
            )
            params["kind"] = kind
            source += f" ALL INNER JOIN ({names}) AS names USING (resource_key)"
        groups = (["external_id"] if by_resource else []) + (["sample_s"] if step else [])
        sums = ", ".join(f"sum({m})" for m in _MEASURES)
        sql = f"SELECT {', '.join([*groups, sums])} FROM {source}"
        if groups:
            sql += f" GROUP BY {', '.join(groups)} ORDER BY {', '.join(groups)}"
        cells = []
        for row in self._q(sql, params):
            resource = row[0] if by_resource else None
            sample = int(row[len(groups) - 1]) if step else None
            cells.append(UsageCell(resource, sample, *(int(v) for v in row[len(groups) :])))
        if groups:
            cells = [c for c in cells if any(getattr(c, m) for m in _MEASURES)]
        return cells

    def viewer_sessions(
        self, env_keys: Sequence[int], start_hour: int, end_hour: int, *, live: bool | None = None
    ) -> int:
        if not env_keys or end_hour <= start_hour:
            return 0
        live_filter = "" if live is None else f" AND live = {int(live)}"
        records = (
            "SELECT env_key, session_id, client_ip, user_agent, hour, asset_key, playback_id, "
            "ifNull(playback_id, '') AS pb_id FROM records WHERE env_key IN %(envs)s "
            f"AND hour >= {int(start_hour)} AND hour < {int(end_hour)} AND origin = 0"
            f"{live_filter} AND {COMMITTED}"
        )
        asset = (
            "multiIf(asset_key != 0, toString(asset_key), pb_asset_key != 0, "
            "toString(pb_asset_key), concat('p:', playback_id))"
        )
        anonymous = ", ".join(
            f"if(isNull(session_id), {value}, NULL)"
            for value in ("client_ip", "user_agent", asset, "intDiv(hour, 24)")
        )
        sql = f"""
            SELECT count() FROM (
                SELECT DISTINCT env_key, session_id, {anonymous}
                FROM ({records}) AS r
                ANY LEFT JOIN (
                    SELECT env_key, playback_id AS pb_id, asset_key AS pb_asset_key
                    FROM ({CURRENT_PLAYBACK}) AS current
                ) AS pb USING (env_key, pb_id)
            ) AS sessions
        """
        return int(self._q(sql, {"envs": tuple(env_keys)})[0][0])
