"""Import files and batches of generic records (counting.md section 7).

A file is read twice: first to hash its content (so a re-import is a no-op and a file that
grew imports only its new lines), then to parse, count and store it in one transaction.
Memory stays bounded: records go to the store in chunks.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import sys
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import pyarrow as pa
import pyarrow.compute as pc

from streammeter.counting.record import Counted, DeliveryRecord
from streammeter.counting.rows import CountedRows
from streammeter.counting.rules import count
from streammeter.ingest import cloudfront_columns
from streammeter.ingest.columnar import plain_rows
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
    raw_text,
    read_parquet,
)
from streammeter.sources.generic import detect_format as detect_format_by_name
from streammeter.store.base import (
    ImportGroup,
    ImportSession,
    Receipt,
    ReceiptDraft,
    Store,
    StoreFull,
)

CHUNK_RECORDS = 20_000
BLOCK_BYTES = 1 << 20
MAX_BATCH_RECORDS = 10_000
MAX_BATCH_BYTES = 10 * 1024 * 1024

log = logging.getLogger(__name__)

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
    nul: bool = False  # NUL bytes somewhere (a corrupt write): their lines are rejected


def _scan_text(path: Path, fmt: str, offsets: Iterable[int]) -> _Scan:
    wanted = sorted(set(offsets))
    hasher, position, lines = hashlib.sha256(), 0, 0
    prefix: dict[int, tuple[str, int]] = {}
    header: bytes | None = None
    carry = b""
    nul = False
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
            nul = nul or b"\x00" in complete
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
    nul = nul or b"\x00" in carry
    return _Scan(hasher.hexdigest(), position, lines, prefix, held_back, truncated, nul)


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
    for line_no, text, value in items:
        if isinstance(value, RecordError):
            yield line_no, text, value, []
            continue
        try:
            yield line_no, text, normalize(value), []
        except RecordError as exc:
            yield line_no, raw_text(text, value), exc, []


#: An item ready for the store: (line, raw text, record, its counting) or, for a line that
#: cannot be read, (line, raw text, the reason, None).
CountedItem = tuple[int, str, DeliveryRecord | RecordError, Counted | None]
#: What an import stores, in line order: items, or lines already counted as Arrow rows.
Piece = CountedItem | CountedRows


def _counting(items: Iterable[NormalizedItem]) -> Iterator[CountedItem]:
    """Count each readable record (counting.md); unreadable lines pass with their reason."""
    for line_no, text, record, notes in items:
        if isinstance(record, RecordError):
            yield line_no, text, record, None
            continue
        counted = count(record)
        if notes:
            counted.notes = notes
        yield line_no, text, record, counted


class _Answer:
    """One import's tally and per-record outcomes, filled as its items are processed.

    Without `outcomes_wanted` (file imports, whose receipt is all the caller needs) the
    outcome list stays empty, so memory does not grow with the file's length."""

    def __init__(self, outcomes_wanted: bool = True) -> None:
        self.tally = _Tally()
        self.outcomes: list[dict[str, object]] = []
        self._keep = outcomes_wanted

    def reject(self, session: ImportSession, line_no: int, reason: str, text: str) -> None:
        session.reject(line_no, reason, text)
        self.tally.lines_read += 1
        self.tally.rejected += 1
        self.tally.notes["rejected: " + reason.split(":")[0]] += 1
        if self._keep:
            self.outcomes.append({"line": line_no, "status": "rejected", "reason": reason})

    def stored(
        self, items: Sequence[tuple[int, DeliveryRecord, Counted]], statuses: list[str]
    ) -> None:
        """Take the store's status ('accepted' or 'duplicate') of each of `items`."""
        self._tally(
            [line_no for line_no, _, _ in items],
            [record.ts_us for _, record, _ in items],
            [[c.note, *c.notes] if c.notes else [c.note] for _, _, c in items],
            statuses,
        )

    def stored_rows(self, counted: CountedRows, statuses: list[str]) -> None:
        """`stored` for counted rows (ingest/columnar.py), column by column."""
        rows = counted.rows
        if self._keep:
            lines = rows.column("line_no").to_pylist()
            pairs = zip(lines, statuses, strict=True)
            self.outcomes += [{"line": line, "status": status} for line, status in pairs]
        accepted = pc.equal(pa.array(statuses, pa.string()), "accepted")
        tally = self.tally
        tally.lines_read += len(statuses)
        stored = pc.sum(accepted).as_py() or 0
        tally.accepted += stored
        tally.duplicate += len(statuses) - stored
        if not stored:
            return
        notes = pc.filter(pa.array(counted.notes, pa.string()), accepted).drop_null()
        for item in pc.value_counts(notes).to_pylist():
            tally.notes[item["values"]] += item["counts"]
        low, high = pc.min_max(pc.filter(rows.column("ts_us"), accepted)).values()
        for stamp in (low.as_py(), high.as_py()):
            tally.first_ts = stamp if tally.first_ts is None else min(tally.first_ts, stamp)
            tally.last_ts = stamp if tally.last_ts is None else max(tally.last_ts, stamp)

    def _tally(
        self,
        line_nos: list[int],
        stamps: list[int],
        notes: list[list[str | None]],
        statuses: list[str],
    ) -> None:
        tally = self.tally
        tally.lines_read += len(statuses)
        rows = zip(line_nos, stamps, notes, statuses, strict=True)
        for line_no, ts, row_notes, status in rows:
            if self._keep:
                self.outcomes.append({"line": line_no, "status": status})
            if status == "duplicate":
                tally.duplicate += 1
                continue
            tally.accepted += 1
            for note in row_notes:
                if note:
                    tally.notes[note] += 1
            tally.first_ts = ts if tally.first_ts is None else min(tally.first_ts, ts)
            tally.last_ts = ts if tally.last_ts is None else max(tally.last_ts, ts)

    def counts(self, session: ImportSession) -> dict[str, object]:
        """The receipt's counts, with the session's attribution notes."""
        for note, number in session.attribution_notes().items():
            self.tally.notes[note] += number
        return self.tally.as_counts()

    def sorted_outcomes(self) -> list[dict[str, object]]:
        return sorted(self.outcomes, key=lambda item: item["line"])  # type: ignore[arg-type, return-value]


