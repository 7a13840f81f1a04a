"""CloudFront standard logs counted in columns (docs/design/cloudfront-columns.md).

The reference path (`sources.cdn.cloudfront.parse_cloudfront` -> `counting.resolve` ->
`counting.rules.count`) takes one line at a time, ~50 µs of Python each. This path gives the
same records for the common lines of a CloudFront standard log, set-based:

1. **Parse in DuckDB.** A private in-memory DuckDB reads the file's lines in order
   (`read_csv` with one column, on both cores), splits them on tabs and checks and decodes
   every value the counting needs (`_parsed_sql`). A line whose values are not all of the
   plain, common shape (see `_ok_conditions`) is marked and goes the reference way.
2. **Resolve and count per batch** of 50k lines: the store gives the index rows of the
   batch's paths as Arrow (`Store.index_rows`) and the same DuckDB joins them and applies
   counting.md 4.1-4.3 in integer arithmetic (`_COUNTED_SQL`), mirroring
   `counting.resolve` for a URL with one whole-file index entry, or none.
3. The counted rows go to the store as Arrow (`ImportSession.add_rows`); every other line of
   the batch (a value of an unusual shape, byte-range index entries, a media object without a
   duration, ...) goes through the reference path right after, in line order.

Lines the parser cannot follow stop the columns: from the first line DuckDB cannot read (a
wrong column count, invalid UTF-8, a CR) or the first comment line after the header (a new
`#Fields` header), the rest of the file takes the reference path. Whole files take it when
this path would not be exact: an origin log, a store without these methods, an environment
with URL patterns or LL-HLS parts (counting.md 4.5 needs records in order), CMCD columns.
`tests/test_cloudfront_columns.py` checks both paths give the same records and receipts.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from streammeter.counting.record import MEDIA_KINDS
from streammeter.counting.resolve import NOTE_UNMAPPED_URL
from streammeter.counting.rows import ROW_SCHEMA, CountedRows
from streammeter.counting.rules import ABORTED_STATUS, NOTE_TIER_INFERRED
from streammeter.model.tiers import TIER_720P, TIER_1080P, TIER_1440P, TIER_2160P, TIER_AUDIO_ONLY
from streammeter.sources.cdn.cloudfront import STANDARD_REQUIRED, Layout, decode_text
from streammeter.sources.cdn.common import MAX_US, MIN_US
from streammeter.store.base import Store

#: Lines per batch handed to the store: ~40 MB of Arrow with the raw lines (500-byte lines).
#: 100k lines took as long and peaked ~100 MB higher (docs/performance.md).
BATCH_LINES = 50_000
#: Files with fewer lines take the reference path: the columns' fixed cost is not worth it.
MIN_LINES = 5_000
#: The private DuckDB's memory limit (it streams; this only bounds its buffers).
MEMORY_LIMIT = "128MB"

# The CMCD dictionary of a query, as `sources.cdn.cmcd._parse_cmcd_fast` takes it: members of
# the common shape (a key alone, an integer, a plain string or a token) separated by commas.
_CMCD_MEMBER = (
    r"[a-z*][a-z0-9_.*-]*"
    r'(=(-?[0-9]{1,15}|"[ !#-\[\]-~]*"|[A-Za-z*][!#$%&' + "''" + r"*+.^_`|~0-9A-Za-z:/-]*))?"
)
_CMCD_DICT = f"{_CMCD_MEMBER}(,[ \\t]*{_CMCD_MEMBER})*"
# A `CMCD=` query whose value is percent-encoded ASCII only: url_decode() then gives exactly
# what `urllib.parse.unquote` gives.
_CMCD_QUERY = r"CMCD=([A-Za-z0-9._~*!'()-]|%[0-7][0-9A-Fa-f])*"
_KEY = r"(^|,)[ \t]*"
#: The "column separator" lines are read with: a line holding one is read the reference way.
_UNIT_SEPARATOR = "\x1f"


@dataclass(frozen=True, slots=True)
class Header:
    """The header block of a standard log: its comment lines and the layout they give."""

    lines: int  # comment lines at the top of the file (the data starts on line lines + 1)
    fields_line_no: int
    fields_line: bytes
    layout: Layout


def read_header(first_lines: list[bytes]) -> Header | None:
    """The file's header block, if it is the plain one this path takes (a `#Fields` line among
    the comment lines that open the file, naming every column the counting needs)."""
    count, fields = 0, None
    for number, line in enumerate(first_lines, start=1):
        text = line.decode("utf-8", errors="replace").rstrip("\r\n")
        if number == 1 and text.startswith("\ufeff"):
            text = text[1:]
        if not text.startswith("#"):
            break
        count = number
        if text.startswith("#Fields:"):
            fields = (number, line, text)
    if fields is None or count == len(first_lines):
        return None
    number, line, text = fields
    names = text[len("#Fields:") :].split()
    layout = Layout.of(names, f"the #Fields header on line {number}", STANDARD_REQUIRED)
    if layout.missing or layout.cmcd or len(set(names)) != len(names):
        return None
    return Header(count, number, line, layout)


def eligible(store: Store, env_key: int, *, origin: bool) -> bool:
    """Whether this environment's files can be counted in columns exactly (module doc)."""
    if origin or not store.counts_rows:
        return False
    return not store.url_patterns(env_key) and not store.llhls_parts_possible(env_key)


