"""The columnar path for plain `POST /v1/events` batches (streammeter/ingest/columnar.py).

It must give exactly what the reference path (`generic.normalize` + `rules.count`, record by
record) gives: the same stored records, rollups, receipts and per-record answers. A batch it
cannot take whole (a rare field, another JSON type, a value the reference rejects) goes the
reference way.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from streammeter.counting.rules import NOTE_NO_DURATION, NOTE_TIER_INFERRED
from streammeter.ingest.columnar import plain_rows
from streammeter.ingest.importer import PreparedBatch, import_batches, prepare_batch
from streammeter.store.duckdb_store import DuckDBStore

T = 1607987000  # 2020-12-14T23:03:20Z

GOLDEN = [
    {"id": "a", "timestamp": T, "asset_id": "A", "duration": 6, "width": 1920, "height": 1080,
     "bytes": 1000},
    {"timestamp": "2020-12-14T23:03:20.5Z", "playback_id": "P", "duration": 2.002,
     "status": 499, "session_id": "s"},
    {"timestamp": T + 1, "asset_id": "A", "kind": "Manifest", "bytes": 10, "method": "get"},
    {"timestamp": T + 2, "asset_id": "A", "duration": 4.0000005, "live": True},
    {"timestamp": T + 3, "asset_id": "A", "track": "audio-only", "target": "cdn-2"},
    {"timestamp": T + 4, "asset_id": "", "playback_id": "P", "duration": 1.5, "tier": "720p",
     "live_stream_id": "L"},
]  # fmt: skip


def test_a_plain_batch_is_counted_in_columns_by_hand() -> None:
    counted = plain_rows(json.dumps(GOLDEN).encode())
    assert counted is not None
    rows = counted.rows.to_pydict()
    assert rows["line_no"] == [1, 2, 3, 4, 5, 6]
    assert rows["request_id"] == ["a", None, None, None, None, None]
    assert rows["ts_us"] == [
        T * 10**6, T * 10**6 + 500_000, (T + 1) * 10**6, (T + 2) * 10**6, (T + 3) * 10**6,
        (T + 4) * 10**6,
    ]  # fmt: skip
    assert rows["asset_id"] == ["A", None, "A", "A", "A", None]  # "" is absent
    assert rows["kind"] == ["segment", "segment", "manifest", "segment", "segment", "segment"]
    assert rows["method"] == ["GET"] * 6
    assert rows["track"] == ["video", "video", "video", "video", "audio-only", "video"]
    assert rows["tier_hint"] == [2, None, None, None, 5, 1]  # 1080p, -, -, -, audio-only, 720p
    # 4.0000005 s is 4,000,000.5 µs: half to even gives 4,000,000
    assert rows["duration_us"] == [6_000_000, 2_002_000, None, 4_000_000, None, 1_500_000]
    assert rows["status"] == [200, 499, 200, 200, 200, 200]
    # the aborted (499) transfer without sizes earns nothing; the manifest earns nothing
    assert rows["earned_us"] == [6_000_000, 0, 0, 4_000_000, 0, 1_500_000]
    assert rows["media_us"] == rows["earned_us"]
    assert rows["bytes"] == [1000, 0, 10, 0, 0, 0]
    assert rows["live"] == [False, False, False, True, False, False]
    assert rows["target"] == [None, None, None, None, "cdn-2", None]
    assert rows["live_stream_id"] == [None, None, None, None, None, "L"]
    assert rows["origin"] == [False] * 6
    assert counted.notes == [None, None, None, NOTE_TIER_INFERRED, NOTE_NO_DURATION, None]


@pytest.mark.parametrize(
    "change",
    [
        {"body_bytes": 10, "object_bytes": 20},  # a rare field
        {"primary": True},
        {"unknown": 1},
        {"id": 7},  # an integer id: the reference reads it as text
        {"bytes": 1.0},  # a float where an integer is expected
        {"bytes": -1},  # rejected by the reference
        {"status": 1000},
        {"timestamp": None},
        {"timestamp": 10},  # outside 2000..2100
        {"duration": True},
        {"duration": "1.5"},  # text among numbers
        {"kind": "video"},
        {"width": 1280},  # without height
        {"tier": "8k"},
        {"live": "yes"},
        {"asset_id": "x" * 513},
    ],
)
def test_anything_but_a_plain_batch_takes_the_reference_path(change: dict[str, Any]) -> None:
    body = json.dumps([GOLDEN[0], {**GOLDEN[2], **change}]).encode()
    assert plain_rows(body) is None
    assert prepare_batch(body).rows is None


def test_ndjson_batches_keep_their_physical_line_numbers() -> None:
    body = b"\n".join([orjson.dumps(GOLDEN[0]), b"", b"  ", orjson.dumps(GOLDEN[2])])
    counted = plain_rows(body)
    assert counted is not None
    assert counted.rows.column("line_no").to_pylist() == [1, 4]


# -- the columnar path equals the reference, over generated batches ---------------------------

_VALUE = {
    "id": st.one_of(st.sampled_from(["r1", "r2", "r3", ""]), st.integers(0, 2)),
    "timestamp": st.one_of(
        st.integers(T, T + 7200),
        st.sampled_from(
            [
                f"{T}.25",
                "2020-12-14T23:30:00Z",
                "2020-12-15T00:00:00+01:00",
                T + 0.5,
                5,
                "",
                "soon",
                True,
            ]
        ),
    ),  # fmt: skip
    "asset_id": st.sampled_from(["A", "B", "", 3]),
    "playback_id": st.sampled_from(["P", ""]),
    "live_stream_id": st.sampled_from(["L"]),
    "session_id": st.sampled_from(["s1", "s2"]),
    "target": st.sampled_from(["t1"]),
    "duration": st.one_of(
        st.integers(0, 12),
        st.floats(0, 12, allow_nan=False),
        st.sampled_from(["2.5", -1, 90_000, True, "x"]),
    ),
    "width": st.sampled_from([1920, 1280, 3840, 0]),
    "height": st.sampled_from([1080, 720, 2160]),
    "tier": st.sampled_from(["720p", "1080p", "audio-only", "bogus"]),
    "track": st.sampled_from(["video", "audio", "audio-only", "VIDEO", "x"]),
    "kind": st.sampled_from(["segment", "part", "manifest", "egress", "Init", "nope"]),
    "method": st.sampled_from(["GET", "get", "HEAD"]),
    "status": st.sampled_from([200, 206, 304, 404, 499, 1000]),
    "bytes": st.one_of(st.integers(0, 10**6), st.sampled_from([-1, 2**41, 5.0])),
    "live": st.sampled_from([True, False, "yes"]),
    "body_bytes": st.integers(0, 100),
    "object_bytes": st.integers(1, 100),
}
_COMMON = ("id", "timestamp", "asset_id", "duration", "width", "height", "bytes")


@st.composite
def records(draw: st.DrawFn) -> dict[str, Any]:
    """Mostly plain records; now and then a field or value the columnar path leaves alone."""
    names = [n for n in _COMMON if draw(st.booleans()) or n in ("timestamp", "asset_id")]
    names += draw(st.sets(st.sampled_from(sorted(set(_VALUE) - set(_COMMON))), max_size=2))
    record = {name: draw(_VALUE[name]) for name in names}
    if "width" in record and draw(st.booleans()):
        record.pop("height", None)
    return record


_PLAIN = {
    "id": st.sampled_from(["r0", "r1", "r2", "r3"]),
    "timestamp": st.one_of(
        st.integers(T, T + 7200), st.sampled_from(["2020-12-14T23:30:00.25Z", f"{T}.5", T + 0.5])
    ),
    "asset_id": st.sampled_from(["A", "B"]),
    "playback_id": st.sampled_from(["P", ""]),
    "live_stream_id": st.sampled_from(["L", ""]),
    "session_id": st.sampled_from(["s1", "s2"]),
    "target": st.sampled_from(["t1", "t2"]),
    "duration": st.one_of(st.integers(0, 12), st.floats(0, 12, allow_nan=False)),
    "size": st.sampled_from([(1920, 1080), (1280, 720), (3840, 2160), (640, 360)]),
    "tier": st.sampled_from(["720p", "tier_1080p", "audio-only", "2160P"]),
    "track": st.sampled_from(["video", "audio", "audio-only", "VIDEO"]),
    "kind": st.sampled_from(["segment", "part", "manifest", "egress", "Init"]),
    "method": st.sampled_from(["GET", "get", "HEAD"]),
    "status": st.sampled_from([200, 206, 304, 404, 499]),
    "bytes": st.integers(0, 10**6),
    "live": st.booleans(),
}


@st.composite
def plain_records(draw: st.DrawFn) -> dict[str, Any]:
    """Records the columnar path takes: plain fields, each with a value the reference accepts."""
    names = {name for name in sorted(_PLAIN) if draw(st.booleans())}
    record = {"timestamp": draw(_PLAIN["timestamp"]), "asset_id": draw(_PLAIN["asset_id"])}
    for name in names - {"size", "tier"}:
        record[name] = draw(_PLAIN[name])
    if "size" in names:
        record["width"], record["height"] = draw(_PLAIN["size"])
    elif "tier" in names:
        record["tier"] = draw(_PLAIN["tier"])
    return record


@st.composite
def batches(draw: st.DrawFn) -> tuple[bytes, bool]:
    """A batch (JSON array or NDJSON), and whether it is plain: of plain records only."""
    plain = draw(st.booleans())
    items = draw(st.lists(plain_records() if plain else records(), min_size=1, max_size=6))
    if draw(st.booleans()):
        return b"\n".join(orjson.dumps(item) for item in items), plain
    return orjson.dumps(items), plain


@pytest.fixture(scope="module")
def stores(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[DuckDBStore, DuckDBStore]]:
    root: Path = tmp_path_factory.mktemp("columnar")
    columnar, reference = DuckDBStore(str(root / "c.duckdb")), DuckDBStore(str(root / "r.duckdb"))
    yield columnar, reference
    columnar.close()
    reference.close()


_RECORDS = (
    "SELECT r.line_no, r.request_id, r.ts_us, ka.external_id, r.playback_id, kl.external_id, "
    "r.kind, r.track, r.tier_hint, r.duration_us, r.bytes, r.method, r.status, r.body_bytes, "
    "r.object_bytes, r.session_id, r.earned_us, r.media_us, r.live, r.origin, kt.external_id, "
    "r.additional_target, rc.content_sha256 "
    "FROM records r JOIN receipts rc USING (receipt_id) "
    "LEFT JOIN entity_keys ka ON ka.entity_key = r.asset_key "
    "LEFT JOIN entity_keys kl ON kl.entity_key = r.live_stream_key "
    "LEFT JOIN entity_keys kt ON kt.entity_key = r.target_key "
    "WHERE r.env_key = ? ORDER BY ALL"
)
_USAGE = (
    "SELECT u.bucket, k.external_id, u.tier, sum(u.delivered_us), sum(u.bytes), "
    "sum(u.requests) FROM usage_hour u LEFT JOIN entity_keys k ON k.entity_key = u.asset_key "
    "WHERE u.env_key = ? GROUP BY ALL ORDER BY ALL"
)


def _state(store: DuckDBStore, env_key: int) -> tuple[list[Any], list[Any]]:
    con = store._con
    return con.execute(_RECORDS, [env_key]).fetchall(), con.execute(_USAGE, [env_key]).fetchall()


def _answers(results: list[Any]) -> list[Any]:
    answers = []
    for result in results:
        receipt, outcomes = result
        answers.append(
            (receipt.already_imported, receipt.accepted, receipt.duplicate, receipt.rejected,
             receipt.notes, receipt.first_ts_us, receipt.last_ts_us, outcomes)
        )  # fmt: skip
    return answers


@settings(
    max_examples=60,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(drawn=st.lists(batches(), min_size=1, max_size=3))
def test_the_columnar_path_equals_the_reference(
    stores: tuple[DuckDBStore, DuckDBStore], drawn: list[tuple[bytes, bool]]
) -> None:
    columnar, reference = stores
    name = f"env-{len(columnar.list_environments())}"
    env_c = columnar.create_environment(name).env_key
    env_r = reference.create_environment(name).env_key
    bodies = [body for body, _ in drawn]
    fast = [prepare_batch(body) for body in bodies]
    for batch, (_, plain) in zip(fast, drawn, strict=True):
        assert batch.rows is not None or not plain, "a plain batch must take the columnar path"
    slow = [PreparedBatch(batch.draft, body) for batch, body in zip(fast, bodies, strict=True)]
    assert all(batch.rows is None for batch in slow)
    # the columnar batches as a group, the reference ones one after the other
    got = _answers(import_batches(columnar, env_c, fast))
    want = _answers([import_batches(reference, env_r, [batch])[0] for batch in slow])
    assert got == want
    assert _state(columnar, env_c) == _state(reference, env_r)


def test_a_plain_batch_posted_again_is_already_imported(
    stores: tuple[DuckDBStore, DuckDBStore], caplog: pytest.LogCaptureFixture
) -> None:
    store, _ = stores
    env_key = store.create_environment("again").env_key
    body = json.dumps(GOLDEN).encode()
    first = import_batches(store, env_key, [prepare_batch(body)])[0]
    again = import_batches(store, env_key, [prepare_batch(body), prepare_batch(body)])
    assert [(o["line"], o["status"]) for o in first[1]] == [(n, "accepted") for n in range(1, 7)]
    for receipt, outcomes in again:
        assert receipt.receipt_id == first[0].receipt_id and receipt.already_imported
        assert [(o["line"], o["status"]) for o in outcomes] == [
            (n, "duplicate") for n in range(1, 7)
        ]
    assert "importing them one by one" not in caplog.text  # no group failed on the way
    assert (first[0].accepted, first[0].notes) == (
        6,
        {NOTE_NO_DURATION: 1, NOTE_TIER_INFERRED: 1, **_UNKNOWN},
    )


# GOLDEN names assets and a playback id no catalog has
_UNKNOWN = {
    "asset_id not in the catalog yet (counted; in the Mux API once registered)": 4,
    "playback_id not in the catalog yet (bytes counted; seconds once registered)": 2,
}
