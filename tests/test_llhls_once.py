"""counting.md 4.5: an LL-HLS part and its whole segment, same session, count once."""

from __future__ import annotations

import itertools
from fractions import Fraction

from streammeter.counting.record import DeliveryRecord
from streammeter.counting.rules import count
from streammeter.model.catalog import Asset
from streammeter.store.base import ReceiptDraft

T0 = 1_700_000_000_000_000
HOUR = T0 // 3_600_000_000


def rec(n, *, part=None, sid="s1", seconds="2", msn=9) -> DeliveryRecord:
    return DeliveryRecord(
        ts_us=T0 + n, asset_id="a", kind="part" if part is not None else "segment",
        duration=Fraction(seconds), tier_hint=1, session_id=sid, rendition_id="r720",
        media_sequence=msn, part_index=part, live=True,
    )  # fmt: skip


def import_records(store, env_key, records, name):
    draft = ReceiptDraft("batch", name, "test", name, name, 0)
    with store.importing(env_key, draft) as session:
        session.add([(i, r, count(r)) for i, r in enumerate(records, start=1)])
        counts = {"lines_read": len(records), "accepted": len(records), "duplicate": 0,
                  "rejected": 0, "notes": {}, "first_ts_us": None, "last_ts_us": None}  # fmt: skip
        session.finish(counts)


def total(store, env_key) -> int:
    rows, _ = store.delivery_usage(env_key, HOUR, HOUR + 1)
    return sum(row.total_us for row in rows)


def test_parts_then_segment_in_one_session_count_the_segment_once(store, tenant):
    key = tenant.env.env_key
    store.upsert_assets(key, [Asset(asset_id="a", asset_resolution_tier="720p")])
    parts = [rec(i, part=i, seconds="0.5") for i in range(4)]
    import_records(store, key, parts, "parts")
    assert total(store, key) == 2_000_000
    import_records(store, key, [rec(10)], "segment")  # a later file brings the segment
    assert total(store, key) == 2_000_000


def test_any_order_and_split_gives_the_same_total(store, tenant):
    key = tenant.env.env_key
    store.upsert_assets(key, [Asset(asset_id="a", asset_resolution_tier="720p")])
    records = [rec(0), *[rec(i + 1, part=i, seconds="0.5") for i in range(3)]]  # 1.5 s of parts
    for n, order in enumerate(itertools.permutations(records)):
        env = store.create_environment(f"e{n}")
        store.upsert_assets(env.env_key, [Asset(asset_id="a", asset_resolution_tier="720p")])
        import_records(store, env.env_key, list(order[:2]), f"x{n}a")
        import_records(store, env.env_key, list(order[2:]), f"x{n}b")
        assert total(store, env.env_key) == 2_000_000


def test_other_sessions_and_segments_are_separate(store, tenant):
    key = tenant.env.env_key
    store.upsert_assets(key, [Asset(asset_id="a", asset_resolution_tier="720p")])
    records = [rec(0), rec(1, part=0, sid="s2", seconds="0.5"),
               rec(2, msn=10), rec(3, part=0, msn=10, seconds="0.5")]  # fmt: skip
    import_records(store, key, records, "mix")
    assert total(store, key) == 2_000_000 + 500_000 + 2_000_000


def test_without_a_session_both_count(store, tenant):
    key = tenant.env.env_key
    store.upsert_assets(key, [Asset(asset_id="a", asset_resolution_tier="720p")])
    import_records(store, key, [rec(0, sid=None), rec(1, part=0, sid=None, seconds="0.5")], "x")
    assert total(store, key) == 2_500_000


def test_rebuild_keeps_the_deduplicated_numbers(store, tenant):
    key = tenant.env.env_key
    store.upsert_assets(key, [Asset(asset_id="a", asset_resolution_tier="720p")])
    import_records(store, key, [rec(0), rec(1, part=0, seconds="0.5")], "x")
    before = store.rollup_snapshot()
    store.rebuild()
    assert store.rollup_snapshot() == before
    assert total(store, key) == 2_000_000
