"""Delivery-usage query benchmark (and the ingest cost of the rollup levels).

    .venv/bin/python -m bench.delivery_usage            # full: 200k assets, ~50M hourly rows
    .venv/bin/python -m bench.delivery_usage --quick    # small, well under a minute

1. Generates (or reuses from bench/.data/) a seeded environment: `--assets` assets whose
   popularity follows a Zipf law by rank, `--days` days of hourly usage over 5 tiers, about
   `--rows-target` rows in `usage_hour` (sorted by bucket, like `compact()` leaves it), and
   `usage_day` / `usage_month` derived from it with the store's own bucket expressions. The
   windows end at 2025-11-17T14:00Z (mid-month, not day- or month-aligned) and the data runs on
   12 hours past that ("now"), as a Mux window ends at floor_hour(now - 12h).
2. Times `store.delivery_usage` (the Mux API query: month/day/hour rollup levels) against a
   naive query that aggregates the hourly rows of the whole window, same engine, same process,
   for a long (`--days`), a 1-day and a 1-hour window, page 1 and a deep page; prints p50/p99
   and the ratio naive/ours. Both must return identical pages and `total_row_count`, or the
   benchmark fails.
3. Imports a generated NDJSON file into fresh stores, once maintaining all three rollup levels
   and once only `usage_hour`, and prints records/s for both and the slowdown.

With `--clickhouse URL|auto` (`auto`: the two-shard loopback cluster of
scripts/clickhouse-cluster.sh, started for the run in a temp dir and stopped at the end, also on
errors, Ctrl+C and SIGTERM), the same data is loaded into a fresh ClickHouse database (catalog
with the ClickHouse store's entity keys, usage_hour/day/month), the ClickHouse store's
delivery_usage and a naive ClickHouse GROUP BY over usage_hour are timed on the same pages and
checked equal to each other and to DuckDB's pages, and printed beside DuckDB's numbers; the
NDJSON file is also imported into a fresh ClickHouse store. Databases are dropped after use.

Percentiles are nearest-rank over the timed runs (p99 of fewer than 100 runs is the slowest).
All randomness is DuckDB `hash()` / `random.Random` of fixed seeds: a parameter set always
produces the same data with the same DuckDB version (which is part of the cache key).
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import math
import os
import platform
import random
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any

import duckdb

from streammeter.config import Settings
from streammeter.ingest.importer import import_file
from streammeter.model.catalog import Asset
from streammeter.model.times import service_clock_at
from streammeter.query.delivery_usage import widest_window
from streammeter.query.windows import signed_cover
from streammeter.store import duckdb_store, open_store
from streammeter.store.attribution import ASSET_LEVELS, LEVELS
from streammeter.store.base import Store
from streammeter.store.duckdb_store import DuckDBStore

DATA_DIR = Path(__file__).resolve().parent / ".data"
#: Bump when the generator changes, so cached databases are regenerated.
GENERATOR_VERSION = 4
TIERS = 5
#: The end of every window: a day boundary in mid-month plus some hours, as a real Mux window
#: ends at floor_hour(now - 12h). Windows are therefore not month-aligned.
END_HOUR = int(datetime(2025, 11, 17, 14, tzinfo=UTC).timestamp()) // 3600
#: "now": the data runs `--days` days up to END_HOUR, plus the 12 hours after it (in production
#: ingest is current while a Mux window must end 12 hours before now).
SETTLE_HOURS = 12
DATA_END_HOUR = END_HOUR + SETTLE_HOURS
LIMIT = 100
#: The usage_hour columns the generator fills; any other column gets its neutral value.
GENERATED_COLUMNS = (
    "env_key", "bucket", "asset_key", "live_stream_key", "tier", "delivered_us", "bytes",
    "requests",
)  # fmt: skip
#: Catalog resolution tiers, drawn uniformly from this list (1080p most common).
CATALOG_TIERS = ["720p", "1080p", "1080p", "1080p", "1440p", "2160p", "audio-only"]
DEEP_OFFSET = 50_000
#: Typical bitrate of each tier code (kbit/s), for plausible `bytes`.
TIER_KBPS = {1: 2_500, 2: 5_000, 3: 8_000, 4: 16_000, 5: 128}
ASSET_COLUMNS = (
    "asset_id", "live_stream_id", "passthrough", "created_at", "deleted_at", "asset_state",
    "asset_duration", "asset_resolution_tier", "asset_encoding_tier", "asset_video_quality",
)  # fmt: skip

Log = Callable[[str], None]


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


class BenchmarkMismatch(AssertionError):
    """Our query and the naive one disagree: the benchmark is void."""


# --- data -----------------------------------------------------------------------------------


def _schema_digest() -> str:
    """Short digest of the usage_hour definition in the store schema: a cached database with
    other rollup columns is not reused (the rest of the schema may change freely)."""
    schema = resources.files("streammeter.store").joinpath("schema.sql").read_text()
    found = re.search(r"CREATE TABLE IF NOT EXISTS usage_hour \((.*?)\);", schema, re.S)
    definition = " ".join((found.group(1) if found else schema).split())
    return hashlib.sha256(definition.encode()).hexdigest()[:8]


@dataclass(frozen=True)
class DataParams:
    assets: int = 200_000
    days: int = 90
    rows_target: int = 50_000_000
    zipf: float = 1.0
    seed: int = 42

    @property
    def hours(self) -> int:
        return self.days * 24

    @property
    def first_hour(self) -> int:
        return END_HOUR - self.hours

    @property
    def cells(self) -> int:
        """(hour, tier) cells an asset can have rows in."""
        return (self.hours + SETTLE_HOURS) * TIERS

    def cache_path(self) -> Path:
        name = (
            f"delivery_usage-a{self.assets}-d{self.days}-r{self.rows_target}-z{self.zipf:g}"
            f"-s{self.seed}-g{GENERATOR_VERSION}-schema{_schema_digest()}"
            f"-duckdb{duckdb.__version__}.duckdb"
        )
        return DATA_DIR / name


QUICK_DATA = DataParams(assets=2_000, days=90, rows_target=500_000)


@dataclass
class DataInfo:
    path: str
    env_key: int
    rows: dict[str, int]
    file_mb: float
    generated_s: float | None  # None: reused from the cache


def _zipf_scale(con: duckdb.DuckDBPyConnection, p: DataParams) -> float:
    """The constant c such that sum over ranks of min(cells, max(1, round(c / rank^s)))
    is the row target (bisection; monotone in c)."""
    cells = p.cells
    if p.rows_target >= p.assets * cells:
        return float(cells) * p.assets**p.zipf  # everything dense
    lo, hi = 1e-3, 1e3 * float(cells) * p.assets**p.zipf
    for _ in range(100):
        mid = math.sqrt(lo * hi)
        rows = con.execute(
            f"SELECT sum(least({cells}, greatest(1, round(? / pow(rank, ?))))) FROM bench_rank",
            [mid, p.zipf],
        ).fetchone()[0]
        if rows < p.rows_target:
            lo = mid
        else:
            hi = mid
        if hi / lo < 1 + 1e-9:
            break
    return hi


def _table_columns(con: duckdb.DuckDBPyConnection, table: str) -> list[tuple[str, str, bool]]:
    """(name, type, not null) of each column of `table`, in order."""
    return [
        (name, kind, bool(notnull))
        for _, name, kind, notnull, *_ in con.execute(f"PRAGMA table_info('{table}')").fetchall()
    ]


def _generated_or_default(
    con: duckdb.DuckDBPyConnection, table: str, generated: Sequence[str]
) -> list[str]:
    """Select expressions for every column of `table`: the generated column of that name, else
    the neutral value (NULL, false, 0) of a column the generator does not know about (the
    rollup schema grows: e.g. live, egress_us)."""
    out = []
    for name, kind, notnull in _table_columns(con, table):
        if name in generated:
            out.append(name)
        elif not notnull:
            out.append(f"NULL AS {name}")
        elif kind == "BOOLEAN":
            out.append(f"false AS {name}")
        else:
            out.append(f"0::{kind} AS {name}")
    return out


def _rollup_columns(con: duckdb.DuckDBPyConnection) -> tuple[list[str], list[str]]:
    """(key columns, measure columns) of the rollup tables: measures are the BIGINT sums."""
    columns = _table_columns(con, "usage_hour")
    measures = [name for name, kind, _ in columns if kind == "BIGINT"]
    dims = [name for name, kind, _ in columns if kind != "BIGINT"]
    return dims, measures


def generate(path: Path, p: DataParams, log: Log = _log) -> DataInfo:
    """Write a fresh benchmark database at `path` (written aside, then renamed into place)."""
    started = time.perf_counter()
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    for stale in (partial, partial.with_name(partial.name + ".wal")):
        stale.unlink(missing_ok=True)
    cells = p.cells
    columns = GENERATED_COLUMNS
    with open_store(str(partial)) as store:
        env_key = store.create_environment("bench", "acct_bench").env_key
        con = store._con
        con.execute(
            "CREATE TEMP TABLE bench_rank AS SELECT k::INTEGER AS asset_key, "
            "row_number() OVER (ORDER BY hash(k, ?), k)::DOUBLE AS rank FROM range(1, ? + 1) t(k)",
            [p.seed, p.assets],
        )
        scale = _zipf_scale(con, p)
        log(f"generating {p}: zipf scale {scale:.6g}")
        con.execute(
            "CREATE TEMP TABLE bench_count AS SELECT asset_key, "
            f"least({cells}, greatest(1, round(? / pow(rank, ?))))::BIGINT AS n, "
            # the densest assets also deliver more per hour: more concurrent viewers
            f"greatest(1, floor(? / pow(rank, ?) / {cells}))::BIGINT AS mult "
            "FROM bench_rank",
            [scale, p.zipf, scale, p.zipf],
        )
        # Catalog: entity keys and assets (a Mux-like mix of tiers, 1% deleted).
        con.execute(
            "CREATE TEMP TABLE bench_asset AS SELECT asset_key, "
            "md5('bench-' || ? || '-' || asset_key) AS asset_id, hash(?, 7, asset_key) AS h "
            "FROM bench_rank",
            [p.seed, p.seed],
        )
        con.execute(
            "INSERT INTO entity_keys SELECT asset_key, ?, 'asset', asset_id FROM bench_asset "
            "ORDER BY asset_key",
            [env_key],
        )
        con.execute("SELECT max(nextval('entity_key_seq')) FROM range(?)", [p.assets])
        created = p.first_hour * 3600
        con.execute(
            "INSERT INTO assets (asset_key, env_key, asset_id, live_stream_id, live_stream_key, "
            "passthrough, created_at, deleted_at, asset_state, asset_duration, "
            "asset_resolution_tier, asset_encoding_tier, asset_video_quality, updated_at) "
            "SELECT asset_key, ?, asset_id, NULL, NULL, NULL, "
            "  ? - (h % 31536000)::BIGINT, "
            "  CASE WHEN h % 100 = 0 THEN ? + (h % 7776000)::BIGINT END, "
            "  CASE WHEN h % 100 = 0 THEN 'deleted' ELSE 'ready' END, "
            "  10 + (h % 7200000)::BIGINT / 1000.0, "
            f"  {CATALOG_TIERS}[1 + (h % {len(CATALOG_TIERS)})::BIGINT], "
            "  'smart', 'plus', ? "
            "FROM bench_asset ORDER BY asset_key",
            [env_key, created, created, DATA_END_HOUR * 3600],
        )
        log(f"  catalog: {p.assets} assets")
        kbps = " ".join(f"WHEN {code} THEN {rate}" for code, rate in TIER_KBPS.items())
        generated = f"""
            SELECT ? AS env_key, (? + cell // {TIERS})::INTEGER AS bucket, asset_key,
                   NULL::INTEGER AS live_stream_key, (1 + cell % {TIERS})::TINYINT AS tier,
                   delivered_us, delivered_us * (CASE 1 + cell % {TIERS} {kbps} END) // 8000
                       AS bytes,
                   delivered_us // 6000000 + 1 AS requests
            FROM (
                SELECT asset_key,
                       lo + (hash(?, 1, asset_key, k) % (hi - lo))::BIGINT AS cell,
                       mult * (1000000 + (hash(?, 2, asset_key, k) % 599000000)::BIGINT)
                           AS delivered_us
                FROM (
                    SELECT asset_key, mult, k, k * {cells} // n AS lo,
                           (k + 1) * {cells} // n AS hi
                    FROM (SELECT asset_key, n, mult, unnest(range(n)) AS k FROM bench_count)
                )
            )
            UNION ALL
            -- bytes no asset could be attributed to (tier 0): one row per hour
            SELECT ?, h::INTEGER, NULL, NULL, 0::TINYINT, 0,
                   (hash(?, 3, h) % 1000000000)::BIGINT, 100
            FROM range(?, ?) t(h)
        """
        con.execute(
            "INSERT INTO usage_hour "  # every column, in table order
            f"SELECT {', '.join(_generated_or_default(con, 'usage_hour', columns))} "
            f"FROM ({generated}) ORDER BY bucket, asset_key NULLS LAST",
            [env_key, p.first_hour, p.seed, p.seed, env_key, p.seed, p.first_hour, DATA_END_HOUR],
        )
        hour_rows = con.execute("SELECT count(*) FROM usage_hour").fetchone()[0]
        log(f"  usage_hour: {hour_rows:,} rows ({time.perf_counter() - started:.0f} s)")
        dims, measures = _rollup_columns(con)
        for table in ("usage_day", "usage_month"):
            # As compact() leaves a level: one row per key, sorted by bucket.
            con.execute(
                f"""
                INSERT INTO {table} ({", ".join(dims + measures)})
                SELECT * FROM (
                    SELECT {
                    ", ".join(LEVELS[table] + " AS bucket" if d == "bucket" else d for d in dims)
                },
                           {", ".join(f"sum({m})::BIGINT" for m in measures)}
                    FROM (SELECT * EXCLUDE (bucket), bucket AS hour FROM usage_hour)
                    GROUP BY ALL
                ) ORDER BY env_key, bucket, asset_key
                """
            )
            log(f"  {table} derived ({time.perf_counter() - started:.0f} s)")
        for table, bucket in ASSET_LEVELS.items():
            # The per-asset rollups of the Mux query: media tiers of known assets, wide rows.
            tiers = ", ".join(
                f"coalesce(sum(delivered_us) FILTER (WHERE tier = {code}), 0)::BIGINT"
                for code in range(1, TIERS + 1)
            )
            con.execute(
                f"""
                INSERT INTO {table}
                SELECT * FROM (
                    SELECT env_key, {bucket} AS bucket, asset_key, sum(delivered_us)::BIGINT,
                           {tiers}
                    FROM (SELECT * EXCLUDE (bucket), bucket AS hour FROM usage_hour)
                    WHERE tier > 0 AND asset_key IS NOT NULL
                    GROUP BY ALL
                ) ORDER BY env_key, bucket, asset_key
                """
            )
            log(f"  {table} derived ({time.perf_counter() - started:.0f} s)")
        con.execute(
            "INSERT OR REPLACE INTO meta VALUES ('bench_params', ?)", [json.dumps(asdict(p))]
        )
        for temp in ("bench_rank", "bench_count", "bench_asset"):
            con.execute(f"DROP TABLE {temp}")
        con.execute("CHECKPOINT")
    partial.replace(path)
    info = describe(path)
    info.generated_s = time.perf_counter() - started
    log(f"  done in {info.generated_s:.0f} s: {path} ({info.file_mb:,.0f} MB)")
    return info


def describe(path: Path) -> DataInfo:
    con = duckdb.connect(str(path), read_only=True)
    try:
        env_key = con.execute("SELECT env_key FROM environments WHERE name = 'bench'").fetchone()[0]
        rows = {
            table: con.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
            for table in ("assets", "usage_hour", "usage_day", "usage_month")
        }
    finally:
        con.close()
    return DataInfo(str(path), env_key, rows, path.stat().st_size / 1e6, None)


def prepare(p: DataParams, db: Path | None = None, log: Log = _log) -> DataInfo:
    """The benchmark database for `p`: `db` or the cache file, generated if missing."""
    path = db or p.cache_path()
    if path.exists():
        log(f"reusing {path}")
        return describe(path)
    return generate(path, p, log)


# --- queries --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Window:
    name: str
    start: int  # hour
    end: int


def windows(p: DataParams) -> list[Window]:
    return [
        Window(f"{p.days}d", END_HOUR - p.hours, END_HOUR),
        Window("1d", END_HOUR - 24, END_HOUR),
        Window("1h", END_HOUR - 1, END_HOUR),
    ]


#: A page reduced to what both queries must agree on: (asset_id, per-tier us, total us) rows.
Page = tuple[list[tuple[Any, ...]], int]


def ours(store: DuckDBStore, env_key: int, w: Window, offset: int) -> Page:
    rows, total = store.delivery_usage(env_key, w.start, w.end, limit=LIMIT, offset=offset)
    return [
        (
            r.asset["asset_id"],
            *(r.tiers_us.get(code) for code in range(1, TIERS + 1)),
            r.total_us,
        )
        for r in rows
    ], total


NAIVE_SQL = f"""
    SELECT a.asset_id, h.t1, h.t2, h.t3, h.t4, h.t5, h.total, count(*) OVER () AS row_count,
           {", ".join("a." + c for c in ASSET_COLUMNS[1:])}
    FROM (
        SELECT asset_key,
               sum(delivered_us) FILTER (WHERE tier = 1) AS t1,
               sum(delivered_us) FILTER (WHERE tier = 2) AS t2,
               sum(delivered_us) FILTER (WHERE tier = 3) AS t3,
               sum(delivered_us) FILTER (WHERE tier = 4) AS t4,
               sum(delivered_us) FILTER (WHERE tier = 5) AS t5,
               sum(delivered_us) AS total
        FROM usage_hour
        WHERE env_key = ? AND bucket BETWEEN ? AND ? AND tier > 0 AND asset_key IS NOT NULL
        GROUP BY asset_key
    ) h JOIN assets a USING (asset_key)
    WHERE h.total > 0
    ORDER BY h.total DESC, a.asset_id
    LIMIT ? OFFSET ?
"""


def naive(con: duckdb.DuckDBPyConnection, env_key: int, w: Window, offset: int) -> Page:
    """The same page straight from the hourly rows: one GROUP BY over the whole window."""
    rows = con.execute(NAIVE_SQL, [env_key, w.start, w.end - 1, LIMIT, offset]).fetchall()
    page = [(row[0], *(int(v) if v else None for v in row[1:6]), int(row[6])) for row in rows]
    return page, int(rows[0][7]) if rows else 0


def _percentile(samples: Sequence[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def _timed(run: Callable[[], Page], repeat: int) -> tuple[Page, list[float]]:
    result = run()  # warm-up, not timed
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        run()
        times.append((time.perf_counter() - started) * 1000)
    return result, times


@dataclass
class QueryResult:
    window: str
    offset: int
    total_row_count: int
    ours_ms: list[float] = field(repr=False)
    naive_ms: list[float] = field(repr=False)
    #: The page both queries returned (compared with the other engine's).
    page: Page | None = field(default=None, repr=False, compare=False)

    @property
    def ours_p50(self) -> float:
        return _percentile(self.ours_ms, 0.5)

    @property
    def ours_p99(self) -> float:
        return _percentile(self.ours_ms, 0.99)

    @property
    def naive_p50(self) -> float:
        return _percentile(self.naive_ms, 0.5)

    @property
    def naive_p99(self) -> float:
        return _percentile(self.naive_ms, 0.99)

    def summary(self) -> dict[str, Any]:
        return {
            "window": self.window, "offset": self.offset,
            "total_row_count": self.total_row_count,
            "ours_p50_ms": round(self.ours_p50, 2), "ours_p99_ms": round(self.ours_p99, 2),
            "naive_p50_ms": round(self.naive_p50, 2), "naive_p99_ms": round(self.naive_p99, 2),
            "ratio_p50": round(self.naive_p50 / self.ours_p50, 1),
            "runs": [len(self.ours_ms), len(self.naive_ms)],
        }  # fmt: skip


def _check(
    w: Window, offset: int, mine: Page, theirs: Page, names: tuple[str, str] = ("ours", "naive")
) -> None:
    if mine != theirs:
        rows_a, total_a = mine
        rows_b, total_b = theirs
        first = next(
            (i for i, (a, b) in enumerate(zip(rows_a, rows_b, strict=False)) if a != b), None
        )
        detail = (
            f"first differing row {first}: {names[0]} {rows_a[first]} {names[1]} {rows_b[first]}"
            if (first is not None)
            else f"{len(rows_a)} vs {len(rows_b)} rows"
        )
        raise BenchmarkMismatch(
            f"window {w.name} [{w.start}, {w.end}) offset {offset}: {names[0]} and {names[1]} "
            f"differ (total_row_count {total_a} vs {total_b}; {detail})"
        )
    if offset == 0 and not mine[0]:
        raise BenchmarkMismatch(f"window {w.name}: page 1 is empty; the data set is wrong")


def run_queries(
    store: DuckDBStore,
    env_key: int,
    p: DataParams,
    repeat: int,
    naive_repeat: int,
    log: Log = _log,
) -> list[QueryResult]:
    """Time both queries on page 1 and a deep page of each window; verify they agree."""
    results = []
    con = store._cursor()
    with _service_clock():  # the store reads a window's last month from "now"
        for w in windows(p):
            results += _time_window(store, con, env_key, w, repeat, naive_repeat, log)
    return results


def _time_window(
    store: DuckDBStore,
    con: duckdb.DuckDBPyConnection,
    env_key: int,
    w: Window,
    repeat: int,
    naive_repeat: int,
    log: Log,
) -> list[QueryResult]:
    total = ours(store, env_key, w, 0)[1]
    # the deep page: offset DEEP_OFFSET, or the last page of a shorter list
    deep = DEEP_OFFSET if total > DEEP_OFFSET else (total - 1) // LIMIT * LIMIT
    results = []
    for offset in (0, deep) if deep > 0 else (0,):
        log(f"timing {w.name} offset {offset}")
        mine, ours_ms = _timed(lambda o=offset: ours(store, env_key, w, o), repeat)
        theirs, naive_ms = _timed(lambda o=offset: naive(con, env_key, w, o), naive_repeat)
        _check(w, offset, mine, theirs)
        results.append(QueryResult(w.name, offset, mine[1], ours_ms, naive_ms, mine))
    return results


def advance_rolling_window(store: Store) -> tuple[int, int]:
    """The rolling window where the server would keep it at "now" (DATA_END_HOUR)."""
    window = widest_window(DATA_END_HOUR * 3600, Settings())
    with _service_clock():
        store.set_rolling_window(*window)
    return window


def window_reads(
    con: duckdb.DuckDBPyConnection, env_key: int, w: Window, rolling: tuple[int, int]
) -> list[tuple[str, int]]:
    """Rows each level contributes to our query for window `w` (naive reads the hour rows)."""
    reads = []
    for level, lo, hi, sign in signed_cover(w.start, w.end, DATA_END_HOUR, rolling):
        table = "usage_hour" if level == "hour" else f"asset_usage_{level}"
        buckets = [] if level == "rolling" else [lo, hi]
        rows = con.execute(
            f"SELECT count(*) FROM {table} WHERE env_key = ?"
            + ("" if level == "rolling" else " AND bucket >= ? AND bucket < ?"),
            [env_key, *buckets],
        ).fetchone()[0]
        reads.append((f"{'-' if sign < 0 else ''}{table}[{lo},{hi})", rows))
    return reads


def format_queries(results: Sequence[QueryResult]) -> str:
    header = (
        f"{'window':<7} {'page':<16} {'rows':>8} {'ours p50':>9} {'ours p99':>9} "
        f"{'naive p50':>10} {'naive p99':>10} {'naive/ours':>10}"
    )
    lines = [header, "-" * len(header)]
    for r in results:
        page = "1" if r.offset == 0 else f"{r.offset // LIMIT + 1} (off {r.offset})"
        lines.append(
            f"{r.window:<7} {page:<16} {r.total_row_count:>8} {r.ours_p50:>9.1f} "
            f"{r.ours_p99:>9.1f} {r.naive_p50:>10.1f} {r.naive_p99:>10.1f} "
            f"{r.naive_p50 / r.ours_p50:>9.1f}x"
        )
    return "\n".join(lines)


# --- ingest ---------------------------------------------------------------------------------

INGEST_ASSETS = 2_000
INGEST_DAYS = 7
_DIMENSIONS = [(1280, 720), (1920, 1080), (1920, 1080), (2560, 1440), (3840, 2160)]


def ingest_file(records: int, seed: int, path: Path | None = None) -> Path:
    """NDJSON of `records` generic 6-second segment records over INGEST_ASSETS assets
    (Zipf popularity) and the INGEST_DAYS days before END_HOUR, shuffled in time."""
    path = path or DATA_DIR / f"ingest-n{records}-s{seed}-g{GENERATOR_VERSION}.ndjson"
    if path.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    ids = [f"ingest-{seed}-{i:05d}" for i in range(INGEST_ASSETS)]
    picks = rng.choices(ids, weights=[1 / (i + 1) for i in range(INGEST_ASSETS)], k=records)
    span = INGEST_DAYS * 86_400
    partial = path.with_name(path.name + ".partial")
    with partial.open("w") as out:
        for i, asset_id in enumerate(picks):
            width, height = rng.choice(_DIMENSIONS)
            out.write(
                json.dumps(
                    {
                        "id": f"req-{seed}-{i}",
                        "timestamp": END_HOUR * 3600 - span + rng.randrange(span),
                        "asset_id": asset_id,
                        "duration": 6,
                        "width": width,
                        "height": height,
                        "bytes": rng.randrange(200_000, 6_000_000),
                    }
                )
                + "\n"
            )
    partial.replace(path)
    return path


@contextlib.contextmanager
def _rollup_levels(tables: tuple[str, ...], spent: list[float]) -> Iterator[None]:
    """Maintain only `tables` during ingest, and add the time spent on rollups to `spent`."""
    original_tables = duckdb_store.ROLLUP_TABLES
    original_asset_tables = duckdb_store.ASSET_ROLLUP_TABLES
    original_apply = DuckDBStore.__dict__["_apply_rollups"]

    def timed_apply(cur: duckdb.DuckDBPyConnection, source: str, sign: int = 1, **rows: Any) -> int:
        started = time.perf_counter()
        floor = original_apply.__func__(cur, source, sign, **rows)
        spent[0] += time.perf_counter() - started
        return floor

    duckdb_store.ROLLUP_TABLES = tuple(t for t in tables if t in LEVELS)
    duckdb_store.ASSET_ROLLUP_TABLES = tuple(t for t in tables if t in ASSET_LEVELS)
    DuckDBStore._apply_rollups = staticmethod(timed_apply)  # type: ignore[method-assign]
    try:
        yield
    finally:
        duckdb_store.ROLLUP_TABLES = original_tables
        duckdb_store.ASSET_ROLLUP_TABLES = original_asset_tables
        DuckDBStore._apply_rollups = original_apply  # type: ignore[method-assign]


@dataclass
class IngestRun:
    mode: str
    seconds: float
    rollup_seconds: float


HOUR_DAY_MONTH = ("usage_hour", "usage_day", "usage_month")


def ingest_modes() -> list[tuple[str, tuple[str, ...]]]:
    """(name, rollup tables maintained): the baseline first."""
    modes = [("usage_hour only", ("usage_hour",)), ("hour+day+month", HOUR_DAY_MONTH)]
    shipped = tuple(duckdb_store.ROLLUP_TABLES) + tuple(duckdb_store.ASSET_ROLLUP_TABLES)
    if set(shipped) != set(HOUR_DAY_MONTH):
        modes.append(
            ("all levels: " + ", ".join(t.removeprefix("usage_") for t in shipped), shipped)
        )
    return modes


def _service_clock() -> contextlib.AbstractContextManager[None]:
    """The benchmark's "now" (the store's clock decides e.g. which minute buckets it keeps)."""
    return service_clock_at(str(DATA_END_HOUR * 3600))


def ingest_catalog(seed: int) -> list[Asset]:
    """The INGEST_ASSETS assets the ingest file's records name (both engines' runs)."""
    rng = random.Random(seed)
    return [
        Asset(
            asset_id=f"ingest-{seed}-{i:05d}",
            asset_resolution_tier=rng.choice(["720p", "1080p", "1440p", "2160p"]),
            created_at=END_HOUR * 3600 - 30 * 86_400,
            asset_duration=600,
        )
        for i in range(INGEST_ASSETS)
    ]


def _import_once(
    path: Path, records: int, seed: int, mode: str, tables: tuple[str, ...]
) -> IngestRun:
    spent = [0.0]
    with (
        tempfile.TemporaryDirectory(prefix="bench-ingest-") as tmp,
        _service_clock(),
        open_store(str(Path(tmp) / "ingest.duckdb")) as store,
    ):
        env_key = store.create_environment("ingest").env_key
        store.upsert_assets(env_key, ingest_catalog(seed))
        with _rollup_levels(tables, spent):
            started = time.perf_counter()
            receipt = import_file(store, env_key, path)
            seconds = time.perf_counter() - started
        if receipt.accepted != records:
            raise BenchmarkMismatch(f"ingest accepted {receipt.accepted} of {records}")
        if set(HOUR_DAY_MONTH) <= set(tables):
            # the levels the query combines agree on the total
            sums = [
                store._con.execute(f"SELECT sum(delivered_us) FROM {t}").fetchone()[0]
                for t in HOUR_DAY_MONTH
            ]
            if len(set(sums)) != 1 or not sums[0]:
                raise BenchmarkMismatch(f"rollup levels disagree after ingest: {sums}")
    return IngestRun(mode, seconds, spent[0])


def run_ingest(
    records: int, seed: int, repeat: int, path: Path | None = None, log: Log = _log
) -> dict[str, Any]:
    """Import the same file into fresh stores once per mode (rollup tables maintained), the
    order rotating between rounds; medians of `repeat` runs each."""
    path = path or ingest_file(records, seed)
    modes = ingest_modes()
    runs: dict[str, list[IngestRun]] = {mode: [] for mode, _ in modes}
    for i in range(repeat):
        for mode, tables in modes[i % len(modes) :] + modes[: i % len(modes)]:
            run = _import_once(path, records, seed, mode, tables)
            log(f"ingest {i + 1}/{repeat} {mode}: {records / run.seconds:,.0f} records/s")
            runs[mode].append(run)
    out: dict[str, Any] = {"records": records, "runs": repeat, "modes": {}}
    base = statistics.median(r.seconds for r in runs[modes[0][0]])
    for mode, tables in modes:
        seconds = statistics.median(r.seconds for r in runs[mode])
        out["modes"][mode] = {
            "tables": list(tables),
            "seconds": round(seconds, 3),
            "records_per_s": round(records / seconds),
            "rollup_seconds": round(statistics.median(r.rollup_seconds for r in runs[mode]), 3),
            "slowdown": round(seconds / base, 3),
        }
    return out


def format_ingest(result: dict[str, Any]) -> str:
    lines = [
        f"ingest of {result['records']:,} generic records with import_file "
        f"(median of {result['runs']} runs each; slowdown vs usage_hour only):"
    ]
    width = max(len(mode) for mode in result["modes"])
    for mode, r in result["modes"].items():
        lines.append(
            f"  {mode:<{width}} {r['records_per_s']:>8,} records/s  {r['seconds']:6.2f} s "
            f"(rollup inserts {r['rollup_seconds']:5.2f} s)  {r['slowdown']:.2f}x"
        )
    return "\n".join(lines)


# --- ClickHouse -----------------------------------------------------------------------------

CLUSTER_SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "clickhouse-cluster.sh"
CLUSTER_NAME = "streammeter"
#: Rows per insert of the bulk load (one part per partition and shard per insert; ~110 MB).
LOAD_BLOCK_ROWS = 1_000_000
#: The rollup tables the ClickHouse store's delivery_usage reads (query/windows.split_window).
CH_QUERY_TABLES = ("usage_hour", "usage_day", "usage_month")


def _free_base() -> int:
    """A CH_BASE_PORT whose six ports (scripts/clickhouse-cluster.sh) are free on loopback."""
    for base in range(21000, 40000, 700):
        try:
            for port in (base + off for off in (0, 9, 123, 100, 109, 223)):
                with socket.socket() as probe:
                    probe.bind(("127.0.0.1", port))
        except OSError:
            continue
        return base
    raise RuntimeError("no free ports for the ClickHouse cluster")


@contextlib.contextmanager
def clickhouse_server(spec: str, log: Log = _log) -> Iterator[str]:
    """The URL of the server to use: `spec` itself, or for `auto` the two-shard loopback cluster
    of scripts/clickhouse-cluster.sh, started in a temp dir for the duration and stopped (and
    its data removed) on exit, on errors and on Ctrl+C."""
    if spec != "auto":
        yield spec
        return
    root = tempfile.mkdtemp(prefix="bench-clickhouse-")
    base = _free_base()
    env = {**os.environ, "CH_BASE_PORT": str(base)}
    try:
        started = time.perf_counter()
        # own session: a Ctrl+C reaches us, and we stop the servers
        done = subprocess.run(
            [str(CLUSTER_SCRIPT), "start", root], env=env, capture_output=True, text=True,
            start_new_session=True,
        )  # fmt: skip
        if done.returncode != 0:
            raise RuntimeError(f"the ClickHouse cluster did not start:\n{done.stdout}{done.stderr}")
        log(f"ClickHouse cluster on 127.0.0.1:{base} (+100) in {root} "
            f"({time.perf_counter() - started:.1f} s)")  # fmt: skip
        yield f"clickhouse://default@127.0.0.1:{base}/bench?cluster={CLUSTER_NAME}"
    finally:
        subprocess.run([str(CLUSTER_SCRIPT), "stop", root], env=env, capture_output=True)
        shutil.rmtree(root, ignore_errors=True)
        log("ClickHouse cluster stopped")


def _fresh_store(url: str, prefix: str) -> Any:
    """A ClickHouseStore on a new database `<prefix>_<random>` of the server of `url` (same
    user, cluster and options)."""
    from streammeter.store.clickhouse import ClickHouseStore
    from streammeter.store.clickhouse.conn import ClickHouseURL

    parsed = ClickHouseURL.parse(url)
    return ClickHouseStore(replace(parsed, database=f"{prefix}_{uuid.uuid4().hex[:10]}"))


def _drop_store(store: Any) -> None:
    """Close `store` and drop its database on every node."""
    nodes = store._nodes()
    store.close()
    for host, port in nodes:
        conn = store._chdb_or(host, port)
        try:
            conn.execute(f"DROP DATABASE IF EXISTS {store.database}")
        finally:
            conn.close()


@dataclass
class ClickHouseData:
    url: str
    database: str
    cluster: str | None
    env_key: int
    rows: dict[str, int]
    load_s: dict[str, float]
    parts: dict[str, int]
    merges_running: int  # background merges still running when the timing started
    rolling: tuple[int, int] | None = None  # the rolling window, filled after the load


def _numpy_client(store: Any) -> Any:
    """A clickhouse-driver client with numpy columns, on the store's (first) server: inserts
    into a Distributed table are split to the shards synchronously."""
    from clickhouse_driver import Client

    url = store.url
    return Client(
        host=url.host, port=url.port, user=url.user, password=url.password,
        database=store.database, send_receive_timeout=600,
        settings={"use_numpy": True, "insert_distributed_sync": 1},
    )  # fmt: skip


def load_clickhouse(
    store: Any, duck: DuckDBStore, duck_env: int, log: Log = _log
) -> ClickHouseData:
    """Copy the benchmark data from the DuckDB store into the (empty) ClickHouse store: the
    environment, the asset catalog (entity keys as the ClickHouse store computes them) and the
    rollup tables its delivery_usage reads. The rollups stream from DuckDB in Arrow batches of
    LOAD_BLOCK_ROWS, inserted as numpy columns (clickhouse-driver, native protocol), DuckDB
    asset keys mapped to ClickHouse keys by a temp table. (Measured on 5 M rows: ~0.8 M
    rows/s, bound by the servers; CSV through clickhouse-client: ~0.36 M rows/s.)"""
    import pyarrow as pa

    from streammeter.store.clickhouse.schema import MEASURES, ROLLUP_KEY
    from streammeter.store.clickhouse.store import entity_key

    load_s: dict[str, float] = {}
    started = time.perf_counter()
    env_key = store.create_environment("bench", "acct_bench").env_key
    con = duck._cursor()
    pairs = con.execute(
        "SELECT asset_key, asset_id FROM assets WHERE env_key = ? ORDER BY asset_key", [duck_env]
    ).fetchall()
    mapping = pa.table({
        "asset_key": pa.array([k for k, _ in pairs], pa.int64()),
        "ch_key": pa.array([entity_key(env_key, "asset", a) for _, a in pairs], pa.int64()),
    })  # fmt: skip
    con.register("bench_ch_keys_arrow", mapping)
    con.execute("CREATE OR REPLACE TEMP TABLE bench_ch_keys AS SELECT * FROM bench_ch_keys_arrow")
    con.unregister("bench_ch_keys_arrow")
    store._conn.insert(
        "entity_keys", ["env_key", "kind", "external_id", "entity_key"],
        [(env_key, "asset", asset_id, entity_key(env_key, "asset", asset_id))
         for _, asset_id in pairs],
    )  # fmt: skip
    catalog = con.execute(
        f"SELECT m.ch_key, {', '.join('a.' + c for c in ASSET_COLUMNS)}, a.updated_at "
        "FROM assets a JOIN bench_ch_keys m USING (asset_key) WHERE a.env_key = ? "
        "ORDER BY a.asset_key",
        [duck_env],
    ).fetchall()
    store._conn.insert(
        "assets",
        ["env_key", "asset_key", *ASSET_COLUMNS, "live_stream_key", "updated_at", "version"],
        [(env_key, row[0], *row[1:-1], 0, row[-1], 1) for row in catalog],
    )
    load_s["catalog"] = time.perf_counter() - started
    log(f"ClickHouse {store.database}: catalog of {len(catalog):,} assets "
        f"({load_s['catalog']:.1f} s)")  # fmt: skip
    columns = [*ROLLUP_KEY, *MEASURES]
    expressions = {
        "env_key": f"{int(env_key)}::INTEGER",
        "asset_key": "coalesce(m.ch_key, 0)",
        # the bench data has neither live streams nor targets (DuckDB keys would need mapping)
        "live_stream_key": "0::BIGINT",
        "target_key": "0::BIGINT",
        "live": "u.live::UTINYINT",
    }
    check = con.execute(
        "SELECT count(*) FILTER (WHERE live_stream_key IS NOT NULL OR target_key IS NOT NULL) "
        "FROM usage_hour WHERE env_key = ?",
        [duck_env],
    ).fetchall()[0][0]
    if check:
        raise BenchmarkMismatch("the bench data has live stream or target keys: not mapped")
    rows: dict[str, int] = {}
    client = _numpy_client(store)
    for table in CH_QUERY_TABLES:
        t0 = time.perf_counter()
        select = ", ".join(f"{expressions.get(c, 'u.' + c)} AS {c}" for c in columns)
        reader = con.sql(
            f"SELECT {select} FROM {table} u LEFT JOIN bench_ch_keys m USING (asset_key) "
            "WHERE u.env_key = ?",
            params=[duck_env],
        ).to_arrow_reader(LOAD_BLOCK_ROWS)
        insert = f"INSERT INTO {table} ({', '.join(columns)}) VALUES"
        count = 0
        for batch in reader:  # native columnar blocks: no text on either side
            arrays = [column.to_numpy(zero_copy_only=False) for column in batch.columns]
            client.execute(insert, arrays, columnar=True)
            count += batch.num_rows
        stored = int(store._q(f"SELECT count() FROM {table}")[0][0])
        if stored != count:
            raise BenchmarkMismatch(f"{table}: {count:,} rows sent, {stored:,} stored")
        rows[table] = stored
        load_s[table] = time.perf_counter() - t0
        log(f"  {table}: {stored:,} rows ({load_s[table]:.1f} s, "
            f"{stored / load_s[table]:,.0f} rows/s)")  # fmt: skip
    client.disconnect()
    con.execute("DROP TABLE bench_ch_keys")
    load_s["merges"], merging = _settle_merges(store)
    load_s["total"] = time.perf_counter() - started
    parts = _parts(store)
    log(f"  loaded in {load_s['total']:.0f} s (waited {load_s['merges']:.0f} s for merges, "
        f"{merging} still running); active parts {parts}")  # fmt: skip
    return ClickHouseData(
        store.url.redacted(), store.database, store.cluster, env_key, rows, load_s, parts,
        merging,
    )  # fmt: skip


def _node_query(store: Any, sql: str) -> list[list[tuple]]:
    """`sql` on every node (system tables are per node)."""
    out = []
    for host, port in store._nodes():
        conn = store._chdb_or(host, port)
        try:
            out.append(conn.execute(sql, {"d": store.database}))
        finally:
            conn.close()
    return out


def _parts(store: Any) -> dict[str, int]:
    """Active parts of each loaded table, summed over the nodes."""
    counts: dict[str, int] = {}
    for rows in _node_query(
        store,
        "SELECT table, count() FROM system.parts WHERE database = %(d)s AND active GROUP BY table",
    ):
        for table, n in rows:
            name = table.removesuffix("_local")
            if name in CH_QUERY_TABLES:
                counts[name] = counts.get(name, 0) + int(n)
    return dict(sorted(counts.items()))


def _settle_merges(store: Any, timeout: float = 300.0) -> tuple[float, int]:
    """Wait (at most `timeout` s) until no background merge runs on the loaded database, so
    merges do not compete with the timed queries. Returns (seconds waited, merges still
    running)."""
    started = time.perf_counter()
    running = 0
    while time.perf_counter() - started < timeout:
        time.sleep(1.0)
        running = sum(
            int(rows[0][0])
            for rows in _node_query(
                store, "SELECT count() FROM system.merges WHERE database = %(d)s"
            )
        )
        if not running:
            break
    return time.perf_counter() - started, running


def naive_clickhouse(store: Any, env_key: int, w: Window, offset: int) -> Page:
    """The naive query on ClickHouse: the store's own SQL (count, then the page; no window
    functions on 18.16) over the hourly rows of the whole window."""
    from streammeter.store.clickhouse.sql import CURRENT_ASSETS

    tiers = ", ".join(f"sumIf(delivered_us, tier = {code}) AS t{code}" for code in range(1, 6))
    ranked = f"""
        SELECT * FROM (
            SELECT asset_key, sum(delivered_us) AS total, {tiers}
            FROM usage_hour
            WHERE env_key = %(e)s AND bucket >= %(lo)s AND bucket < %(hi)s AND tier > 0
                AND asset_key != 0
            GROUP BY asset_key HAVING total > 0
        ) AS naive_totals
        ANY INNER JOIN (
            SELECT asset_key, asset_id FROM ({CURRENT_ASSETS}) AS current
        ) AS catalog USING (asset_key)
    """
    params = {"e": env_key, "envs": (env_key,), "lo": w.start, "hi": w.end}
    count = int(store._q(f"SELECT count() FROM ({ranked}) AS ranked", params)[0][0])
    rows = store._q(
        f"SELECT asset_id, t1, t2, t3, t4, t5, total FROM ({ranked}) AS ranked "
        "ORDER BY total DESC, asset_id LIMIT %(o)s, %(l)s",
        {**params, "o": int(offset), "l": LIMIT},
    )
    page = [(row[0], *(int(v) if v else None for v in row[1:6]), int(row[6])) for row in rows]
    return page, count


def run_queries_clickhouse(
    store: Any,
    env_key: int,
    p: DataParams,
    duck_results: Sequence[QueryResult],
    repeat: int,
    naive_repeat: int,
    log: Log = _log,
) -> list[QueryResult]:
    """Time the ClickHouse store's delivery_usage and the naive ClickHouse query on the pages
    DuckDB timed; both must equal each other and DuckDB's page (BenchmarkMismatch)."""
    by_name = {w.name: w for w in windows(p)}
    results = []
    for duck in duck_results:
        w, offset = by_name[duck.window], duck.offset
        log(f"timing ClickHouse {w.name} offset {offset}")
        mine, ours_ms = _timed(lambda w=w, o=offset: ours(store, env_key, w, o), repeat)
        theirs, naive_ms = _timed(
            lambda w=w, o=offset: naive_clickhouse(store, env_key, w, o), naive_repeat
        )
        _check(w, offset, mine, theirs)
        if mine != duck.page:
            _check(w, offset, mine, duck.page or ([], 0), ("ClickHouse", "DuckDB"))
        results.append(QueryResult(w.name, offset, mine[1], ours_ms, naive_ms, mine))
    return results


