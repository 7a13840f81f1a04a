"""A columnar fast path for plain `POST /v1/events` batches (docs/design/columnar-batches.md).

`sources.generic.normalize` and `counting.rules.count` are the reference: they take one record
at a time (~30 µs of Python each). Most batches are *plain*: every item an object of a few
common fields with the JSON types those fields expect. Such a batch is normalized and counted
here column by column (Arrow compute and one Python call per distinct value), giving exactly
the rows the reference gives. Anything else — an unknown or rare field (`body_bytes`,
`object_bytes`, `primary`), a value of another type, a value the reference would reject — makes
`plain_rows` answer None and the batch takes the reference path whole, so every reason a
record is quarantined still comes from one place.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.compute as pc

from streammeter.counting.record import KINDS, TRACKS
from streammeter.counting.rows import ROW_SCHEMA, CountedRows
from streammeter.counting.rules import (
    ABORTED_STATUS,
    EARNING_KINDS,
    EARNING_STATUSES,
    NOTE_NO_DURATION,
    NOTE_TIER_INFERRED,
    round_half_even,
)
from streammeter.model.times import US_PER_SECOND, parse_instant
from streammeter.sources.generic import (
    MAX_INTEGER,
    MAX_TEXT,
    _duration,
    _text,
    _tier_hint,
)

#: The fields a plain record may have (the rest of generic.FIELDS go the reference way).
PLAIN_FIELDS = frozenset(
    {
        "id", "timestamp", "asset_id", "playback_id", "live_stream_id", "session_id", "target",
        "kind", "track", "method", "tier", "duration", "width", "height", "bytes", "status",
        "live",
    }
)  # fmt: skip
_TEXT_FIELDS = ("id", "asset_id", "playback_id", "live_stream_id", "session_id", "target")
#: Integer fields: (minimum, maximum).
_INTEGER_FIELDS = {
    "width": (1, MAX_INTEGER),
    "height": (1, MAX_INTEGER),
    "bytes": (0, MAX_INTEGER),
    "status": (0, 999),
}
_STRING = pa.string()
# Epoch seconds whose microseconds are within parse_instant's range.
_MIN_S, _MAX_S = 946_684_800, 4_102_444_800


class _NotPlain(Exception):
    """The batch needs the reference path."""


def plain_rows(body: bytes) -> CountedRows | None:
    """The batch's records as counted rows, or None if it is not plain (see the module doc)."""
    try:
        return _counted(*_parsed(body))
    except (_NotPlain, ValueError, TypeError, OverflowError, pa.ArrowException):
        return None  # RecordError and InvalidTime are ValueErrors; unhashable values TypeErrors


def warm_up() -> None:
    """Count one plain record: loads the Arrow compute functions the path uses."""
    plain_rows(b'[{"timestamp": 946684800, "asset_id": "a", "duration": 1}]')


def _parsed(body: bytes) -> tuple[list[int], list[Any]]:
    """(line numbers, items) as `generic.parse_json_batch` reads them (orjson reads a subset of
    what `json` reads, and reads it the same)."""
    try:
        if body.lstrip().startswith(b"["):
            items = orjson.loads(body)
            return list(range(1, len(items) + 1)), items
        numbered = [(n, line) for n, line in enumerate(body.splitlines(), 1) if line.strip()]
        return [n for n, _ in numbered], [orjson.loads(line) for _, line in numbered]
    except orjson.JSONDecodeError:
        raise _NotPlain from None


def _counted(line_nos: list[int], items: list[Any]) -> CountedRows:
    if not items or {type(item) for item in items} != {dict}:
        raise _NotPlain
    present = set().union(*items)
    if not PLAIN_FIELDS.issuperset(present):
        raise _NotPlain
    n = len(items)

    def column(name: str) -> pa.Array:
        """The field's values (all null when no record has it); mixed JSON types raise."""
        if name not in present:
            return pa.nulls(n)
        return pa.array([item.get(name) for item in items])

    text = {name: _text_column(column(name)) for name in _TEXT_FIELDS}
    if pc.any(pc.and_(pc.is_null(text["asset_id"]), pc.is_null(text["playback_id"]))).as_py():
        raise _NotPlain  # the reference rejects such a record
    integers = {
        name: _integer_column(column(name), *bounds) for name, bounds in _INTEGER_FIELDS.items()
    }
    kind = _by_value(
        _strings(column("kind")), lambda v: (_text({"kind": v}, "kind") or "segment").lower()
    )
    track = _by_value(
        _strings(column("track")), lambda v: (_text({"track": v}, "track") or "video").lower()
    )
    method = _by_value(
        _strings(column("method")), lambda v: (_text({"method": v}, "method") or "GET").upper()
    )
    if not KINDS.issuperset(pc.unique(kind).to_pylist()):
        raise _NotPlain
    if not TRACKS.issuperset(pc.unique(track).to_pylist()):
        raise _NotPlain
    tier_hint = pa.array(
        _tier_hints(integers["width"], integers["height"], _strings(column("tier")), track),
        pa.int8(),
    )
    duration_us = _by_value(
        _numbers(column("duration")), lambda v: _duration_us(_duration({"duration": v})), pa.int64()
    )
    live = column("live")
    if live.type not in (pa.null(), pa.bool_()):
        raise _NotPlain
    status = pc.fill_null(integers["status"], 200)
    # counting.md 4 as counting.rules.count has it, for records without body/object bytes:
    # f is 1, or 0 for an aborted (499) response; d x f rounded half to even is duration_us.
    earning = pc.and_(
        pc.and_(pc.is_in(kind, pa.array(sorted(EARNING_KINDS))), pc.equal(method, "GET")),
        pc.is_in(status, pa.array([*sorted(EARNING_STATUSES), ABORTED_STATUS], pa.int64())),
    )
    earned = pc.if_else(
        pc.and_(earning, pc.not_equal(status, ABORTED_STATUS)), pc.fill_null(duration_us, 0), 0
    )
    no_duration = pc.and_(earning, pc.is_null(duration_us))
    inferred = pc.and_(
        pc.and_(pc.is_null(tier_hint), pc.equal(track, "video")),
        pc.and_(pc.not_equal(earned, 0), pc.not_equal(kind, "egress")),
    )
    notes = [
        NOTE_NO_DURATION if missing else NOTE_TIER_INFERRED if guessed else None
        for missing, guessed in zip(
            no_duration.to_pylist(), pc.fill_null(inferred, False).to_pylist(), strict=True
        )
    ]
    nulls = {
        name: pa.nulls(n, ROW_SCHEMA.field(name).type)
        for name in ("body_bytes", "object_bytes", "rendition_id", "media_sequence",
                     "part_index", "client_ip", "user_agent")
    }  # fmt: skip
    rows = {
        "line_no": pa.array(line_nos, pa.int32()),
        "request_id": text["id"],
        "ts_us": _timestamps([item.get("timestamp") for item in items]),
        "asset_id": text["asset_id"],
        "playback_id": text["playback_id"],
        "live_stream_id": text["live_stream_id"],
        "kind": kind,
        "track": track,
        "tier_hint": tier_hint,
        "duration_us": duration_us,
        "bytes": pc.fill_null(integers["bytes"], 0),
        "method": method,
        "status": status,
        "session_id": text["session_id"],
        "earned_us": earned,
        "media_us": earned,
        "live": pc.fill_null(live.cast(pa.bool_()), False),
        "origin": pc.equal(kind, "egress"),
        "target": text["target"],
        "additional_target": pa.array([False] * n, pa.bool_()),
        **nulls,
    }
    table = pa.table({f.name: rows[f.name].cast(f.type) for f in ROW_SCHEMA}, schema=ROW_SCHEMA)
    return CountedRows(table, notes)


