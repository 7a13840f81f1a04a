"""CloudFront standard and real-time log parsing, with exact expected values."""

from __future__ import annotations

import gzip
from datetime import UTC, datetime
from pathlib import Path

import pytest

from streammeter.sources.cdn.cloudfront import (
    DEFAULT_REALTIME_FIELDS,
    decode_text,
    parse_cloudfront,
    parse_cloudfront_realtime,
    undo_layer,
)
from streammeter.sources.cdn.common import NUL_REASON
from streammeter.sources.cdn.request import EdgeRequest
from streammeter.sources.generic import RecordError, open_content

FIXTURES = Path(__file__).parent / "fixtures" / "cdn"
AWS_EXAMPLE = (
    Path(__file__).resolve().parents[2]
    / "shared"
    / "delivery-samples"
    / "logs"
    / "cloudfront-standard-aws-docs-example.log"
)
AWS_UA = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/78.0.3904.108 Safari/537.36"
)
SAFARI_UA = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.1 Safari/605.1.15"
)
T0 = 1_795_168_800  # 2026-11-20T10:00:00Z


def us(text: str) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()) * 1_000_000


def lines_of(path: Path) -> list[tuple[int, bytes]]:
    with open_content(path) as stream:
        return list(enumerate(stream, start=1))


def parse_file(path: Path) -> list[tuple[int, str, EdgeRequest | RecordError]]:
    return list(parse_cloudfront(lines_of(path)))


def standard(header: str, *rows: str) -> list[tuple[int, str, EdgeRequest | RecordError]]:
    text = "#Version: 1.0\n#Fields: " + header + "\n" + "".join(row + "\n" for row in rows)
    return list(parse_cloudfront(enumerate(text.encode().splitlines(keepends=True), start=1)))


MINI = "date time sc-bytes cs-uri-stem sc-status cs(User-Agent) cs-uri-query"


# --- the real AWS example --------------------------------------------------------------------


@pytest.mark.skipif(not AWS_EXAMPLE.exists(), reason="shared/ delivery samples not present")
def test_aws_documentation_example_parses_every_row() -> None:
    items = parse_file(AWS_EXAMPLE)
    assert [line_no for line_no, _, _ in items] == [3, 4, 5, 6, 7, 8]
    requests = [value for _, _, value in items]
    assert all(isinstance(r, EdgeRequest) for r in requests), requests
    assert [r.status for r in requests] == [200, 200, 200, 502, 502, 502]
    assert [r.bytes_sent for r in requests] == [392, 392, 392, 900, 900, 900]
    assert [r.body_bytes for r in requests] == [392, 392, 392, 900, 900, 900]
    assert [r.content_length for r in requests] == [78, 78, 78, 507, 507, 507]
    assert [r.path for r in requests] == ["/index.html"] * 3 + ["/favicon.ico", "/", "/"]
    assert [r.ts_us for r in requests] == [
        1_575_493_351_000_000,
        1_575_493_351_000_000,
        1_575_493_351_000_000,
        1_576_276_587_000_000,
        1_576_276_586_000_000,
        1_576_276_622_000_000,
    ]
    assert requests[0].ts_us == us("2019-12-04T21:02:31")
    assert requests[5].ts_us == us("2019-12-13T22:37:02")
    assert [r.host for r in requests] == ["d111111abcdef8.cloudfront.net"] * 3 + [
        "www.example.com"
    ] * 3
    assert [r.user_agent for r in requests] == [AWS_UA] * 5 + ["curl/7.55.1"]
    assert [r.client_ip for r in requests] == ["192.0.2.100"] * 3 + ["192.0.2.200"] * 3
    assert all(r.method == "GET" and r.query == "" and r.cmcd == {} for r in requests)
    assert all(r.range_start is None and r.range_end is None for r in requests)
    # The 502 OriginDnsError rows: an error response, not a client abort.
    assert [r.aborted for r in requests] == [False] * 6
    assert requests[3].request_id == "1pkpNfBQ39sYMnjjUQjmH2w1wdJnbHYTbag21o_3OfcQgPzdL2RSSQ=="


@pytest.mark.skipif(not AWS_EXAMPLE.exists(), reason="shared/ delivery samples not present")
def test_aws_example_row_with_a_trailing_tab() -> None:
    line_no, raw, request = parse_file(AWS_EXAMPLE)[2]
    assert line_no == 5 and raw.endswith("\t")
    assert isinstance(request, EdgeRequest)
    assert request.request_id == "f37nTMVvnKvV2ZSvEsivup_c2kZ7VXzYdjC-GUQZ5qNs-89BlWazbw=="
    assert request.status == 200 and request.bytes_sent == 392