def profile_statements(store: Any, env_key: int, w: Window) -> list[dict[str, Any]]:
    """Where the time of page 1 of window `w` goes, per SQL statement of each query (one run
    each, warm), on whichever connection runs it (ours runs one statement per shard at once):
    server-side elapsed time and rows/bytes read as the driver reports them (the loopback
    cluster has no system.query_log)."""
    from streammeter.store.clickhouse.conn import DriverConnection

    out: list[dict[str, Any]] = []
    guard = threading.Lock()
    kind = [""]
    original = DriverConnection.execute

    def execute(self: Any, sql: str, params: Any = None) -> Any:
        started = time.perf_counter()
        rows = original(self, sql, params)
        info = self._client.last_query
        text = " ".join(sql.split())
        statement = (
            "count" if text.startswith("SELECT count()")
            else "rolling" if "FROM rolling_fills" in text
            else "catalog" if text.startswith("SELECT asset_key, asset_id")
            else "shard" if "_local" in text
            else "page"
        )  # fmt: skip
        with guard:
            out.append({
                "query": kind[0], "statement": statement,
                "ms": round((time.perf_counter() - started) * 1000, 1),
                "server_ms": round(info.elapsed * 1000, 1) if info else None,
                "read_rows": info.progress.rows if info else None,
                "read_bytes": info.progress.bytes if info else None,
            })  # fmt: skip
        return rows

    DriverConnection.execute = execute  # type: ignore[method-assign]
    try:
        for name, run in (("ours", ours), ("naive", naive_clickhouse)):
            kind[0] = name
            run(store, env_key, w, 0)
    finally:
        DriverConnection.execute = original  # type: ignore[method-assign]
    return out


