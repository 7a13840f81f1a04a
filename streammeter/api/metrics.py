"""Prometheus metrics: `GET /metrics` (docs/metrics.md).

Process counters (ingest lines by outcome, receipts, request latency by route template) live in
this module's registry; store figures (quarantine, unmapped and inferred-tier records, age of
the newest data per source, oldest provisional hour) are computed from the store at scrape time.
"""

from __future__ import annotations

import json
import time
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.exposition import generate_latest
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from streammeter.model.times import US_PER_HOUR, US_PER_SECOND, now_us
from streammeter.query.usage import settle_after_us

REGISTRY = CollectorRegistry()
INGEST_LINES = Counter(
    "streammeter_ingest_lines",
    "Lines (records) imported, by outcome: accepted, duplicate, rejected.",
    ["outcome"],
    registry=REGISTRY,
)
INGEST_RECEIPTS = Counter(
    "streammeter_ingest_receipts",
    "Imports committed (one receipt each), by source: file or batch.",
    ["source"],
    registry=REGISTRY,
)
REQUEST_LATENCY = Histogram(
    "streammeter_http_request_duration_seconds",
    "HTTP request latency by method, route template and status.",
    ["method", "route", "status"],
    registry=REGISTRY,
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
for _outcome in ("accepted", "duplicate", "rejected"):
    INGEST_LINES.labels(_outcome)

router = APIRouter(tags=["Service"])


def observe_receipt(receipt: Any) -> None:
    """Count a committed import (called by the importer once its transaction committed)."""
    INGEST_RECEIPTS.labels(receipt.source).inc()
    INGEST_LINES.labels("accepted").inc(receipt.accepted)
    INGEST_LINES.labels("duplicate").inc(receipt.duplicate)
    INGEST_LINES.labels("rejected").inc(receipt.rejected)


class MetricsMiddleware:
    """Times every HTTP request; labels it by the matched route's path template
    (`/v1/assets/{asset_id}`), never the raw URL, so label cardinality stays bounded."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = [500]

        async def send_status(message: Message) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            route = getattr(scope.get("route"), "path", None) or "unmatched"
            REQUEST_LATENCY.labels(scope["method"], route, str(status[0])).observe(
                time.perf_counter() - started
            )


class _StoreCollector:
    def __init__(self, store: Any) -> None:
        self.store = store

    def collect(self) -> Any:
        now = now_us()
        first_provisional = (now - settle_after_us()) // US_PER_HOUR
        health = self.store.usage_health(first_provisional)
        yield GaugeMetricFamily(
            "streammeter_quarantined_lines", "Lines held in quarantine (all receipts).",
            value=health["quarantined"],
        )  # fmt: skip
        unmapped = inferred = 0
        for text in health["notes"]:
            for note, count in json.loads(text).items():
                if "not in the catalog" in note:
                    unmapped += int(count)
                elif "tier inferred" in note:
                    inferred += int(count)
        yield GaugeMetricFamily(
            "streammeter_unmapped_records",
            "Records whose asset or playback id was not in the catalog when imported.",
            value=unmapped,
        )
        yield GaugeMetricFamily(
            "streammeter_inferred_tier_records",
            "Records whose tier was inferred from the asset's asset_resolution_tier.",
            value=inferred,
        )
        age = GaugeMetricFamily(
            "streammeter_newest_data_age_seconds",
            "Age of the newest record timestamp, per receipt source (file, batch) and format.",
            labels=["source", "format"],
        )
        for (source, fmt), newest in sorted(health["newest_us"].items()):
            age.add_metric([source, fmt], (now - newest) / US_PER_SECOND)
        yield age
        oldest = health["oldest_provisional_hour"]
        yield GaugeMetricFamily(
            "streammeter_oldest_provisional_hour_timestamp_seconds",
            "Start (epoch seconds) of the oldest hour with data that is still provisional; "
            "0 if none.",
            value=0 if oldest is None else oldest * 3600,
        )


@router.get("/metrics", summary="Prometheus metrics", response_class=Response,
            responses={200: {"content": {CONTENT_TYPE_LATEST: {"schema": {"type": "string"}}}}})
def metrics(request: Request) -> Response:
    scrape = CollectorRegistry()
    scrape.register(_StoreCollector(request.app.state.store))
    body = generate_latest(REGISTRY) + generate_latest(scrape)
    return Response(body, media_type=CONTENT_TYPE_LATEST)


def install(app: FastAPI) -> None:
    """`/metrics` and the latency middleware."""
    app.include_router(router)
    app.add_middleware(MetricsMiddleware)
