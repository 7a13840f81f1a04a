"""GET /metrics: Prometheus exposition with ingest, store-health and latency series."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from streammeter.ingest.importer import import_file
from tests.conftest import write_ndjson


def _samples(text):
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_metrics_after_an_import(tmp_path, store, tenant, server, monkeypatch):
    monkeypatch.setenv("STREAMMETER_NOW", "2026-11-20T12:00:00Z")
    with server.client() as http:
        before = _samples(http.get("/metrics").text)
    path = write_ndjson(tmp_path / "r.ndjson", [
        {"id": "r1", "timestamp": "2026-11-20T10:00:00Z", "asset_id": "a", "duration": 6},
        {"id": "r1", "timestamp": "2026-11-20T10:00:00Z", "asset_id": "a", "duration": 6},
        {"timestamp": "soon", "asset_id": "a"},
        {"timestamp": "2026-11-20T11:30:00Z", "asset_id": "a", "duration": 2},
    ])  # fmt: skip
    import_file(store, tenant.env.env_key, path)
    with server.client(tenant.read) as http:
        assert http.get("/v1/assets/nope").status_code == 404
        assert http.get("/v1/usage", params={"from": "2026-11-20T00:00:00Z",
                                             "to": "2026-11-21T00:00:00Z"}).status_code == 200
        response = http.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    after = _samples(response.text)

    def delta(name, **labels):
        key = (name, tuple(sorted(labels.items())))
        return after[key] - before.get(key, 0)

    assert delta("streammeter_ingest_lines_total", outcome="accepted") == 2
    assert delta("streammeter_ingest_lines_total", outcome="duplicate") == 1
    assert delta("streammeter_ingest_lines_total", outcome="rejected") == 1
    assert delta("streammeter_ingest_receipts_total", source="file") == 1
    assert after[("streammeter_quarantined_lines", ())] == 1
    assert after[("streammeter_unmapped_records", ())] == 2
    assert ("streammeter_inferred_tier_records", ()) in after
    # newest record 11:30, clock 12:00
    assert after[("streammeter_newest_data_age_seconds",
                  (("format", "ndjson"), ("source", "file")))] == 1800
    assert after[("streammeter_oldest_provisional_hour_timestamp_seconds", ())] == 1795168800
    routes = {dict(labels).get("route") for name, labels in after
              if name == "streammeter_http_request_duration_seconds_count"}  # fmt: skip
    assert {"/v1/assets/{asset_id}", "/v1/usage", "/metrics"} <= routes
    assert not any(r and "nope" in r for r in routes)


def test_openapi_lists_the_usage_endpoints(server):
    with server.client() as http:
        spec = http.get("/openapi.json").json()
    for path in ("/v1/usage", "/v1/usage/changes", "/v1/usage/explain", "/metrics"):
        assert path in spec["paths"], path
    ok = spec["paths"]["/v1/usage"]["get"]["responses"]["200"]["content"]
    assert {"application/json", "text/csv", "application/x-ndjson",
            "application/vnd.apache.parquet"} <= set(ok)  # fmt: skip
    assert ok["application/json"]["schema"]["$ref"].endswith("/UsagePage")
    params = {p["name"] for p in spec["paths"]["/v1/usage"]["get"]["parameters"]}
    assert {"from", "to", "granularity", "timezone", "group_by", "cursor", "format"} <= params
    assert "ExplainResponse" in spec["components"]["schemas"]