def clickhouse_breakdown(store: Any, env_key: int, w: Window, runs: int = 5) -> dict[str, float]:
    """Median ms of the pieces of our ClickHouse query for window `w` on the first shard's
    local tables (store/clickhouse/delivery.py, cut up): the level scans alone, the sums per
    asset, the registered-asset filter, the top-N sort (the whole shard statement), and the
    catalog columns of one page."""
    from streammeter.query.windows import rolling_split
    from streammeter.store.clickhouse.rolling import calendar_scan, rolling_scan, summed

    gen, lo, hi = store._q(
        f"SELECT gen, lo_hour, hi_hour FROM rolling_fills WHERE env_key = {int(env_key)} "
        "ORDER BY gen DESC LIMIT 1"
    )[0]
    local = (lambda name: f"{name}_local") if store.cluster else (lambda name: name)
    env = f"env_key = {int(env_key)}"
    scans = [
        rolling_scan(local("usage_rolling"), gen, sign, env)
        if level == "rolling"
        else calendar_scan(local(level), a, b, sign, env)
        for level, a, b, sign in rolling_split(w.start, w.end, (lo, hi))
    ]
    registered = f"SELECT asset_key FROM {local('assets')} WHERE {env}"
    ranked = (
        f"SELECT asset_key, total, t1, t2, t3, t4, t5 FROM ({summed(scans)}) AS sums "
        f"WHERE total > 0 AND asset_key IN ({registered})"
    )
    conn = store._shard_connection(*store._shard_nodes()[0])
    keys = [row[0] for row in conn.execute(f"{ranked} ORDER BY total DESC LIMIT 101")]
    pieces = {
        "scans (sum of d)": f"SELECT sum(d) FROM ({' UNION ALL '.join(scans)}) AS usage",
        "+ sums per asset": f"SELECT count(), sum(t1) FROM ({summed(scans)}) AS sums",
        "+ registered filter": f"SELECT count(), sum(t1) FROM ({ranked}) AS ranked",
        "+ top 101 by total (shard statement)": f"{ranked} ORDER BY total DESC LIMIT 101",
        "catalog columns of 101 assets": (
            f"SELECT asset_key, {', '.join(ASSET_COLUMNS)} FROM {local('assets')} WHERE {env} "
            f"AND asset_key IN ({', '.join(str(k) for k in keys)}) "
            "ORDER BY version DESC LIMIT 1 BY asset_key"
        ),
    }
    out = {}
    for name, sql in pieces.items():
        conn.execute(sql)  # warm-up
        times = []
        for _ in range(runs):
            started = time.perf_counter()
            conn.execute(sql)
            times.append((time.perf_counter() - started) * 1000)
        out[name] = round(statistics.median(times), 1)
    return out


