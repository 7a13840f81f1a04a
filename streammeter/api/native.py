"""streammeter's own API: catalog, event batches, file imports and receipts."""

from __future__ import annotations

import dataclasses
import errno
import os
import re
import tempfile
from pathlib import Path
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Body, Depends, Query, Request
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from streammeter.api.auth import require
from streammeter.api.errors import ApiError, JSONResponse, invalid, not_found
from streammeter.api.mux import remembered_token
from streammeter.api.schemas_native import (
    AssetPage,
    AssetResponse,
    EventBatchResponse,
    LiveStreamList,
    LiveStreamResponse,
    ReceiptDetailResponse,
    ReceiptList,
    ReceiptResponse,
    UpsertedResponse,
    documented,
)
from streammeter.ingest.group import GroupCommitter
from streammeter.ingest.importer import MAX_BATCH_BYTES, BatchTooLarge, import_file
from streammeter.model.catalog import Asset, asset_error_message
from streammeter.model.times import US_PER_SECOND, now_us
from streammeter.sources.generic import RecordError
from streammeter.store.base import Receipt, Store, TokenInfo

router = APIRouter(prefix="/v1", tags=["Native"])
MAX_NAME_CHARS = 1024  # an import's `name`
MAX_PAGE = 1_000_000_000  # beyond, the row offset would overflow the store's 64-bit integers
_PLAIN_SUFFIX = re.compile(r"\.[A-Za-z0-9]{1,16}")

ReadToken = Annotated[TokenInfo, Depends(require("read"))]
AdminToken = Annotated[TokenInfo, Depends(require("admin"))]
IngestToken = Annotated[TokenInfo, Depends(require("ingest"))]


def _store(request: Request) -> Store:
    return request.app.state.store


def asset_json(asset: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in asset.items() if value is not None} | {
        "playback_ids": asset.get("playback_ids") or []
    }


def receipt_json(receipt: Receipt) -> dict[str, Any]:
    return dataclasses.asdict(receipt)


async def _body(request: Request, limit: int) -> bytes:
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise ApiError(413, "payload_too_large", [f"the body is larger than {limit} bytes"])
        chunks.append(chunk)
    return b"".join(chunks)


# -- assets ---------------------------------------------------------------------------------
@router.put(
    "/assets/{asset_id}",
    response_class=JSONResponse,
    summary="Create or replace an asset",
    responses=documented(AssetResponse),
)
def put_asset(
    asset_id: str,
    request: Request,
    token: AdminToken,
    fields: Annotated[dict[str, Any], Body(description="Mux asset fields")],
) -> JSONResponse:
    try:
        asset = Asset.model_validate({**fields, "asset_id": asset_id})
    except ValidationError as exc:
        raise invalid([asset_error_message(exc)]) from None
    store = _store(request)
    store.upsert_assets(token.env_key, [asset])
    return JSONResponse({"data": asset_json(store.get_asset(token.env_key, asset_id) or {})})


@router.post(
    "/assets",
    response_class=JSONResponse,
    summary="Upsert many assets (NDJSON or array)",
    responses=documented(UpsertedResponse),
)
async def post_assets(request: Request, token: AdminToken) -> JSONResponse:
    body = await _body(request, MAX_BATCH_BYTES)
    try:
        items = (
            orjson.loads(body)
            if body.lstrip().startswith(b"[")
            else [orjson.loads(line) for line in body.splitlines() if line.strip()]
        )
    except orjson.JSONDecodeError as exc:
        raise invalid([f"invalid JSON: {exc}"]) from None
    assets, errors = [], []
    for number, item in enumerate(items, start=1):
        try:
            assets.append(Asset.model_validate(item))
        except ValidationError as exc:
            errors.append(f"record {number}: {asset_error_message(exc)}")
    if errors:
        raise invalid(errors)
    count = _store(request).upsert_assets(token.env_key, assets)
    return JSONResponse({"data": {"upserted": count}})


@router.get(
    "/assets/{asset_id}",
    response_class=JSONResponse,
    summary="Get an asset",
    responses=documented(AssetResponse),
)
def get_asset(asset_id: str, request: Request, token: ReadToken) -> JSONResponse:
    asset = _store(request).get_asset(token.env_key, asset_id)
    if asset is None:
        raise not_found(f"Asset {asset_id!r}")
    return JSONResponse({"data": asset_json(asset)})


