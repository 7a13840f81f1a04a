"""HLS parsing (pure): every HLS sample in delivery-samples, plus the edge cases it lacks."""

from __future__ import annotations

from collections import Counter
from fractions import Fraction as F

import pytest

from streammeter.index.common import ManifestError, PlaylistRef
from streammeter.index.entry import IndexObject, Rendition
from streammeter.index.hls import parse_master, parse_media
from streammeter.index.register import index_tree, read_sizes
from streammeter.model.tiers import TIER_720P, tier_for_pixels
from tests.conftest import SAMPLES

HLS = SAMPLES / "hls"


def text(name: str) -> str:
    return (HLS / name).read_text()


def segments(objects: list[IndexObject]) -> list[IndexObject]:
    return [o for o in objects if o.kind == "segment"]


# -- masters ----------------------------------------------------------------------------------
def test_bipbop_master_54_variants_are_18_renditions_plus_iframes_and_audio():
    source = text("apple-bipbop-advanced/master.m3u8")
    assert source.count("#EXT-X-STREAM-INF") == 54
    renditions, playlists, objects = parse_master(source, "/vod/bip/master.m3u8", "bip")
    by_id = {r.rendition_id: r for r in renditions}
    video = [r for r in renditions if r.track == "video" and not r.iframe]
    iframes = [r for r in renditions if r.iframe]
    audio = [r for r in renditions if r.track == "audio"]
    assert len(video) == 18 and len(iframes) == 10 and len(audio) == 3 and len(renditions) == 31
    assert {r.rendition_id for r in video} == {
        f"/vod/bip/v{n}/prog_index.m3u8" for n in range(1, 19)
    }
    # the first declaration (audio group a1) gives the duplicated variant its BANDWIDTH
    assert by_id["/vod/bip/v5/prog_index.m3u8"] == Rendition(
        "/vod/bip/v5/prog_index.m3u8", "video", 960, 540, 2523597
    )
    assert by_id["/vod/bip/v9/prog_index.m3u8"] == Rendition(
        "/vod/bip/v9/prog_index.m3u8", "video", 1920, 1080, 9873268
    )
    assert by_id["/vod/bip/v10/prog_index.m3u8"] == Rendition(
        "/vod/bip/v10/prog_index.m3u8", "video", 416, 234, 340713
    )
    assert {(r.width, r.height) for r in video} == {
        (416, 234), (480, 270), (640, 360), (768, 432), (960, 540), (1280, 720), (1920, 1080),
    }  # fmt: skip
    assert by_id["/vod/bip/tp5/iframe_index.m3u8"] == Rendition(
        "/vod/bip/tp5/iframe_index.m3u8", "video", 1920, 1080, 1015727, iframe=True
    )
    assert by_id["/vod/bip/tp6/iframe_index.m3u8"] == Rendition(
        "/vod/bip/tp6/iframe_index.m3u8", "video", 480, 270, 51760, iframe=True
    )
    assert {r.rendition_id for r in audio} == {
        "/vod/bip/a1/prog_index.m3u8", "/vod/bip/a2/prog_index.m3u8", "/vod/bip/a3/prog_index.m3u8"
    }  # fmt: skip
    assert all(r.width is None and r.bandwidth is None for r in audio)
    # 31 renditions + the subtitles playlist, each once
    assert len(playlists) == 32
    assert playlists["/vod/bip/s1/en/prog_index.m3u8"] == PlaylistRef(
        "/vod/bip/s1/en/prog_index.m3u8", "/vod/bip/s1/en/prog_index.m3u8", "subtitle"
    )
    assert Counter(ref.role for ref in playlists.values()) == {
        "media": 21, "iframe": 10, "subtitle": 1
    }  # fmt: skip
    # the master itself + one placeholder per media playlist, all manifests of the asset
    assert len(objects) == 33
    assert {o.kind for o in objects} == {"manifest"} and {o.asset_id for o in objects} == {"bip"}
    assert objects[0] == IndexObject("/vod/bip/master.m3u8", "bip", None, "manifest")


