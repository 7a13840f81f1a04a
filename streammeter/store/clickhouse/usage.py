"""The native usage API and change feed on ClickHouse: revisions, changes, explain."""

from __future__ import annotations


class ClickHouseUsageMixin:
    """Mixed into `ClickHouseStore`; not implemented yet (docs/design/clickhouse.md)."""

    def usage_revision(self):  # type: ignore[no-untyped-def]
        raise self._not_yet("usage_revision")

    def hour_revisions(self, env_key, lo_hour, hi_hour):  # type: ignore[no-untyped-def]
        raise self._not_yet("hour_revisions")

    def usage_changes(self, env_key, since, limit=1000, after=None):  # type: ignore[no-untyped-def]
        raise self._not_yet("usage_changes")

    def native_usage(self, env_key, params, plan, *, limit=1000, offset=0):  # type: ignore[no-untyped-def]
        raise self._not_yet("native_usage")

    def explain_usage(self, env_key, asset_id, hour, tier=None):  # type: ignore[no-untyped-def]
        raise self._not_yet("explain_usage")

    def usage_health(self, first_provisional_hour):  # type: ignore[no-untyped-def]
        raise self._not_yet("usage_health")