# --- 1. parse ---------------------------------------------------------------------------------


def _sql_text(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _parsed_sql(path: Path, header: Header, gzip: bool, nul: bool) -> str:
    """Every data line of the file, in order: the raw line, and its values as the counting
    needs them, with `ok` saying whether all of them are of the common shape. `nul`: the
    file has NUL bytes somewhere (lines with one are the reference's to reject)."""
    layout = header.layout

    def col(key: str) -> str:
        position = layout.at[key]
        return "NULL::VARCHAR" if position < 0 else f"l[{position + 1}]"

    def present(key: str) -> str:  # '-' and '' mean absent (cloudfront._request)
        return f"CASE WHEN {col(key)} IN ('-', '') THEN NULL ELSE {col(key)} END AS v_{key}"

    values = ", ".join(
        present(key)
        for key in (
            "bytes", "content_len", "range_start", "range_end", "query", "result",
            "response_result", "detailed", "method", "stem", "status", "request_id", "ip",
            "user_agent",
        )
    )  # fmt: skip
    source = (
        f"read_csv({_sql_text(str(path))}, delim='{_UNIT_SEPARATOR}', new_line='\\n', "
        f"skip={header.lines}, "
        "header=false, quote='', escape='', auto_detect=false, strict_mode=true, "
        f"compression='{'gzip' if gzip else 'none'}', columns={{'line': 'VARCHAR'}})"
    )
    aborted_source = (
        "coalesce(CASE WHEN v_response_result IS NOT NULL "
        "THEN v_result = 'Error' AND v_response_result <> 'Error' "
        "ELSE v_result = 'Error' AND v_detailed = 'ClientCommError' END, false)"
    )
    return f"""
    WITH split AS (
        SELECT line, string_split(line, chr(9)) AS l FROM {source}
    ), fields AS (
        SELECT line, len(l) AS width, {col("date")} AS v_date, {col("time")} AS v_time, {values}
        FROM split
    ), decoded AS (
        SELECT *,
          -- CloudFront's %25 layer undone (cloudfront.undo_layer), for a `CMCD=` query only
          CASE WHEN starts_with(v_query, 'CMCD=') THEN replace(v_query, '%25', '%') END AS q,
          TRY_CAST(v_bytes AS BIGINT) AS sent, TRY_CAST(v_content_len AS BIGINT) AS content_len,
          TRY_CAST(v_range_start AS BIGINT) AS range_start,
          TRY_CAST(v_range_end AS BIGINT) AS range_end,
          {_instant_sql()} AS ts_us
        FROM fields
    ), cmcd AS (
        SELECT *,
          -- the CMCD dictionary ('' for none; NULL: a query the reference must read)
          CASE WHEN v_query IS NULL THEN ''
               WHEN q IS NOT NULL THEN CASE WHEN regexp_full_match(q, {_sql_text(_CMCD_QUERY)})
                                            THEN url_decode(substr(q, 6)) END
               WHEN v_query ILIKE '%cmcd%' THEN NULL
               ELSE '' END AS cmcd
        FROM decoded
    ), keyed AS (
        SELECT *,
          -- every member's key, read with the strings blanked (they may hold ',' and '=')
          CASE WHEN cmcd = '' THEN []
               WHEN contains(cmcd, '"') THEN regexp_extract_all(
                 regexp_replace(cmcd, '"[^"]*"', '""', 'g'), '{_KEY}([a-z*][a-z0-9_.*-]*)', 2)
               ELSE regexp_extract_all(cmcd, '{_KEY}([a-z*][a-z0-9_.*-]*)', 2) END AS keys
        FROM cmcd
    ), session AS (
        SELECT *,
          CASE WHEN list_contains(keys, 'sid') THEN regexp_extract(cmcd,
            '{_KEY}sid=("([^"]*)"|([A-Za-z*][^, \\t]*))', ['k', 'v', 'string', 'token'])
          END AS sid
        FROM keyed
    )
    SELECT line,
      coalesce(({_ok_conditions(len(layout.names), nul)}), false) AS ok,
      starts_with(coalesce(line, ''), '#') OR starts_with(coalesce(line, ''), chr(65279) || '#')
        AS comment,
      ts_us, v_stem AS path, upper(coalesce(v_method, 'GET')) AS method,
      TRY_CAST(v_status AS SMALLINT) AS status,
      coalesce(sent, 0) AS sent, content_len, range_start, range_end,
      {aborted_source} OR v_status = '{ABORTED_STATUS}'
        OR (content_len IS NOT NULL AND coalesce(sent, 0) < content_len) AS aborted,
      v_request_id AS request_id, v_ip AS client_ip, v_user_agent AS user_agent_raw,
      coalesce(nullif(sid.string, ''), nullif(sid.token, '')) AS session_id,
      CASE WHEN list_contains(keys, 'st')
           THEN regexp_matches(cmcd, '{_KEY}st=("l"|l)(,|$)') ELSE false END AS cmcd_live,
      list_contains(keys, 'br') AS cmcd_br
    FROM session
    """


def _instant_sql() -> str:
    """`cloudfront._standard_instant` of `v_date` and `v_time` (NULL if either is odd)."""
    time_ok = (
        "regexp_full_match(v_time, '([01][0-9]|2[0-3]):[0-5][0-9]:([0-5][0-9]|60)(\\.[0-9]{1,6})?')"
    )
    days = "date_diff('day', DATE '1970-01-01', TRY_CAST(v_date AS DATE))::BIGINT"
    seconds = (
        "substr(v_time, 1, 2)::BIGINT * 3600 + substr(v_time, 4, 2)::BIGINT * 60 "
        "+ substr(v_time, 7, 2)::BIGINT"
    )
    fraction = (
        "CASE WHEN length(v_time) > 8 THEN rpad(substr(v_time, 10), 6, '0')::BIGINT ELSE 0 END"
    )
    return (
        f"CASE WHEN regexp_full_match(v_date, '[0-9]{{4}}-[0-9]{{2}}-[0-9]{{2}}') AND {time_ok} "
        f"THEN ({days} * 86400 + {seconds}) * 1000000 + {fraction} END"
    )


def _ok_conditions(width: int, nul: bool) -> str:
    """SQL: the line's values are all of the shape the columns read exactly as the reference
    parser does; anything else is left to it (and its reasons for rejecting a line)."""
    digits = "'[0-9]{1,15}'"  # a byte count below MAX_BYTES
    return " AND ".join(
        [
            "line IS NOT NULL" + (" AND NOT contains(line, chr(0))" if nul else ""),
            f"width = {width}",
            f"ts_us IS NOT NULL AND ts_us >= {MIN_US} AND ts_us < {MAX_US}",
            "regexp_full_match(coalesce(v_status, ''), '[0-9]{1,3}')",
            "(v_method IS NULL OR regexp_full_match(v_method, '[A-Za-z]+'))",
            # a plain path, what split_target(undo_layer(stem)) gives unchanged: from '/', no
            # '%' or '?', not ending in white space
            "starts_with(v_stem, '/') AND NOT contains(v_stem, '%') AND NOT contains(v_stem, '?')"
            " AND ascii(right(v_stem, 1)) BETWEEN 33 AND 126",
            *(
                f"(v_{key} IS NULL OR regexp_full_match(v_{key}, {digits}))"
                for key in ("bytes", "content_len", "range_start", "range_end")
            ),
            # CMCD: none, or a plain dictionary naming sid and st at most once each
            "cmcd IS NOT NULL",
            f"(cmcd = '' OR (regexp_full_match(cmcd, {_sql_text(_CMCD_DICT)}) "
            # no key twice, and no ',' inside a string: every ',' separates two members, so
            # the key patterns below match members only
            "AND len(list_distinct(keys)) = len(keys) "
            "AND length(cmcd) - length(replace(cmcd, ',', '')) = len(keys) - 1))",
            # sid="" is a session id of '' to the reference (rare: left to it)
            "NOT (list_contains(keys, 'sid') AND contains(cmcd, 'sid=\"\"'))",
        ]
    )


# --- 2. resolve and count ---------------------------------------------------------------------


def _tier_sql(width: str, height: str) -> str:
    """`model.tiers.tier_for_pixels` in SQL."""
    pixels = f"({width}::BIGINT * {height}::BIGINT)"
    return (
        f"CASE WHEN {pixels} <= 921600 THEN {TIER_720P} WHEN {pixels} <= 2073600 "
        f"THEN {TIER_1080P} WHEN {pixels} <= 4194304 THEN {TIER_1440P} ELSE {TIER_2160P} END"
    )


def _round_half_even(numerator: str, denominator: str) -> str:
    """`counting.rules.round_half_even` of two non-negative HUGEINT expressions."""
    q, r = f"(({numerator}) // ({denominator}))", f"(({numerator}) % ({denominator}))"
    return (
        f"({q} + CASE WHEN 2 * {r} > ({denominator}) "
        f"OR (2 * {r} = ({denominator}) AND {q} % 2 = 1) THEN 1 ELSE 0 END)"
    )


_MEDIA = "(" + ", ".join(f"'{kind}'" for kind in sorted(MEDIA_KINDS)) + ")"

# counting.resolve for a request whose path has one whole-file index entry (or none), and
# counting.rules.count of its record; `to_reference` where the reference path must decide.
_RESOLVED_SQL = f"""
WITH joined AS (
    SELECT * EXCLUDE (line, comment, i_path, i_asset_id, i_byte_length, i_iframe),
      i_path IS NOT NULL AS mapped, nullif(i_asset_id, '') AS asset,
      nullif(i_byte_length, 0) AS size0, coalesce(i_iframe, false) AS iframe
    FROM batch_rows
    WHERE ok
), shaped AS (
    SELECT *,
      CASE WHEN NOT mapped THEN 'other' WHEN iframe THEN 'other' ELSE i_kind END AS kind,
      coalesce(i_track, 'video') AS track,
      mapped AND NOT iframe AND i_kind IN {_MEDIA} AS media,
      CASE WHEN mapped AND NOT iframe THEN i_duration_num END AS d_num,
      CASE WHEN mapped AND NOT iframe THEN i_duration_den END AS d_den,
      coalesce(i_width, 0) <> 0 AND coalesce(i_height, 0) <> 0 AS sized
    FROM joined
), fractions AS (
    SELECT *,
      -- counting.resolve._whole_file_fraction: f = f_num / f_den
      CASE
        WHEN status = 206 AND size0 IS NULL THEN
          CASE WHEN range_start <> 0 THEN 0
               WHEN aborted THEN CASE WHEN content_len > 0 THEN least(sent, content_len) ELSE 0 END
               ELSE 1 END
        WHEN aborted THEN CASE WHEN coalesce(size0, content_len) > 0
             THEN least(sent, coalesce(size0, content_len)) ELSE 0 END
        WHEN status = 206 THEN least(size0, greatest(0, least(
             CASE WHEN range_end IS NOT NULL THEN range_end + 1 ELSE size0 END, size0)
             - range_start))
        ELSE 1
      END AS f_num,
      CASE
        WHEN status = 206 AND size0 IS NULL THEN
          CASE WHEN range_start <> 0 THEN 1
               WHEN aborted THEN CASE WHEN content_len > 0 THEN content_len ELSE 1 END
               ELSE 1 END
        WHEN aborted THEN CASE WHEN coalesce(size0, content_len) > 0
             THEN coalesce(size0, content_len) ELSE 1 END
        WHEN status = 206 THEN size0
        ELSE 1
      END AS f_den
    FROM shaped
), counted AS (
    SELECT *,
      CASE WHEN media AND d_num IS NOT NULL AND method = 'GET'
                AND status IN (200, 206, {ABORTED_STATUS})
      THEN {_round_half_even("d_num::HUGEINT * 1000000 * f_num", "d_den::HUGEINT * f_den")}
      ELSE 0 END::BIGINT AS earned_us,
      CASE WHEN media AND track = 'audio-only' THEN {TIER_AUDIO_ONLY}
           WHEN media AND sized THEN {_tier_sql("i_width", "i_height")} END AS tier_hint,
      mapped AND NOT coalesce(
        i_entries = 1 AND i_whole                 -- one whole-file entry: no byte ranges
        AND i_kind <> 'part' AND i_part_index IS NULL
        AND NOT (media AND d_num IS NULL)         -- a duration from CMCD d, or none
        AND NOT (media AND NOT sized AND cmcd_br) -- a tier from CMCD br
        AND NOT (media AND status = 206 AND range_start IS NULL), false
      ) AS to_reference
    FROM fractions
)
SELECT line_no, request_id, ts_us, asset AS asset_id, NULL::VARCHAR AS playback_id,
  NULL::VARCHAR AS live_stream_id, kind, track, tier_hint::TINYINT AS tier_hint,
  CASE WHEN d_num IS NOT NULL
       THEN {_round_half_even("d_num::HUGEINT * 1000000", "d_den::HUGEINT")} END::BIGINT
    AS duration_us,
  sent AS bytes, method, status, sent AS body_bytes, content_len AS object_bytes, session_id,
  earned_us, earned_us AS media_us, CASE WHEN mapped THEN i_rendition_id END AS rendition_id,
  CASE WHEN mapped AND NOT iframe THEN i_media_sequence END AS media_sequence,
  CASE WHEN mapped AND NOT iframe THEN i_part_index END::INTEGER AS part_index,
  cmcd_live OR coalesce(mapped AND i_live, false) AS live, false AS origin,
  client_ip, user_agent, NULL::VARCHAR AS target, false AS additional_target,
  CASE WHEN NOT mapped THEN {_sql_text(NOTE_UNMAPPED_URL)}
       WHEN media AND earned_us > 0 AND tier_hint IS NULL AND track = 'video'
       THEN {_sql_text(NOTE_TIER_INFERRED)} END AS note,
  to_reference
FROM counted
"""


@dataclass(slots=True)
class Batch:
    """One batch of lines: the counted rows, then the lines for the reference path."""

    rows: CountedRows | None
    reference: list[tuple[int, bytes]]  # (line number, raw line), in order


def _decoded_agents(agents: pa.ChunkedArray) -> pa.Table:
    """Each distinct user agent as logged, and decoded (`cloudfront.decode_text`)."""
    raw = pc.unique(agents.drop_null())
    decoded = [decode_text(text) for text in raw.to_pylist()]
    return pa.table({"raw": raw, "decoded": pa.array(decoded, pa.string())})


def _counted_batch(
    con: duckdb.DuckDBPyConnection, store: Store, env_key: int, parsed: pa.Table
) -> Batch:
    """Resolve and count one parsed batch (`parsed`: `_parsed_sql` columns and `line_no`)."""
    ok = parsed.column("ok")
    # The index rows and decoded user agents laid beside each line (Arrow lookups keep the
    # lines' order; the SQL then only filters and computes, which keeps it too).
    index = store.index_rows(env_key, pc.unique(pc.filter(parsed.column("path"), ok)))
    at = pc.index_in(parsed.column("path"), value_set=index.column("path"))
    batch_rows = parsed
    for name, column in zip(index.column_names, index.take(at).columns, strict=True):
        batch_rows = batch_rows.append_column("i_" + name, column)
    agents = _decoded_agents(pc.filter(parsed.column("user_agent_raw"), ok))
    at = pc.index_in(parsed.column("user_agent_raw"), value_set=agents.column("raw"))
    batch_rows = batch_rows.append_column("user_agent", agents.column("decoded").take(at))
    result = con.sql(_RESOLVED_SQL).to_arrow_table()
    del batch_rows
    to_reference = result.column("to_reference")
    fast = result.filter(pc.invert(to_reference)) if pc.any(to_reference).as_py() else result
    # Lines for the reference path: the ones not ok, and the ones it must resolve.
    slow_numbers = pc.filter(result.column("line_no"), to_reference)
    slow_mask = pc.or_(
        pc.invert(parsed.column("ok")), pc.is_in(parsed.column("line_no"), slow_numbers)
    )
    slow = parsed.filter(slow_mask)
    # A request id seen on a reference line and a counted one: the first in line order must
    # win (counting.md 7), so the whole batch goes the reference way, in order.
    slow_ids = slow.column("request_id").drop_null()
    if len(slow_ids) and pc.any(pc.is_in(fast.column("request_id"), slow_ids)).as_py():
        slow, fast = parsed, fast.slice(0, 0)
    reference = [
        (number, line.encode())
        for number, line in zip(
            slow.column("line_no").to_pylist(), slow.column("line").to_pylist(), strict=True
        )
        if line is not None  # a blank line: the reference skips it too
    ]
    rows = None
    if fast.num_rows:
        rows = CountedRows(
            fast.select(ROW_SCHEMA.names).cast(ROW_SCHEMA), fast.column("note").to_pylist()
        )
    return Batch(rows, reference)


class _Prefetch:
    """DuckDB's record batches, read ahead by a thread (DuckDB works without the GIL): the
    next lines are parsed while the store writes the last batch. At most `AHEAD` batches
    (DuckDB's, ~16k lines or ~13 MB each) wait: parsing is ~3x faster than storing, so more
    only hold memory."""

    AHEAD = 4
    _DONE = object()

    def __init__(self, reader: pa.RecordBatchReader) -> None:
        self._queue: queue.Queue[Any] = queue.Queue(self.AHEAD)
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(reader,), daemon=True)
        self._thread.start()

    def _run(self, reader: pa.RecordBatchReader) -> None:
        while not self._stopped.is_set():
            try:
                item: Any = reader.read_next_batch()
            except StopIteration:
                item = self._DONE
            except Exception as exc:  # handed to the reading side, which decides
                item = exc
            while not self._stopped.is_set():
                try:
                    self._queue.put(item, timeout=0.1)
                    break
                except queue.Full:
                    continue
            if item is self._DONE or isinstance(item, Exception):
                return

    def next(self) -> pa.RecordBatch:
        """The next batch; StopIteration at the end, or the reader's error."""
        item = self._queue.get()
        if item is self._DONE:
            self._queue.put(item)  # asked again: still the end
            raise StopIteration
        if isinstance(item, Exception):
            self._queue.put(item)
            raise item
        return item

    def stop(self) -> None:
        """Stop reading ahead (before the connection closes)."""
        self._stopped.set()
        self._thread.join()


