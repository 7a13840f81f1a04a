"""SIGKILL the server in the middle of an import, restart it, retry: the totals equal a clean
import exactly, with no duplicate and no loss (docs/reliability.md).

The server and the CLI are real processes. Sizes: STREAMMETER_RELIABILITY_RECORDS.
"""

from __future__ import annotations

import subprocess
import threading
import time
from pathlib import Path

import httpx

from tests.reliability import (
    RECORDS,
    STREAMMETER,
    Server,
    api_seconds,
    clean_import,
    cli,
    env_vars,
    expected_seconds,
    prepare_store,
    record,
    store_state,
    totals,
    write_records,
)


def _wait_for(condition, timeout: float = 120, what: str = "condition") -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def test_sigkill_during_file_import_then_retry_equals_clean_import(tmp_path: Path) -> None:
    data = write_records(tmp_path / "deliveries.ndjson", 0, RECORDS)
    clean = tmp_path / "clean.duckdb"
    clean_seconds = clean_import(clean, data)

    db = tmp_path / "crash.duckdb"
    token = prepare_store(db)
    uploads = tmp_path / "uploads"  # the server spools the request body here, then imports it
    uploads.mkdir()
    server = Server(db, tmp_path / "serve.log", TMPDIR=str(uploads)).start()
    try:
        ingest = subprocess.Popen(
            [STREAMMETER, "ingest", "--url", server.url, "--token", ":".join(token), str(data)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env_vars(),
        )  # fmt: skip
        size = data.stat().st_size
        _wait_for(
            lambda: any(f.stat().st_size == size for f in uploads.iterdir()),
            what="the upload to reach the server",
        )
        # The body is in; the import is running (it takes about `clean_seconds`). Kill early
        # in it: with tests running beside this one (pytest-xdist), the reference import and
        # the server's can differ in speed by 3x, and a late kill would find it finished.
        time.sleep(clean_seconds * 0.1)
        server.kill()
        stdout, stderr = ingest.communicate(timeout=60)
        # The kill landed mid-import: the client got no answer, and says so plainly.
        assert ingest.returncode == 2, stdout + stderr
        assert "Traceback" not in stderr, stderr
        assert "lost the connection" in stderr and "run the same command again" in stderr, stderr

        server = Server(db, tmp_path / "serve.log").start()
        with server.client(token) as client:
            receipts = client.get("/v1/receipts").json()["data"]
            # All or nothing. (Nothing, unless this machine imported far faster than the
            # reference import and the kill came between the commit and the answer.)
            committed = len(receipts) == 1
            print("the kill came", "after" if committed else "before", "the commit")
            assert len(receipts) <= 1
            expected = expected_seconds(0, RECORDS) if committed else {}
            assert api_seconds(client) == expected, "the killed import left part of the file"
        retry = cli("ingest", "--url", server.url, "--token", ":".join(token), str(data))
        if committed:
            assert "already imported" in retry.stdout, retry.stdout
        else:
            assert f"{RECORDS} accepted, 0 duplicate" in retry.stdout, retry.stdout
        with server.client(token) as client:
            with data.open("rb") as body:  # what `ingest --url` sends, a third time
                again = client.post("/v1/imports", params={"name": str(data)}, content=body)
            assert again.json()["data"]["already_imported"] is True, again.text
            assert api_seconds(client) == expected_seconds(0, RECORDS)
            assert len(client.get("/v1/receipts").json()["data"]) == 1
    finally:
        server.stop()

    crashed, reference = store_state(db), store_state(clean)
    assert crashed == reference  # rollups at every level, records, the one receipt
    assert crashed["records"] == crashed["distinct"] == RECORDS
    assert totals(crashed) == (RECORDS * 4_000_000, RECORDS * 1000, RECORDS)


def _batches(start: int, stop: int, size: int) -> list[bytes]:
    import json

    return [
        "".join(
            json.dumps(record(i), separators=(",", ":")) + "\n"
            for i in range(first, min(first + size, stop))
        ).encode()
        for first in range(start, stop, size)
    ]


def test_sigkill_during_http_batches_then_resend_equals_clean_import(tmp_path: Path) -> None:
    count = max(RECORDS // 2, 20_000)
    data = write_records(tmp_path / "deliveries.ndjson", 0, count)
    clean = tmp_path / "clean.duckdb"
    clean_import(clean, data)

    db = tmp_path / "crash.duckdb"
    token = prepare_store(db)
    bodies = _batches(0, count, 2500)
    acked: list[float] = []  # when each batch was answered
    failure: list[BaseException] = []
    server = Server(db, tmp_path / "serve.log").start()

    def send() -> None:
        with server.client(token) as client:
            for body in bodies:
                try:
                    answer = client.post("/v1/events", content=body)
                except httpx.TransportError as exc:  # the kill
                    failure.append(exc)
                    return
                assert answer.status_code == 200, answer.text
                acked.append(time.monotonic())

    sender = threading.Thread(target=send)
    try:
        sender.start()
        _wait_for(lambda: len(acked) >= len(bodies) // 2, what="half the batches")
        # Kill halfway through the next batch (it is in flight now).
        time.sleep((acked[-1] - acked[0]) / max(len(acked) - 1, 1) / 2)
        server.kill()
        sender.join(60)
        assert failure, "every batch was answered before the kill"
        done = len(acked)
        assert done < len(bodies)

        # The client does not know whether the batch in flight committed: it sends everything
        # again, and a retrying client may even cut the batches differently.
        server = Server(db, tmp_path / "serve.log").start()
        with server.client(token) as client:
            counts = {"accepted": 0, "duplicate": 0, "rejected": 0}
            replayed = 0
            for body in bodies:
                answer = client.post("/v1/events", content=body)
                assert answer.status_code == 200, answer.text
                replayed += answer.json()["data"]["already_imported"]
                for key, value in answer.json()["data"]["counts"].items():
                    counts[key] += value
            assert done <= replayed <= done + 1  # acknowledged ones are already imported
            assert counts["rejected"] == 0
            assert counts["accepted"] + counts["duplicate"] == count
            for body in _batches(0, count, 3700):  # other cuts: every record a duplicate
                answer = client.post("/v1/events", content=body).json()["data"]
                assert answer["counts"]["accepted"] == 0, answer["counts"]
            assert api_seconds(client) == expected_seconds(0, count)
    finally:
        server.stop()

    crashed, reference = store_state(db), store_state(clean)
    assert crashed["rollups"] == reference["rollups"]
    assert crashed["records"] == crashed["distinct"] == count
    # one receipt per distinct body that committed, none twice
    shas = [r[0] for r in crashed["receipts"]]
    assert len(shas) == len(set(shas))
    assert sum(r[1] for r in crashed["receipts"]) == count
