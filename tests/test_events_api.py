"""`POST /v1/events` and receipts over HTTP (docs/api/native.md, counting.md 7).

Every record below is in the hour [1607986800, 1607990400), the Mux default window at
NOW = 1607990400 + 12 h, so the Mux endpoint shows what each batch counted.
"""

from __future__ import annotations

import json

import pytest

from streammeter.model.catalog import Asset
from tests.conftest import make_tenant, raw_query

NOW = 1607990400 + 12 * 3600
USAGE = "/video/v1/delivery-usage"

ARRAY = [
    # 1: accepted, 6 s at 1920x1080
    {"id": "e1", "timestamp": 1607987000, "asset_id": "ev-asset", "duration": 6,
     "width": 1920, "height": 1080, "bytes": 1500000},
    # 2: the same id again (other content): the first copy wins
    {"id": "e1", "timestamp": 1607987000, "asset_id": "ev-asset", "duration": 4},
    # 3-5: unreadable records
    {"asset_id": "ev-asset", "duration": 6},
    {"timestamp": 1607987001, "asset_id": "ev-asset", "duration": 2, "colour": "red"},
    42,
    # 6: accepted, 2.5 s at 720p, RFC 3339 timestamp (2020-12-14T23:30Z = 1607988600)
    {"timestamp": "2020-12-14T23:30:00Z", "asset_id": "ev-asset", "duration": "2.5",
     "tier": "720p"},
    # 7: unknown kind
    {"timestamp": 1607987002, "asset_id": "ev-asset", "kind": "video", "duration": 1},
    # 8: accepted through the playback id, 0.5 s at 640x360
    {"timestamp": 1607987003, "playback_id": "pb-ev", "duration": "0.5",
     "width": 640, "height": 360},
]  # fmt: skip
ARRAY_BODY = json.dumps(ARRAY).encode()
ARRAY_OUTCOMES = [
    {"line": 1, "status": "accepted"},
    {"line": 2, "status": "duplicate"},
    {"line": 3, "status": "rejected", "reason": "timestamp: missing"},
    {"line": 4, "status": "rejected", "reason": "unknown field(s): colour"},
    {"line": 5, "status": "rejected", "reason": "expected a JSON object, got int"},
    {"line": 6, "status": "accepted"},
    {"line": 7, "status": "rejected"},  # reason checked separately (it lists the kinds)
    {"line": 8, "status": "accepted"},
]


@pytest.fixture
def env(store, tenant, monkeypatch):
    monkeypatch.setenv("STREAMMETER_NOW", str(NOW))
    store.upsert_assets(
        tenant.env.env_key,
        [
            Asset(
                asset_id="ev-asset", asset_resolution_tier="1080p", created_at=1607900000,
                playback_ids=["pb-ev"],
            ),
            Asset(asset_id="bulk", asset_resolution_tier="720p", created_at=1607900000),
        ],
    )  # fmt: skip
    return tenant


def post(server, token, body: bytes, content_type="application/json"):
    with server.client(token) as client:
        return client.post("/v1/events", content=body, headers={"content-type": content_type})


def usage(server, tenant):
    with server.client(tenant.read) as client:
        body = client.get(USAGE).json()
    return {row["asset_id"]: row["delivered_seconds_by_resolution"] for row in body["data"]}


def without_reason_of_line_7(records):
    return [{k: v for k, v in r.items() if not (r["line"] == 7 and k == "reason")} for r in records]


def test_json_array_outcomes_per_record(server, env):
    response = post(server, env.ingest, ARRAY_BODY)
    assert response.status_code == 200, response.text
    data = response.json()["data"]
    assert data["already_imported"] is False
    assert data["receipt_id"].startswith("rcpt_")
    assert data["counts"] == {"accepted": 3, "duplicate": 1, "rejected": 4}
    assert without_reason_of_line_7(data["records"]) == ARRAY_OUTCOMES
    reason = data["records"][6]["reason"]
    assert reason.startswith("kind: 'video' is not one of ")
    assert "segment" in reason and "manifest" in reason
    # The bad records rejected nothing else: 6 s (1080p) + 2.5 s + 0.5 s (720p).
    assert usage(server, env) == {"ev-asset": {"tier_1080p": 6, "tier_720p": 3}}


