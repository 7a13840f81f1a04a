"""DASH parsing (pure): every MPD in delivery-samples, plus the edge cases they lack."""

from __future__ import annotations

from fractions import Fraction as F

import pytest

from streammeter.index.common import ManifestError
from streammeter.index.dash import iso_duration, parse_mpd
from streammeter.index.entry import IndexObject, Rendition
from streammeter.model.tiers import TIER_720P, tier_for_pixels
from tests.conftest import SAMPLES

DASH = SAMPLES / "dash"


def mpd(name: str, url: str, asset: str = "a"):
    return parse_mpd((DASH / name).read_text(), url, asset)


def of(objects, rendition_id, kind="segment"):
    return [o for o in objects if o.rendition_id == rendition_id and o.kind == kind]


def test_segmentlist_mediarange_gpac_muxed():
    renditions, objects = mpd("mpegdash-360p-segmentlist-mediarange.mpd", "/d/360p.mpd")
    assert renditions == [Rendition("0/1", "video", 864, 360, 708622)]  # muxed A/V: video
    assert objects[0] == IndexObject("/d/360p.mpd", "a", None, "manifest")
    file = "/d/360p_speciment_dashinit.mp4"
    assert of(objects, "0/1", "init") == [IndexObject(file, "a", "0/1", "init", None, 0, 1392)]
    segs = of(objects, "0/1")
    assert [(s.path, s.byte_start, s.byte_length, s.duration, s.media_sequence) for s in segs] == [
        (file, 1392, 840737 - 1392 + 1, F(10), 1),
        (file, 840738, 1763124 - 840738 + 1, F(10), 2),
        # @duration is 10 s, but the period ends at 22.959 s: the last segment is 2.959 s
        (file, 1763125, 2037996 - 1763125 + 1, F("2.959"), 3),
    ]
    assert sum(s.duration for s in segs) == F("22.959") and len(objects) == 5


def test_shaka_6339_segmentlist_byte_ranges_in_one_file_per_track():
    renditions, objects = mpd("shaka-6339-segmentlist-mediarange.mpd", "/d/6339/master.mpd")
    video_id = "0/a4c937bb-6f30-4ecb-8301-09fc1fd94c30"
    audio_id = "1/b68693a7-abb2-42bb-8d61-3646905df87a"
    assert renditions == [
        Rendition(video_id, "video", 1280, 720, 174395),
        Rendition(audio_id, "audio", None, None, 102962),
    ]
    assert tier_for_pixels(1280, 720) == TIER_720P  # exactly 921,600 px
    assert of(objects, video_id, "init") == [
        IndexObject("/d/6339/v.mp4", "a", video_id, "init", None, 36, 710)
    ]
    video = of(objects, video_id)
    assert [(s.byte_start, s.byte_length) for s in video] == [
        (746, 17736), (18482, 13879), (32361, 13873), (46234, 13873), (60107, 13873),
    ]  # fmt: skip
    assert [s.duration for s in video] == [F("9.982")] * 5
    assert {s.path for s in video} == {"/d/6339/v.mp4"}
    audio = of(objects, audio_id)
    assert len(audio) == 12 and [s.duration for s in audio] == [F(4)] * 12
    assert (audio[0].byte_start, audio[0].byte_length) == (664, 2357)
    assert (audio[-1].byte_start, audio[-1].byte_length) == (26460, 2340)
    assert {s.path for s in audio} == {"/d/6339/a.mp4"}
    assert of(objects, audio_id, "init")[0].byte_start == 36
    assert len(objects) == 1 + 2 + 5 + 12


def test_segmentbase_on_demand_one_file_per_representation():
    renditions, objects = mpd("mpegdash-motion-ondemand-segmentbase.mpd", "/d/motion/m.mpd")
    assert renditions == [
        Rendition("0/1", "video", 1920, 1080, 4190760),
        Rendition("0/2", "video", 1280, 720, 2073921),
        Rendition("0/3", "video", 854, 480, 869460),
        Rendition("0/4", "video", 640, 360, 686521),
        Rendition("0/5", "video", 426, 240, 264835),
        Rendition("1/6", "audio", None, None, 127236),
        Rendition("1/7", "audio", None, None, 255236),
        Rendition("1/8", "audio", None, None, 31749),
    ]
    file = "/d/motion/motion-20120802-89.mp4"
    assert [o for o in objects if o.path == file] == [
        IndexObject(file, "a", "0/1", "init", None, 0, 674),
        IndexObject(file, "a", "0/1", "other", None, 674, 308),  # the sidx (indexRange)
        # the whole file is one segment lasting the period; its size is unknown
        IndexObject(file, "a", "0/1", "segment", F("112.43")),
    ]
    segs = [o for o in objects if o.kind == "segment"]
    assert len(segs) == 8 and {s.duration for s in segs} == {F("112.43")}
    assert {s.byte_start for s in segs} == {None} and len(objects) == 1 + 8 * 3
    assert of(objects, "1/8", "other")[0].path == "/d/motion/motion-20120802-8b.mp4"


