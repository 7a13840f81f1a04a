"""The index through the store: trees, single files, live snapshots, lookups, URL patterns."""

from __future__ import annotations

import shutil
import time
from fractions import Fraction as F

import pytest

from streammeter.index.common import ManifestError, PlaylistRef
from streammeter.index.entry import IndexObject, Rendition
from streammeter.index.patterns import (
    PatternError,
    UrlPattern,
    match_pattern,
    match_patterns,
    validate_pattern,
)
from streammeter.index.register import read_sizes, register_file, register_text, register_tree
from tests.conftest import SAMPLES

HLS = SAMPLES / "hls"
DASH = SAMPLES / "dash"


def test_register_tree_shaka_ladder_with_sizes(store, tenant):
    env = tenant.env.env_key
    sizes = read_sizes(HLS / "shaka-packager-ladder" / "segment-sizes.tsv", "/vod/shaka/")
    result = register_tree(
        store, env, "shaka", "/vod/shaka/", HLS / "shaka-packager-ladder", sizes=sizes
    )
    assert (result.renditions, result.objects, result.segments, result.parts) == (8, 41, 24, 0)
    assert result.formats == ["hls-master"] + ["hls-media"] * 8 and not result.live
    assert [(r.rendition_id, r.width, r.height) for r in store.renditions(env, "shaka")][:2] == [
        ("/vod/shaka/stream_0.m3u8", 854, 364),
        ("/vod/shaka/stream_1.m3u8", None, None),
    ]
    found = store.lookup_index(
        env, ["/vod/shaka/video_720p_2M_h264_3.mp4", "/vod/shaka/hls.m3u8", "/vod/shaka/nope.mp4"]
    )
    assert found == {
        "/vod/shaka/video_720p_2M_h264_3.mp4": [
            IndexObject("/vod/shaka/video_720p_2M_h264_3.mp4", "shaka", "/vod/shaka/stream_3.m3u8",
                        "segment", F(5), None, 782741, media_sequence=2)
        ],
        "/vod/shaka/hls.m3u8": [IndexObject("/vod/shaka/hls.m3u8", "shaka", None, "manifest")],
    }  # fmt: skip
    assert store.rendition_map(env, [("shaka", "/vod/shaka/stream_1.m3u8"), ("shaka", "x")]) == {
        ("shaka", "/vod/shaka/stream_1.m3u8"): Rendition("/vod/shaka/stream_1.m3u8", "audio")
    }
    # registering the same tree again changes nothing
    again = register_tree(store, env, "shaka", "/vod/shaka/", HLS / "shaka-packager-ladder")
    assert again.objects == 41
    assert store.index_summary(env) == [{
        "asset_id": "shaka", "renditions": 8, "objects": 41, "segments": 24, "parts": 0,
        "manifests": 9, "live": False, "updated_at": store.index_summary(env)[0]["updated_at"],
    }]  # fmt: skip


def test_files_in_the_tree_give_whole_file_sizes(store, tenant, tmp_path):
    tree = tmp_path / "pkg"
    shutil.copytree(HLS / "shaka-packager-ladder", tree)
    (tree / "video_480p_1M_h264_2.mp4").write_bytes(b"\0" * 1234)
    register_tree(store, tenant.env.env_key, "a", "/a/", tree)
    (segment,) = store.lookup_index(tenant.env.env_key, ["/a/video_480p_1M_h264_2.mp4"])[
        "/a/video_480p_1M_h264_2.mp4"
    ]
    assert segment.byte_length == 1234 and segment.duration == 10