@pytest.mark.skipif(not AWS_EXAMPLE.exists(), reason="shared/ delivery samples not present")
def test_gzip_input_gives_the_same_requests(tmp_path: Path) -> None:
    packed = tmp_path / "E2EXAMPLE.2019-12-04-21.abcd1234.gz"
    packed.write_bytes(gzip.compress(AWS_EXAMPLE.read_bytes()))
    assert parse_file(packed) == parse_file(AWS_EXAMPLE)


# --- our HLS fixture -------------------------------------------------------------------------


def test_hls_fixture_exact_values() -> None:
    items = parse_file(FIXTURES / "cloudfront-hls.log")
    assert [line_no for line_no, _, _ in items] == [3, 4, 5, 6, 7]
    full, ranged, aborted, no_response, playlist = (value for _, _, value in items)
    assert full == EdgeRequest(
        ts_us=(T0 + 1) * 1_000_000,
        path="/vod/asset1/720p/seg_00001.ts",
        query="token=abc%3D%3D&CMCD=br%3D3200%2Cd%3D6000%2Cot%3Dv%2Csid%3D%22s-42%22",
        method="GET",
        status=200,
        bytes_sent=1_503_840,
        body_bytes=1_503_840,
        content_length=1_503_412,
        aborted=False,
        request_id="cfA1xwn4XV6Q4rgb7XiVGOHms_BGlTAC4KyHmureZmBNrjGdRLiNIQ==",
        client_ip="198.51.100.7",
        user_agent=SAFARI_UA,
        host="video.example.com",
        cmcd={"br": 3200, "d": 6000, "ot": "v", "sid": "s-42"},
    )
    assert isinstance(ranged, EdgeRequest)
    assert (ranged.status, ranged.range_start, ranged.range_end) == (206, 0, 999_999)
    assert (ranged.bytes_sent, ranged.content_length) == (1_000_452, 1_000_000)
    assert isinstance(aborted, EdgeRequest)
    assert aborted.aborted is True and aborted.status == 200
    assert (aborted.body_bytes, aborted.content_length) == (400_311, 1_498_000)
    assert isinstance(no_response, EdgeRequest)
    assert (no_response.status, no_response.bytes_sent, no_response.aborted) == (0, 0, False)
    assert no_response.content_length is None
    assert isinstance(playlist, EdgeRequest)
    assert playlist.ts_us == (T0 + 3599) * 1_000_000
    assert playlist.host == "d1abcdef8.cloudfront.net"  # x-host-header '-': cs(Host)
    assert playlist.user_agent == (
        "AppleCoreMedia/1.0.0.21B101 (iPhone; U; CPU OS 17_1 like Mac OS X; en_us)"
    )


def test_double_encoding_is_undone_once() -> None:
    items = standard(
        MINI,
        "2026-11-20\t10:00:00\t100\t/vod/my%2520asset/seg_00001.ts\t200\t"
        "Mozilla/5.0%2520(X11;%2520Linux)\tsession=a%2520b&next=%252Fvod%252F&pct=100%2525",
    )
    request = items[0][2]
    assert isinstance(request, EdgeRequest)
    assert request.user_agent == "Mozilla/5.0 (X11; Linux)"
    assert request.query == "session=a%20b&next=%2Fvod%2F&pct=100%25"
    assert request.path == "/vod/my asset/seg_00001.ts"


def test_single_encoding_still_reads() -> None:
    assert decode_text("Mozilla/5.0%20(X11)") == "Mozilla/5.0 (X11)"
    assert undo_layer("a=%3D") == "a=%3D"
    assert undo_layer("a=%2525") == "a=%25"


