"""The Wowza family on ClickHouse: accounts, keys, delivery targets, account usage."""

from __future__ import annotations


class ClickHouseWowzaMixin:
    """Mixed into `ClickHouseStore`; not implemented yet (docs/design/clickhouse.md)."""

    def get_account(self, account_id):  # type: ignore[no-untyped-def]
        raise self._not_yet("get_account")

    def list_accounts(self):  # type: ignore[no-untyped-def]
        raise self._not_yet("list_accounts")

    def set_bill_anchor(self, account_id, anchor, cycle_months=1):  # type: ignore[no-untyped-def]
        raise self._not_yet("set_bill_anchor")

    def jwt_secret(self):  # type: ignore[no-untyped-def]
        raise self._not_yet("jwt_secret")

    def create_legacy_key(self, account_id):  # type: ignore[no-untyped-def]
        raise self._not_yet("create_legacy_key")

    def get_legacy_key(self, access_key):  # type: ignore[no-untyped-def]
        raise self._not_yet("get_legacy_key")

    def add_delivery_target(self, target):  # type: ignore[no-untyped-def]
        raise self._not_yet("add_delivery_target")

    def delivery_targets(self, env_key):  # type: ignore[no-untyped-def]
        raise self._not_yet("delivery_targets")

    def account_resources(self, env_keys, kind, *, ids=None, from_id=None, limit=None,  # type: ignore[no-untyped-def]
                          offset=0):  # fmt: skip
        raise self._not_yet("account_resources")

    def account_usage(self, env_keys, start_hour, end_hour, *, live=None, kind=None,  # type: ignore[no-untyped-def]
                      ids=None, by_resource=False, step=None):  # fmt: skip
        raise self._not_yet("account_usage")

    def viewer_sessions(self, env_keys, start_hour, end_hour, *, live=None):  # type: ignore[no-untyped-def]
        raise self._not_yet("viewer_sessions")
