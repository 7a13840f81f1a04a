"""Import files and batches of generic records (counting.md section 7).

A file is read twice: first to hash its content (so a re-import is a no-op and a file that
grew imports only its new lines), then to parse, count and store it in one transaction.
Memory stays bounded: records go to the store in chunks.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from streammeter.counting.rules import count
from streammeter.ingest.items import NormalizedItem
from streammeter.sources.generic import (
    RawItem,
    RecordError,
    is_truncated,
    line_is_complete,
    normalize,
    open_content,
    parse_csv_lines,
    parse_json_batch,
    parse_ndjson_lines,
    read_parquet,
)
from streammeter.sources.generic import detect_format as detect_format_by_name
from streammeter.store.base import Receipt, ReceiptDraft, Store, StoreFull

CHUNK_RECORDS = 20_000
BLOCK_BYTES = 1 << 20
MAX_BATCH_RECORDS = 10_000
MAX_BATCH_BYTES = 10 * 1024 * 1024

#: progress(lines_done, lines_total)
Progress = Callable[[int, int], None]


class BatchTooLarge(ValueError):
    pass


class _AlreadyImported(Exception):
    """The same content committed (concurrently) before this import's transaction began."""

    def __init__(self, receipt: Receipt) -> None:
        super().__init__(receipt.receipt_id)
        receipt.already_imported = True
        self.receipt = receipt


@dataclass
class _Scan:
    """Pass one over a text file: what will be imported and how it relates to earlier imports."""

    sha256: str
    size: int  # bytes to import (a trailing line still being written is held back)
    lines: int  # physical lines in those bytes
    prefix: dict[int, tuple[str, int]] = field(default_factory=dict)  # offset -> (sha, lines)
    held_back: bool = False
    truncated: bool = False  # gzip content that ends early: only what it holds is read


def _scan_text(path: Path, fmt: str, offsets: Iterable[int]) -> _Scan:
    wanted = sorted(set(offsets))
    hasher, position, lines = hashlib.sha256(), 0, 0
    prefix: dict[int, tuple[str, int]] = {}
    header: bytes | None = None
    carry = b""
    with open_content(path) as stream:
        while block := stream.read(BLOCK_BYTES):
            data = carry + block
            cut = data.rfind(b"\n") + 1
            complete, carry = data[:cut], data[cut:]
            if fmt == "csv" and header is None and b"\n" in complete:
                header = complete[: complete.index(b"\n")]
            while wanted and wanted[0] <= position + len(complete):
                offset = wanted.pop(0)
                head = complete[: offset - position]
                snapshot = hasher.copy()
                snapshot.update(head)
                prefix[offset] = (snapshot.hexdigest(), lines + head.count(b"\n"))
            hasher.update(complete)
            position += len(complete)
            lines += complete.count(b"\n")
        truncated = is_truncated(stream)
    held_back = False
    if carry:
        if line_is_complete(fmt, carry, header):
            hasher.update(carry)
            position += len(carry)
            lines += 1
            for offset in wanted:
                if offset == position:
                    prefix[offset] = (hasher.hexdigest(), lines)
        else:
            held_back = True
    return _Scan(hasher.hexdigest(), position, lines, prefix, held_back, truncated)


def _sha256_file(path: Path) -> str:
    hasher = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(BLOCK_BYTES):
            hasher.update(block)
    return hasher.hexdigest()


def _text_lines(path: Path, size: int, skip: int) -> Iterator[tuple[int, bytes]]:
    """Physical lines (numbered from 1) in the first `size` bytes, after `skip` lines."""
    with open_content(path) as stream:
        consumed = 0
        for number, line in enumerate(stream, start=1):
            if consumed >= size:
                return
            consumed += len(line)
            if number > skip:
                yield number, line


class _Tally:
    """Counts for a receipt, filled as items are processed."""

    def __init__(self) -> None:
        self.lines_read = self.accepted = self.duplicate = self.rejected = 0
        self.notes: Counter[str] = Counter()
        self.first_ts: int | None = None
        self.last_ts: int | None = None

    def as_counts(self) -> dict[str, object]:
        return {
            "lines_read": self.lines_read,
            "accepted": self.accepted,
            "duplicate": self.duplicate,
            "rejected": self.rejected,
            "notes": dict(sorted(self.notes.items())),
            "first_ts_us": self.first_ts,
            "last_ts_us": self.last_ts,
        }


def _generic(items: Iterable[RawItem]) -> Iterator[NormalizedItem]:
    """Raw generic records to delivery records (or the reason they cannot be read)."""
    for line_no, raw_text, value in items:
        if isinstance(value, RecordError):
            yield line_no, raw_text, value, []
            continue
        try:
            yield line_no, raw_text, normalize(value), []
        except RecordError as exc:
            yield line_no, raw_text, exc, []


