"""The generic delivery-record source: normalized records as NDJSON, CSV, Parquet or JSON.

Field reference: docs/sources/generic.md. A record that cannot be read raises `RecordError`
with a reason a person can act on; the importer quarantines it and goes on.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import zlib
from collections.abc import Iterable, Iterator
from decimal import Decimal, InvalidOperation
from fractions import Fraction
from pathlib import Path
from typing import Any, BinaryIO

import orjson

from streammeter.counting.record import KINDS, TRACKS, DeliveryRecord
from streammeter.model.tiers import TIER_AUDIO_ONLY, tier_for_pixels, tier_from_name
from streammeter.model.times import InvalidTime, parse_instant

FIELDS = frozenset(
    {
        "id", "timestamp", "asset_id", "playback_id", "live_stream_id", "kind", "duration",
        "width", "height", "tier", "track", "bytes", "method", "status", "body_bytes",
        "object_bytes", "session_id", "target", "primary", "live",
    }
)  # fmt: skip
MAX_TEXT = 512
MAX_DURATION_SECONDS = 86_400


class RecordError(ValueError):
    """A record that cannot be counted; `str(error)` is the quarantine reason."""


def _text(raw: dict[str, Any], name: str) -> str | None:
    value = raw.get(name)
    if value is None or value == "":
        return None
    if not isinstance(value, str | int) or isinstance(value, bool):
        raise RecordError(f"{name}: expected a string, got {type(value).__name__}")
    text = str(value)
    if len(text) > MAX_TEXT:
        raise RecordError(f"{name}: longer than {MAX_TEXT} characters")
    return text


#: Above any real value of a field (1 TiB for bytes): larger ones are rejected, so sums in
#: rollups (64-bit) cannot overflow and the store never sees a value it cannot hold.
MAX_INTEGER = 2**40


def _integer(raw: dict[str, Any], name: str, *, minimum: int = 0) -> int | None:
    value = raw.get(name)
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise RecordError(f"{name}: expected an integer, got {value!r}")
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, str):
        try:
            value = int(value.strip())
        except ValueError:
            raise RecordError(f"{name}: expected an integer, got {value!r}") from None
    if not isinstance(value, int):
        raise RecordError(f"{name}: expected an integer, got {value!r}")
    if value < minimum:
        raise RecordError(f"{name}: must be >= {minimum}, got {value}")
    if value > MAX_INTEGER:
        raise RecordError(f"{name}: must be <= {MAX_INTEGER}, got {value}")
    return value


_TRUE, _FALSE = frozenset({"true", "1", "yes"}), frozenset({"false", "0", "no"})


def _boolean(raw: dict[str, Any], name: str) -> bool | None:
    """A JSON boolean, or true/false/1/0/yes/no as text or 0/1 (CSV)."""
    value = raw.get(name)
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower() if isinstance(value, str | int) else None
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise RecordError(f"{name}: expected true or false, got {value!r}")


def _duration(raw: dict[str, Any]) -> Fraction | None:
    value = raw.get("duration")
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise RecordError(f"duration: expected seconds as a number, got {value!r}")
    if isinstance(value, int):
        if not 0 <= value <= MAX_DURATION_SECONDS:
            raise RecordError(f"duration: must be between 0 and {MAX_DURATION_SECONDS} seconds")
        return Fraction(value)
    try:
        exact = Decimal(repr(value) if isinstance(value, float) else str(value).strip())
    except InvalidOperation:
        raise RecordError(f"duration: expected seconds as a number, got {value!r}") from None
    if not exact.is_finite() or exact < 0 or exact > MAX_DURATION_SECONDS:
        raise RecordError(f"duration: must be between 0 and {MAX_DURATION_SECONDS} seconds")
    return Fraction(exact)


def _tier_hint(raw: dict[str, Any], track: str) -> int | None:
    width, height = _integer(raw, "width", minimum=1), _integer(raw, "height", minimum=1)
    if (width is None) != (height is None):
        raise RecordError("width and height must be given together")
    from_pixels = tier_for_pixels(width, height) if width and height else None
    name = _text(raw, "tier")
    from_name = None
    if name is not None:
        from_name = tier_from_name(name)
        if from_name is None:
            raise RecordError(f"tier: {name!r} is not one of 720p, 1080p, 1440p, 2160p, audio-only")
    if from_pixels is not None and from_name is not None and from_pixels != from_name:
        raise RecordError(f"tier {name!r} contradicts width x height {width}x{height}")
    if track == "audio-only":
        return TIER_AUDIO_ONLY
    return from_pixels if from_pixels is not None else from_name


def normalize(raw: Any) -> DeliveryRecord:
    """A raw generic record (dict of JSON values or CSV strings) to a DeliveryRecord."""
    if not isinstance(raw, dict):
        raise RecordError(f"expected a JSON object, got {type(raw).__name__}")
    unknown = sorted(set(raw) - FIELDS)
    if unknown:
        raise RecordError(f"unknown field(s): {', '.join(unknown)}")
    if raw.get("timestamp") in (None, ""):
        raise RecordError("timestamp: missing")
    try:
        ts_us = parse_instant(raw["timestamp"])
    except InvalidTime as exc:
        raise RecordError(f"timestamp: {exc}") from None
    asset_id, playback_id = _text(raw, "asset_id"), _text(raw, "playback_id")
    if asset_id is None and playback_id is None:
        raise RecordError("needs asset_id or playback_id")
    kind = (_text(raw, "kind") or "segment").lower()
    if kind not in KINDS:
        raise RecordError(f"kind: {kind!r} is not one of {', '.join(sorted(KINDS))}")
    track = (_text(raw, "track") or "video").lower()
    if track not in TRACKS:
        raise RecordError(f"track: {track!r} is not one of video, audio, audio-only")
    status = _integer(raw, "status")
    if status is not None and status > 999:
        raise RecordError(f"status: {status} is not an HTTP status")
    body_bytes, object_bytes = _integer(raw, "body_bytes"), _integer(raw, "object_bytes")
    if object_bytes == 0:
        raise RecordError("object_bytes: must be > 0 when given")
    sent = _integer(raw, "bytes")
    # Wowza egress (docs/api/wowza-usage.md): `egress` records are origin pulls by `target`,
    # the environment's primary target unless `primary` is false.
    primary = _boolean(raw, "primary")
    if primary is not None and kind != "egress":
        raise RecordError("primary: only for kind egress (the target of an origin pull)")
    return DeliveryRecord(
        ts_us=ts_us,
        request_id=_text(raw, "id"),
        asset_id=asset_id,
        playback_id=playback_id,
        live_stream_id=_text(raw, "live_stream_id"),
        kind=kind,
        track=track,
        tier_hint=_tier_hint(raw, track),
        duration=_duration(raw),
        bytes=sent if sent is not None else (body_bytes or 0),
        method=(_text(raw, "method") or "GET").upper(),
        status=200 if status is None else status,
        body_bytes=body_bytes,
        object_bytes=object_bytes,
        session_id=_text(raw, "session_id"),
        live=bool(_boolean(raw, "live")),
        origin=kind == "egress",
        target=_text(raw, "target"),
        additional_target=kind == "egress" and primary is False,
    )


# --- reading files and batches -------------------------------------------------------------

#: One item read from a source: (line number, raw text, raw record or why it cannot be read).
RawItem = tuple[int, str, "dict[str, Any] | RecordError"]

FORMATS = ("ndjson", "csv", "parquet")


def detect_format(path: Path) -> str:
    name = path.name.lower().removesuffix(".gz")
    if name.endswith((".ndjson", ".jsonl", ".json")):
        return "ndjson"
    if name.endswith(".csv"):
        return "csv"
    if name.endswith(".parquet"):
        return "parquet"
    raise ValueError(
        f"cannot tell the format of {path.name}: use .ndjson/.jsonl, .csv or .parquet "
        "(optionally .gz), or pass --format"
    )


class _GzipContent(io.RawIOBase):
    """A gzip file's content. A stream cut short (a file still being written, or truncated)
    reads as ending where the data ends, and says so in `truncated`; a corrupt one raises
    ValueError with the reason (never EOFError or zlib.error)."""

    def __init__(self, handle: BinaryIO) -> None:
        self._gzip = gzip.GzipFile(fileobj=handle)
        self._handle = handle
        self.truncated = False

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if self.truncated:
            return 0
        try:
            # read1: one decompression step, so nothing decoded before the cut is lost.
            data = self._gzip.read1(len(buffer))
        except EOFError:
            self.truncated = True
            return 0
        except (OSError, zlib.error) as exc:
            raise ValueError(f"the gzip stream is corrupt: {exc}") from None
        buffer[: len(data)] = data
        return len(data)

    def close(self) -> None:
        if not self.closed:
            self._gzip.close()
            self._handle.close()
        super().close()


def open_content(path: Path) -> BinaryIO:
    """The file's content as bytes, decompressing gzip on the fly (see `_GzipContent`)."""
    handle = path.open("rb")
    if handle.read(2) == b"\x1f\x8b":
        handle.seek(0)
        return io.BufferedReader(_GzipContent(handle))  # type: ignore[return-value]
    handle.seek(0)
    return handle


