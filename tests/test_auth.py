"""Access tokens (HTTP Basic id:secret with scopes) and environment isolation, over HTTP."""

from __future__ import annotations

import base64
import hashlib
import uuid
from pathlib import Path

import httpx
import pytest

from streammeter.ingest.importer import import_file
from streammeter.model.catalog import Asset
from tests.conftest import make_tenant, raw_query, write_ndjson

PATH = "/video/v1/delivery-usage"
NOW = 1607990400 + 12 * 3600  # default window: [1607986800, 1607990400)
WINDOW = [1607986800, 1607990400]
UNAUTHORIZED = {"error": {"type": "unauthorized", "messages": ["Unauthorized request"]}}


def basic(token_id: str, secret: str) -> str:
    return "Basic " + base64.b64encode(f"{token_id}:{secret}".encode()).decode()


def raw_get(server, headers=None, url=PATH):
    with httpx.Client(base_url=server.url, timeout=30) as client:
        return client.get(url, headers=headers or {})


def assert_unauthorized(response):
    assert response.status_code == 401, response.text
    assert "application/json" in response.headers["content-type"]
    assert response.json() == UNAUTHORIZED


def assert_forbidden(response, scope):
    assert response.status_code == 403, response.text
    assert "application/json" in response.headers["content-type"]
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"type", "messages"}
    assert body["error"]["type"] == "forbidden"
    assert len(body["error"]["messages"]) == 1
    assert repr(scope) in body["error"]["messages"][0]


@pytest.fixture
def clock(monkeypatch):
    monkeypatch.setenv("STREAMMETER_NOW", str(NOW))


# -- 401 ------------------------------------------------------------------------------------
def test_missing_credentials(server, clock):
    assert_unauthorized(raw_get(server))


def test_wrong_secret(server, tenant, clock):
    token_id, secret = tenant.read
    assert_unauthorized(raw_get(server, {"Authorization": basic(token_id, secret + "x")}))
    assert_unauthorized(raw_get(server, {"Authorization": basic(token_id, "")}))
    # Another token's secret does not open this token either.
    assert_unauthorized(raw_get(server, {"Authorization": basic(token_id, tenant.admin[1])}))
    assert raw_get(server, {"Authorization": basic(token_id, secret)}).status_code == 200


def test_unknown_token_id(server, tenant, clock):
    _, secret = tenant.read
    assert_unauthorized(raw_get(server, {"Authorization": basic(str(uuid.uuid4()), secret)}))
    assert_unauthorized(raw_get(server, {"Authorization": basic("", secret)}))


@pytest.mark.parametrize(
    "header",
    [
        "Basic",
        "Basic =",
        "Basic !!!not-base64!!!",
        "Basic " + base64.b64encode(b"no-colon-here").decode(),
        "Basic " + base64.b64encode(b"\xff\xfe:\xff").decode(),
        "Bearer some-oauth-token",
        "Digest username=x",
        "basicdXNlcjpwYXNz",
    ],
)
def test_malformed_authorization_header(server, clock, header):
    assert_unauthorized(raw_get(server, {"Authorization": header}))


def test_scheme_is_case_insensitive(server, tenant, clock):
    header = basic(*tenant.read).replace("Basic", "basic")
    assert raw_get(server, {"Authorization": header}).status_code == 200


def test_revoked_token_is_refused_at_once(store, server, tenant, clock):
    with server.client(tenant.read) as client:  # one keep-alive connection throughout
        assert client.get(PATH).status_code == 200
        assert store.revoke_token(tenant.read[0]) is True
        assert_unauthorized(client.get(PATH))
        assert_unauthorized(client.get("/v1/receipts"))
    assert store.revoke_token(tenant.read[0]) is False  # already revoked
    with server.client(tenant.ingest) as client:  # other tokens keep working
        assert client.post("/v1/events", content=b"").status_code == 200
        store.revoke_token(tenant.ingest[0])
        assert_unauthorized(client.post("/v1/events", content=b"[]"))


def test_authentication_comes_before_validation(server, clock):
    response = raw_get(server, url=f"{PATH}?limit=0&timeframe[]=abc")
    assert_unauthorized(response)


def test_native_endpoints_need_credentials_too(server, clock):
    with httpx.Client(base_url=server.url, timeout=30) as client:
        assert_unauthorized(client.get("/v1/receipts"))
        assert_unauthorized(client.get("/v1/receipts/rcpt_0000"))
        assert_unauthorized(client.post("/v1/events", content=b"[]"))


# -- 403 ------------------------------------------------------------------------------------
def test_ingest_only_token_cannot_read_usage(server, tenant, clock):
    with server.client(tenant.ingest) as client:
        assert_forbidden(client.get(PATH), "read")
        assert_forbidden(client.get("/v1/receipts"), "read")


