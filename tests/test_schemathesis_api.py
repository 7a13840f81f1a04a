"""Schemathesis against the live app's `/openapi.json` (issue 7, item 3): for every operation,
generated requests (valid ones, and a share of invalid ones) never get a 5xx, and every
response conforms to the schema the operation documents for its status.

Bounded in the default run (a few examples per operation); `STREAMMETER_FUZZ=long` runs many
more (docs/security.md).
"""

from __future__ import annotations

import base64
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from streammeter.api import create_app
from streammeter.api.wowza_auth import issue_jwt
from streammeter.ingest.importer import import_file
from streammeter.model.times import now_us
from streammeter.sources.catalog import read_assets
from streammeter.store import open_store
from tests.conftest import LiveServer, make_tenant

FIXTURES = Path(__file__).parent / "fixtures"
LONG = os.environ.get("STREAMMETER_FUZZ") == "long"
EXAMPLES = 200 if LONG else 8


def _operations() -> list[str]:
    """`METHOD path` of every documented operation (from the app itself, at collection)."""
    with tempfile.TemporaryDirectory() as folder, open_store(f"{folder}/spec.duckdb") as store:
        spec = create_app(store).openapi()
    return [f"{method.upper()} {path}" for path, ops in spec["paths"].items() for method in ops]


@pytest.fixture(scope="module")
def live(tmp_path_factory) -> Iterator[dict]:
    folder = tmp_path_factory.mktemp("schemathesis")
    with open_store(str(folder / "api.duckdb")) as store:
        tenant = make_tenant(store, "prod", "acme")
        # a catalog and records, so that responses carry data
        store.upsert_assets(tenant.env.env_key, read_assets(FIXTURES / "mux_example_assets.ndjson"))
        import_file(store, tenant.env.env_key, FIXTURES / "mux_example_records.ndjson")
        token, _ = issue_jwt(store, "acme", now_s=now_us() // 1_000_000, expires_in_s=3600)
        basic = base64.b64encode(":".join(tenant.admin).encode()).decode()
        with LiveServer(store) as server:
            yield {
                "url": server.url,
                "schema": schemathesis.openapi.from_url(f"{server.url}/openapi.json"),
                "mux": {"Authorization": f"Basic {basic}"},
                "wowza": {"Authorization": f"Bearer {token}"},
            }


@pytest.mark.parametrize("operation", _operations())
def test_no_server_error_and_responses_conform(live, operation: str) -> None:
    method, path = operation.split(" ", 1)
    api_operation = live["schema"][path][method]
    headers = live["wowza"] if path.startswith("/api/") else live["mux"]
    modes = [schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE]

    for mode in modes:

        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        @given(case=api_operation.as_strategy(generation_mode=mode))
        def check(case) -> None:
            case.call_and_validate(
                base_url=live["url"],
                headers=headers,
                checks=[not_a_server_error, response_schema_conformance],
                timeout=60,
            )

        try:
            check()
        except Unsatisfiable:
            # No invalid request exists for this operation (every string is a valid id, say).
            assert mode is schemathesis.GenerationMode.NEGATIVE
