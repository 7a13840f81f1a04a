"""`GET /video/v1/delivery-usage`, wire-compatible with Mux (vendor-apis.md section 2).

Answers are cached (query/mux_cache.py: never stale; `STREAMMETER_MUX_CACHE_MB`, 0 turns it
off), as serialized JSON, and so are verified callers: a repeated request costs no SQL and is
answered on the event loop; whatever asks the store runs in a worker thread.
"""

from __future__ import annotations

import orjson
from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from streammeter.api.auth import authenticate
from streammeter.api.errors import JSONResponse, forbidden, invalid
from streammeter.api.limits import check_token_rate
from streammeter.api.schemas_mux import ListDeliveryUsageResponse
from streammeter.model.times import US_PER_SECOND, now_us
from streammeter.query.delivery_usage import (
    HOUR,
    InvalidParameters,
    list_delivery_usage,
    parse_query,
)
from streammeter.query.mux_cache import UsageCache, usage_cache
from streammeter.store.base import TokenInfo

router = APIRouter(tags=["Mux-compatible"])


async def _cache(request: Request) -> UsageCache | None:
    state = request.app.state
    cache = getattr(state, "mux_usage_cache", None)
    if cache is not None and cache.store is state.store:
        return cache
    size = state.settings.mux_cache_mb << 20
    return await run_in_threadpool(usage_cache, state, state.store, size)


async def remembered_token(request: Request, scope: str) -> TokenInfo:
    """`require(scope)`, with verified callers remembered by the answer cache (a known caller
    costs no SQL and no thread hop). The memo holds until the next write that is not an
    import, so a revoked token is refused at once."""
    cache = await _cache(request)
    header = request.headers.get("authorization", "")
    token = cache.token(header) if cache is not None else None
    if token is not None:
        check_token_rate(request, token.token_id)  # as authenticate() does
    else:
        catalog = cache.catalog_generation() if cache is not None else 0
        token = await run_in_threadpool(authenticate, request)
        if cache is not None:
            cache.remember_token(header, token, catalog)
    if scope not in token.scopes and "admin" not in token.scopes:
        raise forbidden(scope)
    return token


def _parameter(name: str, title: str, description: str | None, array: bool = False) -> dict:
    """An OpenAPI query parameter as FastAPI describes an optional `str` (or `list[str]`)."""
    kind = {"type": "array", "items": {"type": "string"}} if array else {"type": "string"}
    schema: dict = {"anyOf": [kind, {"type": "null"}]}
    if description:
        schema["description"] = description
    schema["title"] = title
    out = {"name": name, "in": "query", "required": False, "schema": schema}
    return out | ({"description": description} if description else {})


# The endpoint reads its query string itself (parse_query: Mux's rules and messages); these
# describe it in the OpenAPI document without FastAPI validating each parameter per request.
_PARAMETERS = [
    _parameter("page", "Page", "Page number, from 1"),
    _parameter("limit", "Limit", "Page size (default 100)"),
    _parameter("asset_id", "Asset Id", None),
    _parameter("live_stream_id", "Live Stream Id", None),
    _parameter("timeframe[]", "Timeframe[]", "[start, end] in Unix epoch seconds", array=True),
]


@router.get(
    "/video/v1/delivery-usage",
    summary="List Usage (Mux-compatible)",
    response_class=JSONResponse,
    # Documents Mux's `ListDeliveryUsageResponse`; the cached JSON is never validated against it.
    responses={200: {"model": ListDeliveryUsageResponse, "description": "A page of usage"}},
    openapi_extra={"parameters": _PARAMETERS},
)
async def delivery_usage(request: Request) -> Response:
    """Delivered seconds per asset and resolution tier over an hourly window."""
    token = await remembered_token(request, "read")
    try:
        query = parse_query(
            request.query_params.multi_items(),
            now_us() // US_PER_SECOND,
            request.app.state.settings,
        )
    except InvalidParameters as exc:
        raise invalid(exc.messages) from None
    store = request.app.state.store

    def answer() -> bytes:
        return orjson.dumps(list_delivery_usage(store, token.env_key, query))

    # A cached answer is served on the event loop; anything that asks the store runs in a
    # worker thread, as a sync endpoint would.
    cache = await _cache(request)
    if cache is None:
        body = await run_in_threadpool(answer)
    else:
        start, end, key = query.start // HOUR, query.end // HOUR, (token.env_key, query)
        body = cache.peek(token.env_key, start, end, key)
        if body is None:
            body = await run_in_threadpool(
                cache.get_or_compute, token.env_key, start, end, key, answer
            )
    return Response(body, media_type="application/json")
