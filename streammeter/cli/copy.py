"""`streammeter copy --from DB --to DB`: move a whole store to another engine, then verify it
(store/copy.py; docs/design/clickhouse.md "Moving a store")."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated

import typer
from rich.console import Console

from streammeter.store import Store, StoreLocked, open_store
from streammeter.store.base import DUMP_BATCH_ROWS, DUMP_FAMILIES
from streammeter.store.clickhouse.conn import ClickHouseURL
from streammeter.store.copy import Progress, TargetNotEmpty, copy_store, verify

out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)
MISMATCH_EXIT = 3


def shown(db: str) -> str:
    """A store's name for messages (ClickHouse passwords hidden)."""
    return ClickHouseURL.parse(db).redacted() if db.startswith("clickhouse://") else db


def _fail(message: str, code: int = 1) -> typer.Exit:
    err.print(f"[red]error:[/red] {message}", highlight=False)
    return typer.Exit(code)


def _open(db: str, *, read_only: bool) -> Store:
    try:
        return open_store(db, read_only=read_only)
    except StoreLocked as exc:
        raise _fail(str(exc), 2) from None
    except Exception as exc:  # a missing file, an unreachable server, a bad URL
        raise _fail(f"cannot open {shown(db)}: {exc}") from None


@contextmanager
def _bars(quiet: bool) -> Iterator[Progress | None]:
    """One progress bar per family on a terminal; nothing with --quiet or when not a TTY."""
    if quiet or not err.is_terminal:
        yield None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    with Progress(
        TextColumn("{task.description:<17}"), BarColumn(), MofNCompleteColumn(),
        console=err,
    ) as bars:  # fmt: skip
        tasks: dict[str, int] = {}

        def update(family: str, done: int, total: int) -> None:
            if family not in tasks:
                tasks[family] = bars.add_task(family, total=total)
            bars.update(tasks[family], completed=done)

        yield update


def copy_command(
    source: Annotated[
        str, typer.Option("--from", help="The store to copy (a DuckDB file or clickhouse:// URL).")
    ],
    target: Annotated[
        str, typer.Option("--to", help="An empty store to copy into (created if missing).")
    ],
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars.")] = False,
    batch_rows: Annotated[
        int, typer.Option(min=1, help="Rows read and written at a time (bounds memory).")
    ] = DUMP_BATCH_ROWS,
) -> None:
    """Copy a whole store into an empty one (any engine to any engine), then check that every
    environment's hourly totals agree (exit 3 if not). Records keep what they earned; the
    target computes its rollups from them. Change-feed consumers resync afterwards: revisions
    start again on the target."""
    if source == target:
        raise _fail("--from and --to name the same store")
    src = _open(source, read_only=True)
    try:
        dst = _open(target, read_only=False)
        try:
            try:
                with _bars(quiet) as progress:
                    copied = copy_store(src, dst, batch_rows=batch_rows, progress=progress)
            except TargetNotEmpty as exc:
                raise _fail(f"{shown(target)}: {exc}") from None
            differences = verify(src, dst)
        finally:
            dst.close()
    finally:
        src.close()
    if differences:
        listed = "\n".join(f"  {line}" for line in differences)
        raise _fail(
            f"the copy in {shown(target)} differs from {shown(source)} "
            f"(first differences):\n{listed}\nA ClickHouse source with interrupted imports "
            "needs `streammeter migrate` first (it finishes their rollups); then copy again "
            "into a new, empty store.",
            MISMATCH_EXIT,
        )
    counts = ", ".join(f"{copied[f]} {f.replace('_', ' ')}" for f in DUMP_FAMILIES if copied[f])
    out.print(
        f"Copied {shown(source)} to {shown(target)}: {counts}. Totals verified. "
        "Change-feed consumers must resync (revisions start again on the target).",
        highlight=False,
    )
