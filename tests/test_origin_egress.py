"""counting.md 3: origin logs are egress, split into primary and additional-target pulls."""

from __future__ import annotations

import json
from fractions import Fraction

from streammeter.index.entry import IndexObject, Rendition
from streammeter.ingest.importer import import_file
from streammeter.model.catalog import Asset
from streammeter.store.base import DeliveryTarget
from tests.conftest import raw_query

SEG = "/vod/a/720/s1.ts"
T = 1_700_000_000


def line(n: int, path: str, ip: str, agent: str, body: int, status: int = 200) -> str:
    return json.dumps(
        {"msec": f"{T + n}.000", "request_id": f"o{n}", "method": "GET", "request_uri": path,
         "status": str(status), "bytes_sent": str(body + 300), "body_bytes_sent": str(body),
         "content_length": str(body), "remote_addr": ip, "user_agent": agent,
         "host": "origin.example.com"}
    )  # fmt: skip


def test_origin_pulls_are_egress_by_target(store, tenant, tmp_path):
    key = tenant.env.env_key
    store.upsert_assets(key, [Asset(asset_id="a", asset_resolution_tier="720p")])
    rendition = Rendition("/vod/a/720.m3u8", "video", 1280, 720, 2_000_000)
    store.register_index(
        key,
        "a",
        [rendition],
        [IndexObject(SEG, "a", rendition.rendition_id, "segment", Fraction(6))],
    )
    store.add_delivery_target(
        DeliveryTarget(
            key, "main-cdn", "Main CDN", primary=True, user_agents=("amazon cloudfront",)
        )
    )
    store.add_delivery_target(DeliveryTarget(key, "backup", "Backup", cidrs=("203.0.113.0/24",)))
    log = tmp_path / "origin.ndjson"
    log.write_text(
        "\n".join([
            line(1, SEG, "198.51.100.7", "Amazon CloudFront", 1000),  # primary: 6 s
            line(2, SEG, "203.0.113.9", "curl/8", 1000),  # additional target: 6 s
            line(3, SEG, "203.0.113.9", "curl/8", 500, status=200) .replace(
                '"content_length": "500"', '"content_length": "1000"'),  # aborted half: 3 s
            line(4, "/vod/a/720.m3u8", "198.51.100.7", "Amazon CloudFront", 100),  # bytes only
        ]) + "\n"
    )  # fmt: skip
    receipt = import_file(store, key, log, origin=True)
    assert (receipt.format, receipt.accepted, receipt.rejected) == ("nginx-json (origin)", 4, 0)
    totals = raw_query(
        store,
        "SELECT sum(delivered_us), sum(bytes), sum(egress_us), sum(egress_bytes), "
        "sum(egress_additional_us), sum(egress_additional_bytes) FROM usage_hour",
    )[0]
    assert tuple(map(int, totals)) == (0, 0, 15_000_000, 2600, 9_000_000, 1500)
    names = dict(raw_query(store, "SELECT entity_key, external_id FROM entity_keys"))
    by_key = raw_query(
        store, "SELECT target_key, sum(egress_bytes) FROM usage_hour GROUP BY target_key"
    )
    assert {names[key]: int(n) for key, n in by_key if n} == {"main-cdn": 1100, "backup": 1500}
