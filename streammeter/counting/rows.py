"""Counted records as Arrow rows: what the columnar path (ingest/columnar.py) hands a store."""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa

#: The stage columns of a counted record (a store adds `idx` and `receipt_id`).
ROW_SCHEMA = pa.schema(
    [
        ("line_no", pa.int32()),
        ("request_id", pa.string()),
        ("ts_us", pa.int64()),
        ("asset_id", pa.string()),
        ("playback_id", pa.string()),
        ("live_stream_id", pa.string()),
        ("kind", pa.string()),
        ("track", pa.string()),
        ("tier_hint", pa.int8()),
        ("duration_us", pa.int64()),
        ("bytes", pa.int64()),
        ("method", pa.string()),
        ("status", pa.int16()),
        ("body_bytes", pa.int64()),
        ("object_bytes", pa.int64()),
        ("session_id", pa.string()),
        ("earned_us", pa.int64()),
        ("media_us", pa.int64()),
        ("rendition_id", pa.string()),
        ("media_sequence", pa.int64()),
        ("part_index", pa.int32()),
        ("live", pa.bool_()),
        ("origin", pa.bool_()),
        ("client_ip", pa.string()),
        ("user_agent", pa.string()),
        ("target", pa.string()),
        ("additional_target", pa.bool_()),
    ]
)


@dataclass(slots=True)
class CountedRows:
    """A plain batch normalized and counted: one row per record, all of them readable."""

    rows: pa.Table  # ROW_SCHEMA
    notes: list[str | None]  # each record's `Counted.note`

    def __len__(self) -> int:
        return self.rows.num_rows