def test_read_token_cannot_ingest(store, server, tenant, clock):
    body = b'[{"timestamp": 1607987000, "asset_id": "a", "duration": 6}]'
    with server.client(tenant.read) as client:
        assert_forbidden(client.post("/v1/events", content=body), "ingest")
    assert store.list_receipts(tenant.env.env_key) == []  # nothing was imported


def test_admin_token_implies_every_scope(server, tenant, clock):
    with server.client(tenant.admin) as client:
        assert client.get(PATH).status_code == 200
        response = client.post("/v1/events", content=b"[]")
        assert response.status_code == 200, response.text


# -- environments ---------------------------------------------------------------------------
@pytest.fixture
def two_tenants(store, tenant, tmp_path, clock):
    """Environments A (`tenant`) and B with usage in the same hour, one asset id in both."""
    other = make_tenant(store, "other", account="acct_other")
    for who, assets, records in (
        (
            tenant,
            ["shared-asset", "a-only"],
            [("r1", "shared-asset", 6), ("r2", "a-only", 3)],
        ),
        (
            other,
            ["shared-asset", "b-only"],
            # The same request id in another environment is another request.
            [("r1", "shared-asset", 10), ("r2", "b-only", 20)],
        ),
    ):
        env = who.env.env_key
        catalog = [
            Asset(asset_id=a, asset_resolution_tier="720p", created_at=1607900000) for a in assets
        ]
        store.upsert_assets(env, catalog)
        path = write_ndjson(
            tmp_path / f"{who.env.name}.ndjson",
            [
                {"id": rid, "timestamp": 1607987000 + n, "asset_id": asset, "duration": seconds}
                for n, (rid, asset, seconds) in enumerate(records)
            ],
        )
        receipt = import_file(store, env, path)
        assert (receipt.accepted, receipt.duplicate) == (2, 0)
    return tenant, other


def listing(server, token, params=None):
    with server.client(token) as client:
        response = client.get(PATH, params=params)
    assert response.status_code == 200, response.text
    body = response.json()
    return [(r["asset_id"], r["delivered_seconds"]) for r in body["data"]], body


def test_each_environment_sees_only_its_own_usage(server, two_tenants):
    a, b = two_tenants
    rows, body = listing(server, a.read)
    assert rows == [("shared-asset", 6), ("a-only", 3)]
    assert (body["total_row_count"], body["timeframe"]) == (2, WINDOW)
    rows, body = listing(server, b.read)
    assert rows == [("b-only", 20), ("shared-asset", 10)]
    assert body["total_row_count"] == 2


def test_asking_for_another_environments_asset_reveals_nothing(server, two_tenants):
    a, b = two_tenants
    for token, foreign in ((a.read, "b-only"), (b.read, "a-only")):
        rows, body = listing(server, token, {"asset_id": foreign})
        assert (rows, body["total_row_count"]) == ([], 0)
    # The same asset id in both: each sees its own.
    assert listing(server, a.read, {"asset_id": "shared-asset"})[0] == [("shared-asset", 6)]
    assert listing(server, b.read, {"asset_id": "shared-asset"})[0] == [("shared-asset", 10)]


def test_receipts_are_per_environment(store, server, two_tenants):
    a, b = two_tenants
    with server.client(a.read) as client:
        mine = client.get("/v1/receipts").json()["data"]
    assert len(mine) == 1 and mine[0]["environment_id"] == a.env.environment_id
    theirs = store.list_receipts(b.env.env_key)[0].receipt_id
    with server.client(a.admin) as client:
        response = client.get(f"/v1/receipts/{theirs}")
    assert response.status_code == 404
    assert response.json()["error"]["type"] == "not_found"


# -- storage of secrets ---------------------------------------------------------------------
def test_secrets_are_stored_only_hashed(store, tenant, store_engine):
    secrets = [tenant.read[1], tenant.ingest[1], tenant.admin[1]]
    rows = raw_query(store, "SELECT * FROM tokens")
    assert len(rows) == 3
    cells = [str(cell) for row in rows for cell in row]
    for secret in secrets:
        assert len(secret) >= 32
        assert not any(secret in cell for cell in cells)
        # What is kept is a one-way hash (SHA-256) of it.
        assert hashlib.sha256(secret.encode()).hexdigest() in cells
    if store_engine != "duckdb":
        return
    # Nor anywhere else in the database file.
    store._con.execute("CHECKPOINT")
    data = Path(store.path).read_bytes()
    for secret in secrets:
        assert secret.encode() not in data