def _observe(receipt: Receipt) -> None:
    """A committed receipt: count it in /metrics (docs/metrics.md) of the process serving
    them. A process without the service loaded (a CLI import) has no /metrics to count in,
    and does not import the web stack for it."""
    metrics = sys.modules.get("streammeter.api.metrics")
    if metrics is not None:
        metrics.observe_receipt(receipt)


def _process_in_transaction(
    store: Store,
    env_key: int,
    draft: ReceiptDraft,
    items: Iterable[Piece],
    progress: Progress | None = None,
    total_lines: int = 0,
    *,
    outcomes_wanted: bool = True,
) -> tuple[Receipt, list[dict[str, object]]]:
    """Store counted `items` in one transaction; per-item outcomes returned (see `_Answer`)."""
    answer = _Answer(outcomes_wanted)
    with store.importing(env_key, draft) as session:
        # Checked again inside the transaction (callers looked before it began): two imports
        # of the same content at once, e.g. a client retrying while its first attempt still
        # runs, commit once; the second is a no-op (docs/reliability.md).
        earlier = store.find_receipt_by_content(env_key, draft.content_sha256)
        if earlier:
            raise _AlreadyImported(earlier)
        pending: list[tuple[int, DeliveryRecord, Counted]] = []

        def flush() -> None:
            answer.stored(pending, session.add(pending))
            pending.clear()
            if progress:
                progress(answer.tally.lines_read, total_lines)

        for item in items:
            if isinstance(item, CountedRows):  # lines counted in columns, after those before
                if pending:
                    flush()
                answer.stored_rows(item, session.add_rows(item))
                if progress:
                    progress(answer.tally.lines_read, total_lines)
                continue
            line_no, text, record, counted = item
            if isinstance(record, RecordError):
                answer.reject(session, line_no, str(record), text)
                continue
            pending.append((line_no, record, counted))  # type: ignore[arg-type]
            if len(pending) >= CHUNK_RECORDS:
                flush()
        if pending:
            flush()
        receipt = session.finish(answer.counts(session))
    _observe(receipt)
    return receipt, answer.sorted_outcomes()


def _process(
    store: Store,
    env_key: int,
    draft: ReceiptDraft,
    items: Iterable[Piece],
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
            return _process(
                store, env_key, draft, _counting(items), progress, rows, outcomes_wanted=False
            )[0]
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
    pieces: Iterable[Piece] | None = None
    if fmt == "cloudfront" and scan.lines - skip >= cloudfront_columns.MIN_LINES:
        pieces = _cloudfront_in_columns(store, env_key, path, scan, skip, origin=origin)
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
            store, env_key, draft, pieces if pieces is not None else _counting(items), progress,
            scan.lines - skip, outcomes_wanted=False,
        )[0]  # fmt: skip
    except _AlreadyImported as done:
        return done.receipt
    if scan.held_back:
        receipt.notes["incomplete last line held back until it ends"] = 1
    if scan.truncated:
        receipt.notes["gzip stream ends early: read up to the cut"] = 1
    return receipt


