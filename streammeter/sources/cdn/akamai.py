"""Akamai DataStream 2, JSON log lines. Reference: docs/sources/akamai.md.

DS2 JSON values are strings (a few exports use numbers; both are read); fields whose value
would be `-` or null are omitted; non-printable and non-ASCII bytes are RFC 1738
percent-encoded (the user agent also uses '+' for a space).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any
from urllib.parse import unquote_plus

from streammeter.sources.cdn.cmcd import parse_cmcd, request_cmcd
from streammeter.sources.cdn.common import (
    decode_path,
    each_line,
    flag_value,
    instant_us,
    int_value,
    json_object,
    parse_range_request,
    status_value,
    text_value,
)
from streammeter.sources.cdn.request import EdgeRequest, ParsedLine
from streammeter.sources.generic import RecordError

#: Keys that only DataStream 2 uses (detection needs reqTimeSec and one more).
KEYS = frozenset(
    {
        "reqTimeSec", "reqPath", "reqId", "statusCode", "cliIP", "reqHost", "reqMethod",
        "totalBytes", "streamId", "cp", "lastByte", "queryStr", "rspContentLen", "objSize",
    }
)  # fmt: skip


def request_from(obj: Mapping[str, Any]) -> EdgeRequest:
    ts_us = instant_us(obj.get("reqTimeSec"), "reqTimeSec")
    raw_path = text_value(obj.get("reqPath"), "reqPath")
    if raw_path is None:
        raise RecordError("reqPath: missing")
    path = decode_path(raw_path if raw_path.startswith("/") else "/" + raw_path)
    query = (text_value(obj.get("queryStr"), "queryStr") or "").removeprefix("?")
    status = status_value(obj.get("statusCode"), "statusCode")
    content = int_value(obj.get("bytes"), "bytes")
    total = int_value(obj.get("totalBytes"), "totalBytes")
    size = int_value(obj.get("objSize"), "objSize")
    requested = text_value(obj.get("range"), "range")
    start = end = None
    if status == 206:
        served = parse_range_request(requested, size)
        if served:
            start, end = served
    # lastByte=0: the object's last byte was not served. Expected for a range that stops
    # short of the end; an abort for a full (non-206) response.
    last_byte = flag_value(obj.get("lastByte"), "lastByte")
    aborted = last_byte is False and 200 <= status < 300 and status != 206
    agent = text_value(obj.get("UA"), "UA")
    cmcd_field = text_value(obj.get("cmcd"), "cmcd")  # a dedicated field, when configured
    if cmcd_field is not None:
        cmcd = parse_cmcd(unquote_plus(cmcd_field))
    else:
        cmcd = request_cmcd(None, query)
    return EdgeRequest(
        ts_us=ts_us,
        path=path,
        query=query,
        method=text_value(obj.get("reqMethod"), "reqMethod") or "GET",
        status=status,
        # totalBytes includes HTTP overhead; some exports log it as 0 — then `bytes` stands in.
        bytes_sent=total if total and total >= (content or 0) else (content or 0),
        body_bytes=content,
        content_length=int_value(obj.get("rspContentLen"), "rspContentLen"),
        range_start=start,
        range_end=end,
        object_size=size,
        aborted=aborted,
        request_id=text_value(obj.get("reqId"), "reqId"),
        client_ip=text_value(obj.get("cliIP"), "cliIP"),
        user_agent=unquote_plus(agent) if agent is not None else None,
        host=text_value(obj.get("reqHost"), "reqHost"),
        cmcd=cmcd,
    )


def parse_akamai(
    lines: Iterable[tuple[int, bytes]], options: Mapping[str, Any] | None = None
) -> Iterator[ParsedLine]:
    """DataStream 2 JSON lines to EdgeRequests (or reasons)."""
    return each_line(lines, lambda _text, line: request_from(json_object(line)))
