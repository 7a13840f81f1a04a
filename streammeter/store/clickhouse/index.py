"""The URL index on ClickHouse: manifests, URL patterns (counting.md 1).

Same semantics as the DuckDB store (store/duckdb_index.py); tables in schema.py
`INDEX_TABLES`. A registration is one `version` of its environment's index, taken under the
environment's writer lock: a `done = 0` row in `index_versions`, the rows, then a `done = 1`
row (its commit point). Reads take, per key, the highest committed version: a registration is
all or nothing, and reads are exact whether or not ReplacingMergeTree merged.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from fractions import Fraction
from typing import Any

from streammeter.index.common import PlaylistRef
from streammeter.index.entry import IndexObject, Rendition
from streammeter.index.patterns import UrlPattern, validate_pattern
from streammeter.model.times import US_PER_SECOND, now_us
from streammeter.store.clickhouse.conn import Connection, in_list
from streammeter.store.clickhouse.lock import WriterLock
from streammeter.store.index_rows import (
    SUMMARY_KEYS,
    WHOLE_FILE,
    checked_entries,
    duration_parts,
    object_from_row,
    rendition_details,
    rendition_from_row,
)

PATH_SLICE = 5000  # paths (or keys) per IN list: keeps statements small
_OBJECT_COLUMNS = (
    "path, byte_start, asset_id, rendition_id, kind, duration_num, duration_den, byte_length, "
    "live, media_sequence, part_index"
)
_RENDITION_COLUMNS = "rendition_id, track, width, height, bandwidth, iframe"
_COMMITTED = (
    "version GLOBAL IN (SELECT version FROM index_versions WHERE env_key = %(e)s AND done = 1)"
)


def _current(table: str, key: str, where: str = "1") -> str:
    """SELECT of the current rows of `table` in environment `%(e)s` matching `where`: per
    `key`, the row of the highest committed version."""
    return (
        f"SELECT * FROM {table} WHERE env_key = %(e)s AND ({where}) "
        f"AND {_COMMITTED} ORDER BY version DESC LIMIT 1 BY {key}"
    )


def _slices(values: Sequence[Any]) -> Iterator[Sequence[Any]]:
    for start in range(0, len(values), PATH_SLICE):
        yield values[start : start + PATH_SLICE]


class ClickHouseIndexMixin:
    """Index methods of `Store` for ClickHouseStore (which provides `_q`, `_conn`, `_lock`
    and `_env_lock`)."""

    _conn: Connection
    _q: Any
    _lock: Any
    _env_lock: Any

    # -- writing ---------------------------------------------------------------------------
    def register_index(
        self,
        env_key: int,
        asset_id: str,
        renditions: Sequence[Rendition],
        objects: Sequence[IndexObject],
        *,
        playlists: Sequence[PlaylistRef] = (),
    ) -> int:
        kept, objects = checked_entries(asset_id, renditions, objects)
        refs = {ref.path: ref for ref in playlists}
        if not (kept or objects or refs):
            return 0
        updated = now_us() // US_PER_SECOND
        with self._env_lock(env_key) as lock:
            version = self._next_index_version(env_key)
            self._index_version(env_key, version, done=False)
            lock.verify()
            self._conn.insert(
                "index_renditions",
                ["env_key", "asset_id", *_RENDITION_COLUMNS.split(", "), "updated_at", "version"],
                [(env_key, asset_id, r.rendition_id, r.track, r.width, r.height, r.bandwidth,
                  int(r.iframe), updated, version) for r in kept],
            )  # fmt: skip
            self._conn.insert(
                "index_objects",
                ["env_key", *_OBJECT_COLUMNS.split(", "), "updated_at", "version"],
                [_object_row(env_key, asset_id, obj, updated, version) for obj in objects],
            )
            self._conn.insert(
                "index_playlists",
                ["env_key", "path", "asset_id", "rendition_id", "role", "version"],
                [(env_key, ref.path, asset_id, ref.rendition_id, ref.role, version)
                 for ref in refs.values()],
            )  # fmt: skip
            lock.verify()
            self._index_version(env_key, version, done=True)
        return len(objects)

    def _next_index_version(self, env_key: int) -> int:
        """Above every version the environment's index used, committed or not (under its
        lock)."""
        top = self._q(
            "SELECT max(version) FROM index_versions WHERE env_key = %(e)s", {"e": env_key}
        )[0][0]
        return max(time.time_ns() // 1000, int(top or 0) + 1)

    def _index_version(self, env_key: int, version: int, *, done: bool) -> None:
        self._conn.insert(
            "index_versions", ["env_key", "version", "done"], [(env_key, version, int(done))]
        )

    # -- reading ---------------------------------------------------------------------------
    def lookup_index(self, env_key: int, paths: Sequence[str]) -> dict[str, list[IndexObject]]:
        found: dict[str, list[IndexObject]] = {}
        fractions: dict[tuple[int, int], Fraction] = {}
        for chunk in _slices(sorted(set(paths))):
            current = _current("index_objects", "path, byte_start", f"path IN {in_list(chunk)}")
            rows = self._q(
                f"SELECT {_OBJECT_COLUMNS} FROM ({current}) AS current ORDER BY path, byte_start",
                {"e": env_key},
            )
            for row in rows:
                found.setdefault(row[0], []).append(object_from_row(row, fractions))
        return found

    def renditions(self, env_key: int, asset_id: str) -> list[Rendition]:
        current = _current("index_renditions", "rendition_id", "asset_id = %(a)s")
        rows = self._q(
            f"SELECT {_RENDITION_COLUMNS} FROM ({current}) AS current ORDER BY rendition_id",
            {"e": env_key, "a": asset_id},
        )
        return [rendition_from_row(row) for row in rows]

    def rendition_map(
        self, env_key: int, keys: Sequence[tuple[str, str]]
    ) -> dict[tuple[str, str], Rendition]:
        found: dict[tuple[str, str], Rendition] = {}
        for chunk in _slices(list(dict.fromkeys(keys))):
            wanted = set(chunk)
            assets = sorted({asset for asset, _ in chunk})
            ids = sorted({rid for _, rid in chunk})
            current = _current(
                "index_renditions", "asset_id, rendition_id",
                f"asset_id IN {in_list(assets)} AND rendition_id IN {in_list(ids)}",
            )  # fmt: skip
            rows = self._q(
                f"SELECT asset_id, {_RENDITION_COLUMNS} FROM ({current}) AS current",
                {"e": env_key},
            )
            for row in rows:
                if (row[0], row[1]) in wanted:  # the IN lists select a superset
                    found[(row[0], row[1])] = rendition_from_row(row[1:])
        return found

    def playlist_refs(
        self, env_key: int, paths: Sequence[str]
    ) -> dict[str, tuple[str, PlaylistRef]]:
        found: dict[str, tuple[str, PlaylistRef]] = {}
        for chunk in _slices(sorted(set(paths))):
            current = _current("index_playlists", "path", f"path IN {in_list(chunk)}")
            rows = self._q(
                f"SELECT path, asset_id, rendition_id, role FROM ({current}) AS current",
                {"e": env_key},
            )
            for path, asset, rid, role in rows:
                found[path] = (asset, PlaylistRef(path, rid, role))
        return found

    # -- URL patterns ----------------------------------------------------------------------
    @contextmanager
    def _patterns_lock(self) -> Iterator[WriterLock]:
        """Pattern ids come from one sequence for the whole store, as in DuckDB."""
        lock = self._lock("url_patterns")
        lock.acquire()
        try:
            yield lock
        finally:
            lock.release()

    def add_url_pattern(self, env_key: int, regex: str, attributes: dict[str, Any]) -> int:
        normalized = json.dumps(validate_pattern(regex, attributes), sort_keys=True)
        with self._patterns_lock() as lock:
            # Deleted patterns keep their rows, so an id is never given twice.
            pattern_id = int(self._q("SELECT max(pattern_id) FROM url_patterns")[0][0] or 0) + 1
            lock.verify()
            self._insert_pattern(
                (pattern_id, env_key, regex, normalized, now_us() // US_PER_SECOND, 0)
            )
        return pattern_id

    def _insert_pattern(self, row: tuple[Any, ...]) -> None:
        self._conn.insert(
            "url_patterns",
            ["pattern_id", "env_key", "regex", "attributes", "created_at", "deleted"],
            [row],
        )

    def _live_patterns(self, env_key: int, where: str = "1", **params: Any) -> list[tuple]:
        """(pattern_id, regex, attributes, created_at) of the patterns not deleted."""
        return self._q(
            "SELECT pattern_id, regex, attributes, created_at FROM ("
            " SELECT pattern_id, regex, attributes, created_at, deleted FROM url_patterns"
            f" WHERE env_key = %(e)s AND ({where})"
            " ORDER BY deleted DESC LIMIT 1 BY pattern_id"
            ") AS current WHERE deleted = 0 ORDER BY pattern_id",
            {"e": env_key, **params},
        )

    def url_patterns(self, env_key: int) -> list[UrlPattern]:
        return [
            UrlPattern(int(pid), regex, json.loads(attrs), int(created))
            for pid, regex, attrs, created in self._live_patterns(env_key)
        ]

    def delete_url_pattern(self, env_key: int, pattern_id: int) -> bool:
        with self._patterns_lock() as lock:
            found = self._live_patterns(env_key, "pattern_id = %(p)s", p=int(pattern_id))
            if not found:
                return False
            lock.verify()
            pid, regex, attributes, created = found[0]
            self._insert_pattern((pid, env_key, regex, attributes, created, 1))
        return True

    # -- summaries -------------------------------------------------------------------------
    def index_summary(self, env_key: int, asset_id: str | None = None) -> list[dict[str, Any]]:
        # Objects: current rows first, then the asset (a path may have moved to another).
        where, params = "1", {"e": env_key, "a": asset_id}
        if asset_id is not None:
            where = "asset_id = %(a)s"
        current = _current("index_objects", "path, byte_start")
        objects = {
            row[0]: row[1:]
            for row in self._q(
                "SELECT asset_id, count(), countIf(kind = 'segment'), countIf(kind = 'part'), "
                f"countIf(kind = 'manifest'), max(live), max(updated_at) FROM ({current}) "
                f"AS current WHERE {where} GROUP BY asset_id",
                params,
            )
        }
        current = _current("index_renditions", "asset_id, rendition_id", where)
        renditions = {
            row[0]: row[1:]
            for row in self._q(
                f"SELECT asset_id, count(), max(updated_at) FROM ({current}) AS current "
                "GROUP BY asset_id",
                params,
            )
        }
        summary = []
        for asset in sorted(set(objects) | set(renditions)):
            count, seg, parts, manifests, live, o_updated = objects.get(asset, (0,) * 5 + (None,))
            r_count, r_updated = renditions.get(asset, (0, None))
            updated = max(int(t) for t in (o_updated, r_updated) if t is not None)
            values = (asset, int(r_count), int(count), int(seg), int(parts), int(manifests),
                      bool(live), updated)  # fmt: skip
            summary.append(dict(zip(SUMMARY_KEYS, values, strict=True)))
        if asset_id is not None:
            for entry in summary:
                entry["rendition_details"] = self._rendition_details(env_key, asset_id)
        return summary

    def _rendition_details(self, env_key: int, asset_id: str) -> list[dict[str, Any]]:
        current = _current("index_objects", "path, byte_start")
        rows = self._q(
            f"SELECT rendition_id, kind, duration_num, duration_den FROM ({current}) AS current "
            "WHERE asset_id = %(a)s AND rendition_id IS NOT NULL "
            "AND (kind IN ('segment', 'part', 'subtitle') OR duration_num IS NOT NULL)",
            {"e": env_key, "a": asset_id},
        )
        return rendition_details(self.renditions(env_key, asset_id), rows)


def _object_row(
    env_key: int, asset_id: str, obj: IndexObject, updated: int, version: int
) -> tuple[Any, ...]:
    """The `index_objects` row of `obj` (its asset is the registration's, as in DuckDB)."""
    num, den = duration_parts(obj.duration)
    start = WHOLE_FILE if obj.byte_start is None else obj.byte_start
    return (
        env_key, obj.path, start, asset_id, obj.rendition_id, obj.kind, num, den,
        obj.byte_length, int(obj.live), obj.media_sequence, obj.part_index, updated, version,
    )  # fmt: skip