def _cloudfront_reference(
    store: Store, env_key: int, lines: Iterable[tuple[int, bytes]], skip: int
) -> Iterator[CountedItem]:
    """CloudFront lines the reference way: parse, resolve, count (lines after `skip`)."""
    from streammeter.ingest.cdn import resolve_lines
    from streammeter.sources.cdn.cloudfront import parse_cloudfront

    parsed = (item for item in parse_cloudfront(lines) if item[0] > skip)
    return _counting(resolve_lines(store, env_key, parsed))


def _cloudfront_in_columns(
    store: Store, env_key: int, path: Path, scan: _Scan, skip: int, *, origin: bool
) -> Iterator[Piece] | None:
    """A CloudFront standard log counted in columns where that is exact
    (ingest/cloudfront_columns.py), else None (the reference path reads it)."""
    header = cloudfront_columns.read_header(_first_lines(path))
    if header is None or not cloudfront_columns.eligible(store, env_key, origin=origin):
        return None
    with path.open("rb") as handle:
        gzip = handle.read(2) == b"\x1f\x8b"

    def pieces() -> Iterator[Piece]:
        batches = cloudfront_columns.counted_batches(
            store, env_key, path, header, first_line=skip + 1, last_line=scan.lines,
            gzip=gzip, nul=scan.nul,
        )  # fmt: skip
        for batch in batches:
            if isinstance(batch, int):  # DuckDB stopped there: the reference reads on
                rest = _text_lines(path, scan.size, batch - 1)
                yield from _cloudfront_reference(
                    store, env_key, cloudfront_columns.with_header(header, rest), skip
                )
                return
            if batch.rows is not None:
                yield batch.rows
            if batch.reference:
                lines = cloudfront_columns.with_header(header, batch.reference)
                yield from _cloudfront_reference(store, env_key, lines, skip)

    return pieces()


@dataclass(slots=True)
class PreparedBatch:
    """An HTTP batch parsed and counted (no store needed yet): what importing it takes.

    A plain batch is counted as Arrow `rows` (ingest/columnar.py); its `items` (the reference
    path's records) are made only if a store or an answer needs them."""

    draft: ReceiptDraft
    body: bytes
    rows: CountedRows | None = None
    _items: list[CountedItem] | None = None

    @property
    def items(self) -> list[CountedItem]:
        if self._items is None:
            self._items = list(_counting(_generic(parse_json_batch(self.body))))
        return self._items

    @property
    def records(self) -> int:
        """Items in the batch (readable or not)."""
        return len(self.rows) if self.rows is not None else len(self.items)

    def split(self) -> tuple[list[CountedItem], list[tuple[int, DeliveryRecord, Counted]]]:
        """Its unreadable items, and its counted records as the store takes them."""
        rejects = [item for item in self.items if item[3] is None]
        counted = [(line, rec, c) for line, _, rec, c in self.items if c is not None]
        return rejects, counted  # type: ignore[return-value]


#: A batch's answer: its receipt and per-record outcomes, or the error it failed with.
BatchResult = tuple[Receipt, list[dict[str, object]]]


def prepare_batch(
    body: bytes, count_plain: Callable[[bytes], CountedRows | None] = plain_rows
) -> PreparedBatch:
    """Parse, normalize and count an HTTP batch (JSON array or NDJSON); BatchTooLarge beyond
    the limits, RecordError if it cannot be read at all. `count_plain`: how a plain batch is
    counted in columns (`plain_rows`, or a `CountingPool` of child processes)."""
    if len(body) > MAX_BATCH_BYTES:
        raise BatchTooLarge(f"a batch is at most {MAX_BATCH_BYTES} bytes; send smaller batches")
    sha = hashlib.sha256(body).hexdigest()
    draft = ReceiptDraft("batch", "POST /v1/events", "json", sha, sha, len(body))
    batch = PreparedBatch(draft, body, count_plain(body))
    if batch.records > MAX_BATCH_RECORDS:
        raise BatchTooLarge(
            f"a batch is at most {MAX_BATCH_RECORDS} records, got {batch.records}; split it"
        )
    return batch


def import_batch(store: Store, env_key: int, body: bytes) -> BatchResult:
    """Import an HTTP batch (JSON array or NDJSON). Returns its receipt and per-record outcomes.

    Posting the same body again is a no-op: valid records answer `duplicate`.
    """
    return import_prepared(store, env_key, prepare_batch(body))


