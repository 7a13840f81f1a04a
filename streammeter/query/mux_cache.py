"""A response cache for `GET /video/v1/delivery-usage` that is never stale.

A Mux window ends at least 12 hours before now, so its answer only changes when

1. an import changes the numbers of one of the window's hours (a late file, a re-import), or
2. the asset catalog changes (`upsert_assets`, `delete_asset`: the fields each row shows,
   which assets are registered), or anything else that is not an import is written.

The cache keeps the serialized JSON of each answer (bounded LRU, by bytes) with the state it
was computed from, and checks that state before it serves an entry:

- **Hour revisions** (docs/api/usage.md): every transaction that changes an hour's numbers
  gives that hour a new revision, and `Store.hour_revisions(env, lo, hi)` lists them. The
  cache keeps each window's revisions and gives the window a new version whenever they differ;
  an entry is valid only for the version it was computed at. Imports of current traffic touch
  hours outside every settled window, so they invalidate nothing.
- **The store's write generations** (`Store.write_generations()`): how many write
  transactions this store object has ended, and how many of them were not imports (an import
  writes records, rollups, receipts and entity keys, never the catalog). A window's revisions
  are re-read only after the first moved; an entry is valid only for the second it was
  computed at. So a hit costs no SQL. A store that cannot count every write (writes from
  other processes: the ClickHouse store with several workers) answers None and gets no cache.
- **The floors of recent writes** (`Store.changed_floor`): the lowest hour whose numbers the
  writes since the window's revisions were read may have changed. Imports of current traffic
  have floors above every settled window, so the window stays checked without re-reading its
  revisions (anything that is not an import has floor 0: the revisions are read again).

Both are read *before* an answer is computed, so an entry is at worst tagged with an older
state than it shows and is then recomputed, never served for a newer state it does not show.

Authenticated callers are remembered the same way (a SHA-256 digest of the exact
`Authorization` header → the token it verified to), until the next write that is not an
import (`revoke_token` is one).
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from streammeter.store.base import Store, TokenInfo

MAX_WINDOWS = 1_024
MAX_TOKENS = 1_024


class _Generations:
    """The store's write generations, read as attributes (None: the store cannot tell)."""

    def __init__(self, store: Store) -> None:
        self._store = store

    @property
    def generation(self) -> int:
        return self._store.write_generations()[0]  # type: ignore[index]

    @property
    def catalog_generation(self) -> int:
        return self._store.write_generations()[1]  # type: ignore[index]

    def untouched(self, end_hour: int, since: int, until: int) -> bool:
        """Whether the writes after generation `since`, up to `until`, changed no hour up to
        `end_hour` (their floors are above it: store/generations.py)."""
        floor = self._store.changed_floor(since, until)
        return floor is not None and floor > end_hour


def _digest(revisions: dict[int, int]) -> bytes:
    """SHA-256 of a window's (hour, revision) pairs, in hour order."""
    data = ";".join(f"{hour}:{rev}" for hour, rev in sorted(revisions.items()))
    return hashlib.sha256(data.encode()).digest()


@dataclass
class _Window:
    version: int
    revisions: bytes  # _digest of the window's hour revisions
    checked_at: int  # the watch generation the revisions were read at


@dataclass(slots=True)
class _Entry:
    body: bytes
    version: int
    catalog: int


@dataclass
class CacheStats:
    hits: int = 0
    misses: int = 0
    evictions: int = 0
    revision_checks: int = 0


