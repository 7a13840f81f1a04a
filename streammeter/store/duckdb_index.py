"""The index in DuckDB: renditions, objects, media-playlist references and URL patterns.

Mixed into `DuckDBStore`, whose `_cursor()`, `_transaction()` and `_con` it uses. Objects are
keyed by (env_key, path, byte_start) with -1 standing for "the whole file", because DuckDB
treats NULLs in a key as distinct.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Sequence
from fractions import Fraction
from importlib import resources
from itertools import count
from typing import Any

import duckdb
import pyarrow as pa

from streammeter.index.common import PlaylistRef
from streammeter.index.entry import IndexObject, Rendition
from streammeter.index.patterns import UrlPattern, validate_pattern
from streammeter.model.times import US_PER_SECOND, now_us
from streammeter.store.index_rows import (
    INDEX_ROWS_SCHEMA,
    SUMMARY_KEYS,
    WHOLE_FILE,
    checked_entries,
    duration_parts,
    object_from_row,
    rendition_details,
    rendition_from_row,
)

_OBJECT_COLUMNS = (
    "path, byte_start, asset_id, rendition_id, kind, duration_num, duration_den, byte_length, "
    "live, media_sequence, part_index"
)
_RENDITION_COLUMNS = "asset_id, rendition_id, track, width, height, bandwidth, iframe"
_names = count()
_names_lock = threading.Lock()


def _view_name(prefix: str) -> str:
    with _names_lock:
        return f"{prefix}_{next(_names)}"


class DuckDBIndexMixin:
    """Index methods of `Store` for DuckDBStore (which provides `_con`, `_cursor()` and
    `_transaction()`)."""

    _con: duckdb.DuckDBPyConnection
    _cursor: Any
    _transaction: Any

    def _migrate_index(self) -> None:
        schema = resources.files("streammeter.store").joinpath("index_schema.sql").read_text()
        self._con.execute(schema)

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
        latest = {r.rendition_id: r for r in kept}
        refs = {ref.path: ref for ref in playlists}
        updated = now_us() // US_PER_SECOND
        rendition_table = pa.table({
            "rendition_id": pa.array([r.rendition_id for r in latest.values()], pa.string()),
            "track": pa.array([r.track for r in latest.values()], pa.string()),
            "width": pa.array([r.width for r in latest.values()], pa.int32()),
            "height": pa.array([r.height for r in latest.values()], pa.int32()),
            "bandwidth": pa.array([r.bandwidth for r in latest.values()], pa.int64()),
            "iframe": pa.array([r.iframe for r in latest.values()], pa.bool_()),
        })  # fmt: skip
        durations = [duration_parts(obj.duration) for obj in objects]
        object_table = pa.table({
            "path": pa.array([o.path for o in objects], pa.string()),
            "byte_start": pa.array(
                [WHOLE_FILE if o.byte_start is None else o.byte_start for o in objects],
                pa.int64(),
            ),
            "rendition_id": pa.array([o.rendition_id for o in objects], pa.string()),
            "kind": pa.array([o.kind for o in objects], pa.string()),
            "duration_num": pa.array([num for num, _ in durations], pa.int64()),
            "duration_den": pa.array([den for _, den in durations], pa.int64()),
            "byte_length": pa.array([o.byte_length for o in objects], pa.int64()),
            "live": pa.array([o.live for o in objects], pa.bool_()),
            "media_sequence": pa.array([o.media_sequence for o in objects], pa.int64()),
            "part_index": pa.array([o.part_index for o in objects], pa.int32()),
        })  # fmt: skip
        playlist_table = pa.table({
            "path": pa.array(list(refs), pa.string()),
            "rendition_id": pa.array([r.rendition_id for r in refs.values()], pa.string()),
            "role": pa.array([r.role for r in refs.values()], pa.string()),
        })  # fmt: skip
        names = {
            "renditions": _view_name("idx_renditions"),
            "objects": _view_name("idx_objects"),
            "playlists": _view_name("idx_playlists"),
        }
        with self._transaction() as cur:
            cur.register(names["renditions"], rendition_table)
            cur.register(names["objects"], object_table)
            cur.register(names["playlists"], playlist_table)
            try:
                if latest:
                    cur.execute(
                        f"INSERT OR REPLACE INTO index_renditions SELECT ?, ?, rendition_id, "
                        f"track, width, height, bandwidth, iframe, ? FROM {names['renditions']}",
                        [env_key, asset_id, updated],
                    )
                if objects:
                    cur.execute(
                        f"INSERT OR REPLACE INTO index_objects SELECT ?, path, byte_start, ?, "
                        "rendition_id, kind, duration_num, duration_den, byte_length, live, "
                        f"media_sequence, part_index, ? FROM {names['objects']}",
                        [env_key, asset_id, updated],
                    )
                if refs:
                    cur.execute(
                        f"INSERT OR REPLACE INTO index_playlists SELECT ?, path, ?, "
                        f"rendition_id, role FROM {names['playlists']}",
                        [env_key, asset_id],
                    )
            finally:
                for name in names.values():
                    cur.unregister(name)
        return len(objects)

    # -- reading ---------------------------------------------------------------------------
    def lookup_index(self, env_key: int, paths: Sequence[str]) -> dict[str, list[IndexObject]]:
        wanted = list(dict.fromkeys(paths))
        if not wanted:
            return {}
        # Read through DuckDB's replacement scan of the local Arrow table, not register():
        # a registered object lives until the transaction ends (docs/performance.md).
        wanted_paths = pa.table({"path": pa.array(wanted, pa.string())})
        rows = (
            self._cursor()
            .execute(
                f"SELECT {_OBJECT_COLUMNS} FROM index_objects SEMI JOIN wanted_paths USING (path) "
                "WHERE env_key = ? ORDER BY path, byte_start",
                [env_key],
            )
            .fetchall()
        )
        del wanted_paths
        found: dict[str, list[IndexObject]] = {}
        fractions: dict[tuple[int, int], Fraction] = {}
        for row in rows:
            found.setdefault(row[0], []).append(object_from_row(row, fractions))
        return found

    def index_rows(self, env_key: int, paths: pa.Array) -> pa.Table:
        wanted_paths = pa.table({"path": paths})  # noqa: F841 (a replacement scan, see above)
        table = (
            self._cursor()
            .sql(
                "WITH o AS (SELECT * FROM index_objects WHERE env_key = $env "
                "    AND path IN (SELECT path FROM wanted_paths)), "
                "n AS (SELECT path, count(*) AS entries FROM o GROUP BY path) "
                "SELECT n.path, n.entries, w.path IS NOT NULL AS whole, w.asset_id, "
                "w.rendition_id, w.kind, w.duration_num, w.duration_den, w.byte_length, w.live, "
                "w.media_sequence, w.part_index, r.track, r.width, r.height, r.iframe "
                "FROM n LEFT JOIN o w ON w.path = n.path AND w.byte_start = $whole "
                "LEFT JOIN index_renditions r ON r.env_key = $env AND r.asset_id = w.asset_id "
                "    AND r.rendition_id = w.rendition_id",
                params={"env": env_key, "whole": WHOLE_FILE},
            )
            .to_arrow_table()
        )
        return table.cast(INDEX_ROWS_SCHEMA)

    def llhls_parts_possible(self, env_key: int) -> bool:
        row = (
            self._cursor()
            .execute(
                "SELECT EXISTS (SELECT 1 FROM index_objects WHERE env_key = $env "
                "    AND kind = 'part') OR EXISTS (SELECT 1 FROM records WHERE env_key = $env "
                "    AND part_index IS NOT NULL)",
                {"env": env_key},
            )
            .fetchone()
        )
        return bool(row and row[0])

    def renditions(self, env_key: int, asset_id: str) -> list[Rendition]:
        rows = (
            self._cursor()
            .execute(
                "SELECT rendition_id, track, width, height, bandwidth, iframe "
                "FROM index_renditions WHERE env_key = ? AND asset_id = ? ORDER BY rendition_id",
                [env_key, asset_id],
            )
            .fetchall()
        )
        return [rendition_from_row(row) for row in rows]

    def rendition_map(
        self, env_key: int, keys: Sequence[tuple[str, str]]
    ) -> dict[tuple[str, str], Rendition]:
        wanted = list(dict.fromkeys(keys))
        if not wanted:
            return {}
        wanted_keys = pa.table({
            "asset_id": pa.array([k[0] for k in wanted], pa.string()),
            "rendition_id": pa.array([k[1] for k in wanted], pa.string()),
        })  # fmt: skip
        rows = (
            self._cursor()
            .execute(
                "SELECT asset_id, rendition_id, track, width, height, bandwidth, iframe "
                "FROM index_renditions SEMI JOIN wanted_keys USING (asset_id, rendition_id) "
                "WHERE env_key = ?",
                [env_key],
            )
            .fetchall()
        )
        del wanted_keys
        return {(row[0], row[1]): rendition_from_row(row[1:]) for row in rows}

    def playlist_refs(
        self, env_key: int, paths: Sequence[str]
    ) -> dict[str, tuple[str, PlaylistRef]]:
        wanted = list(dict.fromkeys(paths))
        if not wanted:
            return {}
        rows = (
            self._cursor()
            .execute(
                "SELECT path, asset_id, rendition_id, role FROM index_playlists "
                "WHERE env_key = ? AND list_contains(?, path)",
                [env_key, wanted],
            )
            .fetchall()
        )
        return {path: (asset, PlaylistRef(path, rid, role)) for path, asset, rid, role in rows}

    # -- URL patterns ----------------------------------------------------------------------
    def add_url_pattern(self, env_key: int, regex: str, attributes: dict[str, Any]) -> int:
        normalized = validate_pattern(regex, attributes)
        with self._transaction() as cur:
            row = cur.execute(
                "INSERT INTO url_patterns SELECT nextval('url_pattern_seq'), ?, ?, ?, ? "
                "RETURNING pattern_id",
                [env_key, regex, json.dumps(normalized, sort_keys=True), now_us() // US_PER_SECOND],
            ).fetchone()
        return int(row[0])

    def url_patterns(self, env_key: int) -> list[UrlPattern]:
        rows = (
            self._cursor()
            .execute(
                "SELECT pattern_id, regex, attributes, created_at FROM url_patterns "
                "WHERE env_key = ? ORDER BY pattern_id",
                [env_key],
            )
            .fetchall()
        )
        return [
            UrlPattern(pid, regex, json.loads(attrs), created)
            for pid, regex, attrs, created in rows
        ]

    def delete_url_pattern(self, env_key: int, pattern_id: int) -> bool:
        with self._transaction() as cur:
            found = cur.execute(
                "DELETE FROM url_patterns WHERE env_key = ? AND pattern_id = ? "
                "RETURNING pattern_id",
                [env_key, pattern_id],
            ).fetchall()
        return bool(found)

    # -- summaries -------------------------------------------------------------------------
    def index_summary(self, env_key: int, asset_id: str | None = None) -> list[dict[str, Any]]:
        where, params = "WHERE env_key = ?", [env_key]
        if asset_id is not None:
            where, params = where + " AND asset_id = ?", [env_key, asset_id]
        rows = (
            self._cursor()
            .execute(
                f"""
            WITH o AS (
                SELECT asset_id, count(*) AS objects,
                       count(*) FILTER (WHERE kind = 'segment') AS segments,
                       count(*) FILTER (WHERE kind = 'part') AS parts,
                       count(*) FILTER (WHERE kind = 'manifest') AS manifests,
                       bool_or(live) AS live, max(updated_at) AS updated_at
                FROM index_objects {where} GROUP BY asset_id),
            r AS (
                SELECT asset_id, count(*) AS renditions, max(updated_at) AS updated_at
                FROM index_renditions {where} GROUP BY asset_id)
            SELECT asset_id, coalesce(r.renditions, 0), coalesce(o.objects, 0),
                   coalesce(o.segments, 0), coalesce(o.parts, 0), coalesce(o.manifests, 0),
                   coalesce(o.live, false), greatest(o.updated_at, r.updated_at)
            FROM o FULL OUTER JOIN r USING (asset_id) ORDER BY asset_id
            """,
                params + params,
            )
            .fetchall()
        )
        summary = [dict(zip(SUMMARY_KEYS, row, strict=True)) for row in rows]
        if asset_id is not None:
            for entry in summary:
                entry["rendition_details"] = self._rendition_details(env_key, asset_id)
        return summary

    def _rendition_details(self, env_key: int, asset_id: str) -> list[dict[str, Any]]:
        rows = (
            self._cursor()
            .execute(
                "SELECT rendition_id, kind, duration_num, duration_den FROM index_objects "
                "WHERE env_key = ? AND asset_id = ? AND rendition_id IS NOT NULL "
                "AND (kind IN ('segment', 'part', 'subtitle') OR duration_num IS NOT NULL)",
                [env_key, asset_id],
            )
            .fetchall()
        )
        return rendition_details(self.renditions(env_key, asset_id), rows)
