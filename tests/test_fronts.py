"""`serve --workers N` on a DuckDB store: fronts before the store's owner
(docs/design/fronts.md). Real processes, real sockets, the official Mux client."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import mux_python
import pytest
from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry, Counter, Histogram

from streammeter.api import create_app
from streammeter.api.front import FrontApp, merged_metrics
from streammeter.config import Settings
from streammeter.ingest.importer import import_file
from streammeter.model.catalog import Asset
from streammeter.model.times import service_clock_at
from streammeter.store import open_store
from streammeter.store.generations import SharedGenerations
from tests.reliability import Server

FIXTURES = Path(__file__).parent / "fixtures"
NOW = "2020-12-15T12:00:00Z"
TIMEFRAME = [("timeframe[]", "1607817600"), ("timeframe[]", "1607990400")]
FIRST = "Ww4v2q2H4MNbHIAM2wApKb3cmrh7eHjGLUjdKohR5wM"  # 206.366667 s in TIMEFRAME
QUERIES = [
    TIMEFRAME,
    [*TIMEFRAME, ("limit", "1")],
    [*TIMEFRAME, ("limit", "1"), ("page", "2")],
    [*TIMEFRAME, ("asset_id", FIRST)],
    [*TIMEFRAME, ("live_stream_id", "B65hEUWW01ErVKDDGImKcBquYhwEAkjW6Ic3lPY0299Cc")],
]


def _store(db: Path) -> dict[str, tuple[str, str]]:
    """The Mux example: catalog and records; a read+ingest token and an admin token."""
    with service_clock_at(NOW), open_store(str(db)) as store:
        env = store.create_environment("prod").env_key
        lines = (FIXTURES / "mux_example_assets.ndjson").read_text().splitlines()
        store.upsert_assets(env, [Asset.model_validate_json(line) for line in lines])
        import_file(store, env, FIXTURES / "mux_example_records.ndjson")
        return {
            "user": store.create_token(env, ["read", "ingest"]),
            "admin": store.create_token(env, ["admin"]),
        }


def _one_process_answers(db: Path, token: tuple[str, str]) -> list[tuple[int, bytes]]:
    """What one `serve` process answers to QUERIES, before the fronts start."""
    with (
        service_clock_at(NOW),
        open_store(str(db)) as store,
        TestClient(create_app(store, Settings())) as client,
    ):
        answers = [client.get("/video/v1/delivery-usage", params=q, auth=token) for q in QUERIES]
    return [(r.status_code, r.content) for r in answers]


def _fronts(server: Server) -> list[int]:
    assert server.process is not None
    out = subprocess.run(
        ["pgrep", "-P", str(server.process.pid), "-f", "streammeter.api.front"],
        capture_output=True, text=True,
    )  # fmt: skip
    return [int(pid) for pid in out.stdout.split()]


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, dict, list]]:
    tmp = tmp_path_factory.mktemp("fronts")
    db = tmp / "store.duckdb"
    tokens = _store(db)
    expected = _one_process_answers(db, tokens["user"])
    server = Server(db, tmp / "serve.log", serve_args=("--workers", "2"), STREAMMETER_NOW=NOW)
    server.start()
    try:
        yield server, tokens, expected
    finally:
        server.stop()


def _usage(client: httpx.Client, **params: str) -> httpx.Response:
    return client.get("/video/v1/delivery-usage", params=[*TIMEFRAME, *params.items()])


def test_fronts_answer_what_one_process_answers(served: tuple[Server, dict, list]) -> None:
    server, tokens, expected = served
    assert len(_fronts(server)) == 1
    assert "1 front process(es)" in server.log.read_text()
    with server.client(tokens["user"]) as client:
        for _ in range(3):  # the first time from the owner, then from the front's cache
            got = [client.get("/video/v1/delivery-usage", params=q) for q in QUERIES]
            assert [(r.status_code, r.content) for r in got] == expected
            assert got[0].headers["content-type"] == "application/json"
            assert got[0].headers["content-length"] == str(len(expected[0][1]))

    config = mux_python.Configuration(host=server.url)
    config.username, config.password = tokens["user"]
    api = mux_python.DeliveryUsageApi(mux_python.ApiClient(config))
    rows = api.list_delivery_usage(timeframe=[t for _, t in TIMEFRAME], asset_id=FIRST).data
    assert [r.delivered_seconds for r in rows] == [206.366667]


def test_errors_come_from_the_owner_in_its_envelopes(served: tuple[Server, dict, list]) -> None:
    server, tokens, _ = served
    with server.client(tokens["user"]) as client:
        bad = _usage(client, limit="abc")
        assert bad.status_code == 400
        assert bad.json() == {
            "error": {
                "type": "invalid_parameters",
                "messages": ["limit must be an integer from 1 to 1000, got 'abc'"],
            }
        }
        assert client.get("/v1/nothing-here").status_code == 404
    anonymous = httpx.get(server.url + "/video/v1/delivery-usage", params=TIMEFRAME)
    assert anonymous.status_code == 401
    assert anonymous.json() == {
        "error": {"type": "unauthorized", "messages": ["Unauthorized request"]}
    }
    with server.client(tokens["admin"]) as admin:  # admin implies read: answered by the front
        assert _usage(admin, asset_id=FIRST).json()["data"][0]["delivered_seconds"] == 206.366667
    wowza = httpx.get(server.url + "/api/v2.0/usage/account")
    assert wowza.status_code == 401 and wowza.json()["meta"]["status"] == 401


def test_a_front_answers_cached_queries_by_itself(served: tuple[Server, dict, list]) -> None:
    """The owner stopped (SIGSTOP): a query the front has cached is still answered; one it
    has not seen waits for the owner."""
    server, tokens, expected = served
    assert server.process is not None
    with server.client(tokens["user"], timeout=5) as client:
        assert client.get("/video/v1/delivery-usage", params=QUERIES[1]).content == expected[1][1]
        server.process.send_signal(signal.SIGSTOP)
        try:
            for _ in range(20):
                answer = client.get("/video/v1/delivery-usage", params=QUERIES[1])
                assert answer.content == expected[1][1]
            with pytest.raises(httpx.ReadTimeout):
                client.get("/video/v1/delivery-usage", params=[*QUERIES[1], ("page", "3")],
                           timeout=1)  # fmt: skip
        finally:
            server.process.send_signal(signal.SIGCONT)
    metrics = httpx.get(server.url + "/metrics").text
    served_by_both = re.search(
        r'streammeter_http_request_duration_seconds_count\{method="GET",'
        r'route="/video/v1/delivery-usage",status="200"\} (\d+)',
        metrics,
    )
    assert served_by_both is not None and int(served_by_both.group(1)) >= 21


def test_writes_through_the_fronts_show_at_once(served: tuple[Server, dict, list]) -> None:
    """An event batch into a settled hour and a catalog change, both through a front: the
    next answers (new connections each) show them; the cached ones are not served."""
    server, tokens, _ = served
    with server.client(tokens["user"]) as client:
        assert _usage(client, asset_id=FIRST).json()["data"][0]["delivered_seconds"] == 206.366667
        event = {
            "id": "late-1", "timestamp": 1607925600, "asset_id": FIRST,
            "duration": 10, "width": 1920, "height": 1080, "bytes": 1000,
        }  # fmt: skip
        posted = client.post("/v1/events", json=[event])
        assert posted.status_code == 200, posted.text
        assert posted.json()["data"]["counts"] == {"accepted": 1, "duplicate": 0, "rejected": 0}
    for _ in range(4):
        with server.client(tokens["user"]) as client:
            row = _usage(client, asset_id=FIRST).json()["data"][0]
            assert row["delivered_seconds"] == 216.366667
            assert row["delivered_seconds_by_resolution"]["tier_1080p"] == 110
    with server.client(tokens["admin"]) as admin:
        changed = admin.put(
            f"/v1/assets/{FIRST}", json={"asset_duration": 99.5, "asset_resolution_tier": "1080p"}
        )
        assert changed.status_code == 200, changed.text
    with server.client(tokens["user"]) as client:
        assert _usage(client, asset_id=FIRST).json()["data"][0]["asset_duration"] == 99.5


def test_one_rate_limit_bucket_for_cached_and_passed_on_requests(tmp_path: Path) -> None:
    db = tmp_path / "store.duckdb"
    tokens = _store(db)
    server = Server(
        db, tmp_path / "serve.log", serve_args=("--workers", "2"), STREAMMETER_NOW=NOW,
        STREAMMETER_RATE_LIMIT_PER_MINUTE="60", STREAMMETER_RATE_LIMIT_BURST="4",
    ).start()  # fmt: skip
    try:
        with server.client(tokens["user"]) as client:
            assert _usage(client).status_code == 200  # from the owner
            assert _usage(client).status_code == 200  # from the front's cache
            assert client.get("/v1/receipts").status_code == 200  # passed on
            assert _usage(client, limit="abc").status_code == 400  # passed on
            over = _usage(client)
        assert over.status_code == 429
        assert over.headers["retry-after"] == "1"
        assert over.json() == {
            "error": {
                "type": "too_many_requests",
                "messages": [
                    "Too many requests: this token may send 60 requests per minute; retry in 1 s"
                ],
            }
        }
        with server.client(tokens["admin"]) as admin:  # another token, another bucket
            assert _usage(admin).status_code == 200
    finally:
        server.stop()


def test_the_fronts_stop_with_the_owner(tmp_path: Path) -> None:
    db = tmp_path / "store.duckdb"
    _store(db)
    server = Server(db, tmp_path / "serve.log", serve_args=("--workers", "3"), STREAMMETER_NOW=NOW)
    server.start()
    fronts = _fronts(server)
    assert len(fronts) == 2
    server.kill()  # SIGKILL: no chance to stop them itself
    deadline = time.monotonic() + 10
    while any(os.path.exists(f"/proc/{pid}") for pid in fronts):
        assert time.monotonic() < deadline, "a front outlived its owner"
        time.sleep(0.1)

    server.start()  # the store opens again: nothing held it
    fronts = _fronts(server)
    assert len(fronts) == 2
    server.stop()  # SIGTERM: the owner stops its fronts
    assert not any(os.path.exists(f"/proc/{pid}") for pid in fronts)


def test_a_front_without_its_owner_answers_502(tmp_path: Path) -> None:
    generations = SharedGenerations(tmp_path / "generations", create=True)
    app = FrontApp(str(tmp_path / "no-owner.sock"), generations, Settings())
    with TestClient(app) as client:
        mux = client.get("/video/v1/delivery-usage", params=TIMEFRAME, auth=("id", "secret"))
        assert mux.status_code == 502
        assert mux.json() == {
            "error": {
                "type": "bad_gateway",
                "messages": ["the store's owner process did not answer; retry shortly"],
            }
        }
        wowza = client.get("/api/v2.0/usage/account")
        assert wowza.status_code == 502
        assert wowza.json()["meta"]["code"] == "ERR-502-BadGateway"


def test_shared_generations_are_seen_by_another_mapping(tmp_path: Path) -> None:
    owner = SharedGenerations(tmp_path / "g", create=True)
    front = SharedGenerations(tmp_path / "g")
    assert front.read() == (0, 0)
    owner.publish(7, 3)
    assert front.read() == (7, 3)
    owner.publish(2**63, 4)
    assert front.read() == (2**63, 4)


def test_merged_metrics_add_the_fronts_counts_to_the_owners() -> None:
    def registry(observations: list[float], lines: int) -> CollectorRegistry:
        reg = CollectorRegistry()
        latency = Histogram("t_latency_seconds", "Latency.", ["route"], registry=reg,
                            buckets=(0.01, 0.1))  # fmt: skip
        for value in observations:
            latency.labels("/a").observe(value)
        if lines:
            Counter("t_lines", "Lines.", registry=reg).inc(lines)
        return reg

    from prometheus_client.exposition import generate_latest

    owner = generate_latest(registry([0.005, 0.05, 1.0], 0)).decode()
    merged = merged_metrics(owner, registry([0.005, 0.005], 5)).decode()
    assert 't_latency_seconds_bucket{le="0.01",route="/a"} 3.0' in merged
    assert 't_latency_seconds_bucket{le="0.1",route="/a"} 4.0' in merged
    assert 't_latency_seconds_bucket{le="+Inf",route="/a"} 5.0' in merged
    assert 't_latency_seconds_count{route="/a"} 5.0' in merged
    assert re.search(r"t_latency_seconds_sum\{route=\"/a\"\} 1\.06\d*\n", merged)
    assert "t_lines_total 5.0" in merged
    assert merged.count("# TYPE t_latency_seconds histogram") == 1
    assert merged_metrics(owner, CollectorRegistry()).decode() == owner