def _strings(array: pa.Array) -> pa.Array:
    """A field read as JSON strings only (the reference also takes integers: not plain)."""
    if array.type == pa.null():
        return array.cast(pa.string())
    if array.type != pa.string():
        raise _NotPlain
    return array


def _numbers(array: pa.Array) -> pa.Array:
    """A field of JSON numbers or strings (not booleans, objects or arrays)."""
    if array.type not in (pa.null(), pa.int64(), pa.float64(), pa.string()):
        raise _NotPlain
    return array


def _text_column(array: pa.Array) -> pa.Array:
    """A text field: strings only, at most MAX_TEXT characters; "" is absent."""
    array = _strings(array)
    if (pc.max(pc.utf8_length(array)).as_py() or 0) > MAX_TEXT:
        raise _NotPlain
    return pc.if_else(pc.equal(array, ""), pa.scalar(None, pa.string()), array)


def _integer_column(array: pa.Array, minimum: int, maximum: int) -> pa.Array:
    """An integer field: JSON integers only (floats and strings are not plain)."""
    if array.type == pa.null():
        return array.cast(pa.int64())
    if array.type != pa.int64():
        raise _NotPlain
    low, high = pc.min_max(array).values()
    if low.is_valid and (low.as_py() < minimum or high.as_py() > maximum):
        raise _NotPlain
    return array


def _timestamps(values: list[Any]) -> pa.Array:
    """Epoch seconds as JSON integers in bulk; anything else through `parse_instant`, once per
    distinct (type, value)."""
    if all(type(value) is int for value in values):
        array = pa.array(values, pa.int64())
        low, high = pc.min_max(array).values()
        if not (low.as_py() >= _MIN_S and high.as_py() < _MAX_S):
            raise _NotPlain
        return pc.multiply(array, US_PER_SECOND)
    done: dict[tuple[type, Any], int] = {}
    stamps = []
    for value in values:
        if value is None or value == "":
            raise _NotPlain  # a missing timestamp: the reference says so
        key = (type(value), value)
        if key not in done:
            done[key] = parse_instant(value)
        stamps.append(done[key])
    return pa.array(stamps, pa.int64())


def _tier_hints(
    width: pa.Array, height: pa.Array, tier: pa.Array, track: pa.Array
) -> list[int | None]:
    """The reference's `_tier_hint`, once per distinct (width, height, tier, track)."""
    done: dict[tuple[Any, ...], int | None] = {}
    hints = []
    for key in zip(
        width.to_pylist(), height.to_pylist(), tier.to_pylist(), track.to_pylist(), strict=True
    ):
        if key not in done:
            done[key] = _tier_hint({"width": key[0], "height": key[1], "tier": key[2]}, key[3])
        hints.append(done[key])
    return hints


def _duration_us(duration: Any) -> int | None:
    """Exact seconds to integer microseconds, half to even (as the store stages them)."""
    if duration is None:
        return None
    return round_half_even(duration.numerator * US_PER_SECOND, duration.denominator)


def _by_value(
    array: pa.Array, convert: Callable[[Any], Any], out_type: pa.DataType = _STRING
) -> pa.Array:
    """`convert` of each value, called once per distinct value (and once for null)."""
    encoded = array.dictionary_encode()
    converted = pa.array([convert(v) for v in encoded.dictionary.to_pylist()], out_type)
    result = converted.take(encoded.indices)
    if array.null_count:
        result = pc.fill_null(result, pa.scalar(convert(None), out_type))
    return result
