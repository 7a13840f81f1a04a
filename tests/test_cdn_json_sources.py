"""Cloudflare Logpush, Fastly (our JSON format) and Akamai DataStream 2 parsing."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from streammeter.sources.cdn.akamai import parse_akamai
from streammeter.sources.cdn.cloudflare import parse_cloudflare
from streammeter.sources.cdn.fastly import RECOMMENDED_FORMAT, parse_fastly
from streammeter.sources.cdn.request import EdgeRequest
from streammeter.sources.generic import RecordError

FIXTURES = Path(__file__).parent / "fixtures" / "cdn"
T0 = 1_795_168_800  # 2026-11-20T10:00:00Z
LINUX_UA = "Mozilla/5.0 (X11; Linux x86_64)"


def values(parser: Any, name: str) -> list[EdgeRequest | RecordError]:
    with (FIXTURES / name).open("rb") as handle:
        return [value for _, _, value in parser(enumerate(handle, start=1), {})]


def one(parser: Any, obj: dict[str, Any] | str) -> EdgeRequest | RecordError:
    line = obj if isinstance(obj, str) else json.dumps(obj)
    [(_, _, value)] = list(parser([(1, line.encode() + b"\n")], {}))
    return value


# --- Cloudflare ------------------------------------------------------------------------------


def test_cloudflare_fixture() -> None:
    nano, unix, rfc, docs_example, precise = values(
        parse_cloudflare, "cloudflare-http-requests.ndjson"
    )
    assert nano == EdgeRequest(
        ts_us=1_795_168_801_123_456,
        path="/vod/asset1/720p/seg_00001.ts",
        query="CMCD=br%3D3200%2Cd%3D6000%2Cot%3Dv%2Csid%3D%22s-42%22",
        status=200,
        bytes_sent=1_503_840,
        body_bytes=1_503_412,
        request_id="8e1f2a3b4c5d6e01",
        client_ip="198.51.100.7",
        user_agent=LINUX_UA,
        host="video.example.com",
        cmcd={"br": 3200, "d": 6000, "ot": "v", "sid": "s-42"},
    )
    assert isinstance(unix, EdgeRequest)
    assert unix.ts_us == (T0 + 7) * 1_000_000
    assert (unix.status, unix.range_start, unix.range_end, unix.object_size) == (
        206,
        1_000_000,
        1_999_999,
        3_000_000,
    )
    assert (unix.bytes_sent, unix.body_bytes, unix.content_length) == (
        1_000_431,
        1_000_000,
        1_000_000,
    )
    assert unix.cmcd == {"br": 6000, "d": 6000, "ot": "v", "sid": "s-42", "st": "v"}
    assert isinstance(rfc, EdgeRequest)
    assert rfc.ts_us == (T0 + 13) * 1_000_000
    assert (rfc.status, rfc.aborted, rfc.body_bytes) == (499, True, 400_000)
    assert isinstance(docs_example, RecordError)
    assert (
        str(docs_example) == "ClientRequestURI: missing (add it, or ClientRequestPath, to the job)"
    )
    assert isinstance(precise, EdgeRequest)
    assert precise.ts_us == 1_506_702_504_433_000
    assert precise.body_bytes is None and precise.bytes_sent == 48_213


@pytest.mark.parametrize(
    ("stamp", "expected_us"),
    [
        (1506702504433000200, 1_506_702_504_433_000),
        # As a float this would round to ...457024 ns and give ...457 µs: read as an int.
        (1795168801123456999, 1_795_168_801_123_456),
        ("1506702504433000200", 1_506_702_504_433_000),
        (1506702504, 1_506_702_504_000_000),
        (1506702504.25, 1_506_702_504_250_000),
        ("2017-09-29T16:28:24.433Z", 1_506_702_504_433_000),
        ("2017-09-29T18:28:24+02:00", 1_506_702_504_000_000),
    ],
)
def test_cloudflare_timestamp_encodings(stamp: object, expected_us: int) -> None:
    prefix = '{"ClientRequestURI":"/a.ts","EdgeResponseStatus":200,"EdgeStartTimestamp":'
    line = prefix + json.dumps(stamp) + "}"
    value = one(parse_cloudflare, line)
    assert isinstance(value, EdgeRequest)
    assert value.ts_us == expected_us


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"EdgeStartTimestamp": 0}, "EdgeStartTimestamp: 0 is outside 2000-01-01..2100-01-01"),
        ({"EdgeStartTimestamp": "yesterday"}, "EdgeStartTimestamp: expected RFC 3339 like "
         "2026-11-20T10:00:00Z or epoch time, got 'yesterday'"),
        ({"EdgeStartTimestamp": "2026-11-20T10:00:00"}, "EdgeStartTimestamp: "
         "'2026-11-20T10:00:00' has no UTC offset; add Z or +00:00"),
        ({"EdgeStartTimestamp": None}, "EdgeStartTimestamp: missing"),
        ({"EdgeResponseBytes": -1}, "EdgeResponseBytes: must be >= 0, got -1"),
        ({"EdgeResponseBytes": "12kB"}, "EdgeResponseBytes: expected an integer, got '12kB'"),
        ({"EdgeResponseStatus": 1200}, "EdgeResponseStatus: 1200 is implausibly large "
         "(more than 999)"),
        ({"ClientRequestURI": "vod/a.ts"}, "ClientRequestURI: expected a URL path starting "
         "with '/', got 'vod/a.ts'"),
    ],
)  # fmt: skip
def test_cloudflare_bad_values(changes: dict[str, Any], reason: str) -> None:
    obj = {"ClientRequestURI": "/a.ts", "EdgeResponseStatus": 200, "EdgeStartTimestamp": T0}
    value = one(parse_cloudflare, {**obj, **changes})
    assert isinstance(value, RecordError)
    assert str(value) == reason


def test_cloudflare_path_only_and_header_names_in_any_case() -> None:
    value = one(
        parse_cloudflare,
        {
            "ClientRequestPath": "/vod/my%20asset/seg_00001.ts",
            "EdgeResponseStatus": 206,
            "EdgeStartTimestamp": T0,
            "RequestHeaders": {"Range": "bytes=0-99"},
            "ResponseHeaders": {"CONTENT-LENGTH": "100"},
        },
    )
    assert isinstance(value, EdgeRequest)
    assert value.path == "/vod/my asset/seg_00001.ts"
    assert (value.range_start, value.range_end, value.object_size) == (0, 99, None)
    assert value.content_length == 100


def test_json_lines_that_are_not_objects() -> None:
    assert str(one(parse_cloudflare, "[1, 2]")) == "expected a JSON object, got list"
    assert str(one(parse_cloudflare, '{"a":')).startswith("invalid JSON: ")


def test_invalid_utf8_in_json_is_replaced() -> None:
    line = (
        b'{"ClientRequestURI":"/a.ts","EdgeResponseStatus":200,"EdgeStartTimestamp":%d,'
        b'"ClientRequestUserAgent":"bad\xff"}\n' % T0
    )
    [(_, _, value)] = list(parse_cloudflare([(1, line)]))
    assert isinstance(value, EdgeRequest)
    assert value.user_agent == "bad\ufffd"


# --- Fastly ----------------------------------------------------------------------------------


def test_fastly_fixture() -> None:
    full, ranged, aborted, shield, playlist = values(parse_fastly, "fastly.ndjson")
    assert full == EdgeRequest(
        ts_us=(T0 + 1) * 1_000_000,
        path="/vod/asset1/720p/seg_00001.ts",
        query="token=abc",
        status=200,
        bytes_sent=1_503_840,
        body_bytes=1_503_412,
        content_length=1_503_412,
        request_id="fst0001",
        client_ip="198.51.100.7",
        user_agent=LINUX_UA,
        host="video.example.com",
        cmcd={"br": 3200, "d": 6000, "ot": "v", "sid": "s-42", "st": "v"},
    )
    assert isinstance(ranged, EdgeRequest)
    assert (ranged.status, ranged.range_start, ranged.range_end, ranged.object_size) == (
        206,
        0,
        999_999,
        3_000_000,
    )
    assert ranged.cmcd == {}  # every CMCD header logged as (null)
    assert isinstance(aborted, EdgeRequest)
    assert (aborted.aborted, aborted.body_bytes, aborted.content_length) == (
        True,
        400_000,
        1_498_000,
    )
    assert isinstance(shield, RecordError)
    assert str(shield).startswith("shield: logged at the shield POP")
    assert isinstance(playlist, EdgeRequest)
    assert playlist.ts_us == T0 * 1_000_000 and playlist.aborted is False
    assert playlist.cmcd == {"ot": "m", "su": True, "sid": "s-43"}


def test_fastly_recommended_format_yields_the_keys_we_read() -> None:
    # Replace every %{...}V / %{...}t with a plausible value and check it parses as JSON.
    import re

    sample = re.sub(r"%\{[^}]*\}[Vt]", "1", RECOMMENDED_FORMAT)
    keys = set(json.loads(sample))
    assert keys == {
        "timestamp", "request_id", "method", "url", "status", "bytes", "body_bytes",
        "completed", "content_length", "content_range", "range", "client_ip", "user_agent",
        "host", "cmcd_object", "cmcd_request", "cmcd_session", "cmcd_status", "shield",
    }  # fmt: skip


def test_fastly_completed_forms() -> None:
    base = {"timestamp": "2026-11-20T10:00:00+0000", "url": "/a.ts", "status": 200}
    flags = [
        one(parse_fastly, {**base, "completed": completed}).aborted  # type: ignore[union-attr]
        for completed in (True, False, "1", "0", "true", "false", 1, 0, "(null)")
    ]
    assert flags == [False, True, False, True, False, True, False, True, False]
    bad = one(parse_fastly, {**base, "completed": "maybe"})
    assert str(bad) == "completed: expected true/false or 1/0, got 'maybe'"


# --- Akamai ----------------------------------------------------------------------------------


def test_akamai_fixture() -> None:
    full, ranged, aborted, bad_cmcd, bad_status = values(parse_akamai, "akamai-ds2.ndjson")
    assert full == EdgeRequest(
        ts_us=1_795_168_801_123_000,
        path="/vod/asset1/720p/seg_00001.ts",
        query="CMCD=br%3D3200%2Cd%3D6000%2Cot%3Dv%2Csid%3D%22s-42%22",
        status=200,
        bytes_sent=1_503_840,
        body_bytes=1_503_412,
        content_length=1_503_412,
        object_size=1_503_412,
        request_id="1239f220",
        client_ip="198.51.100.7",
        user_agent=LINUX_UA,
        host="video.example.com",
        cmcd={"br": 3200, "d": 6000, "ot": "v", "sid": "s-42"},
    )
    assert isinstance(ranged, EdgeRequest)
    assert (ranged.status, ranged.range_start, ranged.range_end) == (206, 1_000_000, 1_999_999)
    assert ranged.aborted is False  # lastByte=0 is expected for a range short of the end
    assert ranged.cmcd == {
        "bl": 21600, "br": 6000, "cid": "asset1", "d": 6000, "ot": "v", "sf": "h",
        "sid": "s-42", "st": "v", "su": True,
    }  # fmt: skip
    assert isinstance(aborted, EdgeRequest)
    assert (aborted.aborted, aborted.body_bytes, aborted.bytes_sent) == (True, 400_000, 400_311)
    assert aborted.ts_us == 1_795_168_813_999_000
    assert isinstance(bad_cmcd, EdgeRequest)
    assert bad_cmcd.cmcd == {"_invalid": True}  # the request still counts its bytes
    assert bad_cmcd.bytes_sent == 1290
    assert isinstance(bad_status, RecordError)
    assert str(bad_status) == "statusCode: expected an integer, got 'abc'"


def test_akamai_total_bytes_zero_and_open_range() -> None:
    value = one(
        parse_akamai,
        {
            "reqTimeSec": "1573840000", "reqPath": "/path1/file.ts", "statusCode": "206",
            "bytes": "4995", "totalBytes": "0", "objSize": "5000", "range": "bytes=5-",
            "lastByte": "1", "UA": "Mozilla%2F5.0+%28Macintosh%29", "version": 1,
        },
    )  # fmt: skip
    assert isinstance(value, EdgeRequest)
    assert (value.bytes_sent, value.body_bytes) == (4995, 4995)
    assert (value.range_start, value.range_end, value.object_size) == (5, 4999, 5000)
    assert value.user_agent == "Mozilla/5.0 (Macintosh)"
    assert value.ts_us == 1_573_840_000_000_000
