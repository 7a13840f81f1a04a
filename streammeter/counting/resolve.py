"""From an access-log request to a delivery record: the index join (counting.md 1, 4-6).

`resolve` lays the request over what the index knows about its URL and works out every
input of the counting rules: which asset and rendition, the object kind, the media duration
`d`, the completeness `f` (byte ranges over the file's segments, aborted transfers), the
tier's source, live or VOD, and the LL-HLS keys. `streammeter.counting.rules.count` then
turns it into microseconds, exactly as for generic records.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Protocol

from streammeter.counting.record import MEDIA_KINDS, DeliveryRecord
from streammeter.index.entry import IndexObject, Rendition
from streammeter.model.tiers import TIER_AUDIO_ONLY, tier_for_pixels
from streammeter.sources.cdn.request import EdgeRequest

NOTE_UNMAPPED_URL = "unmapped: URL not in the index (bytes counted)"
NOTE_206_NO_RANGE = "206 without a byte range: no seconds"
NOTE_TIER_FROM_BR = "tier inferred from CMCD br (nearest variant BANDWIDTH)"
NOTE_LLHLS_NO_SID = "LL-HLS part without a session id (CMCD sid): may over-count with its segment"
NOTE_DURATION_FROM_CMCD = "duration from CMCD d"

# Fractions are immutable: the common values are shared rather than rebuilt per request.
_ZERO, _ONE = Fraction(0), Fraction(1)


class IndexView(Protocol):
    """What the resolver needs to know, prefetched for a chunk of requests."""

    def objects(self, path: str) -> Sequence[IndexObject]: ...

    def rendition(self, asset_id: str, rendition_id: str) -> Rendition | None: ...

    def renditions(self, asset_id: str) -> Sequence[Rendition]: ...

    def playback_id(self, path: str) -> str | None:
        """The playback id a URL pattern found in `path` (its asset is then the catalog's)."""


@dataclass(slots=True)
class Resolved:
    record: DeliveryRecord
    notes: list[str] = field(default_factory=list)


def viewing_bytes(req: EdgeRequest) -> int:
    """counting.md 3: body bytes where the source logs them, else its bytes incl. headers."""
    return req.body_bytes if req.body_bytes is not None else req.bytes_sent


def _served_interval(req: EdgeRequest, size: int | None) -> tuple[int, int | None] | None:
    """Bytes of the file this response delivered, as [start, end) (end None = to the end).

    None when a 206 names no range (nothing can be placed).
    """
    if req.status == 206:
        if req.range_start is None:
            return None
        start = req.range_start
        end = req.range_end + 1 if req.range_end is not None else size
    else:
        start, end = 0, size
    if _is_aborted(req):
        if req.body_bytes is None:
            return start, start  # aborted with no size known: nothing delivered
        sent_end = start + req.body_bytes
        end = sent_end if end is None else min(end, sent_end)
    return start, end


def _is_aborted(req: EdgeRequest) -> bool:
    """The source's abort signal, or a body shorter than the response's Content-Length."""
    if req.aborted or req.status == 499:
        return True
    return (
        req.body_bytes is not None
        and req.content_length is not None
        and req.body_bytes < req.content_length
    )


def _whole_file_fraction(req: EdgeRequest, entry: IndexObject) -> tuple[Fraction, str | None]:
    size = entry.byte_length or req.object_size
    if req.status == 206:
        if req.range_start is None:
            return _ZERO, NOTE_206_NO_RANGE
        if size is None:
            # Unknown file size: the range starting at byte 0 counts the segment fully, later
            # ranges earn nothing, so a segment fetched in pieces counts once (4.2).
            if req.range_start != 0:
                return _ZERO, None
            if _is_aborted(req):
                if req.body_bytes is not None and req.content_length:
                    return min(_ONE, Fraction(req.body_bytes, req.content_length)), None
                return _ZERO, None
            return _ONE, None
    if size is None:
        size = req.content_length
    if _is_aborted(req):
        if req.body_bytes is not None and size:
            return min(_ONE, Fraction(req.body_bytes, size)), None
        return _ZERO, None
    if req.status == 206:
        interval = _served_interval(req, size)
        assert interval is not None and size
        start, end = interval
        covered = max(0, min(end if end is not None else size, size) - start)
        return min(_ONE, Fraction(covered, size)), None
    return _ONE, None


def _ranged_duration(
    req: EdgeRequest, entries: Sequence[IndexObject]
) -> tuple[Fraction, Fraction, str | None]:
    """Lay the served bytes over byte-range segments: (sum of d, sum of d x covered share)."""
    size = req.object_size
    interval = _served_interval(req, size)
    if interval is None:
        return _ZERO, _ZERO, NOTE_206_NO_RANGE
    start, end = interval
    total, earned = _ZERO, _ZERO
    for entry in entries:
        if entry.kind not in MEDIA_KINDS or entry.duration is None or not entry.byte_length:
            continue
        seg_start, seg_end = entry.byte_start or 0, (entry.byte_start or 0) + entry.byte_length
        covered = min(seg_end, end if end is not None else seg_end) - max(seg_start, start)
        if covered > 0:
            total += entry.duration
            earned += entry.duration * Fraction(covered, entry.byte_length)
    return total, earned, None


def _header_range_hit(req: EdgeRequest, entries: Sequence[IndexObject]) -> IndexObject | None:
    """The non-media range entry (init, index) a 206 falls entirely inside, if any."""
    if req.status != 206 or req.range_start is None or req.range_end is None:
        return None
    for entry in entries:
        if entry.byte_start is None or entry.kind in MEDIA_KINDS or entry.byte_length is None:
            continue
        if (
            entry.byte_start <= req.range_start
            and req.range_end < entry.byte_start + entry.byte_length
        ):
            return entry
    return None


def _tier_rendition(
    index: IndexView, asset_id: str, rendition: Rendition | None, cmcd_br: object
) -> tuple[int | None, str | None]:
    """(tier hint, note): the rendition's pixels, else CMCD br to the nearest BANDWIDTH."""
    if rendition is not None and rendition.width and rendition.height:
        return tier_for_pixels(rendition.width, rendition.height), None
    if isinstance(cmcd_br, int) and not isinstance(cmcd_br, bool):
        candidates = [
            r for r in index.renditions(asset_id)
            if r.width and r.height and r.bandwidth and not r.iframe
        ]  # fmt: skip
        if candidates:
            target = cmcd_br * 1000
            best = min(candidates, key=lambda r: (abs(r.bandwidth - target), r.bandwidth))  # type: ignore[operator]
            return tier_for_pixels(best.width, best.height), NOTE_TIER_FROM_BR  # type: ignore[arg-type]
    return None, None


def resolve(req: EdgeRequest, index: IndexView, *, origin: bool = False) -> Resolved:
    """The delivery record of one request; its notes say what could not be known."""
    cmcd = req.cmcd
    session = cmcd.get("sid") if isinstance(cmcd.get("sid"), str) else None
    record = DeliveryRecord(
        ts_us=req.ts_us, request_id=req.request_id, method=req.method.upper(),
        status=req.status, bytes=viewing_bytes(req), body_bytes=req.body_bytes,
        object_bytes=req.content_length, session_id=session, origin=origin,
        client_ip=req.client_ip, user_agent=req.user_agent, kind="other",
        live=cmcd.get("st") == "l",
    )  # fmt: skip
    entries = index.objects(req.path)
    if not entries:
        return Resolved(record, [NOTE_UNMAPPED_URL])
    notes: list[str] = []
    whole = next((e for e in entries if e.byte_start is None), None)
    first = whole or entries[0]
    record.asset_id, record.rendition_id = first.asset_id or None, first.rendition_id
    if record.asset_id is None:
        record.playback_id = index.playback_id(req.path)
    record.live = record.live or first.live
    rendition = index.rendition(first.asset_id, first.rendition_id) if first.rendition_id else None
    record.track = rendition.track if rendition else "video"
    if rendition is not None and rendition.iframe:
        record.kind = "other"  # trick-play objects earn bytes only (4)
        return Resolved(record, notes)
    header = _header_range_hit(req, entries)
    if header is not None:
        record.kind = header.kind  # e.g. a SegmentBase init or sidx range: bytes only
        return Resolved(record, notes)
    if whole is not None:
        record.kind = whole.kind
        duration = whole.duration
        if duration is None and whole.kind in MEDIA_KINDS and isinstance(cmcd.get("d"), int):
            duration = Fraction(cmcd["d"], 1000)
            notes.append(NOTE_DURATION_FROM_CMCD)
        record.duration = duration
        record.media_sequence, record.part_index = whole.media_sequence, whole.part_index
        if whole.kind in MEDIA_KINDS and duration is not None:
            record.fraction, note = _whole_file_fraction(req, whole)
            notes += [note] if note else []
    else:
        total, earned, note = _ranged_duration(req, entries)
        media = [e for e in entries if e.kind in MEDIA_KINDS]
        record.kind = media[0].kind if media else first.kind
        notes += [note] if note else []
        if total:
            record.duration, record.fraction = total, earned / total
        elif media:
            record.duration, record.fraction = media[0].duration, _ZERO
    if record.kind in MEDIA_KINDS:
        record.tier_hint, note = _tier_rendition(index, first.asset_id, rendition, cmcd.get("br"))
        notes += [note] if note else []
        if record.track == "audio-only":
            record.tier_hint = TIER_AUDIO_ONLY
        if record.kind == "part" and session is None:
            notes.append(NOTE_LLHLS_NO_SID)
    return Resolved(record, notes)
