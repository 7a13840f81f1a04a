"""The Wowza usage family over HTTP, against a small fixture whose numbers are worked out by hand
below (docs/api/wowza-usage.md).

Account `acme` owns `prod` and `staging`; account `other` owns `other`. The window is
2026-11-22 09:00-12:00 UTC. `prod` has targets `cdn-a` (primary) and `cdn-b` (additional).

| record | env | when | what | seconds | bytes | session |
|---|---|---|---|---|---|---|
| r0 | prod | 08:59:59 | vod1 segment | (outside) | | |
| r1 | prod | 09:10:00 | vod1 segment 1080p | 6 | 1,000,000 | s1 |
| r2 | prod | 09:10:30 | vod1 segment 1080p | 6 | 1,000,000 | s1 |
| r3 | prod | 09:40:00 | vod1 manifest | 0 | 2,000 | s1 |
| r4 | prod | 10:15:00 | live1 segment, live | 2.5 | 500,000 | s2 |
| r5 | prod | 10:15:20 | live1 segment, live, served by cdn-b | 2.5 | 500,000 | s2 |
| r6 | prod | 11:59:59 | playback id of vod1 | 4 | 300,000 | (no sid: ip, ua, vod1, day) |
| r7 | prod | 12:00:00 | vod1 segment | (outside) | | |
| e1 | prod | 09:10:00 | egress vod1 (primary) | 6 | 1,200,000 | |
| e2 | prod | 10:15:00 | egress live1, live, by cdn-b (additional) | 2.5 | 600,000 | |
| e3 | prod | 11:00:00 | egress vod1, status 404 | 0 | 300 | |
| st1 | staging | 11:30:00 | stg1 segment | 10 | 800,000 | s9 |
| o1 | other | 10:00:00 | oth1 segment | 1000 | 9,999,999 | o |

acme, all resources: viewing 6+6+2.5+2.5+4+10 = 31 s; bytes 4,102,000; egress 6+2.5+0 = 8.5 s
-> 8 (half to even); additional 2.5 -> 2; egress bytes 1,800,300; sessions s1, s2, (vod1
anonymous), s9 = 4, so avg 31/4 = 7.75 -> 8.
"""

from __future__ import annotations

import hashlib
import hmac
from pathlib import Path

import jwt
import pytest

from streammeter.api.wowza_auth import hmac_signature, issue_jwt
from streammeter.ingest.importer import import_file
from streammeter.model.catalog import Asset
from streammeter.store.base import DeliveryTarget
from tests.conftest import make_tenant, write_ndjson

NOW = "2026-11-23T01:00:00Z"  # Mux's 12-hour lag has passed for the window; minutes are kept
NOW_S = 1795395600
FROM, TO = "2026-11-22 09:00:00", "2026-11-22 12:00:00"
WINDOW = {"from": FROM, "to": TO}
T0 = 1795338000  # 2026-11-22T09:00:00Z

PROD = [
    {"id": "r0", "timestamp": "2026-11-22T08:59:59Z", "asset_id": "vod1", "duration": 4,
     "bytes": 300_000, "tier": "1080p", "session_id": "s0"},
    {"id": "r1", "timestamp": "2026-11-22T09:10:00Z", "asset_id": "vod1", "duration": 6,
     "bytes": 1_000_000, "tier": "1080p", "session_id": "s1"},
    {"id": "r2", "timestamp": "2026-11-22T09:10:30Z", "asset_id": "vod1", "duration": "6.0",
     "bytes": 1_000_000, "tier": "1080p", "session_id": "s1"},
    {"id": "r3", "timestamp": "2026-11-22T09:40:00Z", "asset_id": "vod1", "kind": "manifest",
     "bytes": 2_000, "session_id": "s1"},
    {"id": "r4", "timestamp": "2026-11-22T10:15:00Z", "asset_id": "live1", "duration": 2.5,
     "bytes": 500_000, "tier": "720p", "session_id": "s2", "live": True},
    {"id": "r5", "timestamp": "2026-11-22T10:15:20Z", "asset_id": "live1", "duration": 2.5,
     "bytes": 500_000, "tier": "720p", "session_id": "s2", "live": "true", "target": "cdn-b"},
    {"id": "r6", "timestamp": "2026-11-22T11:59:59Z", "playback_id": "pb-vod1", "duration": 4,
     "bytes": 300_000, "tier": "1080p"},
    {"id": "r7", "timestamp": "2026-11-22T12:00:00Z", "asset_id": "vod1", "duration": 4,
     "bytes": 300_000, "tier": "1080p", "session_id": "s7"},
    {"id": "e1", "timestamp": "2026-11-22T09:10:00Z", "asset_id": "vod1", "kind": "egress",
     "duration": 6, "bytes": 1_200_000},
    {"id": "e2", "timestamp": "2026-11-22T10:15:00Z", "asset_id": "live1", "kind": "egress",
     "duration": 2.5, "bytes": 600_000, "live": True, "target": "cdn-b", "primary": False},
    {"id": "e3", "timestamp": "2026-11-22T11:00:00Z", "asset_id": "vod1", "kind": "egress",
     "duration": 6, "bytes": 300, "status": 404},
]  # fmt: skip
STAGING = [
    {"id": "st1", "timestamp": "2026-11-22T11:30:00Z", "asset_id": "stg1", "duration": 10,
     "bytes": 800_000, "session_id": "s9"},
]  # fmt: skip
OTHER = [
    {"id": "o1", "timestamp": "2026-11-22T10:00:00Z", "asset_id": "oth1", "duration": 1000,
     "bytes": 9_999_999, "session_id": "o"},
]  # fmt: skip


