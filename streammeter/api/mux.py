"""`GET /video/v1/delivery-usage`, wire-compatible with Mux (vendor-apis.md section 2)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request

from streammeter.api.auth import require
from streammeter.api.errors import JSONResponse, invalid
from streammeter.model.times import US_PER_SECOND, now_us
from streammeter.query.delivery_usage import InvalidParameters, list_delivery_usage, parse_query
from streammeter.store.base import TokenInfo

router = APIRouter(tags=["Mux-compatible"])


@router.get(
    "/video/v1/delivery-usage",
    summary="List Usage (Mux-compatible)",
    response_class=JSONResponse,
)
def delivery_usage(
    request: Request,
    token: Annotated[TokenInfo, Depends(require("read"))],
    page: Annotated[str | None, Query(description="Page number, from 1")] = None,
    limit: Annotated[str | None, Query(description="Page size (default 100)")] = None,
    asset_id: Annotated[str | None, Query()] = None,
    live_stream_id: Annotated[str | None, Query()] = None,
    timeframe: Annotated[
        list[str] | None,
        Query(alias="timeframe[]", description="[start, end] in Unix epoch seconds"),
    ] = None,
) -> JSONResponse:
    """Delivered seconds per asset and resolution tier over an hourly window."""
    try:
        query = parse_query(
            request.query_params.multi_items(),
            now_us() // US_PER_SECOND,
            request.app.state.settings,
        )
    except InvalidParameters as exc:
        raise invalid(exc.messages) from None
    body = list_delivery_usage(request.app.state.store, token.env_key, query)
    return JSONResponse(body)