@router.get(
    "/assets",
    response_class=JSONResponse,
    summary="List assets",
    responses=documented(AssetPage),
)
def list_assets(
    request: Request,
    token: ReadToken,
    page: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 1,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> JSONResponse:
    assets, total = _store(request).list_assets(token.env_key, limit, (page - 1) * limit)
    return JSONResponse(
        {
            "data": [asset_json(a) for a in assets],
            "total_row_count": total,
            "page": page,
            "limit": limit,
        }
    )


@router.delete(
    "/assets/{asset_id}",
    response_class=JSONResponse,
    summary="Mark an asset deleted",
    responses=documented(AssetResponse),
)
def delete_asset(asset_id: str, request: Request, token: AdminToken) -> JSONResponse:
    store = _store(request)
    if not store.delete_asset(token.env_key, asset_id, now_us() // US_PER_SECOND):
        raise not_found(f"Asset {asset_id!r}")
    return JSONResponse({"data": asset_json(store.get_asset(token.env_key, asset_id) or {})})


@router.get(
    "/live-streams",
    response_class=JSONResponse,
    summary="List live streams",
    responses=documented(LiveStreamList),
)
def list_live_streams(request: Request, token: ReadToken) -> JSONResponse:
    return JSONResponse({"data": _store(request).live_streams(token.env_key)})


@router.get(
    "/live-streams/{live_stream_id}",
    response_class=JSONResponse,
    summary="A live stream",
    responses=documented(LiveStreamResponse),
)
def get_live_stream(live_stream_id: str, request: Request, token: ReadToken) -> JSONResponse:
    found = _store(request).live_streams(token.env_key, live_stream_id)
    if not found:
        raise not_found(f"Live stream {live_stream_id!r}")
    return JSONResponse({"data": found[0]})


# -- ingest ---------------------------------------------------------------------------------
@router.post(
    "/events",
    response_class=JSONResponse,
    summary="Ingest a batch of delivery records",
    responses=documented(EventBatchResponse, "The receipt and every record's outcome"),
)
async def post_events(request: Request) -> JSONResponse:
    token = await remembered_token(request, "ingest")  # IngestToken, without SQL once known
    body = await _body(request, MAX_BATCH_BYTES)
    committer: GroupCommitter = request.app.state.group_committer
    try:
        # In a worker thread: an import must not stop the server answering; batches arriving
        # together share a transaction (group commit, docs/reliability.md)
        receipt, outcomes = await run_in_threadpool(committer.submit, token.env_key, body)
    except BatchTooLarge as exc:
        raise ApiError(413, "payload_too_large", [str(exc)]) from None
    except RecordError as exc:
        raise ApiError(400, "invalid_parameters", [str(exc)]) from None
    counts: dict[str, int] = {}
    for outcome in outcomes:
        counts[outcome["status"]] = counts.get(outcome["status"], 0) + 1  # type: ignore[index]
    return JSONResponse(
        {
            "data": {
                "receipt_id": receipt.receipt_id,
                "already_imported": receipt.already_imported,
                "counts": {"accepted": 0, "duplicate": 0, "rejected": 0} | counts,
                "records": outcomes,
            }
        }
    )


@router.post(
    "/imports",
    response_class=JSONResponse,
    summary="Import a whole file (request body)",
    responses=documented(ReceiptResponse, "The import's receipt"),
)
async def post_import(
    request: Request,
    token: IngestToken,
    name: Annotated[str, Query(description="The file's name or path, for growth detection")],
    format: Annotated[
        str | None, Query(description="auto, ndjson, csv, parquet or an access-log format")
    ] = None,
    origin: Annotated[bool, Query(description="An origin log: its bytes are egress")] = False,
    fields: Annotated[
        str | None, Query(description="cloudfront-realtime: the configured field list")
    ] = None,
) -> JSONResponse:
    if "\x00" in name or len(name) > MAX_NAME_CHARS:
        raise invalid([f"name must be at most {MAX_NAME_CHARS} characters, without NUL"])
    # Only the name's extensions reach the file system, and only plain ones (docs/security.md).
    suffix = "".join(s for s in Path(name).suffixes[-2:] if _PLAIN_SUFFIX.fullmatch(s))
    handle = tempfile.NamedTemporaryFile(delete=False, suffix=suffix)  # noqa: SIM115
    try:
        try:
            with handle:
                async for chunk in request.stream():
                    handle.write(chunk)
        except OSError as exc:
            if exc.errno != errno.ENOSPC:
                raise
            raise ApiError(
                507, "insufficient_storage",
                ["the server's temporary directory is full (No space left on device): nothing "
                 "was imported. Free some space and send the file again."],
            ) from None  # fmt: skip
        try:
            receipt = await run_in_threadpool(
                import_file, _store(request), token.env_key, Path(handle.name), format,
                source_name=name, origin=origin, options={"fields": fields} if fields else None,
            )  # fmt: skip
        except ValueError as exc:
            raise invalid([str(exc)]) from None
    finally:
        os.unlink(handle.name)
    return JSONResponse({"data": receipt_json(receipt)})


# -- receipts -------------------------------------------------------------------------------
@router.get(
    "/receipts",
    response_class=JSONResponse,
    summary="List import receipts",
    responses=documented(ReceiptList),
)
def list_receipts(
    request: Request, token: ReadToken, limit: Annotated[int, Query(ge=1, le=1000)] = 100
) -> JSONResponse:
    receipts = _store(request).list_receipts(token.env_key, limit)
    return JSONResponse({"data": [receipt_json(r) for r in receipts]})


@router.get(
    "/receipts/{receipt_id}",
    response_class=JSONResponse,
    summary="A receipt and its quarantine",
    responses=documented(ReceiptDetailResponse),
)
def get_receipt(receipt_id: str, request: Request, token: ReadToken) -> JSONResponse:
    store = _store(request)
    receipt = store.get_receipt(receipt_id)
    if receipt is None or receipt.environment_id != token.environment_id:
        raise not_found(f"Receipt {receipt_id!r}")
    return JSONResponse(
        {"data": receipt_json(receipt) | {"quarantine": store.quarantined(receipt_id)}}
    )
