"""Group commit of `POST /v1/events` batches (streammeter/ingest/group.py, docs/reliability.md).

Batches that wait while the store's writer is busy are imported together, in one transaction
where the store can (DuckDB), each with its own receipt and per-record answer: the answers
and totals must be exactly those of posting the same batches one after the other.

Every record is in the hour [1607986800, 1607990400), the Mux default window at
NOW = 1607990400 + 12 h.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from streammeter.ingest.group import GroupCommitter
from streammeter.ingest.importer import import_batch, import_batches, prepare_batch
from streammeter.model.catalog import Asset
from streammeter.store import Store
from streammeter.store.duckdb_store import DuckDBStore
from tests.conftest import LiveServer, Tenant, make_tenant
from tests.test_properties import (
    CATALOG_V1,
    FAST,
    mux_usage,
    new_store,
    record_files,
    snapshots,
    workspace,
)

NOW = 1607990400 + 12 * 3600
T = 1607987000
USAGE = "/video/v1/delivery-usage"


def _records(ids: list[str | None], asset: str, seconds: int) -> list[dict[str, Any]]:
    return [
        {**({"id": rid} if rid else {}), "timestamp": T + n, "asset_id": asset,
         "duration": seconds, "bytes": 1000}
        for n, rid in enumerate(ids)
    ]  # fmt: skip


BATCH_1 = json.dumps(_records([f"g{n}" for n in range(10)], "ga", 6)).encode()
# g5..g9 again, other content: the copies of BATCH_1 win (duplicates here)
BATCH_2 = json.dumps(_records([f"g{n}" for n in range(5, 15)], "gb", 4)).encode()
BATCH_4 = json.dumps(
    [*_records([None, None, None], "gb", 2), {"asset_id": "gb", "duration": 1}]
).encode()
BATCH_5 = json.dumps(_records(["g14", "g15"], "gb", 4)).encode()  # g14: BATCH_2's
# in arrival order: BATCH_2 twice (the second is `already_imported`), an empty batch last
BODIES = [BATCH_1, BATCH_2, BATCH_2, BATCH_4, BATCH_5, b"[]"]
# (already_imported, accepted, duplicate, rejected) of each, by hand
EXPECTED = [
    (False, 10, 0, 0), (False, 5, 5, 0), (True, 0, 10, 0), (False, 3, 0, 1), (False, 1, 1, 0),
    (False, 0, 0, 0),
]  # fmt: skip
# ga: 10 x 6 s at 1080p; gb: 5 x 4 s + 3 x 2 s + 1 x 4 s at 720p
EXPECTED_USAGE = {"ga": {"tier_1080p": 60}, "gb": {"tier_720p": 30}}


@pytest.fixture
def envs(store: Store, monkeypatch: pytest.MonkeyPatch) -> tuple[Tenant, Tenant]:
    """Two environments with the same catalog: one fed batch by batch, one by a group."""
    monkeypatch.setenv("STREAMMETER_NOW", str(NOW))
    tenants = make_tenant(store, "one-by-one"), make_tenant(store, "grouped")
    for tenant in tenants:
        store.upsert_assets(
            tenant.env.env_key,
            [
                Asset(asset_id="ga", asset_resolution_tier="1080p", created_at=1607900000),
                Asset(asset_id="gb", asset_resolution_tier="720p", created_at=1607900000),
            ],
        )
    return tenants


@contextmanager
def writer_busy(store: Store, env_key: int) -> Iterator[None]:
    """Hold the store's writer, as a long import would: DuckDB's write lock, or the
    ClickHouse store's environment lock."""
    if isinstance(store, DuckDBStore):
        with store._write_lock:
            yield
    else:
        with store._env_lock(env_key):  # type: ignore[attr-defined]
            yield


def _wait(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + 30
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.005)


