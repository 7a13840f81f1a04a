"""`/openapi.json` documents every answer (issue 5, item 3): no operation's success response is
an empty schema; Mux's delivery-usage schemas carry mux-python's names, types and enums; the
real answers of a server with data validate against their operation's schema (OpenAPI 3.1:
JSON Schema 2020-12, `$ref`s into `components`); `/docs` loads nothing from outside.
"""

from __future__ import annotations

import ast
import base64
import inspect
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import jsonschema_rs
import mux_python
import pytest

from streammeter.api import create_app
from streammeter.api.wowza_auth import issue_jwt
from streammeter.ingest.importer import import_file
from streammeter.sources.catalog import read_assets
from streammeter.store import open_store
from streammeter.store.base import DeliveryTarget
from tests.conftest import LiveServer, make_tenant, write_ndjson

FIXTURES = Path(__file__).parent / "fixtures"
WINDOW = (1607817600, 1607990400)  # the Mux docs example's
NOW = WINDOW[1] + 12 * 3600  # the earliest clock at which Mux serves that window
LIVE_STREAM = "B65hEUWW01ErVKDDGImKcBquYhwEAkjW6Ic3lPY0299Cc"
ASSET = "Ww4v2q2H4MNbHIAM2wApKb3cmrh7eHjGLUjdKohR5wM"
PLAYLIST = (
    "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:6\n#EXT-X-MEDIA-SEQUENCE:0\n"
    "#EXTINF:6.0,\nseg0.ts\n#EXTINF:6.0,\nseg1.ts\n#EXT-X-ENDLIST\n"
)


@pytest.fixture(scope="module")
def spec() -> dict[str, Any]:
    with open_store(":memory:") as store:
        return create_app(store).openapi()