def test_ndjson_outcomes_per_line(server, env):
    lines = [
        json.dumps({"id": "n1", "timestamp": 1607987100, "asset_id": "ev-asset", "duration": 4}),
        "",  # blank lines are skipped but keep the numbering
        '{"id": "n2", "timestamp": 1607987100,',
        json.dumps({"id": "n1", "timestamp": 1607987100, "asset_id": "bulk", "duration": 9}),
        json.dumps(
            {
                "id": "n3",
                "timestamp": 1607987101,
                "asset_id": "ev-asset",
                "duration": 3,
                "status": 404,
            }
        ),  # fmt: skip
        json.dumps(
            {
                "timestamp": 1607987102,
                "asset_id": "ev-asset",
                "duration": 6,
                "status": 206,
                "body_bytes": 500,
                "object_bytes": 1000,
            }
        ),  # fmt: skip
        json.dumps({"timestamp": 99, "asset_id": "ev-asset", "duration": 1}),
    ]
    response = post(server, env.ingest, "\n".join(lines).encode() + b"\n", "application/x-ndjson")
    assert response.status_code == 200, response.text
    data = response.json()["data"]
    assert data["counts"] == {"accepted": 3, "duplicate": 1, "rejected": 2}
    statuses = [(r["line"], r["status"]) for r in data["records"]]
    assert statuses == [
        (1, "accepted"), (3, "rejected"), (4, "duplicate"), (5, "accepted"), (6, "accepted"),
        (7, "rejected"),
    ]  # fmt: skip
    reasons = {r["line"]: r["reason"] for r in data["records"] if r["status"] == "rejected"}
    assert reasons[3].startswith("invalid JSON")
    assert reasons[7] == "timestamp: timestamp 99 is outside 2000-01-01..2100-01-01"
    # 4 s (tier from the catalog, 1080p) + the 404 earns nothing + half of 6 s.
    assert usage(server, env) == {"ev-asset": {"tier_1080p": 7}}


def test_a_batch_that_is_all_bad_is_still_answered_per_record(server, env):
    response = post(server, env.ingest, b'[{"timestamp": "soon", "asset_id": "a"}, "x", null]')
    assert response.status_code == 200
    data = response.json()["data"]
    assert data["counts"] == {"accepted": 0, "duplicate": 0, "rejected": 3}
    assert [r["reason"] for r in data["records"]] == [
        "timestamp: 'soon' is neither epoch seconds nor RFC 3339 (e.g. 2026-11-22T10:00:00Z)",
        "expected a JSON object, got str",
        "expected a JSON object, got NoneType",
    ]


def test_the_same_body_twice_is_a_no_op(store, server, env):
    first = post(server, env.ingest, ARRAY_BODY).json()["data"]
    before = usage(server, env)
    records_before = raw_query(store, "SELECT count(*) FROM records")[0][0]
    response = post(server, env.ingest, ARRAY_BODY)
    assert response.status_code == 200
    again = response.json()["data"]
    assert again["already_imported"] is True
    assert again["receipt_id"] == first["receipt_id"]
    assert again["counts"] == {"accepted": 0, "duplicate": 4, "rejected": 4}
    assert [(r["line"], r["status"]) for r in again["records"]] == [
        (1, "duplicate"), (2, "duplicate"), (3, "rejected"), (4, "rejected"),
        (5, "rejected"), (6, "duplicate"), (7, "rejected"), (8, "duplicate"),
    ]  # fmt: skip
    assert again["records"][2]["reason"] == "timestamp: missing"
    assert usage(server, env) == before == {"ev-asset": {"tier_1080p": 6, "tier_720p": 3}}
    assert raw_query(store, "SELECT count(*) FROM records")[0][0] == records_before
    with server.client(env.read) as client:
        assert len(client.get("/v1/receipts").json()["data"]) == 1


def test_request_ids_are_deduplicated_across_batches(server, env):
    post(server, env.ingest, ARRAY_BODY)
    second = [
        {"id": "e1", "timestamp": 1607987000, "asset_id": "bulk", "duration": 100},
        {"id": "e2", "timestamp": 1607987000, "asset_id": "bulk", "duration": 5},
    ]
    data = post(server, env.ingest, json.dumps(second).encode()).json()["data"]
    assert data["already_imported"] is False
    assert data["records"] == [
        {"line": 1, "status": "duplicate"}, {"line": 2, "status": "accepted"},
    ]  # fmt: skip
    assert usage(server, env) == {
        "ev-asset": {"tier_1080p": 6, "tier_720p": 3}, "bulk": {"tier_720p": 5},
    }  # fmt: skip


def test_the_same_body_in_another_environment_counts_there(store, server, env):
    post(server, env.ingest, ARRAY_BODY)
    other = make_tenant(store, "other")
    store.upsert_assets(
        other.env.env_key,
        [Asset(asset_id="ev-asset", asset_resolution_tier="2160p", created_at=1607900000)],
    )
    data = post(server, other.ingest, ARRAY_BODY).json()["data"]
    assert data["already_imported"] is False
    assert data["counts"] == {"accepted": 3, "duplicate": 1, "rejected": 4}
    # pb-ev is not registered in the other environment: record 8 earns no Mux seconds there.
    assert usage(server, other) == {"ev-asset": {"tier_1080p": 6, "tier_720p": 2.5}}
    assert usage(server, env) == {"ev-asset": {"tier_1080p": 6, "tier_720p": 3}}


# -- limits ---------------------------------------------------------------------------------
def _bulk(n: int) -> list[dict]:
    return [
        {"timestamp": 1607987000 + i % 3000, "asset_id": "bulk", "duration": "0.001"}
        for i in range(n)
    ]


