"""Native usage endpoints: `GET /v1/usage`, `/v1/usage/changes`, `/v1/usage/explain`
(docs/api/usage.md)."""

from __future__ import annotations

import base64
import csv
import io
from typing import Annotated, Any

import orjson
import pyarrow as pa
import pyarrow.parquet as pq
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse as DocumentedJSON
from pydantic import BaseModel, Field
from starlette.responses import Response

from streammeter.api.auth import require
from streammeter.api.errors import JSONResponse, invalid
from streammeter.model.tiers import tier_from_name, tier_label
from streammeter.model.times import US_PER_HOUR, InvalidTime, iso_seconds, now_us, parse_instant
from streammeter.query import usage as q
from streammeter.store.base import Store, TokenInfo

# Responses are built by hand (orjson, other formats); DocumentedJSON only makes FastAPI put the
# response_model schemas into /openapi.json.
router = APIRouter(prefix="/v1", tags=["Usage"], default_response_class=DocumentedJSON)
ReadToken = Annotated[TokenInfo, Depends(require("read"))]
TIER_LABELS = ("none", "720p", "1080p", "1440p", "2160p", "audio-only")


# -- response schemas (OpenAPI) ----------------------------------------------------------------
class UsageRowModel(BaseModel):
    bucket_start: str = Field(description="RFC 3339, in the requested time zone")
    bucket_end: str
    status: str = Field(description="`final` or `provisional` (counting.md 8)")
    revision: int = Field(description="highest revision of the bucket's hours (0: none)")
    asset_id: str | None = Field(None, description="with group_by=asset (null: unmapped)")
    live_stream_id: str | None = Field(None, description="with group_by=live_stream")
    tier: str | None = Field(None, description="with group_by=tier")
    environment: str | None = Field(None, description="with group_by=environment")
    resource: str | None = Field(None, description="with group_by=resource")
    delivered_seconds: float
    delivered_seconds_by_tier: dict[str, float] | None = Field(
        None, description="non-zero tiers; absent when grouped by tier"
    )
    bytes: int = Field(description="viewing bytes (edge records)")
    egress_seconds: float
    egress_bytes: int
    requests: int


class UsagePage(BaseModel):
    data: list[UsageRowModel]
    total_row_count: int
    next_cursor: str | None
    timeframe: dict[str, str]
    granularity: str
    timezone: str
    revision: int = Field(description="current revision; pass it to /v1/usage/changes later")


class ChangeModel(BaseModel):
    hour: str
    hour_epoch: int
    revision: int
    status: str
    changed_at: str


class ChangesPage(BaseModel):
    data: list[ChangeModel]
    revision: int
    next_cursor: str | None


class ExplainReceipt(BaseModel):
    receipt_id: str
    name: str | None
    source: str | None
    format: str | None
    imported_at: int | None
    first_line: int
    last_line: int
    records: int
    delivered_seconds: float
    bytes: int
    egress_seconds: float
    egress_bytes: int
    earned_seconds: float


class ExplainCell(BaseModel):
    asset_id: str
    hour: str
    tier: str | None
    status: str
    revision: int
    delivered_seconds: float
    bytes: int
    records: int
    receipts: list[ExplainReceipt]


class ExplainResponse(BaseModel):
    data: ExplainCell


_OTHER_FORMATS = {
    200: {
        "content": {
            q.MEDIA_TYPES["csv"]: {"schema": {"type": "string"}},
            q.MEDIA_TYPES["ndjson"]: {"schema": {"type": "string"}},
            q.MEDIA_TYPES["parquet"]: {"schema": {"type": "string", "format": "binary"}},
        },
        "description": "JSON page, or CSV / NDJSON / Parquet rows (`format` or `Accept`); "
        "then the next cursor is in the `X-Next-Cursor` header.",
    }
}


def _store(request: Request) -> Store:
    return request.app.state.store


def _seconds(us: int | None) -> float:
    return round((us or 0) / 1_000_000, 6)


def _format(fmt: str | None, accept: str) -> str:
    if fmt:
        if fmt not in q.FORMATS:
            raise invalid([f"format: {fmt!r} is not one of {', '.join(q.FORMATS)}"])
        return fmt
    for name, media in q.MEDIA_TYPES.items():
        if media in accept:
            return name
    if "application/parquet" in accept:
        return "parquet"
    return "json"