def test_multiperiod_segmentbase_segmentlist_and_timeline_repeats():
    renditions, objects = mpd("mpegdash-sample-001-multiperiod.mpd", "/d/s1/manifest.mpd")
    assert renditions == [
        Rendition("0/720p", "video", 1280, 720, 3200000),
        Rendition("0/1080p", "video", 1920, 1080, 6800000),
        Rendition("1/audio", "audio", None, None, 128000),
    ]
    # period 1 (ad, 30 s): one file per representation (SegmentBase) + its sidx
    assert IndexObject("/d/s1/ad/720p.ts", "a", "0/720p", "segment", F(30)) in objects
    assert IndexObject("/d/s1/ad/1080p.sidx", "a", "0/1080p", "other") in objects
    # period 2 (5 min): SegmentList of 10 one-minute segments...
    listed = [o for o in of(objects, "0/720p") if o.path.startswith("/d/s1/main/")]
    assert [o.path for o in listed] == [
        f"/d/s1/main/video/720p/segment-{n}.ts" for n in range(1, 11)
    ]
    # ...and SegmentTimeline r="10": 11 segments; media past the 300 s period is clipped
    timeline = [o for o in of(objects, "0/1080p") if o.path.startswith("/d/s1/main/")]
    assert [o.path for o in timeline] == [
        f"/d/s1/main/video/1080/segment-{n}.ts" for n in range(1, 12)
    ]
    assert [o.duration for o in timeline] == [F(60)] * 5 + [F(0)] * 6
    audio = of(objects, "1/audio")
    assert len(audio) == 11 and audio[0].path == "/d/s1/main/audio/segment-1.ts"
    assert sum(o.duration for o in audio) == F(300)
    assert IndexObject(
        "/d/s1/main/video/720p/representation-index.sidx", "a", "0/720p", "other"
    ) in objects  # fmt: skip


def test_live_multiperiod_template_number_format_reused_urls():
    renditions, objects = mpd("shaka-10480-live-multiperiod-segmenttemplate.mpd", "/l/dash_0.mpd")
    assert renditions == [Rendition("0/0", "video", 1280, 720, 122012)]
    # 3 periods (7 + 7 + 2 segments) reuse the same URLs: the first entry of each wins
    segs = of(objects, "0/0")
    assert [(s.path, s.media_sequence, s.duration) for s in segs] == [
        (f"/l/chunk-stream0-{n:05d}.m4s", n, F(2)) for n in range(1, 8)
    ]
    assert of(objects, "0/0", "init") == [
        IndexObject("/l/init-stream0.m4s", "a", "0/0", "init", live=True)
    ]
    assert len(objects) == 9 and all(o.live for o in objects)  # type="dynamic"


def test_cmcd_mpd_base_url_above_the_mpd():
    renditions, objects = mpd("shaka-dash-cmcd-clientdatareporting.mpd", "/t/dash-cmcd/dash.mpd")
    assert renditions == [
        Rendition("6/12", "video", 180, 144, 162364),
        Rendition("8/13", "audio", None, None, 130803),
    ]
    video = "/t/dash-multi-codec/video_144p_108k_h264.mp4"
    audio = "/t/dash-multi-codec/audio_en_2c_128k_aac.mp4"
    assert [o for o in objects if o.path == video] == [
        IndexObject(video, "a", "6/12", "init", None, 0, 860),
        IndexObject(video, "a", "6/12", "other", None, 860, 212),
        IndexObject(video, "a", "6/12", "segment", F(60)),  # MPD@mediaPresentationDuration
    ]
    assert [(o.kind, o.byte_start, o.byte_length, o.duration)
            for o in objects if o.path == audio] == [
        ("init", 0, 786, None), ("other", 786, 224, None), ("segment", None, None, F(60)),
    ]  # fmt: skip


TEMPLATE = """<?xml version="1.0"?>
<MPD xmlns="urn:mpeg:dash:schema:mpd:2011" type="static" mediaPresentationDuration="PT20.5S">
  <BaseURL>https://cdn.example.com/assets/a1/</BaseURL>
  <Period>
    <AdaptationSet contentType="video" width="1920" height="1080">
      <SegmentTemplate timescale="1000" duration="4000" startNumber="0"
          initialization="$RepresentationID$/init.mp4"
          media="$RepresentationID$/$Bandwidth$/seg_$Number%05d$.m4s"/>
      <Representation id="v1" bandwidth="5000000"/>
      <Representation id="v2" bandwidth="2000000" width="1280" height="720"/>
    </AdaptationSet>
    <AdaptationSet mimeType="audio/mp4" id="9">
      <Representation id="en" bandwidth="128000">
        <SegmentTemplate timescale="48000" media="en/t$Time$.m4s" presentationTimeOffset="0">
          <SegmentTimeline>
            <S t="0" d="96000" r="-1"/>
            <S t="480000" d="96000" r="-1"/>
          </SegmentTimeline>
        </SegmentTemplate>
      </Representation>
    </AdaptationSet>
    <AdaptationSet contentType="video" width="320" height="180">
      <EssentialProperty schemeIdUri="http://dashif.org/guidelines/trickmode" value="1"/>
      <Representation id="trick" bandwidth="10000">
        <SegmentTemplate timescale="1" duration="10" media="trick/$Number$.m4s"/>
      </Representation>
    </AdaptationSet>
    <AdaptationSet contentType="text" mimeType="application/mp4" codecs="stpp">
      <Representation id="sub" bandwidth="1000">
        <SegmentTemplate timescale="1" duration="10" media="sub/$Number$.m4s"/>
      </Representation>
    </AdaptationSet>
  </Period>
</MPD>
"""


