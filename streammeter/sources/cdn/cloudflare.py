"""Cloudflare Logpush, `http_requests` dataset, NDJSON. Reference: docs/sources/cloudflare.md.

`EdgeStartTimestamp` may be `unixnano` (an integer beyond float precision: read as an int,
never a float), `unix` (seconds) or `rfc3339`, depending on the job's `timestamp_format`;
each value is read by what it is, so a reconfigured job mixes fine.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from streammeter.sources.cdn.cmcd import request_cmcd
from streammeter.sources.cdn.common import (
    each_line,
    instant_us,
    int_value,
    json_object,
    lower_keys,
    parse_content_range,
    parse_range_request,
    split_target,
    status_value,
    text_value,
)
from streammeter.sources.cdn.request import EdgeRequest, ParsedLine
from streammeter.sources.generic import RecordError

#: Keys that only Cloudflare's http_requests dataset uses (detection needs two of them).
KEYS = frozenset(
    {
        "EdgeStartTimestamp", "EdgeEndTimestamp", "RayID", "ClientRequestURI",
        "ClientRequestPath", "ClientRequestHost", "ClientRequestMethod", "EdgeResponseStatus",
        "EdgeResponseBytes", "EdgeResponseBodyBytes", "ClientIP", "ClientRequestUserAgent",
        "CacheCacheStatus", "ZoneName", "EdgeColoCode", "OriginResponseStatus",
    }
)  # fmt: skip


def request_from(obj: Mapping[str, Any]) -> EdgeRequest:
    ts_us = instant_us(obj.get("EdgeStartTimestamp"), "EdgeStartTimestamp")
    name = "ClientRequestURI" if obj.get("ClientRequestURI") not in (None, "") else None
    if name is None and obj.get("ClientRequestPath") not in (None, ""):
        name = "ClientRequestPath"
    if name is None:
        raise RecordError("ClientRequestURI: missing (add it, or ClientRequestPath, to the job)")
    target = text_value(obj.get(name), name)
    if target is None:
        raise RecordError(f"{name}: missing")
    path, query = split_target(target, name)
    status = status_value(obj.get("EdgeResponseStatus"), "EdgeResponseStatus")
    total = int_value(obj.get("EdgeResponseBytes"), "EdgeResponseBytes")
    body = int_value(obj.get("EdgeResponseBodyBytes"), "EdgeResponseBodyBytes")
    request_headers = lower_keys(obj.get("RequestHeaders"))
    response_headers = lower_keys(obj.get("ResponseHeaders"))
    content_length = int_value(response_headers.get("content-length"), "Content-Length")
    start, end, size = parse_content_range(response_headers.get("content-range"))
    if start is None and status == 206:
        served = parse_range_request(request_headers.get("range"), size)
        if served:
            start, end = served
    return EdgeRequest(
        ts_us=ts_us,
        path=path,
        query=query,
        method=(text_value(obj.get("ClientRequestMethod"), "ClientRequestMethod") or "GET"),
        status=status,
        bytes_sent=total if total is not None else (body or 0),
        body_bytes=body,
        content_length=content_length,
        range_start=start,
        range_end=end,
        object_size=size,
        aborted=status == 499,
        request_id=text_value(obj.get("RayID"), "RayID"),
        client_ip=text_value(obj.get("ClientIP"), "ClientIP"),
        user_agent=text_value(obj.get("ClientRequestUserAgent"), "ClientRequestUserAgent"),
        host=text_value(obj.get("ClientRequestHost"), "ClientRequestHost"),
        cmcd=request_cmcd(request_headers, query),
    )


def parse_cloudflare(
    lines: Iterable[tuple[int, bytes]], options: Mapping[str, Any] | None = None
) -> Iterator[ParsedLine]:
    """Logpush http_requests NDJSON lines to EdgeRequests (or reasons)."""
    return each_line(lines, lambda _text, line: request_from(json_object(line)))
