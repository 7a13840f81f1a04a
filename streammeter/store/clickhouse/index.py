"""The URL index on ClickHouse: manifests, URL patterns (counting.md 1)."""

from __future__ import annotations


class ClickHouseIndexMixin:
    """Mixed into `ClickHouseStore`; not implemented yet (docs/design/clickhouse.md)."""

    def register_index(self, env_key, asset_id, renditions, objects, *, playlists=()):  # type: ignore[no-untyped-def]
        raise self._not_yet("register_index")

    def lookup_index(self, env_key, paths):  # type: ignore[no-untyped-def]
        raise self._not_yet("lookup_index")

    def renditions(self, env_key, asset_id):  # type: ignore[no-untyped-def]
        raise self._not_yet("renditions")

    def rendition_map(self, env_key, keys):  # type: ignore[no-untyped-def]
        raise self._not_yet("rendition_map")

    def playlist_refs(self, env_key, paths):  # type: ignore[no-untyped-def]
        raise self._not_yet("playlist_refs")

    def add_url_pattern(self, env_key, regex, attributes):  # type: ignore[no-untyped-def]
        raise self._not_yet("add_url_pattern")

    def url_patterns(self, env_key):  # type: ignore[no-untyped-def]
        raise self._not_yet("url_patterns")

    def delete_url_pattern(self, env_key, pattern_id):  # type: ignore[no-untyped-def]
        raise self._not_yet("delete_url_pattern")

    def index_summary(self, env_key, asset_id=None):  # type: ignore[no-untyped-def]
        raise self._not_yet("index_summary")