def asset(asset_id: str, tier: str, **extra: object) -> Asset:
    return Asset(asset_id=asset_id, asset_resolution_tier=tier, created_at=1790000000, **extra)


@pytest.fixture
def acme(store, tmp_path: Path, monkeypatch):
    monkeypatch.setenv("STREAMMETER_NOW", NOW)
    monkeypatch.delenv("STREAMMETER_JWT_SECRET", raising=False)
    prod = make_tenant(store, "prod", "acme")
    staging = make_tenant(store, "staging", "acme")
    other = make_tenant(store, "other", "other")
    store.upsert_assets(
        prod.env.env_key,
        [
            asset("vod1", "1080p", passthrough="Intro film", playback_ids=["pb-vod1"]),
            asset("live1", "720p", live_stream_id="ls1"),
        ],
    )
    store.upsert_assets(staging.env.env_key, [asset("stg1", "720p")])
    store.upsert_assets(other.env.env_key, [asset("oth1", "1080p", live_stream_id="ls-other")])
    store.add_delivery_target(
        DeliveryTarget(prod.env.env_key, "cdn-a", "CDN A", True, ("cdn-a.example.com",))
    )
    store.add_delivery_target(DeliveryTarget(prod.env.env_key, "cdn-b", "CDN B"))
    for tenant, records in ((prod, PROD), (staging, STAGING), (other, OTHER)):
        path = write_ndjson(tmp_path / f"{tenant.env.name}.ndjson", records)
        receipt = import_file(store, tenant.env.env_key, path)
        assert receipt.rejected == 0, store.quarantined(receipt.receipt_id)
    return {"prod": prod, "staging": staging, "other": other}


def bearer(store, account: str = "acme", expires_in_s: int | None = 3600) -> dict[str, str]:
    token, _ = issue_jwt(store, account, now_s=NOW_S, expires_in_s=expires_in_s)
    return {"Authorization": f"Bearer {token}"}


def get(server, path: str, headers: dict[str, str] | None = None, params=None):
    with server.client() as client:
        return client.get(path, headers=headers or {}, params=params)


# -- the golden response --------------------------------------------------------------------
def test_golden_account_response(acme, server, store):
    response = get(server, "/api/v2.0/usage/account", bearer(store), {**WINDOW, "include": "trend"})
    assert response.status_code == 200
    assert response.headers["cache-control"] == "max-age=60"
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    trend = body["account"].pop("trend")
    assert body == {
        "account": {
            "id": "acme",
            "viewing_seconds": 31,
            "avg_viewing_seconds": 8,
            "viewing_bytes": 4_102_000,
            "egress_seconds": 8,
            "egress_seconds_additional_targets": 2,
            "egress_bytes": 1_800_300,
        },
        "limits": {
            "resources": ["transcoders", "vod_streams"],
            "from": "2026-11-22T09:00:00.000Z",
            "to": "2026-11-22T12:00:00.000Z",
        },
    }
    # 3 hours: one sample per minute, every minute, zeros included.
    assert len(trend) == 180
    assert trend[0] == {"sampled_at": "2026-11-22T09:00:00.000Z", "viewing_seconds": 0,
                        "viewing_bytes": 0}  # fmt: skip
    non_zero = {s["sampled_at"][11:16]: (s["viewing_seconds"], s["viewing_bytes"])
                for s in trend if s["viewing_bytes"]}  # fmt: skip
    assert non_zero == {
        "09:10": (12, 2_000_000),
        "09:40": (0, 2_000),
        "10:15": (5, 1_000_000),
        "11:30": (10, 800_000),
        "11:59": (4, 300_000),
    }
    assert list(body["account"]) == [
        "id", "viewing_seconds", "avg_viewing_seconds", "viewing_bytes", "egress_seconds",
        "egress_seconds_additional_targets", "egress_bytes",
    ]  # fmt: skip


