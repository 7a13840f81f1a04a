"""Delivered seconds of one record: counting.md section 4 (rules 4.1-4.3).

Attribution (which asset, which tier, the demuxed-audio rule 4.4) needs the catalog and happens
in the store when rollups are computed; see `streammeter.store.attribution`.
"""

from __future__ import annotations

from streammeter.counting.record import MEDIA_KINDS, Counted, DeliveryRecord
from streammeter.model.times import US_PER_SECOND

EARNING_STATUSES = frozenset({200, 206})
#: Kinds that earn seconds: media objects, and generic `egress` records (origin pulls, whose
#: seconds are egress seconds). Only `count` uses this; elsewhere MEDIA_KINDS stays the media.
EARNING_KINDS = MEDIA_KINDS | {"egress"}
ABORTED_STATUS = 499  # client closed the connection (nginx, Cloudflare)

NOTE_NO_DURATION = "unmapped: media object without a duration"
NOTE_TIER_INFERRED = "tier inferred from the asset's asset_resolution_tier"


def completeness(record: DeliveryRecord) -> tuple[int, int]:
    """`f` of rule 4.2 for a 200/206/499 response, as (numerator, denominator).

    A resolver's `fraction` wins. Else body/object bytes known: min(1, body / object).
    Otherwise a 200/206 is complete and an aborted (499) response earns nothing.
    """
    if record.fraction is not None:
        return record.fraction.numerator, record.fraction.denominator
    if record.body_bytes is not None and record.object_bytes:
        return min(record.body_bytes, record.object_bytes), record.object_bytes
    return (0, 1) if record.status == ABORTED_STATUS else (1, 1)


def round_half_even(numerator: int, denominator: int) -> int:
    """numerator / denominator rounded to an integer, ties to even (exact integer math)."""
    quotient, remainder = divmod(numerator, denominator)
    twice = 2 * remainder
    if twice > denominator or (twice == denominator and quotient % 2):
        quotient += 1
    return quotient


def count(record: DeliveryRecord) -> Counted:
    """Seconds earned by `record` as integer microseconds (half-to-even per record)."""
    if record.kind not in EARNING_KINDS or record.method != "GET":
        return Counted(0)
    if record.status not in EARNING_STATUSES and record.status != ABORTED_STATUS:
        return Counted(0)  # errors, 304s, status 000: bytes only
    if record.duration is None:
        return Counted(0, NOTE_NO_DURATION)
    # Exact d x f, one rounding per record, half to even.
    f_num, f_den = completeness(record)
    d = record.duration
    earned = round_half_even(d.numerator * US_PER_SECOND * f_num, d.denominator * f_den)
    note = None
    if record.tier_hint is None and record.track == "video" and earned and record.kind != "egress":
        note = NOTE_TIER_INFERRED
    return Counted(earned, note)
