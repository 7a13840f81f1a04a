"""Properties of import and rollups (counting.md 6-7, docs/design/rollups.md).

Hypothesis draws lists of valid generic records (with and without request ids, duplicated
ids, every kind/status/track/tier, partial transfers, assets known and unknown to the catalog,
playback ids) split into 1-4 NDJSON files, and checks that the rollups do not depend on import
order, re-imports, `rebuild()` or when the catalog is registered, that the rollup levels agree,
and that the Mux totals equal an independent Python model of the counting contract.

Each example opens its own stores in a fresh directory (function fixtures and hypothesis do
not mix) and removes it afterwards.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from fractions import Fraction
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from streammeter.ingest.importer import import_file
from streammeter.model.catalog import Asset
from streammeter.store import Store, open_store
from tests.conftest import raw_query

LEVELS = ("usage_hour", "usage_day", "usage_month")
BASE = 1606773600  # 2020-11-30T22:00:00Z: records span a UTC day and a month boundary
SPAN_HOURS = 5
BASE_HOUR = BASE // 3600
# [2020-10-31T20:00Z, 2020-12-02T05:00Z): read as edge hours + November (month) + Dec 1 (day).
WINDOW_HOURS = (BASE_HOUR - 30 * 24 - 2, BASE_HOUR + 31)

# Catalog v1: A1 has a live stream and a playback id; A2 is audio-only; A3 owns pbA3.
# U1 and pbU are never registered.
CATALOG_V1 = [
    Asset(
        asset_id="A1", asset_resolution_tier="1080p", live_stream_id="LS1", created_at=BASE,
        playback_ids=[{"id": "pbA1"}],
    ),
    Asset(asset_id="A2", asset_resolution_tier="audio-only", created_at=BASE),
    Asset(asset_id="A3", asset_resolution_tier="720p", created_at=BASE, playback_ids=["pbA3"]),
]  # fmt: skip
# Catalog v2 changes every attribution input: tiers, live stream, a playback id moves A3 -> A1.
CATALOG_V2 = [
    Asset(
        asset_id="A1", asset_resolution_tier="720p", live_stream_id="LS2", created_at=BASE,
        playback_ids=["pbA1", "pbA3"],
    ),
    Asset(asset_id="A2", asset_resolution_tier="1080p", created_at=BASE),
    Asset(asset_id="A3", asset_resolution_tier="1440p", created_at=BASE),
]  # fmt: skip
ASSET_IDS = ("A1", "A2", "A3", "U1")
PLAYBACK_IDS = ("pbA1", "pbA3", "pbU")
REQUEST_IDS = tuple(f"req-{n}" for n in range(6))
SIZES = ((1280, 720), (1920, 1080), (1080, 1920), (2560, 1440), (3840, 2160), (640, 360))
TIER_NAMES = ("720p", "tier_1080p", "1440p", "2160p", "audio-only")
TIER_CODES = {"720p": 1, "1080p": 2, "1440p": 3, "2160p": 4, "audio-only": 5}

# About 6-8 s per property. No example database: nothing is written outside the temp dirs.
FAST = settings(
    max_examples=16, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)


# -- strategies -----------------------------------------------------------------------------
@st.composite
def record_bodies(draw: st.DrawFn) -> dict[str, Any]:
    """One valid generic record without its id."""
    rec: dict[str, Any] = {}
    offset = draw(st.integers(0, SPAN_HOURS * 3600 - 1))
    rec["timestamp"] = draw(
        st.sampled_from([BASE + offset, str(BASE + offset), f"{BASE + offset}.25"])
    )
    if draw(st.integers(0, 5)) == 0:
        rec["playback_id"] = draw(st.sampled_from(PLAYBACK_IDS))
    else:
        rec["asset_id"] = draw(st.sampled_from(ASSET_IDS))
    if draw(st.integers(0, 6)) == 0:
        rec["live_stream_id"] = "LSrec"
    kind = draw(st.sampled_from(["segment"] * 4 + ["part", "manifest", "init", "key", None]))
    if kind is not None:
        rec["kind"] = kind
    track = draw(st.sampled_from(["video"] * 3 + ["audio", "audio-only", None]))
    if track is not None:
        rec["track"] = track
    tier_choice = draw(st.integers(0, 2))
    if tier_choice == 1:
        rec["width"], rec["height"] = draw(st.sampled_from(SIZES))
    elif tier_choice == 2:
        rec["tier"] = draw(st.sampled_from(TIER_NAMES))
    duration_us = draw(st.one_of(st.none(), st.integers(0, 12_000_000)))
    if duration_us is not None:
        whole, frac = divmod(duration_us, 1_000_000)
        rec["duration"] = draw(
            st.sampled_from(
                [f"{whole}.{frac:06d}", duration_us / 1_000_000]
                + ([whole] if frac == 0 else [])
            )
        )
    status = draw(st.sampled_from([200] * 4 + [206, 499, 404, 304, 0, None]))
    if status is not None:
        rec["status"] = status
    if draw(st.integers(0, 5)) == 0:
        rec["method"] = draw(st.sampled_from(["HEAD", "head", "get"]))
    if draw(st.booleans()):
        object_bytes = draw(st.integers(1, 3_000_000))
        rec["object_bytes"] = object_bytes
        rec["body_bytes"] = draw(st.integers(0, object_bytes + object_bytes // 5))
    if draw(st.booleans()):
        rec["bytes"] = draw(st.integers(0, 4_000_000))
    if draw(st.integers(0, 4)) == 0:
        rec["session_id"] = draw(st.sampled_from(["s1", "s2"]))
    return rec


@st.composite
def record_files(draw: st.DrawFn, consistent_ids: bool) -> list[list[dict[str, Any]]]:
    """1-4 non-empty files of records; some records share a request id.

    With `consistent_ids` every copy of an id has the same content (so which copy wins does
    not matter); otherwise copies may differ.
    """
    records: list[dict[str, Any]] = []
    first_copy: dict[str, dict[str, Any]] = {}
    for _ in range(draw(st.integers(1, 24))):
        if draw(st.integers(0, 2)) == 0:
            rid = draw(st.sampled_from(REQUEST_IDS))
            if consistent_ids and rid in first_copy:
                body = first_copy[rid]
            else:
                body = draw(record_bodies())
                first_copy.setdefault(rid, body)
            records.append({"id": rid, **body})
        else:
            records.append(draw(record_bodies()))
    count = draw(st.integers(1, min(4, len(records))))
    slots = draw(st.lists(st.integers(0, count - 1), min_size=len(records), max_size=len(records)))
    files = [[r for r, slot in zip(records, slots, strict=True) if slot == n] for n in range(count)]
    return [f for f in files if f]


# -- helpers --------------------------------------------------------------------------------
def ndjson(records: list[dict[str, Any]]) -> str:
    return "".join(json.dumps(r) + "\n" for r in records)


@contextmanager
def workspace(factory: Any) -> Iterator[Path]:
    """A fresh directory for one example, removed afterwards (DuckDB files are ~2 MB)."""
    path = factory.mktemp("prop")
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@contextmanager
def new_store(root: Path, name: str) -> Iterator[tuple[Store, int]]:
    store = open_store(str(root / f"{name}.duckdb"))
    try:
        yield store, store.create_environment("prod").env_key
    finally:
        store.close()


def write_files(root: Path, files: list[list[dict[str, Any]]]) -> list[Path]:
    paths = []
    for number, records in enumerate(files):
        path = root / f"part-{number}.ndjson"
        path.write_text(ndjson(records))
        paths.append(path)
    return paths


def named_snapshot(store: Store, table: str) -> list[tuple[Any, ...]]:
    """`rollup_snapshot` with entity keys (allocated in order of first sight) replaced by the
    external ids, so stores fed in different orders can be compared."""
    names = dict(raw_query(store, "SELECT entity_key, external_id FROM entity_keys"))
    rows = [
        (env, bucket, names.get(asset), names.get(live), tier, int(us), int(size), int(reqs))
        for env, bucket, asset, live, tier, us, size, reqs in store.rollup_snapshot(table)
    ]
    return sorted(rows, key=repr)


MEASURES = ("delivered_us", "bytes", "requests", "egress_us", "egress_bytes")
DEC_1 = (BASE + 7200) // 3600  # 2020-12-01T00:00Z, as an hour
NOV_1 = DEC_1 - 30 * 24


def level_rows(store: Store, table: str, bucket: str) -> list[tuple[Any, ...]]:
    """A rollup table's summed measures per key, with `bucket` regrouped by an expression
    ("0" sums over all buckets); keys are every column that is not a measure."""
    columns = [c[0] for c in store._con.execute(f"DESCRIBE {table}").fetchall()]
    measures = [c for c in columns if c in MEASURES]
    keys = [f"{bucket} AS b" if c == "bucket" else c for c in columns if c not in MEASURES]
    if bucket == "0":
        keys = ["env_key"]
    rows = store._con.execute(
        f"SELECT {', '.join(keys)}, {', '.join(f'sum({m})::BIGINT' for m in measures)} "
        f"FROM {table} GROUP BY ALL HAVING {' OR '.join(f'sum({m}) <> 0' for m in measures)}"
    ).fetchall()
    return sorted(rows, key=repr)


def snapshots(store: Store) -> dict[str, list[tuple[Any, ...]]]:
    return {level: named_snapshot(store, level) for level in LEVELS}


def record_count(store: Store) -> int:
    return store._con.execute("SELECT count(*) FROM records").fetchone()[0]


def mux_usage(store: Store, env_key: int) -> dict[str, dict[int, int]]:
    rows, total = store.delivery_usage(env_key, *WINDOW_HOURS, limit=1000)
    assert total == len(rows)
    order = [(-row.total_us, row.asset["asset_id"]) for row in rows]
    assert order == sorted(order), "rows must be ordered by delivered seconds desc, asset_id"
    usage = {}
    for row in rows:
        assert row.total_us > 0
        assert all(us > 0 for us in row.tiers_us.values()), "zero tiers must be omitted"
        assert sum(row.tiers_us.values()) == row.total_us
        usage[row.asset["asset_id"]] = dict(row.tiers_us)
    return usage


# -- an independent model of counting.md, for generic records -------------------------------
def _model_earned_us(rec: dict[str, Any]) -> int:
    if rec.get("kind", "segment") not in ("segment", "part"):
        return 0
    if rec.get("method", "GET").upper() != "GET":
        return 0
    status = rec.get("status", 200)
    if status not in (200, 206, 499) or rec.get("duration") is None:
        return 0
    micros = Fraction(str(rec["duration"])) * 1_000_000
    if rec.get("body_bytes") is not None and rec.get("object_bytes"):
        fraction = min(Fraction(1), Fraction(rec["body_bytes"], rec["object_bytes"]))
    else:
        fraction = Fraction(0 if status == 499 else 1)
    return round(micros * fraction)


def _model_tier(rec: dict[str, Any], asset_tier: str) -> int:
    """Tier code the seconds land in (0: they earn nothing), rules 4.4 and 5."""
    track = rec.get("track", "video")
    if track == "audio-only":
        return 5
    if track == "audio":
        return 5 if asset_tier == "audio-only" else 0
    if "width" in rec:
        pixels = rec["width"] * rec["height"]
        return 1 + sum(pixels > limit for limit in (921_600, 2_073_600, 4_194_304))
    if "tier" in rec:
        return TIER_CODES[rec["tier"].removeprefix("tier_")]
    return TIER_CODES[asset_tier]


def model_usage(
    files: list[list[dict[str, Any]]], catalog: list[Asset]
) -> dict[str, dict[int, int]]:
    """What the Mux endpoint must show after importing `files` in this order."""
    tiers = {a.asset_id: a.asset_resolution_tier for a in catalog}
    owner = {p.id: a.asset_id for a in catalog for p in a.playback_ids}
    seen_content: set[str] = set()
    seen_ids: set[str] = set()
    usage: dict[str, dict[int, int]] = defaultdict(lambda: defaultdict(int))
    for records in files:
        sha = hashlib.sha256(ndjson(records).encode()).hexdigest()
        if sha in seen_content:
            continue  # the same content again: a no-op
        seen_content.add(sha)
        for rec in records:
            if "id" in rec:
                if rec["id"] in seen_ids:
                    continue  # the first accepted copy wins
                seen_ids.add(rec["id"])
            asset = rec.get("asset_id") or owner.get(rec.get("playback_id"))
            if asset not in tiers:
                continue
            earned, tier = _model_earned_us(rec), _model_tier(rec, tiers[asset])
            if earned and tier:
                usage[asset][tier] += earned
    return {asset: dict(t) for asset, t in usage.items() if sum(t.values()) > 0}


# -- properties -----------------------------------------------------------------------------
@FAST
@given(files=record_files(consistent_ids=True), data=st.data())
def test_import_order_does_not_matter(tmp_path_factory, files, data):
    order = data.draw(st.permutations(range(len(files))), label="order")
    with workspace(tmp_path_factory) as root:
        paths = write_files(root, files)
        results = []
        for name, sequence in (("given", range(len(files))), ("permuted", order)):
            with new_store(root, name) as (store, env):
                store.upsert_assets(env, CATALOG_V1)
                for n in sequence:
                    import_file(store, env, paths[n])
                results.append((snapshots(store), mux_usage(store, env)))
        assert results[0] == results[1]
        assert results[0][1] == model_usage(files, CATALOG_V1)


@FAST
@given(files=record_files(consistent_ids=False), data=st.data())
def test_reimporting_changes_nothing(tmp_path_factory, files, data):
    extra = data.draw(st.lists(st.integers(0, len(files) - 1), max_size=6), label="repeats")
    # Every file once, in order, with repeats of already imported files interleaved.
    sequence: list[int] = []
    for n in range(len(files)):
        sequence.append(n)
        sequence += [m for m in extra if m <= n][:2]
    with workspace(tmp_path_factory) as root:
        paths = write_files(root, files)
        with new_store(root, "s") as (store, env):
            store.upsert_assets(env, CATALOG_V1)
            done: set[str] = set()
            for n in sequence:
                before, records = snapshots(store), record_count(store)
                receipt = import_file(store, env, paths[n])
                content = paths[n].read_text()
                if content in done:
                    assert receipt.already_imported
                    assert (snapshots(store), record_count(store)) == (before, records)
                done.add(content)
            once, records = snapshots(store), record_count(store)
            for n, path in enumerate(paths):  # the whole set again, and a renamed copy
                copy = root / f"renamed-{n}.jsonl"
                shutil.copy(path, copy)
                for again in (path, copy):
                    assert import_file(store, env, again).already_imported
            assert (snapshots(store), record_count(store)) == (once, records)
            assert mux_usage(store, env) == model_usage(files, CATALOG_V1)


@FAST
@given(files=record_files(consistent_ids=False))
def test_tiers_sum_to_totals_and_levels_agree(tmp_path_factory, files):
    with workspace(tmp_path_factory) as root:
        paths = write_files(root, files)
        with new_store(root, "s") as (store, env):
            store.upsert_assets(env, CATALOG_V1)
            for path in paths:
                import_file(store, env, path)
            usage = mux_usage(store, env)  # checks sum(tiers) == delivered per row
            assert usage == model_usage(files, CATALOG_V1)
            # Every measure sums to the same total at every level...
            totals = [level_rows(store, level, "0") for level in LEVELS]
            assert totals[0] == totals[1] == totals[2]
            assert totals[0] and len(totals[0]) == 1
            # ...and per key, each day and each month is exactly the sum of its hours.
            assert level_rows(store, "usage_hour", "bucket - bucket % 24") == level_rows(
                store, "usage_day", "bucket"
            )
            month_of_hour = f"CASE WHEN bucket < {DEC_1} THEN {NOV_1} ELSE {DEC_1} END"
            assert level_rows(store, "usage_hour", month_of_hour) == level_rows(
                store, "usage_month", "bucket"
            )
            # Tiling the window hour by hour gives the same per-asset totals as one query.
            tiled: dict[str, dict[int, int]] = defaultdict(lambda: defaultdict(int))
            for h in range(BASE_HOUR, BASE_HOUR + SPAN_HOURS):
                for row in store.delivery_usage(env, h, h + 1, limit=1000)[0]:
                    for tier, us in row.tiers_us.items():
                        tiled[row.asset["asset_id"]][tier] += us
            assert {a: dict(t) for a, t in tiled.items()} == usage
            # The total over all registered assets equals the tiered seconds in usage_hour.
            (in_hours,) = store._con.execute(
                "SELECT coalesce(sum(delivered_us), 0) FROM usage_hour "
                "JOIN assets USING (asset_key) WHERE tier > 0"
            ).fetchone()
            assert in_hours == sum(sum(t.values()) for t in usage.values())


@FAST
@given(files=record_files(consistent_ids=False), data=st.data())
def test_rebuild_changes_nothing(tmp_path_factory, files, data):
    split = data.draw(st.integers(0, len(files)), label="catalog registered after file")
    with workspace(tmp_path_factory) as root:
        paths = write_files(root, files)
        with new_store(root, "s") as (store, env):
            for n, path in enumerate(paths):
                if n == split:
                    store.upsert_assets(env, CATALOG_V1)
                import_file(store, env, path)
            if split == len(paths):
                store.upsert_assets(env, CATALOG_V1)
            store.upsert_assets(env, CATALOG_V2)  # retractions and re-assertions
            raw = {level: store.rollup_snapshot(level) for level in LEVELS}
            usage = mux_usage(store, env)
            store.rebuild()
            assert {level: store.rollup_snapshot(level) for level in LEVELS} == raw
            assert mux_usage(store, env) == usage == model_usage(files, CATALOG_V2)
            store.rebuild()
            assert {level: store.rollup_snapshot(level) for level in LEVELS} == raw


@FAST
@given(files=record_files(consistent_ids=False), data=st.data())
def test_catalog_before_or_after_records_is_the_same(tmp_path_factory, files, data):
    split = data.draw(st.integers(0, len(files)), label="catalog registered after file")
    with workspace(tmp_path_factory) as root:
        paths = write_files(root, files)
        results = []
        for name in ("before", "after", "between"):
            with new_store(root, name) as (store, env):
                if name == "before":
                    store.upsert_assets(env, CATALOG_V2)
                for n, path in enumerate(paths):
                    if name == "between" and n == split:
                        store.upsert_assets(env, CATALOG_V1)
                    import_file(store, env, path)
                if name == "between":
                    if split == len(paths):
                        store.upsert_assets(env, CATALOG_V1)
                    store.upsert_assets(env, CATALOG_V2)
                elif name == "after":
                    store.upsert_assets(env, CATALOG_V2)
                results.append((snapshots(store), mux_usage(store, env)))
        assert results[0] == results[1] == results[2]
        assert results[0][1] == model_usage(files, CATALOG_V2)
        # The catalog's live stream wins over the record's (rule 6): A1 is only under LS2.
        hour = results[0][0]["usage_hour"]
        assert {row[3] for row in hour if row[2] == "A1"} <= {"LS2"}


# -- plain unit tests (hand-computed) -------------------------------------------------------
def test_first_accepted_copy_wins_when_contents_differ(store, tenant, tmp_path):
    env = tenant.env.env_key
    store.upsert_assets(env, CATALOG_V1)
    first = tmp_path / "first.ndjson"
    second = tmp_path / "second.ndjson"
    first.write_text(ndjson([
        {"id": "dup", "timestamp": BASE + 10, "asset_id": "A1", "duration": 6,
         "width": 1920, "height": 1080, "bytes": 1000},
    ]))  # fmt: skip
    second.write_text(ndjson([
        {"id": "dup", "timestamp": BASE + 20, "asset_id": "A3", "duration": "4.5",
         "width": 1280, "height": 720, "bytes": 700},
        {"id": "other", "timestamp": BASE + 30, "asset_id": "A3", "duration": 2, "tier": "720p"},
    ]))  # fmt: skip
    r1 = import_file(store, env, first)
    r2 = import_file(store, env, second)
    assert (r1.accepted, r1.duplicate) == (1, 0)
    assert (r2.accepted, r2.duplicate) == (1, 1)
    assert mux_usage(store, env) == {"A1": {2: 6_000_000}, "A3": {1: 2_000_000}}
    hour = named_snapshot(store, "usage_hour")
    assert hour == [
        (1, BASE_HOUR, "A1", "LS1", 2, 6_000_000, 1000, 1),
        (1, BASE_HOUR, "A3", None, 1, 2_000_000, 0, 1),
    ]


def test_first_accepted_copy_wins_in_the_other_order_too(store, tenant, tmp_path):
    env = tenant.env.env_key
    store.upsert_assets(env, CATALOG_V1)
    a = tmp_path / "a.ndjson"
    b = tmp_path / "b.ndjson"
    a.write_text(ndjson([{"id": "dup", "timestamp": BASE + 10, "asset_id": "A1", "duration": 6}]))
    b.write_text(
        ndjson([{"id": "dup", "timestamp": BASE + 20, "asset_id": "A3", "duration": "4.5"}])
    )
    import_file(store, env, b)
    receipt = import_file(store, env, a)
    assert (receipt.accepted, receipt.duplicate) == (0, 1)
    assert mux_usage(store, env) == {"A3": {1: 4_500_000}}


def test_the_model_agrees_with_hand_numbers():
    """The oracle above, checked against numbers computed by hand from counting.md."""
    files = [
        [
            # 6.006 s, 1000 of 3000 bytes sent: 2.002 s, tier from 1920x1080.
            {"timestamp": BASE, "asset_id": "A1", "duration": "6.006", "width": 1920,
             "height": 1080, "status": 206, "body_bytes": 1000, "object_bytes": 3000},
            # 0.000003 s x 1/2 = 1.5 us -> 2 (half to even); tier from A3's catalog tier.
            {"timestamp": BASE, "asset_id": "A3", "duration": "0.000003",
             "body_bytes": 1, "object_bytes": 2},
            # 0.000005 s x 1/2 = 2.5 us -> 2 (half to even).
            {"timestamp": BASE, "playback_id": "pbA3", "duration": "0.000005",
             "body_bytes": 1, "object_bytes": 2},
            # Demuxed audio of a video asset earns nothing; of an audio-only asset it counts.
            {"timestamp": BASE, "asset_id": "A1", "duration": 4, "track": "audio"},
            {"timestamp": BASE, "asset_id": "A2", "duration": 4, "track": "audio"},
            # 499 without sizes, HEAD, 304, playlist: nothing.
            {"timestamp": BASE, "asset_id": "A1", "duration": 4, "status": 499},
            {"timestamp": BASE, "asset_id": "A1", "duration": 4, "method": "HEAD"},
            {"timestamp": BASE, "asset_id": "A1", "duration": 4, "status": 304},
            {"timestamp": BASE, "asset_id": "A1", "duration": 4, "kind": "manifest"},
        ]
    ]
    assert model_usage(files, CATALOG_V1) == {
        "A1": {2: 2_002_000}, "A2": {5: 4_000_000}, "A3": {1: 4},
    }  # fmt: skip


def test_hand_numbers_through_the_store(store, tenant, tmp_path):
    env = tenant.env.env_key
    store.upsert_assets(env, CATALOG_V1)
    path = tmp_path / "hand.ndjson"
    path.write_text(ndjson([
        {"timestamp": BASE, "asset_id": "A1", "duration": "6.006", "width": 1920,
         "height": 1080, "status": 206, "body_bytes": 1000, "object_bytes": 3000},
        {"timestamp": BASE, "asset_id": "A3", "duration": "0.000003",
         "body_bytes": 1, "object_bytes": 2},
        {"timestamp": BASE, "playback_id": "pbA3", "duration": "0.000005",
         "body_bytes": 1, "object_bytes": 2},
        {"timestamp": BASE, "asset_id": "A1", "duration": 4, "track": "audio"},
        {"timestamp": BASE, "asset_id": "A2", "duration": 4, "track": "audio"},
        {"timestamp": BASE, "asset_id": "A1", "duration": 4, "status": 499},
        {"timestamp": BASE, "asset_id": "A1", "duration": 4, "method": "HEAD"},
        {"timestamp": BASE, "asset_id": "A1", "duration": 4, "status": 304},
        {"timestamp": BASE, "asset_id": "A1", "duration": 4, "kind": "manifest"},
    ]))  # fmt: skip
    receipt = import_file(store, env, path)
    assert (receipt.accepted, receipt.duplicate, receipt.rejected) == (9, 0, 0)
    assert mux_usage(store, env) == {"A1": {2: 2_002_000}, "A2": {5: 4_000_000}, "A3": {1: 4}}
