"""The request-id dedupe's integer keys (store/request_keys.py, docs/design/request-keys.md):
kept in step with `records`, confirmed against the ids themselves, rebuilt when missing or
made by a different `hash()`."""

from __future__ import annotations

import json
from pathlib import Path

from streammeter.ingest.importer import import_file
from streammeter.store import open_store
from streammeter.store.copy import copy_store
from streammeter.store.request_keys import META_KEY

BASE = 1763661600  # 2025-11-20T18:00:00Z


def write(path: Path, ids: list[str | None], offset: int = 0) -> Path:
    lines = []
    for n, rid in enumerate(ids):
        record = {"timestamp": BASE + offset + n, "asset_id": "A1", "duration": 2, "bytes": 100}
        if rid is not None:
            record["id"] = rid
        lines.append(json.dumps(record))
    path.write_text("\n".join(lines) + "\n")
    return path


def keys(store) -> list[tuple]:
    return (
        store._cursor()
        .execute("SELECT env_key, request_key, ts_us FROM request_keys ORDER BY ALL")
        .fetchall()
    )


def expected_keys(store) -> list[tuple]:
    return (
        store._cursor()
        .execute(
            "SELECT env_key, hash(request_id), ts_us FROM records "
            "WHERE request_id IS NOT NULL ORDER BY ALL"
        )
        .fetchall()
    )


def test_every_stored_id_has_its_key(tmp_path: Path) -> None:
    with open_store(str(tmp_path / "s.duckdb")) as store:
        env = store.create_environment("e").env_key
        import_file(store, env, write(tmp_path / "a.ndjson", ["r1", None, "r2", "r2"]))
        assert len(keys(store)) == 2  # r1, r2 (its second copy is a duplicate); none for None
        assert keys(store) == expected_keys(store)


def test_a_key_match_is_confirmed_against_the_id(tmp_path: Path) -> None:
    """A stored key equal to a new id's key, from another id (a hash collision): no duplicate."""
    with open_store(str(tmp_path / "s.duckdb")) as store:
        env = store.create_environment("e").env_key
        import_file(store, env, write(tmp_path / "a.ndjson", ["r1"]))
        store._cursor().execute(
            "INSERT INTO request_keys SELECT ?, hash('r-new'), ?", [env, (BASE + 1) * 1_000_000]
        )
        receipt = import_file(store, env, write(tmp_path / "b.ndjson", ["r-new", "r1"], 1))
        assert (receipt.accepted, receipt.duplicate) == (1, 1)  # r1 is the true duplicate


def test_keys_are_built_for_a_store_made_before_them(tmp_path: Path) -> None:
    db = str(tmp_path / "s.duckdb")
    with open_store(db) as store:
        env = store.create_environment("e").env_key
        import_file(store, env, write(tmp_path / "a.ndjson", ["r1", "r2", None]))
        store._cursor().execute("DROP TABLE request_keys")
        store._cursor().execute("DELETE FROM meta WHERE key = ?", [META_KEY])
    with open_store(db) as store:
        assert len(keys(store)) == 2
        assert keys(store) == expected_keys(store)
        receipt = import_file(store, env, write(tmp_path / "b.ndjson", ["r2", "r3"], 10))
        assert (receipt.accepted, receipt.duplicate) == (1, 1)


def test_keys_made_by_another_hash_are_rebuilt(tmp_path: Path) -> None:
    """The `meta` probe differs (as after a DuckDB whose hash() changed): the keys are made
    again from the records, stale ones gone."""
    db = str(tmp_path / "s.duckdb")
    with open_store(db) as store:
        env = store.create_environment("e").env_key
        import_file(store, env, write(tmp_path / "a.ndjson", ["r1", "r2"]))
        store._cursor().execute("UPDATE request_keys SET request_key = request_key + 1")
        store._cursor().execute("UPDATE meta SET value = 'another hash' WHERE key = ?", [META_KEY])
    with open_store(db) as store:
        assert keys(store) == expected_keys(store)
        receipt = import_file(store, env, write(tmp_path / "b.ndjson", ["r1"], 5))
        assert (receipt.accepted, receipt.duplicate) == (0, 1)


def test_a_copied_store_has_the_keys(tmp_path: Path) -> None:
    with open_store(str(tmp_path / "a.duckdb")) as source:
        env = source.create_environment("e").env_key
        import_file(source, env, write(tmp_path / "a.ndjson", ["r1", "r2", None]))
        with open_store(str(tmp_path / "b.duckdb")) as target:
            copy_store(source, target)
            assert len(keys(target)) == 2
            assert keys(target) == expected_keys(target)