def test_template_duration_number_format_bandwidth_time_and_repeat_to_next_s():
    renditions, objects = parse_mpd(TEMPLATE, "/assets/a1/manifest.mpd", "a1")
    assert renditions == [
        Rendition("0/v1", "video", 1920, 1080, 5000000),  # size inherited from the set
        Rendition("0/v2", "video", 1280, 720, 2000000),
        Rendition("9/en", "audio", None, None, 128000),
        Rendition("2/trick", "video", 320, 180, 10000, iframe=True),
    ]
    v1 = of(objects, "0/v1")
    assert [(o.path, o.duration, o.media_sequence) for o in v1] == [
        ("/assets/a1/v1/5000000/seg_00000.m4s", F(4), 0),
        ("/assets/a1/v1/5000000/seg_00001.m4s", F(4), 1),
        ("/assets/a1/v1/5000000/seg_00002.m4s", F(4), 2),
        ("/assets/a1/v1/5000000/seg_00003.m4s", F(4), 3),
        ("/assets/a1/v1/5000000/seg_00004.m4s", F(4), 4),
        ("/assets/a1/v1/5000000/seg_00005.m4s", F("0.5"), 5),  # ceil(20.5 / 4) segments
    ]
    assert of(objects, "0/v1", "init")[0].path == "/assets/a1/v1/init.mp4"
    en = of(objects, "9/en")
    # r=-1 repeats up to the next S@t (480000 = 10 s), then up to the period end (20.5 s)
    assert [o.path for o in en] == [f"/assets/a1/en/t{t * 96000}.m4s" for t in range(11)]
    assert [o.duration for o in en] == [F(2)] * 10 + [F("0.5")]
    assert {o.kind for o in of(objects, "2/trick", "other")} == {"other"}
    assert len(of(objects, "2/trick", "other")) == 3  # trick play: bytes only
    assert [o.kind for o in objects if o.rendition_id == "3/sub"] == ["subtitle"] * 3


def test_audio_only_mpd_is_audio_only():
    text = (
        '<MPD type="static" mediaPresentationDuration="PT8S"><Period>'
        '<AdaptationSet mimeType="audio/mp4"><Representation id="a" bandwidth="64000">'
        '<SegmentTemplate media="a-$Number$.m4s" duration="4"/></Representation>'
        "</AdaptationSet></Period></MPD>"
    )
    renditions, objects = parse_mpd(text, "/r/radio.mpd", "radio")
    assert renditions == [Rendition("0/a", "audio-only", None, None, 64000)]
    assert [o.path for o in of(objects, "0/a")] == ["/r/a-1.m4s", "/r/a-2.m4s"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("<MPD><Period>", "/d/x.mpd: not well-formed XML: no element found: line 1"),
        ("<html/>", "the root element is <html>, not <MPD>"),
        (
            '<MPD><Period><AdaptationSet><Representation id="1" bandwidth="1"><SegmentTemplate '
            'media="$Number$.m4s"><SegmentTimeline><S d="abc"/></SegmentTimeline>'
            "</SegmentTemplate></Representation></AdaptationSet></Period></MPD>",
            '<S d="abc">: invalid value',
        ),
        (
            '<MPD mediaPresentationDuration="PT4S"><Period><AdaptationSet><Representation id="1">'
            '<SegmentTemplate media="$Foo$.m4s" duration="2"/></Representation></AdaptationSet>'
            "</Period></MPD>",
            "Period 1 / AdaptationSet 0 / Representation 1: unknown template identifier $Foo$",
        ),
        (
            '<MPD><Period><AdaptationSet><Representation id="1"><SegmentTemplate '
            'media="$Number$.m4s" duration="2"/></Representation></AdaptationSet></Period></MPD>',
            "SegmentTemplate@duration without a known period duration",
        ),
        ('<MPD mediaPresentationDuration="P1M"><Period/></MPD>', "years or months"),
    ],
)
def test_parse_errors_name_the_element(text, message):
    with pytest.raises(ManifestError) as caught:
        parse_mpd(text, "/d/x.mpd", "a")
    assert message in str(caught.value)


def test_iso_durations():
    assert iso_duration("PT0H1M52.43S", "x") == F("112.43")
    assert iso_duration("P1DT2H", "x") == 93600
    assert iso_duration("PT5000.0S", "x") == 5000
    with pytest.raises(ManifestError):
        iso_duration("5s", "x")
