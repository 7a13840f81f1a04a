"""Fastly real-time log streaming, our recommended JSON format (docs/sources/fastly.md).

Fastly has no fixed schema: the logging endpoint's format string defines the keys. We define
one (`RECOMMENDED_FORMAT`); this parser reads those keys.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from streammeter.sources.cdn.cmcd import request_cmcd
from streammeter.sources.cdn.common import (
    each_line,
    flag_value,
    instant_us,
    int_value,
    json_object,
    parse_content_range,
    parse_range_request,
    split_target,
    status_value,
    text_value,
)
from streammeter.sources.cdn.request import EdgeRequest, ParsedLine
from streammeter.sources.generic import RecordError

#: The logging endpoint's format string (format_version 2), one line; see docs/sources/fastly.md.
RECOMMENDED_FORMAT = (
    '{"timestamp":"%{begin:%Y-%m-%dT%H:%M:%S%z}t",'
    '"request_id":"%{json.escape(req.xid)}V",'
    '"method":"%{json.escape(req.method)}V",'
    '"url":"%{json.escape(req.url)}V",'
    '"status":%{resp.status}V,'
    '"bytes":%{resp.bytes_written}V,'
    '"body_bytes":%{resp.body_bytes_written}V,'
    '"completed":%{if(resp.completed, "true", "false")}V,'
    '"content_length":"%{json.escape(resp.http.Content-Length)}V",'
    '"content_range":"%{json.escape(resp.http.Content-Range)}V",'
    '"range":"%{json.escape(req.http.Range)}V",'
    '"client_ip":"%{req.http.Fastly-Client-IP}V",'
    '"user_agent":"%{json.escape(req.http.User-Agent)}V",'
    '"host":"%{json.escape(req.http.Host)}V",'
    '"cmcd_object":"%{json.escape(req.http.CMCD-Object)}V",'
    '"cmcd_request":"%{json.escape(req.http.CMCD-Request)}V",'
    '"cmcd_session":"%{json.escape(req.http.CMCD-Session)}V",'
    '"cmcd_status":"%{json.escape(req.http.CMCD-Status)}V",'
    '"shield":%{if(fastly.ff.visits_this_service == 0, "false", "true")}V}'
)

_CMCD_KEYS = {
    "cmcd_object": "CMCD-Object",
    "cmcd_request": "CMCD-Request",
    "cmcd_session": "CMCD-Session",
    "cmcd_status": "CMCD-Status",
}


def request_from(obj: Mapping[str, Any]) -> EdgeRequest:
    if flag_value(obj.get("shield"), "shield"):
        raise RecordError(
            "shield: logged at the shield POP (fastly.ff.visits_this_service > 0), a duplicate "
            "of the edge POP's line; add that logging condition (docs/sources/fastly.md)"
        )
    ts_us = instant_us(obj.get("timestamp"), "timestamp")
    url = text_value(obj.get("url"), "url")
    if url is None:
        raise RecordError("url: missing")
    path, query = split_target(url, "url")
    status = status_value(obj.get("status"), "status")
    total = int_value(obj.get("bytes"), "bytes")
    body = int_value(obj.get("body_bytes"), "body_bytes")
    start, end, size = parse_content_range(text_value(obj.get("content_range"), "content_range"))
    if start is None and status == 206:
        served = parse_range_request(text_value(obj.get("range"), "range"), size)
        if served:
            start, end = served
    completed = flag_value(obj.get("completed"), "completed")
    headers = {header: text_value(obj.get(key), key) for key, header in _CMCD_KEYS.items()}
    return EdgeRequest(
        ts_us=ts_us,
        path=path,
        query=query,
        method=text_value(obj.get("method"), "method") or "GET",
        status=status,
        bytes_sent=total if total is not None else (body or 0),
        body_bytes=body,
        content_length=int_value(obj.get("content_length"), "content_length"),
        range_start=start,
        range_end=end,
        object_size=size,
        aborted=completed is False,
        request_id=text_value(obj.get("request_id"), "request_id"),
        client_ip=text_value(obj.get("client_ip"), "client_ip"),
        user_agent=text_value(obj.get("user_agent"), "user_agent"),
        host=text_value(obj.get("host"), "host"),
        cmcd=request_cmcd(headers, query),
    )


def parse_fastly(
    lines: Iterable[tuple[int, bytes]], options: Mapping[str, Any] | None = None
) -> Iterator[ParsedLine]:
    """Fastly JSON lines in the recommended format to EdgeRequests (or reasons)."""
    return each_line(lines, lambda _text, line: request_from(json_object(line)))