def is_truncated(stream: BinaryIO) -> bool:
    """Whether `stream` (from `open_content`) was gzip content that ended early."""
    return bool(getattr(getattr(stream, "raw", None), "truncated", False))


def _decode(line: bytes) -> str:
    return line.decode("utf-8", errors="replace").rstrip("\r\n")


def parse_ndjson_lines(lines: Iterable[tuple[int, bytes]]) -> Iterator[RawItem]:
    for line_no, line in lines:
        if not line.strip():
            continue
        try:
            yield line_no, _decode(line), orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            yield line_no, _decode(line), RecordError(f"invalid JSON: {exc}")


def parse_csv_lines(lines: Iterable[tuple[int, bytes]]) -> Iterator[RawItem]:
    header: list[str] | None = None
    for line_no, line in lines:
        raw = _decode(line)
        try:
            text = line.decode("utf-8")
        except UnicodeDecodeError:
            yield line_no, raw, RecordError("invalid UTF-8")
            continue
        if not text.strip():
            continue
        try:
            row = next(csv.reader(io.StringIO(text)))
        except csv.Error as exc:  # e.g. a field larger than the csv module's limit
            yield line_no, raw, RecordError(f"unreadable CSV: {exc}")
            continue
        if header is None:
            header = [name.strip() for name in row]
            continue
        if len(row) != len(header):
            yield line_no, raw, RecordError(f"expected {len(header)} columns, got {len(row)}")
            continue
        yield line_no, raw, dict(zip(header, row, strict=True))


