"""CMCD (CTA-5004 Common Media Client Data) from a request: the `CMCD=` query argument, the
four `CMCD-*` headers, or CDN columns that already split it (CloudFront real-time `cmcd-*`).

The wire syntax is an RFC 8941 structured-field dictionary, parsed with `http_sf`. Values
become plain Python: integers, strings (tokens such as `ot=v` become "v"), booleans (a bare
key such as `su` is True), decimals as float (`pr=1.5`), inner lists as lists.

Malformed CMCD never rejects the request (its bytes still count): the parse result is then
`{"_invalid": True}` (`INVALID`) and nothing else, so the importer can count "malformed CMCD"
in the receipt while the counting ignores the client's data. No CMCD at all is `{}`.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any
from urllib.parse import unquote

import http_sf

#: The key set (alone) in a CMCD dict when the client's CMCD could not be parsed.
INVALID = "_invalid"
HEADER_NAMES = ("CMCD-Object", "CMCD-Request", "CMCD-Session", "CMCD-Status")

# Akamai DataStream 2 writes CMCD as `//<version>@V/<dictionary>` (e.g. `//1.0@V/br=1426,...`).
_VERSION_PREFIX = re.compile(r"//(?P<version>[0-9][0-9.]*)@V/", re.I)

#: CloudFront real-time log columns that carry one CMCD key each.
CLOUDFRONT_COLUMNS = {
    "cmcd-encoded-bitrate": "br",
    "cmcd-buffer-length": "bl",
    "cmcd-buffer-starvation": "bs",
    "cmcd-content-id": "cid",
    "cmcd-object-duration": "d",
    "cmcd-deadline": "dl",
    "cmcd-measured-throughput": "mtp",
    "cmcd-next-object-request": "nor",
    "cmcd-next-range-request": "nrr",
    "cmcd-object-type": "ot",
    "cmcd-playback-rate": "pr",
    "cmcd-requested-maximum-throughput": "rtp",
    "cmcd-streaming-format": "sf",
    "cmcd-session-id": "sid",
    "cmcd-stream-type": "st",
    "cmcd-startup": "su",
    "cmcd-top-bitrate": "tb",
    "cmcd-version": "v",
}
_INTEGER_KEYS = frozenset({"br", "bl", "d", "dl", "mtp", "rtp", "tb", "v"})
_BOOLEAN_KEYS = frozenset({"bs", "su"})
_DECIMAL_KEYS = frozenset({"pr"})


def _plain(value: Any) -> Any:
    if isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, http_sf.Token | http_sf.DisplayString):
        return str(value)
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    if isinstance(value, datetime):
        return int(value.timestamp())
    if isinstance(value, tuple) and len(value) == 2 and isinstance(value[1], dict):
        return _plain(value[0])  # (item, parameters): parameters are not used by CMCD
    if isinstance(value, list):
        return [_plain(item) for item in value]
    return str(value)


# The common shape of a CMCD member: a key with no value (True), an integer, a plain string
# (no escapes) or a token, without parameters. Anything else goes to http_sf.
_FAST_MEMBER = re.compile(
    r"([a-z*][a-z0-9_.*-]*)"
    r'(?:=(?:(-?[0-9]{1,15})(?![0-9.])|"([ !#-\[\]-~]*)"|'
    r"([A-Za-z*][!#$%&'*+.^_`|~0-9A-Za-z:/-]*)))?"
)
_FAST_SEPARATOR = re.compile(r",[ \t]*")


def _parse_cmcd_fast(text: str) -> dict[str, Any] | None:
    """`text` parsed as http_sf would, when every member has the common shape; else None."""
    out: dict[str, Any] = {}
    end, pos = len(text), 0
    match_member, match_separator = _FAST_MEMBER.match, _FAST_SEPARATOR.match
    while True:
        member = match_member(text, pos)
        if member is None:
            return None
        key, integer, string, token = member.groups()
        if key in out:
            return None  # duplicate keys: leave their semantics to http_sf
        if integer is not None:
            out[key] = int(integer)
        elif string is not None:
            out[key] = string
        elif token is not None:
            out[key] = token
        elif member.end() > member.start(1) + len(key):
            return None  # '=' with an unreadable value
        else:
            out[key] = True
        pos = member.end()
        if pos == end:
            return out
        separator = match_separator(text, pos)
        if separator is None or separator.end() == end:
            return None
        pos = separator.end()


def parse_cmcd(text: str) -> dict[str, Any]:
    """One CMCD dictionary (`br=3200,d=4004,ot=v,sid="abc",su`), already percent-decoded.

    Also accepts Akamai's `//1.0@V/` prefix. `{}` for empty, `{"_invalid": True}` if malformed.
    """
    text = text.strip()
    prefix = _VERSION_PREFIX.match(text)
    if prefix:
        text = text[prefix.end() :].strip()
    if not text:
        return {}
    fast = _parse_cmcd_fast(text) if text.isascii() else None
    if fast is not None:
        return fast
    try:
        parsed = http_sf.parse(text.encode("ascii"), tltype="dictionary")
    except (ValueError, UnicodeError, TypeError, IndexError):  # incl. StructuredFieldError
        return {INVALID: True}
    if not isinstance(parsed, dict):
        return {INVALID: True}
    return {str(key): _plain(member) for key, member in parsed.items()}


def cmcd_query_value(query: str) -> str | None:
    """The percent-decoded value of the `CMCD` argument (any case) of a raw query string."""
    if "cmcd" not in query.lower():
        return None
    for part in query.split("&"):
        name, _, value = part.partition("=")
        if unquote(name).strip().upper() == "CMCD":
            return unquote(value, errors="replace")
    return None


def parse_cmcd_query(query: str) -> dict[str, Any]:
    """CMCD from a raw query string (`a=1&CMCD=br%3D3200%2Cot%3Dv`); `{}` when it has none."""
    value = cmcd_query_value(query)
    return {} if value is None else parse_cmcd(value)


def parse_cmcd_headers(headers: Mapping[str, str | None]) -> dict[str, Any]:
    """CMCD from the `CMCD-Object`/`-Request`/`-Session`/`-Status` headers (names in any case),
    merged into one dict. `{}` when none is present; `{"_invalid": True}` if any is malformed.
    """
    wanted = {name.lower() for name in HEADER_NAMES}
    merged: dict[str, Any] = {}
    for name, value in headers.items():
        if name.lower() not in wanted or value is None:
            continue
        text = str(value).strip()
        if text in ("", "-", "(null)"):
            continue
        part = parse_cmcd(text)
        if INVALID in part:
            return {INVALID: True}
        merged.update(part)
    return merged


def _column_value(key: str, text: str) -> Any:
    if key in _INTEGER_KEYS:
        return int(text)  # ValueError for junk: the caller marks the CMCD invalid
    if key in _BOOLEAN_KEYS:
        lowered = text.lower()
        if lowered in ("1", "true", "?1"):
            return True
        if lowered in ("0", "false", "?0"):
            return False
        raise ValueError(text)
    if key in _DECIMAL_KEYS:
        return float(text)
    if len(text) >= 2 and text[0] == text[-1] == '"':
        return text[1:-1]
    return text


def cmcd_from_columns(values: Mapping[str, str]) -> dict[str, Any]:
    """CMCD from already-split columns (`cmcd-object-duration` -> `d`, ...), values as logged
    (already decoded by the caller); absent columns ('-', '') are skipped."""
    out: dict[str, Any] = {}
    for column, text in values.items():
        key = CLOUDFRONT_COLUMNS.get(column)
        if key is None or text in ("", "-"):
            continue
        try:
            out[key] = _column_value(key, text.strip())
        except ValueError:
            return {INVALID: True}
    return out


def request_cmcd(headers: Mapping[str, str | None] | None, query: str) -> dict[str, Any]:
    """A request's CMCD: from the headers when any CMCD header was logged, else the query.

    (Players send one or the other; like Akamai, headers win when both are present.)
    """
    if headers:
        from_headers = parse_cmcd_headers(headers)
        if from_headers:
            return from_headers
    return parse_cmcd_query(query) if query else {}
