"""Catalog entries: assets with every Mux field, and how they are validated."""

from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from streammeter.model.times import US_PER_SECOND, InvalidTime, parse_instant

AssetState = Literal["ready", "errored", "deleted"]
ResolutionTier = Literal["audio-only", "720p", "1080p", "1440p", "2160p"]
EncodingTier = Literal["smart", "baseline", "premium"]
VideoQuality = Literal["basic", "plus", "premium"]

ENCODING_TO_QUALITY: dict[str, str] = {"baseline": "basic", "smart": "plus", "premium": "premium"}
QUALITY_TO_ENCODING: dict[str, str] = {v: k for k, v in ENCODING_TO_QUALITY.items()}

ASSET_FIELDS = (
    "asset_id",
    "live_stream_id",
    "passthrough",
    "created_at",
    "deleted_at",
    "asset_state",
    "asset_duration",
    "asset_resolution_tier",
    "asset_encoding_tier",
    "asset_video_quality",
    "playback_ids",
)


class PlaybackId(BaseModel):
    id: str = Field(min_length=1, max_length=200)
    policy: str = "public"


class Asset(BaseModel):
    """One asset as imported (NDJSON/CSV/HTTP). Timestamps become epoch seconds."""

    model_config = ConfigDict(extra="forbid")

    asset_id: str = Field(min_length=1, max_length=200)
    live_stream_id: str | None = Field(default=None, max_length=200)
    passthrough: str | None = Field(default=None, max_length=1000)
    created_at: int | None = None
    deleted_at: int | None = None
    asset_state: AssetState | None = None
    asset_duration: float | None = Field(default=None, ge=0)
    asset_resolution_tier: ResolutionTier
    asset_encoding_tier: EncodingTier | None = None
    asset_video_quality: VideoQuality | None = None
    playback_ids: list[PlaybackId] = Field(default_factory=list)

    @field_validator(
        "live_stream_id",
        "passthrough",
        "asset_state",
        "asset_encoding_tier",
        "asset_video_quality",
        "asset_duration",
        mode="before",
    )
    @classmethod
    def _blank_is_absent(cls, value: Any) -> Any:
        return None if value == "" else value

    @field_validator("created_at", "deleted_at", mode="before")
    @classmethod
    def _epoch_seconds(cls, value: Any) -> int | None:
        if value is None or value == "":
            return None
        try:
            return parse_instant(value) // US_PER_SECOND
        except InvalidTime as exc:
            raise ValueError(str(exc)) from None

    @field_validator("playback_ids", mode="before")
    @classmethod
    def _playback_ids(cls, value: Any) -> list[Any]:
        """Accept Mux objects, plain strings, a JSON string, or `id1;id2` from CSV."""
        if value is None or value == "":
            return []
        if isinstance(value, str):
            text = value.strip()
            if text.startswith("["):
                value = json.loads(text)
            else:
                value = [part for part in text.replace(",", ";").split(";") if part.strip()]
        if not isinstance(value, list):
            raise ValueError("playback_ids must be a list of ids or {id, policy} objects")
        return [{"id": item.strip()} if isinstance(item, str) else item for item in value]

    @model_validator(mode="after")
    def _derive(self) -> Asset:
        if self.asset_encoding_tier and not self.asset_video_quality:
            self.asset_video_quality = ENCODING_TO_QUALITY[self.asset_encoding_tier]  # type: ignore[assignment]
        elif self.asset_video_quality and not self.asset_encoding_tier:
            self.asset_encoding_tier = QUALITY_TO_ENCODING[self.asset_video_quality]  # type: ignore[assignment]
        if self.deleted_at is not None and self.asset_state is None:
            self.asset_state = "deleted"
        if self.asset_state is None:
            self.asset_state = "ready"
        return self


def asset_error_message(exc: Exception) -> str:
    """A one-line, human-readable reason from a pydantic ValidationError."""
    errors = getattr(exc, "errors", None)
    if not callable(errors):
        return str(exc)
    parts = []
    for err in errors():
        where = ".".join(str(p) for p in err.get("loc", ())) or "record"
        parts.append(f"{where}: {err.get('msg', 'invalid')}")
    return "; ".join(parts)