def post_queued(
    server: LiveServer, store: Store, tenant: Tenant, bodies: list[bytes]
) -> list[httpx.Response]:
    """Post `bodies` from one thread each while the writer is busy, each queued (in this
    order) before the next is sent; then free the writer and collect the answers."""
    committer: GroupCommitter = server.server.config.app.state.group_committer
    env_key = tenant.env.env_key
    answers: list[httpx.Response | None] = [None] * len(bodies)

    def send(n: int) -> None:
        with server.client(tenant.ingest) as client:
            answers[n] = client.post("/v1/events", content=bodies[n])

    threads = [threading.Thread(target=send, args=(n,)) for n in range(len(bodies))]
    with writer_busy(store, env_key):
        for n, thread in enumerate(threads):
            thread.start()
            _wait(lambda n=n: committer.pending(env_key) == n + 1, f"batch {n} queued")
    for thread in threads:
        thread.join(60)
    assert all(answer is not None for answer in answers)
    return answers  # type: ignore[return-value]


def _comparable(data: dict[str, Any], receipt_ids: dict[str, int]) -> dict[str, Any]:
    """An answer with its receipt id replaced by the index of the batch that made it."""
    first = receipt_ids.setdefault(data["receipt_id"], len(receipt_ids))
    return {**data, "receipt_id": first}


def _receipt_counts(client: httpx.Client, receipt_id: str) -> tuple[Any, ...]:
    r = client.get(f"/v1/receipts/{receipt_id}").json()["data"]
    return (r["lines_read"], r["accepted"], r["duplicate"], r["rejected"], r["notes"],
            r["first_ts_us"], r["last_ts_us"], r["quarantine"])  # fmt: skip


def test_queued_batches_answer_as_if_posted_one_by_one(store, server, envs):
    one_by_one, grouped = envs
    with server.client(one_by_one.ingest) as client:
        sequential = [client.post("/v1/events", content=body) for body in BODIES]
    concurrent = post_queued(server, store, grouped, BODIES)

    ids_seq: dict[str, int] = {}
    ids_conc: dict[str, int] = {}
    for n, (seq, conc) in enumerate(zip(sequential, concurrent, strict=True)):
        assert seq.status_code == conc.status_code == 200, (seq.text, conc.text)
        a, b = seq.json()["data"], conc.json()["data"]
        assert _comparable(a, ids_seq) == _comparable(b, ids_conc), n
        counts = b["counts"]
        assert (b["already_imported"], counts["accepted"], counts["duplicate"],
                counts["rejected"]) == EXPECTED[n]  # fmt: skip
    assert ids_seq == {sequential[n].json()["data"]["receipt_id"]: i
                       for i, n in enumerate((0, 1, 3, 4, 5))}  # fmt: skip
    # the re-posted body answers with the first one's receipt
    assert concurrent[2].json()["data"]["receipt_id"] == concurrent[1].json()["data"]["receipt_id"]
    outcomes = [r["status"] for r in concurrent[1].json()["data"]["records"]]
    assert outcomes == ["duplicate"] * 5 + ["accepted"] * 5

    with server.client(one_by_one.read) as seq_client, server.client(grouped.read) as conc_client:
        for n in (0, 1, 3, 4, 5):
            assert _receipt_counts(
                seq_client, sequential[n].json()["data"]["receipt_id"]
            ) == _receipt_counts(conc_client, concurrent[n].json()["data"]["receipt_id"])
        assert len(conc_client.get("/v1/receipts").json()["data"]) == 5
        for client in (seq_client, conc_client):
            rows = client.get(USAGE).json()["data"]
            assert {r["asset_id"]: r["delivered_seconds_by_resolution"] for r in rows} == (
                EXPECTED_USAGE
            )
    hours = store.hour_totals(one_by_one.env.env_key)
    assert hours == store.hour_totals(grouped.env.env_key)
    # (delivered_us, bytes, requests) per tier of the hour: 2 = 1080p, 1 = 720p
    hour = T // 3600
    assert {tier: v[:3] for (h, tier), v in hours.items() if h == hour} == {
        2: (60_000_000, 10_000, 10),
        1: (30_000_000, 9_000, 9),
    }


