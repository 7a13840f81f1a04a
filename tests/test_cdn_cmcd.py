"""CMCD from the query argument, the CMCD-* headers and CloudFront real-time columns."""

from __future__ import annotations

import pytest

from streammeter.sources.cdn.cmcd import (
    INVALID,
    cmcd_from_columns,
    cmcd_query_value,
    parse_cmcd,
    parse_cmcd_headers,
    parse_cmcd_query,
    request_cmcd,
)


def test_query_argument_is_percent_decoded_then_parsed() -> None:
    query = "token=abc&CMCD=br%3D3200%2Cbl%3D21300%2Cd%3D4004%2Cot%3Dv%2Csid%3D%226e2fb550%22%2Csu"
    assert parse_cmcd_query(query) == {
        "br": 3200, "bl": 21300, "d": 4004, "ot": "v", "sid": "6e2fb550", "su": True,
    }  # fmt: skip
    # The spec's example: ?CMCD=d%3D10000%2Csid%3D%22foobar%22
    assert parse_cmcd_query("CMCD=d%3D10000%2Csid%3D%22foobar%22") == {"d": 10000, "sid": "foobar"}


def test_query_without_cmcd() -> None:
    assert parse_cmcd_query("") == {}
    assert parse_cmcd_query("token=abc&x=1") == {}
    assert parse_cmcd_query("CMCD=") == {}
    assert cmcd_query_value("a=1&cmcd=ot%3Dv") == "ot=v"


def test_value_types() -> None:
    parsed = parse_cmcd('br=3200,bs,cid="movie-1",pr=1.25,sf=h,st=v,tb=6000,nrr="0-9",su=?0')
    assert parsed == {
        "br": 3200, "bs": True, "cid": "movie-1", "pr": 1.25, "sf": "h", "st": "v",
        "tb": 6000, "nrr": "0-9", "su": False,
    }  # fmt: skip
    assert type(parsed["sf"]) is str and type(parsed["br"]) is int


def test_akamai_version_prefix() -> None:
    assert parse_cmcd('//1.0@V/bl=21600,br=1426,cid="akam-email",d=6006,ot=m,sf=h,su') == {
        "bl": 21600, "br": 1426, "cid": "akam-email", "d": 6006, "ot": "m", "sf": "h", "su": True,
    }  # fmt: skip
    query = "cmcd=//1.0@V/br=1426,cid=%22akam-email%22,d=6006,ot=m"
    assert parse_cmcd_query(query) == {"br": 1426, "cid": "akam-email", "d": 6006, "ot": "m"}


@pytest.mark.parametrize(
    "text",
    [
        "br=3200,,d=4004",  # empty member
        "Br=3200",  # keys are lower case
        'sid=unterminated"',
        'st=v"',  # the trailing quote seen in a public DS2 test record
        "d=4004,ot=v é",  # non-ASCII
        "br=99999999999999999",  # more than 15 digits
        "=3",
    ],
)
def test_malformed_cmcd_is_flagged_not_raised(text: str) -> None:
    assert parse_cmcd(text) == {INVALID: True}
    assert INVALID == "_invalid"


def test_headers_merge_in_any_case() -> None:
    headers = {
        "CMCD-Object": "br=3200,d=4004,ot=v,tb=6000",
        "cmcd-request": "bl=21300,mtp=25400,su",
        "Cmcd-Session": 'cid="faec5fc2",sid="6e2fb550",sf=d,st=v',
        "CMCD-Status": "",
        "Accept": "*/*",
    }
    assert parse_cmcd_headers(headers) == {
        "br": 3200, "d": 4004, "ot": "v", "tb": 6000, "bl": 21300, "mtp": 25400, "su": True,
        "cid": "faec5fc2", "sid": "6e2fb550", "sf": "d", "st": "v",
    }  # fmt: skip
    assert parse_cmcd_headers({}) == {}
    assert parse_cmcd_headers({"CMCD-Object": None, "CMCD-Request": "(null)"}) == {}


def test_one_malformed_header_invalidates_the_whole_cmcd() -> None:
    headers = {"CMCD-Object": "br=3200", "CMCD-Session": 'sid="x'}
    assert parse_cmcd_headers(headers) == {INVALID: True}


def test_headers_win_over_the_query() -> None:
    query = "CMCD=ot%3Da"
    assert request_cmcd({"CMCD-Object": "ot=v"}, query) == {"ot": "v"}
    assert request_cmcd({"CMCD-Object": "-"}, query) == {"ot": "a"}
    assert request_cmcd(None, query) == {"ot": "a"}
    assert request_cmcd(None, "") == {}


def test_cloudfront_columns() -> None:
    columns = {
        "cmcd-encoded-bitrate": "3200",
        "cmcd-object-duration": "4004",
        "cmcd-object-type": "v",
        "cmcd-session-id": '"6e2fb550"',
        "cmcd-startup": "true",
        "cmcd-playback-rate": "1.5",
        "cmcd-stream-type": "-",
        "c-ip": "192.0.2.1",
    }
    assert cmcd_from_columns(columns) == {
        "br": 3200, "d": 4004, "ot": "v", "sid": "6e2fb550", "su": True, "pr": 1.5,
    }  # fmt: skip
    assert cmcd_from_columns({"cmcd-object-duration": "4s"}) == {INVALID: True}
