"""OpenAPI schemas of the native `/v1/...` endpoints and `/healthz` (docs/api/native.md), as
the handlers in native.py, manifests.py and app.py build their answers.

For the documentation only: the handlers return their JSON themselves and FastAPI does not
validate it against these. Absent optional catalog fields are left out, never `null`.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from streammeter.api.schemas_mux import omittable
from streammeter.model.catalog import AssetState, EncodingTier, ResolutionTier, VideoQuality


# -- assets ---------------------------------------------------------------------------------
class PlaybackIdOut(BaseModel):
    id: str
    policy: str = Field(examples=["public"])


class NativeAsset(BaseModel):
    """A catalog asset: Mux's fields, timestamps as epoch seconds (integers)."""

    asset_id: str
    live_stream_id: str = omittable()
    passthrough: str = omittable()
    created_at: int = Field(description="Epoch seconds")
    deleted_at: int = omittable("Epoch seconds; present once the asset is deleted")
    asset_state: AssetState
    asset_duration: float = omittable("Seconds")
    asset_resolution_tier: ResolutionTier
    asset_encoding_tier: EncodingTier = omittable()
    asset_video_quality: VideoQuality = omittable()
    playback_ids: list[PlaybackIdOut]


class AssetResponse(BaseModel):
    data: NativeAsset


class AssetPage(BaseModel):
    data: list[NativeAsset]
    total_row_count: int
    page: int
    limit: int


class Upserted(BaseModel):
    upserted: int = Field(description="Assets created or replaced")


class UpsertedResponse(BaseModel):
    data: Upserted


class LiveStream(BaseModel):
    live_stream_id: str
    asset_ids: list[str] = Field(description="Its assets, oldest first")


class LiveStreamResponse(BaseModel):
    data: LiveStream


class LiveStreamList(BaseModel):
    data: list[LiveStream]


# -- receipts -------------------------------------------------------------------------------
class ReceiptOut(BaseModel):
    """What one file or batch import did (docs/counting.md)."""

    receipt_id: str
    environment_id: str
    source: str = Field(description="`file` or `batch`")
    name: str
    format: str
    content_sha256: str
    root_sha256: str
    parent_receipt_id: str | None = Field(description="The import this one continues")
    byte_size: int
    line_offset: int
    lines_read: int
    accepted: int
    duplicate: int
    rejected: int
    notes: dict[str, int]
    first_ts_us: int | None
    last_ts_us: int | None
    bytes_measure: str
    imported_at: int
    already_imported: bool = Field(description="A no-op re-import of the same content")


class QuarantinedLine(BaseModel):
    line: int
    reason: str
    raw: str


class ReceiptDetail(ReceiptOut):
    quarantine: list[QuarantinedLine] = Field(description="Rejected lines and why")


class ReceiptResponse(BaseModel):
    data: ReceiptOut


class ReceiptDetailResponse(BaseModel):
    data: ReceiptDetail


class ReceiptList(BaseModel):
    data: list[ReceiptOut]


# -- events ---------------------------------------------------------------------------------
class RecordOutcome(BaseModel):
    line: int
    status: Literal["accepted", "duplicate", "rejected"]
    reason: str = omittable("Why a record was rejected")


class OutcomeCounts(BaseModel):
    accepted: int
    duplicate: int
    rejected: int


class EventBatch(BaseModel):
    receipt_id: str
    already_imported: bool
    counts: OutcomeCounts
    records: list[RecordOutcome] = Field(description="One outcome per record, by line")


class EventBatchResponse(BaseModel):
    data: EventBatch


# -- manifests ------------------------------------------------------------------------------
class RegisteredManifest(BaseModel):
    asset_id: str
    files: list[str] = Field(description="URL paths of the manifests read")
    formats: list[str] = Field(description="hls-master, hls-media or dash, per file")
    renditions: int
    objects: int
    segments: int
    parts: int
    live: bool
    missing: list[str] = Field(description="Referenced, not found")


class RegisteredManifestResponse(BaseModel):
    data: RegisteredManifest


class RenditionDetail(BaseModel):
    rendition_id: str
    track: str | None
    width: int | None
    height: int | None
    bandwidth: int | None
    iframe: bool
    segments: int
    parts: int
    seconds: float


class AssetIndex(BaseModel):
    asset_id: str
    renditions: int
    objects: int
    segments: int
    parts: int
    manifests: int
    live: bool
    updated_at: int | None = Field(description="Epoch seconds")
    rendition_details: list[RenditionDetail]


class AssetIndexResponse(BaseModel):
    data: AssetIndex


# -- service --------------------------------------------------------------------------------
class Health(BaseModel):
    status: Literal["ok"]
    version: str


def documented(model: type[BaseModel], description: str = "Successful Response") -> dict:
    """`responses=` metadata documenting a route's 200 answer as `model`, without making FastAPI
    validate or re-serialize what the handler returns."""
    return {200: {"model": model, "description": description}}
