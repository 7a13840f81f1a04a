"""URL patterns: index objects from the shape of a URL, for platforms whose paths name the
asset and the rendition (no manifest needed). Pure: the store only keeps them.

A pattern is a Python regular expression that must match the whole URL path, with named
groups among `asset_id` or `playback_id` (one is required), `rendition`, `segment`, `part`,
`width`, `height`, `duration` (seconds) and `duration_ms`; plus fixed attributes applied to
every match: `kind`, `track`, `width`, `height`, `duration` (seconds), `rendition`, `live`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from fractions import Fraction
from typing import Any

from streammeter.index.common import KINDS, TRACKS, kind_from_extension
from streammeter.index.entry import IndexObject, Rendition

GROUPS = (
    "asset_id", "playback_id", "rendition", "segment", "part", "width", "height", "duration",
    "duration_ms",
)  # fmt: skip
ATTRIBUTES = ("kind", "track", "width", "height", "duration", "rendition", "live")
MAX_REGEX_LENGTH = 2000


class PatternError(ValueError):
    """A URL pattern that cannot be used; the message says why."""


@dataclass(frozen=True, slots=True)
class UrlPattern:
    pattern_id: int
    regex: str
    attributes: dict[str, Any] = field(default_factory=dict)
    created_at: int = 0


@dataclass(frozen=True, slots=True)
class PatternMatch:
    """What a pattern says about one path: the object, its rendition (width/height for the
    tier), and the playback id when the pattern names one instead of the asset."""

    pattern_id: int
    object: IndexObject
    rendition: Rendition | None
    playback_id: str | None


def _seconds(value: Any, what: str) -> Fraction:
    try:
        seconds = Fraction(Decimal(str(value).strip()))
    except (InvalidOperation, ValueError):
        raise PatternError(f"{what} must be a number of seconds, not {value!r}") from None
    if seconds <= 0:
        raise PatternError(f"{what} must be positive, not {value!r}")
    return seconds


def _positive_int(value: Any, what: str) -> int:
    if isinstance(value, bool):
        raise PatternError(f"{what} must be a positive integer, not {value!r}")
    try:
        number = int(str(value).strip())
    except ValueError:
        raise PatternError(f"{what} must be a positive integer, not {value!r}") from None
    if number <= 0:
        raise PatternError(f"{what} must be a positive integer, not {value!r}")
    return number


def validate_pattern(regex: str, attributes: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Check a pattern; returns its attributes normalized (JSON-ready). Raises PatternError."""
    if not regex or not regex.strip():
        raise PatternError("the regex is empty")
    if len(regex) > MAX_REGEX_LENGTH:
        raise PatternError(f"the regex is longer than {MAX_REGEX_LENGTH} characters")
    try:
        compiled = re.compile(regex)
    except re.error as exc:
        where = f" at position {exc.pos}" if exc.pos is not None else ""
        raise PatternError(f"invalid regex {regex!r}: {exc.msg}{where}") from None
    groups = set(compiled.groupindex)
    if not groups & {"asset_id", "playback_id"}:
        raise PatternError(
            f"the regex {regex!r} needs a named group asset_id or playback_id, "
            r"e.g. /v/(?P<asset_id>[^/]+)/(?P<height>\d+)p/seg_(?P<segment>\d+)\.ts"
        )
    unknown = sorted(groups - set(GROUPS))
    if unknown:
        raise PatternError(
            f"unknown named group(s) {', '.join(unknown)} (allowed: {', '.join(GROUPS)})"
        )
    normalized: dict[str, Any] = {}
    for key, value in (attributes or {}).items():
        if value is None:
            continue
        if key not in ATTRIBUTES:
            raise PatternError(f"unknown attribute {key!r} (allowed: {', '.join(ATTRIBUTES)})")
        if key == "kind":
            if value not in KINDS:
                raise PatternError(f"kind must be one of {', '.join(KINDS)}, not {value!r}")
            normalized[key] = value
        elif key == "track":
            if value not in TRACKS:
                raise PatternError(f"track must be one of {', '.join(TRACKS)}, not {value!r}")
            normalized[key] = value
        elif key in ("width", "height"):
            normalized[key] = _positive_int(value, key)
        elif key == "duration":
            _seconds(value, "duration")
            normalized[key] = format(Decimal(str(value).strip()).normalize(), "f")
        elif key == "rendition":
            normalized[key] = str(value)
        elif key == "live":
            if not isinstance(value, bool):
                raise PatternError(f"live must be true or false, not {value!r}")
            normalized[key] = value
    return normalized


def _int(text: str | None) -> int | None:
    if text is None or not text.isdigit():
        return None
    return int(text)


def _duration(groups: Mapping[str, str], attributes: Mapping[str, Any]) -> Fraction | None:
    try:
        if groups.get("duration"):
            return Fraction(Decimal(groups["duration"]))
        if groups.get("duration_ms"):
            return Fraction(int(groups["duration_ms"]), 1000)
    except (InvalidOperation, ValueError):
        pass
    if attributes.get("duration") is not None:
        return Fraction(Decimal(str(attributes["duration"])))
    return None


def match_pattern(patterns: Iterable[UrlPattern], path: str) -> PatternMatch | None:
    """The first pattern (in the given order) whose regex matches the whole `path`.

    When only a height is known (`.../720p/...`) the width is taken as 16:9 of it (and the
    other way round); give a fixed `width` to override. The rendition id is the `rendition`
    group, else the fixed `rendition` attribute, else `WIDTHxHEIGHT` when known.
    """
    for pattern in patterns:
        found = re.fullmatch(pattern.regex, path)
        if found is None:
            continue
        groups = {k: v for k, v in found.groupdict().items() if v}
        asset_id, playback_id = groups.get("asset_id"), groups.get("playback_id")
        if not asset_id and not playback_id:
            continue
        attrs = pattern.attributes
        width = _int(groups.get("width")) or attrs.get("width")
        height = _int(groups.get("height")) or attrs.get("height")
        if height and not width:
            width = round(height * 16 / 9)
        elif width and not height:
            height = round(width * 9 / 16)
        part_index = _int(groups.get("part"))
        kind = attrs.get("kind") or (
            "part" if part_index is not None else kind_from_extension(path, "segment")
        )
        track = attrs.get("track") or "video"
        rendition_id = groups.get("rendition") or attrs.get("rendition")
        if rendition_id is None and width and height:
            rendition_id = f"{width}x{height}"
        obj = IndexObject(
            path, asset_id or "", rendition_id, kind, _duration(groups, attrs),
            live=bool(attrs.get("live", False)), media_sequence=_int(groups.get("segment")),
            part_index=part_index,
        )  # fmt: skip
        rendition = (
            Rendition(rendition_id, track, width or None, height or None)
            if rendition_id is not None
            else None
        )
        return PatternMatch(pattern.pattern_id, obj, rendition, playback_id)
    return None


def match_patterns(patterns: Iterable[UrlPattern], path: str) -> IndexObject | None:
    """The index object the first matching pattern gives `path`, or None.

    For a pattern keyed by `playback_id` the object's asset_id is '' (the catalog resolves
    the playback id): use `match_pattern` for the playback id and the rendition.
    """
    found = match_pattern(patterns, path)
    return found.object if found is not None else None