def format_side_by_side(duck: Sequence[QueryResult], ch: Sequence[QueryResult]) -> str:
    """One table: each page with DuckDB's and ClickHouse's numbers."""
    cols = f"{'ours p50':>9} {'ours p99':>9} {'naive p50':>10} {'naive p99':>10} {'ratio':>7}"
    width = len(cols)
    header = (
        f"{'':<7} {'':<16} {'':>8}   {'DuckDB':^{width}}   {'ClickHouse':^{width}}\n"
        f"{'window':<7} {'page':<16} {'rows':>8}   {cols}   {cols}"
    )
    lines = [header, "-" * len(header.splitlines()[1])]

    def numbers(r: QueryResult) -> str:
        return (
            f"{r.ours_p50:>9.1f} {r.ours_p99:>9.1f} {r.naive_p50:>10.1f} {r.naive_p99:>10.1f} "
            f"{r.naive_p50 / r.ours_p50:>6.1f}x"
        )

    for d, c in zip(duck, ch, strict=True):
        page = "1" if d.offset == 0 else f"{d.offset // LIMIT + 1} (off {d.offset})"
        lines.append(
            f"{d.window:<7} {page:<16} {d.total_row_count:>8}   {numbers(d)}   {numbers(c)}"
        )
    return "\n".join(lines)


