"""`GET /v1/freshness`: how fresh this environment's numbers are (docs/dashboard.md).

The last import per receipt source and format, and the hours with data that are still
provisional. Read-only, `read` scope, computed from existing store reads (receipts and the
per-hour revisions), so it works on any store engine.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, Field

from streammeter.api.auth import require
from streammeter.api.errors import JSONResponse
from streammeter.model.times import US_PER_HOUR, US_PER_SECOND, iso_seconds, now_us
from streammeter.query.usage import settle_after_us
from streammeter.store.base import Store, TokenInfo

router = APIRouter(prefix="/v1", tags=["Usage"])
ReadToken = Annotated[TokenInfo, Depends(require("read"))]

# Receipts read to find the last import per source (newest first).
MAX_RECEIPTS = 10_000


# -- response schemas (OpenAPI) ----------------------------------------------------------------
class SourceFreshness(BaseModel):
    source: str = Field(description="receipt source: `file` or `batch`")
    format: str = Field(description="`ndjson`, `cloudfront`, ...")
    last_import_at: str | None = Field(description="when the newest receipt was imported")
    last_import_age_seconds: int
    last_receipt_id: str
    last_name: str
    imports: int = Field(description="receipts of this source and format")
    accepted: int = Field(description="lines accepted over those receipts")
    rejected: int = Field(description="lines quarantined over those receipts")
    newest_record_at: str | None = Field(description="newest record timestamp imported")
    newest_record_age_seconds: float | None


class ProvisionalHours(BaseModel):
    hours: int = Field(description="hours with data that are still provisional")
    oldest_hour: str | None
    newest_hour: str | None
    final_before: str = Field(description="hours starting before this instant are final")


class Freshness(BaseModel):
    now: str = Field(description="the service clock")
    settle_after_hours: float
    sources: list[SourceFreshness]
    receipts_read: int
    provisional: ProvisionalHours


class FreshnessResponse(BaseModel):
    data: Freshness


def _iso(seconds: int | None) -> str | None:
    return None if seconds is None else iso_seconds(seconds * US_PER_SECOND)


def freshness(store: Store, env_key: int) -> dict[str, Any]:
    now = now_us()
    settle = settle_after_us()
    receipts = store.list_receipts(env_key, MAX_RECEIPTS)
    sources: dict[tuple[str, str], dict[str, Any]] = {}
    for r in receipts:  # newest first: the first receipt seen per key is the last import
        item = sources.get((r.source, r.format))
        if item is None:
            item = sources[(r.source, r.format)] = {
                "source": r.source,
                "format": r.format,
                "last_import_at": _iso(r.imported_at),
                "last_import_age_seconds": max(0, now // US_PER_SECOND - r.imported_at),
                "last_receipt_id": r.receipt_id,
                "last_name": r.name,
                "newest_record_us": None,
                "imports": 0,
                "accepted": 0,
                "rejected": 0,
            }
        item["imports"] += 1
        item["accepted"] += r.accepted
        item["rejected"] += r.rejected
        if r.last_ts_us is not None and (
            item["newest_record_us"] is None or r.last_ts_us > item["newest_record_us"]
        ):
            item["newest_record_us"] = r.last_ts_us
    rows = []
    for item in sorted(sources.values(), key=lambda s: (s["source"], s["format"])):
        newest = item.pop("newest_record_us")
        item["newest_record_at"] = None if newest is None else iso_seconds(newest)
        item["newest_record_age_seconds"] = (
            None if newest is None else round((now - newest) / US_PER_SECOND, 3)
        )
        rows.append(item)
    # An hour h is final once (h + 1) h + settle_after <= now (query/usage.py hour_is_final).
    first_provisional = (now - settle) // US_PER_HOUR
    hours = sorted(store.hour_revisions(env_key, first_provisional, 2**62 // US_PER_HOUR))
    return {
        "now": iso_seconds(now),
        "settle_after_hours": settle / US_PER_HOUR,
        "sources": rows,
        "receipts_read": len(receipts),
        "provisional": {
            "hours": len(hours),
            "oldest_hour": iso_seconds(hours[0] * US_PER_HOUR) if hours else None,
            "newest_hour": iso_seconds(hours[-1] * US_PER_HOUR) if hours else None,
            "final_before": iso_seconds(first_provisional * US_PER_HOUR),
        },
    }


@router.get(
    "/freshness",
    response_class=JSONResponse,
    response_model=FreshnessResponse,
    summary="Last import per source and the hours still provisional",
)
def get_freshness(request: Request, token: ReadToken) -> JSONResponse:
    return JSONResponse({"data": freshness(request.app.state.store, token.env_key)})