def test_shaka_ladder_master_letterboxed_renditions_and_audio_groups():
    renditions, playlists, _ = parse_master(text("shaka-packager-ladder/hls.m3u8"), "/s/hls.m3u8")
    assert renditions == [
        Rendition("/s/stream_3.m3u8", "video", 1280, 546, 4181915),
        Rendition("/s/stream_0.m3u8", "video", 854, 364, 1895289),
        Rendition("/s/stream_7.m3u8", "video", 1280, 546, 670544),
        Rendition("/s/stream_6.m3u8", "video", 854, 364, 544379),
        Rendition("/s/stream_1.m3u8", "audio"),
        Rendition("/s/stream_4.m3u8", "audio"),
        Rendition("/s/stream_5.m3u8", "audio"),
        Rendition("/s/stream_2.m3u8", "audio"),
    ]
    # letterboxed: both sizes are tier_720p by pixel count
    assert tier_for_pixels(1280, 546) == TIER_720P and tier_for_pixels(854, 364) == TIER_720P
    assert {ref.role for ref in playlists.values()} == {"media"}


def test_rfc8216_master_without_resolution_and_audio_only_variant():
    renditions, playlists, objects = parse_master(
        text("misc/rfc8216-master-with-audio-only-variant.m3u8"), "/r/master.m3u8"
    )
    assert [(r.rendition_id, r.track, r.width, r.height, r.bandwidth) for r in renditions] == [
        ("/r/low/main/audio-video.m3u8", "video", None, None, 1280000),
        ("/r/mid/main/audio-video.m3u8", "video", None, None, 2560000),
        ("/r/hi/main/audio-video.m3u8", "video", None, None, 7680000),
        ("/r/main/audio-only.m3u8", "audio-only", None, None, 65000),
        # VIDEO-group alternates take the BANDWIDTH of the variant that uses the group
        ("/r/low/centerfield/audio-video.m3u8", "video", None, None, 1280000),
        ("/r/low/dugout/audio-video.m3u8", "video", None, None, 1280000),
        ("/r/mid/centerfield/audio-video.m3u8", "video", None, None, 2560000),
        ("/r/mid/dugout/audio-video.m3u8", "video", None, None, 2560000),
        ("/r/hi/centerfield/audio-video.m3u8", "video", None, None, 7680000),
        ("/r/hi/dugout/audio-video.m3u8", "video", None, None, 7680000),
    ]
    assert len(playlists) == 10 and len(objects) == 11


def test_wowza_master_no_resolution_and_session_ids_stripped():
    renditions, playlists, objects = parse_master(
        text("misc/wowza-master-no-resolution.m3u8"), "/live/w/playlist.m3u8?wowzasessionid=1"
    )
    assert [(r.rendition_id, r.track, r.width, r.bandwidth) for r in renditions] == [
        (f"/live/w/chunklist-b{b}.m3u8", "video", None, b)
        for b in (300000, 600000, 850000, 1300000, 2000000)
    ]
    assert objects[0].path == "/live/w/playlist.m3u8"
    assert all("?" not in o.path for o in objects) and len(objects) == 6


def test_audio_groups_of_an_audio_only_asset_are_audio_only():
    master = (
        "#EXTM3U\n"
        '#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="a",NAME="en",URI="en/a.m3u8"\n'
        '#EXT-X-STREAM-INF:BANDWIDTH=64000,CODECS="mp4a.40.2",AUDIO="a"\n'
        "aac/64k.m3u8\n"
        '#EXT-X-STREAM-INF:BANDWIDTH=128000,CODECS="mp4a.40.2",AUDIO="a"\n'
        "en/a.m3u8\n"
    )
    renditions, _, _ = parse_master(master, "/p/m.m3u8")
    assert [(r.rendition_id, r.track, r.bandwidth) for r in renditions] == [
        ("/p/aac/64k.m3u8", "audio-only", 64000),
        ("/p/en/a.m3u8", "audio-only", 128000),  # the variant path wins over the group entry
    ]


def test_video_codec_without_resolution_is_video_and_demuxed_audio_is_audio():
    master = (
        "#EXTM3U\n"
        '#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="a",NAME="en",URI="audio/en.m3u8"\n'
        '#EXT-X-STREAM-INF:BANDWIDTH=800000,CODECS="avc1.4d401f,mp4a.40.2",AUDIO="a"\n'
        "video/800k.m3u8\n"
        '#EXT-X-STREAM-INF:BANDWIDTH=64000,CODECS="mp4a.40.5",AUDIO="a"\n'
        "audio/en.m3u8\n"
        '#EXT-X-SESSION-KEY:METHOD=AES-128,URI="https://keys.example/k/1?token=abc"\n'
    )
    renditions, _, objects = parse_master(master, "/p/m.m3u8")
    assert [(r.rendition_id, r.track) for r in renditions] == [
        ("/p/video/800k.m3u8", "video"),
        # Also the audio group of the video variant: a request for it cannot tell audio-only
        # playback from audio beside video, so it earns bytes only (never counted twice).
        ("/p/audio/en.m3u8", "audio"),
    ]
    assert IndexObject("/k/1", "", None, "key") in objects


