"""The store interface: everything above it (ingest, query, api, cli) talks to a `Store`.

A server engine plugs in by implementing this class; nothing above it names DuckDB.
"""

from __future__ import annotations

import json
import os
import secrets
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from streammeter.counting.record import Counted, DeliveryRecord
from streammeter.counting.rows import CountedRows
from streammeter.index.common import PlaylistRef
from streammeter.index.entry import IndexObject, Rendition
from streammeter.index.patterns import UrlPattern
from streammeter.model.catalog import Asset
from streammeter.model.times import now_us

DEFAULT_DB = "streammeter.duckdb"
LATE_WINDOW_US = 35 * 86_400 * 1_000_000  # counting.md 7: request-id dedupe window

# The logical dump (`streammeter copy`, store/copy.py): families in the order a copy restores
# them, each with its fields. Engine-neutral: entities by external id (never engine keys),
# the current catalog and index (not their history), records with their stored counting
# results, booleans as bool, `bill_anchor` as an ISO date, `hosts`/`cidrs`/`user_agents` as
# lists of strings; `seq` orders delivery targets (the target may renumber it). Rollups and
# the change feed's revisions are not dumped: the target computes its own.
DUMP_FAMILIES: dict[str, tuple[str, ...]] = {
    "accounts": ("account_id", "created_at"),
    "environments": ("env_key", "environment_id", "name", "account_id", "created_at"),
    "tokens": ("token_id", "env_key", "secret_sha256", "scopes", "created_at", "revoked_at"),
    "entities": ("env_key", "kind", "external_id"),
    "assets": (
        "env_key", "asset_id", "live_stream_id", "passthrough", "created_at", "deleted_at",
        "asset_state", "asset_duration", "asset_resolution_tier", "asset_encoding_tier",
        "asset_video_quality", "updated_at",
    ),
    "playback_ids": ("env_key", "playback_id", "policy", "asset_id"),
    "receipts": (
        "receipt_id", "env_key", "source", "name", "format", "content_sha256", "root_sha256",
        "parent_receipt_id", "byte_size", "line_offset", "lines_read", "accepted", "duplicate",
        "rejected", "notes", "first_ts_us", "last_ts_us", "bytes_measure", "imported_at",
    ),
    "quarantine": ("receipt_id", "line_no", "reason", "raw"),
    "records": (
        "env_key", "receipt_id", "line_no", "request_id", "ts_us", "asset_id", "playback_id",
        "live_stream_id", "kind", "track", "tier_hint", "duration_us", "bytes", "method",
        "status", "body_bytes", "object_bytes", "session_id", "earned_us", "media_us",
        "rendition_id", "media_sequence", "part_index", "live", "origin", "client_ip",
        "user_agent", "target_id", "additional_target",
    ),
    "index_renditions": (
        "env_key", "asset_id", "rendition_id", "track", "width", "height", "bandwidth",
        "iframe", "updated_at",
    ),
    "index_objects": (
        "env_key", "path", "byte_start", "asset_id", "rendition_id", "kind", "duration_num",
        "duration_den", "byte_length", "live", "media_sequence", "part_index", "updated_at",
    ),
    "index_playlists": ("env_key", "path", "asset_id", "rendition_id", "role"),
    "url_patterns": ("pattern_id", "env_key", "regex", "attributes", "created_at"),
    "account_settings": ("account_id", "bill_anchor", "cycle_months", "updated_at"),
    "legacy_keys": ("access_key", "api_key", "account_id", "created_at"),
    "jwt_secret": ("secret",),
    "delivery_targets": (
        "env_key", "target_id", "name", "is_primary", "hosts", "cidrs", "user_agents",
        "created_at", "seq",
    ),
}  # fmt: skip
DUMP_BATCH_ROWS = 10_000
# The summed rollup measures, in the order `Store.hour_totals` gives them.
USAGE_MEASURES = (
    "delivered_us", "bytes", "requests", "egress_us", "egress_bytes",
    "egress_additional_us", "egress_additional_bytes",
)  # fmt: skip


class StoreLocked(RuntimeError):
    """Another process (usually `streammeter serve`) owns the embedded store file."""


class StoreFull(RuntimeError):
    """The disk holding the store ran out of space: the write was rolled back whole
    (docs/reliability.md). Free space and retry; imports are idempotent."""


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


