"""counting.md 4-6 for access-log requests: the index join, one golden case per rule."""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction

import pytest

from streammeter.counting.resolve import (
    NOTE_206_NO_RANGE,
    NOTE_DURATION_FROM_CMCD,
    NOTE_LLHLS_NO_SID,
    NOTE_TIER_FROM_BR,
    NOTE_UNMAPPED_URL,
    resolve,
)
from streammeter.counting.rules import NOTE_NO_DURATION, count
from streammeter.index.entry import IndexObject, Rendition
from streammeter.model.tiers import TIER_720P, TIER_1080P, TIER_AUDIO_ONLY
from streammeter.sources.cdn.request import EdgeRequest

V1080 = Rendition("/v/a/1080.m3u8", "video", 1920, 1080, 5_000_000)
V720 = Rendition("/v/a/720.m3u8", "video", 1280, 720, 2_500_000)
NORES = Rendition("/v/a/nores.m3u8", "video", None, None, 2_600_000)
AUDIO = Rendition("/v/a/audio.m3u8", "audio", bandwidth=128_000)
AUDIO_ONLY = Rendition("/v/a/ao.m3u8", "audio-only", bandwidth=64_000)
IFRAME = Rendition("/v/a/iframe.m3u8", "video", 1920, 1080, 200_000, iframe=True)


def seg(path, rendition, seconds, **kw) -> IndexObject:
    return IndexObject(path, "a", rendition.rendition_id, kw.pop("kind", "segment"),
                       Fraction(seconds), **kw)  # fmt: skip


@dataclass
class FakeIndex:
    objects_by_path: dict[str, list[IndexObject]] = field(default_factory=dict)
    all_renditions: list[Rendition] = field(default_factory=list)

    def objects(self, path):
        return self.objects_by_path.get(path, [])

    def rendition(self, asset_id, rendition_id):
        return next((r for r in self.all_renditions if r.rendition_id == rendition_id), None)

    def renditions(self, asset_id):
        return self.all_renditions

    def playback_id(self, path):
        return None


INDEX = FakeIndex(
    {
        "/v/a/1080/s1.ts": [seg("/v/a/1080/s1.ts", V1080, 6)],
        "/v/a/1080/sized.ts": [seg("/v/a/1080/sized.ts", V1080, 6, byte_length=1000)],
        "/v/a/720/all.ts": [  # byte-range addressed: three segments in one file
            seg("/v/a/720/all.ts", V720, 4, byte_start=0, byte_length=1000),
            seg("/v/a/720/all.ts", V720, 6, byte_start=1000, byte_length=2000),
            seg("/v/a/720/all.ts", V720, 2, byte_start=3000, byte_length=500),
        ],
        "/v/a/720/init.mp4": [seg("/v/a/720/init.mp4", V720, 0, kind="init")],
        "/v/a/nores/s1.ts": [seg("/v/a/nores/s1.ts", NORES, 6)],
        "/v/a/audio/s1.aac": [seg("/v/a/audio/s1.aac", AUDIO, 6)],
        "/v/a/ao/s1.aac": [seg("/v/a/ao/s1.aac", AUDIO_ONLY, 6)],
        "/v/a/iframe/s1.ts": [seg("/v/a/iframe/s1.ts", IFRAME, 6)],
        "/v/a/live/s9.ts": [seg("/v/a/live/s9.ts", V720, 2, live=True, media_sequence=9)],
        "/v/a/live/s9.0.ts": [
            seg(
                "/v/a/live/s9.0.ts",
                V720,
                "0.5",
                kind="part",
                live=True,
                media_sequence=9,
                part_index=0,
            )
        ],  # fmt: skip
        "/v/a/nodur.ts": [IndexObject("/v/a/nodur.ts", "a", V720.rendition_id, "segment")],
    },
    [V1080, V720, NORES, AUDIO, AUDIO_ONLY, IFRAME],
)


