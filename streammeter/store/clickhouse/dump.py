"""The logical dump of the ClickHouse store (`Store.dump` / `restore`, store/copy.py).

Dumps read what every read of the store sees: committed imports only (receipt written), the
current catalog, index, settings and targets (highest version), patterns not deleted. On a
server they stream (`DriverConnection.iterate`, a connection of their own). Restored rows get
fresh versions of this store; an import's receipt is restored with its `receipts_rolled_up`
row, since the copy computes every rollup afterwards with `rebuild`. Entity keys are this
store's hashes of the external ids (store.py `entity_key`).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator, Sequence
from itertools import islice
from typing import TYPE_CHECKING, Any

from streammeter.model.times import US_PER_SECOND, now_us
from streammeter.store.base import DUMP_BATCH_ROWS, DUMP_FAMILIES, USAGE_MEASURES
from streammeter.store.clickhouse.conn import DriverConnection
from streammeter.store.clickhouse.index import _current
from streammeter.store.clickhouse.sql import COMMITTED, CURRENT_ASSETS, CURRENT_PLAYBACK
from streammeter.store.clickhouse.wowza import CURRENT_TARGETS
from streammeter.store.duckdb_wowza import _JWT_SECRET_KEY

if TYPE_CHECKING:
    from streammeter.store.clickhouse.conn import ChdbConnection, ClickHouseURL

Query = tuple[str, dict[str, Any]]

_BOOLS = ("live", "origin", "additional_target", "iframe", "is_primary")
_NAMES = ("asset_id", "live_stream_id", "target_id")  # '' when a record has none
_JSON_LISTS = ("hosts", "cidrs", "user_agents")
_ASSET_FIELDS = DUMP_FAMILIES["assets"][1:]


# The index families and the keys of their current rows (index.py `_current`).
_INDEX_KEYS = {
    "index_renditions": "asset_id, rendition_id",
    "index_objects": "path, byte_start",
    "index_playlists": "path",
}


def _names(kind: str, key: str, name: str) -> str:
    """SELECT of (env_key, `key`, `name`): the external ids of the entities of `kind`."""
    return (
        f"SELECT env_key, entity_key AS {key}, any(external_id) AS {name} FROM entity_keys "
        f"WHERE kind = '{kind}' GROUP BY env_key, entity_key"
    )


def _records_sql() -> str:
    """Committed records with the external ids of their asset, live stream and target (one
    JOIN per SELECT, each with a subquery on its left)."""
    fields = DUMP_FAMILIES["records"]
    keyed = [f for f in fields if f not in _NAMES]
    sql = (
        f"SELECT {', '.join(keyed)}, asset_key, live_stream_key, target_key "
        f"FROM records WHERE env_key IN %(envs)s AND {COMMITTED}"
    )
    carried = [*keyed, "live_stream_key", "target_key"]
    for kind, key, name in (("asset", "asset_key", "asset_id"),
                            ("live_stream", "live_stream_key", "live_stream_id"),
                            ("target", "target_key", "target_id")):  # fmt: skip
        sql = (
            f"SELECT {', '.join(carried)}, {name} FROM ({sql}) AS r "
            f"ANY LEFT JOIN ({_names(kind, key, name)}) AS k USING (env_key, {key})"
        )
        carried = [c for c in carried if c != key] + [name]
    return f"SELECT {', '.join(fields)} FROM ({sql}) AS named"


def _dump_sql(family: str) -> str:
    """The SELECT of a family's fields (parameters `envs`, and `e` for the index)."""
    fields = ", ".join(DUMP_FAMILIES[family])
    if family == "accounts":
        return (
            "SELECT account_id, min(created_at) FROM accounts GROUP BY account_id "
            "ORDER BY account_id"
        )
    if family == "tokens":
        return (
            "SELECT token_id, env_key, secret_sha256, scopes, created_at, nullIf(revoked, 0) "
            "FROM (SELECT token_id, env_key, secret_sha256, scopes, created_at FROM tokens) AS t "
            "ANY LEFT JOIN (SELECT token_id, min(revoked_at) AS revoked FROM token_revocations "
            "GROUP BY token_id) AS r USING (token_id) ORDER BY created_at, token_id"
        )
    if family == "entities":
        return f"SELECT DISTINCT {fields} FROM entity_keys ORDER BY {fields}"
    if family == "assets":
        return f"SELECT {fields} FROM ({CURRENT_ASSETS}) AS current ORDER BY env_key, asset_id"
    if family == "playback_ids":
        return (
            f"SELECT {fields} FROM ({CURRENT_PLAYBACK}) AS p "
            f"ANY LEFT JOIN ({_names('asset', 'asset_key', 'asset_id')}) AS k "
            "USING (env_key, asset_key) ORDER BY env_key, playback_id"
        )
    if family == "quarantine":
        return (
            f"SELECT {fields} FROM quarantine "
            "WHERE receipt_id GLOBAL IN (SELECT receipt_id FROM receipts)"
        )
    if family == "records":
        return _records_sql()
    if family in _INDEX_KEYS:
        return f"SELECT {fields} FROM ({_current(family, _INDEX_KEYS[family])}) AS current"
    if family == "url_patterns":
        return (
            f"SELECT {fields} FROM (SELECT {fields}, deleted FROM url_patterns "
            "ORDER BY deleted DESC LIMIT 1 BY env_key, pattern_id) AS current "
            "WHERE deleted = 0 ORDER BY pattern_id"
        )
    if family == "account_settings":
        return f"SELECT {fields} FROM account_settings ORDER BY version DESC LIMIT 1 BY account_id"
    if family == "jwt_secret":
        return (
            f"SELECT value FROM meta WHERE key = '{_JWT_SECRET_KEY}' ORDER BY version DESC LIMIT 1"
        )
    if family == "delivery_targets":
        return f"SELECT {fields} FROM ({CURRENT_TARGETS}) AS current ORDER BY seq"
    order = {"environments": "env_key", "receipts": "imported_at, receipt_id",
             "legacy_keys": "access_key"}[family]  # fmt: skip
    return f"SELECT {fields} FROM {family} ORDER BY {order}"


