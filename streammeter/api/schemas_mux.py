"""OpenAPI schemas of `GET /video/v1/delivery-usage`: Mux's `ListDeliveryUsageResponse`,
`DeliveryReport` and `DeliveryReportDeliveredSecondsByResolution` (vendor-apis.md 2.2), with
Mux's names and types, as mux-python 5.1.2's models read them (tests/test_openapi_schemas.py
compares them).

For the documentation only: the endpoint serves pre-serialized JSON and never validates it
against these models (api/mux.py). Mux declares no field nullable: an optional field is left
out of a row, never `null`, and so these models declare optional fields without a default.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from streammeter.model.catalog import AssetState, EncodingTier, ResolutionTier, VideoQuality


def _no_default(schema: dict[str, Any]) -> None:
    schema.pop("default", None)


def omittable(description: str | None = None, **extra: Any) -> Any:
    """An optional property that is left out when absent: not required, not nullable, no
    default in the schema (the model's attribute still defaults to None)."""

    def finish(schema: dict[str, Any]) -> None:
        _no_default(schema)
        schema.update(extra)

    return Field(None, description=description, json_schema_extra=finish)


def _int64(description: str | None = None) -> Any:
    return Field(description=description, json_schema_extra={"format": "int64"})


def _double(description: str | None = None) -> Any:
    return Field(description=description, json_schema_extra={"format": "double"})


class DeliveryReportDeliveredSecondsByResolution(BaseModel):
    """Delivered seconds per resolution tier; a tier is shown only if content was delivered
    in it."""

    tier_2160p: float = omittable("Larger than 1440p (more than 4,194,304 pixels)")
    tier_1440p: float = omittable("More than 2,073,600 and up to 4,194,304 pixels")
    tier_1080p: float = omittable("More than 921,600 and up to 2,073,600 pixels")
    tier_720p: float = omittable("Up to 921,600 pixels (typically 1280x720)")
    tier_audio_only: float = omittable("Audio only")


class DeliveryReport(BaseModel):
    """One asset's delivery in the window (Mux's `DeliveryReport`)."""

    live_stream_id: str = omittable("The live stream that created the asset, if any")
    asset_id: str
    passthrough: str = omittable("The asset's passthrough, if set")
    created_at: str = Field(
        description='Epoch seconds, as a string (e.g. "1607939184")',
        examples=["1607939184"],
    )
    deleted_at: str = omittable(
        "Epoch seconds, as a string; present only if the asset was deleted",
        examples=["1607945257"],
    )
    asset_state: AssetState
    asset_duration: float = omittable(
        "Seconds. Mux always sends it; streammeter leaves it out when the catalog has no "
        "duration for the asset",
        format="double",
    )
    asset_resolution_tier: ResolutionTier
    asset_encoding_tier: EncodingTier = omittable(
        "Deprecated by Mux: use `asset_video_quality`. Mux always sends it; streammeter leaves "
        "it out when the catalog has neither tier nor quality for the asset",
        deprecated=True,
    )
    asset_video_quality: VideoQuality = omittable(
        "Replaces `asset_encoding_tier` (baseline → basic, smart → plus, premium → premium)"
    )
    delivered_seconds: float = _double("Total delivered seconds in the window")
    delivered_seconds_by_resolution: DeliveryReportDeliveredSecondsByResolution


class ListDeliveryUsageResponse(BaseModel):
    """A page of delivery usage (Mux's `ListDeliveryUsageResponse`). Rows are ordered by
    delivered seconds, highest first; a page past the end has `data: []`."""

    data: list[DeliveryReport]
    total_row_count: int = _int64("Rows over all pages")
    timeframe: list[int] = Field(
        description="[start, end] of the window, Unix epoch seconds (integers)",
        min_length=2,
        max_length=2,
        json_schema_extra={"items": {"type": "integer", "format": "int64"}},
    )
    page: int = Field(
        description="The page, from 1. Required but undeclared in Mux's spec; always sent "
        "(@mux/mux-node pages with it)",
        json_schema_extra={"format": "int32"},
    )
    limit: int = _int64("Page size (default 100)")
