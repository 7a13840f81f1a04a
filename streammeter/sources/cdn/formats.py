"""The access-log formats streammeter reads, and detection of a file's format from its start.

`FORMATS[name]` is a `SourceFormat`: its streaming parser over `(line_no, bytes)` lines, what
its `bytes_sent` measures and which instant its timestamp is (both stated on receipts), and a
conservative `detect`. `detect_format(first_lines)` names the format of a file's first lines
(decompressed), "generic" for streammeter's own delivery records, or None when unsure.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from streammeter.sources.cdn import akamai, cloudflare, fastly, nginx
from streammeter.sources.cdn.cloudfront import parse_cloudfront, parse_cloudfront_realtime
from streammeter.sources.cdn.request import ParsedLine

Parser = Callable[[Iterable[tuple[int, bytes]], Mapping[str, Any] | None], Iterator[ParsedLine]]


@dataclass(frozen=True, slots=True)
class SourceFormat:
    name: str
    #: parse(lines, options) -> (line_no, raw_text, EdgeRequest | RecordError), streaming.
    parse: Parser
    bytes_measure: str  # what EdgeRequest.bytes_sent includes
    instant: str  # which timestamp is EdgeRequest.ts_us, and what moment it is
    detect: Callable[[list[bytes]], bool]  # conservative: False when unsure
    aborted: str = ""  # how the source says a response was cut short
    doc: str = ""  # the reference page


# --- detection -------------------------------------------------------------------------------


def _sample(first_lines: list[bytes]) -> list[tuple[str, bool]]:
    """Non-blank lines as text, each with whether it is complete (ends with a newline)."""
    out: list[tuple[str, bool]] = []
    for number, line in enumerate(first_lines):
        text = line.decode("utf-8", errors="replace")
        if number == 0:
            text = text.removeprefix("\ufeff")
        if text.strip():
            out.append((text.rstrip("\r\n"), line.endswith(b"\n")))
    return out


def _all_match(sample: list[tuple[str, bool]], test: Callable[[str], bool]) -> bool:
    """Every line passes, except that a cut-off last line (no newline yet) may fail."""
    checked = 0
    for position, (text, complete) in enumerate(sample):
        if test(text):
            checked += 1
        elif complete or position != len(sample) - 1:
            return False
    return checked > 0


def _is_cloudfront(first_lines: list[bytes]) -> bool:
    sample = _sample(first_lines)
    return bool(sample) and sample[0][0].startswith(("#Version:", "#Fields:"))


_EPOCH_MS = re.compile(r"\d{10}\.\d{3}")


def _is_cloudfront_realtime(first_lines: list[bytes]) -> bool:
    """Headerless tab-separated rows of one width whose first column is `1605110483.123`."""
    sample = _sample(first_lines)
    complete = [text for text, done in sample if done] or [text for text, _ in sample[:1]]
    widths = {len(text.split("\t")) for text in complete}

    def test(text: str) -> bool:
        cols = text.split("\t")
        return len(cols) >= 4 and bool(_EPOCH_MS.fullmatch(cols[0]))

    return len(widths) == 1 and _all_match(sample, test)


def _is_combined(first_lines: list[bytes]) -> bool:
    return _all_match(_sample(first_lines), lambda text: bool(nginx.COMBINED.fullmatch(text)))


def _json_kind_of(obj: dict[str, Any]) -> str | None:
    keys = obj.keys()
    kinds = []
    if len(cloudflare.KEYS & keys) >= 2:
        kinds.append("cloudflare")
    if "reqTimeSec" in keys and len(akamai.KEYS & keys) >= 2:
        kinds.append("akamai")
    if {"timestamp", "url", "status"} <= keys and {"completed", "bytes", "body_bytes"} & keys:
        kinds.append("fastly")
    if (
        {"msec", "status"} <= keys
        and {"request_uri", "uri"} & keys
        and {"bytes_sent", "body_bytes_sent"} & keys
    ):
        kinds.append("nginx-json")
    if "timestamp" in keys and {"asset_id", "playback_id"} & keys and "url" not in keys:
        kinds.append("generic")
    return kinds[0] if len(kinds) == 1 else None


def _json_kind(first_lines: list[bytes]) -> str | None:
    """The one kind every JSON line of the sample agrees on, else None."""
    sample = _sample(first_lines)
    if not sample or not sample[0][0].lstrip().startswith("{"):
        return None
    kinds: set[str | None] = set()

    def test(text: str) -> bool:
        try:
            value = orjson.loads(text)
        except orjson.JSONDecodeError:
            return False
        if not isinstance(value, dict):
            return False
        kinds.add(_json_kind_of(value))
        return True

    if not _all_match(sample, test) or len(kinds) != 1:
        return None
    return kinds.pop()


def _is_generic_csv(first_lines: list[bytes]) -> bool:
    sample = _sample(first_lines)
    if not sample or "," not in sample[0][0]:
        return False
    names = {name.strip().strip('"').lower() for name in sample[0][0].split(",")}
    return "timestamp" in names and bool({"asset_id", "playback_id"} & names)


def detect_format(first_lines: list[bytes]) -> str | None:
    """The format of a file from its first lines (decompressed, newlines kept): a FORMATS name,
    "generic" for streammeter's delivery records (NDJSON or CSV), or None when unsure."""
    if _is_cloudfront(first_lines):
        return "cloudfront"
    kind = _json_kind(first_lines)
    if kind is not None:
        return kind
    if _is_generic_csv(first_lines):
        return "generic"
    if _is_combined(first_lines):
        return "nginx-combined"
    if _is_cloudfront_realtime(first_lines):
        return "cloudfront-realtime"
    return None