def test_master_alone_then_media_playlists_by_url_link_to_their_renditions(store, tenant):
    env = tenant.env.env_key
    master = register_file(
        store, env, "bip", "/vod/bip/master.m3u8", HLS / "apple-bipbop-advanced" / "master.m3u8"
    )
    assert (master.renditions, master.objects, master.segments) == (31, 33, 0)
    assert len(master.missing) == 0  # a single file has no tree to miss playlists from
    assert store.playlist_refs(env, ["/vod/bip/s1/en/prog_index.m3u8"]) == {
        "/vod/bip/s1/en/prog_index.m3u8": (
            "bip",
            PlaylistRef("/vod/bip/s1/en/prog_index.m3u8", "/vod/bip/s1/en/prog_index.m3u8",
                        "subtitle"),
        )
    }  # fmt: skip
    # the variant's playlist, registered later by URL: its segments join the rendition
    v9 = "#EXTM3U\n#EXT-X-TARGETDURATION:6\n#EXTINF:6.006,\nseg1.ts\n#EXT-X-ENDLIST\n"
    register_text(store, env, "bip", "/vod/bip/v9/prog_index.m3u8", v9)
    (segment,) = store.lookup_index(env, ["/vod/bip/v9/seg1.ts"])["/vod/bip/v9/seg1.ts"]
    assert segment.rendition_id == "/vod/bip/v9/prog_index.m3u8" and segment.kind == "segment"
    key = ("bip", segment.rendition_id)
    assert store.rendition_map(env, [key]) == {
        key: Rendition("/vod/bip/v9/prog_index.m3u8", "video", 1920, 1080, 9873268)
    }
    # fMP4 subtitles registered alone are still subtitles (the master said so)
    subs = "#EXTM3U\n#EXT-X-TARGETDURATION:6\n#EXTINF:6,\nsub1.m4s\n#EXT-X-ENDLIST\n"
    register_text(store, env, "bip", "/vod/bip/s1/en/prog_index.m3u8", subs)
    assert (
        store.lookup_index(env, ["/vod/bip/s1/en/sub1.m4s"])["/vod/bip/s1/en/sub1.m4s"][0].kind
        == "subtitle"
    )
    # re-registering the master keeps what the media playlists said about themselves
    register_file(
        store, env, "bip", "/vod/bip/master.m3u8", HLS / "apple-bipbop-advanced" / "master.m3u8"
    )
    (manifest,) = store.lookup_index(env, ["/vod/bip/v9/prog_index.m3u8"])[
        "/vod/bip/v9/prog_index.m3u8"
    ]
    assert manifest == IndexObject(
        "/vod/bip/v9/prog_index.m3u8", "bip", "/vod/bip/v9/prog_index.m3u8", "manifest"
    )


def test_live_snapshots_extend_the_index(store, tenant):
    env = tenant.env.env_key

    def snapshot(first: int, count: int) -> str:
        lines = ["#EXTM3U", "#EXT-X-TARGETDURATION:2", f"#EXT-X-MEDIA-SEQUENCE:{first}"]
        for number in range(first, first + count):
            lines += ["#EXTINF:2.002,", f"seg{number}.ts?token=abc"]
        return "\n".join(lines) + "\n"

    first = register_text(store, env, "live1", "/live/s1/v.m3u8?token=abc", snapshot(100, 3))
    assert first.live and first.segments == 3
    register_text(store, env, "live1", "/live/s1/v.m3u8", snapshot(102, 3))  # 102-104
    paths = [f"/live/s1/seg{n}.ts" for n in range(100, 106)]
    found = store.lookup_index(env, paths)
    assert sorted(found) == paths[:5]  # 100..104: the old ones are kept
    assert [found[p][0].media_sequence for p in paths[:5]] == [100, 101, 102, 103, 104]
    assert all(found[p][0].live and found[p][0].duration == F("2.002") for p in paths[:5])
    # the stream ends: the last snapshot carries ENDLIST, its objects are no longer live
    ended = snapshot(104, 2) + "#EXT-X-ENDLIST\n"
    register_text(store, env, "live1", "/live/s1/v.m3u8", ended)
    assert not store.lookup_index(env, ["/live/s1/seg105.ts"])["/live/s1/seg105.ts"][0].live
    assert store.lookup_index(env, ["/live/s1/seg100.ts"])["/live/s1/seg100.ts"][0].live


def test_byte_ranges_sorted_whole_file_first(store, tenant):
    env = tenant.env.env_key
    objects = [
        IndexObject("/f/v.mp4", "a", "r", "segment", F(4), 2000, 1000),
        IndexObject("/f/v.mp4", "a", "r", "init", None, 0, 800),
        IndexObject("/f/v.mp4", "a", "r", "segment", F(4), 800, 1200),
        IndexObject("/f/v.mp4", "a", "r", "other", F(4)),
        IndexObject("/f/v.mp4", "a", "r", "segment", F(9)),  # duplicate key: the first wins
    ]
    assert store.register_index(env, "a", [Rendition("r", "video", 640, 360)], objects) == 4
    assert [(o.kind, o.byte_start) for o in store.lookup_index(env, ["/f/v.mp4"])["/f/v.mp4"]] == [
        ("other", None), ("init", 0), ("segment", 800), ("segment", 2000),
    ]  # fmt: skip
    other = store.create_environment("staging")
    assert store.lookup_index(other.env_key, ["/f/v.mp4"]) == {}