@pytest.mark.parametrize("path", ["/usage/account", "/usage/accounts"])
@pytest.mark.parametrize("version", ["v1.8", "v1.9", "v1.10", "v1.11", "v2.0", "current"])
def test_every_version_and_the_alias(acme, server, store, version, path):
    response = get(server, f"/api/{version}{path}", bearer(store), WINDOW)
    assert response.status_code == 200
    assert response.json()["account"]["viewing_seconds"] == 31
    assert "trend" not in response.json()["account"]  # only with include=trend


def test_unknown_version_is_404_in_the_meta_envelope(acme, server, store):
    response = get(server, "/api/v1.7/usage/account", bearer(store))
    assert response.status_code == 404
    assert response.json()["meta"]["code"] == "ERR-404-RecordNotFound"


@pytest.mark.parametrize(
    ("operator", "value", "expected"),
    [
        ("eq", "transcoders",
         {"viewing_seconds": 5, "avg_viewing_seconds": 5, "viewing_bytes": 1_000_000,
          "egress_seconds": 2, "egress_seconds_additional_targets": 2, "egress_bytes": 600_000}),
        ("eq", "vod_streams",
         {"viewing_seconds": 26, "avg_viewing_seconds": 9, "viewing_bytes": 3_102_000,
          "egress_seconds": 6, "egress_seconds_additional_targets": 0,
          "egress_bytes": 1_200_300}),
        ("in", "transcoders,vod_streams",
         {"viewing_seconds": 31, "avg_viewing_seconds": 8, "viewing_bytes": 4_102_000,
          "egress_seconds": 8, "egress_seconds_additional_targets": 2,
          "egress_bytes": 1_800_300}),
    ],
)  # fmt: skip
def test_resource_filters(acme, server, store, operator, value, expected):
    params = {**WINDOW, "filter[0][field]": "resource", f"filter[0][{operator}]": value}
    body = get(server, "/api/v2.0/usage/account", bearer(store), params).json()
    assert {k: v for k, v in body["account"].items() if k != "id"} == expected
    assert body["limits"]["resources"] == value.split(",")


def test_bad_filter_is_422(acme, server, store):
    params = {**WINDOW, "filter[0][field]": "resource", "filter[0][eq]": "live_streams"}
    response = get(server, "/api/v2.0/usage/account", bearer(store), params)
    assert response.status_code == 422
    meta = response.json()["meta"]
    assert meta["code"] == "ERR-422-RecordInvalid"
    assert meta["message"].startswith("The request couldn't be processed.")
    assert "cache-control" not in response.headers


def test_bad_time_is_422_invalid_time_format(acme, server, store):
    response = get(server, "/api/v2.0/usage/account", bearer(store), {"from": "11/22/2026"})
    assert response.status_code == 422
    assert response.json() == {
        "meta": {
            "status": 422,
            "code": "ERR-422-InvalidTimeFormat",
            "title": "Invalid Time Format Error",
            "message": "Invalid time format.",
            "description": response.json()["meta"]["description"],
            "links": [],
        }
    }