# -- media playlists --------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("name", "init", "init_size", "durations", "sizes"),
    [
        ("stream_0", "video_480p_1M_h264_init.mp4", 1128, ("10", "10", "5"),
         (2199527, 825333, 447759)),
        ("stream_3", "video_720p_2M_h264_init.mp4", 1133, ("10", "10", "5"),
         (None, 1501524, 782741)),  # the first blob's size is unknown (blank in the TSV)
        ("stream_6", "video_480p_389k_av1_init.mp4", 1067, ("10", "10", "5"),
         (469651, 507782, 255445)),
        ("stream_7", "video_720p_512k_av1_init.mp4", 1067, ("10", "10", "5"),
         (623935, 661284, 334298)),
        ("stream_1", "audio_en_2c_128k_aac_init.mp4", 1049, ("10.005", "10.005", "5.035"),
         (169671, 167117, 84135)),
        ("stream_4", "audio_es_2c_128k_aac_init.mp4", 1049, ("10.005", "10.005", "5.035"),
         (169671, 167117, 84135)),
        ("stream_5", "audio_en_2c_64k_opus_init.mp4", 1000, ("10.020", "10.000", "5.011"),
         (85778, 101940, 55978)),
        ("stream_2", "audio_es_2c_64k_opus_init.mp4", 1000, ("10.020", "10.000", "5.011"),
         (85778, 101940, 55978)),
    ],
)  # fmt: skip
def test_shaka_ladder_media_playlists(name, init, init_size, durations, sizes):
    known = read_sizes(HLS / "shaka-packager-ladder" / "segment-sizes.tsv", "/s/")
    objects = parse_media(
        text(f"shaka-packager-ladder/{name}.m3u8"), f"/s/{name}.m3u8", None, "shaka", sizes=known
    )
    rendition = f"/s/{name}.m3u8"
    assert objects[0] == IndexObject(rendition, "shaka", rendition, "manifest")
    assert objects[1] == IndexObject(
        f"/s/{init}", "shaka", rendition, "init", byte_length=init_size
    )
    segs = segments(objects)
    assert len(objects) == 5 and len(segs) == 3  # the key is a data: URI: nothing to index
    assert [s.duration for s in segs] == [F(d) for d in durations]
    assert [s.byte_length for s in segs] == list(sizes)
    assert [s.byte_start for s in segs] == [None, None, None]
    assert [s.media_sequence for s in segs] == [0, 1, 2]
    assert not any(o.live for o in objects)


def test_shaka_ladder_tree_totals():
    known = read_sizes(HLS / "shaka-packager-ladder" / "segment-sizes.tsv", "/vod/shaka/")
    indexed = index_tree("shaka", "/vod/shaka/", HLS / "shaka-packager-ladder", sizes=known)
    assert indexed.missing == [] and len(indexed.renditions) == 8
    totals: dict[str, F] = {}
    for obj in segments(indexed.objects):
        totals[obj.rendition_id] = totals.get(obj.rendition_id, F(0)) + obj.duration
    assert totals == {
        "/vod/shaka/stream_0.m3u8": F(25), "/vod/shaka/stream_3.m3u8": F(25),
        "/vod/shaka/stream_6.m3u8": F(25), "/vod/shaka/stream_7.m3u8": F(25),
        "/vod/shaka/stream_1.m3u8": F("25.045"), "/vod/shaka/stream_4.m3u8": F("25.045"),
        "/vod/shaka/stream_5.m3u8": F("25.031"), "/vod/shaka/stream_2.m3u8": F("25.031"),
    }  # fmt: skip
    last = [o for o in indexed.objects if o.path == "/vod/shaka/video_720p_2M_h264_3.mp4"]
    assert [(o.kind, o.duration, o.byte_length) for o in last] == [("segment", F(5), 782741)]


