"""Index entries: what the index knows about one URL (or one byte range of it)."""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction


@dataclass(slots=True, frozen=True)
class Rendition:
    """One encoding of an asset, as a manifest declares it."""

    #: stable within the asset: the media playlist's path, or the DASH Representation@id
    rendition_id: str
    #: 'video' (also muxed A/V), 'audio' (demuxed, beside video), 'audio-only' (audio-only
    #: variant or asset)
    track: str
    width: int | None = None
    height: int | None = None
    bandwidth: int | None = None  # bits/s (HLS BANDWIDTH, DASH @bandwidth)
    iframe: bool = False  # trick-play (I-frame) rendition: bytes only


@dataclass(slots=True, frozen=True)
class IndexObject:
    """One addressable object: a whole file, or one byte range of a file."""

    path: str  # URL path as the CDN logs show it (absolute, no query, decoded)
    asset_id: str
    rendition_id: str | None  # None for master playlists / MPDs
    kind: str  # segment | part | init | manifest | key | subtitle | thumbnail | other
    duration: Fraction | None = None  # media seconds, exact (EXTINF, part DURATION, d/timescale)
    byte_start: int | None = None  # None = the whole file
    byte_length: int | None = None
    live: bool = False  # from a live playlist (no ENDLIST) / dynamic MPD -> resource transcoders
    media_sequence: int | None = None  # HLS segment number (the parent's, for a part)
    part_index: int | None = None  # LL-HLS part number within its parent segment