def _import_once_clickhouse(url: str, path: Path, records: int, seed: int) -> IngestRun:
    """Import the NDJSON file into a fresh ClickHouse database (all its rollup levels)."""
    from streammeter.store.clickhouse.schema import ROLLUP_TABLES as CH_ROLLUPS

    with _service_clock():
        store = _fresh_store(url, "bench_ingest")
        try:
            env_key = store.create_environment("ingest").env_key
            store.upsert_assets(env_key, ingest_catalog(seed))
            spent = [0.0]
            apply = store._apply_rollups

            def timed_apply(*args: Any, **kwargs: Any) -> None:
                t0 = time.perf_counter()
                apply(*args, **kwargs)
                spent[0] += time.perf_counter() - t0

            store._apply_rollups = timed_apply
            started = time.perf_counter()
            receipt = import_file(store, env_key, path)
            seconds = time.perf_counter() - started
            if receipt.accepted != records:
                raise BenchmarkMismatch(
                    f"ClickHouse ingest accepted {receipt.accepted} of {records}"
                )
            sums = [
                int(store._q(f"SELECT sum(delivered_us) FROM {t}")[0][0] or 0)
                for t in CH_ROLLUPS
                if t != "usage_minute"  # (the minute level drops rows older than 30 days)
            ]
            if len(set(sums)) != 1 or not sums[0]:
                raise BenchmarkMismatch(f"ClickHouse rollup levels disagree after ingest: {sums}")
        finally:
            _drop_store(store)
    return IngestRun("clickhouse", seconds, spent[0])