def test_wowza_chunklist_522_segments_of_12s_with_session_ids_stripped():
    objects = parse_media(
        text("misc/wowza-vod-chunklist-12s.m3u8"),
        "/vod/w/chunklist-b2000000.m3u8?wowzasessionid=2029972411",
        None,
        "w",
    )
    segs = segments(objects)
    assert objects[0].path == "/vod/w/chunklist-b2000000.m3u8"
    assert len(segs) == 522
    assert segs[0] == IndexObject(
        "/vod/w/media-b2000000_1.ts", "w", "/vod/w/chunklist-b2000000.m3u8", "segment", F(12),
        media_sequence=1,
    )  # fmt: skip
    assert segs[-1].path == "/vod/w/media-b2000000_522.ts" and segs[-1].duration == F("7.2")
    assert segs[-1].media_sequence == 522
    assert sum(s.duration for s in segs) == F("6259.2")
    assert not any(o.live for o in objects) and all("?" not in o.path for o in objects)


def test_byteranges_with_implicit_offset():
    objects = parse_media(text("misc/media-byterange.m3u8"), "/b/media.m3u8", "r", "b")
    assert [(o.path, o.byte_start, o.byte_length, o.duration, o.media_sequence)
            for o in segments(objects)] == [
        ("/b/video.ts", 0, 75232, F(10), 0),
        ("/b/video.ts", 752321, 82112, F(10), 1),
        ("/b/video.ts", 752321 + 82112, 69864, F(10), 2),  # continues from the previous end
    ]  # fmt: skip
    assert all(o.rendition_id == "r" for o in objects)
    assert objects[0].live  # no #EXT-X-ENDLIST


def test_llhls_parts():
    objects = parse_media(text("misc/llhls-media-with-parts.m3u8"), "/ll/media.m3u8", None, "ll")
    segs = segments(objects)
    assert [(s.path, s.media_sequence, s.duration) for s in segs] == [
        ("/ll/fileSequence266.ts", 0, F("4.00008")),
        ("/ll/fileSequence267.ts", 1, F("4.00008")),
        ("/ll/fileSequence268.ts", 2, F("4.00008")),
        ("/ll/fileSequence269.ts", 3, F("4.00008")),
        ("/ll/fileSequence270.ts", 4, F("4.00008")),
        ("/ll/fileSequence271.ts", 5, F("1.000")),
        ("/ll/fileSequence272.ts", 6, F("0.666")),
    ]
    assert sum(s.duration for s in segs) == F("21.6664")
    parts = [o for o in objects if o.kind == "part"]
    assert [(p.path, p.media_sequence, p.part_index, p.duration, p.byte_start, p.byte_length)
            for p in parts] == [
        ("/ll/filePart271.3.ts", 5, 0, F("0.33334"), 12, 10),
        ("/ll/filePart271.4.ts", 5, 1, F("0.33334"), None, None),
        ("/ll/filePart271.11.ts", 5, 2, F("0.33334"), None, None),
        ("/ll/filePart272.e.ts", 6, 0, F("0.333"), 12, 10),
        ("/ll/filePart272.f.ts", 6, 1, F("0.333"), None, None),
    ]  # fmt: skip
    assert all(o.live for o in objects)


def test_llhls_trailing_parts_preload_hint_map_and_keys():
    playlist = (
        "#EXTM3U\n#EXT-X-TARGETDURATION:4\n#EXT-X-MEDIA-SEQUENCE:10\n"
        "#EXT-X-PART-INF:PART-TARGET=1\n"
        '#EXT-X-MAP:URI="init.mp4",BYTERANGE="720@0"\n'
        '#EXT-X-KEY:METHOD=AES-128,URI="https://keys.example/k/7?token=s3cret"\n'
        "#EXTINF:4.0,\nseg10.mp4\n"
        '#EXT-X-PART:DURATION=1.0,URI="seg11.mp4",BYTERANGE="1000@0",INDEPENDENT=YES\n'
        '#EXT-X-PART:DURATION=1.0,URI="seg11.mp4",BYTERANGE="1200"\n'
        '#EXT-X-PRELOAD-HINT:TYPE=PART,URI="seg11.mp4",BYTERANGE-START=2200\n'
    )
    objects = parse_media(playlist, "/live/x/v.m3u8", None, "x")
    kinds = {(o.kind, o.path, o.byte_start, o.byte_length, o.media_sequence, o.part_index)
             for o in objects}  # fmt: skip
    assert kinds == {
        ("manifest", "/live/x/v.m3u8", None, None, None, None),
        ("init", "/live/x/init.mp4", 0, 720, None, None),
        ("key", "/k/7", None, None, None, None),
        ("segment", "/live/x/seg10.mp4", None, None, 10, None),
        ("part", "/live/x/seg11.mp4", 0, 1000, 11, 0),  # parts of a segment not yet complete
        ("part", "/live/x/seg11.mp4", 1000, 1200, 11, 1),  # implicit offset for parts too
    }  # the preload hint (no duration yet) is not indexed


