"""Helpers shared by the access-log parsers: lines, numbers, instants, URLs, byte ranges.

Everything here either returns a value or raises `RecordError` with a reason a person can act
on ("sc-bytes: expected an integer, got 'abc'"); nothing here raises anything else on bad
input.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import datetime
from typing import Any
from urllib.parse import unquote

import orjson

from streammeter.sources.cdn.request import EdgeRequest, ParsedLine
from streammeter.sources.generic import RecordError

US_PER_SECOND = 1_000_000
# Plausible delivery instants: 2000-01-01 .. 2100-01-01 (same bounds as model.times).
MIN_US = 946_684_800 * US_PER_SECOND
MAX_US = 4_102_444_800 * US_PER_SECOND
#: Larger byte counts than this (1 PB in one response) are treated as corrupt input.
MAX_BYTES = 10**15
#: Values that mean "not logged": W3C/CloudFront '-', nginx '' or '-', Fastly '(null)'.
ABSENT = frozenset({"", "-", "(null)"})

NUL_REASON = "line contains NUL bytes (a truncated or corrupt write)"

_SHOWN = 60


def show(value: object) -> str:
    """A value for an error message: repr, cut to a readable length."""
    text = repr(value)
    return text if len(text) <= _SHOWN else text[: _SHOWN - 3] + "..."


def line_text(line: bytes) -> str:
    """The line as text (invalid UTF-8 replaced), without its line ending."""
    return line.decode("utf-8", errors="replace").rstrip("\r\n")


def each_line(
    lines: Iterable[tuple[int, bytes]], parse_one: Callable[[str, bytes], EdgeRequest]
) -> Iterator[ParsedLine]:
    """Run `parse_one(text, raw_bytes)` over non-blank lines; turn every failure into a reason."""
    for line_no, line in lines:
        raw = line_text(line)
        if not raw.strip():
            continue
        if "\x00" in raw:
            yield line_no, raw, RecordError(NUL_REASON)
            continue
        try:
            yield line_no, raw, parse_one(raw, line)
        except RecordError as exc:
            yield line_no, raw, exc
        except Exception as exc:  # never let one odd line stop an import
            yield line_no, raw, RecordError(f"unreadable line ({type(exc).__name__}: {exc})")


# --- numbers ---------------------------------------------------------------------------------


def _digits(text: str) -> bool:
    return text.isascii() and text.isdigit()


def int_value(value: Any, name: str, *, minimum: int = 0, maximum: int = MAX_BYTES) -> int | None:
    """An integer from a JSON number or a string; None when absent ('', '-', '(null)', null)."""
    if value is None:
        return None
    if isinstance(value, bool):
        raise RecordError(f"{name}: expected an integer, got {show(value)}")
    if isinstance(value, int):
        number = value
    elif isinstance(value, float):
        if not value.is_integer():
            raise RecordError(f"{name}: expected an integer, got {show(value)}")
        number = int(value)
    elif isinstance(value, str):
        text = value.strip()
        if text in ABSENT:
            return None
        body = text[1:] if text[:1] in "+-" else text
        if not _digits(body):
            raise RecordError(f"{name}: expected an integer, got {show(value)}")
        number = int(text)
    else:
        raise RecordError(f"{name}: expected an integer, got {type(value).__name__}")
    if number < minimum:
        raise RecordError(f"{name}: must be >= {minimum}, got {number}")
    if number > maximum:
        raise RecordError(f"{name}: {number} is implausibly large (more than {maximum})")
    return number


def status_value(value: Any, name: str) -> int:
    """An HTTP status (0..999); CloudFront's '000' (no response) is 0."""
    status = int_value(value, name, maximum=999)
    if status is None:
        raise RecordError(f"{name}: missing")
    return status