def run_ingest_clickhouse(
    url: str, records: int, seed: int, repeat: int, path: Path | None = None, log: Log = _log
) -> dict[str, Any]:
    """The same file into fresh ClickHouse stores (median of `repeat` runs)."""
    from streammeter.store.clickhouse.schema import ROLLUP_TABLES as CH_ROLLUPS

    path = path or ingest_file(records, seed)
    runs = []
    for i in range(repeat):
        run = _import_once_clickhouse(url, path, records, seed)
        log(f"ingest {i + 1}/{repeat} ClickHouse: {records / run.seconds:,.0f} records/s")
        runs.append(run)
    seconds = statistics.median(r.seconds for r in runs)
    return {
        "records": records, "runs": repeat, "tables": list(CH_ROLLUPS),
        "seconds": round(seconds, 3), "records_per_s": round(records / seconds),
        "rollup_seconds": round(statistics.median(r.rollup_seconds for r in runs), 3),
    }  # fmt: skip


def format_ingest_side_by_side(duck: dict[str, Any], ch: dict[str, Any]) -> str:
    """records/s of ClickHouse beside DuckDB's (the DuckDB mode with the most levels)."""
    mode, d = list(duck["modes"].items())[-1]
    levels = ", ".join(t.removeprefix("usage_") for t in ch["tables"])
    rows = [(f"DuckDB ({mode})", d), (f"ClickHouse (all levels: {levels})", ch)]
    width = max(len(name) for name, _ in rows)
    return "\n".join(
        [f"ingest side by side ({ch['records']:,} records; ClickHouse: median of {ch['runs']}):"]
        + [
            f"  {name:<{width}} {r['records_per_s']:>8,} records/s  {r['seconds']:6.2f} s "
            f"(rollup inserts {r['rollup_seconds']:5.2f} s)"
            for name, r in rows
        ]
    )