def _success(operation: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    responses = operation["responses"]
    code = next(c for c in ("200", "201", "204") if c in responses)
    return code, responses[code]


# -- every operation has a schema -----------------------------------------------------------
def test_the_document_is_openapi_3_1(spec):
    assert spec["openapi"].startswith("3.1.")


def test_no_operation_has_an_empty_success_schema(spec):
    empty = []
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            code, response = _success(operation)
            content = response.get("content", {})
            if code != "204" and not content:
                empty.append(f"{method.upper()} {path}: no content")
            for media, body in content.items():
                if not body.get("schema"):
                    empty.append(f"{method.upper()} {path} {code} {media}")
    assert empty == []


def test_every_compatible_and_native_operation_is_documented(spec):
    operations = {f"{m.upper()} {p}" for p, ops in spec["paths"].items() for m in ops}
    for family in ("stream_targets", "transcoders", "vod_streams"):
        base = f"GET /api/{{version}}/usage/{family}"
        assert {base, base + "/{id}", base + "/summary"} <= operations
    assert {
        "GET /video/v1/delivery-usage", "GET /api/{version}/usage/account", "GET /healthz",
        "PUT /v1/assets/{asset_id}", "POST /v1/assets", "GET /v1/assets",
        "GET /v1/assets/{asset_id}", "DELETE /v1/assets/{asset_id}", "GET /v1/live-streams",
        "GET /v1/live-streams/{live_stream_id}", "POST /v1/events", "POST /v1/imports",
        "GET /v1/receipts", "GET /v1/receipts/{receipt_id}",
        "PUT /v1/assets/{asset_id}/manifests", "GET /v1/assets/{asset_id}/manifests",
    } <= operations  # fmt: skip


# -- Mux: the vendor's schema ---------------------------------------------------------------
_MUX_TYPES = {"str": "string", "float": "number", "int": "integer", "bool": "boolean"}
_REF = "#/components/schemas/"


def _mux_type(openapi_type: str) -> dict[str, Any]:
    """mux-python's `openapi_types` entry as the JSON Schema we expect for it."""
    listed = re.fullmatch(r"list\[(.+)\]", openapi_type)
    if listed:
        return {"type": "array", "items": _mux_type(listed[1])}
    if openapi_type in _MUX_TYPES:
        return {"type": _MUX_TYPES[openapi_type]}
    return {"$ref": _REF + openapi_type}


def _shape(schema: dict[str, Any]) -> dict[str, Any]:
    """The type of a JSON Schema: `type` or `$ref`, and its items' (descriptions dropped)."""
    out = {k: schema[k] for k in ("type", "$ref") if k in schema}
    return out | ({"items": _shape(schema["items"])} if "items" in schema else {})


def _allowed_values(model: type, name: str) -> list[str] | None:
    """The enum mux-python's setter for `name` enforces (None: no enum)."""
    source = inspect.getsource(getattr(model, name).fset)
    found = re.search(r"allowed_values = (\[.*?\])", source)
    return ast.literal_eval(found[1]) if found else None


@pytest.mark.parametrize(
    "name",
    ["ListDeliveryUsageResponse", "DeliveryReport", "DeliveryReportDeliveredSecondsByResolution"],
)
def test_mux_schemas_match_mux_python(spec, name):
    model = getattr(mux_python, name)
    schema = spec["components"]["schemas"][name]
    properties = schema["properties"]
    # The same names; ours adds only `page`, required but undeclared in Mux's spec.
    extra = {"page"} if name == "ListDeliveryUsageResponse" else set()
    assert set(properties) == set(model.openapi_types) | extra
    assert set(model.attribute_map.values()) == set(model.openapi_types)  # JSON names as is
    for field, openapi_type in model.openapi_types.items():
        prop = properties[field]
        expected = _mux_type(openapi_type)
        assert _shape(prop) == expected, field
        assert "anyOf" not in prop and prop.get("type") != "null", f"{field}: never null"
        assert prop.get("enum") == _allowed_values(model, field), field
    if extra:
        assert properties["page"]["type"] == "integer"


def test_mux_required_fields(spec):
    schemas = spec["components"]["schemas"]
    assert set(schemas["ListDeliveryUsageResponse"]["required"]) == {
        "data", "total_row_count", "timeframe", "limit", "page",
    }  # fmt: skip
    # Mux's `required`, less the two fields streammeter leaves out when the catalog lacks them
    # (documented in the properties' descriptions).
    mux_required = {
        "asset_id", "asset_state", "asset_resolution_tier", "asset_encoding_tier",
        "asset_duration", "created_at", "delivered_seconds", "delivered_seconds_by_resolution",
    }  # fmt: skip
    report = schemas["DeliveryReport"]
    assert set(report["required"]) == mux_required - {"asset_duration", "asset_encoding_tier"}
    for field in ("asset_duration", "asset_encoding_tier"):
        assert "streammeter leaves it out" in report["properties"][field]["description"]
    assert "required" not in schemas["DeliveryReportDeliveredSecondsByResolution"]
    timeframe = schemas["ListDeliveryUsageResponse"]["properties"]["timeframe"]
    assert (timeframe["minItems"], timeframe["maxItems"]) == (2, 2)


def test_the_mux_docs_example_validates(spec):
    example = json.loads((FIXTURES / "mux_docs_example.json").read_text())
    _validator(spec, {"$ref": _REF + "ListDeliveryUsageResponse"}).validate(example)
    wrong = json.loads(json.dumps(example))
    wrong["data"][0]["created_at"] = 1607939184  # mux-go rejects numbers here
    assert not _validator(spec, {"$ref": _REF + "ListDeliveryUsageResponse"}).is_valid(wrong)


# -- real answers against their schemas -----------------------------------------------------
def _validator(spec: dict[str, Any], schema: dict[str, Any]) -> Any:
    document = dict(schema)
    document["components"] = spec["components"]  # `$ref`s resolve against this root
    return jsonschema_rs.Draft202012Validator(document, validate_formats=True)


@pytest.fixture(scope="module")
def live(tmp_path_factory) -> Iterator[dict[str, Any]]:
    folder = tmp_path_factory.mktemp("openapi")
    monkey = pytest.MonkeyPatch()
    monkey.setenv("STREAMMETER_NOW", str(NOW))
    try:
        with open_store(str(folder / "api.duckdb")) as store:
            tenant = make_tenant(store, "prod", "acme")
            env_key = tenant.env.env_key
            store.add_delivery_target(
                DeliveryTarget(env_key, "fastly", "Fastly", True, ("origin.example.com",))
            )
            store.upsert_assets(env_key, read_assets(FIXTURES / "mux_example_assets.ndjson"))
            import_file(store, env_key, FIXTURES / "mux_example_records.ndjson")
            token, _ = issue_jwt(store, "acme", now_s=NOW, expires_in_s=3600)
            basic = base64.b64encode(":".join(tenant.admin).encode()).decode()
            with LiveServer(store) as server:
                yield {
                    "server": server,
                    "tenant": tenant,
                    "folder": folder,
                    "mux": {"Authorization": f"Basic {basic}"},
                    "wowza": {"Authorization": f"Bearer {token}"},
                }
    finally:
        monkey.undo()


def _requests(live: dict[str, Any]) -> list[tuple[str, str, str, dict[str, Any]]]:
    """(method, documented path, URL, httpx arguments) of a request with a 200 answer for every
    operation (writes first, so that reads find what they wrote)."""
    records = write_ndjson(
        live["folder"] / "more.ndjson",
        [
            {"id": "x1", "timestamp": WINDOW[0] + 60, "asset_id": ASSET, "duration": 6,
             "width": 1280, "height": 720, "bytes": 700_000},
            {"timestamp": "soon", "asset_id": ASSET},
        ],
    )  # fmt: skip
    batch = [
        {"id": "b1", "timestamp": WINDOW[0] + 120, "asset_id": ASSET, "duration": 6,
         "width": 1920, "height": 1080, "bytes": 1_500_000},
        {"id": "b1", "timestamp": WINDOW[0] + 120, "asset_id": ASSET, "duration": 6,
         "width": 1920, "height": 1080, "bytes": 1_500_000},
        {"timestamp": "soon", "asset_id": ASSET},
    ]  # fmt: skip
    timeframe = [("timeframe[]", str(WINDOW[0])), ("timeframe[]", str(WINDOW[1]))]
    wowza = "/api/v2.0/usage"
    calls: list[tuple[str, str, str, dict[str, Any]]] = [
        ("PUT", "/v1/assets/{asset_id}", "/v1/assets/extra",
         {"json": {"asset_resolution_tier": "720p", "playback_ids": ["pbx"]}}),
        ("POST", "/v1/assets", "/v1/assets",
         {"content": b'{"asset_id": "extra2", "asset_resolution_tier": "2160p"}\n'}),
        ("DELETE", "/v1/assets/{asset_id}", "/v1/assets/extra2", {}),
        ("POST", "/v1/events", "/v1/events", {"content": json.dumps(batch).encode()}),
        ("POST", "/v1/imports", "/v1/imports",
         {"params": {"name": "more.ndjson"}, "content": records.read_bytes()}),
        ("PUT", "/v1/assets/{asset_id}/manifests", f"/v1/assets/{ASSET}/manifests",
         {"params": {"url": f"/vod/{ASSET}/index.m3u8"}, "content": PLAYLIST.encode()}),
        ("GET", "/v1/assets/{asset_id}/manifests", f"/v1/assets/{ASSET}/manifests", {}),
        ("GET", "/v1/assets/{asset_id}", f"/v1/assets/{ASSET}", {}),
        ("GET", "/v1/assets/{asset_id}", "/v1/assets/extra2", {}),  # deleted
        ("GET", "/v1/assets", "/v1/assets", {"params": {"limit": 2}}),
        ("GET", "/v1/live-streams", "/v1/live-streams", {}),
        ("GET", "/v1/live-streams/{live_stream_id}", f"/v1/live-streams/{LIVE_STREAM}", {}),
        ("GET", "/v1/receipts", "/v1/receipts", {}),
        ("GET", "/video/v1/delivery-usage", "/video/v1/delivery-usage", {"params": timeframe}),
        ("GET", "/video/v1/delivery-usage", "/video/v1/delivery-usage",
         {"params": [*timeframe, ("page", "9")]}),  # past the end
        ("GET", "/v1/usage", "/v1/usage",
         {"params": {"from": WINDOW[0], "to": WINDOW[1], "group_by": "asset"}}),
        ("GET", "/v1/usage/changes", "/v1/usage/changes", {}),
        ("GET", "/v1/usage/explain", "/v1/usage/explain",
         {"params": {"asset_id": ASSET, "hour": WINDOW[0] + 14 * 3600}}),
        ("GET", "/v1/freshness", "/v1/freshness", {}),
        ("GET", "/healthz", "/healthz", {}),
        ("GET", "/api/{version}/usage/account", f"{wowza}/account", {}),
        ("GET", "/api/{version}/usage/account", f"{wowza}/account",
         {"params": {"include": "trend", "filter[0][field]": "resource",
                     "filter[0][eq]": "vod_streams"}}),
    ]  # fmt: skip
    ids = {"stream_targets": "fastly", "transcoders": LIVE_STREAM, "vod_streams": ASSET}
    for family, resource in ids.items():
        path = f"/api/{{version}}/usage/{family}"
        calls += [
            ("GET", path, f"{wowza}/{family}", {"params": {"per_page": 1}}),
            ("GET", path + "/summary", f"{wowza}/{family}/summary", {}),
            ("GET", path + "/{id}", f"{wowza}/{family}/{resource}", {}),
            ("GET", path + "/{id}", f"{wowza}/{family}/{resource}",
             {"params": {"include": "trend", "from": "2020-12-14", "to": "2020-12-15"}}),
        ]  # fmt: skip
    return calls


def test_real_answers_validate_against_their_schemas(spec, live):
    server, checked, failures = live["server"], set(), []
    with server.client() as client:
        for method, path, url, kwargs in _requests(live):
            headers = live["wowza"] if path.startswith("/api/") else live["mux"]
            response = client.request(method, url, headers=headers, **kwargs)
            assert response.status_code == 200, (method, url, response.text)
            code, documented = _success(spec["paths"][path][method.lower()])
            assert code == "200"
            schema = documented["content"]["application/json"]["schema"]
            errors = [
                f"{'/'.join(map(str, e.instance_path))}: {e.message}"
                for e in _validator(spec, schema).iter_errors(response.json())
            ]
            if errors:
                failures.append(f"{method} {url}: {errors}")
            checked.add(f"{method} {path}")
        # the receipt with a quarantined line
        receipts = client.get("/v1/receipts", headers=live["mux"]).json()["data"]
        rejected = next(r for r in receipts if r["rejected"])
        detail = client.get(f"/v1/receipts/{rejected['receipt_id']}", headers=live["mux"])
        path = "/v1/receipts/{receipt_id}"
        schema = _success(spec["paths"][path]["get"])[1]["content"]["application/json"]["schema"]
        assert detail.json()["data"]["quarantine"]
        _validator(spec, schema).validate(detail.json())
        checked.add(f"GET {path}")
    assert failures == []
    json_operations = {
        f"{m.upper()} {p}"
        for p, ops in spec["paths"].items()
        for m, op in ops.items()
        if "application/json" in _success(op)[1].get("content", {})
    }
    assert json_operations - checked == set()


def test_answers_that_break_the_schema_are_caught(spec):
    """The check above can fail: wrong types and missing fields do not validate."""
    ref = {"$ref": _REF + "EventBatchResponse"}
    good = {"data": {"receipt_id": "r", "already_imported": False,
                     "counts": {"accepted": 1, "duplicate": 0, "rejected": 0},
                     "records": [{"line": 1, "status": "accepted"}]}}  # fmt: skip
    assert _validator(spec, ref).is_valid(good)
    bad = json.loads(json.dumps(good))
    bad["data"]["records"][0]["status"] = "maybe"
    assert not _validator(spec, ref).is_valid(bad)
    wowza = {"$ref": _REF + "WowzaUsageAccountResponse"}
    assert not _validator(spec, wowza).is_valid({"account": {"id": "a"}, "limits": {}})


# -- /docs ----------------------------------------------------------------------------------
def test_docs_page_loads_nothing_from_outside(live):
    with live["server"].client() as client:
        page = client.get("/docs")
        assert page.status_code == 200
        assert page.headers["content-type"].startswith("text/html")
        html = page.text
        assert re.findall(r"(?:https?:)?//[\w.-]+", html) == []
        assets = re.findall(r'(?:src|href)="([^"]+)"', html)
        assert len(assets) == 3  # script, stylesheet, icon
        for asset in assets:
            assert asset.startswith("/ui/vendor/swagger-ui/"), asset
            assert client.get(asset).status_code == 200, asset
        assert "url: '/openapi.json'" in html
        assert '"validatorUrl": null' in html  # no badge from swagger.io
        assert client.get("/openapi.json").json()["openapi"].startswith("3.1.")
        assert client.get("/docs/oauth2-redirect").status_code == 200
        assert client.get("/redoc").status_code == 404  # FastAPI's CDN-loaded page is off


def test_vendored_swagger_ui_matches_the_pinned_package():
    root = Path(__file__).resolve().parents[1]
    script = (root / "scripts" / "vendor-swagger-ui.sh").read_text()
    version = re.search(r"SWAGGER_UI_VERSION=(\S+)", script)[1]
    digest = re.search(r"SWAGGER_UI_SHA256=(\S+)", script)[1]
    vendor = root / "streammeter" / "web" / "static" / "vendor" / "swagger-ui"
    assert (vendor / "VERSION").read_text().split()[:2] == ["swagger-ui-dist", version]
    assert digest in (vendor / "VERSION").read_text()
    assert "Apache License" in (vendor / "LICENSE").read_text()
    assert version.split(".")[0] == "5"  # Swagger UI renders OpenAPI 3.1 from 5.0 on


def test_docs_page_renders_every_operation_offline(spec, live):
    """Headless Chromium (as tests/test_dashboard_browser.py): /docs renders the operations
    with every request to another origin refused."""
    from tests.test_dashboard_browser import ARGS, CHROMIUM, _browser_or_fail

    sync_playwright = _browser_or_fail()
    server = live["server"]
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        try:
            context = browser.new_context()
            outside, problems = [], []

            def guard(route):
                if route.request.url.startswith((server.url + "/", "data:")):
                    route.continue_()
                else:
                    outside.append(route.request.url)
                    route.abort()

            context.route("**/*", guard)
            page = context.new_page()
            page.on("pageerror", lambda exc: problems.append(f"pageerror: {exc}"))
            page.goto(server.url + "/docs")
            page.wait_for_selector(".opblock-summary", timeout=30_000)
            count = page.locator(".opblock").count()
            assert "Unable to render" not in page.content()
        finally:
            browser.close()
    operations = sum(len(ops) for ops in spec["paths"].values())
    assert count == operations
    assert outside == [] and problems == []


# -- security: the document says how to authenticate, and says it truly ----------------------
def test_every_operation_but_the_public_ones_declares_its_credentials(spec):
    schemes = spec["components"]["securitySchemes"]
    assert schemes["accessToken"] == {
        "type": "http",
        "scheme": "basic",
        "description": "An access token: its id as the user name, its secret as the password",
    }
    assert schemes["wowzaJWT"]["scheme"] == "bearer"
    assert {schemes["wscApiKey"]["name"], schemes["wscAccessKey"]["name"]} == {
        "wsc-api-key",
        "wsc-access-key",
    }
    for path, operations in spec["paths"].items():
        for operation in operations.values():
            if path in ("/healthz", "/metrics"):
                assert "security" not in operation
            elif path.startswith("/api/"):
                assert operation["security"] == [
                    {"wowzaJWT": []},
                    {"wscApiKey": [], "wscAccessKey": []},
                ]
            else:
                assert operation["security"] == [{"accessToken": []}], path


def test_operations_declared_secured_refuse_a_caller_without_credentials(spec, live):
    checked = 0
    for path, operations in spec["paths"].items():
        if "get" not in operations:
            continue
        concrete = re.sub(r"\{[^}]+\}", "unknown-id", path.replace("{version}", "v1.8"))
        status = httpx.get(live["server"].url + concrete).status_code
        if "security" in operations["get"]:
            assert status == 401, path
            checked += 1
        else:
            assert status == 200, path
    assert checked > 15
