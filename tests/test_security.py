"""Security (issue 7, item 4; docs/security.md): constant-time secret comparison, no secret in
logs or error bodies, body and header size limits, per-token rate limits (429 in the vendor's
envelope), injection attempts in every parameter, revocation at once."""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import os
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import httpx
import jwt
import pytest
import uvicorn

from streammeter.api import create_app
from streammeter.api.limits import RateLimiter
from streammeter.api.wowza_auth import issue_jwt
from streammeter.config import Settings
from streammeter.ingest.importer import import_file
from streammeter.model.times import InvalidTime, now_us, parse_instant
from streammeter.store import duckdb_store
from tests.conftest import LiveServer, make_tenant, write_ndjson

WOWZA = "/api/v2.0/usage/account"
MUX = "/video/v1/delivery-usage"


def basic(token: tuple[str, str]) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(":".join(token).encode()).decode()}


def bearer(store, account: str = "acme") -> dict[str, str]:
    token, _ = issue_jwt(store, account, now_s=now_us() // 1_000_000, expires_in_s=3600)
    return {"Authorization": f"Bearer {token}"}


def assert_mux_error(response: httpx.Response, status: int, type_: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error"} and body["error"]["type"] == type_, body
    assert body["error"]["messages"] and all(isinstance(m, str) for m in body["error"]["messages"])


def assert_wowza_error(response: httpx.Response, status: int) -> None:
    assert response.status_code == status, response.text
    meta = response.json()["meta"]
    assert meta["status"] == status and meta["code"].startswith(f"ERR-{status}-"), meta
    assert set(meta) == {"status", "code", "title", "message", "description", "links"}


@pytest.fixture
def acme(store):
    return make_tenant(store, "prod", "acme")


# -- constant-time comparison ------------------------------------------------------------------
def test_token_secrets_are_compared_in_constant_time(store, tenant, monkeypatch) -> None:
    calls, compare = [], hmac.compare_digest

    def spy(a, b):
        calls.append((a, b))
        return compare(a, b)

    monkeypatch.setattr(duckdb_store.hmac, "compare_digest", spy)
    token_id, secret = tenant.read
    assert store.verify_token(token_id, secret) is not None
    assert store.verify_token(token_id, secret + "x") is None
    assert store.verify_token("no-such-token", secret) is None  # hashed and compared too
    assert len(calls) == 3


def test_wowza_keys_are_compared_in_constant_time(store, acme, server, monkeypatch) -> None:
    from streammeter.api import wowza_auth

    calls, compare = [], hmac.compare_digest

    def spy(a, b):
        calls.append(1)
        return compare(a, b)

    monkeypatch.setattr(wowza_auth.hmac, "compare_digest", spy)
    key = store.create_legacy_key("acme")
    headers = {"wsc-access-key": key.access_key, "wsc-api-key": "wrong"}
    with server.client() as client:
        assert client.get("/api/v1.8/usage/account", headers=headers).status_code == 401
    assert calls


# -- no secret in error bodies or logs ---------------------------------------------------------
class _LoggedServer(LiveServer):
    """The live server with every log on (debug, access log), so that tests can read them."""

    def __init__(self, store, settings: Settings | None = None) -> None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(
            create_app(store, settings or Settings()), host="127.0.0.1", port=self.port,
            log_level="debug", access_log=True, lifespan="off", log_config=None,
        )  # fmt: skip
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)


def test_no_secret_in_error_bodies_or_logs(store, acme, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    token_id, secret = acme.read
    key = store.create_legacy_key("acme")
    jwt_token = bearer(store)["Authorization"].split()[1]
    forged = jwt.encode({"account": "acme"}, "not-the-secret", algorithm="HS256")
    attempts = [
        (MUX, basic((token_id, secret + "x"))),
        (MUX, basic(("unknown", secret))),
        (MUX + "?limit=abc", basic((token_id, secret))),  # a 400 (bad limit)
        ("/v1/events", basic((token_id, secret))),  # a 403 (read token)
        (WOWZA, {"Authorization": f"Bearer {forged}"}),
        (WOWZA, {"Authorization": f"Bearer {jwt_token}x"}),
        ("/api/v1.8/usage/account", {"wsc-access-key": key.access_key, "wsc-api-key": "x"}),
        ("/api/v1.8/usage/account", {"wsc-access-key": "x", "wsc-api-key": key.api_key}),
        ("/api/v2.0/usage/account", {"wsc-access-key": key.access_key, "wsc-api-key": key.api_key}),
    ]
    secrets = [secret, key.api_key, jwt_token, forged]
    with _LoggedServer(store) as live, httpx.Client(base_url=live.url, timeout=30) as client:
        for url, headers in attempts:
            response = client.post(url, headers=headers, content=b"[]") if "events" in url else (
                client.get(url, headers=headers)
            )  # fmt: skip
            assert 400 <= response.status_code < 500, (url, response.text)
            for value in secrets:
                assert value not in response.text, (url, response.text)
                assert all(value not in v for v in response.headers.values())
        assert client.get(MUX, headers=basic(acme.read)).status_code in (200, 400)
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert "GET /video/v1/delivery-usage" in logged  # the access log was on
    for value in secrets:
        assert value not in logged


# -- body and header sizes -----------------------------------------------------------------------
@pytest.fixture
def small(store) -> Iterator[LiveServer]:
    with LiveServer(store, Settings(max_body_bytes=1000, max_header_bytes=2048)) as live:
        yield live


def test_a_body_over_the_limit_is_refused_413(small, tenant) -> None:
    with small.client(tenant.ingest) as client:
        assert_mux_error(client.post("/v1/events", content=b" " * 2000), 413, "payload_too_large")
        # without Content-Length (chunked): counted as it streams
        chunks = (b" " * 300 for _ in range(10))
        response = client.post("/v1/imports", params={"name": "a.ndjson"}, content=chunks)
        assert_mux_error(response, 413, "payload_too_large")
        assert client.post("/v1/events", content=b"[]").status_code == 200  # under: fine


def test_a_body_over_the_limit_on_wowza_paths_gets_wowzas_envelope(small) -> None:
    with small.client() as client:
        assert_wowza_error(client.request("GET", WOWZA, content=b"x" * 2000), 413)


def test_headers_over_the_limit_are_refused_431(small, tenant) -> None:
    big = {"X-Padding": "p" * 3000}
    with small.client(tenant.read) as client:
        response = client.get(MUX, headers=big)
        assert_mux_error(response, 431, "request_header_fields_too_large")
        assert_wowza_error(client.get(WOWZA, headers=big), 431)
        assert client.get("/healthz").status_code == 200


def test_default_limits_leave_ordinary_requests_alone() -> None:
    settings = Settings()
    assert settings.rate_limit_per_minute == 0  # off unless configured
    assert settings.max_body_bytes >= 1 << 30 and settings.max_header_bytes >= 16 * 1024


def test_limits_read_from_the_environment(monkeypatch) -> None:
    monkeypatch.setenv("STREAMMETER_RATE_LIMIT_PER_MINUTE", "120")
    monkeypatch.setenv("STREAMMETER_RATE_LIMIT_BURST", "10")
    monkeypatch.setenv("STREAMMETER_MAX_BODY_BYTES", "5000")
    monkeypatch.setenv("STREAMMETER_MAX_HEADER_BYTES", "4096")
    settings = Settings.from_env()
    assert (settings.rate_limit_per_minute, settings.rate_limit_burst) == (120, 10)
    assert (settings.max_body_bytes, settings.max_header_bytes) == (5000, 4096)


# -- rate limits ---------------------------------------------------------------------------------
def test_token_bucket_refills_at_its_rate() -> None:
    now = [0.0]
    limiter = RateLimiter(60, burst=2, clock=lambda: now[0])
    assert limiter.acquire("a") == 0 and limiter.acquire("a") == 0
    assert limiter.acquire("a") == pytest.approx(1.0)  # one a second
    assert limiter.acquire("b") == 0  # buckets are per key
    now[0] = 0.5
    assert limiter.acquire("a") == pytest.approx(0.5)
    now[0] = 1.6
    assert limiter.acquire("a") == 0
    assert not RateLimiter(0).enabled and RateLimiter(0).acquire("a") == 0


@pytest.fixture
def limited(store) -> Iterator[LiveServer]:
    with LiveServer(store, Settings(rate_limit_per_minute=2)) as live:
        yield live


def test_over_its_limit_a_token_gets_429_in_muxs_envelope(limited, store, tenant) -> None:
    other = store.create_token(tenant.env.env_key, ["read"])
    with limited.client(tenant.read) as client:
        for _ in range(2):
            assert client.get("/v1/assets").status_code == 200
        response = client.get("/v1/assets")
        assert_mux_error(response, 429, "too_many_requests")
        assert 1 <= int(response.headers["Retry-After"]) <= 30
        assert_mux_error(client.get(MUX), 429, "too_many_requests")  # every endpoint counts
    with limited.client(other) as client:  # another token has its own budget
        assert client.get("/v1/assets").status_code == 200


def test_failed_authentication_does_not_spend_a_tokens_budget(limited, tenant) -> None:
    token_id, secret = tenant.read
    with limited.client((token_id, "wrong")) as client:
        for _ in range(5):
            assert client.get("/v1/assets").status_code == 401
    with limited.client(tenant.read) as client:
        assert client.get("/v1/assets").status_code == 200


def test_over_its_limit_a_wowza_credential_gets_429_in_wowzas_envelope(limited, store, acme):
    headers = bearer(store)
    with limited.client() as client:
        for _ in range(2):
            assert client.get(WOWZA, headers=headers).status_code == 200
        response = client.get(WOWZA, headers=headers)
        assert_wowza_error(response, 429)
        assert response.json()["meta"]["code"] == "ERR-429-TooManyRequests"
        assert int(response.headers["Retry-After"]) >= 1
        assert client.get(WOWZA, headers=bearer(store)).status_code == 200  # another token


# -- revocation ----------------------------------------------------------------------------------
def test_revocation_takes_effect_at_once_on_an_open_connection(limited, store, tenant) -> None:
    token = store.create_token(tenant.env.env_key, ["read"])
    with limited.client(token) as client:  # one keep-alive connection throughout
        assert client.get("/v1/assets").status_code == 200
        assert store.revoke_token(token[0])
        assert_mux_error(client.get("/v1/assets"), 401, "unauthorized")
        assert_mux_error(client.get(MUX), 401, "unauthorized")


# -- injection in every parameter ----------------------------------------------------------------
HOSTILE = [
    "' OR '1'='1", "1; DROP TABLE tokens; --", '" OR 1=1 --',
    "1 UNION SELECT secret_sha256 FROM tokens",
    "../../../../etc/passwd", "..%2F..%2F..%2Fetc%2Fpasswd", "/etc/passwd", "..\\..\\windows",
    "a\x00b", "$(touch /tmp/streammeter-pwned)", "{{7*7}}", "%s%s%n", "x" * 5000, "\u202e\ufeff",
    "-1", "NaN", "1e999", "[]", "{}",
]  # fmt: skip


def _operations(app) -> list[tuple[str, str, list[dict]]]:
    spec = app.openapi()
    return [
        (method.upper(), path, op.get("parameters", []))
        for path, ops in spec["paths"].items()
        for method, op in ops.items()
        if path != "/metrics"
    ]


@pytest.fixture
def seeded(store, tmp_path, acme):
    path = write_ndjson(
        tmp_path / "r.ndjson",
        [{"id": "r1", "timestamp": "2026-11-22T09:10:00Z", "asset_id": "vod1", "duration": 6}],
    )
    import_file(store, acme.env.env_key, path)
    return acme


def test_injection_in_every_parameter_is_refused_cleanly(store, seeded, tmp_path) -> None:
    cwd = Path.cwd()
    watched = [cwd, cwd.parent, tmp_path, Path("/tmp"), Path("/etc")]
    before = {folder: set(os.listdir(folder)) for folder in watched}
    tokens_before = len(store.list_tokens())
    stored_hash = hashlib.sha256(seeded.admin[1].encode()).hexdigest()
    mux, wowza = basic(seeded.admin), bearer(store)
    app = create_app(store, Settings())
    with LiveServer(store) as live, httpx.Client(base_url=live.url, timeout=60) as client:
        for method, path, parameters in _operations(app):
            headers = wowza if path.startswith("/api/") else mux
            defaults = {p["name"]: "v2.0" if p["name"] == "version" else "x" for p in parameters}
            for parameter in parameters:
                for value in HOSTILE:
                    values = defaults | {parameter["name"]: value}
                    url = path
                    query = {}
                    for p in parameters:
                        if p["in"] == "path":
                            url = url.replace(
                                "{" + p["name"] + "}", quote(values[p["name"]], safe="")
                            )
                        elif p["in"] == "query":
                            query[p["name"]] = values[p["name"]]
                    content = b'{"timestamp": 1}\n' if method in ("POST", "PUT") else None
                    response = client.request(
                        method, url, params=query, headers=headers, content=content
                    )
                    where = (method, path, parameter["name"], value[:40])
                    assert response.status_code < 500, (where, response.text)
                    if response.status_code >= 400:
                        body = response.json()
                        assert set(body) in ({"error"}, {"meta"}), (where, body)
                    assert stored_hash not in response.text, where
    assert len(store.list_tokens()) == tokens_before  # nothing dropped, nothing added
    assert store.verify_token(*seeded.admin) is not None
    for folder in watched:
        created = set(os.listdir(folder)) - before[folder]
        assert not {name for name in created if "passwd" in name or "pwned" in name}, created
    assert not Path("/tmp/streammeter-pwned").exists()


def test_an_import_name_with_a_nul_or_a_huge_extension_is_a_400(server, tenant) -> None:
    """Regression: these names reached tempfile as a suffix: ValueError (embedded null byte) and
    OSError (file name too long) answered 500."""
    with server.client(tenant.ingest) as client:
        for name in ("a.\x00ndjson", "a." + "n" * 300, "x" * 5000 + ".ndjson"):
            response = client.post("/v1/imports", params={"name": name}, content=b"{}\n")
            assert_mux_error(response, 400, "invalid_parameters")
        # a name is only a label: traversal in it reaches no file system path
        response = client.post(
            "/v1/imports", params={"name": "../../../../tmp/evil.ndjson"}, content=b"{}\n"
        )
        assert response.status_code == 200, response.text
        assert response.json()["data"]["name"] == "../../../../tmp/evil.ndjson"
    assert not Path("/tmp/evil.ndjson").exists()


def test_a_corrupt_gzip_upload_is_a_400(server, tenant) -> None:
    """Regression: BadGzipFile / EOFError out of the importer answered 500."""
    with server.client(tenant.ingest) as client:
        bad = b"\x1f\x8b" + b"not deflate" * 5
        response = client.post("/v1/imports", params={"name": "x.ndjson.gz"}, content=bad)
        assert_mux_error(response, 400, "invalid_parameters")
        assert "gzip" in response.json()["error"]["messages"][0]


def test_wowza_429_and_mux_errors_are_documented_in_openapi(store) -> None:
    spec = create_app(store).openapi()
    account = spec["paths"]["/api/{version}/usage/account"]["get"]["responses"]
    assert account["4XX"]["content"]["application/json"]["schema"]["$ref"].endswith("WowzaError")
    assert "422" not in spec["paths"]["/v1/assets"]["get"]["responses"]
    usage = spec["paths"][MUX]["get"]["responses"]
    assert usage["4XX"]["content"]["application/json"]["schema"]["$ref"].endswith("/Error")
    # JSON routes are documented as JSON, not as strings
    assert usage["200"]["content"]["application/json"]["schema"] != {"type": "string"}


@pytest.mark.parametrize("value", ["NaN", "nan", "Infinity", "-inf", "1e999999999", "1e400"])
def test_non_finite_or_huge_epoch_seconds_are_a_400(server, tenant, value) -> None:
    """Regression: `NaN` and `inf` raised ValueError/OverflowError out of parse_instant, and
    `1e999999999` decimal.Overflow: 500s on /v1/usage, /v1/usage/explain (and a record with such
    a timestamp could only be quarantined by luck)."""
    with pytest.raises(InvalidTime):
        parse_instant(value)
    with server.client(tenant.read) as client:
        response = client.get("/v1/usage/explain", params={"asset_id": "a", "hour": value})
        assert_mux_error(response, 400, "invalid_parameters")
        response = client.get("/v1/usage", params={"from": value, "to": value})
        assert_mux_error(response, 400, "invalid_parameters")


def test_a_huge_page_number_is_refused_not_a_500(server, store, acme) -> None:
    """Regression (schemathesis): `page=77810512005185929216000` overflowed DuckDB's INT64 row
    offset (ConversionException, a 500) on /v1/assets and the Wowza transcoders listing."""
    huge = str(10**25)
    with server.client(acme.read) as client:
        assert_mux_error(client.get("/v1/assets", params={"page": huge}), 400, "invalid_parameters")
    with server.client() as client:
        for family in ("transcoders", "stream_targets", "vod_streams"):
            response = client.get(
                f"/api/v2.0/usage/{family}", params={"page": huge}, headers=bearer(store)
            )
            assert_wowza_error(response, 422)