def earned(path: str, **kw) -> tuple[int, list[str]]:
    resolved = resolve(EdgeRequest(ts_us=1, path=path, **kw), INDEX)
    counted = count(resolved.record)
    return counted.earned_us, resolved.notes + ([counted.note] if counted.note else [])


def test_complete_segment():
    assert earned("/v/a/1080/s1.ts", bytes_sent=500) == (6_000_000, [])


def test_record_carries_asset_rendition_tier_and_bytes():
    record = resolve(
        EdgeRequest(ts_us=7, path="/v/a/1080/s1.ts", bytes_sent=99, request_id="r1",
                    client_ip="192.0.2.1", cmcd={"sid": "s"}), INDEX
    ).record  # fmt: skip
    assert (record.asset_id, record.rendition_id, record.tier_hint, record.bytes) == (
        "a", V1080.rendition_id, TIER_1080P, 99,
    )  # fmt: skip
    assert (record.request_id, record.session_id, record.client_ip) == ("r1", "s", "192.0.2.1")


def test_aborted_cloudfront_style_is_pro_rata_by_body_over_content_length():
    assert earned("/v/a/1080/s1.ts", aborted=True, body_bytes=250, content_length=1000)[0] == (
        1_500_000
    )


def test_short_body_without_abort_flag_is_pro_rata():
    assert earned("/v/a/1080/s1.ts", body_bytes=500, content_length=1000)[0] == 3_000_000


def test_aborted_without_sizes_earns_nothing_and_status_000_earns_nothing():
    assert earned("/v/a/1080/s1.ts", status=499)[0] == 0
    assert earned("/v/a/1080/s1.ts", aborted=True)[0] == 0
    assert earned("/v/a/1080/s1.ts", status=0)[0] == 0


@pytest.mark.parametrize("kw", [{"status": 304}, {"method": "HEAD"}, {"status": 404}])
def test_304_head_and_errors_earn_bytes_only(kw):
    resolved = resolve(EdgeRequest(ts_us=1, path="/v/a/1080/s1.ts", bytes_sent=300, **kw), INDEX)
    assert (count(resolved.record).earned_us, resolved.record.bytes) == (0, 300)


def test_206_over_a_whole_file_of_known_size_is_pro_rata_and_pieces_sum_to_one():
    first = earned("/v/a/1080/sized.ts", status=206, range_start=0, range_end=499)[0]
    second = earned("/v/a/1080/sized.ts", status=206, range_start=500, range_end=999)[0]
    assert (first, second) == (3_000_000, 3_000_000)


def test_206_unknown_size_counts_the_range_from_zero_once():
    assert earned("/v/a/1080/s1.ts", status=206, range_start=0, range_end=99)[0] == 6_000_000
    assert earned("/v/a/1080/s1.ts", status=206, range_start=100, range_end=999)[0] == 0


def test_206_without_a_range_earns_nothing_and_says_so():
    assert earned("/v/a/1080/s1.ts", status=206) == (0, [NOTE_206_NO_RANGE])


def test_206_over_byte_range_segments_counts_full_and_partial_segments():
    # 500-1999 covers half of the 4 s segment and half of the 6 s segment: 2 + 3 = 5 s
    assert earned("/v/a/720/all.ts", status=206, range_start=500, range_end=1999)[0] == 5_000_000
    # exactly the second segment
    assert earned("/v/a/720/all.ts", status=206, range_start=1000, range_end=2999)[0] == 6_000_000


def test_whole_get_of_a_byte_range_file_counts_every_segment():
    assert earned("/v/a/720/all.ts")[0] == 12_000_000


def test_aborted_get_of_a_byte_range_file_counts_what_was_sent():
    # 2000 bytes sent: the first segment (4 s) and half of the second (3 s)
    assert earned("/v/a/720/all.ts", aborted=True, body_bytes=2000)[0] == 7_000_000


def test_init_segments_earn_nothing():
    resolved = resolve(EdgeRequest(ts_us=1, path="/v/a/720/init.mp4"), INDEX)
    assert (resolved.record.kind, count(resolved.record).earned_us) == ("init", 0)


