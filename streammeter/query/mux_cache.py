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
- **A write watch** on the store object: every write of `DuckDBStore` holds its `_write_lock`
  (an `RLock`); the watch wraps it so that each write transaction bumps `generation` when it
  ends (after its COMMIT), and `catalog_generation` too unless it ran inside
  `store.importing(...)` (an import: it writes records, rollups, receipts and entity keys,
  never the catalog). A window's revisions are re-read only after `generation` moved; an
  entry is valid only for the `catalog_generation` it was computed at. So a hit costs no SQL.

Both are read *before* an answer is computed, so an entry is at worst tagged with an older
state than it shows and is then recomputed, never served for a newer state it does not show.
The watch relies on every write to the store going through this store object — true for
`streammeter serve`, whose process holds DuckDB's lock on the file. A store without a
`_write_lock` gets no cache.

Authenticated callers are remembered the same way (a SHA-256 digest of the exact
`Authorization` header → the token it verified to), until the next write that is not an import
(`revoke_token` is one).
"""

from __future__ import annotations

import hashlib
import threading
import weakref
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from streammeter.store.base import Store, TokenInfo

_HOUR = 3_600
MAX_WINDOWS = 1_024
MAX_TOKENS = 1_024


class _WatchedLock:
    """The store's write lock, reporting the end of every outermost hold to the watch."""

    def __init__(self, inner: Any, watch: WriteWatch) -> None:
        self._inner, self._watch = inner, watch
        self._depth = 0  # only ever changed by the thread that holds the lock
        self._import = False

    def acquire(self, blocking: bool = True, timeout: float = -1) -> bool:
        acquired = self._inner.acquire(blocking, timeout)
        if acquired:
            self._depth += 1
            if self._depth == 1:
                self._import = self._watch._in_import()
        return acquired

    def release(self) -> None:
        if self._depth == 1:
            self._watch._ended(importing=self._import)
        self._depth -= 1
        self._inner.release()

    def __enter__(self) -> bool:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


class WriteWatch:
    """Counts the write transactions of one store (see the module docstring)."""

    def __init__(self) -> None:
        self.generation = 0
        self.catalog_generation = 0
        self._local = threading.local()

    def _in_import(self) -> bool:
        return getattr(self._local, "imports", 0) > 0

    def _ended(self, *, importing: bool) -> None:
        # Called with the store's write lock held: no two writers run this at once.
        if not importing:
            self.catalog_generation += 1
        self.generation += 1

    def _install(self, store: Any) -> None:
        original_lock = store._write_lock
        original_importing = store.importing
        watch = self

        @contextmanager
        def importing(*args: Any, **kwargs: Any) -> Iterator[Any]:
            local = watch._local
            local.imports = getattr(local, "imports", 0) + 1
            try:
                with original_importing(*args, **kwargs) as session:
                    yield session
            finally:
                local.imports -= 1

        # Swap while holding the lock: a write in flight ends before the watch starts.
        with original_lock:
            store.importing = importing
            store._write_lock = _WatchedLock(original_lock, self)


_watches: weakref.WeakKeyDictionary[Any, WriteWatch] = weakref.WeakKeyDictionary()
_watches_lock = threading.Lock()


def watch_store(store: Store) -> WriteWatch | None:
    """The store's write watch (installed on first use), or None if it cannot be watched."""
    if not hasattr(store, "_write_lock") or not hasattr(store, "importing"):
        return None
    with _watches_lock:
        watch = _watches.get(store)
        if watch is None:
            watch = WriteWatch()
            watch._install(store)
            _watches[store] = watch
        return watch


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

    def __init__(self, store: Store, watch: WriteWatch, max_bytes: int) -> None:
        self.store, self._watch, self.max_bytes = store, watch, max_bytes
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
    def _window_version(self, env_key: int, start_hour: int, end_hour: int) -> int:
        key = (env_key, start_hour, end_hour)
        generation = self._watch.generation
        with self._lock:
            window = self._windows.get(key)
            if window is not None and window.checked_at == generation:
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
        (no write since the window's revisions were last read), else None. Never blocks on
        the store: for an event loop."""
        catalog = self._watch.catalog_generation
        generation = self._watch.generation
        with self._lock:
            window = self._windows.get((env_key, start_hour, end_hour))
            if window is None or window.checked_at != generation:
                return None
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
            watch = watch_store(store)
            if watch is None:
                return None
            cache = UsageCache(store, watch, max_bytes)
            state.mux_usage_cache = cache
    return cache