def test_concatenated_files_honour_each_fields_header() -> None:
    items = parse_file(FIXTURES / "cloudfront-concatenated.log")
    assert [line_no for line_no, _, _ in items] == [3, 4, 7, 8]
    first, short, ranged, trailing_tab = (value for _, _, value in items)
    assert isinstance(first, EdgeRequest)
    assert (first.path, first.status) == ("/live/ch1/480p/seg_00100.ts", 200)
    assert first.bytes_sent == 752_000
    assert first.ts_us == (T0 + 3600) * 1_000_000 and first.content_length is None
    assert isinstance(short, RecordError)
    assert str(short) == (
        "expected 13 tab-separated columns as the #Fields header on line 2 says, got 5"
    )
    assert isinstance(ranged, EdgeRequest)
    assert (ranged.request_id, ranged.status, ranged.bytes_sent) == ("mfB1", 206, 500_420)
    assert (ranged.range_start, ranged.range_end) == (500_000, 999_999)
    assert ranged.content_length == 500_000
    assert ranged.query == "session=x%20y"
    assert isinstance(trailing_tab, EdgeRequest)
    assert (trailing_tab.request_id, trailing_tab.content_length) == ("mfB2", 752_000)


def test_rows_before_any_fields_header_are_rejected() -> None:
    items = parse_file(FIXTURES / "cloudfront-no-fields.log")
    assert [line_no for line_no, _, _ in items] == [1, 2]
    for _, _, value in items:
        assert isinstance(value, RecordError)
        assert str(value) == (
            "a log row before any #Fields header: cannot tell which column is which"
        )


def test_header_without_a_required_field() -> None:
    [(_, _, value)] = standard("date time cs-uri-stem sc-status", f"{D}\t{H}\t/a.ts\t200")
    assert isinstance(value, RecordError)
    assert str(value) == "the #Fields header on line 2 has no sc-bytes"


D, H = "2026-11-20", "10:00:00"
OUTSIDE = "date/time: '1999-12-31 23:59:59' is outside 2000-01-01..2100-01-01"
COLUMNS_8 = "expected 7 tab-separated columns as the #Fields header on line 2 says, got 8"
NOT_A_PATH = "cs-uri-stem: expected a URL path starting with '/', got 'a.ts'"


@pytest.mark.parametrize(
    ("cols", "reason"),
    [
        ((D, H, "abc", "/a.ts", "200", "-", "-"), "sc-bytes: expected an integer, got 'abc'"),
        ((D, H, "-5", "/a.ts", "200", "-", "-"), "sc-bytes: must be >= 0, got -5"),
        ((D, H, "5", "/a.ts", "OK", "-", "-"), "sc-status: expected an integer, got 'OK'"),
        (("1999-12-31", "23:59:59", "5", "/a.ts", "200", "-", "-"), OUTSIDE),
        (
            ("2026-13-01", H, "5", "/a.ts", "200", "-", "-"),
            "date: expected YYYY-MM-DD, got '2026-13-01'",
        ),
        ((D, "25:00:00", "5", "/a.ts", "200", "-", "-"), "time: expected HH:MM:SS, got '25:00:00'"),
        ((D, H, "5", "a.ts", "200", "-", "-"), NOT_A_PATH),
        ((D, H, "5", "-", "200", "-", "-"), "cs-uri-stem: missing"),
        ((D, H, "5", "/a.ts", "200", "-", "-", "extra"), COLUMNS_8),
        ((D, H + "\x00", "5", "/a.ts", "200", "-", "-"), NUL_REASON),
    ],
)
def test_bad_rows_have_actionable_reasons(cols: tuple[str, ...], reason: str) -> None:
    [(_, _, value)] = standard(MINI, "\t".join(cols))
    assert isinstance(value, RecordError)
    assert str(value) == reason


def test_invalid_utf8_is_replaced_not_rejected() -> None:
    text = (
        b"#Fields: " + MINI.encode() + b"\n2026-11-20\t10:00:00\t5\t/a.ts\t200\tbad\xff\xfeUA\t-\n"
    )
    [(_, raw, value)] = list(parse_cloudfront(enumerate(text.splitlines(keepends=True), 1)))
    assert isinstance(value, EdgeRequest)
    assert value.user_agent == "bad\ufffd\ufffdUA"
    assert "\ufffd" in raw


def test_aborted_needs_a_non_error_response_result() -> None:
    header = (
        "date time sc-bytes cs-uri-stem sc-status x-edge-result-type x-edge-response-result-type"
    )
    rows = [
        "2026-11-20\t10:00:00\t5\t/a.ts\t200\tError\tHit",
        "2026-11-20\t10:00:00\t5\t/a.ts\t502\tError\tError",
        "2026-11-20\t10:00:00\t5\t/a.ts\t200\tHit\tHit",
    ]
    flags = [value.aborted for _, _, value in standard(header, *rows)]  # type: ignore[union-attr]
    assert flags == [True, False, False]
    detailed = (
        "date time sc-bytes cs-uri-stem sc-status x-edge-result-type x-edge-detailed-result-type"
    )
    [(_, _, value)] = standard(
        detailed, "2026-11-20\t10:00:00\t5\t/a.ts\t200\tError\tClientCommError"
    )
    assert isinstance(value, EdgeRequest) and value.aborted is True