# -- wowza ---------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class AccountInfo:
    """An account (the unit a Wowza token sees) with its environments and billing anchor."""

    account_id: str
    created_at: int
    bill_anchor: str | None  # ISO date YYYY-MM-DD: a day the account was billed
    bill_cycle_months: int = 1  # bills recur every N months from the anchor; 0: no cycle
    environment_ids: tuple[str, ...] = ()
    env_keys: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True)
class LegacyKey:
    """A Wowza Streaming Cloud key pair (`wsc-api-key` + `wsc-access-key`) of an account.

    The api key is kept in clear: it is the HMAC key of `wsc-signature`."""

    access_key: str
    api_key: str
    account_id: str
    created_at: int


@dataclass(frozen=True, slots=True)
class DeliveryTarget:
    """A delivery (stream) target of an environment: the CDN or service that pulls from origin
    and serves viewers. Origin pulls are told apart by host, client IP range or user agent."""

    env_key: int
    target_id: str
    name: str
    primary: bool = False
    hosts: tuple[str, ...] = ()
    cidrs: tuple[str, ...] = ()
    user_agents: tuple[str, ...] = ()
    created_at: int = 0


@dataclass(frozen=True, slots=True)
class ResourceInfo:
    """A Wowza usage resource: a stream target, a transcoder (live stream) or a VOD stream
    (asset), by its external id, merged over the environments of an account."""

    resource_id: str
    name: str
    archived: bool


@dataclass(slots=True)
class UsageCell:
    """Summed rollup measures of one resource and/or one trend sample (None when not grouped).

    `sample_s` is the first second of the sample's bucket (minute, hour or UTC day)."""

    resource_id: str | None = None
    sample_s: int | None = None
    delivered_us: int = 0
    bytes: int = 0
    egress_us: int = 0
    egress_bytes: int = 0
    egress_additional_us: int = 0
    egress_additional_bytes: int = 0


class ImportSession(ABC):
    """One file or batch, imported atomically: nothing is visible until `finish`."""

    @abstractmethod
    def add(self, items: Sequence[tuple[int, DeliveryRecord, Counted]]) -> list[str]:
        """Store `(line_no, record, counted)` items; returns 'accepted' or 'duplicate' each."""

    @abstractmethod
    def reject(self, line_no: int, reason: str, raw: str) -> None:
        """Quarantine one input line with its reason."""

    def add_rows(self, rows: CountedRows) -> list[str]:
        """`add` for records counted as Arrow rows; engines with `Store.counts_rows` have it."""
        raise NotImplementedError

    @abstractmethod
    def attribution_notes(self) -> dict[str, int]:
        """Counts of accepted records whose asset or playback id the catalog does not know."""

    @abstractmethod
    def finish(self, counts: dict[str, Any]) -> Receipt:
        """Write the receipt and commit everything."""


class ImportGroup(ABC):
    """Batches of one environment imported in one transaction (group commit,
    docs/reliability.md): one session and receipt each; all of it commits, or none of it."""

    @abstractmethod
    def session(self, draft: ReceiptDraft) -> ImportSession:
        """A session for one batch: `reject` and `attribution_notes` as usual; its records go
        through `add` and its receipt through `finish` of the group."""

    @abstractmethod
    def add(
        self, parts: Sequence[tuple[ImportSession, Sequence[tuple[int, DeliveryRecord, Counted]]]]
    ) -> list[list[str]]:
        """`ImportSession.add` for the items of several sessions at once, taken in order: a
        request id seen earlier in `parts` is a duplicate later, as if added one by one."""

    @abstractmethod
    def add_rows(self, parts: Sequence[tuple[ImportSession, CountedRows]]) -> list[list[str]]:
        """`add` for records counted as Arrow rows (ingest/columnar.py)."""

    @abstractmethod
    def finish(self, counts: Sequence[tuple[ImportSession, dict[str, Any]]]) -> list[Receipt]:
        """Write the sessions' receipts (in this order); the group commits when it ends."""