def _process_in_transaction(
    store: Store,
    env_key: int,
    draft: ReceiptDraft,
    items: Iterable[NormalizedItem],
    progress: Progress | None = None,
    total_lines: int = 0,
    *,
    outcomes_wanted: bool = True,
) -> tuple[Receipt, list[dict[str, object]]]:
    """Count and store normalized `items` in one transaction; per-item outcomes returned.

    Without `outcomes_wanted` (file imports, whose receipt is all the caller needs) the
    outcome list stays empty, so memory does not grow with the file's length.
    """
    tally = _Tally()
    outcomes: list[dict[str, object]] = []
    keep = outcomes_wanted
    with store.importing(env_key, draft) as session:
        # Checked again inside the transaction (callers looked before it began): two imports
        # of the same content at once, e.g. a client retrying while its first attempt still
        # runs, commit once; the second is a no-op (docs/reliability.md).
        earlier = store.find_receipt_by_content(env_key, draft.content_sha256)
        if earlier:
            raise _AlreadyImported(earlier)
        pending: list[tuple[int, object, object]] = []

        def flush() -> None:
            statuses = session.add(pending)  # type: ignore[arg-type]
            for (line_no, record, counted), status in zip(pending, statuses, strict=True):
                if keep:
                    outcomes.append({"line": line_no, "status": status})
                if status == "duplicate":
                    tally.duplicate += 1
                    continue
                tally.accepted += 1
                if counted.note:  # type: ignore[attr-defined]
                    tally.notes[counted.note] += 1  # type: ignore[attr-defined]
                for note in counted.notes:  # type: ignore[attr-defined]
                    tally.notes[note] += 1
                ts = record.ts_us  # type: ignore[attr-defined]
                tally.first_ts = ts if tally.first_ts is None else min(tally.first_ts, ts)
                tally.last_ts = ts if tally.last_ts is None else max(tally.last_ts, ts)
            pending.clear()
            if progress:
                progress(tally.lines_read, total_lines)

        for line_no, raw_text, record, notes in items:
            tally.lines_read += 1
            if isinstance(record, RecordError):
                reason = str(record)
                session.reject(line_no, reason, raw_text)
                tally.rejected += 1
                tally.notes["rejected: " + reason.split(":")[0]] += 1
                if keep:
                    outcomes.append({"line": line_no, "status": "rejected", "reason": reason})
                continue
            counted = count(record)
            if notes:
                counted.notes = notes
            pending.append((line_no, record, counted))
            if len(pending) >= CHUNK_RECORDS:
                flush()
        if pending:
            flush()
        for note, number in session.attribution_notes().items():
            tally.notes[note] += number
        receipt = session.finish(tally.as_counts())
    outcomes.sort(key=lambda item: item["line"])  # type: ignore[arg-type, return-value]
    from streammeter.api.metrics import observe_receipt  # lazy: streammeter.api imports us

    observe_receipt(receipt)  # committed: count it in /metrics (docs/metrics.md)
    return receipt, outcomes


def _process(
    store: Store,
    env_key: int,
    draft: ReceiptDraft,
    items: Iterable[NormalizedItem],
    progress: Progress | None = None,
    total_lines: int = 0,
    *,
    outcomes_wanted: bool = True,
) -> tuple[Receipt, list[dict[str, object]]]:
    try:
        return _process_in_transaction(
            store, env_key, draft, items, progress, total_lines, outcomes_wanted=outcomes_wanted
        )
    except StoreFull:
        # The disk filled up. Usually the transaction is rolled back; but if only the
        # checkpoint after the commit failed, the import is in the log: say so, as a retry would.
        committed = None
        with suppress(Exception):
            committed = store.find_receipt_by_content(env_key, draft.content_sha256)
        if committed is None:
            raise
        raise _AlreadyImported(committed) from None


GENERIC_FORMATS = ("ndjson", "csv", "parquet")
SNIFF_LINES = 20


def _first_lines(path: Path) -> list[bytes]:
    with open_content(path) as stream:
        return [line for _, line in zip(range(SNIFF_LINES), stream, strict=False)]


def resolve_format(path: Path, fmt: str | None, name: str) -> str:
    """`auto` (or None): what the content looks like, else the generic format by extension."""
    from streammeter.sources.cdn.formats import FORMATS, detect_format

    if fmt in (None, "auto"):
        sniffed = None if name.lower().endswith(".parquet") else detect_format(_first_lines(path))
        if sniffed is not None and sniffed != "generic":
            return sniffed
        return detect_format_by_name(Path(name))
    if fmt == "generic":
        return detect_format_by_name(Path(name))
    if fmt not in GENERIC_FORMATS and fmt not in FORMATS:
        known = ", ".join(["auto", "generic", *GENERIC_FORMATS, *FORMATS])
        raise ValueError(f"unknown format {fmt!r}; use one of {known}")
    return fmt


