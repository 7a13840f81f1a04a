"""nginx and Apache access logs: the `combined` format (also Apache's, and the common log
format without referer/user agent), and our recommended nginx JSON `log_format`.

References: docs/sources/nginx-combined.md, docs/sources/nginx-json.md.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from streammeter.sources.cdn.cmcd import request_cmcd
from streammeter.sources.cdn.common import (
    ABSENT,
    US_PER_SECOND,
    checked_instant,
    each_line,
    epoch_text_us,
    instant_us,
    int_value,
    json_object,
    parse_content_range,
    parse_range_request,
    show,
    split_target,
    status_value,
    text_value,
)
from streammeter.sources.cdn.request import EdgeRequest, ParsedLine
from streammeter.sources.generic import RecordError

# --- combined --------------------------------------------------------------------------------

_QUOTED = r'"((?:[^"\\]|\\.)*)"'
#: `%h %l %u %t "%r" %>s %b` [`"%{Referer}i" "%{User-Agent}i"`] [anything after a space].
COMBINED = re.compile(
    r"(?P<ip>\S+) \S+ (?P<user>\S+) \[(?P<time>[^\]]+)\] " + _QUOTED.replace("(", "(?P<request>", 1)
    + r" (?P<status>\d{3}) (?P<bytes>\d+|-)"
    + r"(?: " + _QUOTED.replace("(", "(?P<referer>", 1)
    + r" " + _QUOTED.replace("(", "(?P<agent>", 1) + r")?"
    + r"(?:\s.*)?"
)  # fmt: skip
_TIME_LOCAL = re.compile(
    r"(\d{1,2})/([A-Za-z]{3})/(\d{4}):(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,6}))? ([+-])(\d{2})(\d{2})"
)
_MONTHS = {
    name: number
    for number, name in enumerate(
        ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"),
        start=1,
    )
}
_REQUEST_LINE = re.compile(r"([A-Za-z][A-Za-z0-9_-]{0,31}) (\S.*?)(?: (HTTP/[0-9.]{1,4}))?")
_ESCAPE = re.compile(rb'\\x([0-9A-Fa-f]{2})|\\(["\\])')


def unescape(text: str) -> str:
    """Undo nginx's `\\xHH` and Apache's `\\"` / `\\\\` escapes in a quoted log field."""
    if "\\" not in text:
        return text
    data = _ESCAPE.sub(
        lambda m: bytes([int(m.group(1), 16)]) if m.group(1) else m.group(2),
        text.encode("utf-8"),
    )
    return data.decode("utf-8", errors="replace")


def time_local_us(text: str) -> int:
    """`10/Oct/2000:13:55:36 -0700` (nginx $time_local, Apache %t) to UTC microseconds."""
    match = _TIME_LOCAL.fullmatch(text.strip())
    month = _MONTHS.get(match.group(2).lower()) if match else None
    if not match or month is None:
        raise RecordError(f"time: expected like 10/Oct/2026:13:55:36 +0000, got {show(text)}")
    day, _, year, hour, minute, second, fraction, sign, off_h, off_m = match.groups()
    try:
        local = datetime(int(year), month, int(day), int(hour), int(minute), int(second))
    except ValueError:
        raise RecordError(f"time: {show(text)} is not a valid date and time") from None
    offset = timedelta(hours=int(off_h), minutes=int(off_m))
    moment = (local - offset if sign == "+" else local + offset).replace(tzinfo=UTC)
    seconds = int(moment.timestamp())
    us = seconds * US_PER_SECOND + (int(fraction.ljust(6, "0")) if fraction else 0)
    return checked_instant(us, "time", text)


def _request_line(text: str) -> tuple[str, str, str]:
    """`GET /vod/a.ts?x=1 HTTP/1.1` to (method, path, query)."""
    match = _REQUEST_LINE.fullmatch(text)
    if not match:
        raise RecordError(f"request line: expected 'METHOD /path HTTP/1.1', got {show(text)}")
    method, target, _ = match.groups()
    path, query = split_target(target, "request line")
    return method.upper(), path, query


def combined_request(text: str) -> EdgeRequest:
    match = COMBINED.fullmatch(text)
    if not match:
        raise RecordError(
            'not a combined log line (%h %l %u [%t] "%r" %>s %b "%{Referer}i" "%{User-Agent}i")'
        )
    method, path, query = _request_line(unescape(match["request"]))
    status = status_value(match["status"], "status")
    sent = int_value(match["bytes"], "bytes") or 0  # Apache %b: '-' for zero
    agent = match["agent"]
    return EdgeRequest(
        ts_us=time_local_us(match["time"]),
        path=path,
        query=query,
        method=method,
        status=status,
        bytes_sent=sent,
        body_bytes=sent,
        aborted=status == 499,
        client_ip=match["ip"],
        user_agent=unescape(agent) if agent not in (None, "", "-") else None,
        cmcd=request_cmcd(None, query),
    )


def parse_combined(
    lines: Iterable[tuple[int, bytes]], options: Mapping[str, Any] | None = None
) -> Iterator[ParsedLine]:
    """nginx/Apache combined (or common) log lines to EdgeRequests (or reasons)."""
    return each_line(lines, lambda text, _line: combined_request(text))


# --- our nginx JSON format -------------------------------------------------------------------

#: The recommended nginx configuration (docs/sources/nginx-json.md).
RECOMMENDED_LOG_FORMAT = (
    "log_format streammeter escape=json '{"
    '"msec":"$msec",'
    '"request_id":"$request_id",'
    '"method":"$request_method",'
    '"request_uri":"$request_uri",'
    '"status":"$status",'
    '"bytes_sent":"$bytes_sent",'
    '"body_bytes_sent":"$body_bytes_sent",'
    '"content_length":"$sent_http_content_length",'
    '"range":"$http_range",'
    '"content_range":"$sent_http_content_range",'
    '"remote_addr":"$remote_addr",'
    '"user_agent":"$http_user_agent",'
    '"host":"$host",'
    '"cmcd_object":"$http_cmcd_object",'
    '"cmcd_request":"$http_cmcd_request",'
    '"cmcd_session":"$http_cmcd_session",'
    '"cmcd_status":"$http_cmcd_status",'
    '"request_time":"$request_time"'
    "}';"
)
_CMCD_KEYS = {
    "cmcd_object": "CMCD-Object",
    "cmcd_request": "CMCD-Request",
    "cmcd_session": "CMCD-Session",
    "cmcd_status": "CMCD-Status",
}


def _json_instant(obj: Mapping[str, Any]) -> int:
    msec = obj.get("msec")
    if isinstance(msec, str) and msec.strip() not in ABSENT:
        return epoch_text_us(msec, "msec")
    if msec is not None and not isinstance(msec, str):
        return instant_us(msec, "msec")
    if obj.get("time_iso8601") not in (None, "", "-"):
        return instant_us(obj["time_iso8601"], "time_iso8601")
    raise RecordError("msec: missing (log $msec)")


def _json_target(obj: Mapping[str, Any]) -> tuple[str, str]:
    request_uri = text_value(obj.get("request_uri"), "request_uri")
    if request_uri is not None:
        return split_target(request_uri, "request_uri")
    uri = text_value(obj.get("uri"), "uri")  # $uri: already decoded, without the query
    if uri is None:
        raise RecordError("request_uri: missing (log $request_uri)")
    if not uri.startswith("/"):
        raise RecordError(f"uri: expected a URL path starting with '/', got {show(uri)}")
    return uri, text_value(obj.get("args"), "args") or ""


def json_request(obj: Mapping[str, Any]) -> EdgeRequest:
    ts_us = _json_instant(obj)
    path, query = _json_target(obj)
    status = status_value(obj.get("status"), "status")
    total = int_value(obj.get("bytes_sent"), "bytes_sent")
    body = int_value(obj.get("body_bytes_sent"), "body_bytes_sent")
    start, end, size = parse_content_range(text_value(obj.get("content_range"), "content_range"))
    if start is None and status == 206:
        served = parse_range_request(text_value(obj.get("range"), "range"), size)
        if served:
            start, end = served
    headers = {header: text_value(obj.get(key), key) for key, header in _CMCD_KEYS.items()}
    return EdgeRequest(
        ts_us=ts_us,
        path=path,
        query=query,
        method=(text_value(obj.get("method"), "method") or "GET").upper(),
        status=status,
        bytes_sent=total if total is not None else (body or 0),
        body_bytes=body,
        content_length=int_value(obj.get("content_length"), "content_length"),
        range_start=start,
        range_end=end,
        object_size=size,
        aborted=status == 499,
        request_id=text_value(obj.get("request_id"), "request_id"),
        client_ip=text_value(obj.get("remote_addr"), "remote_addr"),
        user_agent=text_value(obj.get("user_agent"), "user_agent"),
        host=text_value(obj.get("host"), "host"),
        cmcd=request_cmcd(headers, query),
    )


def parse_nginx_json(
    lines: Iterable[tuple[int, bytes]], options: Mapping[str, Any] | None = None
) -> Iterator[ParsedLine]:
    """Lines of our nginx JSON log_format to EdgeRequests (or reasons)."""
    return each_line(lines, lambda _text, line: json_request(json_object(line)))
