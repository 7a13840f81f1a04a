"""Moving a whole store to another one, of any engine (`streammeter copy`), and checking it.

The copy goes through the logical dump of `Store` (base.py `DUMP_FAMILIES`): every family
is read from the source in bounded batches and written to the target as it is (records keep
their stored counting results; nothing is counted again); then the target computes its
rollups from the records (`rebuild`) and `verify` compares the two stores. Revisions of the
change feed are not copied: the target starts its own, and change-feed consumers resync.
"""

from __future__ import annotations

from collections.abc import Callable

from streammeter.model.times import US_PER_HOUR, iso_seconds
from streammeter.store.base import DUMP_BATCH_ROWS, DUMP_FAMILIES, USAGE_MEASURES, Store

# (family, rows copied so far, rows in all); then ("rollups", 0 | 1, 1) around `rebuild`
Progress = Callable[[str, int, int], None]


class TargetNotEmpty(ValueError):
    """The target store already holds data: a copy only goes into an empty store."""


def ensure_empty(target: Store) -> None:
    environments = target.list_environments()
    if environments or target.list_receipts(limit=1):
        names = ", ".join(env.name for env in environments[:5]) or "receipts only"
        raise TargetNotEmpty(
            f"the target store is not empty ({len(environments)} environment(s): {names}); "
            "copy into a new, empty store (a new DuckDB file or ClickHouse database; after "
            "an interrupted copy, delete the partial one first)"
        )


def copy_store(
    source: Store,
    target: Store,
    *,
    batch_rows: int = DUMP_BATCH_ROWS,
    progress: Progress | None = None,
) -> dict[str, int]:
    """Copy every family of `source` into the empty `target`, then rebuild the target's
    rollups; returns the rows copied per family. Memory is bounded by `batch_rows`."""
    ensure_empty(target)
    copied = {}
    for family in DUMP_FAMILIES:
        total, done = source.dump_count(family), 0
        if progress:
            progress(family, done, total)
        for batch in source.dump(family, batch_rows):
            target.restore(family, batch)
            done += len(batch)
            if progress:
                progress(family, done, total)
        copied[family] = done
    if progress:
        progress("rollups", 0, 1)
    target.rebuild()
    if progress:
        progress("rollups", 1, 1)
    return copied


def verify(source: Store, target: Store, limit: int = 10) -> list[str]:
    """The first `limit` differences between the stores: rows per dump family, and per
    environment (matched by environment id), hour and tier the sums of every rollup
    measure. Empty when they agree."""
    differences = []
    for family in DUMP_FAMILIES:
        ours, theirs = source.dump_count(family), target.dump_count(family)
        if ours != theirs:
            differences.append(f"{family}: {ours} rows in the source, {theirs} in the target")
    for env in source.list_environments():
        copied = target.get_environment(env.environment_id)
        if copied is None:
            differences.append(f"environment {env.name} ({env.environment_id}) is missing")
            continue
        differences += _total_differences(
            f"environment {env.name} ({env.environment_id})",
            source.hour_totals(env.env_key),
            target.hour_totals(copied.env_key),
        )
        if len(differences) >= limit:
            break
    return differences[:limit]


def _total_differences(
    label: str,
    ours: dict[tuple[int, int], tuple[int, ...]],
    theirs: dict[tuple[int, int], tuple[int, ...]],
) -> list[str]:
    zero = (0,) * len(USAGE_MEASURES)
    found = []
    for hour, tier in sorted(ours.keys() | theirs.keys()):
        a, b = ours.get((hour, tier), zero), theirs.get((hour, tier), zero)
        if a != b:
            measures = ", ".join(
                f"{name} {x} != {y}" for name, x, y in zip(USAGE_MEASURES, a, b, strict=True)
                if x != y
            )  # fmt: skip
            when = iso_seconds(hour * US_PER_HOUR)
            found.append(f"{label}, hour {when}, tier {tier}: {measures} (source != target)")
    return found