def import_file(
    store: Store,
    env_key: int,
    path: Path,
    fmt: str | None = None,
    progress: Progress | None = None,
    source_name: str | None = None,
    *,
    origin: bool = False,
    options: dict[str, Any] | None = None,
) -> Receipt:
    """Import one file; a no-op (the receipt says so) if its content was already imported.

    `fmt`: a generic format (ndjson, csv, parquet), an access-log format (cloudfront, ...),
    or `auto`. `origin`: the file is an origin log (egress, counting.md 3). `source_name` names
    the file in receipts (default: its absolute path); a later import under the same name
    that extends the same content counts only the new lines.
    """
    name = source_name or str(path.resolve())
    fmt = resolve_format(path, fmt, name)
    if fmt == "parquet":
        sha = _sha256_file(path)
        earlier = store.find_receipt_by_content(env_key, sha)
        if earlier:
            earlier.already_imported = True
            return earlier
        import pyarrow.parquet as pq

        draft = ReceiptDraft("file", name, fmt, sha, sha, path.stat().st_size)
        rows = pq.ParquetFile(path).metadata.num_rows
        items = _generic(read_parquet(path))
        try:
            return _process(store, env_key, draft, items, progress, rows, outcomes_wanted=False)[0]
        except _AlreadyImported as done:
            return done.receipt

    candidates = store.latest_receipts_for_name(env_key, name)
    scan = _scan_text(path, fmt, [r.byte_size for r in candidates])
    earlier = store.find_receipt_by_content(env_key, scan.sha256)
    if earlier:
        earlier.already_imported = True
        return earlier
    parent = next(
        (
            r
            for r in candidates
            if r.byte_size < scan.size
            and scan.prefix.get(r.byte_size, ("", 0))[0] == r.content_sha256
        ),
        None,
    )
    skip = scan.prefix[parent.byte_size][1] if parent else 0
    draft = ReceiptDraft(
        "file",
        name,
        fmt + (" (origin)" if origin else ""),
        content_sha256=scan.sha256,
        root_sha256=parent.root_sha256 if parent else scan.sha256,
        byte_size=scan.size,
        parent_receipt_id=parent.receipt_id if parent else None,
        line_offset=skip,
    )
    # Only NDJSON can skip lines unread: other formats need their header (CSV, #Fields).
    lines = _text_lines(path, scan.size, skip if fmt == "ndjson" else 0)
    items: Iterable[NormalizedItem]
    if fmt in GENERIC_FORMATS:
        parsed = parse_csv_lines(lines) if fmt == "csv" else parse_ndjson_lines(lines)
        items = _generic(item for item in parsed if item[0] > skip)
    else:
        from streammeter.ingest.cdn import resolve_lines
        from streammeter.sources.cdn.formats import FORMATS

        source = FORMATS[fmt]
        draft.bytes_measure = (
            f"body bytes where {fmt} logs them, else {source.bytes_measure}; "
            f"instant: {source.instant}"
        )
        parsed_lines = (i for i in source.parse(lines, options or {}) if i[0] > skip)
        items = resolve_lines(store, env_key, parsed_lines, origin=origin)
    try:
        receipt = _process(
            store, env_key, draft, items, progress, scan.lines - skip, outcomes_wanted=False
        )[0]
    except _AlreadyImported as done:
        return done.receipt
    if scan.held_back:
        receipt.notes["incomplete last line held back until it ends"] = 1
    if scan.truncated:
        receipt.notes["gzip stream ends early: read up to the cut"] = 1
    return receipt


def import_batch(
    store: Store, env_key: int, body: bytes
) -> tuple[Receipt, list[dict[str, object]]]:
    """Import an HTTP batch (JSON array or NDJSON). Returns its receipt and per-record outcomes.

    Posting the same body again is a no-op: valid records answer `duplicate`.
    """
    if len(body) > MAX_BATCH_BYTES:
        raise BatchTooLarge(f"a batch is at most {MAX_BATCH_BYTES} bytes; send smaller batches")
    items = list(parse_json_batch(body))
    if len(items) > MAX_BATCH_RECORDS:
        raise BatchTooLarge(
            f"a batch is at most {MAX_BATCH_RECORDS} records, got {len(items)}; split it"
        )
    sha = hashlib.sha256(body).hexdigest()
    earlier = store.find_receipt_by_content(env_key, sha)
    if earlier is None:
        draft = ReceiptDraft("batch", "POST /v1/events", "json", sha, sha, len(body))
        try:
            return _process(store, env_key, draft, _generic(items))
        except _AlreadyImported as done:
            earlier = done.receipt
    earlier.already_imported = True
    outcomes: list[dict[str, object]] = []
    for line_no, _, value in items:
        try:
            if isinstance(value, RecordError):
                raise value
            normalize(value)
            outcomes.append({"line": line_no, "status": "duplicate"})
        except RecordError as exc:
            outcomes.append({"line": line_no, "status": "rejected", "reason": str(exc)})
    return earlier, outcomes
