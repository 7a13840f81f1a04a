"""The format registry, format detection, and that no parser crashes on any input."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from streammeter.sources.cdn import FORMATS, SourceFormat, detect_format
from streammeter.sources.cdn.request import EdgeRequest
from streammeter.sources.generic import RecordError, open_content

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = Path(__file__).parent / "fixtures" / "cdn"
AWS_EXAMPLE = ROOT.parent / "shared" / "delivery-samples" / "logs"
AWS_EXAMPLE = AWS_EXAMPLE / "cloudfront-standard-aws-docs-example.log"


def head(path: Path, count: int = 20) -> list[bytes]:
    with open_content(path) as stream:
        return [line for _, line in zip(range(count), stream, strict=False)]


def test_registry() -> None:
    assert list(FORMATS) == [
        "cloudfront", "cloudfront-realtime", "cloudflare", "fastly", "akamai",
        "nginx-combined", "nginx-json",
    ]  # fmt: skip
    for name, fmt in FORMATS.items():
        assert isinstance(fmt, SourceFormat) and fmt.name == name
        assert fmt.bytes_measure and fmt.instant and fmt.aborted
        assert (ROOT / fmt.doc).is_file(), fmt.doc


@pytest.mark.parametrize(
    ("fixture", "name"),
    [
        ("cloudfront-hls.log", "cloudfront"),
        ("cloudfront-concatenated.log", "cloudfront"),
        ("cloudfront-realtime.log", "cloudfront-realtime"),
        ("cloudflare-http-requests.ndjson", "cloudflare"),
        ("fastly.ndjson", "fastly"),
        ("akamai-ds2.ndjson", "akamai"),
        ("nginx-combined.log", "nginx-combined"),
        ("nginx.ndjson", "nginx-json"),
        ("cloudfront-no-fields.log", None),  # W3C rows without their header: unsure
    ],
)
def test_detection_of_each_fixture(fixture: str, name: str | None) -> None:
    lines = head(FIXTURES / fixture)
    assert detect_format(lines) == name
    for other, fmt in FORMATS.items():
        assert fmt.detect(lines) is (other == name), other


@pytest.mark.skipif(not AWS_EXAMPLE.exists(), reason="shared/ delivery samples not present")
def test_detection_of_the_aws_example_also_gzipped(tmp_path: Path) -> None:
    assert detect_format(head(AWS_EXAMPLE)) == "cloudfront"
    packed = tmp_path / "example.gz"
    packed.write_bytes(gzip.compress(AWS_EXAMPLE.read_bytes()))
    assert detect_format(head(packed)) == "cloudfront"


def test_detection_of_generic_records() -> None:
    ndjson = b'{"timestamp":"2026-11-20T10:00:00Z","asset_id":"a1","duration":6}\n'
    assert detect_format([ndjson, ndjson]) == "generic"
    assert detect_format([b"timestamp,playback_id,duration\n", b"1795168800,p1,6\n"]) == "generic"
    # Not ours to parse, but not unsure either: the repo's own fixture.
    mux = ROOT / "tests" / "fixtures" / "mux_example_records.ndjson"
    if mux.exists():
        assert detect_format(head(mux)) == "generic"


@pytest.mark.parametrize(
    "lines",
    [
        [],
        [b"\n", b"   \n"],
        [b"hello world\n", b"this is not a log\n"],
        [b"\x00\x00\x00\x00\n"],
        [b"\x1f\x8b\x08\x00garbage\n"],
        [b'{"a": 1}\n'],
        [b"[1, 2, 3]\n"],
        [b"1605110483.123\tonly two\n"],
        # Two JSON kinds in one file: unsure.
        [
            b'{"EdgeStartTimestamp":1,"RayID":"x","ClientRequestURI":"/a"}\n',
            b'{"reqTimeSec":"1","reqPath":"/a","statusCode":"200"}\n',
        ],
        # A combined file whose second complete line is something else.
        [
            b'1.2.3.4 - - [20/Nov/2026:10:00:00 +0000] "GET /a HTTP/1.1" 200 5 "-" "-"\n',
            b"garbage\n",
        ],
        # Real-time rows of different widths.
        [b"1605110483.123\ta\tb\tc\n", b"1605110484.000\ta\tb\tc\td\n"],
    ],
)
def test_detection_says_none_when_unsure(lines: list[bytes]) -> None:
    assert detect_format(lines) is None


def test_detection_tolerates_a_cut_off_last_line() -> None:
    line = b'{"msec":"1795168800.000","request_uri":"/a.ts","status":"200","bytes_sent":"5"}\n'
    assert detect_format([line, line, line[:30]]) == "nginx-json"
    combined = b'1.2.3.4 - - [20/Nov/2026:10:00:00 +0000] "GET /a HTTP/1.1" 200 5 "-" "-"\n'
    assert detect_format([combined, combined[:20]]) == "nginx-combined"
    assert detect_format([combined, combined[:20] + b"\n"]) is None


def test_detection_reads_a_utf8_bom() -> None:
    assert detect_format([b"\xef\xbb\xbf#Version: 1.0\n", b"#Fields: date time\n"]) == "cloudfront"


# --- robustness: every line gives a request or a reason, never an exception ------------------

LINE = st.one_of(
    st.binary(max_size=200),
    st.text(max_size=200).map(lambda text: text.encode("utf-8", "surrogatepass")),
    st.lists(st.sampled_from(["-", "200", "abc", "/a.ts", "", "1605110483.123", "\x00"]),
             max_size=40).map(lambda cols: "\t".join(cols).encode()),
    st.dictionaries(
        st.sampled_from([
            "EdgeStartTimestamp", "ClientRequestURI", "EdgeResponseStatus", "EdgeResponseBytes",
            "RequestHeaders", "reqTimeSec", "reqPath", "statusCode", "range", "lastByte",
            "timestamp", "url", "status", "completed", "shield", "msec", "request_uri",
            "content_range", "cmcd_object", "queryStr", "bytes", "totalBytes",
        ]),
        st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=30),
                  st.lists(st.integers(), max_size=2), st.dictionaries(st.text(max_size=5),
                  st.text(max_size=10), max_size=2)),
        max_size=8,
    ).map(lambda obj: json.dumps(obj).encode()),
)  # fmt: skip


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(LINE, max_size=6))
def test_no_parser_crashes(lines: list[bytes]) -> None:
    numbered = list(enumerate((line + b"\n" for line in lines), start=1))
    for name, fmt in FORMATS.items():
        header = [(0, b"#Fields: date time sc-bytes cs-uri-stem sc-status\n")]
        feed = header + numbered if name == "cloudfront" else numbered
        for line_no, raw, value in fmt.parse(feed, {}):
            assert isinstance(line_no, int) and isinstance(raw, str)
            assert isinstance(value, EdgeRequest | RecordError), (name, value)
        detect_format([line for _, line in numbered])