@pytest.mark.parametrize(
    ("params", "limits", "seconds"),
    [
        ({"from": "2026-11-22 09:00:00", "to": "2026-11-22 12:00:00"},
         ("2026-11-22T09:00:00.000Z", "2026-11-22T12:00:00.000Z"), 31),
        ({"from": "2026-11-22T08:00:01Z", "to": "2026-11-22T11:00:00.001Z"},
         ("2026-11-22T09:00:00.000Z", "2026-11-22T12:00:00.000Z"), 31),
        ({"from": "2026-11-22T04:00:00-05:00", "to": "2026-11-22T17:30:00+05:30"},
         ("2026-11-22T09:00:00.000Z", "2026-11-22T12:00:00.000Z"), 31),
        # The whole day: r0 (08:59:59) and r7 (12:00:00) too.
        ({"from": "2026-11-22", "to": "2026-11-23"},
         ("2026-11-22T00:00:00.000Z", "2026-11-23T00:00:00.000Z"), 39),
        # Rounded up: 08:59:59 -> 09:00 leaves r0 out, 12:00:00.001 -> 13:00 takes r7 in.
        ({"from": "2026-11-22T08:59:59Z", "to": "2026-11-22T12:00:00.001Z"},
         ("2026-11-22T09:00:00.000Z", "2026-11-22T13:00:00.000Z"), 35),
    ],
)  # fmt: skip
def test_time_forms_over_http(acme, server, store, params, limits, seconds):
    body = get(server, "/api/v2.0/usage/account", bearer(store), params).json()
    assert (body["limits"]["from"], body["limits"]["to"]) == limits
    assert body["account"]["viewing_seconds"] == seconds


def test_space_and_offset_survive_url_encoding(acme, server, store):
    """`+` and space in a raw query string: `+` means space, `%2B` is a real plus."""
    with server.client() as client:
        raw = client.get(
            "/api/v2.0/usage/account?from=2026-11-22+09:00:00&to=2026-11-22T17:30:00%2B05:30",
            headers=bearer(store),
        ).json()
        unencoded = client.get(
            "/api/v2.0/usage/account?from=2026-11-22%2009:00:00&to=2026-11-22T17:30:00+05:30",
            headers=bearer(store),
        ).json()
    assert (
        raw["limits"]
        == unencoded["limits"]
        == {
            "resources": ["transcoders", "vod_streams"],
            "from": "2026-11-22T09:00:00.000Z",
            "to": "2026-11-22T12:00:00.000Z",
        }
    )


def test_last_bill_date_and_defaults(acme, server, store):
    store.set_bill_anchor("acme", "2026-10-22")
    headers = bearer(store)
    default = get(server, "/api/v2.0/usage/account", headers).json()
    assert default["limits"] == {
        "resources": ["transcoders", "vod_streams"],
        "from": "2026-11-22T00:00:00.000Z",  # last bill date
        "to": "2026-11-24T00:00:00.000Z",  # end of the current UTC day (Nov 23)
    }
    assert default["account"]["viewing_seconds"] == 31 + 4 + 4  # r0 and r7 are in it too
    as_from = get(
        server, "/api/v2.0/usage/account", headers, {"from": "last_bill_date", "to": TO}
    ).json()
    assert as_from["limits"]["from"] == "2026-11-22T00:00:00.000Z"
    assert as_from["account"]["viewing_seconds"] == 31 + 4  # r0 too
    as_to = get(
        server, "/api/v2.0/usage/account", headers, {"from": "2026-11-21", "to": "last_bill_date"}
    ).json()
    assert as_to["limits"]["to"] == "2026-11-22T00:00:00.000Z"
    assert as_to["account"]["viewing_seconds"] == 0


def test_longer_than_90_days_is_clamped(acme, server, store):
    body = get(
        server, "/api/v2.0/usage/account", bearer(store), {"from": "2026-08-01", "to": "2026-12-31"}
    ).json()
    assert (body["limits"]["from"], body["limits"]["to"]) == (
        "2026-08-01T00:00:00.000Z", "2026-10-30T00:00:00.000Z",
    )  # fmt: skip


# -- trend granularity ----------------------------------------------------------------------
@pytest.mark.parametrize(
    ("params", "samples", "step_s", "first"),
    [
        ({"from": FROM, "to": TO}, 180, 60, "2026-11-22T09:00:00.000Z"),  # 3 h
        ({"from": FROM, "to": "2026-11-22T12:00:01Z"}, 4, 3600, "2026-11-22T09:00:00.000Z"),
        ({"from": "2026-11-21 12:00:00", "to": TO}, 24, 3600, "2026-11-21T12:00:00.000Z"),
        ({"from": "2026-11-21 12:00:00", "to": "2026-11-22T12:00:01Z"}, 2, None,
         "2026-11-21T12:00:00.000Z"),  # 24 h + 1 s: days
        ({"from": "2026-08-25", "to": "2026-11-23"}, 90, 86_400, "2026-08-25T00:00:00.000Z"),
    ],
)  # fmt: skip
def test_trend_granularity(acme, server, store, params, samples, step_s, first):
    body = get(
        server, "/api/v2.0/usage/account", bearer(store), {**params, "include": "trend"}
    ).json()
    trend = body["account"]["trend"]
    assert len(trend) == samples
    assert trend[0]["sampled_at"] == first
    if step_s:
        from datetime import datetime

        stamps = [datetime.fromisoformat(s["sampled_at"].replace("Z", "+00:00")) for s in trend]
        assert {(b - a).total_seconds() for a, b in zip(stamps, stamps[1:], strict=False)} == {
            step_s
        }
    # Samples add up to the window's total (each rounded on its own; here all are whole).
    assert sum(s["viewing_bytes"] for s in trend) == body["account"]["viewing_bytes"]


