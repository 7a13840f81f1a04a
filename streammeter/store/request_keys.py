"""Request ids as 64-bit keys: the first probe of the request-id dedupe (counting.md 7).

Every stored record with a request id has a row in `request_keys` (its environment, DuckDB's
`hash()` of the id, its instant). An import probes these narrow integer rows instead of the
`records` strings, then confirms the few key matches against `records.request_id`, so a hash
collision never makes a duplicate (docs/design/request-keys.md).

`hash()` is DuckDB's own: should a new DuckDB hash differently, the keys are rebuilt from
`records` when the store opens (the `meta` row below remembers a probe value).
"""

from __future__ import annotations

from typing import Any

#: `meta` key holding `hash()` of `_PROBE` when the keys were built.
META_KEY = "request_key_probe"
_PROBE = "streammeter request key probe: EXAMPLE2a3b4c5d6e7f8g9h0JKLMNOPQRSTUVWXYZ_abcdefghij=="


def key_rows_sql(source: str) -> str:
    """SELECT of the `request_keys` rows of `source` (a table or scan with the `records`
    columns env_key, request_id, ts_us)."""
    return f"SELECT env_key, hash(request_id), ts_us FROM {source} WHERE request_id IS NOT NULL"


def migrate(con: Any) -> None:
    """Build the keys of the records stored before they existed, or before DuckDB's `hash()`
    changed; nothing when they are current. `con`: a connection outside any transaction."""
    probe = str(con.execute(f"SELECT hash('{_PROBE}')").fetchone()[0])
    built = con.execute("SELECT value FROM meta WHERE key = ?", [META_KEY]).fetchone()
    if built is not None and built[0] == probe:
        return
    con.execute("BEGIN TRANSACTION")
    try:
        con.execute("DELETE FROM request_keys")
        con.execute(f"INSERT INTO request_keys {key_rows_sql('records')}")
        con.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", [META_KEY, probe])
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
