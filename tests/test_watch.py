"""`ingest --watch`: files are imported as they land and as they grow."""

from __future__ import annotations

import json
import threading
import time

from streammeter.ingest.watch import scan_once, watch


def rec(n: int) -> str:
    return json.dumps({"id": f"r{n}", "timestamp": 1_700_000_000 + n, "asset_id": "a",
                       "duration": 2, "tier": "720p"}) + "\n"  # fmt: skip


def test_scan_imports_new_and_grown_files_once(store, tenant, tmp_path_factory):
    key = tenant.env.env_key
    tmp_path = tmp_path_factory.mktemp("landing")
    (tmp_path / "a.ndjson").write_text(rec(1) + rec(2))
    first = scan_once(store, key, tmp_path)
    assert [(r.accepted, r.line_offset) for r in first] == [(2, 0)]
    assert scan_once(store, key, tmp_path) == []  # nothing new
    with (tmp_path / "a.ndjson").open("a") as handle:
        handle.write(rec(3) + '{"timestamp": 17000')  # a line still being written
    grown = scan_once(store, key, tmp_path)
    assert [(r.accepted, r.line_offset, r.parent_receipt_id) for r in grown] == [
        (1, 2, first[0].receipt_id)
    ]
    assert grown[0].notes["incomplete last line held back until it ends"] == 1
    with (tmp_path / "a.ndjson").open("a") as handle:
        handle.write('00004, "asset_id": "a", "duration": 2, "tier": "720p"}\n')
    completed = scan_once(store, key, tmp_path)
    assert [(r.accepted, r.rejected, r.line_offset) for r in completed] == [(1, 0, 3)]


def test_watch_makes_a_landed_file_queryable_within_seconds(store, tenant, tmp_path_factory):
    key = tenant.env.env_key
    tmp_path = tmp_path_factory.mktemp("landing")
    (tmp_path / "notes.txt").write_text("not delivery data\n")
    errors = []
    stop = threading.Event()
    seen = []
    worker = threading.Thread(
        target=watch,
        args=(store, key, tmp_path),
        kwargs={
            "interval": 0.2,
            "on_receipt": seen.append,
            "stop": stop.is_set,
            "on_error": lambda path, message: errors.append(path.name),
        },  # fmt: skip
    )
    worker.start()
    try:
        (tmp_path / "b.ndjson").write_text(rec(10))
        deadline = time.monotonic() + 10
        while not seen and time.monotonic() < deadline:
            time.sleep(0.05)
        hour = (1_700_000_000 + 10) // 3600
        assert [r.accepted for r in seen] == [1]
        assert store.rollup_snapshot()[0][1] == hour
        assert errors == ["notes.txt"]  # reported once, and the watcher carried on
    finally:
        stop.set()
        worker.join(5)