def test_day_trend_sums_hours_into_utc_days(acme, server, store):
    body = get(
        server, "/api/v2.0/usage/account", bearer(store),
        {"from": "2026-11-21 12:00:00", "to": "2026-11-23 00:00:00", "include": "trend"},
    ).json()  # fmt: skip
    assert body["account"]["trend"] == [
        {"sampled_at": "2026-11-21T12:00:00.000Z", "viewing_seconds": 0, "viewing_bytes": 0},
        {"sampled_at": "2026-11-22T00:00:00.000Z", "viewing_seconds": 39,
         "viewing_bytes": 4_702_000},
    ]  # fmt: skip


# -- auth -----------------------------------------------------------------------------------
def meta(response) -> tuple[int, str]:
    return response.status_code, response.json()["meta"]["code"]


def test_expired_jwt(acme, server, store):
    token, _ = issue_jwt(store, "acme", now_s=NOW_S - 7200, expires_in_s=3600)
    response = get(server, "/api/v2.0/usage/account", {"Authorization": f"Bearer {token}"})
    assert meta(response) == (401, "ERR-401-ExpiredToken")
    assert response.json()["meta"]["title"] == "JWT is expired"


def test_jwt_without_exp_does_not_expire(acme, server, store):
    response = get(server, "/api/v2.0/usage/account", bearer(store, expires_in_s=None), WINDOW)
    assert response.status_code == 200


@pytest.mark.parametrize(
    "forge",
    [
        lambda store: jwt.encode({"account": "acme"}, "not-the-secret" * 4, algorithm="HS256"),
        lambda store: jwt.encode({"account": "acme"}, None, algorithm="none"),
        lambda store: jwt.encode({"account": "acme"}, store.jwt_secret(), algorithm="HS512"),
        lambda store: "not.a.jwt",
        lambda store: _swap_claims(issue_jwt(store, "other", now_s=NOW_S, expires_in_s=60)[0]),
        lambda store: jwt.encode({"sub": "acme"}, store.jwt_secret(), algorithm="HS256"),
    ],
    ids=["other-secret", "alg-none", "hs512", "garbage", "tampered-claims", "no-account-claim"],
)
def test_forged_jwt_is_invalid(acme, server, store, forge):
    token = forge(store)
    response = get(server, "/api/v2.0/usage/account", {"Authorization": f"Bearer {token}"})
    assert meta(response) == (401, "ERR-401-InvalidToken")


def _swap_claims(token: str) -> str:
    """Keep the signature of a token for `other`, put `acme` in the payload."""
    import base64
    import json

    header, _, signature = token.split(".")
    payload = base64.urlsafe_b64encode(json.dumps({"account": "acme"}).encode()).rstrip(b"=")
    return f"{header}.{payload.decode()}.{signature}"


def test_valid_token_for_an_unknown_account_is_403(acme, server, store):
    token = jwt.encode({"account": "ghost"}, store.jwt_secret(), algorithm="HS256")
    response = get(server, "/api/v2.0/usage/account", {"Authorization": f"Bearer {token}"})
    assert meta(response) == (403, "ERR-403-RecordUnaccessible")


def test_missing_or_wrong_scheme(acme, server, store):
    assert meta(get(server, "/api/v2.0/usage/account")) == (401, "ERR-401-InvalidToken")
    assert meta(get(server, "/api/v1.8/usage/account")) == (401, "ERR-401-NoApiKey")
    basic = {"Authorization": "Basic dXNlcjpwYXNz"}
    assert meta(get(server, "/api/v2.0/usage/account", basic)) == (401, "ERR-401-InvalidToken")