def counted_batches(
    store: Store,
    env_key: int,
    path: Path,
    header: Header,
    *,
    first_line: int,
    last_line: int,
    gzip: bool,
    nul: bool,
) -> Iterator[Batch | int]:
    """The file's lines `first_line`..`last_line` as counted batches, in order. If DuckDB
    cannot read on (module doc), yields the number of the first line it did not give, and
    stops: the caller reads the rest the reference way."""
    con = duckdb.connect(config={"memory_limit": MEMORY_LIMIT, "threads": 2})
    parsing: _Prefetch | None = None
    try:
        next_line = header.lines + 1
        try:
            reader = con.sql(_parsed_sql(path, header, gzip, nul)).to_arrow_reader(BATCH_LINES)
        except Exception:  # whatever DuckDB cannot read (see below), the reference can
            yield max(next_line, first_line)
            return
        counting = con.cursor()  # the reader keeps `con` busy until it is drained
        parsing = _Prefetch(reader)  # DuckDB parses on while the store takes a batch
        while True:
            # DuckDB hands out small batches: gather BATCH_LINES lines (fewer statements).
            batches, rows, failed = [], 0, False
            while rows < BATCH_LINES:
                try:
                    batch = parsing.next()
                except StopIteration:
                    break
                except Exception:  # invalid UTF-8, a CR, a line too long, a cut gzip...:
                    failed = True  # DuckDB raises its own errors, Arrow's or OSError
                    break
                batches.append(batch)
                rows += batch.num_rows
            if not batches:
                if next_line <= last_line:  # it stopped early (failed, or fewer lines than
                    yield max(next_line, first_line)  # the scan counted): the reference reads on
                return
            numbers = pa.array(range(next_line, next_line + rows), pa.int64())
            next_line += rows
            parsed = pa.Table.from_batches(batches).append_column("line_no", numbers)
            del batches
            # A comment line (a new #Fields header?), even one in the part of a grown file
            # imported before: the reference reads on from there, the layout in hand.
            comments = pc.filter(numbers, parsed.column("comment"))
            comments = pc.filter(comments, pc.less_equal(comments, last_line))
            first_comment = pc.min(comments).as_py() if len(comments) else None
            end = last_line if first_comment is None else first_comment - 1
            if numbers[0].as_py() < first_line or next_line - 1 > end:
                parsed = parsed.filter(
                    pc.and_(pc.greater_equal(numbers, first_line), pc.less_equal(numbers, end))
                )
            if parsed.num_rows:
                yield _counted_batch(counting, store, env_key, parsed)
            if first_comment is not None:
                yield first_comment
                return
            if next_line > last_line:
                return
            if failed:
                yield max(next_line, first_line)
                return
    finally:
        if parsing is not None:
            parsing.stop()
        con.close()


def with_header(header: Header, lines: Iterable[tuple[int, bytes]]) -> Iterator[tuple[int, bytes]]:
    """`lines` of the file for the reference parser, after the header that lays them out."""
    yield header.fields_line_no, header.fields_line
    yield from lines
