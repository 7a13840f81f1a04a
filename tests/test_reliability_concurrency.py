"""Consistency under concurrency (docs/reliability.md): a reader during an import sees the
file entirely or not at all; a reader during `rebuild` sees the old or the new numbers, never a
mix. In-process with threads (the store API), and through a live server over HTTP.

Sizes: STREAMMETER_RELIABILITY_RECORDS.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from streammeter.ingest.importer import CHUNK_RECORDS, import_batch, import_file
from streammeter.store import open_store
from tests.reliability import (
    BASE_TS,
    RECORDS,
    Server,
    api_seconds,
    expected_seconds,
    prepare_store,
    record,
    write_records,
)

HOURS = (BASE_TS // 3600, BASE_TS // 3600 + 24)


class Reader(threading.Thread):
    """Calls `observe` in a loop until stopped; keeps what it saw, and when."""

    def __init__(self, observe: Callable[[], Any]) -> None:
        super().__init__(daemon=True)
        self.observe, self.seen = observe, []  # type: ignore[var-annotated]
        self.stop, self.error = threading.Event(), None
        self.started_observing = threading.Event()

    def run(self) -> None:
        try:
            while not self.stop.is_set():
                self.seen.append((time.monotonic(), self.observe()))
                self.started_observing.set()
        except BaseException as exc:  # reported by the test
            self.error = exc
            self.started_observing.set()

    def finish(self) -> list[tuple[float, Any]]:
        self.stop.set()
        self.join(60)
        if self.error is not None:
            raise self.error
        return self.seen


def _seconds_by_asset(store: Any, env_key: int) -> dict[str, int]:
    rows, _ = store.delivery_usage(env_key, *HOURS, limit=1000)
    return {row.asset["asset_id"]: row.total_us for row in rows}


def test_reader_during_import_sees_the_whole_file_or_nothing(tmp_path: Path) -> None:
    # several chunks: each is written separately
    count = max(RECORDS, 2 * CHUNK_RECORDS + 1)
    data = write_records(tmp_path / "deliveries.ndjson", 0, count)
    db = tmp_path / "store.duckdb"
    prepare_store(db)
    full_us = {a: s * 1_000_000 for a, s in expected_seconds(0, count).items()}
    with open_store(str(db)) as store:
        env = store.get_environment("prod")
        assert env is not None

        def observe() -> tuple[Any, ...]:
            # Two reads, each one statement (one snapshot): records, rollups and receipts
            # together; then the delivery-usage query. The import may commit between them.
            cur = store._cursor()  # type: ignore[attr-defined]
            raw = cur.execute(
                "SELECT (SELECT count(*) FROM records), "
                "(SELECT coalesce(sum(delivered_us), 0) FROM usage_hour), "
                "(SELECT count(*) FROM receipts)"
            ).fetchone()
            return tuple(raw), _seconds_by_asset(store, env.env_key)

        reader = Reader(observe)
        reader.start()
        reader.started_observing.wait(30)
        started = time.monotonic()
        import_file(store, env.env_key, data)
        finished = time.monotonic()
        time.sleep(0.05)
        seen = reader.finish()

    during = [value for when, value in seen if started <= when <= finished]
    assert len(during) >= 3, f"the reader ran only {len(during)} times during the import"
    nothing, whole = (0, 0, 0), (count, count * 4_000_000, 1)
    assert {raw for _, (raw, _) in seen} <= {nothing, whole}
    partial = [usage for _, (_, usage) in seen if usage not in ({}, full_us)]
    assert not partial, f"the delivery-usage query saw part of the file: {partial[0]}"
    assert seen[0][1] == (nothing, {}) and seen[-1][1] == (whole, full_us)


def test_reader_during_rebuild_sees_old_or_new_numbers(tmp_path: Path) -> None:
    count = max(RECORDS // 2, 20_000)
    data = write_records(tmp_path / "deliveries.ndjson", 0, count)
    db = tmp_path / "store.duckdb"
    prepare_store(db)
    with open_store(str(db)) as store:
        env = store.get_environment("prod")
        assert env is not None
        import_file(store, env.env_key, data)
        new = _seconds_by_asset(store, env.env_key)
        # Make the rollups drift from the records (asset-00 counted twice at every level),
        # so that `rebuild` changes the numbers and a mix would show.
        cur = store._cursor()  # type: ignore[attr-defined]
        rollups = cur.execute(  # every rollup level, whichever the query reads
            "SELECT table_name FROM information_schema.columns WHERE column_name = 'bucket' "
            "INTERSECT SELECT table_name FROM information_schema.columns "
            "WHERE column_name = 'asset_key'"
        ).fetchall()
        assert len(rollups) >= 4
        for (table,) in rollups:
            cur.execute(
                f"INSERT INTO {table} SELECT * FROM {table} WHERE asset_key = "
                "(SELECT entity_key FROM entity_keys WHERE external_id = 'asset-00')"
            )
        old = _seconds_by_asset(store, env.env_key)
        assert old != new and old["asset-00"] == 2 * new["asset-00"]

        reader = Reader(lambda: _seconds_by_asset(store, env.env_key))
        reader.start()
        reader.started_observing.wait(30)
        started = time.monotonic()
        store.rebuild()
        finished = time.monotonic()
        time.sleep(0.05)
        seen = reader.finish()

    during = [value for when, value in seen if started <= when <= finished]
    assert len(during) >= 3, f"the reader ran only {len(during)} times during the rebuild"
    mixed = [value for _, value in seen if value not in (old, new)]
    assert not mixed, f"{len(mixed)} reads saw neither the old nor the new numbers: {mixed[0]}"
    assert seen[0][1] == old and seen[-1][1] == new


def test_http_reads_during_http_import_see_whole_file_or_nothing(tmp_path: Path) -> None:
    """Through a live server: usage and receipts read over HTTP while a file is imported over
    HTTP. The server keeps answering reads while it imports (the import does not block its
    event loop), and every answer has the file entirely or not at all."""
    count = max(RECORDS, 2 * CHUNK_RECORDS + 1)
    data = write_records(tmp_path / "deliveries.ndjson", 0, count)
    db = tmp_path / "store.duckdb"
    token = prepare_store(db)
    uploads = tmp_path / "uploads"
    uploads.mkdir()
    server = Server(db, tmp_path / "serve.log", TMPDIR=str(uploads)).start()
    full = expected_seconds(0, count)
    answered: list[float] = []
    try:

        def upload() -> None:
            with server.client(token) as client, data.open("rb") as body:
                result = client.post("/v1/imports", params={"name": "d.ndjson"}, content=body)
            assert result.status_code == 200, result.text
            answered.append(time.monotonic())

        importer = threading.Thread(target=upload)
        importer.start()
        size = data.stat().st_size
        deadline = time.monotonic() + 120
        while not any(f.stat().st_size == size for f in uploads.iterdir()):
            assert time.monotonic() < deadline, "the upload did not reach the server"
            time.sleep(0.02)
        importing_since = time.monotonic()  # the body is in: the import runs
        seen: list[tuple[float, Any, int]] = []
        with server.client(token, timeout=60) as client:
            while not answered:
                usage = api_seconds(client)
                receipts = len(client.get("/v1/receipts").json()["data"])
                seen.append((time.monotonic(), usage, receipts))
            seen.append((time.monotonic(), api_seconds(client), 0))
        importer.join(60)
    finally:
        server.stop()

    done = answered[0]
    during = [s for s in seen if importing_since < s[0] < done]
    assert during, (
        "no read was answered while the import ran: the import blocks the server "
        f"(import took {done - importing_since:.1f}s)"
    )
    for _, usage, receipts in seen:
        assert usage in ({}, full), "a read saw part of the file"
        assert receipts in (0, 1)
    assert seen[-1][1] == full


def test_same_content_imported_twice_at_once_counts_once(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """A client that retries while its first attempt still runs (the server imports in worker
    threads): records without `id` must still count once. Both imports pass the content check
    before either commits; the check inside the transaction catches the second."""
    import json

    count = 2_000
    data = tmp_path / "no-ids.ndjson"
    lines = [{k: v for k, v in record(i).items() if k != "id"} for i in range(count)]
    data.write_text("".join(json.dumps(line) + "\n" for line in lines))
    batch = data.read_bytes()[: data.read_bytes().index(b"\n", 50_000) + 1]
    batch_records = batch.count(b"\n")
    db = tmp_path / "store.duckdb"
    prepare_store(db)
    with open_store(str(db)) as store:
        env = store.get_environment("prod")
        assert env is not None
        importing, barrier = store.importing, threading.Barrier(2)

        def both_checked_first(*args: Any, **kwargs: Any) -> Any:
            barrier.wait(30)  # both callers have found no receipt for this content
            return importing(*args, **kwargs)

        monkeypatch.setattr(store, "importing", both_checked_first)
        for run in (
            lambda: import_file(store, env.env_key, data),
            lambda: import_batch(store, env.env_key, batch)[0],
        ):
            results = _race(run)
            assert sorted(r.already_imported for r in results) == [False, True]
            assert results[0].receipt_id == results[1].receipt_id
        total = sum(_seconds_by_asset(store, env.env_key).values())
        assert total == (count + batch_records) * 4_000_000
        assert len(store.list_receipts(env.env_key)) == 2


def _race(run: Callable[[], Any]) -> list[Any]:
    results: list[Any] = []
    threads = [threading.Thread(target=lambda: results.append(run())) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return results
