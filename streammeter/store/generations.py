"""The store's write generations, published to other processes through a shared file.

`serve --workers N` on a DuckDB store (docs/design/fronts.md) answers repeated Mux queries in
front processes that cannot open the store: DuckDB gives one process the file. The owning
process publishes `Store.write_generations()` here at the end of every write transaction, before
the write's answer is sent; the fronts read it on every request, so their answer caches know at
once that a write happened, exactly as the owner's own cache does.

Two little-endian unsigned 64-bit counters (all writes, writes that were not imports) in a
16-byte file mapped into memory. A read can straddle a write; it then yields a value that is
not the old pair, which can only make a cache entry look stale (recomputed), never valid.
"""

from __future__ import annotations

import mmap
import os
import struct
from pathlib import Path

_LAYOUT = struct.Struct("<QQ")


class SharedGenerations:
    """The (writes, catalog writes) pair of one store, in a file every process maps."""

    def __init__(self, path: Path, create: bool = False) -> None:
        self.path = path
        flags = os.O_RDWR | (os.O_CREAT if create else 0)
        fd = os.open(path, flags, 0o600)
        try:
            if create:
                os.ftruncate(fd, _LAYOUT.size)
            self._map = mmap.mmap(fd, _LAYOUT.size)
        finally:
            os.close(fd)

    def publish(self, writes: int, catalog_writes: int) -> None:
        _LAYOUT.pack_into(self._map, 0, writes, catalog_writes)

    def read(self) -> tuple[int, int]:
        return _LAYOUT.unpack_from(self._map, 0)

    def close(self) -> None:
        self._map.close()
