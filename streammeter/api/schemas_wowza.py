"""OpenAPI schemas of the Wowza Video usage family (`/api/{version}/usage/...`), as the
reference describes them (vendor-apis.md 3.2, 3.5) and as query/wowza.py builds them. Where
the reference contradicts its own examples, these follow the examples (vendor-apis.md 5):
`trend` is an array, `limits.resources` an array of strings, `payload_version` a string,
`avg_viewing_seconds` is sent, and a single transcoder comes under `transcoder`.

For the documentation only: the endpoints never validate their answers against these.
Errors are in `WowzaError` (openapi_errors.py).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from streammeter.api.schemas_mux import omittable

Resource = Literal["transcoders", "vod_streams"]
TargetType = Literal["fastly"]
TranscoderType = Literal["transcoded", "passthrough"]
BillingMode = Literal["pay_as_you_go", "twentyfour_seven"]


def _instant(description: str, alias: str | None = None) -> Any:
    return Field(
        alias=alias,
        description=f"{description}: `YYYY-MM-DDTHH:MM:SS.000Z` (UTC)",
        json_schema_extra={"format": "date-time"},
        examples=["2021-01-07T00:00:00.000Z"],
    )


def _trend() -> Any:
    return omittable("With `include=trend` only")


# -- shared parts ---------------------------------------------------------------------------
class WowzaTrendSample(BaseModel):
    """One trend sample: per minute (windows up to 3 h), per hour (to 24 h), per UTC day."""

    sampled_at: str = _instant("First instant of the sample")
    viewing_seconds: int
    viewing_bytes: int


class WowzaLimits(BaseModel):
    """The window applied: `from` and `to` rounded up to the hour, cut to 90 days."""

    model_config = ConfigDict(populate_by_name=True)

    from_: str = _instant("Start of the window", alias="from")
    to: str = _instant("End of the window (exclusive)")


class WowzaZone(BaseModel):
    name: str = Field(examples=["global"])
    type: TargetType
    viewing_bytes: int


class WowzaKeysetPagination(BaseModel):
    """Paging by `next_page_key` (stream targets, VOD streams)."""

    payload_version: str = Field(examples=["2.0"])
    total_records: int
    next_page_key: str | None = Field(description="Pass as `next_page_key`; null on the last page")
    per_page: int
    total_pages: int


class WowzaPagePagination(BaseModel):
    """Paging by `page` (transcoders)."""

    payload_version: str = Field(examples=["1.0"])
    total_records: int
    page: int
    per_page: int
    total_pages: int
    page_first_index: int | None = Field(description="Zero-based; null on an empty page")
    page_last_index: int | None


# -- /usage/account -------------------------------------------------------------------------
class WowzaUsageAccount(BaseModel):
    id: str = Field(description="The account the JWT names", examples=["rfP7rDv2"])
    viewing_seconds: int
    avg_viewing_seconds: int = Field(description="In Wowza's examples, not its schema")
    viewing_bytes: int
    egress_seconds: int
    egress_seconds_additional_targets: int
    egress_bytes: int
    trend: list[WowzaTrendSample] = _trend()


class WowzaAccountLimits(WowzaLimits):
    resources: list[Resource] = Field(description="The resources counted (`filter`)")


class WowzaUsageAccountResponse(BaseModel):
    """Wowza's `usage_account` (`GET /usage/account`)."""

    account: WowzaUsageAccount
    limits: WowzaAccountLimits


# -- /usage/stream_targets ------------------------------------------------------------------
class WowzaStreamTargetUsage(BaseModel):
    id: str
    name: str
    archived: bool
    type: TargetType
    viewing_seconds: int
    viewing_bytes: int


class WowzaStreamTargetDetail(WowzaStreamTargetUsage):
    trend: list[WowzaTrendSample] = _trend()
    zones: list[WowzaZone]


class WowzaStreamTargetsResponse(BaseModel):
    stream_targets: list[WowzaStreamTargetUsage]
    pagination: WowzaKeysetPagination
    limits: WowzaLimits


class WowzaStreamTargetResponse(BaseModel):
    stream_target: WowzaStreamTargetDetail
    limits: WowzaLimits


class WowzaStreamTargetsSummary(BaseModel):
    viewing_seconds: int
    viewing_bytes: int
    zones: list[WowzaZone]


class WowzaStreamTargetsSummaryResponse(BaseModel):
    summary: WowzaStreamTargetsSummary
    limits: WowzaLimits


# -- /usage/transcoders ---------------------------------------------------------------------
class WowzaTranscoderUsage(BaseModel):
    id: str
    name: str
    archived: bool
    transcoder_type: TranscoderType
    billing_mode: BillingMode
    egress_bytes: int
    egress_seconds: int
    egress_seconds_additional_targets: int


class WowzaTranscoderDetail(WowzaTranscoderUsage):
    viewing_seconds: int
    viewing_bytes: int
    trend: list[WowzaTrendSample] = _trend()


class WowzaTranscodersResponse(BaseModel):
    transcoders: list[WowzaTranscoderUsage]
    pagination: WowzaPagePagination
    limits: WowzaLimits


class WowzaTranscoderResponse(BaseModel):
    transcoder: WowzaTranscoderDetail
    limits: WowzaLimits


class WowzaTranscoderConfiguration(BaseModel):
    transcoder_type: TranscoderType
    billing_mode: BillingMode
    egress_bytes: int
    egress_seconds: int


class WowzaTranscodersSummary(BaseModel):
    egress_bytes: int
    egress_seconds: int
    configurations: list[WowzaTranscoderConfiguration]


class WowzaTranscodersSummaryResponse(BaseModel):
    summary: WowzaTranscodersSummary
    limits: WowzaLimits


# -- /usage/vod_streams ---------------------------------------------------------------------
class WowzaVodStreamUsage(BaseModel):
    id: str
    name: str
    archived: bool
    type: TargetType
    viewing_seconds: int
    viewing_bytes: int


class WowzaVodStreamDetail(WowzaVodStreamUsage):
    egress_bytes: int
    egress_seconds: int
    trend: list[WowzaTrendSample] = _trend()


class WowzaVodStreamsResponse(BaseModel):
    vod_streams: list[WowzaVodStreamUsage]
    pagination: WowzaKeysetPagination
    limits: WowzaLimits


class WowzaVodStreamResponse(BaseModel):
    vod_stream: WowzaVodStreamDetail
    limits: WowzaLimits


class WowzaVodStreamsSummary(BaseModel):
    viewing_seconds: int
    viewing_bytes: int
    egress_seconds: int
    egress_bytes: int


class WowzaVodStreamsSummaryResponse(BaseModel):
    summary: WowzaVodStreamsSummary
    limits: WowzaLimits


# (list, item, summary) response of each family, by its URL segment.
FAMILY_RESPONSES: dict[str, tuple[type[BaseModel], type[BaseModel], type[BaseModel]]] = {
    "stream_targets": (
        WowzaStreamTargetsResponse, WowzaStreamTargetResponse, WowzaStreamTargetsSummaryResponse,
    ),
    "transcoders": (
        WowzaTranscodersResponse, WowzaTranscoderResponse, WowzaTranscodersSummaryResponse,
    ),
    "vod_streams": (
        WowzaVodStreamsResponse, WowzaVodStreamResponse, WowzaVodStreamsSummaryResponse,
    ),
}  # fmt: skip
