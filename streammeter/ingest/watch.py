"""`streammeter ingest --watch DIR`: import files as they land (and as they grow).

Polling keeps it simple and portable: every `interval` seconds each file in the directory is
offered to the importer, which is a no-op for content already imported and imports only the
new lines of a file that grew. A partly written last line is held back until it ends.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from streammeter.ingest.importer import import_file
from streammeter.store.base import Receipt, Store


def scan_once(
    store: Store,
    env_key: int,
    directory: Path,
    *,
    fmt: str | None = None,
    origin: bool = False,
    options: dict[str, Any] | None = None,
    seen: dict[Path, tuple[int, int]] | None = None,
    on_error: Callable[[Path, str], None] = lambda path, message: None,
) -> list[Receipt]:
    """Import every new or grown file once; `seen` (size, mtime) skips unchanged files fast.

    A file that cannot be imported (unknown format...) is reported through `on_error` and
    tried again only when it changes; it never stops the others.
    """
    receipts = []
    for path in sorted(
        p for p in directory.iterdir() if p.is_file() and not p.name.startswith(".")
    ):
        stat = path.stat()
        signature = (stat.st_size, stat.st_mtime_ns)
        if seen is not None and seen.get(path) == signature:
            continue
        if seen is not None:
            seen[path] = signature
        try:
            receipt = import_file(store, env_key, path, fmt, origin=origin, options=options)
        except ValueError as exc:
            on_error(path, str(exc))
            continue
        if not receipt.already_imported:
            receipts.append(receipt)
    return receipts


def watch(
    store: Store,
    env_key: int,
    directory: Path,
    *,
    interval: float = 5.0,
    on_receipt: Callable[[Receipt], None] = lambda receipt: None,
    on_error: Callable[[Path, str], None] = lambda path, message: None,
    stop: Callable[[], bool] = lambda: False,
    **import_options: Any,
) -> None:
    """Poll `directory` until `stop()` says so (Ctrl+C in the CLI)."""
    seen: dict[Path, tuple[int, int]] = {}
    while not stop():
        found = scan_once(store, env_key, directory, seen=seen, on_error=on_error, **import_options)
        for receipt in found:
            on_receipt(receipt)
        deadline = time.monotonic() + interval
        while time.monotonic() < deadline and not stop():
            time.sleep(min(0.1, interval))
