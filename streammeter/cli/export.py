"""`streammeter export`: usage rows per UTC day, as Hive-style partitions (docs/exports.md).

    OUTPUT/date=2026-11-20/part.parquet   (or part.csv)
    OUTPUT/manifest.json                  partitions with rows, sha256, status, revision

Resumable and idempotent: a partition is written to a temporary file and renamed into place,
then recorded in the manifest (itself replaced atomically). A run skips every partition the
manifest lists as `final` whose file still has the recorded checksum and whose day has not
changed since (same highest revision); provisional days, changed days and missing or damaged
files are written again.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

import pyarrow.parquet as pq
import typer
from rich.console import Console

from streammeter.api.usage import arrow_table, columns_for, usage_rows
from streammeter.model.times import (
    US_PER_HOUR,
    US_PER_SECOND,
    InvalidTime,
    now_us,
    parse_instant,
)
from streammeter.query import usage as q
from streammeter.store import Store, StoreLocked, open_store

GROUP_BY = ("asset", "live_stream", "tier", "resource")
MANIFEST = "manifest.json"
PAGE = 10_000
err = Console(stderr=True, soft_wrap=True)


def _day(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        pass
    us = parse_instant(value)
    return datetime.fromtimestamp(us // US_PER_SECOND, UTC).date()


def _day_us(day: date) -> int:
    return int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp()) * US_PER_SECOND


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _write_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with tmp.open("wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


def day_rows(store: Store, env_key: int, day: date) -> tuple[list[dict[str, Any]], int, str]:
    """One UTC day of hourly rows by asset, live stream, tier and resource; with the day's
    highest revision and status."""
    start = _day_us(day)
    params = q.UsageParams(start, start + 24 * US_PER_HOUR, "hour", "UTC", GROUP_BY)
    plan = q.plan(params)
    rows: list[dict[str, Any]] = []
    offset = 0
    while True:
        raw, total = store.native_usage(env_key, params, plan, limit=PAGE, offset=offset)
        rows += usage_rows(raw, params, plan, store, env_key)
        offset += PAGE
        if offset >= total:
            break
    first = start // US_PER_HOUR
    revision = max(store.hour_revisions(env_key, first, first + 24).values(), default=0)
    final = q.hour_is_final(first + 23, now_us())
    return rows, revision, "final" if final else "provisional"


def render(rows: list[dict[str, Any]], fmt: str) -> bytes:
    if fmt == "csv":
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=columns_for(GROUP_BY), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        return buffer.getvalue().encode()
    sink = io.BytesIO()
    pq.write_table(arrow_table(rows, GROUP_BY), sink)
    return sink.getvalue()


def run_export(
    store: Store,
    env_key: int,
    environment_id: str,
    first: date,
    end: date,
    fmt: str,
    output: Path,
    progress: Callable[[str, int, int], None] | None = None,
) -> dict[str, int]:
    """Export [first, end) day by day; returns counts of written and skipped partitions."""
    output.mkdir(parents=True, exist_ok=True)
    manifest_path = output / MANIFEST
    manifest: dict[str, Any] = {"version": 1, "partitions": {}}
    if manifest_path.exists():
        manifest = json.loads(manifest_path.read_text())
        if (manifest.get("environment"), manifest.get("format")) != (environment_id, fmt):
            raise ValueError(
                f"{output} holds an export of environment {manifest.get('environment')} in "
                f"{manifest.get('format')}; use another --output"
            )
    manifest.update(environment=environment_id, format=fmt)
    days = [first + timedelta(days=i) for i in range((end - first).days)]
    counts = {"written": 0, "skipped": 0, "rows": 0}
    for done, day in enumerate(days):
        key = day.isoformat()
        relative = f"date={key}/part.{fmt}"
        path = output / relative
        entry = manifest["partitions"].get(key)
        start_hour = _day_us(day) // US_PER_HOUR
        revision = max(store.hour_revisions(env_key, start_hour, start_hour + 24).values(),
                       default=0)  # fmt: skip
        if (
            entry is not None and entry.get("status") == "final"
            and entry.get("revision") == revision and path.exists()
            and _sha256(path) == entry.get("sha256")
        ):  # fmt: skip
            counts["skipped"] += 1
        else:
            rows, revision, status = day_rows(store, env_key, day)
            _write_atomic(path, render(rows, fmt))
            manifest["partitions"][key] = {
                "file": relative, "rows": len(rows), "sha256": _sha256(path),
                "status": status, "revision": revision,
            }  # fmt: skip
            _write_atomic(manifest_path, json.dumps(manifest, indent=2, sort_keys=True).encode())
            counts["written"] += 1
            counts["rows"] += len(rows)
        if progress:
            progress(key, done + 1, len(days))
    return counts


@contextmanager
def _bar(quiet: bool) -> Iterator[Callable[[str, int, int], None] | None]:
    if quiet or not err.is_terminal:
        yield None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                  console=err, transient=True) as bar:  # fmt: skip
        task = bar.add_task("export", total=None)

        def update(key: str, done: int, total: int) -> None:
            bar.update(task, description=key, completed=done, total=total)

        yield update


def export(
    from_: Annotated[str, typer.Option("--from", help="First UTC day (YYYY-MM-DD or instant).")],
    to: Annotated[str, typer.Option("--to", help="End UTC day, exclusive.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Directory to write.")],
    environment_ref: Annotated[
        str, typer.Option("--environment", "-e", help="Environment id or name.")
    ],
    fmt: Annotated[str, typer.Option("--format", help="parquet or csv.")] = "parquet",
    quiet: Annotated[bool, typer.Option("--quiet", help="No progress bar.")] = False,
    db: Annotated[str | None, typer.Option("--db", help="Store file.")] = None,
) -> None:
    """Export hourly usage (by asset, live stream, tier, resource) as day partitions."""
    if fmt not in ("parquet", "csv"):
        raise typer.BadParameter("parquet or csv", param_hint="--format")
    try:
        first, end = _day(from_), _day(to)
    except InvalidTime as exc:
        raise typer.BadParameter(str(exc), param_hint="--from/--to") from None
    if end <= first:
        raise typer.BadParameter("--to must be after --from", param_hint="--to")
    try:
        store = open_store(db)
    except StoreLocked as exc:
        err.print(f"[red]error:[/red] {exc}", highlight=False)
        raise typer.Exit(2) from None
    try:
        env = store.get_environment(environment_ref)
        if env is None:
            err.print(f"[red]error:[/red] no environment {environment_ref!r}", highlight=False)
            raise typer.Exit(1)
        with _bar(quiet) as progress:
            try:
                counts = run_export(
                    store, env.env_key, env.environment_id, first, end, fmt, output, progress
                )
            except ValueError as exc:
                err.print(f"[red]error:[/red] {exc}", highlight=False)
                raise typer.Exit(1) from None
    finally:
        store.close()
    typer.echo(
        f"{output}: {counts['written']} partitions written ({counts['rows']} rows), "
        f"{counts['skipped']} unchanged and skipped"
    )