def test_server_secret_from_the_environment(acme, server, store, monkeypatch):
    old = bearer(store)
    monkeypatch.setenv("STREAMMETER_JWT_SECRET", "a-configured-secret-of-32-bytes!!")
    assert meta(get(server, "/api/v2.0/usage/account", old)) == (401, "ERR-401-InvalidToken")
    assert get(server, "/api/v2.0/usage/account", bearer(store), WINDOW).status_code == 200


def test_legacy_key_pair_on_v1_8_only(acme, server, store):
    key = store.create_legacy_key("acme")
    headers = {"wsc-api-key": key.api_key, "wsc-access-key": key.access_key}
    response = get(server, "/api/v1.8/usage/account", headers, WINDOW)
    assert response.status_code == 200
    assert response.json()["account"]["viewing_seconds"] == 31
    assert meta(get(server, "/api/v1.9/usage/account", headers)) == (401, "ERR-401-InvalidToken")
    wrong = {**headers, "wsc-api-key": "0" * 64}
    assert meta(get(server, "/api/v1.8/usage/account", wrong)) == (401, "ERR-401-InvalidApiKey")
    unknown = {**headers, "wsc-access-key": "0" * 64}
    assert meta(get(server, "/api/v1.8/usage/account", unknown)) == (
        401, "ERR-401-InvalidAccessKey",
    )  # fmt: skip
    only_api = {"wsc-api-key": key.api_key}
    assert meta(get(server, "/api/v1.8/usage/account", only_api)) == (
        401, "ERR-401-NoAccessKey",
    )  # fmt: skip
    only_access = {"wsc-access-key": key.access_key}
    assert meta(get(server, "/api/v1.8/usage/account", only_access)) == (401, "ERR-401-NoApiKey")


def test_hmac_signature(acme, server, store):
    key = store.create_legacy_key("acme")
    path = "/api/v1.8/usage/account"
    timestamp = str(NOW_S - 10)
    # The formula of the official Streaming Cloud SDKs, written out independently here.
    data = f"{timestamp}:{path}:{key.api_key}".encode()
    signature = hmac.new(key.api_key.encode(), data, hashlib.sha256).hexdigest()
    assert signature == hmac_signature(key.api_key, timestamp, path + "/?from=x")
    headers = {"wsc-access-key": key.access_key, "wsc-timestamp": timestamp,
               "wsc-signature": signature}  # fmt: skip
    response = get(server, path, headers, WINDOW)
    assert response.status_code == 200
    assert response.json()["account"]["id"] == "acme"
    # Upper-case hex is the same signature.
    upper = {**headers, "wsc-signature": signature.upper()}
    assert get(server, path, upper, WINDOW).status_code == 200
    # A signature for another path, a wrong key, a stale or a missing timestamp: refused.
    other_path = hmac_signature(key.api_key, timestamp, "/api/v1.8/usage/stream_targets")
    for bad in (
        {**headers, "wsc-signature": other_path},
        {**headers, "wsc-signature": hmac_signature("0" * 64, timestamp, path)},
        {**headers, "wsc-timestamp": str(NOW_S - 3600),
         "wsc-signature": hmac_signature(key.api_key, str(NOW_S - 3600), path)},
        {**headers, "wsc-timestamp": "yesterday"},
    ):  # fmt: skip
        assert meta(get(server, path, bad)) == (401, "ERR-401-InvalidApiKey")
    no_access = {k: v for k, v in headers.items() if k != "wsc-access-key"}
    assert meta(get(server, path, no_access)) == (401, "ERR-401-NoAccessKey")
    unknown = {**headers, "wsc-access-key": "f" * 64}
    assert meta(get(server, path, unknown)) == (401, "ERR-401-InvalidAccessKey")
    # JWT-only versions ignore the scheme.
    v2 = hmac_signature(key.api_key, timestamp, "/api/v2.0/usage/account")
    assert meta(
        get(server, "/api/v2.0/usage/account", {**headers, "wsc-signature": v2})
    ) == (401, "ERR-401-InvalidToken")  # fmt: skip