def test_iframe_playlist_objects_earn_nothing_but_keep_their_duration():
    playlist = (
        "#EXTM3U\n#EXT-X-TARGETDURATION:6\n#EXT-X-I-FRAMES-ONLY\n"
        "#EXTINF:2.002,\n#EXT-X-BYTERANGE:9400@376\n../v5/main.ts\n"
        "#EXTINF:2.002,\n#EXT-X-BYTERANGE:7144@1034408\n../v5/main.ts\n#EXT-X-ENDLIST\n"
    )
    objects = parse_media(playlist, "/bip/tp5/iframe_index.m3u8", None, "bip")
    media = [o for o in objects if o.kind != "manifest"]
    assert [(o.kind, o.path, o.byte_start, o.byte_length, o.duration) for o in media] == [
        ("other", "/bip/v5/main.ts", 376, 9400, F("2.002")),
        ("other", "/bip/v5/main.ts", 1034408, 7144, F("2.002")),
    ]
    # the master's role says so too, without the tag
    plain = playlist.replace("#EXT-X-I-FRAMES-ONLY\n", "")
    assert {o.kind for o in parse_media(plain, "/bip/tp5/i.m3u8", None, "bip", role="iframe")} == {
        "manifest", "other"
    }  # fmt: skip


def test_subtitles_by_role_or_extension_and_uri_decoding():
    playlist = (
        "#EXTM3U\n#EXT-X-TARGETDURATION:6\n#EXTINF:6,\nsub%20one.vtt\n"
        "#EXTINF:6,\nhttps://cdn.example.com/other/path/seg2.m4s?token=1\n#EXT-X-ENDLIST\n"
    )
    objects = parse_media(playlist, "/s/en/prog_index.m3u8", None, "s")
    assert [(o.kind, o.path) for o in objects[1:]] == [
        ("subtitle", "/s/en/sub one.vtt"),
        ("segment", "/other/path/seg2.m4s"),
    ]
    by_role = parse_media(playlist, "/s/en/prog_index.m3u8", None, "s", role="subtitle")
    assert [o.kind for o in by_role[1:]] == ["subtitle", "subtitle"]


def test_playlist_type_vod_without_endlist_is_not_live():
    playlist = "#EXTM3U\n#EXT-X-PLAYLIST-TYPE:VOD\n#EXT-X-TARGETDURATION:6\n#EXTINF:6,\na.ts\n"
    assert not any(o.live for o in parse_media(playlist, "/v/a.m3u8", None, "v"))
    event = playlist.replace("VOD", "EVENT")
    assert all(o.live for o in parse_media(event, "/v/a.m3u8", None, "v"))


@pytest.mark.parametrize(
    ("playlist", "message"),
    [
        ("not a playlist", "/x/p.m3u8: line 1: not an HLS playlist"),
        ("#EXTM3U\n#EXT-X-TARGETDURATION:6\n#EXTINF:abc,\na.ts\n", "line 3 (#EXTINF:abc,)"),
        (
            "#EXTM3U\n#EXTINF:6,\n#EXT-X-BYTERANGE:100@0\na.ts\n"
            "#EXTINF:6,\n#EXT-X-BYTERANGE:100\nb.ts\n",
            "line 7 (b.ts): byte range 100 has no offset",
        ),
        ("#EXTM3U\n#EXTINF:6,\n#EXT-X-BYTERANGE:x@y\na.ts\n", "line 4 (a.ts): byte range"),
    ],
)
def test_parse_errors_name_the_line(playlist, message):
    with pytest.raises(ManifestError) as caught:
        parse_media(playlist, "/x/p.m3u8", None, "x")
    assert message in str(caught.value)


def test_master_and_media_are_not_confused():
    with pytest.raises(ManifestError, match="is a media playlist, not a master"):
        parse_master(text("misc/media-byterange.m3u8"), "/x/m.m3u8")
    with pytest.raises(ManifestError, match="is a master playlist, not a media"):
        parse_media(text("misc/wowza-master-no-resolution.m3u8"), "/x/m.m3u8", None, "x")
