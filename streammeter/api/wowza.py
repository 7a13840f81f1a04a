"""Wowza Video usage endpoints: `GET /api/{version}/usage/account` (and `/usage/accounts`),
`/usage/stream_targets`, `/usage/transcoders`, `/usage/vod_streams` with `/{id}` and
`/summary` (vendor-apis.md 3; docs/api/wowza-usage.md).

Errors use Wowza's `meta` envelope; successful answers carry `Cache-Control: max-age=60`, as
Wowza caches usage responses for a minute.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Request

from streammeter.api.errors import JSONResponse
from streammeter.api.limits import wowza_rate_limited
from streammeter.api.schemas_native import documented
from streammeter.api.schemas_wowza import FAMILY_RESPONSES, WowzaUsageAccountResponse
from streammeter.api.wowza_auth import authenticate
from streammeter.model.times import US_PER_SECOND, now_us
from streammeter.query.wowza import (
    FAMILIES,
    VERSIONS,
    Family,
    WowzaError,
    account_body,
    item_body,
    list_body,
    summary_body,
)
from streammeter.store.base import AccountInfo, Store

router = APIRouter(tags=["Wowza-compatible"])

CACHE_CONTROL = "max-age=60"
_TIME_PARAMS = (
    "`from`, `to`: `YYYY-MM-DD HH:00:00` (UTC), `YYYY-MM-DD`, ISO 8601 with `Z` or an offset, "
    "or `last_bill_date`; both rounded up to the hour; at most 90 days (longer windows are cut "
    "to from + 90 days, echoed in `limits`)."
)


def _answer(
    request: Request, version: str, build: Callable[[Store, AccountInfo, int], dict[str, Any]]
) -> JSONResponse:
    store: Store = request.app.state.store
    now = now_us()
    try:
        if version not in VERSIONS:
            raise WowzaError(
                "ERR-404-RecordNotFound",
                f"the usage API is served under /api/{{{', '.join(VERSIONS)}}}, not /api/{version}",
            )
        account = authenticate(
            store, request.headers, request.url.path, version, now // US_PER_SECOND
        )
        limited = wowza_rate_limited(request)  # 429 over the credential's limit
        if limited is not None:
            return limited
        body = build(store, account, now)
    except WowzaError as exc:
        return JSONResponse(exc.body(), status_code=exc.status)
    return JSONResponse(body, headers={"Cache-Control": CACHE_CONTROL})


def _params(request: Request) -> dict[str, str]:
    return dict(request.query_params)


@router.get(
    "/api/{version}/usage/account",
    summary="Fetch usage for an account (Wowza-compatible)",
    description="Viewing and egress totals of the account the JWT names, with `include=trend` "
    "and `filter[N][field]=resource` (`eq`/`in` over `transcoders`, `vod_streams`). "
    + _TIME_PARAMS,
    response_class=JSONResponse,
    responses=documented(WowzaUsageAccountResponse, "The account's usage (`usage_account`)"),
)
@router.get("/api/{version}/usage/accounts", include_in_schema=False)
def usage_account(request: Request, version: str) -> JSONResponse:
    def build(store: Store, account: AccountInfo, now: int) -> dict[str, Any]:
        params = _params(request)
        return account_body(store, account, params, request.query_params.multi_items(), now)

    return _answer(request, version, build)


def _family_routes(family: Family) -> None:
    base = f"/api/{{version}}/usage/{family.path}"
    label = family.path.replace("_", " ")

    def summary(request: Request, version: str) -> JSONResponse:
        return _answer(
            request,
            version,
            lambda store, account, now: summary_body(store, family, account, _params(request), now),
        )

    def item(request: Request, version: str, id: str) -> JSONResponse:
        return _answer(
            request,
            version,
            lambda store, account, now: item_body(
                store, family, account, id, _params(request), now
            ),
        )

    def listing(request: Request, version: str) -> JSONResponse:
        return _answer(
            request,
            version,
            lambda store, account, now: list_body(store, family, account, _params(request), now),
        )

    listed, one, summed = FAMILY_RESPONSES[family.path]
    # /summary before /{id}, so that "summary" is never taken for an id.
    router.add_api_route(
        f"{base}/summary", summary, methods=["GET"], response_class=JSONResponse,
        summary=f"Usage summary of all {label} (Wowza-compatible)", description=_TIME_PARAMS,
        name=f"wowza_{family.path}_summary", responses=documented(summed),
    )  # fmt: skip
    router.add_api_route(
        f"{base}/{{id}}", item, methods=["GET"], response_class=JSONResponse,
        summary=f"Usage of one of the {label} (Wowza-compatible)",
        description=_TIME_PARAMS + " `include=trend` adds the trend.",
        name=f"wowza_{family.path}_item", responses=documented(one),
    )  # fmt: skip
    router.add_api_route(
        base, listing, methods=["GET"], response_class=JSONResponse,
        summary=f"Usage of every one of the {label} (Wowza-compatible)",
        description=_TIME_PARAMS + " Paged by `per_page` (at most 1000) and "
        + ("`next_page_key`." if family.keyset else "`page`."),
        name=f"wowza_{family.path}_list", responses=documented(listed),
    )  # fmt: skip


for _family in FAMILIES.values():
    _family_routes(_family)