def test_demuxed_audio_is_track_audio_and_audio_only_variant_is_audio_only_tier():
    audio = resolve(EdgeRequest(ts_us=1, path="/v/a/audio/s1.aac"), INDEX).record
    assert (audio.track, audio.tier_hint) == ("audio", None)
    solo = resolve(EdgeRequest(ts_us=1, path="/v/a/ao/s1.aac"), INDEX).record
    assert (solo.track, solo.tier_hint, count(solo).earned_us) == (
        "audio-only", TIER_AUDIO_ONLY, 6_000_000,
    )  # fmt: skip


def test_iframe_objects_earn_bytes_only():
    resolved = resolve(EdgeRequest(ts_us=1, path="/v/a/iframe/s1.ts", bytes_sent=7), INDEX)
    assert (resolved.record.kind, count(resolved.record).earned_us) == ("other", 0)


def test_unmapped_url_keeps_its_bytes_and_says_why():
    resolved = resolve(EdgeRequest(ts_us=1, path="/elsewhere.ts", bytes_sent=42), INDEX)
    assert resolved.record.asset_id is None and resolved.record.bytes == 42
    assert resolved.notes == [NOTE_UNMAPPED_URL]


def test_duration_from_cmcd_when_the_index_has_none():
    assert earned("/v/a/nodur.ts", cmcd={"d": 4004}) == (4_004_000, [NOTE_DURATION_FROM_CMCD])
    assert earned("/v/a/nodur.ts") == (0, [NOTE_NO_DURATION])


def test_tier_from_cmcd_br_nearest_bandwidth_when_the_rendition_has_no_resolution():
    resolved = resolve(EdgeRequest(ts_us=1, path="/v/a/nores/s1.ts", cmcd={"br": 2400}), INDEX)
    assert (resolved.record.tier_hint, resolved.notes) == (TIER_720P, [NOTE_TIER_FROM_BR])
    bare = resolve(EdgeRequest(ts_us=1, path="/v/a/nores/s1.ts"), INDEX)
    assert bare.record.tier_hint is None  # the asset's tier at roll-up (inferred)


def test_live_objects_and_cmcd_stream_type_are_live():
    assert resolve(EdgeRequest(ts_us=1, path="/v/a/live/s9.ts"), INDEX).record.live
    assert resolve(
        EdgeRequest(ts_us=1, path="/v/a/1080/s1.ts", cmcd={"st": "l"}), INDEX
    ).record.live
    assert not resolve(EdgeRequest(ts_us=1, path="/v/a/1080/s1.ts"), INDEX).record.live


def test_llhls_part_keys_and_missing_session_note():
    part = resolve(EdgeRequest(ts_us=1, path="/v/a/live/s9.0.ts"), INDEX)
    assert (part.record.kind, part.record.media_sequence, part.record.part_index) == ("part", 9, 0)
    assert part.notes == [NOTE_LLHLS_NO_SID]
    with_sid = resolve(EdgeRequest(ts_us=1, path="/v/a/live/s9.0.ts", cmcd={"sid": "x"}), INDEX)
    assert with_sid.notes == []


def test_segmentbase_init_and_index_ranges_earn_nothing_media_ranges_pro_rata():
    path = "/v/a/ondemand.mp4"
    index = FakeIndex(
        {
            path: [
                seg(path, V720, 60, byte_length=10_000),  # the whole file: one 60 s segment
                seg(path, V720, 0, kind="init", byte_start=0, byte_length=674),
                seg(path, V720, 0, kind="other", byte_start=674, byte_length=308),
            ]
        },
        [V720],
    )
    init = resolve(EdgeRequest(ts_us=1, path=path, status=206, range_start=0, range_end=673), index)
    assert (init.record.kind, count(init.record).earned_us) == ("init", 0)
    media = resolve(
        EdgeRequest(ts_us=1, path=path, status=206, range_start=982, range_end=5999), index
    )
    assert count(media.record).earned_us == 30_108_000  # 5,018 of 10,000 bytes x 60 s
