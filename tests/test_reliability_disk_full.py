"""The disk fills up mid-import (docs/reliability.md): the import fails with a clear error,
nothing partial is visible, and the same import succeeds once space is freed.

The store lives on a small tmpfs mounted by the test, so these tests need root (CI runs as
root); they skip otherwise. Sizes: STREAMMETER_RELIABILITY_RECORDS.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from streammeter.store import open_store
from tests.conftest import LiveServer
from tests.reliability import (
    RECORDS,
    api_seconds,
    cli,
    expected_seconds,
    prepare_store,
    store_state,
    totals,
    write_records,
)

HEADROOM_KB = 256  # free space left for the import: far less than it needs


class SmallDisk:
    """A tmpfs of a chosen size; `fill_to_headroom` shrinks it to what is used + headroom."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.mkdir()
        self._mount("size=64m")

    def _mount(self, options: str, remount: bool = False) -> None:
        args = ["mount", "-t", "tmpfs", "-o", ("remount," if remount else "") + options]
        subprocess.run([*args, "tmpfs", str(self.path)], check=True, capture_output=True)

    def used_kb(self) -> int:
        stat = os.statvfs(self.path)
        return (stat.f_blocks - stat.f_bfree) * stat.f_frsize // 1024

    def fill_to_headroom(self, headroom_kb: int = HEADROOM_KB) -> None:
        self._mount(f"size={self.used_kb() + headroom_kb}k", remount=True)

    def free_space(self) -> None:
        self._mount("size=256m", remount=True)

    def unmount(self) -> None:
        subprocess.run(["umount", "-l", str(self.path)], check=False, capture_output=True)


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[SmallDisk]:
    if os.geteuid() != 0:
        reason = "mounting a small tmpfs to fill needs root (CI runs these tests as root)"
        print(f"skipping: {reason}")
        pytest.skip(reason)
    if shutil.which("mount") is None:
        pytest.skip("no mount command")
    disk = SmallDisk(tmp_path / "disk")
    try:
        yield disk
    finally:
        disk.unmount()


def _count() -> int:
    return max(RECORDS // 2, 30_000)  # needs far more space than the headroom


def test_cli_import_on_a_full_disk_fails_cleanly_then_succeeds(
    tmp_path: Path, small_disk: SmallDisk
) -> None:
    count = _count()
    data = write_records(tmp_path / "deliveries.ndjson", 0, count)
    db = small_disk.path / "store.duckdb"
    prepare_store(db)
    small_disk.fill_to_headroom()

    failed = cli(
        "ingest", "--environment", "prod", "--db", str(db), "--quiet", str(data), check=False
    )
    assert failed.returncode == 1, failed.stdout + failed.stderr
    assert "Traceback" not in failed.stderr, failed.stderr
    assert "is full (No space left on device)" in failed.stderr, failed.stderr
    assert "nothing of this write was stored" in failed.stderr, failed.stderr
    assert str(data) in failed.stderr  # which file

    # Nothing partial is visible, even before space is freed.
    state = store_state(db)
    assert state["records"] == 0 and state["receipts"] == []
    assert totals(state) == (0, 0, 0)

    small_disk.free_space()
    retried = cli("ingest", "--environment", "prod", "--db", str(db), "--quiet", str(data))
    assert f"{count} lines, {count} accepted, 0 duplicate, 0 rejected" in retried.stdout
    state = store_state(db)
    assert state["records"] == state["distinct"] == count
    assert len(state["receipts"]) == 1
    assert totals(state) == (count * 4_000_000, count * 1000, count)


def test_server_import_on_a_full_disk_answers_507_and_keeps_serving(
    tmp_path: Path, small_disk: SmallDisk
) -> None:
    """Through a live server: 507 with the reason, the server stays up and shows nothing of
    the import; once space is freed the same request succeeds, without a restart. (DuckDB
    invalidates a database whose checkpoint failed; the store reopens it.)"""
    count = _count()
    data = write_records(tmp_path / "deliveries.ndjson", 0, count)
    db = small_disk.path / "store.duckdb"
    token = prepare_store(db)
    with open_store(str(db)) as store, LiveServer(store) as server:
        small_disk.fill_to_headroom()
        with httpx.Client(base_url=server.url, auth=token, timeout=300) as client:

            def send() -> httpx.Response:
                with data.open("rb") as body:
                    return client.post("/v1/imports", params={"name": "d.ndjson"}, content=body)

            full = send()
            assert full.status_code == 507, full.text
            error = full.json()["error"]
            assert error["type"] == "insufficient_storage"
            assert "No space left on device" in error["messages"][0]

            assert client.get("/v1/receipts").json()["data"] == []
            assert api_seconds(client) == {}

            small_disk.free_space()
            done = send()
            assert done.status_code == 200, done.text
            assert done.json()["data"]["accepted"] == count
            assert api_seconds(client) == expected_seconds(0, count)
            assert len(client.get("/v1/receipts").json()["data"]) == 1
    state = store_state(db)
    assert state["records"] == state["distinct"] == count
    assert totals(state) == (count * 4_000_000, count * 1000, count)


def test_full_upload_spool_answers_507(
    tmp_path: Path, small_disk: SmallDisk, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`POST /v1/imports` spools the body to the temporary directory first; when that is
    full the answer is 507 too, and nothing is imported."""
    data = write_records(tmp_path / "deliveries.ndjson", 0, 20_000)  # ~2.4 MB
    db = tmp_path / "store.duckdb"
    token = prepare_store(db)
    small_disk.fill_to_headroom(64)
    monkeypatch.setattr(tempfile, "tempdir", str(small_disk.path))  # the server's $TMPDIR
    with (
        open_store(str(db)) as store,
        LiveServer(store) as server,
        server.client(token) as client,
        data.open("rb") as body,
    ):
        answer = client.post("/v1/imports", params={"name": "d.ndjson"}, content=body)
        assert answer.status_code == 507, answer.text
        assert "temporary directory is full" in answer.json()["error"]["messages"][0]
        assert client.get("/v1/receipts").json()["data"] == []
    assert list(small_disk.path.iterdir()) == []  # the partial spool file was removed


def test_checkpoint_failing_after_the_commit_reports_the_import(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """If the disk fills only in the checkpoint after a commit, DuckDB reports an error although
    the import is in its log: the importer answers with the committed receipt (as a retry
    would), not with a failure. Simulated: no root needed."""
    from contextlib import contextmanager

    from streammeter.ingest.importer import import_file
    from streammeter.store.base import StoreFull

    data = write_records(tmp_path / "deliveries.ndjson", 0, 500)
    db = tmp_path / "store.duckdb"
    prepare_store(db)
    with open_store(str(db)) as store:
        env = store.get_environment("prod")
        assert env is not None
        importing = store.importing

        @contextmanager
        def commit_then_fail(*args, **kwargs):  # type: ignore[no-untyped-def]
            with importing(*args, **kwargs) as session:
                yield session
            raise StoreFull("the disk holding the store is full (No space left on device)")

        monkeypatch.setattr(store, "importing", commit_then_fail)
        receipt = import_file(store, env.env_key, data)
        assert receipt.already_imported and receipt.accepted == 500
        monkeypatch.undo()
        assert import_file(store, env.env_key, data).receipt_id == receipt.receipt_id
    state = store_state(db)
    assert len(state["receipts"]) == 1 and totals(state) == (500 * 4_000_000, 500 * 1000, 500)