# -- isolation and the Mux endpoint ---------------------------------------------------------
def test_one_account_never_sees_another(acme, server, store):
    theirs = get(server, "/api/v2.0/usage/account", bearer(store, "other"), WINDOW).json()
    assert theirs["account"] == {
        "id": "other", "viewing_seconds": 1000, "avg_viewing_seconds": 1000,
        "viewing_bytes": 9_999_999, "egress_seconds": 0, "egress_seconds_additional_targets": 0,
        "egress_bytes": 0,
    }  # fmt: skip
    ours = get(server, "/api/v2.0/usage/vod_streams", bearer(store), WINDOW).json()
    assert "oth1" not in [item["id"] for item in ours["vod_streams"]]
    for path in ("/vod_streams/vod1", "/transcoders/ls1", "/stream_targets/cdn-a"):
        response = get(server, f"/api/v2.0/usage{path}", bearer(store, "other"), WINDOW)
        assert meta(response) == (404, "ERR-404-RecordNotFound")
    listing = get(server, "/api/v2.0/usage/transcoders", bearer(store, "other"), WINDOW).json()
    assert [t["id"] for t in listing["transcoders"]] == ["ls-other"]


def test_viewing_totals_equal_the_mux_endpoint(acme, server, store):
    total_us = 0
    for name in ("prod", "staging"):
        with server.client(acme[name].read) as client:
            body = client.get(
                "/video/v1/delivery-usage",
                params={"timeframe[]": [str(T0), str(T0 + 3 * 3600)]},
            ).json()
        total_us += sum(round(row["delivered_seconds"] * 1_000_000) for row in body["data"])
    wowza = get(server, "/api/v2.0/usage/account", bearer(store), WINDOW).json()
    assert total_us == 31_000_000
    assert wowza["account"]["viewing_seconds"] == round(total_us / 1_000_000)


# -- the family -----------------------------------------------------------------------------
LIMITS = {"from": "2026-11-22T09:00:00.000Z", "to": "2026-11-22T12:00:00.000Z"}


def test_stream_targets(acme, server, store):
    headers = bearer(store)
    listing = get(server, "/api/v2.0/usage/stream_targets", headers, WINDOW)
    assert listing.headers["cache-control"] == "max-age=60"
    assert listing.json() == {
        "stream_targets": [
            # Records with no target are the primary target's: r1, r2, r3, r4, r6.
            {"id": "cdn-a", "name": "CDN A", "archived": False, "type": "fastly",
             "viewing_seconds": 18, "viewing_bytes": 2_802_000},  # 18.5 -> 18
            {"id": "cdn-b", "name": "CDN B", "archived": False, "type": "fastly",
             "viewing_seconds": 2, "viewing_bytes": 500_000},  # 2.5 -> 2
        ],
        "pagination": {"payload_version": "2.0", "total_records": 2, "next_page_key": None,
                       "per_page": 1000, "total_pages": 1},
        "limits": LIMITS,
    }  # fmt: skip
    one = get(
        server, "/api/v2.0/usage/stream_targets/cdn-b", headers, {**WINDOW, "include": "trend"}
    ).json()
    trend = one["stream_target"].pop("trend")
    assert one == {
        "stream_target": {"id": "cdn-b", "name": "CDN B", "archived": False, "type": "fastly",
                          "viewing_seconds": 2, "viewing_bytes": 500_000,
                          "zones": [{"name": "global", "type": "fastly",
                                     "viewing_bytes": 500_000}]},
        "limits": LIMITS,
    }  # fmt: skip
    assert [s for s in trend if s["viewing_bytes"]] == [
        {"sampled_at": "2026-11-22T10:15:00.000Z", "viewing_seconds": 2, "viewing_bytes": 500_000}
    ]
    summary = get(server, "/api/v2.0/usage/stream_targets/summary", headers, WINDOW).json()
    assert summary == {
        "summary": {"viewing_seconds": 21, "viewing_bytes": 3_302_000,
                    "zones": [{"name": "global", "type": "fastly", "viewing_bytes": 3_302_000}]},
        "limits": LIMITS,
    }  # fmt: skip
    missing = get(server, "/api/v2.0/usage/stream_targets/nope", headers, WINDOW)
    assert meta(missing) == (404, "ERR-404-RecordNotFound")


