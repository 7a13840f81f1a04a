"""The logical dump of the DuckDB store (`Store.dump` / `restore`, store/copy.py).

Mixed into `DuckDBStore`. Dumps stream through a cursor of their own (`fetchmany`); each
restored batch is one transaction, read by its INSERT through a replacement scan of an Arrow
table (as the importer does). Entity keys are the store's own: rows name entities by external
id, and the `entities` family (restored before the families that name them) allocates them.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from streammeter.store.base import DUMP_BATCH_ROWS, DUMP_FAMILIES, USAGE_MEASURES
from streammeter.store.duckdb_wowza import _JWT_SECRET_KEY
from streammeter.store.request_keys import key_rows_sql


def _name(alias: str, column: str) -> str:
    """LEFT JOIN of the entity names of the keys in `column` of the records alias `r`."""
    return f"LEFT JOIN entity_keys {alias} ON {alias}.entity_key = r.{column}"


def _key(alias: str, kind: str, field: str) -> str:
    """LEFT JOIN of the entity keys of `kind` named by `d.field` of the dumped rows `d`."""
    return (
        f"LEFT JOIN entity_keys {alias} ON {alias}.env_key = d.env_key "
        f"AND {alias}.kind = '{kind}' AND {alias}.external_id = d.{field}"
    )


_ASSET_FIELDS = ", ".join(DUMP_FAMILIES["assets"][1:])
_RECORD_FIELDS = DUMP_FAMILIES["records"]
_RECORD_NAMES = {"asset_id": "ka", "live_stream_id": "kl", "target_id": "kt"}

# family -> SELECT of its fields, in DUMP_FAMILIES order
_DUMPS: dict[str, str] = {
    "accounts": "SELECT account_id, created_at FROM accounts ORDER BY account_id",
    "environments": "SELECT env_key, environment_id, name, account_id, created_at "
    "FROM environments ORDER BY env_key",
    "tokens": "SELECT token_id, env_key, secret_sha256, scopes, created_at, revoked_at "
    "FROM tokens ORDER BY created_at, token_id",
    "entities": "SELECT env_key, kind, external_id FROM entity_keys ORDER BY entity_key",
    "assets": f"SELECT env_key, {_ASSET_FIELDS} FROM assets ORDER BY env_key, asset_id",
    "playback_ids": "SELECT p.env_key, p.playback_id, p.policy, k.external_id AS asset_id "
    "FROM playback_ids p JOIN entity_keys k ON k.entity_key = p.asset_key "
    "ORDER BY p.env_key, p.playback_id",
    "receipts": f"SELECT {', '.join(DUMP_FAMILIES['receipts'])} FROM receipts "
    "ORDER BY imported_at, receipt_id",
    "quarantine": "SELECT receipt_id, line_no, reason, raw FROM quarantine",
    "records": "SELECT "
    + ", ".join(
        f"{_RECORD_NAMES[f]}.external_id AS {f}" if f in _RECORD_NAMES else f"r.{f}"
        for f in _RECORD_FIELDS
    )
    + " FROM records r "
    + _name("ka", "asset_key")
    + " "
    + _name("kl", "live_stream_key")
    + " "
    + _name("kt", "target_key"),
    "index_renditions": f"SELECT {', '.join(DUMP_FAMILIES['index_renditions'])} "
    "FROM index_renditions",
    "index_objects": f"SELECT {', '.join(DUMP_FAMILIES['index_objects'])} FROM index_objects",
    "index_playlists": "SELECT env_key, path, asset_id, rendition_id, role FROM index_playlists",
    "url_patterns": "SELECT pattern_id, env_key, regex, attributes, created_at "
    "FROM url_patterns ORDER BY pattern_id",
    "account_settings": "SELECT account_id, strftime(bill_anchor, '%Y-%m-%d') AS bill_anchor, "
    "cycle_months, updated_at FROM account_settings ORDER BY account_id",
    "legacy_keys": "SELECT access_key, api_key, account_id, created_at FROM legacy_keys "
    "ORDER BY access_key",
    "jwt_secret": f"SELECT value AS secret FROM meta WHERE key = '{_JWT_SECRET_KEY}'",
    "delivery_targets": f"SELECT {', '.join(DUMP_FAMILIES['delivery_targets'])} "
    "FROM delivery_targets ORDER BY seq",
}

# family -> INSERT of the dumped rows `d` (an Arrow table `dump_rows`)
_RESTORES: dict[str, str] = {
    "accounts": "INSERT INTO accounts SELECT account_id, created_at FROM dump_rows",
    "environments": "INSERT INTO environments "
    "SELECT env_key, environment_id, name, account_id, created_at FROM dump_rows",
    "tokens": "INSERT INTO tokens "
    "SELECT token_id, env_key, secret_sha256, scopes, created_at, revoked_at FROM dump_rows",
    "entities": "INSERT INTO entity_keys "
    "SELECT nextval('entity_key_seq'), env_key, kind, external_id FROM dump_rows",
    "assets": f"INSERT INTO assets (asset_key, env_key, {_ASSET_FIELDS}, live_stream_key) "
    f"SELECT ka.entity_key, d.env_key, "
    + ", ".join(f"d.{f}" for f in DUMP_FAMILIES["assets"][1:])
    + ", kl.entity_key FROM dump_rows d "
    + _key("ka", "asset", "asset_id")
    + " "
    + _key("kl", "live_stream", "live_stream_id"),
    "playback_ids": "INSERT INTO playback_ids SELECT d.env_key, d.playback_id, d.policy, "
    "ka.entity_key FROM dump_rows d " + _key("ka", "asset", "asset_id"),
    "receipts": f"INSERT INTO receipts SELECT {', '.join(DUMP_FAMILIES['receipts'])} "
    "FROM dump_rows",
    "quarantine": "INSERT INTO quarantine SELECT receipt_id, line_no, reason, raw FROM dump_rows",
    "records": "INSERT INTO records SELECT d.env_key, d.receipt_id, d.line_no, d.request_id, "
    "d.ts_us, CAST(d.ts_us // 3600000000 AS INTEGER), ka.entity_key, d.playback_id, "
    "kl.entity_key, "
    + ", ".join(f"d.{f}" for f in _RECORD_FIELDS[8:27])
    + ", kt.entity_key, d.additional_target FROM dump_rows d "
    + _key("ka", "asset", "asset_id")
    + " "
    + _key("kl", "live_stream", "live_stream_id")
    + " "
    + _key("kt", "target", "target_id"),
    "index_renditions": f"INSERT INTO index_renditions "
    f"SELECT {', '.join(DUMP_FAMILIES['index_renditions'])} FROM dump_rows",
    "index_objects": f"INSERT INTO index_objects "
    f"SELECT {', '.join(DUMP_FAMILIES['index_objects'])} FROM dump_rows",
    "index_playlists": "INSERT INTO index_playlists "
    "SELECT env_key, path, asset_id, rendition_id, role FROM dump_rows",
    "url_patterns": "INSERT INTO url_patterns "
    "SELECT pattern_id, env_key, regex, attributes, created_at FROM dump_rows",
    "account_settings": "INSERT INTO account_settings SELECT account_id, "
    "CAST(bill_anchor AS DATE), cycle_months, updated_at FROM dump_rows",
    "legacy_keys": "INSERT INTO legacy_keys "
    "SELECT access_key, api_key, account_id, created_at FROM dump_rows",
    "jwt_secret": f"INSERT OR REPLACE INTO meta SELECT '{_JWT_SECRET_KEY}', secret FROM dump_rows",
    # `seq` renumbered in the dump's order, after the targets already restored
    "delivery_targets": "INSERT INTO delivery_targets SELECT env_key, target_id, name, "
    "is_primary, hosts, cidrs, user_agents, created_at, "
    "(SELECT coalesce(max(seq), 0) FROM delivery_targets) + row_number() OVER (ORDER BY seq) "
    "FROM dump_rows",
}


def _family(family: str) -> tuple[str, ...]:
    if family not in DUMP_FAMILIES:
        raise ValueError(f"unknown dump family {family!r}")
    return DUMP_FAMILIES[family]


class DuckDBDumpMixin:
    """Implements the `# -- moving a store` section of `Store` for `DuckDBStore`."""

    if TYPE_CHECKING:  # provided by DuckDBStore
        _con: Any

        def _cursor(self) -> Any: ...

        def _transaction(self) -> Any: ...

    def dump(
        self, family: str, batch_rows: int = DUMP_BATCH_ROWS
    ) -> Iterator[list[dict[str, Any]]]:
        fields = _family(family)
        cur = self._con.cursor()  # its own: the caller may use the store between batches
        try:
            cur.execute(_DUMPS[family])
            while rows := cur.fetchmany(batch_rows):
                yield [dict(zip(fields, row, strict=True)) for row in rows]
        finally:
            cur.close()

    def dump_count(self, family: str) -> int:
        _family(family)
        return int(self._cursor().execute(f"SELECT count(*) FROM ({_DUMPS[family]})").fetchone()[0])

    def restore(self, family: str, rows: Sequence[dict[str, Any]]) -> None:
        fields = _family(family)
        if not rows:
            return
        # read by the INSERT through a replacement scan (not register(): see the importer)
        dump_rows = pa.table({f: [row[f] for row in rows] for f in fields})  # noqa: F841
        with self._transaction() as cur:
            cur.execute(_RESTORES[family])
            if family == "records":  # their request ids' keys too (store/request_keys.py)
                cur.execute(f"INSERT INTO request_keys {key_rows_sql('dump_rows')}")
            if family == "url_patterns":  # new patterns get ids above the restored ones
                top = cur.execute("SELECT max(pattern_id) FROM url_patterns").fetchone()[0]
                cur.execute("DROP SEQUENCE url_pattern_seq")
                cur.execute(f"CREATE SEQUENCE url_pattern_seq START {int(top) + 1}")

    def hour_totals(self, env_key: int) -> dict[tuple[int, int], tuple[int, ...]]:
        sums = ", ".join(f"sum({m})::BIGINT" for m in USAGE_MEASURES)
        nonzero = " OR ".join(f"sum({m}) <> 0" for m in USAGE_MEASURES)
        rows = (
            self._cursor()
            .execute(
                f"SELECT bucket, tier, {sums} FROM usage_hour WHERE env_key = ? "
                f"GROUP BY bucket, tier HAVING {nonzero}",
                [env_key],
            )
            .fetchall()
        )
        return {(int(row[0]), int(row[1])): tuple(int(v) for v in row[2:]) for row in rows}
