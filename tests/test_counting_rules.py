"""counting.md section 4, one rule per test, on the generic source's normalized records."""

from __future__ import annotations

from fractions import Fraction

import pytest

from streammeter.counting.rules import NOTE_NO_DURATION, NOTE_TIER_INFERRED, count
from streammeter.model.tiers import (
    TIER_720P,
    TIER_1080P,
    TIER_1440P,
    TIER_2160P,
    TIER_AUDIO_ONLY,
    tier_for_pixels,
)
from streammeter.sources.generic import RecordError, normalize

BASE = {"timestamp": 1_700_000_000, "asset_id": "a", "duration": 6, "width": 1280, "height": 720}


def earned(**fields) -> int:
    return count(normalize(BASE | fields)).earned_us


def test_complete_segment_earns_its_duration():
    assert earned() == 6_000_000


def test_part_earns_like_a_segment():
    assert earned(kind="part", duration=0.33334) == 333_340


@pytest.mark.parametrize("kind", ["init", "manifest", "key", "subtitle", "thumbnail", "other"])
def test_non_media_objects_earn_bytes_only(kind):
    record = normalize(BASE | {"kind": kind, "bytes": 1234})
    assert (count(record).earned_us, record.bytes) == (0, 1234)


@pytest.mark.parametrize("status", [304, 404, 500, 0, 416])
def test_other_statuses_earn_nothing(status):
    assert earned(status=status) == 0


def test_head_earns_nothing():
    assert earned(method="HEAD") == 0


def test_206_counts_like_200():
    assert earned(status=206) == 6_000_000


def test_partial_transfer_is_pro_rata():
    assert earned(body_bytes=250, object_bytes=1000) == 1_500_000


def test_body_larger_than_object_caps_at_one():
    assert earned(body_bytes=2000, object_bytes=1000) == 6_000_000


def test_aborted_with_sizes_is_pro_rata_and_without_earns_zero():
    assert earned(status=499, body_bytes=1, object_bytes=3) == 2_000_000
    assert earned(status=499) == 0


def test_rounding_is_half_to_even_per_record():
    # 1 us x 1/2 = 0.5 us -> 0 (even); 3 us x 1/2 = 1.5 us -> 2 (even)
    assert earned(duration="0.000001", body_bytes=1, object_bytes=2) == 0
    assert earned(duration="0.000003", body_bytes=1, object_bytes=2) == 2
    # Exact arithmetic: 0.1 x 1/3 s = 33,333.33 us -> 33,333 (no float noise)
    assert earned(duration=0.1, body_bytes=1, object_bytes=3) == 33_333


def test_duration_keeps_all_its_decimals_until_the_one_rounding():
    # 2.0000005 s x 1 = 2,000,000.5 us -> 2,000,000 (even), not a double rounding
    assert earned(duration="2.0000005") == 2_000_000
    assert normalize(BASE | {"duration": "2.0000005"}).duration == Fraction("2.0000005")


def test_missing_duration_is_unmapped_with_a_reason():
    result = count(normalize({k: v for k, v in BASE.items() if k != "duration"}))
    assert (result.earned_us, result.note) == (0, NOTE_NO_DURATION)


def test_missing_tier_is_noted_as_inferred():
    record = normalize({"timestamp": 1_700_000_000, "asset_id": "a", "duration": 2})
    assert count(record).note == NOTE_TIER_INFERRED


@pytest.mark.parametrize(
    ("width", "height", "tier"),
    [
        (1280, 720, TIER_720P), (720, 1280, TIER_720P), (1281, 720, TIER_1080P),
        (1920, 1080, TIER_1080P), (1080, 1920, TIER_1080P), (1921, 1080, TIER_1440P),
        (2560, 1440, TIER_1440P), (2048, 2048, TIER_1440P), (2049, 2048, TIER_2160P),
        (3840, 2160, TIER_2160P), (1280, 546, TIER_720P),
    ],
)  # fmt: skip
def test_tier_boundaries_by_pixels(width, height, tier):
    assert tier_for_pixels(width, height) == tier
    assert normalize(BASE | {"width": width, "height": height}).tier_hint == tier


def test_audio_only_track_is_audio_only_tier_whatever_the_hint():
    assert normalize(BASE | {"track": "audio-only"}).tier_hint == TIER_AUDIO_ONLY


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"timestamp": None}, "timestamp: missing"),
        ({"timestamp": "2026-01-01T00:00:00"}, "no UTC offset"),
        ({"timestamp": 5}, "outside 2000-01-01..2100-01-01"),
        ({"asset_id": None}, "needs asset_id or playback_id"),
        ({"kind": "video"}, "kind: 'video' is not one of"),
        ({"track": "subs"}, "track: 'subs' is not one of"),
        ({"duration": -1}, "duration: must be between 0"),
        ({"duration": "six"}, "duration: expected seconds"),
        ({"width": 100, "height": None}, "width and height must be given together"),
        ({"tier": "4k"}, "tier: '4k' is not one of"),
        ({"tier": "720p", "width": 1920, "height": 1080}, "contradicts width x height"),
        ({"bytes": -5}, "bytes: must be >= 0"),
        ({"status": 1000}, "status: 1000 is not an HTTP status"),
        ({"object_bytes": 0}, "object_bytes: must be > 0"),
        ({"durration": 6}, "unknown field(s): durration"),
    ],
)
def test_bad_records_are_rejected_with_a_reason(fields, reason):
    with pytest.raises(RecordError) as raised:
        normalize(BASE | fields)
    assert reason in str(raised.value)


def test_csv_strings_are_read_like_json_values():
    record = normalize(
        {"timestamp": "2023-11-14T22:13:20Z", "asset_id": "a", "duration": "6.006",
         "width": "1920", "height": "1080", "bytes": "100", "status": "", "id": ""}
    )  # fmt: skip
    assert (record.ts_us, record.tier_hint, record.status, record.request_id) == (
        1_700_000_000_000_000, TIER_1080P, 200, None,
    )  # fmt: skip
    assert count(record).earned_us == 6_006_000
