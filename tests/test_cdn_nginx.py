"""nginx / Apache combined logs and our nginx JSON log_format."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from streammeter.sources.cdn.nginx import (
    RECOMMENDED_LOG_FORMAT,
    parse_combined,
    parse_nginx_json,
    time_local_us,
    unescape,
)
from streammeter.sources.cdn.request import EdgeRequest
from streammeter.sources.generic import RecordError

FIXTURES = Path(__file__).parent / "fixtures" / "cdn"
T0 = 1_795_168_800  # 2026-11-20T10:00:00Z


def parse(parser: Any, name: str) -> list[tuple[int, str, EdgeRequest | RecordError]]:
    with (FIXTURES / name).open("rb") as handle:
        return list(parser(enumerate(handle, start=1), {}))


def combined(line: str) -> EdgeRequest | RecordError:
    [(_, _, value)] = list(parse_combined([(1, line.encode() + b"\n")]))
    return value


def test_combined_fixture() -> None:
    items = parse(parse_combined, "nginx-combined.log")
    assert [line_no for line_no, _, _ in items] == [1, 2, 3, 4, 5]
    first, ranged, aborted, head, garbage = (value for _, _, value in items)
    assert first == EdgeRequest(
        ts_us=(T0 + 1) * 1_000_000,  # 11:00:01 +0100
        path="/vod/asset1/720p/seg_00001.ts",
        query="token=abc",
        status=200,
        bytes_sent=1_503_412,
        body_bytes=1_503_412,
        client_ip="198.51.100.7",
        user_agent="Mozilla/5.0 (X11; Linux x86_64)",
    )
    assert isinstance(ranged, EdgeRequest)
    assert ranged.ts_us == (T0 + 7) * 1_000_000  # 05:00:07 -0500
    assert (ranged.status, ranged.range_start, ranged.content_length) == (206, None, None)
    assert isinstance(aborted, EdgeRequest)
    assert (aborted.status, aborted.aborted, aborted.body_bytes) == (499, True, 400_000)
    assert aborted.path == "/vod/my asset/720p/seg_00003.ts"
    assert aborted.user_agent == 'VLC/3.0.20 "LibVLC"'
    assert isinstance(head, EdgeRequest)
    assert (head.method, head.bytes_sent, head.body_bytes) == ("HEAD", 0, 0)  # Apache %b '-'
    assert isinstance(garbage, RecordError)
    assert str(garbage).startswith("request line: expected 'METHOD /path HTTP/1.1', got ")


def test_common_log_format_and_extra_trailing_fields() -> None:
    clf = combined('127.0.0.1 - frank [10/Oct/2026:13:55:36 -0700] "GET /a.ts HTTP/1.0" 200 2326')
    assert isinstance(clf, EdgeRequest)
    assert clf.ts_us == (1_791_665_736) * 1_000_000  # 2026-10-10T20:55:36Z
    assert (clf.bytes_sent, clf.user_agent) == (2326, None)
    main = combined(
        '10.0.0.1 - - [20/Nov/2026:10:00:00 +0000] "GET /b.ts?CMCD=ot%3Dv HTTP/1.1" 200 5 '
        '"-" "hls.js" "203.0.113.9"'
    )
    assert isinstance(main, EdgeRequest)
    assert (main.user_agent, main.cmcd) == ("hls.js", {"ot": "v"})


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("not a log line", 'not a combined log line (%h %l %u [%t] "%r" %>s %b '
         '"%{Referer}i" "%{User-Agent}i")'),
        ('1.2.3.4 - - [20/Nov/1999:10:00:00 +0000] "GET /a HTTP/1.1" 200 5 "-" "-"',
         "time: '20/Nov/1999:10:00:00 +0000' is outside 2000-01-01..2100-01-01"),
        ('1.2.3.4 - - [31/Feb/2026:10:00:00 +0000] "GET /a HTTP/1.1" 200 5 "-" "-"',
         "time: '31/Feb/2026:10:00:00 +0000' is not a valid date and time"),
        ('1.2.3.4 - - [20/Foo/2026:10:00:00 +0000] "GET /a HTTP/1.1" 200 5 "-" "-"',
         "time: expected like 10/Oct/2026:13:55:36 +0000, got '20/Foo/2026:10:00:00 +0000'"),
        ('1.2.3.4 - - [20/Nov/2026:10:00:00 +0000] "-" 400 0 "-" "-"',
         "request line: expected 'METHOD /path HTTP/1.1', got '-'"),
        ('1.2.3.4 - - [20/Nov/2026:10:00:00 +0000] "GET a.ts HTTP/1.1" 200 5 "-" "-"',
         "request line: expected a URL path starting with '/', got 'a.ts'"),
    ],
)  # fmt: skip
def test_combined_bad_lines(line: str, reason: str) -> None:
    value = combined(line)
    assert isinstance(value, RecordError)
    assert str(value) == reason


def test_absolute_form_target_and_escapes() -> None:
    value = combined(
        '1.2.3.4 - - [20/Nov/2026:10:00:00 +0000] "GET http://cdn.example.com/v/a.ts?x=1 '
        'HTTP/1.1" 200 5 "-" "Agent \\"quoted\\" \\xC3\\xA9"'
    )
    assert isinstance(value, EdgeRequest)
    assert (value.path, value.query) == ("/v/a.ts", "x=1")
    assert value.user_agent == 'Agent "quoted" é'
    assert unescape("plain") == "plain"


def test_time_local_with_fractions_and_offsets() -> None:
    assert time_local_us("20/Nov/2026:10:00:00 +0000") == T0 * 1_000_000
    assert time_local_us("20/Nov/2026:15:30:00.250 +0530") == T0 * 1_000_000 + 250_000


def test_nginx_json_fixture() -> None:
    items = parse(parse_nginx_json, "nginx.ndjson")
    first, ranged, aborted, query_cmcd, bad_cmcd = (value for _, _, value in items)
    assert first == EdgeRequest(
        ts_us=1_795_168_801_123_000,
        path="/vod/asset1/720p/seg_00001.ts",
        query="token=abc",
        status=200,
        bytes_sent=1_503_840,
        body_bytes=1_503_412,
        content_length=1_503_412,
        request_id="4f1c0e2a9b8d7c6e5f4a3b2c1d0e9f01",
        client_ip="198.51.100.7",
        user_agent="Mozilla/5.0 (X11; Linux x86_64)",
        host="video.example.com",
        cmcd={"br": 3200, "d": 6000, "ot": "v", "sid": "s-42", "st": "v"},
    )
    assert isinstance(ranged, EdgeRequest)
    assert (ranged.range_start, ranged.range_end, ranged.object_size) == (
        1_000_000,
        1_999_999,
        3_000_000,
    )
    assert ranged.ts_us == 1_795_168_807_004_000
    assert isinstance(aborted, EdgeRequest)
    assert (aborted.status, aborted.aborted, aborted.body_bytes, aborted.content_length) == (
        499,
        True,
        400_000,
        1_498_000,
    )
    assert isinstance(query_cmcd, EdgeRequest)
    assert query_cmcd.cmcd == {"br": 3200, "d": 6000, "ot": "v"}
    assert isinstance(bad_cmcd, EdgeRequest)
    assert bad_cmcd.cmcd == {"_invalid": True} and bad_cmcd.bytes_sent == 1_499_120


def test_recommended_log_format_matches_the_parser() -> None:
    body = RECOMMENDED_LOG_FORMAT.split("'", 2)[1]
    sample = re.sub(r"\$[a-z_0-9]+", "1", body)
    assert set(json.loads(sample)) == {
        "msec", "request_id", "method", "request_uri", "status", "bytes_sent",
        "body_bytes_sent", "content_length", "range", "content_range", "remote_addr",
        "user_agent", "host", "cmcd_object", "cmcd_request", "cmcd_session", "cmcd_status",
        "request_time",
    }  # fmt: skip
    assert RECOMMENDED_LOG_FORMAT.startswith("log_format streammeter escape=json '{")


def test_nginx_json_uri_fallback_and_missing_time() -> None:
    line = {"msec": "1795168800.000", "uri": "/a b.ts", "args": "x=1", "status": "200",
            "body_bytes_sent": "10"}  # fmt: skip
    [(_, _, value)] = list(parse_nginx_json([(1, json.dumps(line).encode())]))
    assert isinstance(value, EdgeRequest)
    assert (value.path, value.query, value.bytes_sent, value.body_bytes) == (
        "/a b.ts",
        "x=1",
        10,
        10,
    )
    del line["msec"]
    [(_, _, value)] = list(parse_nginx_json([(1, json.dumps(line).encode())]))
    assert str(value) == "msec: missing (log $msec)"