class ImportSessionBase(ImportSession):
    """What every engine's import session keeps the same way: the receipt id, the
    quarantined lines (written by `finish`), the counts of records whose asset or playback id
    the catalog does not know yet, and the receipt built from the draft and the counts."""

    def __init__(self, env_key: int, draft: ReceiptDraft) -> None:
        self._env_key, self._draft = env_key, draft
        self.receipt_id = "rcpt_" + secrets.token_hex(8)
        self._quarantine: list[tuple[str, int, str, str]] = []
        self._unknown_asset = self._unknown_playback = 0

    def reject(self, line_no: int, reason: str, raw: str) -> None:
        self._quarantine.append((self.receipt_id, line_no, reason, raw[:4096]))

    def attribution_notes(self) -> dict[str, int]:
        notes = {
            "asset_id not in the catalog yet (counted; in the Mux API once registered)": (
                self._unknown_asset
            ),
            "playback_id not in the catalog yet (bytes counted; seconds once registered)": (
                self._unknown_playback
            ),
        }
        return {note: number for note, number in notes.items() if number}

    def _receipt(self, environment_id: str, counts: dict[str, Any]) -> Receipt:
        draft = self._draft
        return Receipt(
            receipt_id=self.receipt_id,
            environment_id=environment_id,
            source=draft.source,
            name=draft.name,
            format=draft.format,
            content_sha256=draft.content_sha256,
            root_sha256=draft.root_sha256,
            parent_receipt_id=draft.parent_receipt_id,
            byte_size=draft.byte_size,
            line_offset=draft.line_offset,
            lines_read=counts["lines_read"],
            accepted=counts["accepted"],
            duplicate=counts["duplicate"],
            rejected=counts["rejected"],
            notes=counts["notes"],
            first_ts_us=counts["first_ts_us"],
            last_ts_us=counts["last_ts_us"],
            bytes_measure=draft.bytes_measure,
            imported_at=now_us() // 1_000_000,
        )

    def _receipt_row(self, receipt: Receipt) -> tuple[Any, ...]:
        """The `receipts` table row of `receipt` (same column order on every engine)."""
        return (
            receipt.receipt_id, self._env_key, receipt.source, receipt.name, receipt.format,
            receipt.content_sha256, receipt.root_sha256, receipt.parent_receipt_id,
            receipt.byte_size, receipt.line_offset, receipt.lines_read, receipt.accepted,
            receipt.duplicate, receipt.rejected, json.dumps(receipt.notes, sort_keys=True),
            receipt.first_ts_us, receipt.last_ts_us, receipt.bytes_measure,
            receipt.imported_at,
        )  # fmt: skip