def test_transcoders(acme, server, store):
    headers = bearer(store)
    listing = get(server, "/api/v2.0/usage/transcoders", headers, WINDOW).json()
    assert listing == {
        "transcoders": [
            {"id": "ls1", "name": "ls1", "archived": False, "transcoder_type": "transcoded",
             "billing_mode": "pay_as_you_go", "egress_bytes": 600_000, "egress_seconds": 2,
             "egress_seconds_additional_targets": 2},
        ],
        "pagination": {"payload_version": "1.0", "total_records": 1, "page": 1, "per_page": 1000,
                       "total_pages": 1, "page_first_index": 0, "page_last_index": 0},
        "limits": LIMITS,
    }  # fmt: skip
    one = get(server, "/api/v2.0/usage/transcoders/ls1", headers, WINDOW).json()
    assert one == {
        "transcoder": {"id": "ls1", "name": "ls1", "archived": False,
                       "transcoder_type": "transcoded", "billing_mode": "pay_as_you_go",
                       "egress_bytes": 600_000, "egress_seconds": 2,
                       "egress_seconds_additional_targets": 2, "viewing_seconds": 5,
                       "viewing_bytes": 1_000_000},
        "limits": LIMITS,
    }  # fmt: skip
    summary = get(server, "/api/v2.0/usage/transcoders/summary", headers, WINDOW).json()
    assert summary["summary"] == {
        "egress_bytes": 600_000, "egress_seconds": 2,
        "configurations": [{"transcoder_type": "transcoded", "billing_mode": "pay_as_you_go",
                            "egress_bytes": 600_000, "egress_seconds": 2}],
    }  # fmt: skip
    past_the_end = get(
        server, "/api/v2.0/usage/transcoders", headers, {**WINDOW, "page": 2, "per_page": 1}
    ).json()
    assert past_the_end["transcoders"] == []
    assert past_the_end["pagination"] == {
        "payload_version": "1.0", "total_records": 1, "page": 2, "per_page": 1,
        "total_pages": 1, "page_first_index": None, "page_last_index": None,
    }  # fmt: skip


def test_vod_streams_and_next_page_key(acme, server, store):
    headers = bearer(store)
    first = get(server, "/api/v2.0/usage/vod_streams", headers, {**WINDOW, "per_page": 2}).json()
    assert first["vod_streams"] == [
        # live1 is an asset too; its usage in the window was live (transcoders).
        {"id": "live1", "name": "live1", "archived": False, "type": "fastly",
         "viewing_seconds": 0, "viewing_bytes": 0},
        {"id": "stg1", "name": "stg1", "archived": False, "type": "fastly",
         "viewing_seconds": 10, "viewing_bytes": 800_000},
    ]  # fmt: skip
    assert first["pagination"] == {
        "payload_version": "2.0", "total_records": 3, "next_page_key": "vod1", "per_page": 2,
        "total_pages": 2,
    }  # fmt: skip
    second = get(
        server, "/api/v2.0/usage/vod_streams", headers,
        {**WINDOW, "per_page": 2, "next_page_key": first["pagination"]["next_page_key"]},
    ).json()  # fmt: skip
    assert second["vod_streams"] == [
        {"id": "vod1", "name": "Intro film", "archived": False, "type": "fastly",
         "viewing_seconds": 16, "viewing_bytes": 2_302_000},
    ]  # fmt: skip
    assert second["pagination"]["next_page_key"] is None
    one = get(server, "/api/v2.0/usage/vod_streams/vod1", headers, WINDOW).json()
    assert one == {
        "vod_stream": {"id": "vod1", "name": "Intro film", "archived": False, "type": "fastly",
                       "viewing_seconds": 16, "viewing_bytes": 2_302_000,
                       "egress_bytes": 1_200_300, "egress_seconds": 6},
        "limits": LIMITS,
    }  # fmt: skip
    summary = get(server, "/api/v2.0/usage/vod_streams/summary", headers, WINDOW).json()
    assert summary["summary"] == {
        "viewing_seconds": 26, "viewing_bytes": 3_102_000, "egress_seconds": 6,
        "egress_bytes": 1_200_300,
    }  # fmt: skip
    too_many = get(server, "/api/v2.0/usage/vod_streams", headers, {"per_page": 1001})
    assert meta(too_many) == (422, "ERR-422-RecordInvalid")


def test_deleted_asset_is_archived(acme, server, store):
    store.delete_asset(acme["prod"].env.env_key, "vod1", NOW_S)
    one = get(server, "/api/v2.0/usage/vod_streams/vod1", bearer(store), WINDOW).json()
    assert one["vod_stream"]["archived"] is True
    assert one["vod_stream"]["viewing_seconds"] == 16  # usage is kept