def test_register_dash_samples(store, tenant):
    env = tenant.env.env_key
    live_mpd = DASH / "shaka-10480-live-multiperiod-segmenttemplate.mpd"
    result = register_file(store, env, "live", "/l/dash_0.mpd", live_mpd)
    assert (result.renditions, result.objects, result.segments, result.live) == (1, 9, 7, True)
    result = register_file(
        store, env, "od", "/od/m.mpd", DASH / "mpegdash-motion-ondemand-segmentbase.mpd"
    )
    assert (result.renditions, result.objects, result.segments) == (8, 25, 8)
    (summary,) = store.index_summary(env, "od")
    assert summary["rendition_details"][0] == {
        "rendition_id": "0/1", "track": "video", "width": 1920, "height": 1080,
        "bandwidth": 4190760, "iframe": False, "segments": 1, "parts": 0, "seconds": 112.43,
    }  # fmt: skip


def test_lookup_is_batch_and_fast(store, tenant):
    env = tenant.env.env_key
    objects = [
        IndexObject(f"/b/seg{n}.ts", "a", "r", "segment", F(6), media_sequence=n)
        for n in range(50_000)
    ]
    store.register_index(env, "a", [], objects)
    paths = [f"/b/seg{n}.ts" for n in range(0, 60_000, 3)]  # 20,000 paths, a sixth unknown
    started = time.perf_counter()
    found = store.lookup_index(env, paths)
    elapsed = time.perf_counter() - started
    assert len(found) == len([n for n in range(0, 60_000, 3) if n < 50_000])
    assert elapsed < 5  # typically ~0.1 s


def test_errors(store, tenant):
    env = tenant.env.env_key
    with pytest.raises(ManifestError, match="neither an HLS playlist"):
        register_text(store, env, "a", "/a/x.txt", "hello")
    with pytest.raises(ManifestError, match="an asset id is required"):
        register_text(store, env, "", "/a/x.m3u8", "#EXTM3U\n#EXTINF:1,\na.ts\n")
    with pytest.raises(ManifestError, match="no .m3u8 or .mpd file"):
        register_tree(store, env, "a", "/a/", SAMPLES / "logs")
    assert store.index_summary(env) == []


# -- URL patterns -----------------------------------------------------------------------------
HEIGHT_PATTERN = r"/v/(?P<asset_id>\w+)/(?P<height>\d+)p/seg_(?P<segment>\d+)\.ts"


def test_url_patterns_in_the_store(store, tenant):
    env = tenant.env.env_key
    first = store.add_url_pattern(env, HEIGHT_PATTERN, {"duration": "6.006"})
    second = store.add_url_pattern(
        env, r"/p/(?P<playback_id>[^/]+)/audio/(?P<duration_ms>\d+)/(?P<segment>\d+)\.aac",
        {"track": "audio-only", "kind": "segment", "live": True},
    )  # fmt: skip
    patterns = store.url_patterns(env)
    assert [(p.pattern_id, p.regex, p.attributes) for p in patterns] == [
        (first, HEIGHT_PATTERN, {"duration": "6.006"}),
        (second, patterns[1].regex, {"track": "audio-only", "kind": "segment", "live": True}),
    ]
    assert match_patterns(patterns, "/v/abc123/720p/seg_17.ts") == IndexObject(
        "/v/abc123/720p/seg_17.ts", "abc123", "1280x720", "segment", F("6.006"),
        media_sequence=17,
    )  # fmt: skip
    audio = match_pattern(patterns, "/p/PB1/audio/4000/3.aac")
    assert audio.playback_id == "PB1" and audio.pattern_id == second
    assert audio.object == IndexObject(
        "/p/PB1/audio/4000/3.aac", "", None, "segment", F(4), live=True, media_sequence=3
    )
    assert match_patterns(patterns, "/v/abc123/720p/seg_17.ts.bak") is None  # whole path only
    assert store.delete_url_pattern(env, first) and not store.delete_url_pattern(env, first)
    assert [p.pattern_id for p in store.url_patterns(env)] == [second]
    with pytest.raises(PatternError, match="needs a named group asset_id or playback_id"):
        store.add_url_pattern(env, r"/v/(\w+)/seg\.ts", {})