def usage_rows(
    raw: list[dict[str, Any]], params: q.UsageParams, plan: q.UsagePlan, store: Store, env_key: int
) -> list[dict[str, Any]]:
    now = now_us()
    settle = q.settle_after_us()
    revisions = store.hour_revisions(
        env_key, params.start_us // US_PER_HOUR, -(-params.end_us // US_PER_HOUR)
    )
    out = []
    for row in raw:
        lo, hi = plan.buckets[row["idx"]]
        hours = q.bucket_hours(lo, hi)
        item: dict[str, Any] = {
            "bucket_start": q.local_iso(lo, params.timezone),
            "bucket_end": q.local_iso(hi, params.timezone),
            "status": "final" if q.hour_is_final(hours[-1], now, settle) else "provisional",
            "revision": max((revisions.get(h, 0) for h in hours), default=0),
        }
        for group in params.group_by:
            key = {"asset": "asset_id", "live_stream": "live_stream_id"}.get(group, group)
            value = row[key]
            item[key] = tier_label(value) if group == "tier" else value
        item["delivered_seconds"] = _seconds(row["delivered_us"])
        if "tier" not in params.group_by:
            item["delivered_seconds_by_tier"] = {
                TIER_LABELS[code]: _seconds(row[f"t{code}"])
                for code in range(6)
                if row.get(f"t{code}")
            }
        item["bytes"] = int(row["bytes"])
        item["egress_seconds"] = _seconds(row["egress_us"])
        item["egress_bytes"] = int(row["egress_bytes"])
        item["requests"] = int(row["requests"])
        out.append(item)
    return out


def flat_rows(rows: list[dict[str, Any]], group_by: tuple[str, ...]) -> list[dict[str, Any]]:
    """Rows for CSV / Parquet: one column per tier instead of the nested object."""
    flat = []
    for row in rows:
        item = {k: v for k, v in row.items() if k != "delivered_seconds_by_tier"}
        if "tier" not in group_by:
            tiers = row.get("delivered_seconds_by_tier") or {}
            for label in TIER_LABELS:
                item["delivered_seconds_" + label.replace("-", "_")] = tiers.get(label, 0.0)
        flat.append(item)
    return flat


def columns_for(group_by: tuple[str, ...]) -> list[str]:
    names = ["bucket_start", "bucket_end", "status", "revision"]
    names += [{"asset": "asset_id", "live_stream": "live_stream_id"}.get(g, g) for g in group_by]
    names.append("delivered_seconds")
    if "tier" not in group_by:
        names += ["delivered_seconds_" + label.replace("-", "_") for label in TIER_LABELS]
    return names + ["bytes", "egress_seconds", "egress_bytes", "requests"]


def arrow_table(rows: list[dict[str, Any]], group_by: tuple[str, ...]) -> pa.Table:
    types = {
        "revision": pa.int64(), "bytes": pa.int64(), "egress_bytes": pa.int64(),
        "requests": pa.int64(),
    }  # fmt: skip
    names = columns_for(group_by)
    flat = flat_rows(rows, group_by)
    fields = [
        pa.field(
            n, types.get(n, pa.float64() if "seconds" in n else pa.string())
        )
        for n in names
    ]
    return pa.table({n: [r.get(n) for r in flat] for n in names}, schema=pa.schema(fields))


def render(rows: list[dict[str, Any]], fmt: str, group_by: tuple[str, ...]) -> bytes:
    if fmt == "ndjson":
        return b"".join(orjson.dumps(r) + b"\n" for r in rows)
    if fmt == "csv":
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=columns_for(group_by), lineterminator="\n")
        writer.writeheader()
        writer.writerows(flat_rows(rows, group_by))
        return buffer.getvalue().encode()
    sink = io.BytesIO()
    pq.write_table(arrow_table(rows, group_by), sink)
    return sink.getvalue()


@router.get(
    "/usage",
    summary="Usage by time bucket, grouped and filtered",
    response_model=UsagePage,
    responses=_OTHER_FORMATS,
)
def get_usage(
    request: Request,
    token: ReadToken,
    from_: Annotated[str | None, Query(alias="from", description="RFC 3339 or epoch")] = None,
    to: Annotated[str | None, Query(description="RFC 3339 or epoch seconds (exclusive)")] = None,
    granularity: Annotated[str, Query(description="hour | day | month | total")] = "day",
    timezone: Annotated[str, Query(description="IANA time zone for buckets")] = "UTC",
    group_by: Annotated[list[str], Query(description="asset, live_stream, tier, ...")] = [],  # noqa: B006
    asset_id: Annotated[list[str], Query()] = [],  # noqa: B006
    live_stream_id: Annotated[list[str], Query()] = [],  # noqa: B006
    tier: Annotated[list[str], Query()] = [],  # noqa: B006
    limit: Annotated[int, Query(ge=1, le=q.MAX_LIMIT)] = 1000,
    cursor: str | None = None,
    format: Annotated[str | None, Query(description="json | csv | ndjson | parquet")] = None,  # noqa: A002
) -> Response:
    fmt = _format(format, request.headers.get("accept", ""))
    try:
        params = q.parse_params(
            from_, to, granularity, timezone, group_by, asset_id, live_stream_id, tier
        )
        plan = q.plan(params)
        offset = q.decode_cursor(cursor, params) if cursor else 0
    except q.UsageQueryError as exc:
        raise invalid(exc.messages) from None
    store = _store(request)
    raw, total = store.native_usage(token.env_key, params, plan, limit=limit, offset=offset)
    rows = usage_rows(raw, params, plan, store, token.env_key)
    next_cursor = q.encode_cursor(offset + limit, params) if offset + limit < total else None
    if fmt == "json":
        return JSONResponse(
            {
                "data": rows,
                "total_row_count": total,
                "next_cursor": next_cursor,
                "timeframe": {
                    "from": q.local_iso(params.start_us, params.timezone),
                    "to": q.local_iso(params.end_us, params.timezone),
                },
                "granularity": params.granularity,
                "timezone": params.timezone,
                "revision": store.usage_revision(),
            }
        )
    headers = {"X-Total-Row-Count": str(total)}
    if next_cursor:
        headers["X-Next-Cursor"] = next_cursor
    return Response(
        render(rows, fmt, params.group_by), media_type=q.MEDIA_TYPES[fmt], headers=headers
    )


