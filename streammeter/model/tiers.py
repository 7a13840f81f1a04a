"""Resolution tiers (counting.md section 5) and their compact integer codes.

Rollups store a tier as a small integer; code 0 means "no tier" (bytes-only records, or
seconds whose tier could not be resolved yet because the asset is not in the catalog).
"""

from __future__ import annotations

NO_TIER = 0
TIER_720P = 1
TIER_1080P = 2
TIER_1440P = 3
TIER_2160P = 4
TIER_AUDIO_ONLY = 5

#: Mux field name of each tier code, in the order Mux documents them.
TIER_FIELDS: dict[int, str] = {
    TIER_2160P: "tier_2160p",
    TIER_1440P: "tier_1440p",
    TIER_1080P: "tier_1080p",
    TIER_720P: "tier_720p",
    TIER_AUDIO_ONLY: "tier_audio_only",
}

#: Catalog `asset_resolution_tier` values (Mux enum) to tier codes.
RESOLUTION_TIERS: dict[str, int] = {
    "audio-only": TIER_AUDIO_ONLY,
    "720p": TIER_720P,
    "1080p": TIER_1080P,
    "1440p": TIER_1440P,
    "2160p": TIER_2160P,
}

_TIER_NAMES: dict[str, int] = {
    **RESOLUTION_TIERS,
    "audio_only": TIER_AUDIO_ONLY,
    **{name: code for code, name in TIER_FIELDS.items()},
}


def tier_for_pixels(width: int, height: int) -> int:
    """The tier of a rendition of `width` x `height` (portrait counts by pixels too)."""
    pixels = width * height
    if pixels <= 921_600:
        return TIER_720P
    if pixels <= 2_073_600:
        return TIER_1080P
    if pixels <= 4_194_304:
        return TIER_1440P
    return TIER_2160P


def tier_from_name(name: str) -> int | None:
    """`720p`, `tier_720p`, `audio-only`, `tier_audio_only`... to a code; None if unknown."""
    return _TIER_NAMES.get(name.strip().lower())


def tier_label(code: int) -> str:
    """Short label used by the native API and the CLI (`720p`, `audio-only`, `none`)."""
    for name, value in RESOLUTION_TIERS.items():
        if value == code:
            return name
    return "none"