def line_is_complete(fmt: str, line: bytes, csv_header: bytes | None) -> bool:
    """Whether a last line without a newline is a whole record (else it is still being written).

    JSON lines must parse; CSV lines must have the header's width; other text formats are
    taken as complete.
    """
    if line.lstrip().startswith(b"{"):
        try:
            json.loads(line)
        except (ValueError, RecursionError):
            return False
        return True
    if fmt != "csv" or csv_header is None:
        return True
    try:
        width = len(next(csv.reader(io.StringIO(csv_header.decode("utf-8", "replace"))), []))
        return len(next(csv.reader(io.StringIO(line.decode("utf-8", "replace"))), [])) == width
    except csv.Error:
        return True  # read, and quarantined with the reason


def parse_json_batch(body: bytes) -> Iterator[RawItem]:
    """An HTTP batch: a JSON array of records, or NDJSON (numbered from 1).

    An array's items come without raw text (""): `raw_text` makes it, for the few that are
    quarantined, rather than serializing every record again."""
    if body.lstrip().startswith(b"["):
        try:
            items = json.loads(body)
        except ValueError as exc:
            raise RecordError(f"invalid JSON array: {exc}") from None
        for number, item in enumerate(items, start=1):
            yield number, "", item
        return
    yield from parse_ndjson_lines(enumerate(body.splitlines(), start=1))


def raw_text(text: str, value: Any) -> str:
    """An item's raw text for the quarantine: as read, or the item as JSON (array items)."""
    return text or json.dumps(value)[:4096]


def read_parquet(path: Path, batch_rows: int = 50_000) -> Iterator[RawItem]:
    import pyarrow.parquet as pq

    line_no = 0
    for batch in pq.ParquetFile(path).iter_batches(batch_size=batch_rows):
        for row in batch.to_pylist():
            line_no += 1
            present = {k: v for k, v in row.items() if v is not None}
            yield line_no, json.dumps(present, default=str), present
