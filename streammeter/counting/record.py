"""A normalized delivery record: what every source produces and what the store keeps."""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

MEDIA_KINDS = frozenset({"segment", "part"})
KINDS = frozenset({"segment", "part", "init", "manifest", "key", "subtitle", "thumbnail", "other"})
TRACKS = frozenset({"video", "audio", "audio-only"})


@dataclass(slots=True)
class DeliveryRecord:
    """One request: a viewer (or a CDN) asked for one object.

    `duration` is the media duration of the object in exact seconds; `bytes` the bytes
    sent to the viewer (viewing bytes); `body_bytes`/`object_bytes` describe partial
    transfers.
    """

    ts_us: int
    request_id: str | None = None
    asset_id: str | None = None
    playback_id: str | None = None
    live_stream_id: str | None = None
    kind: str = "segment"
    track: str = "video"
    tier_hint: int | None = None
    duration: Fraction | None = None  # seconds, exact
    bytes: int = 0
    method: str = "GET"
    status: int = 200
    body_bytes: int | None = None
    object_bytes: int | None = None
    session_id: str | None = None


@dataclass(slots=True)
class Counted:
    """What counting.md says one record earns, before attribution to an asset and tier.

    `earned_us` is `d x f` in integer microseconds. `note` names why a media request earned
    nothing when it could have (an unmapped record) or that its tier will be inferred.
    """

    earned_us: int
    note: str | None = None
