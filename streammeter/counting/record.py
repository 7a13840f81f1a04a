"""A normalized delivery record: what every source produces and what the store keeps."""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction

MEDIA_KINDS = frozenset({"segment", "part"})
#: `egress`: a generic record of an origin pull (a stream target pulling from storage); it earns
#: egress seconds like a segment and always has `origin=True` (docs/api/wowza-usage.md).
KINDS = frozenset(
    {"segment", "part", "init", "manifest", "key", "subtitle", "thumbnail", "other", "egress"}
)
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
    rendition_id: str | None = None
    media_sequence: int | None = None  # LL-HLS segment number (a part's parent's)
    part_index: int | None = None  # LL-HLS part within its segment; None for a whole segment
    live: bool = False  # from a live playlist (resource `transcoders`)
    origin: bool = False  # from an origin log: egress, not viewing
    client_ip: str | None = None
    user_agent: str | None = None
    target: str | None = None  # the delivery target (stream target) that served or pulled it
    additional_target: bool = False  # an origin pull by a target other than the primary one
    #: `f` already worked out by a source resolver (byte ranges, aborts); overrides the sizes.
    fraction: Fraction | None = None


@dataclass(slots=True)
class Counted:
    """What counting.md says one record earns, before attribution to an asset and tier.

    `earned_us` is `d x f` in integer microseconds. `note` names why a media request earned
    nothing when it could have (an unmapped record) or that its tier will be inferred.
    """

    earned_us: int
    note: str | None = None
    notes: list[str] = field(default_factory=list)  # what the source resolver could not know