def _row(fields: tuple[str, ...], values: Sequence[Any]) -> dict[str, Any]:
    """A dumped row in the engine-neutral form (bool, None, lists)."""
    row = dict(zip(fields, values, strict=True))
    for field in fields:
        if field in _BOOLS:
            row[field] = bool(row[field])
        elif field in _NAMES and row[field] == "":
            row[field] = None
        elif field in _JSON_LISTS:
            row[field] = json.loads(row[field])
    return row


def _family(family: str) -> tuple[str, ...]:
    if family not in DUMP_FAMILIES:
        raise ValueError(f"unknown dump family {family!r}")
    return DUMP_FAMILIES[family]


def _by_env(rows: Sequence[dict[str, Any]]) -> dict[int, list[dict[str, Any]]]:
    groups: dict[int, list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault(int(row["env_key"]), []).append(row)
    return groups


def _version() -> int:
    return time.time_ns() // 1000


class ClickHouseDumpMixin:
    """Implements the `# -- moving a store` section of `Store` for `ClickHouseStore`."""

    if TYPE_CHECKING:  # provided by ClickHouseStore
        url: ClickHouseURL
        _chdb: ChdbConnection | None
        _conn: Any

        def _q(self, sql: str, params: dict[str, Any] | None = None) -> list[tuple]: ...

        def _environments(self, where: str = "1", params: dict[str, Any] | None = None) -> list: ...

        def _next_version(self, env_key: int) -> int: ...

        def _next_index_version(self, env_key: int) -> int: ...

        def _index_version(self, env_key: int, version: int, *, done: bool) -> None: ...

        def _set_meta(self, key: str, value: str) -> None: ...

    # -- dump ------------------------------------------------------------------------------
    def _dump_queries(self, family: str) -> list[Query]:
        """The family's SELECTs: one per environment for the index (its versions are per
        environment), else one."""
        env_keys = tuple(int(row[0]) for row in self._environments())
        if family in _INDEX_KEYS:
            return [(_dump_sql(family), {"e": key}) for key in env_keys]
        if family in ("assets", "playback_ids", "records", "delivery_targets") and not env_keys:
            return []
        return [(_dump_sql(family), {"envs": env_keys})]

    def _stream(self, sql: str, params: dict[str, Any], block_rows: int) -> Iterator[tuple]:
        if self._chdb is not None:  # in process (tests): one result
            yield from self._q(sql, params)
            return
        conn = DriverConnection(self.url)
        try:
            yield from conn.iterate(sql, params, block_rows)
        finally:
            conn.close()

    def dump(
        self, family: str, batch_rows: int = DUMP_BATCH_ROWS
    ) -> Iterator[list[dict[str, Any]]]:
        fields = _family(family)
        for sql, params in self._dump_queries(family):
            rows = self._stream(sql, params, batch_rows)
            while batch := list(islice(rows, batch_rows)):
                yield [_row(fields, values) for values in batch]

    def dump_count(self, family: str) -> int:
        _family(family)
        if family == "records":  # the same rows, without naming their entities
            queries = [(f"SELECT 1 FROM records WHERE env_key IN %(envs)s AND {COMMITTED}", p)
                       for _, p in self._dump_queries(family)]  # fmt: skip
        else:
            queries = self._dump_queries(family)
        return sum(
            int(self._q(f"SELECT count() FROM ({sql}) AS dumped", params)[0][0])
            for sql, params in queries
        )

    # -- restore ---------------------------------------------------------------------------
    def restore(self, family: str, rows: Sequence[dict[str, Any]]) -> None:
        _family(family)
        if not rows:
            return
        special: dict[str, Callable[[Sequence[dict[str, Any]]], None]] = {
            "tokens": self._restore_tokens,
            "entities": self._restore_entities,
            "assets": self._restore_assets,
            "playback_ids": self._restore_playback_ids,
            "receipts": self._restore_receipts,
            "records": self._restore_records,
            "jwt_secret": lambda rows: self._set_meta(_JWT_SECRET_KEY, rows[-1]["secret"]),
            "delivery_targets": self._restore_delivery_targets,
        }
        extra = {"url_patterns": {"deleted": 0}, "account_settings": {"version": _version()}}
        if family in _INDEX_KEYS:
            self._restore_index(family, rows)
        elif family in special:
            special[family](rows)
        else:
            self._insert(family, rows, extra.get(family))

    def _insert(
        self, family: str, rows: Sequence[dict[str, Any]], extra: dict[str, Any] | None = None
    ) -> None:
        """Insert the family's fields of `rows` (plus `extra` columns) into its table."""
        fields = list(DUMP_FAMILIES[family])
        names = [*fields, *(extra or {})]
        values = [(*(row[f] for f in fields), *(extra or {}).values()) for row in rows]
        self._conn.insert(family, names, values)

    def _restore_tokens(self, rows: Sequence[dict[str, Any]]) -> None:
        self._conn.insert(
            "tokens",
            ["token_id", "env_key", "secret_sha256", "scopes", "created_at"],
            [(r["token_id"], r["env_key"], r["secret_sha256"], r["scopes"], r["created_at"])
             for r in rows],
        )  # fmt: skip
        self._conn.insert(
            "token_revocations",
            ["token_id", "revoked_at"],
            [(r["token_id"], r["revoked_at"]) for r in rows if r["revoked_at"] is not None],
        )

    def _restore_entities(self, rows: Sequence[dict[str, Any]]) -> None:
        from streammeter.store.clickhouse.store import entity_key  # (store.py imports us)

        self._conn.insert(
            "entity_keys",
            ["env_key", "kind", "external_id", "entity_key"],
            [(r["env_key"], r["kind"], r["external_id"],
              entity_key(r["env_key"], r["kind"], r["external_id"])) for r in rows],
        )  # fmt: skip

    def _restore_assets(self, rows: Sequence[dict[str, Any]]) -> None:
        from streammeter.store.clickhouse.store import entity_key

        for env, group in _by_env(rows).items():
            version = self._next_version(env)
            self._conn.insert(
                "assets",
                ["env_key", "asset_key", *_ASSET_FIELDS, "live_stream_key", "version"],
                [(env, entity_key(env, "asset", r["asset_id"]), *(r[f] for f in _ASSET_FIELDS),
                  entity_key(env, "live_stream", r["live_stream_id"])
                  if r["live_stream_id"] else 0, version)
                 for r in group],
            )  # fmt: skip

    def _restore_playback_ids(self, rows: Sequence[dict[str, Any]]) -> None:
        from streammeter.store.clickhouse.store import entity_key

        for env, group in _by_env(rows).items():
            version = self._next_version(env)
            self._conn.insert(
                "playback_ids",
                ["env_key", "playback_id", "policy", "asset_key", "deleted", "version"],
                [(env, r["playback_id"], r["policy"], entity_key(env, "asset", r["asset_id"]),
                  0, version) for r in group],
            )  # fmt: skip

    def _restore_receipts(self, rows: Sequence[dict[str, Any]]) -> None:
        self._insert("receipts", rows)
        done = now_us() // US_PER_SECOND
        self._conn.insert(
            "receipts_rolled_up",
            ["env_key", "receipt_id", "done_at"],
            [(r["env_key"], r["receipt_id"], done) for r in rows],
        )

    def _restore_records(self, rows: Sequence[dict[str, Any]]) -> None:
        from streammeter.store.clickhouse.store import _RECORD_COLUMNS, entity_key

        def key(env: int, kind: str, name: str | None) -> int:
            return entity_key(env, kind, name) if name else 0

        values = []
        for r in rows:
            env = r["env_key"]
            values.append((
                env, r["receipt_id"], r["line_no"], r["request_id"], r["ts_us"],
                r["ts_us"] // 3_600_000_000, key(env, "asset", r["asset_id"]), r["playback_id"],
                key(env, "live_stream", r["live_stream_id"]), r["kind"], r["track"],
                r["tier_hint"], r["duration_us"], r["bytes"], r["method"], r["status"],
                r["body_bytes"], r["object_bytes"], r["session_id"], r["earned_us"],
                r["media_us"], r["rendition_id"], r["media_sequence"], r["part_index"],
                int(r["live"]), int(r["origin"]), r["client_ip"], r["user_agent"],
                key(env, "target", r["target_id"]), int(r["additional_target"]),
            ))  # fmt: skip
        self._conn.insert("records", _RECORD_COLUMNS, values)

    def _restore_index(self, family: str, rows: Sequence[dict[str, Any]]) -> None:
        """One committed index version per environment and batch (index.py)."""
        bools = [f for f in DUMP_FAMILIES[family] if f in _BOOLS]
        for env, group in _by_env(rows).items():
            version = self._next_index_version(env)
            self._index_version(env, version, done=False)
            converted = [{**r, **{f: int(r[f]) for f in bools}} for r in group]
            self._insert(family, converted, {"version": version})
            self._index_version(env, version, done=True)

    def _restore_delivery_targets(self, rows: Sequence[dict[str, Any]]) -> None:
        converted = [
            {**r, "is_primary": int(r["is_primary"]),
             **{f: json.dumps(list(r[f])) for f in _JSON_LISTS}}
            for r in rows
        ]  # fmt: skip
        self._insert("delivery_targets", converted, {"version": _version()})

    # -- verification ----------------------------------------------------------------------
    def hour_totals(self, env_key: int) -> dict[tuple[int, int], tuple[int, ...]]:
        sums = ", ".join(f"sum({m})" for m in USAGE_MEASURES)
        nonzero = " OR ".join(f"sum({m}) != 0" for m in USAGE_MEASURES)
        rows = self._q(
            f"SELECT bucket, tier, {sums} FROM usage_hour WHERE env_key = %(e)s "
            f"GROUP BY bucket, tier HAVING {nonzero}",
            {"e": env_key},
        )
        return {(int(row[0]), int(row[1])): tuple(int(v) for v in row[2:]) for row in rows}