def import_prepared(store: Store, env_key: int, batch: PreparedBatch) -> BatchResult:
    """`import_batch` of a prepared batch: one transaction of its own."""
    earlier = store.find_receipt_by_content(env_key, batch.draft.content_sha256)
    if earlier is None:
        try:
            return _process(store, env_key, batch.draft, batch.items)
        except _AlreadyImported as done:
            earlier = done.receipt
    return _already_imported(earlier, batch)


def _already_imported(earlier: Receipt, batch: PreparedBatch) -> BatchResult:
    """The answer to a batch whose content was imported before: its valid records are
    duplicates, its unreadable ones rejected again."""
    if batch.rows is not None:  # every record readable
        lines = batch.rows.rows.column("line_no").to_pylist()
        return dataclasses.replace(earlier, already_imported=True), [
            {"line": line_no, "status": "duplicate"} for line_no in lines
        ]
    outcomes: list[dict[str, object]] = [
        {"line": line_no, "status": "rejected", "reason": str(record)}
        if counted is None
        else {"line": line_no, "status": "duplicate"}
        for line_no, _, record, counted in batch.items
    ]
    return dataclasses.replace(earlier, already_imported=True), outcomes


def import_batches(
    store: Store, env_key: int, batches: Sequence[PreparedBatch]
) -> list[BatchResult | Exception]:
    """Import batches of one environment as if one after the other, in one transaction when
    the store can (group commit, docs/reliability.md); each answer as `import_batch` gives it,
    or the error it raised. If the group's transaction fails, the batches are imported one by
    one, so each gets its own success or its own error."""
    columnar = batches[0].rows is not None  # a group of one is worth it for counted rows
    opened = store.importing_group(env_key) if len(batches) > 1 or columnar else None
    if opened is not None:
        try:
            return list(_import_group(store, env_key, opened, batches))
        except Exception as exc:
            log.warning("a group of %d batches failed (%s): importing them one by one",
                        len(batches), exc)  # fmt: skip
    return [_import_alone(store, env_key, batch) for batch in batches]


def _import_alone(store: Store, env_key: int, batch: PreparedBatch) -> BatchResult | Exception:
    try:
        return import_prepared(store, env_key, batch)
    except Exception as exc:
        return exc


def _add_rows(group: ImportGroup, new: list[tuple[ImportSession, _Answer, PreparedBatch]]) -> None:
    """Batches counted as rows: all of their records are readable."""
    parts = [(session, cast(CountedRows, batch.rows)) for session, _, batch in new]
    for (_, answer, _), (_, rows), statuses in zip(new, parts, group.add_rows(parts), strict=True):
        answer.stored_rows(rows, statuses)


def _add_items(group: ImportGroup, new: list[tuple[ImportSession, _Answer, PreparedBatch]]) -> None:
    """Batches as the reference path counts them (a group with one not plain)."""
    parts = []
    for session, answer, batch in new:
        rejects, counted = batch.split()
        for line_no, text, reason, _ in rejects:
            answer.reject(session, line_no, str(reason), text)
        parts.append((session, counted))
    for (_, answer, _), (_, counted), statuses in zip(new, parts, group.add(parts), strict=True):
        answer.stored(counted, statuses)


def _import_group(
    store: Store,
    env_key: int,
    opened: AbstractContextManager[ImportGroup],
    batches: Sequence[PreparedBatch],
) -> list[BatchResult]:
    """All `batches` in one transaction: each new content gets a session and its receipt; a
    content imported before (or earlier in the group) is answered as already imported."""
    shas = [batch.draft.content_sha256 for batch in batches]
    new: dict[str, tuple[ImportSession, _Answer, PreparedBatch]] = {}
    with opened as group:
        earlier = store.find_receipts_by_content(env_key, shas)  # inside: see _process
        for batch, sha in zip(batches, shas, strict=True):
            if sha not in earlier and sha not in new:
                new[sha] = (group.session(batch.draft), _Answer(), batch)
        if all(batch.rows is not None for _, _, batch in new.values()):
            _add_rows(group, list(new.values()))
        else:
            _add_items(group, list(new.values()))
        receipts = group.finish([(s, answer.counts(s)) for s, answer, _ in new.values()])
    done = dict(zip(new, receipts, strict=True))
    answered: set[str] = set()
    for receipt in receipts:
        _observe(receipt)
    results: list[BatchResult] = []
    for batch, sha in zip(batches, shas, strict=True):
        if sha in done and sha not in answered:
            answered.add(sha)
            results.append((done[sha], new[sha][1].sorted_outcomes()))
        else:  # imported before, or an identical body earlier in this group
            results.append(_already_imported(earlier.get(sha) or done[sha], batch))
    return results
