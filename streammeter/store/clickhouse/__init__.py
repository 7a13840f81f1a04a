"""The ClickHouse store (docs/design/clickhouse.md): `--db clickhouse://user:pass@host:9000/db`."""

from streammeter.store.clickhouse.conn import ClickHouseURL
from streammeter.store.clickhouse.store import ClickHouseStore

__all__ = ["ClickHouseStore", "ClickHouseURL"]
