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
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any

import duckdb

from streammeter.ingest.importer import import_file
from streammeter.model.catalog import Asset
from streammeter.query.windows import signed_cover
from streammeter.store import duckdb_store, open_store
from streammeter.store.attribution import ASSET_LEVELS, LEVELS
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


def _check(w: Window, offset: int, mine: Page, theirs: Page) -> None:
    if mine != theirs:
        rows_a, total_a = mine
        rows_b, total_b = theirs
        first = next(
            (i for i, (a, b) in enumerate(zip(rows_a, rows_b, strict=False)) if a != b), None
        )
        detail = (
            f"first differing row {first}: ours {rows_a[first]} naive {rows_b[first]}"
            if (first is not None)
            else f"{len(rows_a)} vs {len(rows_b)} rows"
        )
        raise BenchmarkMismatch(
            f"window {w.name} [{w.start}, {w.end}) offset {offset}: ours and naive differ "
            f"(total_row_count {total_a} vs {total_b}; {detail})"
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
    with _service_clock(DATA_END_HOUR):  # the store reads a window's last month from "now"
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
        results.append(QueryResult(w.name, offset, mine[1], ours_ms, naive_ms))
    return results


def window_reads(con: duckdb.DuckDBPyConnection, env_key: int, w: Window) -> list[tuple[str, int]]:
    """Rows each level contributes to our query for window `w` (naive reads the hour rows)."""
    reads = []
    for level, lo, hi, sign in signed_cover(w.start, w.end, DATA_END_HOUR):
        table = "usage_hour" if level == "hour" else f"asset_usage_{level}"
        rows = con.execute(
            f"SELECT count(*) FROM {table} WHERE env_key = ? AND bucket >= ? AND bucket < ?",
            [env_key, lo, hi],
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

    def timed_apply(cur: duckdb.DuckDBPyConnection, source: str, sign: int = 1) -> None:
        started = time.perf_counter()
        original_apply.__func__(cur, source, sign)
        spent[0] += time.perf_counter() - started

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


@contextlib.contextmanager
def _service_clock(hour: int) -> Iterator[None]:
    """STREAMMETER_NOW = `hour` (the store's clock decides e.g. which minute buckets it keeps)."""
    saved = os.environ.get("STREAMMETER_NOW")
    os.environ["STREAMMETER_NOW"] = str(hour * 3600)
    try:
        yield
    finally:
        if saved is None:
            del os.environ["STREAMMETER_NOW"]
        else:
            os.environ["STREAMMETER_NOW"] = saved


def _import_once(
    path: Path, records: int, seed: int, mode: str, tables: tuple[str, ...]
) -> IngestRun:
    spent = [0.0]
    with (
        tempfile.TemporaryDirectory(prefix="bench-ingest-") as tmp,
        _service_clock(DATA_END_HOUR),
        open_store(str(Path(tmp) / "ingest.duckdb")) as store,
    ):
        env_key = store.create_environment("ingest").env_key
        rng = random.Random(seed)
        store.upsert_assets(
            env_key,
            [
                Asset(
                    asset_id=f"ingest-{seed}-{i:05d}",
                    asset_resolution_tier=rng.choice(["720p", "1080p", "1440p", "2160p"]),
                    created_at=END_HOUR * 3600 - 30 * 86_400,
                    asset_duration=600,
                )
                for i in range(INGEST_ASSETS)
            ],
        )
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
    parser.add_argument("--skip-ingest", action="store_true")
    parser.add_argument("--skip-queries", action="store_true")
    parser.add_argument("--json", type=Path, help="also write the results here as JSON")
    args = parser.parse_args(argv)

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
            reads = window_reads(store._con, info.env_key, long)
            naive_reads = store._con.execute(
                "SELECT count(*) FROM usage_hour WHERE env_key = ? AND bucket >= ? AND bucket < ?",
                [info.env_key, long.start, long.end],
            ).fetchone()[0]
            results = run_queries(store, info.env_key, params, repeat, naive_repeat)
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
    if not args.skip_ingest:
        ingest = run_ingest(ingest_records, params.seed, ingest_repeat)
        report["ingest"] = ingest
        emit("\n" + format_ingest(ingest))
    return 0


if __name__ == "__main__":
    sys.exit(main())
