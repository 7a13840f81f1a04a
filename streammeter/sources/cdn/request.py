"""What every access-log parser produces: one HTTP request as the CDN (or origin) saw it.

Parsers know their format; they do not know manifests or the counting rules. Resolution of
the URL against the index and the counting happen later (`streammeter.counting.resolve`).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from streammeter.sources.generic import RecordError


@dataclass(slots=True)
class EdgeRequest:
    ts_us: int  # the source's documented instant, UTC microseconds
    path: str  # URL path, percent-decoded once, no query string
    query: str = ""  # raw query string without '?', CDN double-encoding undone
    method: str = "GET"
    status: int = 200  # 0 for CloudFront "000" (no response)
    bytes_sent: int = 0  # viewing/egress bytes as the source measures them (see bytes_measure)
    body_bytes: int | None = None  # body bytes actually sent, when logged (or a stand-in)
    content_length: int | None = None  # Content-Length of the response
    range_start: int | None = None  # served byte range, inclusive, when the response was 206
    range_end: int | None = None
    object_size: int | None = None  # whole object size, when known (Content-Range total...)
    aborted: bool = False  # the source says the client went away mid-response
    request_id: str | None = None  # x-edge-request-id, RayID, reqId, $request_id
    client_ip: str | None = None
    user_agent: str | None = None
    host: str | None = None
    cmcd: dict[str, Any] = field(default_factory=dict)  # CMCD keys (query arg or headers)


#: One parsed line: (line number, raw text, request or why the line could not be read).
ParsedLine = tuple[int, str, "EdgeRequest | RecordError"]
LineParser = Iterator[ParsedLine]