class UsageCache:
    """Serialized delivery-usage answers of one store, LRU-bounded by `max_bytes`."""

    def __init__(self, store: Store, max_bytes: int) -> None:
        self.store, self._watch, self.max_bytes = store, _Generations(store), max_bytes
        self._lock = threading.Lock()
        self._entries: OrderedDict[Any, _Entry] = OrderedDict()
        self._windows: OrderedDict[tuple[int, int, int], _Window] = OrderedDict()
        self._tokens: OrderedDict[bytes, tuple[TokenInfo, int]] = OrderedDict()
        self._inflight: dict[Any, threading.Event] = {}
        self._bytes = 0
        self._versions = 0
        self.stats = CacheStats()

    @property
    def size_bytes(self) -> int:
        return self._bytes

    def __len__(self) -> int:
        return len(self._entries)

    # -- tokens ----------------------------------------------------------------------------
    def token(self, authorization: str) -> TokenInfo | None:
        """The token this exact header verified to, if nothing but imports was written since."""
        digest = hashlib.sha256(authorization.encode()).digest()
        with self._lock:
            found = self._tokens.get(digest)
            if found is None or found[1] != self._watch.catalog_generation:
                return None
            self._tokens.move_to_end(digest)
            return found[0]

    def catalog_generation(self) -> int:
        return self._watch.catalog_generation

    def remember_token(self, authorization: str, token: TokenInfo, catalog: int) -> None:
        """`catalog`: the catalog generation read before the token was verified."""
        digest = hashlib.sha256(authorization.encode()).digest()
        with self._lock:
            self._tokens[digest] = (token, catalog)
            self._tokens.move_to_end(digest)
            while len(self._tokens) > MAX_TOKENS:
                self._tokens.popitem(last=False)

    # -- answers ---------------------------------------------------------------------------
    def _checked(self, window: _Window, end_hour: int, generation: int) -> bool:
        """Whether `window`'s revisions are known at `generation`: read at it, or read at an
        earlier one and nothing written since changed an hour of the window."""
        checked_at = window.checked_at
        if checked_at == generation:
            return True
        if checked_at > generation or not self._watch.untouched(end_hour, checked_at, generation):
            return False
        with self._lock:
            if window.checked_at == checked_at:
                window.checked_at = generation
            return window.checked_at == generation

    def _window_version(self, env_key: int, start_hour: int, end_hour: int) -> int:
        key = (env_key, start_hour, end_hour)
        generation = self._watch.generation
        with self._lock:
            window = self._windows.get(key)
        if window is not None and self._checked(window, end_hour, generation):
            with self._lock:
                if key in self._windows:
                    self._windows.move_to_end(key)
            return window.version
        revisions = _digest(self.store.hour_revisions(env_key, start_hour, end_hour))
        with self._lock:
            self.stats.revision_checks += 1
            window = self._windows.get(key)
            if window is None or window.revisions != revisions:
                self._versions += 1
                window = _Window(self._versions, revisions, generation)
                self._windows[key] = window
            else:
                window.checked_at = generation
            self._windows.move_to_end(key)
            while len(self._windows) > MAX_WINDOWS:
                self._windows.popitem(last=False)
            return window.version

    def peek(self, env_key: int, start_hour: int, end_hour: int, key: Any) -> bytes | None:
        """The cached answer for `key` if it is known to be valid without asking the store
        (no write since the window's revisions were last read, or none that changed its
        hours), else None. Never blocks on the store: for an event loop."""
        catalog = self._watch.catalog_generation
        generation = self._watch.generation
        with self._lock:
            window = self._windows.get((env_key, start_hour, end_hour))
        if window is None or not self._checked(window, end_hour, generation):
            return None
        with self._lock:
            entry = self._entries.get(key)
            if entry is None or entry.version != window.version or entry.catalog != catalog:
                return None
            self._entries.move_to_end(key)
            self.stats.hits += 1
            return entry.body

    def get_or_compute(
        self, env_key: int, start_hour: int, end_hour: int, key: Any, compute: Callable[[], bytes]
    ) -> bytes:
        """The cached answer for `key` (which must include env_key and the window), or the
        result of `compute()`, cached."""
        while True:
            catalog = self._watch.catalog_generation  # read first: see the module docstring
            version = self._window_version(env_key, start_hour, end_hour)
            with self._lock:
                entry = self._entries.get(key)
                if entry is not None and entry.version == version and entry.catalog == catalog:
                    self._entries.move_to_end(key)
                    self.stats.hits += 1
                    return entry.body
                # One computation per key at a time: the others wait for it, then look again.
                computing = self._inflight.get((key, version, catalog))
                if computing is None:
                    computing = self._inflight[(key, version, catalog)] = threading.Event()
                    self.stats.misses += 1
                    break
            computing.wait(60)
        try:
            body = compute()
            if len(body) <= self.max_bytes:
                self._put(key, _Entry(body, version, catalog))
            return body
        finally:
            with self._lock:
                self._inflight.pop((key, version, catalog), None)
            computing.set()

    def _put(self, key: Any, entry: _Entry) -> None:
        with self._lock:
            old = self._entries.pop(key, None)
            if old is not None:
                self._bytes -= len(old.body)
            self._entries[key] = entry
            self._bytes += len(entry.body)
            while self._bytes > self.max_bytes:
                _, evicted = self._entries.popitem(last=False)
                self._bytes -= len(evicted.body)
                self.stats.evictions += 1


_caches_lock = threading.Lock()


def usage_cache(state: Any, store: Store, max_bytes: int) -> UsageCache | None:
    """The cache kept on `state` (an app's state) for `store`; None when disabled."""
    cache = getattr(state, "mux_usage_cache", None)
    if cache is not None and cache.store is store:
        return cache
    if max_bytes <= 0:
        return None
    with _caches_lock:
        cache = getattr(state, "mux_usage_cache", None)
        if cache is None or cache.store is not store:
            if store.write_generations() is None:
                return None
            cache = UsageCache(store, max_bytes)
            state.mux_usage_cache = cache
    return cache
