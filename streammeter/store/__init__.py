"""Storage engines behind one interface (`Store`). DuckDB is the embedded default."""

from streammeter.store.base import Store, StoreLocked, open_store

__all__ = ["Store", "StoreLocked", "open_store"]
