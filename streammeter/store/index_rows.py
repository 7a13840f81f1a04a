"""The URL index as rows, shared by the stores: input checks, rows to entries, summaries.

Objects are keyed by (env_key, path, byte_start) with `WHOLE_FILE` (-1) standing for "the
whole file" (no NULL in keys); durations are stored exactly as numerator and denominator.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from fractions import Fraction
from typing import Any

import pyarrow as pa

from streammeter.index.common import KINDS, TRACKS, unique
from streammeter.index.entry import IndexObject, Rendition

WHOLE_FILE = -1
SUMMARY_KEYS = (
    "asset_id", "renditions", "objects", "segments", "parts", "manifests", "live", "updated_at",
)  # fmt: skip


def checked_entries(
    asset_id: str, renditions: Sequence[Rendition], objects: Sequence[IndexObject]
) -> tuple[list[Rendition], list[IndexObject]]:
    """The renditions and objects `register_index` stores (the first of duplicates wins);
    ValueError names what cannot be indexed."""
    if not asset_id:
        raise ValueError("an asset id is required")
    kept = unique(objects)
    for obj in kept:
        if obj.kind not in KINDS:
            raise ValueError(f"{obj.path}: unknown object kind {obj.kind!r}")
        if not obj.path.startswith("/"):
            raise ValueError(f"{obj.path!r} is not an absolute URL path")
    latest: dict[str, Rendition] = {}
    for rendition in renditions:
        if rendition.track not in TRACKS:
            raise ValueError(f"{rendition.rendition_id}: unknown track {rendition.track!r}")
        latest.setdefault(rendition.rendition_id, rendition)
    return list(latest.values()), kept


def duration_parts(duration: Fraction | None) -> tuple[int | None, int | None]:
    """(numerator, denominator) of an exact duration; (None, None) without one."""
    if duration is None:
        return None, None
    exact = Fraction(duration)
    return exact.numerator, exact.denominator


def object_from_row(row: Sequence[Any], fractions: dict[tuple[int, int], Fraction]) -> IndexObject:
    """(path, byte_start, asset, rendition, kind, num, den, length, live, sequence, part)."""
    path, start, asset, rendition, kind, num, den, length, live, sequence, part = row
    duration = None
    if num is not None:
        duration = fractions.get((num, den))
        if duration is None:
            duration = fractions[(num, den)] = Fraction(num, den)
    return IndexObject(
        path, asset, rendition, kind, duration, None if start == WHOLE_FILE else start, length,
        bool(live), sequence, part,
    )  # fmt: skip


def rendition_from_row(row: Sequence[Any]) -> Rendition:
    """(rendition_id, track, width, height, bandwidth, iframe)."""
    rendition_id, track, width, height, bandwidth, iframe = row
    return Rendition(rendition_id, track, width, height, bandwidth, bool(iframe))


def rendition_details(
    known: Sequence[Rendition], rows: Iterable[tuple[str, str, int | None, int | None]]
) -> list[dict[str, Any]]:
    """Per rendition of an asset: its facts and the segments, parts and media seconds of its
    `rows` (rendition_id, kind, duration_num, duration_den) — objects with a rendition that
    are segments, parts or subtitles or have a duration."""
    by_id = {r.rendition_id: r for r in known}
    totals: dict[str, dict[str, Any]] = {
        rid: {"segments": 0, "parts": 0, "seconds": Fraction(0)} for rid in by_id
    }
    for rid, kind, num, den in rows:
        entry = totals.setdefault(rid, {"segments": 0, "parts": 0, "seconds": Fraction(0)})
        if kind == "part":
            entry["parts"] += 1
            continue
        entry["segments"] += 1
        if num is not None:
            entry["seconds"] += Fraction(num, den)
    details = []
    for rid in sorted(totals):
        rendition = by_id.get(rid)
        details.append({
            "rendition_id": rid,
            "track": rendition.track if rendition else None,
            "width": rendition.width if rendition else None,
            "height": rendition.height if rendition else None,
            "bandwidth": rendition.bandwidth if rendition else None,
            "iframe": rendition.iframe if rendition else False,
            "segments": totals[rid]["segments"],
            "parts": totals[rid]["parts"],
            "seconds": round(float(totals[rid]["seconds"]), 6),
        })  # fmt: skip
    return details


#: What `Store.index_rows` gives: per path, its number of entries, and the facts of its
#: whole-file entry with its rendition's (ingest/cloudfront_columns.py joins them).
INDEX_ROWS_SCHEMA = pa.schema(
    [
        ("path", pa.string()),
        ("entries", pa.int64()),  # index entries of the path (whole file and byte ranges)
        ("whole", pa.bool_()),  # one of them is the whole file; the columns below are its
        ("asset_id", pa.string()),
        ("rendition_id", pa.string()),
        ("kind", pa.string()),
        ("duration_num", pa.int64()),
        ("duration_den", pa.int64()),
        ("byte_length", pa.int64()),
        ("live", pa.bool_()),
        ("media_sequence", pa.int64()),
        ("part_index", pa.int32()),
        ("track", pa.string()),  # its rendition's, when the index knows the rendition
        ("width", pa.int32()),
        ("height", pa.int32()),
        ("iframe", pa.bool_()),
    ]
)


def index_rows_table(
    found: dict[str, list[IndexObject]], renditions: dict[tuple[str, str], Rendition]
) -> pa.Table:
    """`Store.index_rows` from entries (`Store.lookup_index`) and their renditions."""
    columns: dict[str, list[Any]] = {name: [] for name in INDEX_ROWS_SCHEMA.names}
    for path, entries in found.items():
        whole = next((e for e in entries if e.byte_start is None), None)
        rendition = None
        if whole is not None and whole.rendition_id:
            rendition = renditions.get((whole.asset_id, whole.rendition_id))
        num, den = duration_parts(whole.duration) if whole is not None else (None, None)
        facts: dict[str, Any] = {"path": path, "entries": len(entries), "whole": whole is not None}
        if whole is not None:
            facts.update(
                asset_id=whole.asset_id, rendition_id=whole.rendition_id, kind=whole.kind,
                duration_num=num, duration_den=den, byte_length=whole.byte_length,
                live=whole.live, media_sequence=whole.media_sequence, part_index=whole.part_index,
            )  # fmt: skip
        if rendition is not None:
            facts.update(
                track=rendition.track, width=rendition.width, height=rendition.height,
                iframe=rendition.iframe,
            )  # fmt: skip
        for name in INDEX_ROWS_SCHEMA.names:
            columns[name].append(facts.get(name))
    return pa.table(columns, schema=INDEX_ROWS_SCHEMA)
