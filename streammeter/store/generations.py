"""The store's write generations, and the lowest hour each recent write changed.

`Store.write_generations()` counts write transactions; an answer cache (query/mux_cache.py)
re-reads a window's hour revisions once the count moved. Most writes are imports of current
traffic, which change no hour of a settled window: remembering, for each recent write, the
lowest hour whose numbers it changed (its *floor*) lets the cache skip that check for every
window that ends before the floors of the writes since (`floor_since`).

`ChangeFloors` keeps them in the owning process. `SharedGenerations` publishes the same to
other processes through a file mapped into memory: `serve --workers N` on a DuckDB store
(docs/design/fronts.md) answers repeated Mux queries in front processes that cannot open the
store, as DuckDB gives one process the file. The owner publishes at the end of every write
transaction, before the write's answer is sent; the fronts read on every request.
"""

from __future__ import annotations

import mmap
import os
import struct
import threading
from pathlib import Path

#: Writes whose floors are remembered; a check over older ones answers "unknown".
RECENT_WRITES = 256
#: The floor of a write that changed no hour's numbers (e.g. an import of duplicates only).
NO_HOUR = 2**62
#: The floor of a write that may have changed any hour (anything but an import).
ANY_HOUR = 0

_HEADER = struct.Struct("<QQ")  # writes, catalog writes
_GENERATION, _FLOOR = struct.Struct("<Q"), struct.Struct("<q")  # an entry: generation, floor
_ENTRY_SIZE = _GENERATION.size + _FLOOR.size
_SIZE = _HEADER.size + RECENT_WRITES * _ENTRY_SIZE


class ChangeFloors:
    """The floors of the last RECENT_WRITES writes, by generation (in-process)."""

    def __init__(self) -> None:
        self._entries: list[tuple[int, int]] = [(-1, ANY_HOUR)] * RECENT_WRITES
        self._lock = threading.Lock()

    def record(self, generation: int, floor: int) -> None:
        with self._lock:
            self._entries[generation % RECENT_WRITES] = (generation, floor)

    def floor_since(self, since: int, until: int) -> int | None:
        """The lowest floor of writes since+1 .. until; None if one is not remembered."""
        with self._lock:
            return _lowest(since, until, lambda g: self._entries[g % RECENT_WRITES])


def _lowest(since: int, until: int, entry) -> int | None:  # type: ignore[no-untyped-def]
    if until - since > RECENT_WRITES or until < since:
        return None
    lowest = NO_HOUR
    for generation in range(since + 1, until + 1):
        found, floor = entry(generation)
        if found != generation:
            return None
        lowest = min(lowest, floor)
    return lowest


class SharedGenerations:
    """The (writes, catalog writes) pair of one store and its recent floors, in a file every
    process maps: two little-endian u64, then RECENT_WRITES (generation u64, floor i64).

    Written in this order: an entry's floor, its generation, then the counters; read in the
    opposite order (x86-64 keeps stores, and loads, in program order). So a reader that sees a
    generation finds its entry, and an entry whose generation matches holds that write's
    floor. A read of the counters can straddle a write; it then yields values that are not the
    old ones, which can only make a cache entry look stale (recomputed), never valid."""

    def __init__(self, path: Path, create: bool = False) -> None:
        self.path = path
        flags = os.O_RDWR | (os.O_CREAT if create else 0)
        fd = os.open(path, flags, 0o600)
        try:
            if create:
                os.ftruncate(fd, _SIZE)
            self._map = mmap.mmap(fd, _SIZE)
        finally:
            os.close(fd)
        if create:
            for slot in range(RECENT_WRITES):
                _GENERATION.pack_into(self._map, _HEADER.size + slot * _ENTRY_SIZE, 2**64 - 1)

    def publish(self, writes: int, catalog_writes: int, floor: int = ANY_HOUR) -> None:
        """The counters after a write, and that write's floor (generation `writes`)."""
        offset = _HEADER.size + (writes % RECENT_WRITES) * _ENTRY_SIZE
        _FLOOR.pack_into(self._map, offset + _GENERATION.size, floor)
        _GENERATION.pack_into(self._map, offset, writes)
        _HEADER.pack_into(self._map, 0, writes, catalog_writes)

    def read(self) -> tuple[int, int]:
        return _HEADER.unpack_from(self._map, 0)

    def floor_since(self, since: int, until: int) -> int | None:
        def entry(generation: int) -> tuple[int, int]:
            offset = _HEADER.size + (generation % RECENT_WRITES) * _ENTRY_SIZE
            (found,) = _GENERATION.unpack_from(self._map, offset)
            (floor,) = _FLOOR.unpack_from(self._map, offset + _GENERATION.size)
            (again,) = _GENERATION.unpack_from(self._map, offset)  # not reused meanwhile
            return (found if again == found else -1), floor

        return _lowest(since, until, entry)

    def close(self) -> None:
        self._map.close()
