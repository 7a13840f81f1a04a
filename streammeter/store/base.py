"""The store interface: everything above it (ingest, query, api, cli) talks to a `Store`.

A server engine plugs in by implementing this class; nothing above it names DuckDB.
"""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any

from streammeter.counting.record import Counted, DeliveryRecord
from streammeter.model.catalog import Asset

DEFAULT_DB = "streammeter.duckdb"
LATE_WINDOW_US = 35 * 86_400 * 1_000_000  # counting.md 7: request-id dedupe window


class StoreLocked(RuntimeError):
    """Another process (usually `streammeter serve`) owns the embedded store file."""


class NotFound(LookupError):
    pass


@dataclass(frozen=True, slots=True)
class Environment:
    env_key: int
    environment_id: str
    name: str
    account_id: str
    created_at: int


@dataclass(frozen=True, slots=True)
class TokenInfo:
    token_id: str
    env_key: int
    environment_id: str
    scopes: frozenset[str]
    created_at: int
    revoked_at: int | None = None


@dataclass(slots=True)
class Receipt:
    """What one file or batch import did. `already_imported` marks a no-op re-import."""

    receipt_id: str
    environment_id: str
    source: str
    name: str
    format: str
    content_sha256: str
    root_sha256: str
    parent_receipt_id: str | None
    byte_size: int
    line_offset: int
    lines_read: int
    accepted: int
    duplicate: int
    rejected: int
    notes: dict[str, int]
    first_ts_us: int | None
    last_ts_us: int | None
    bytes_measure: str
    imported_at: int
    already_imported: bool = False


@dataclass(slots=True)
class ReceiptDraft:
    """What the importer knows before it starts: identity and provenance of the input."""

    source: str
    name: str
    format: str
    content_sha256: str
    root_sha256: str
    byte_size: int
    parent_receipt_id: str | None = None
    line_offset: int = 0
    bytes_measure: str = "bytes as given by the record (`bytes`, else `body_bytes`)"


@dataclass(slots=True)
class UsageRow:
    """One asset's delivered microseconds per tier code in a window, with its catalog entry."""

    asset: dict[str, Any]
    tiers_us: dict[int, int]
    total_us: int


class ImportSession(ABC):
    """One file or batch, imported atomically: nothing is visible until `finish`."""

    @abstractmethod
    def add(self, items: Sequence[tuple[int, DeliveryRecord, Counted]]) -> list[str]:
        """Store `(line_no, record, counted)` items; returns 'accepted' or 'duplicate' each."""

    @abstractmethod
    def reject(self, line_no: int, reason: str, raw: str) -> None:
        """Quarantine one input line with its reason."""

    @abstractmethod
    def attribution_notes(self) -> dict[str, int]:
        """Counts of accepted records whose asset or playback id the catalog does not know."""

    @abstractmethod
    def finish(self, counts: dict[str, Any]) -> Receipt:
        """Write the receipt and commit everything."""


class Store(ABC):
    """Catalog, records, rollups and receipts of every environment."""

    # -- catalog ---------------------------------------------------------------------------
    @abstractmethod
    def create_environment(self, name: str, account_id: str | None = None) -> Environment: ...

    @abstractmethod
    def get_environment(self, ref: str) -> Environment | None:
        """By environment id or by name."""

    @abstractmethod
    def list_environments(self) -> list[Environment]: ...

    @abstractmethod
    def create_token(self, env_key: int, scopes: Sequence[str]) -> tuple[str, str]:
        """A new token: returns (token_id, secret). Only a hash of the secret is kept."""

    @abstractmethod
    def verify_token(self, token_id: str, secret: str) -> TokenInfo | None: ...

    @abstractmethod
    def list_tokens(self, env_key: int | None = None) -> list[TokenInfo]: ...

    @abstractmethod
    def revoke_token(self, token_id: str) -> bool: ...

    @abstractmethod
    def upsert_assets(self, env_key: int, assets: Sequence[Asset]) -> int:
        """Insert or replace assets; re-attributes usage already recorded for them."""

    @abstractmethod
    def get_asset(self, env_key: int, asset_id: str) -> dict[str, Any] | None: ...

    @abstractmethod
    def list_assets(
        self, env_key: int, limit: int, offset: int
    ) -> tuple[list[dict[str, Any]], int]: ...

    @abstractmethod
    def live_streams(
        self, env_key: int, live_stream_id: str | None = None
    ) -> list[dict[str, Any]]:
        """Live streams named by catalog assets, each with its asset ids (oldest first)."""

    @abstractmethod
    def delete_asset(self, env_key: int, asset_id: str, deleted_at: int) -> bool:
        """Mark deleted (`asset_state: deleted`, `deleted_at`); usage is kept."""

    # -- ingest ----------------------------------------------------------------------------
    @abstractmethod
    def find_receipt_by_content(self, env_key: int, content_sha256: str) -> Receipt | None: ...

    @abstractmethod
    def latest_receipts_for_name(self, env_key: int, name: str) -> list[Receipt]:
        """Earlier imports of a file with this name, newest first (to detect growth)."""

    @abstractmethod
    def importing(
        self, env_key: int, draft: ReceiptDraft
    ) -> AbstractContextManager[ImportSession]: ...

    @abstractmethod
    def list_receipts(self, env_key: int | None = None, limit: int = 100) -> list[Receipt]: ...

    @abstractmethod
    def get_receipt(self, receipt_id: str) -> Receipt | None: ...

    @abstractmethod
    def quarantined(self, receipt_id: str, limit: int = 1000) -> list[dict[str, Any]]: ...

    # -- query -----------------------------------------------------------------------------
    @abstractmethod
    def delivery_usage(
        self,
        env_key: int,
        start_hour: int,
        end_hour: int,
        *,
        asset_id: str | None = None,
        live_stream_id: str | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> tuple[list[UsageRow], int]:
        """Registered assets with delivered seconds > 0 in [start_hour, end_hour), ordered by
        delivered seconds descending then asset_id; and the total number of such assets."""

    @abstractmethod
    def rollup_snapshot(self, table: str = "usage_hour") -> list[tuple[Any, ...]]:
        """Every rollup key with its summed values (non-zero), sorted: for tests and audits."""

    # -- maintenance -----------------------------------------------------------------------
    @abstractmethod
    def rebuild(self) -> None:
        """Recompute every rollup from the stored records."""

    @abstractmethod
    def compact(self) -> None:
        """Merge rollup deltas into one row per key."""

    @abstractmethod
    def close(self) -> None: ...

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def default_db() -> str:
    return os.environ.get("STREAMMETER_DB") or DEFAULT_DB


def open_store(db: str | None = None, *, read_only: bool = False) -> Store:
    """Open the store named by `db` (a path), `STREAMMETER_DB`, or ./streammeter.duckdb."""
    from streammeter.store.duckdb_store import DuckDBStore

    return DuckDBStore(db or default_db(), read_only=read_only)