def _json_detector(name: str) -> Callable[[list[bytes]], bool]:
    return lambda first_lines: _json_kind(first_lines) == name


# --- the registry ----------------------------------------------------------------------------

_CMCD = " CMCD from the CMCD= query argument."

FORMATS: dict[str, SourceFormat] = {
    fmt.name: fmt
    for fmt in (
        SourceFormat(
            name="cloudfront",
            parse=parse_cloudfront,
            bytes_measure=(
                "sc-bytes: bytes CloudFront sent to the viewer, including response headers "
                "(no body-only count is logged; it also stands in for body bytes)"
            ),
            instant=(
                "date + time (UTC, second precision): when the edge finished responding "
                "to the request"
            ),
            detect=_is_cloudfront,
            aborted=(
                "x-edge-result-type = Error while x-edge-response-result-type is not Error "
                "(client went away mid-response); sc-status 000 = no response at all" + _CMCD
            ),
            doc="docs/sources/cloudfront.md",
        ),
        SourceFormat(
            name="cloudfront-realtime",
            parse=parse_cloudfront_realtime,
            bytes_measure=(
                "sc-bytes: bytes CloudFront sent to the viewer, including response headers "
                "(no body-only count is logged; it also stands in for body bytes)"
            ),
            instant=(
                "timestamp (epoch seconds with milliseconds, UTC): when the edge finished "
                "responding to the request"
            ),
            detect=_is_cloudfront_realtime,
            aborted=(
                "x-edge-result-type = Error while x-edge-response-result-type is not Error; "
                "CMCD from the cmcd-* fields, else the CMCD= query argument"
            ),
            doc="docs/sources/cloudfront-realtime.md",
        ),
        SourceFormat(
            name="cloudflare",
            parse=cloudflare.parse_cloudflare,
            bytes_measure=(
                "EdgeResponseBytes: bytes Cloudflare sent to the client, including headers "
                "(EdgeResponseBodyBytes is kept as body bytes)"
            ),
            instant=(
                "EdgeStartTimestamp (unixnano, unix or RFC 3339): when the edge received the "
                "request"
            ),
            detect=_json_detector("cloudflare"),
            aborted="EdgeResponseStatus 499 (client closed the connection first)",
            doc="docs/sources/cloudflare.md",
        ),
        SourceFormat(
            name="fastly",
            parse=fastly.parse_fastly,
            bytes_measure=(
                "bytes (resp.bytes_written): bytes Fastly sent to the client, including "
                "headers (body_bytes = resp.body_bytes_written is kept as body bytes)"
            ),
            instant="timestamp (%{begin:...}t): when Fastly started handling the request",
            detect=_json_detector("fastly"),
            aborted="completed = false (resp.completed: not all of the response was sent)",
            doc="docs/sources/fastly.md",
        ),
        SourceFormat(
            name="akamai",
            parse=akamai.parse_akamai,
            bytes_measure=(
                "totalBytes: bytes served including HTTP overhead (bytes, the content bytes, "
                "when totalBytes is not logged; bytes is kept as body bytes)"
            ),
            instant="reqTimeSec (epoch seconds, optional .mmm): when the edge accepted the request",
            detect=_json_detector("akamai"),
            aborted="lastByte = 0 on a full (non-206) 2xx response",
            doc="docs/sources/akamai.md",
        ),
        SourceFormat(
            name="nginx-combined",
            parse=nginx.parse_combined,
            bytes_measure=(
                "$body_bytes_sent / %b: response body bytes only; headers are not logged "
                "in the combined format"
            ),
            instant=(
                "$time_local / %t (with its UTC offset, second precision): nginx, when the "
                "line was logged (about the end of the response); Apache, when the request "
                "was received"
            ),
            detect=_is_combined,
            aborted="status 499 (nginx: client closed the connection first)",
            doc="docs/sources/nginx-combined.md",
        ),
        SourceFormat(
            name="nginx-json",
            parse=nginx.parse_nginx_json,
            bytes_measure=(
                "$bytes_sent: bytes sent to the client, including headers "
                "($body_bytes_sent is kept as body bytes)"
            ),
            instant=(
                "$msec (epoch seconds with milliseconds): when the line was logged "
                "(the end of the response)"
            ),
            detect=_json_detector("nginx-json"),
            aborted="status 499 (client closed the connection first)",
            doc="docs/sources/nginx-json.md",
        ),
    )
}