def test_pattern_matches_give_renditions_with_sizes():
    patterns = [
        UrlPattern(1, r"/w/(?P<asset_id>\w+)/(?P<width>\d+)x(?P<height>\d+)/(?P<part>\d+)\.m4s"),
        UrlPattern(2, r"/x/(?P<asset_id>\w+)/(?P<rendition>\w+)/(?P<segment>\d+)\.ts",
                   {"width": 1080, "height": 1920, "duration": "4"}),
        UrlPattern(3, r"/y/(?P<asset_id>\w+)/.*"),
    ]  # fmt: skip
    part = match_pattern(patterns, "/w/a1/1920x1080/7.m4s")
    assert part.object.kind == "part" and part.object.part_index == 7
    assert part.rendition == Rendition("1920x1080", "video", 1920, 1080)
    portrait = match_pattern(patterns, "/x/a2/hd/12.ts")
    assert portrait.rendition == Rendition("hd", "video", 1080, 1920)
    assert portrait.object.duration == 4 and portrait.object.media_sequence == 12
    other = match_pattern(patterns, "/y/a3/master.m3u8")
    assert other.object.kind == "manifest" and other.rendition is None


@pytest.mark.parametrize(
    ("regex", "attributes", "message"),
    [
        ("/v/(?P<asset_id>[", {}, "invalid regex"),
        ("/v/(?P<asset>\\w+)", {}, "needs a named group asset_id or playback_id"),
        ("/v/(?P<asset_id>\\w+)/(?P<foo>\\d+)", {}, "unknown named group(s) foo"),
        ("/v/(?P<asset_id>\\w+)", {"kind": "video"}, "kind must be one of"),
        ("/v/(?P<asset_id>\\w+)", {"track": "muxed"}, "track must be one of"),
        ("/v/(?P<asset_id>\\w+)", {"height": "tall"}, "height must be a positive integer"),
        ("/v/(?P<asset_id>\\w+)", {"duration": "-1"}, "duration must be positive"),
        ("/v/(?P<asset_id>\\w+)", {"colour": "red"}, "unknown attribute 'colour'"),
    ],
)
def test_pattern_validation(regex, attributes, message):
    with pytest.raises(PatternError) as caught:
        validate_pattern(regex, attributes)
    assert message in str(caught.value)


def test_pattern_attributes_are_normalized():
    assert validate_pattern(r"/v/(?P<asset_id>\w+)", {"duration": 6.0, "width": "1280"}) == {
        "duration": "6", "width": 1280
    }  # fmt: skip


#: every manifest in delivery-samples: (format, renditions, objects, segments, live)
SAMPLE_FILES = {
    "dash/mpegdash-360p-segmentlist-mediarange.mpd": ("dash", 1, 5, 3, False),
    "dash/mpegdash-motion-ondemand-segmentbase.mpd": ("dash", 8, 25, 8, False),
    "dash/mpegdash-sample-001-multiperiod.mpd": ("dash", 3, 40, 34, False),
    "dash/shaka-10480-live-multiperiod-segmenttemplate.mpd": ("dash", 1, 9, 7, True),
    "dash/shaka-6339-segmentlist-mediarange.mpd": ("dash", 2, 20, 17, False),
    "dash/shaka-dash-cmcd-clientdatareporting.mpd": ("dash", 2, 7, 2, False),
    "hls/apple-bipbop-advanced/master.m3u8": ("hls-master", 31, 33, 0, False),
    "hls/misc/llhls-media-with-parts.m3u8": ("hls-media", 0, 13, 7, True),
    "hls/misc/media-byterange.m3u8": ("hls-media", 0, 4, 3, True),
    "hls/misc/rfc8216-master-with-audio-only-variant.m3u8": ("hls-master", 10, 11, 0, False),
    "hls/misc/wowza-master-no-resolution.m3u8": ("hls-master", 5, 6, 0, False),
    "hls/misc/wowza-vod-chunklist-12s.m3u8": ("hls-media", 0, 523, 522, False),
    "hls/shaka-packager-ladder/hls.m3u8": ("hls-master", 8, 9, 0, False),
    **{
        f"hls/shaka-packager-ladder/stream_{n}.m3u8": ("hls-media", 0, 5, 3, False)
        for n in range(8)
    },
}


def test_every_sample_manifest_registers(store, tenant):
    """Every playlist and MPD in delivery-samples loads through the store, one asset each."""
    env = tenant.env.env_key
    files = sorted(p for p in SAMPLES.rglob("*") if p.suffix in (".m3u8", ".mpd"))
    seen = set()
    for number, file in enumerate(files):
        relative = file.relative_to(SAMPLES).as_posix()
        url = "/samples/" + relative
        result = register_file(store, env, f"asset{number}", url, file)
        assert result.files == [url] and result.objects >= 1
        if relative in SAMPLE_FILES:  # a sample added later only has to load
            seen.add(relative)
            got = (result.formats[0], result.renditions, result.objects, result.segments,
                   result.live)  # fmt: skip
            assert got == SAMPLE_FILES[relative], relative
    assert seen == set(SAMPLE_FILES)
    assert len(store.index_summary(env)) == len(files)