class Store(ABC):
    """Catalog, records, rollups and receipts of every environment."""

    #: Whether `importing_group` takes counted Arrow rows (`ImportGroup.add_rows`): event
    #: batches are then counted in columns (docs/design/columnar-batches.md).
    counts_rows = False

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
    def live_streams(self, env_key: int, live_stream_id: str | None = None) -> list[dict[str, Any]]:
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

    def importing_group(self, env_key: int) -> AbstractContextManager[ImportGroup] | None:
        """One transaction for several batches (`ImportGroup`). None, the default: the engine
        has none, and batches are imported one by one, each with `importing`."""
        return None

    def find_receipts_by_content(
        self, env_key: int, content_sha256s: Sequence[str]
    ) -> dict[str, Receipt]:
        """`find_receipt_by_content` of several contents: the ones found, by content."""
        found = {sha: self.find_receipt_by_content(env_key, sha) for sha in set(content_sha256s)}
        return {sha: receipt for sha, receipt in found.items() if receipt is not None}

    def set_rolling_window(self, start_hour: int, end_hour: int) -> bool:
        """Keep one total per asset over the hours [start_hour, end_hour): the widest Mux
        window, which the server advances hourly (docs/design/rollups.md). An optimization
        only: an engine without it answers the same. True when the window moved."""
        return False

    def write_generations(self) -> tuple[int, int] | None:
        """(write transactions ended, those of them that were not imports) through this store
        object since it was opened: while they do not move, nothing was written, so answers
        derived from the store may be reused (query/mux_cache.py). None when writes can come
        from elsewhere too (another process, another API worker)."""
        return None

    def changed_floor(self, since: int, until: int) -> int | None:
        """The lowest hour whose numbers the writes after generation `since` (the first of
        `write_generations()`), up to `until`, may have changed; None when not known. What was
        derived from earlier hours only is still true (store/generations.py)."""
        return None

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

    # -- index ---------------------------------------------------------------------------
    @abstractmethod
    def register_index(
        self,
        env_key: int,
        asset_id: str,
        renditions: Sequence[Rendition],
        objects: Sequence[IndexObject],
        *,
        playlists: Sequence[PlaylistRef] = (),
    ) -> int:
        """Upsert renditions by (env, asset, rendition_id), objects by (env, path,
        byte_start) (the first of duplicates within a call wins) and media-playlist
        references by (env, path), in one transaction; returns the number of objects."""

    @abstractmethod
    def lookup_index(self, env_key: int, paths: Sequence[str]) -> dict[str, list[IndexObject]]:
        """Every entry of each known path, sorted by byte_start (the whole-file entry, None,
        first); paths the index does not know are absent."""

    def index_rows(self, env_key: int, paths: pa.Array) -> pa.Table:
        """The index facts of the known `paths` as one Arrow row each (`INDEX_ROWS_SCHEMA`):
        what counting CloudFront logs in columns joins (ingest/cloudfront_columns.py)."""
        from streammeter.store.index_rows import index_rows_table

        found = self.lookup_index(env_key, paths.to_pylist())
        keys = {
            (e.asset_id, e.rendition_id)
            for entries in found.values() for e in entries
            if e.byte_start is None and e.rendition_id
        }  # fmt: skip
        return index_rows_table(found, self.rendition_map(env_key, sorted(keys)))

    def llhls_parts_possible(self, env_key: int) -> bool:
        """Whether a request of this environment may be an LL-HLS part, or share a segment
        with one (counting.md 4.5): its index has parts, or its records do. True unless the
        engine can tell."""
        return True

    @abstractmethod
    def renditions(self, env_key: int, asset_id: str) -> list[Rendition]:
        """The asset's renditions, by rendition id."""

    @abstractmethod
    def rendition_map(
        self, env_key: int, keys: Sequence[tuple[str, str]]
    ) -> dict[tuple[str, str], Rendition]:
        """Renditions by (asset_id, rendition_id); unknown keys are absent."""

    @abstractmethod
    def playlist_refs(
        self, env_key: int, paths: Sequence[str]
    ) -> dict[str, tuple[str, PlaylistRef]]:
        """Media playlists registered masters reference: path -> (asset_id, reference)."""

    @abstractmethod
    def add_url_pattern(self, env_key: int, regex: str, attributes: dict[str, Any]) -> int:
        """Validate (PatternError, a ValueError, says why) and store a URL pattern; its id."""

    @abstractmethod
    def url_patterns(self, env_key: int) -> list[UrlPattern]:
        """The environment's URL patterns, in the order they are tried (oldest first)."""

    @abstractmethod
    def delete_url_pattern(self, env_key: int, pattern_id: int) -> bool: ...

    @abstractmethod
    def index_summary(self, env_key: int, asset_id: str | None = None) -> list[dict[str, Any]]:
        """Per indexed asset: renditions, objects, segments, parts, manifests, live,
        updated_at; with `asset_id`, also `rendition_details` (per rendition: track, size,
        bandwidth, iframe, segments, parts, seconds)."""

    # -- wowza ---------------------------------------------------------------------------
    @abstractmethod
    def get_account(self, account_id: str) -> AccountInfo | None: ...

    @abstractmethod
    def list_accounts(self) -> list[AccountInfo]: ...

    @abstractmethod
    def set_bill_anchor(self, account_id: str, anchor: str, cycle_months: int = 1) -> None:
        """Set the account's billing anchor (ISO date) and cycle (months; 0 = the anchor date
        itself); NotFound if the account is unknown."""

    @abstractmethod
    def jwt_secret(self) -> str:
        """The store's HS256 signing secret for Wowza JWTs (generated once, kept in `meta`)."""

    @abstractmethod
    def create_legacy_key(self, account_id: str) -> LegacyKey:
        """A new `wsc-api-key`/`wsc-access-key` pair; NotFound if the account is unknown."""

    @abstractmethod
    def get_legacy_key(self, access_key: str) -> LegacyKey | None: ...

    @abstractmethod
    def add_delivery_target(self, target: DeliveryTarget) -> DeliveryTarget:
        """Insert or replace a target by (env, target_id); a primary one demotes the others."""

    @abstractmethod
    def delivery_targets(self, env_key: int) -> list[DeliveryTarget]:
        """The environment's targets: the primary one first, then in the order added."""

    @abstractmethod
    def account_resources(
        self,
        env_keys: Sequence[int],
        kind: str,
        *,
        ids: Sequence[str] | None = None,
        from_id: str | None = None,
        limit: int | None = None,
        offset: int = 0,
    ) -> tuple[list[ResourceInfo], int]:
        """Resources of `kind` ('target', 'live_stream', 'asset') known in these environments
        (configured, in the catalog or seen in records), merged by id and ordered by id; only
        `ids` if given, from `from_id` on if given; and how many there are in all (`ids`
        applies, `from_id` and paging do not)."""

    @abstractmethod
    def account_usage(
        self,
        env_keys: Sequence[int],
        start_hour: int,
        end_hour: int,
        *,
        live: bool | None = None,
        kind: str | None = None,
        ids: Sequence[str] | None = None,
        by_resource: bool = False,
        step: str | None = None,
    ) -> list[UsageCell]:
        """Summed rollups over [start_hour, end_hour) of these environments.

        `live`: only transcoders (True) or VOD streams (False) usage. `kind`: only usage
        attributed to a resource of that kind ('target': the record's delivery target, or the
        environment's primary target when it has none; 'live_stream'; 'asset'), only `ids` if
        given, grouped per resource id if `by_resource`. `step` ('minute', 'hour', 'day'):
        one cell per non-empty sample bucket; minute buckets exist for the last 30 days only."""

    @abstractmethod
    def viewer_sessions(
        self, env_keys: Sequence[int], start_hour: int, end_hour: int, *, live: bool | None = None
    ) -> int:
        """Distinct viewer sessions of edge records in the window (counting.md 10): the CMCD
        session id when present, else (client IP, user agent, asset, UTC day)."""

    # -- native usage --------------------------------------------------------------------
    @abstractmethod
    def usage_revision(self) -> int:
        """The latest revision (the global counter of hour changes)."""

    @abstractmethod
    def hour_revisions(self, env_key: int, lo_hour: int, hi_hour: int) -> dict[int, int]:
        """Revision of each hour in [lo_hour, hi_hour) that has one."""

    @abstractmethod
    def usage_changes(
        self, env_key: int, since: int, limit: int = 1000, after: tuple[int, int] | None = None
    ) -> list[dict[str, int]]:
        """Hours changed at a revision > `since`: [{hour, revision, changed_at}]."""

    @abstractmethod
    def native_usage(
        self, env_key: int, params: Any, plan: Any, *, limit: int = 1000, offset: int = 0
    ) -> tuple[list[dict[str, Any]], int]:
        """`GET /v1/usage` rows (query/usage.py `UsageParams`, `UsagePlan`) and the row count."""

    @abstractmethod
    def explain_usage(
        self, env_key: int, asset_id: str, hour: int, tier: int | None = None
    ) -> list[dict[str, Any]]:
        """Receipts and line ranges behind one (asset, hour[, tier]) cell."""

    @abstractmethod
    def usage_health(self, first_provisional_hour: int) -> dict[str, Any]:
        """Figures for /metrics (quarantine, notes, newest data per source, oldest provisional)."""

    # -- moving a store (store/copy.py) ----------------------------------------------------
    @abstractmethod
    def dump(
        self, family: str, batch_rows: int = DUMP_BATCH_ROWS
    ) -> Iterator[list[dict[str, Any]]]:
        """Every row of a `DUMP_FAMILIES` family, as dicts of its fields, in batches of at most
        `batch_rows` (memory does not grow with the store)."""

    @abstractmethod
    def dump_count(self, family: str) -> int:
        """How many rows `dump(family)` gives."""

    @abstractmethod
    def restore(self, family: str, rows: Sequence[dict[str, Any]]) -> None:
        """Write dumped rows into this (empty) store as they are: no counting, no rollups
        (`rebuild` computes them once every family is in)."""

    @abstractmethod
    def hour_totals(self, env_key: int) -> dict[tuple[int, int], tuple[int, ...]]:
        """The environment's hourly rollups summed per (hour, tier): `USAGE_MEASURES`, for
        the keys where one of them is not zero."""

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
    """Open the store named by `db` (a path, or a `clickhouse://user:pass@host:9000/database`
    URL: docs/design/clickhouse.md), `STREAMMETER_DB`, or ./streammeter.duckdb."""
    target = db or default_db()
    if target.startswith("clickhouse://"):
        from streammeter.store.clickhouse import ClickHouseStore

        return ClickHouseStore(target, read_only=read_only)
    from streammeter.store.duckdb_store import DuckDBStore

    return DuckDBStore(target, read_only=read_only)
