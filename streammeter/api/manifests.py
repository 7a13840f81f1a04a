"""Register manifests over HTTP: the index of an asset's URL paths (docs/index.md)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from starlette.concurrency import run_in_threadpool

from streammeter.api.auth import require
from streammeter.api.errors import ApiError, JSONResponse, invalid, not_found
from streammeter.api.schemas_native import (
    AssetIndexResponse,
    RegisteredManifestResponse,
    documented,
)
from streammeter.index.common import ManifestError
from streammeter.index.register import MAX_MANIFEST_BYTES, register_text
from streammeter.store.base import Store, TokenInfo

router = APIRouter(prefix="/v1", tags=["Index"])

ReadToken = Annotated[TokenInfo, Depends(require("read"))]
AdminToken = Annotated[TokenInfo, Depends(require("admin"))]


async def _text(request: Request) -> str:
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_MANIFEST_BYTES:
            raise ApiError(
                413,
                "payload_too_large",
                [f"the manifest is larger than {MAX_MANIFEST_BYTES} bytes"],
            )
        chunks.append(chunk)
    body = b"".join(chunks)
    if not body.strip():
        raise invalid(["the body is empty: send the manifest text (an HLS playlist or a DASH MPD)"])
    try:
        return body.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise invalid(
            [f"the manifest is not UTF-8 text ({exc.reason} at byte {exc.start})"]
        ) from None


@router.put(
    "/assets/{asset_id}/manifests",
    response_class=JSONResponse,
    summary="Register an HLS playlist or DASH MPD served at `url`",
    responses=documented(RegisteredManifestResponse, "What was registered"),
)
async def put_manifest(
    asset_id: str,
    request: Request,
    token: AdminToken,
    url: Annotated[
        str,
        Query(
            description="The URL path the manifest is served at, e.g. /vod/ID/master.m3u8; "
            "relative URIs inside it resolve against it."
        ),
    ],
) -> JSONResponse:
    text = await _text(request)
    store: Store = request.app.state.store
    try:
        result = await run_in_threadpool(register_text, store, token.env_key, asset_id, url, text)
    except ManifestError as exc:
        raise invalid([str(exc)]) from None
    return JSONResponse({"data": result.as_dict()})


@router.get(
    "/assets/{asset_id}/manifests",
    response_class=JSONResponse,
    summary="What the index holds for an asset",
    responses=documented(AssetIndexResponse),
)
def get_manifests(asset_id: str, request: Request, token: ReadToken) -> JSONResponse:
    store: Store = request.app.state.store
    rows = store.index_summary(token.env_key, asset_id)
    if not rows:
        raise not_found(f"The index of asset {asset_id}")
    return JSONResponse({"data": rows[0]})
