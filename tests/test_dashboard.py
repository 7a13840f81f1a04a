"""The dashboard's static files at `/` (offline, nothing external) and `GET /v1/freshness`.

The browser test (tests/test_dashboard_browser.py) drives the same page in Chromium.
"""

from __future__ import annotations

import json
import re
from fnmatch import fnmatch
from pathlib import Path

import pytest

from streammeter.api.freshness import FreshnessResponse
from streammeter.ingest.importer import import_batch, import_file
from streammeter.model.catalog import Asset
from streammeter.web import STATIC
from tests.conftest import write_ndjson

ROOT = Path(__file__).resolve().parents[1]
NOW = "2026-11-21T12:00:00Z"  # settle 24 h: hours before 2026-11-20T12:00Z are final

# Hand-known numbers (the browser test checks the page shows exactly these):
#   alpha: 12 s 1080p (10:00) + 4 s 720p (15:00)      = 16 s, 3,500,000 viewing bytes
#   beta:  4 s 720p (2026-11-21 09:00)                 =  4 s, 1,000,000 viewing bytes
#   total 20 s (1080p 12, 720p 8), 4,500,000 viewing bytes; alpha 80 %, beta 20 %
#   egress (a batch): alpha 6 s, 2,000,000 bytes at 10:00
#   line 5 of views.ndjson is quarantined; provisional hours with data: 11-20 15:00, 11-21 09:00
VIEWS = [
    {"id": "v1", "timestamp": "2026-11-20T10:00:00Z", "asset_id": "alpha", "duration": 6,
     "tier": "1080p", "bytes": 1_500_000},
    {"id": "v2", "timestamp": "2026-11-20T10:00:06Z", "asset_id": "alpha", "duration": 6,
     "tier": "1080p", "bytes": 1_500_000},
    {"id": "v3", "timestamp": "2026-11-20T15:00:00Z", "asset_id": "alpha", "duration": 4,
     "tier": "720p", "bytes": 500_000},
    {"id": "v4", "timestamp": "2026-11-21T09:00:00Z", "asset_id": "beta", "duration": 4,
     "tier": "720p", "bytes": 1_000_000},
    {"timestamp": "soon", "asset_id": "alpha"},
]  # fmt: skip
EGRESS = [
    {"id": "e1", "timestamp": "2026-11-20T10:00:00Z", "asset_id": "alpha", "kind": "egress",
     "duration": 6, "tier": "1080p", "bytes": 2_000_000},
]  # fmt: skip


def seed(store, tenant, tmp_path: Path) -> dict[str, str]:
    """The catalog, one file with a bad line, one egress batch; answers the receipt ids."""
    store.upsert_assets(
        tenant.env.env_key,
        [
            Asset(asset_id="alpha", asset_resolution_tier="1080p", asset_state="ready"),
            Asset(asset_id="beta", asset_resolution_tier="720p", asset_state="ready"),
        ],
    )
    views = import_file(store, tenant.env.env_key, write_ndjson(tmp_path / "views.ndjson", VIEWS))
    body = "".join(json.dumps(r) + "\n" for r in EGRESS).encode()
    egress, _ = import_batch(store, tenant.env.env_key, body)
    assert (views.accepted, views.rejected, egress.accepted) == (4, 1, 1)
    return {"views": views.receipt_id, "egress": egress.receipt_id}


def test_root_serves_the_page_with_nothing_external(server):
    with server.client() as http:
        page = http.get("/")
        assert page.status_code == 200
        assert page.headers["content-type"].startswith("text/html")
        assert "default-src 'self'" in page.headers["content-security-policy"]
        html = page.text
        refs = re.findall(r'(?:src|href)="([^"]+)"', html)
        assert "/ui/app.js" in refs and "/ui/vendor/uplot/uPlot.iife.min.js" in refs
        assert not re.search(r"(?:src|href)=\"(?:https?:)?//", html), "external URL in the page"
        for ref in refs:
            if ref.startswith(("#", "data:")):
                continue
            asset = http.get(ref)
            assert asset.status_code == 200, ref
            assert len(asset.content) > 100, ref
        script_type = http.get("/ui/app.js").headers["content-type"]
        assert script_type.startswith(("text/javascript", "application/javascript"))
        assert http.get("/ui/style.css").headers["content-type"].startswith("text/css")
        # The page itself needs no token; the data does.
        assert http.get("/v1/freshness").status_code == 401