def test_ten_thousand_records_are_accepted(server, env):
    response = post(server, env.ingest, json.dumps(_bulk(10_000)).encode())
    assert response.status_code == 200, response.text
    assert response.json()["data"]["counts"] == {"accepted": 10_000, "duplicate": 0, "rejected": 0}
    assert usage(server, env) == {"bulk": {"tier_720p": 10}}


@pytest.mark.parametrize("form", ["array", "ndjson"])
def test_more_than_ten_thousand_records_is_413(store, server, env, form):
    records = _bulk(10_001)
    if form == "array":
        body = json.dumps(records).encode()
    else:
        body = "".join(json.dumps(r) + "\n" for r in records).encode()
    response = post(server, env.ingest, body)
    assert response.status_code == 413
    error = response.json()["error"]
    assert error["type"] == "payload_too_large"
    assert error["messages"] == ["a batch is at most 10000 records, got 10001; split it"]
    assert store.list_receipts(env.env.env_key) == []
    assert usage(server, env) == {}


def test_a_body_over_10_mb_is_413(store, server, env):
    body = b"[" + b" " * (10 * 1024 * 1024) + b"]"
    response = post(server, env.ingest, body)
    assert response.status_code == 413
    assert response.json() == {
        "error": {
            "type": "payload_too_large",
            "messages": [f"the body is larger than {10 * 1024 * 1024} bytes"],
        }
    }
    assert store.list_receipts(env.env.env_key) == []


def test_a_broken_json_array_is_400(store, server, env):
    response = post(server, env.ingest, b'[{"timestamp": 1607987000,')
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["type"] == "invalid_parameters"
    assert error["messages"][0].startswith("invalid JSON array")
    assert store.list_receipts(env.env.env_key) == []


# -- receipts -------------------------------------------------------------------------------
def test_receipts_list_and_detail_with_quarantine(server, env):
    receipt_id = post(server, env.ingest, ARRAY_BODY).json()["data"]["receipt_id"]
    with server.client(env.read) as client:
        listed = client.get("/v1/receipts")
        detail = client.get(f"/v1/receipts/{receipt_id}")
    assert listed.status_code == 200 and detail.status_code == 200
    (receipt,) = listed.json()["data"]
    assert receipt["receipt_id"] == receipt_id
    assert receipt["environment_id"] == env.env.environment_id
    assert (receipt["source"], receipt["name"]) == ("batch", "POST /v1/events")
    assert receipt["byte_size"] == len(ARRAY_BODY)
    counts = [receipt[k] for k in ("lines_read", "accepted", "duplicate", "rejected")]
    assert counts == [8, 3, 1, 4]
    assert receipt["first_ts_us"] == 1607987000 * 1_000_000
    assert receipt["last_ts_us"] == 1607988600 * 1_000_000
    assert receipt["notes"]["rejected: timestamp"] == 1
    assert receipt["notes"]["rejected: unknown field(s)"] == 1
    assert receipt["notes"]["rejected: kind"] == 1

    data = detail.json()["data"]
    assert {k: v for k, v in data.items() if k != "quarantine"} == receipt
    quarantine = data["quarantine"]
    assert [(q["line"], q["reason"]) for q in quarantine[:3]] == [
        (3, "timestamp: missing"),
        (4, "unknown field(s): colour"),
        (5, "expected a JSON object, got int"),
    ]
    assert [q["line"] for q in quarantine] == [3, 4, 5, 7]
    assert quarantine[3]["reason"].startswith("kind: 'video'")
    assert json.loads(quarantine[1]["raw"]) == ARRAY[3]
    assert quarantine[2]["raw"] == "42"


def test_ndjson_quarantine_keeps_physical_line_numbers(server, env):
    body = b'{"timestamp": 1607987000, "asset_id": "bulk", "duration": 1}\n\n\n{oops\n'
    receipt_id = post(server, env.ingest, body).json()["data"]["receipt_id"]
    with server.client(env.read) as client:
        data = client.get(f"/v1/receipts/{receipt_id}").json()["data"]
    assert (data["lines_read"], data["accepted"], data["rejected"]) == (2, 1, 1)
    (entry,) = data["quarantine"]
    assert entry["line"] == 4 and entry["raw"] == "{oops"
    assert entry["reason"].startswith("invalid JSON")


def test_receipt_of_another_environment_is_404(store, server, env):
    receipt_id = post(server, env.ingest, ARRAY_BODY).json()["data"]["receipt_id"]
    other = make_tenant(store, "other")
    for token in (other.read, other.admin):
        with server.client(token) as client:
            response = client.get(f"/v1/receipts/{receipt_id}")
            assert response.status_code == 404
            assert response.json()["error"]["type"] == "not_found"
            assert receipt_id in response.json()["error"]["messages"][0]
            assert client.get("/v1/receipts").json()["data"] == []
    with server.client(env.read) as client:
        assert client.get("/v1/receipts/rcpt_doesnotexist").status_code == 404