@pytest.mark.duckdb_only
def test_batches_queued_behind_a_busy_writer_share_one_transaction(store, server, envs):
    _, grouped = envs
    bodies = [json.dumps(_records([f"w{n}-{i}" for i in range(4)], "ga", 6)).encode()
              for n in range(6)]  # fmt: skip
    before = store.write_generations()
    answers = post_queued(server, store, grouped, bodies)
    assert [a.json()["data"]["counts"]["accepted"] for a in answers] == [4] * 6
    assert len({a.json()["data"]["receipt_id"] for a in answers}) == 6
    # the first batch alone (it was taken before the others came), then the 5 queued ones
    # together: 2 transactions, both imports (no catalog write)
    after = store.write_generations()
    assert (after[0] - before[0], after[1] - before[1]) == (2, 0)
    assert store.hour_totals(grouped.env.env_key)[(T // 3600, 2)][:3] == (
        24 * 6_000_000, 24_000, 24,
    )  # fmt: skip


# bytes beyond any real value (once a 500 for its whole group: the store could not hold it)
TOO_BIG = json.dumps([{"timestamp": T, "asset_id": "ga", "duration": 6, "bytes": 2**70}]).encode()


def test_an_absurd_record_is_rejected_alone_in_its_group(store, server, envs):
    _, grouped = envs
    first, bad, last = post_queued(server, store, grouped, [b"[]", BATCH_1, TOO_BIG, BATCH_5])[1:]
    assert [first.status_code, bad.status_code, last.status_code] == [200, 200, 200]
    assert first.json()["data"]["counts"] == {"accepted": 10, "duplicate": 0, "rejected": 0}
    assert bad.json()["data"]["counts"] == {"accepted": 0, "duplicate": 0, "rejected": 1}
    assert bad.json()["data"]["records"] == [
        {"line": 1, "status": "rejected", "reason": f"bytes: must be <= {2**40}, got {2**70}"}
    ]
    assert last.json()["data"]["counts"] == {"accepted": 2, "duplicate": 0, "rejected": 0}
    with server.client(grouped.read) as client:
        receipts = client.get("/v1/receipts").json()["data"]
        assert sorted(r["accepted"] for r in receipts) == [0, 0, 2, 10]
        rows = client.get(USAGE).json()["data"]
        assert {r["asset_id"]: r["delivered_seconds"] for r in rows} == {"ga": 60, "gb": 8}


# -- the committer alone ---------------------------------------------------------------------
class _FailingGroups(DuckDBStore):
    """A store whose transactions of more than one batch fail at the end (as a full disk
    would at COMMIT)."""

    @contextmanager
    def importing_group(self, env_key: int) -> Iterator[Any]:
        with super().importing_group(env_key) as group:
            yield group
            if len(group._sessions) > 1:
                raise OSError("simulated: the group's commit failed")


class _Recording(DuckDBStore):
    """A store that records the number of batches of each import transaction."""

    groups: list[int]

    @contextmanager
    def importing_group(self, env_key: int) -> Iterator[Any]:
        with super().importing_group(env_key) as group:
            yield group
            self.groups.append(len(group._sessions))


def submit_queued(committer: GroupCommitter, store: DuckDBStore, env: int, bodies: list[bytes]):
    """`post_queued` without HTTP: the committer's answers (or errors), in order."""
    answers: list[Any] = [None] * len(bodies)

    def submit(n: int) -> None:
        try:
            answers[n] = committer.submit(env, bodies[n])
        except Exception as exc:
            answers[n] = exc

    threads = [threading.Thread(target=submit, args=(n,)) for n in range(len(bodies))]
    with store._write_lock:
        for n, thread in enumerate(threads):
            thread.start()
            _wait(lambda n=n: committer.pending(env) == n + 1, f"batch {n} queued")
    for thread in threads:
        thread.join(60)
    return answers


def test_a_failed_group_is_imported_one_by_one(tmp_path):
    with _FailingGroups(str(tmp_path / "s.duckdb")) as store:
        env = store.create_environment("prod").env_key
        answers = submit_queued(
            GroupCommitter(store), store, env, [b"[]", BATCH_1, BATCH_2, BATCH_2]
        )
        receipts = [receipt for receipt, _ in answers]
        assert [(r.accepted, r.duplicate, r.already_imported) for r in receipts] == [
            (0, 0, False), (10, 0, False), (5, 5, False), (5, 5, True),
        ]  # fmt: skip
        assert receipts[3].receipt_id == receipts[2].receipt_id
        assert len(store.list_receipts(env)) == 3


def test_groups_are_bounded(tmp_path):
    """At most `max_records` records and `max_batches` batches in a group (at least one)."""
    with _Recording(str(tmp_path / "s.duckdb")) as store:
        store.groups = []
        env = store.create_environment("prod").env_key
        sizes = [3, 3, 3, 5, 1, 1, 7, 1]
        bodies = [
            json.dumps(_records([f"b{n}-{i}" for i in range(size)], "ga", 1)).encode()
            for n, size in enumerate(sizes)
        ]
        answers = submit_queued(
            GroupCommitter(store, max_records=6, max_batches=2), store, env, bodies
        )
        assert [receipt.accepted for receipt, _ in answers] == sizes
        # the first alone (the writer was busy when it came), then oldest first: 3+3 (two
        # batches at most), 5+1 (six records), 1 (1+7 would be over six), 7 (over the bound
        # alone: it still goes), 1
        assert store.groups == [1, 2, 2, 1, 1, 1]


# -- property: any split and any arrival order give the sequential answers -------------------
@FAST
@given(files=record_files(consistent_ids=False), data=st.data())
def test_a_group_equals_the_same_batches_one_by_one(tmp_path_factory, files, data):
    """The records of `files` cut into batches anyhow, in any order (a group's arrival
    order): one group gives the receipts' counts, outcomes, rollups and Mux totals of the
    same batches imported one after the other; and, with every copy of a request id alike,
    the same totals whatever the cut."""
    records = [r for f in files for r in f]
    cuts = sorted(data.draw(st.sets(st.integers(1, max(1, len(records) - 1))), label="cuts"))
    bounds = [0, *cuts, len(records)]
    batches = [records[a:b] for a, b in zip(bounds, bounds[1:], strict=False) if a < b]
    order = data.draw(st.permutations(range(len(batches))), label="order")
    bodies = [json.dumps(batches[n]).encode() for n in order]
    with workspace(tmp_path_factory) as root:
        results = []
        for name in ("one-by-one", "group"):
            with new_store(root, name) as (store, env):
                store.upsert_assets(env, CATALOG_V1)
                if name == "group":
                    answers = import_batches(store, env, [prepare_batch(b) for b in bodies])
                else:
                    answers = [import_batch(store, env, b) for b in bodies]
                summary = [
                    (r.lines_read, r.accepted, r.duplicate, r.rejected, r.notes, outcomes)
                    for r, outcomes in answers  # type: ignore[misc]
                ]
                results.append((summary, snapshots(store), mux_usage(store, env)))
        assert results[0] == results[1]


@FAST
@given(files=record_files(consistent_ids=True), data=st.data())
def test_group_totals_do_not_depend_on_the_cut(tmp_path_factory, files, data):
    records = [r for f in files for r in f]
    cuts = sorted(data.draw(st.sets(st.integers(1, len(records))), label="cuts"))
    bounds = [0, *cuts, len(records)]
    bodies = [
        json.dumps(records[a:b]).encode() for a, b in zip(bounds, bounds[1:], strict=False) if a < b
    ]
    order = data.draw(st.permutations(range(len(bodies))), label="order")
    with workspace(tmp_path_factory) as root:
        totals = []
        for name, batches in (("whole", [json.dumps(records).encode()]),
                              ("cut", [bodies[n] for n in order])):  # fmt: skip
            with new_store(root, name) as (store, env):
                store.upsert_assets(env, CATALOG_V1)
                answers = import_batches(store, env, [prepare_batch(b) for b in batches])
                assert all(not isinstance(answer, Exception) for answer in answers)
                totals.append((snapshots(store), mux_usage(store, env)))
        assert totals[0] == totals[1]