def test_static_files_load_nothing_from_outside():
    for path in STATIC.rglob("*"):
        if path.suffix not in {".js", ".css", ".html"}:
            continue
        text = path.read_text()
        # CSS url(...) and @import, JS import/fetch of absolute URLs.
        assert not re.search(r"url\(\s*['\"]?(?:https?:)?//", text), path
        assert not re.search(r"@import", text), path
        assert not re.search(r"""(?:fetch|import)\s*\(\s*['"`](?:https?:)?//""", text), path


def test_vendored_uplot_matches_the_pinned_script():
    script = (ROOT / "scripts" / "vendor-js.sh").read_text()
    version = re.search(r"^UPLOT_VERSION=(\S+)$", script, re.M).group(1)
    digest = re.search(r"^UPLOT_SHA256=([0-9a-f]{64})$", script, re.M).group(1)
    vendor = STATIC / "vendor" / "uplot"
    assert (vendor / "VERSION").read_text().split()[:2] == ["uplot", version]
    assert digest in (vendor / "VERSION").read_text()
    assert "MIT" in (vendor / "LICENSE").read_text()
    first_line = (vendor / "uPlot.iife.min.js").read_text().splitlines()[0]
    assert f"uPlot (v{version})" in first_line


def test_static_files_are_package_data():
    text = (ROOT / "pyproject.toml").read_text()
    globs = re.search(r"^streammeter = \[(.*)\]$", text, re.M).group(1)
    patterns = [p.strip().strip('"') for p in globs.split(",")]
    package = ROOT / "streammeter"
    for path in STATIC.rglob("*"):
        if path.is_file():
            relative = path.relative_to(package).as_posix()
            assert any(fnmatch(relative, p) and relative.count("/") == p.count("/")
                       for p in patterns), relative  # fmt: skip


def test_freshness_reports_last_import_per_source_and_provisional_hours(
    tmp_path, store, tenant, server, monkeypatch
):
    monkeypatch.setenv("STREAMMETER_NOW", NOW)
    monkeypatch.delenv("STREAMMETER_SETTLE_AFTER_HOURS", raising=False)
    receipts = seed(store, tenant, tmp_path)
    with server.client(tenant.read) as http:
        answer = http.get("/v1/freshness").json()
        spec = http.get("/openapi.json").json()
    assert "/v1/freshness" in spec["paths"] and "/" not in spec["paths"]
    FreshnessResponse.model_validate(answer)  # the documented schema
    body = answer["data"]
    assert body["now"] == NOW
    assert body["settle_after_hours"] == 24
    sources = {(s["source"], s["format"]): s for s in body["sources"]}
    assert set(sources) == {("file", "ndjson"), ("batch", "json")}
    views = sources[("file", "ndjson")]
    assert views["last_receipt_id"] == receipts["views"]
    assert (views["imports"], views["accepted"], views["rejected"]) == (1, 4, 1)
    assert views["last_import_at"] == NOW  # imported under the service clock
    assert views["newest_record_at"] == "2026-11-21T09:00:00Z"
    assert views["newest_record_age_seconds"] == 3 * 3600
    assert sources[("batch", "json")]["newest_record_at"] == "2026-11-20T10:00:00Z"
    assert body["provisional"] == {
        "hours": 2,
        "oldest_hour": "2026-11-20T15:00:00Z",
        "newest_hour": "2026-11-21T09:00:00Z",
        "final_before": "2026-11-20T12:00:00Z",
    }


def test_freshness_sees_only_the_tokens_environment(tmp_path, store, tenant, server, monkeypatch):
    from tests.conftest import make_tenant

    monkeypatch.setenv("STREAMMETER_NOW", NOW)
    seed(store, tenant, tmp_path)
    other = make_tenant(store, "staging")
    with server.client(other.read) as http:
        body = http.get("/v1/freshness").json()["data"]
    assert body["sources"] == []
    assert body["provisional"]["hours"] == 0 and body["provisional"]["oldest_hour"] is None


@pytest.mark.parametrize("scope", ["ingest"])
def test_freshness_needs_the_read_scope(store, tenant, server, scope):
    with server.client(getattr(tenant, scope)) as http:
        assert http.get("/v1/freshness").status_code == 403