# --- command line ---------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.delivery_usage", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument(
        "--quick", action="store_true", help="small data (2,000 assets, ~500k rows)"
    )
    parser.add_argument("--assets", type=int, help="assets (default 200,000; quick 2,000)")
    parser.add_argument("--days", type=int, help="days of hourly usage (default 90)")
    parser.add_argument("--rows-target", type=int, help="usage_hour rows (default 50,000,000)")
    parser.add_argument("--zipf", type=float, default=1.0, help="Zipf exponent (default 1.0)")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--repeat", type=int, help="timed runs of our query (default 30; quick 5)")
    parser.add_argument(
        "--naive-repeat", type=int, help="timed runs of the naive query (default 5; quick 3)"
    )
    parser.add_argument("--db", type=Path, help="database file to use (generated if missing)")
    parser.add_argument("--ingest-records", type=int, help="default 200,000; quick 20,000")
    parser.add_argument("--ingest-repeat", type=int, help="default 3; quick 2")
    parser.add_argument(
        "--ingest-file", type=Path, help="the NDJSON to import (written if missing; default: "
        "cached in bench/.data)",
    )  # fmt: skip
    parser.add_argument("--skip-ingest", action="store_true")
    parser.add_argument("--skip-queries", action="store_true")
    parser.add_argument("--json", type=Path, help="also write the results here as JSON")
    parser.add_argument(
        "--clickhouse",
        metavar="URL|auto",
        help="also run on ClickHouse: a clickhouse:// URL (fresh databases are created on that "
        "server and dropped after), or `auto` (start the two-shard loopback cluster of "
        "scripts/clickhouse-cluster.sh for the run)",
    )
    args = parser.parse_args(argv)
    with contextlib.ExitStack() as stack:
        url = None
        if args.clickhouse:
            if args.clickhouse == "auto" and threading.current_thread() is threading.main_thread():
                # a `kill` stops the cluster too
                stack.callback(
                    signal.signal, signal.SIGTERM, signal.signal(signal.SIGTERM, _sigterm)
                )
            url = stack.enter_context(clickhouse_server(args.clickhouse))
        return _run(args, url)