# --- real-time logs --------------------------------------------------------------------------


def test_realtime_fixture_with_the_default_fields() -> None:
    items = list(parse_cloudfront_realtime(lines_of(FIXTURES / "cloudfront-realtime.log")))
    assert [line_no for line_no, _, _ in items] == [1, 2, 3, 4]
    first, ranged, aborted, playlist = (value for _, _, value in items)
    assert first == EdgeRequest(
        ts_us=1_795_168_801_123_000,
        path="/vod/asset1/720p/seg_00001.ts",
        query="token=abc",
        status=200,
        bytes_sent=1_503_840,
        body_bytes=1_503_840,
        content_length=1_503_412,
        request_id="rtA1",
        client_ip="198.51.100.7",
        user_agent="Mozilla/5.0 (X11; Linux x86_64)",
        host="video.example.com",
        cmcd={"br": 3200, "d": 6000, "ot": "v", "sid": "s-42", "st": "v"},
    )
    assert isinstance(ranged, EdgeRequest)
    assert ranged.ts_us == 1_795_168_807_004_000
    assert (ranged.status, ranged.range_start, ranged.range_end) == (206, 1_000_000, 1_999_999)
    assert ranged.query == "CMCD=br%3D6000%2Cd%3D6000%2Cot%3Dv"
    assert ranged.cmcd == {"br": 6000, "d": 6000, "ot": "v"}  # columns empty: from the query
    assert isinstance(aborted, EdgeRequest) and aborted.aborted is True
    assert aborted.ts_us == 1_795_168_813_999_000
    assert isinstance(playlist, EdgeRequest)
    assert playlist.cmcd == {"ot": "m", "sid": "s-42", "st": "v"}
    assert playlist.ts_us == 1_795_168_800_500_000


def test_realtime_configured_fields_as_list_or_string() -> None:
    line = b"1605110483.123\t203.0.113.5\t206\t5120\t/v/a/seg_1.m4s?x=1\t0\t4095\n"
    fields = ["timestamp", "c-ip", "sc-status", "sc-bytes", "cs-uri-stem"]
    fields += ["sc-range-start", "sc-range-end"]
    for given in (fields, " ".join(fields), ",".join(fields)):
        [(_, _, value)] = list(parse_cloudfront_realtime([(1, line)], {"fields": given}))
        assert isinstance(value, EdgeRequest)
        assert value.ts_us == 1_605_110_483_123_000
        assert (value.path, value.query, value.status) == ("/v/a/seg_1.m4s", "x=1", 206)
        assert (value.range_start, value.range_end, value.bytes_sent) == (0, 4095, 5120)


def test_realtime_field_list_errors_raise_before_reading() -> None:
    with pytest.raises(ValueError, match="canonical order"):
        parse_cloudfront_realtime(
            [], {"fields": ["sc-status", "timestamp", "sc-bytes", "cs-uri-stem"]}
        )
    with pytest.raises(ValueError, match="lacks sc-bytes"):
        parse_cloudfront_realtime([], {"fields": ["timestamp", "sc-status", "cs-uri-stem"]})
    with pytest.raises(ValueError, match="listed twice"):
        parse_cloudfront_realtime(
            [], {"fields": "timestamp timestamp sc-status sc-bytes cs-uri-stem"}
        )


def test_realtime_bad_rows() -> None:
    rows = [
        (1, b"1605110483.123\t1.2.3.4\t200\n"),
        (2, b"1605110483,123" + b"\t-" * 20 + b"\n"),
        (3, b"\n"),
    ]
    items = list(parse_cloudfront_realtime(rows))
    assert [(n, str(v)) for n, _, v in items] == [
        (
            1,
            "expected 21 tab-separated columns as the configured field list (21 fields) "
            "says, got 3",
        ),
        (2, "timestamp: expected epoch seconds like 1605110483.123, got '1605110483,123'"),
    ]
    assert len(DEFAULT_REALTIME_FIELDS) == 21