def text_value(value: Any, name: str) -> str | None:
    """A string (numbers are stringified); None when absent."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise RecordError(f"{name}: expected a string, got {type(value).__name__}")
    text = str(value)
    return None if text in ABSENT else text


def flag_value(value: Any, name: str) -> bool | None:
    """A boolean from true/false, 1/0, "true"/"false", "1"/"0"; None when absent."""
    if value is None:
        return None
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        text = value.strip().lower()
        if text in ABSENT:
            return None
        if text in ("1", "true", "yes"):
            return True
        if text in ("0", "false", "no"):
            return False
    raise RecordError(f"{name}: expected true/false or 1/0, got {show(value)}")


# --- instants --------------------------------------------------------------------------------


def checked_instant(us: int, name: str, value: object) -> int:
    if not MIN_US <= us < MAX_US:
        raise RecordError(f"{name}: {show(value)} is outside 2000-01-01..2100-01-01")
    return us


def epoch_text_us(text: str, name: str) -> int:
    """Epoch seconds written as digits with an optional fraction ('1605110483.123'), exactly."""
    whole, dot, fraction = text.strip().partition(".")
    if not _digits(whole) or (dot and not _digits(fraction)):
        raise RecordError(f"{name}: expected epoch seconds like 1605110483.123, got {show(text)}")
    us = int(whole) * US_PER_SECOND + (int(fraction[:6].ljust(6, "0")) if fraction else 0)
    return checked_instant(us, name, text)


def epoch_integer_us(number: int) -> int:
    """An integer epoch by magnitude: seconds, milliseconds, microseconds or nanoseconds.

    Within 2000..2100 the four ranges do not overlap, so the unit is never ambiguous.
    Nanoseconds are truncated to microseconds (integer division, never via float).
    """
    if number < 10**11:
        return number * US_PER_SECOND
    if number < 10**14:
        return number * 1_000
    if number < 10**17:
        return number
    return number // 1_000


def rfc3339_us(text: str, name: str) -> int:
    """RFC 3339 / ISO 8601 with an offset ('Z', '+00:00' or '+0000') to microseconds."""
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise RecordError(
            f"{name}: expected RFC 3339 like 2026-11-20T10:00:00Z or epoch time, got {show(text)}"
        ) from None
    offset = moment.utcoffset()
    if offset is None:
        raise RecordError(f"{name}: {show(text)} has no UTC offset; add Z or +00:00")
    try:
        naive = moment.replace(tzinfo=None) - offset
    except OverflowError:
        raise RecordError(f"{name}: {show(text)} is outside 2000-01-01..2100-01-01") from None
    days = naive.toordinal() - 719_163  # date(1970, 1, 1).toordinal()
    seconds = days * 86_400 + naive.hour * 3_600 + naive.minute * 60 + naive.second
    return checked_instant(seconds * US_PER_SECOND + naive.microsecond, name, text)


def instant_us(value: Any, name: str) -> int:
    """An instant from JSON: integer epoch (s/ms/µs/ns by magnitude), decimal seconds, RFC 3339."""
    if value is None or (isinstance(value, str) and value.strip() in ABSENT):
        raise RecordError(f"{name}: missing")
    if isinstance(value, bool):
        raise RecordError(f"{name}: expected a timestamp, got {show(value)}")
    if isinstance(value, int):
        return checked_instant(epoch_integer_us(value), name, value)
    if isinstance(value, float):
        if not math.isfinite(value) or value < 0:
            raise RecordError(f"{name}: {show(value)} is outside 2000-01-01..2100-01-01")
        if value >= 10**11:
            raise RecordError(
                f"{name}: {show(value)} is a float too large for exact seconds; "
                "log it as an integer or a string"
            )
        return epoch_text_us(repr(value), name)
    if isinstance(value, str):
        text = value.strip()
        if _digits(text):
            return checked_instant(epoch_integer_us(int(text)), name, value)
        if text[:1].isdigit() and "." in text and "-" not in text and ":" not in text:
            return epoch_text_us(text, name)
        return rfc3339_us(text, name)
    raise RecordError(f"{name}: expected a timestamp, got {type(value).__name__}")


# --- URLs ------------------------------------------------------------------------------------


def decode_path(path: str) -> str:
    """Percent-decode a URL path once (invalid UTF-8 replaced; never raises)."""
    return unquote(path, errors="replace") if "%" in path else path


def split_target(target: str, name: str) -> tuple[str, str]:
    """A request target ('/a/b.ts?x=1', or absolute 'https://h/a/b.ts?x=1') to (path, query).

    The path is percent-decoded once; the query is kept as logged (still percent-encoded).
    """
    text = target.strip()
    if text.startswith(("http://", "https://", "HTTP://", "HTTPS://")):
        slash = text.find("/", text.index("://") + 3)
        text = text[slash:] if slash >= 0 else "/"
    if not text.startswith("/"):
        raise RecordError(f"{name}: expected a URL path starting with '/', got {show(target)}")
    path, _, query = text.partition("?")
    query = query.partition("#")[0]
    return decode_path(path), query


# --- byte ranges -----------------------------------------------------------------------------

_CONTENT_RANGE = re.compile(r"\s*bytes\s+(?:(\d+)\s*-\s*(\d+)|\*)\s*/\s*(\d+|\*)\s*", re.I)
_RANGE = re.compile(r"\s*(?:bytes\s*=\s*)?(\d*)\s*-\s*(\d*)\s*", re.I)


def parse_content_range(text: str | None) -> tuple[int | None, int | None, int | None]:
    """'bytes 0-999/5000' -> (0, 999, 5000); '*' parts are None; unreadable -> all None."""
    if not text:
        return None, None, None
    match = _CONTENT_RANGE.fullmatch(text)
    if not match:
        return None, None, None
    first, last, total = match.groups()
    size = int(total) if total != "*" else None
    if first is None:
        return None, None, size
    start, end = int(first), int(last)
    if end < start or (size is not None and end >= size):
        return None, None, size
    return start, end, size


def parse_range_request(text: str | None, size: int | None) -> tuple[int, int] | None:
    """A single requested range ('bytes=0-999', '0-999', 'bytes=100-', 'bytes=-500') resolved
    against the object size when open-ended; None when absent, multiple or unresolvable."""
    if not text or "," in text:
        return None
    match = _RANGE.fullmatch(text)
    if not match:
        return None
    first, last = match.groups()
    if first and last:
        start, end = int(first), int(last)
        if size is not None:
            end = min(end, size - 1)
    elif first and size is not None:
        start, end = int(first), size - 1
    elif last and size is not None:
        start, end = max(0, size - int(last)), size - 1
    else:
        return None
    return (start, end) if start <= end else None


def lower_keys(headers: Any) -> dict[str, str]:
    """A header object (JSON) with lower-cased names and string values; {} if not an object."""
    if not isinstance(headers, Mapping):
        return {}
    out: dict[str, str] = {}
    for key, value in headers.items():
        if isinstance(value, list):
            value = ",".join(str(item) for item in value)
        if value is not None:
            out[str(key).lower()] = str(value)
    return out


# --- JSON lines ------------------------------------------------------------------------------


def json_object(line: bytes) -> dict[str, Any]:
    """One NDJSON line as an object; invalid UTF-8 is replaced rather than rejected."""
    try:
        value = orjson.loads(line)
    except orjson.JSONDecodeError as exc:
        try:
            value = orjson.loads(line.decode("utf-8", errors="replace"))
        except orjson.JSONDecodeError:
            raise RecordError(f"invalid JSON: {exc}") from None
    if not isinstance(value, dict):
        raise RecordError(f"expected a JSON object, got {type(value).__name__}")
    return value