def _encode_after(revision: int, hour: int) -> str:
    return base64.urlsafe_b64encode(f"{revision}:{hour}".encode()).decode().rstrip("=")


def _decode_after(cursor: str) -> tuple[int, int]:
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        revision, hour = text.split(":")
        return int(revision), int(hour)
    except (ValueError, UnicodeDecodeError):
        raise invalid(["cursor: not a cursor returned by this endpoint"]) from None


@router.get(
    "/usage/changes",
    summary="Hours whose numbers changed since a revision",
    response_model=ChangesPage,
)
def get_changes(
    request: Request,
    token: ReadToken,
    since: Annotated[int, Query(ge=0, description="a revision seen before")] = 0,
    limit: Annotated[int, Query(ge=1, le=q.MAX_LIMIT)] = 1000,
    cursor: str | None = None,
) -> JSONResponse:
    store = _store(request)
    after = _decode_after(cursor) if cursor else None
    current = store.usage_revision()
    changes = store.usage_changes(token.env_key, since, limit + 1, after)
    more = len(changes) > limit
    changes = changes[:limit]
    now, settle = now_us(), q.settle_after_us()
    data = [
        {
            "hour": iso_seconds(c["hour"] * US_PER_HOUR),
            "hour_epoch": c["hour"] * 3600,
            "revision": c["revision"],
            "status": "final" if q.hour_is_final(c["hour"], now, settle) else "provisional",
            "changed_at": iso_seconds(c["changed_at"]),
        }
        for c in changes
    ]
    last = changes[-1] if changes else None
    return JSONResponse(
        {
            "data": data,
            "revision": current,
            "next_cursor": _encode_after(last["revision"], last["hour"]) if more and last else None,
        }
    )


@router.get(
    "/usage/explain",
    summary="The receipts and lines behind one (asset, hour, tier) number",
    response_model=ExplainResponse,
)
def get_explain(
    request: Request,
    token: ReadToken,
    asset_id: str,
    hour: Annotated[str, Query(description="any instant in the UTC hour (RFC 3339 or epoch)")],
    tier: Annotated[str | None, Query(description="720p ... audio-only, none")] = None,
) -> JSONResponse:
    try:
        hour_index = parse_instant(hour) // US_PER_HOUR
    except InvalidTime as exc:
        raise invalid([f"hour: {exc}"]) from None
    code = None
    if tier is not None:
        code = 0 if tier.strip().lower() == "none" else tier_from_name(tier)
        if code is None:
            raise invalid([f"tier: {tier!r} is not a tier"])
    store = _store(request)
    receipts = store.explain_usage(token.env_key, asset_id, hour_index, code)
    revision = store.hour_revisions(token.env_key, hour_index, hour_index + 1).get(hour_index, 0)
    final = q.hour_is_final(hour_index, now_us())
    items = [
        {
            "receipt_id": r["receipt_id"], "name": r["name"], "source": r["source"],
            "format": r["format"], "imported_at": r["imported_at"],
            "first_line": r["first_line"], "last_line": r["last_line"],
            "records": r["records"], "delivered_seconds": _seconds(r["delivered_us"]),
            "bytes": r["bytes"], "egress_seconds": _seconds(r["egress_us"]),
            "egress_bytes": r["egress_bytes"], "earned_seconds": _seconds(r["earned_us"]),
        }  # fmt: skip
        for r in receipts
    ]
    return JSONResponse(
        {
            "data": {
                "asset_id": asset_id,
                "hour": iso_seconds(hour_index * US_PER_HOUR),
                "tier": None if code is None else tier_label(code),
                "status": "final" if final else "provisional",
                "revision": revision,
                "delivered_seconds": _seconds(sum(r["delivered_us"] or 0 for r in receipts)),
                "bytes": sum(i["bytes"] for i in items),
                "records": sum(i["records"] for i in items),
                "receipts": items,
            }
        }
    )