def _sigterm(signum: int, frame: Any) -> None:
    raise SystemExit(128 + signum)


def _run(args: argparse.Namespace, url: str | None) -> int:

    base = QUICK_DATA if args.quick else DataParams()
    params = DataParams(
        assets=args.assets or base.assets,
        days=args.days or base.days,
        rows_target=args.rows_target or base.rows_target,
        zipf=args.zipf,
        seed=args.seed,
    )
    repeat = args.repeat or (5 if args.quick else 30)
    naive_repeat = args.naive_repeat or (3 if args.quick else 5)
    ingest_records = args.ingest_records or (20_000 if args.quick else 200_000)
    ingest_repeat = args.ingest_repeat or (2 if args.quick else 3)

    report: dict[str, Any] = {
        "machine": {
            "cpus": os.cpu_count(), "python": platform.python_version(),
            "duckdb": duckdb.__version__, "platform": platform.platform(),
        },
        "params": asdict(params),
    }  # fmt: skip

    def emit(text: str) -> None:  # results go out as soon as they exist
        print(text, flush=True)
        if args.json:
            args.json.write_text(json.dumps(report, indent=2) + "\n")

    emit(
        f"machine: {os.cpu_count()} CPUs, DuckDB {duckdb.__version__}, "
        f"Python {platform.python_version()}"
    )
    if not args.skip_queries:
        info = prepare(params, args.db)
        report["data"] = asdict(info)
        with open_store(info.path) as store:
            threads = store._con.execute("SELECT current_setting('threads')").fetchone()[0]
            long = windows(params)[0]
            rolling = advance_rolling_window(store)
            reads = window_reads(store._con, info.env_key, long, rolling)
            naive_reads = store._con.execute(
                "SELECT count(*) FROM usage_hour WHERE env_key = ? AND bucket >= ? AND bucket < ?",
                [info.env_key, long.start, long.end],
            ).fetchone()[0]
            results = run_queries(store, info.env_key, params, repeat, naive_repeat)
            if url:
                ch, ch_results = _clickhouse_queries(
                    url, store, info.env_key, params, results, repeat, naive_repeat
                )
        report["duckdb_threads"] = threads
        report["queries"] = [r.summary() for r in results]
        report["long_window_reads"] = {**dict(reads), "naive usage_hour": naive_reads}
        emit(
            "\n".join(
                [
                    f"data: {params.assets:,} assets, {params.days} days, zipf {params.zipf:g}, "
                    f"seed {params.seed}; rows: "
                    + ", ".join(f"{t} {n:,}" for t, n in info.rows.items())
                    + f"; {info.file_mb:,.0f} MB ({info.path})",
                    f"DuckDB threads: {threads}; runs: ours {repeat}, naive {naive_repeat} "
                    "(after one warm-up each); times in ms; ours == naive checked for every page",
                    f"{long.name} window [{long.start}, {long.end}) hours; our query reads "
                    + ", ".join(f"{name} {n:,}" for name, n in reads)
                    + f" rows; the naive query reads usage_hour {naive_reads:,}",
                    "",
                    format_queries(results),
                ]
            )
        )
        if url:
            report["clickhouse"] = ch
            emit("\n" + _format_clickhouse(ch, results, ch_results))
    if not args.skip_ingest:
        path = ingest_file(ingest_records, params.seed, args.ingest_file)
        ingest = run_ingest(ingest_records, params.seed, ingest_repeat, path)
        report["ingest"] = ingest
        emit("\n" + format_ingest(ingest))
        if url:
            ch_ingest = run_ingest_clickhouse(url, ingest_records, params.seed, ingest_repeat, path)
            report.setdefault("clickhouse", {})["ingest"] = ch_ingest
            emit("\n" + format_ingest_side_by_side(ingest, ch_ingest))
    return 0


def _clickhouse_queries(
    url: str,
    duck: DuckDBStore,
    duck_env: int,
    params: DataParams,
    duck_results: Sequence[QueryResult],
    repeat: int,
    naive_repeat: int,
) -> tuple[dict[str, Any], list[QueryResult]]:
    """Load the data into a fresh ClickHouse database, time both queries there, check every
    page against DuckDB's; the database is dropped after."""
    store = _fresh_store(url, "bench_usage")
    try:
        version = store._q("SELECT version()")[0][0]
        data = load_clickhouse(store, duck, duck_env)
        started = time.perf_counter()
        data.rolling = advance_rolling_window(store)
        data.load_s["rolling"] = time.perf_counter() - started
        results = run_queries_clickhouse(
            store, data.env_key, params, duck_results, repeat, naive_repeat
        )
        statements = profile_statements(store, data.env_key, windows(params)[0])
        breakdown = clickhouse_breakdown(store, data.env_key, windows(params)[0])
    finally:
        _drop_store(store)
    return {
        "server": version,
        "data": asdict(data),
        "queries": [r.summary() for r in results],
        "pages_equal_duckdb": True,  # (else BenchmarkMismatch)
        "statements": statements,
        "breakdown_ms": breakdown,
    }, results


def _format_clickhouse(
    ch: dict[str, Any], duck_results: Sequence[QueryResult], ch_results: Sequence[QueryResult]
) -> str:
    data = ch["data"]
    load = data["load_s"]
    lines = [
        f"ClickHouse {ch['server']}, {data['url']}"
        + (f" (cluster {data['cluster']})" if data["cluster"] else "")
        + ": loaded "
        + ", ".join(f"{t} {n:,}" for t, n in data["rows"].items())
        + f" rows in {load['total']:.0f} s (catalog {load['catalog']:.0f} s, "
        + ", ".join(f"{t} {load[t]:.0f} s" for t in data["rows"])
        + f", waiting for merges {load['merges']:.0f} s"
        + (f", {data['merges_running']} still running" if data["merges_running"] else "")
        + "); active parts "
        + ", ".join(f"{t} {n}" for t, n in data["parts"].items())
        + f"; rolling window {data['rolling']} filled in {load['rolling']:.1f} s",
        "every page equal on both engines (ours == naive == DuckDB's)",
        "",
        format_side_by_side(duck_results, ch_results),
    ]
    lines += [
        "",
        f"ClickHouse statements of page 1, {duck_results[0].window} window (one warm run):",
    ]
    lines += [
        f"  {s['query']:<5} {s['statement']:<5} {s['ms']:>8.1f} ms (server {s['server_ms']} ms) "
        f"read {s['read_rows']:>11,} rows, {s['read_bytes'] / 1e6:>8.1f} MB"
        for s in ch["statements"]
    ]
    lines += [
        f"Pieces of our ClickHouse query on shard 1, {duck_results[0].window} window (median of 5):"
    ]
    lines += [f"  {name:<40} {ms:>8.1f} ms" for name, ms in ch["breakdown_ms"].items()]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
