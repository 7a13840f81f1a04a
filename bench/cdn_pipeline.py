"""CloudFront import pipeline benchmark: our whole import against DuckDB's bare CSV scan.

    .venv/bin/python -m bench.cdn_pipeline              # 1,000,000 log lines
    .venv/bin/python -m bench.cdn_pipeline --quick      # 50,000 lines, well under a minute

1. Generates (or reuses from bench/.data/) a seeded CloudFront standard log
   (`bench.cdn_logs`: viewers, ABR switches, aborts, ranges, playlists, 304/404, unmapped
   URLs, CMCD, double-encoded user agents).
2. Imports it into a fresh store with `import_file(store, env, path, fmt="cloudfront")` —
   parse, index lookup, counting, staging, dedupe, rollups, receipt, COMMIT — timed as a
   whole, in a child process so its peak RSS (VmHWM) is its own. The catalog's index is
   registered first (not timed). The import must be sane: every line read, accepted +
   duplicate + rejected == lines, no rejects or duplicates (the generator writes none), the
   records and the hourly rollups agree, and the rollups' bytes equal the file's sc-bytes.
3. In this process, times DuckDB's bare `read_csv(..., delim='\\t', skip=2, quote='')` of the
   same file with a `GROUP BY date, cs-uri-stem` summing sc-bytes (best of `--repeat`).
4. Prints lines/s of both and the ratio ours/bare (the target is >= 0.5).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import duckdb

from bench import cdn_logs

DATA_DIR = Path(__file__).resolve().parent / ".data"
TARGET_RATIO = 0.5


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def log_path(lines: int, seed: int, gz: bool = False) -> Path:
    name = f"cloudfront-l{lines}-s{seed}-g{cdn_logs.GENERATOR_VERSION}.log" + (".gz" if gz else "")
    return DATA_DIR / name


def prepare(lines: int, seed: int, gz: bool = False, path: Path | None = None, log=_log) -> Path:
    """The log file for these parameters: `path` or the cache file, generated if missing."""
    path = path or log_path(lines, seed, gz)
    if path.exists():
        log(f"reusing {path}")
        return path
    started = time.perf_counter()
    log(f"generating {lines:,} CloudFront log lines (seed {seed}) -> {path}")
    written = cdn_logs.write_log(path, lines, seed)
    log(f"  {written:,} lines in {time.perf_counter() - started:.0f} s")
    return path


def data_lines(path: Path) -> int:
    """Log rows (lines not starting with '#')."""
    import gzip

    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as handle:  # type: ignore[operator]
        return sum(1 for line in handle if not line.startswith(b"#"))


# --- our import -----------------------------------------------------------------------------


def _rss_kb(field: str = "VmRSS") -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def run_import(
    db: Path, path: Path, seed: int, memory_limit: str | None = None, log=_log,
    reference: bool = False,
) -> dict[str, Any]:  # fmt: skip
    """Register the catalog in a fresh store at `db`, then import `path` (timed).

    `memory_limit` (e.g. "512MB"): DuckDB's `SET memory_limit` on the store's connection
    first (a file import never raises it); None: the store's defaults, as the CLI runs
    (`STREAMMETER_IMPORT_MEMORY_LIMIT` while the file is imported, docs/configuration.md).
    """
    from streammeter.ingest import cloudfront_columns

    min_lines = cloudfront_columns.MIN_LINES
    if reference:  # every line the per-line way (the columns' reference)
        cloudfront_columns.MIN_LINES = sys.maxsize
    try:
        return _timed_import(db, path, seed, memory_limit, log)
    finally:
        cloudfront_columns.MIN_LINES = min_lines


def _timed_import(db: Path, path: Path, seed: int, memory_limit: str | None, log) -> dict[str, Any]:
    from streammeter.ingest.importer import import_file
    from streammeter.store import open_store

    result: dict[str, Any] = {"memory_limit": memory_limit}
    with open_store(str(db)) as store:
        if memory_limit:
            store._con.execute(f"SET memory_limit = '{memory_limit}'")  # type: ignore[attr-defined]
        env_key = store.create_environment("bench", "acct_bench").env_key
        started = time.perf_counter()
        objects = cdn_logs.register(store, env_key, cdn_logs.catalog(seed))
        result["index_objects"] = objects
        result["register_s"] = time.perf_counter() - started
        rss_before = _rss_kb()
        samples: list[tuple[int, int]] = []

        def progress(done: int, total: int) -> None:
            samples.append((done, _rss_kb()))

        log(f"importing {path.name} ({path.stat().st_size / 1e6:,.0f} MB) ...")
        started = time.perf_counter()
        receipt = import_file(store, env_key, path, fmt="cloudfront", progress=progress)
        seconds = time.perf_counter() - started
        result.update(
            seconds=seconds,
            lines_per_s=receipt.lines_read / seconds,
            lines_read=receipt.lines_read,
            accepted=receipt.accepted,
            duplicate=receipt.duplicate,
            rejected=receipt.rejected,
            notes=receipt.notes,
            rss_before_import_mb=rss_before / 1024,
            rss_samples_mb=[(d, kb / 1024) for d, kb in samples[:: max(1, len(samples) // 20)]],
            rss_last_mb=samples[-1][1] / 1024 if samples else None,
            peak_rss_mb=_rss_kb("VmHWM") / 1024,
            maxrss_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        )
        con = store._con  # type: ignore[attr-defined]
        records, earned, record_bytes = con.execute(
            "SELECT count(*), coalesce(sum(earned_us), 0), coalesce(sum(bytes), 0) FROM records "
            "WHERE env_key = ?",
            [env_key],
        ).fetchone()
        rolled = con.execute(
            "SELECT coalesce(sum(delivered_us), 0), coalesce(sum(bytes), 0), "
            "coalesce(sum(requests), 0) FROM usage_hour WHERE env_key = ?",
            [env_key],
        ).fetchone()
        result.update(
            records=records, earned_us=int(earned), record_bytes=int(record_bytes),
            hour_delivered_us=int(rolled[0]), hour_bytes=int(rolled[1]),
            hour_requests=int(rolled[2]),
        )  # fmt: skip
    result["db_mb"] = db.stat().st_size / 1e6
    return result


def run_import_isolated(
    path: Path, seed: int, memory_limit: str | None = None, log=_log, reference: bool = False
) -> dict[str, Any]:
    """`run_import` in a child process (fresh store in a temporary directory)."""
    with tempfile.TemporaryDirectory(prefix="cdn-bench-", dir=DATA_DIR) as tmp:
        db = Path(tmp) / "store.duckdb"
        out = Path(tmp) / "result.json"
        mode = "reference" if reference else ""
        cmd = [sys.executable, "-m", "bench.cdn_pipeline", "--child", str(db), str(path),
               str(seed), str(out), memory_limit or "", mode]  # fmt: skip
        subprocess.run(cmd, check=True, cwd=Path(__file__).resolve().parent.parent)
        return json.loads(out.read_text())


def check_import(result: dict[str, Any], lines: int, scan_bytes: int | None = None) -> None:
    """The import's totals are sane, or AssertionError."""
    assert result["lines_read"] == lines, (result["lines_read"], lines)
    counted = result["accepted"] + result["duplicate"] + result["rejected"]
    assert counted == result["lines_read"], result
    assert result["rejected"] == 0 and result["duplicate"] == 0, result
    assert result["records"] == result["accepted"], result
    assert result["hour_requests"] == result["accepted"], result
    assert result["hour_delivered_us"] == result["earned_us"] > 0, result
    assert result["hour_bytes"] == result["record_bytes"], result
    if scan_bytes is not None:
        assert result["record_bytes"] == scan_bytes, (result["record_bytes"], scan_bytes)


# --- the bare scan --------------------------------------------------------------------------

#: DuckDB column names and types for the 33 standard-log fields.
SCAN_COLUMNS = {name.replace("(", "_").replace(")", "").replace("-", "_"): "VARCHAR"
                for name in cdn_logs.FIELDS.split()}  # fmt: skip
SCAN_COLUMNS.update(date="DATE", sc_bytes="BIGINT", sc_status="INTEGER")


def scan_sql(path: Path) -> str:
    columns = ", ".join(f"'{name}': '{kind}'" for name, kind in SCAN_COLUMNS.items())
    return (
        "SELECT sum(n)::BIGINT, sum(b)::BIGINT, count(*) FROM ("
        "SELECT date, cs_uri_stem, count(*) AS n, sum(sc_bytes) AS b "
        f"FROM read_csv('{path}', delim='\\t', skip=2, header=false, quote='', escape='', "
        f"columns={{{columns}}}) GROUP BY date, cs_uri_stem)"
    )


def run_scan(path: Path, repeat: int = 3) -> dict[str, Any]:
    """DuckDB's bare read_csv + GROUP BY of the file, best of `repeat` runs."""
    con = duckdb.connect()
    try:
        sql = scan_sql(path)
        times, row = [], None
        for _ in range(repeat):
            started = time.perf_counter()
            row = con.execute(sql).fetchone()
            times.append(time.perf_counter() - started)
    finally:
        con.close()
    assert row is not None
    lines, sc_bytes, groups = row
    best = min(times)
    return {"seconds": best, "runs_s": times, "lines": lines, "sc_bytes": sc_bytes,
            "groups": groups, "lines_per_s": lines / best}  # fmt: skip


# --- the run --------------------------------------------------------------------------------


def run(
    lines: int, seed: int, *, gz: bool = False, repeat: int = 3, isolate: bool = True,
    path: Path | None = None, memory_limit: str | None = None, log=_log,
    reference: bool = False,
) -> dict[str, Any]:  # fmt: skip
    path = prepare(lines, seed, gz, path, log)
    rows = data_lines(path)

    def one_import(per_line: bool) -> dict[str, Any]:
        if isolate:
            return run_import_isolated(path, seed, memory_limit, log, per_line)
        with tempfile.TemporaryDirectory(prefix="cdn-bench-") as tmp:
            db = Path(tmp) / "store.duckdb"
            return run_import(db, path, seed, memory_limit, log, per_line)

    ours = one_import(False)
    per_line = None
    if reference:
        log(f"  import: {ours['seconds']:.1f} s; the same, every line the per-line way ...")
        per_line = one_import(True)
        check_import(per_line, rows)
    log(f"  import: {ours['seconds']:.1f} s; bare scan x{repeat} ...")
    bare = run_scan(path, repeat)
    assert bare["lines"] == rows, (bare["lines"], rows)
    check_import(ours, rows, bare["sc_bytes"])
    return {
        "file": str(path), "file_mb": path.stat().st_size / 1e6, "lines": rows, "seed": seed,
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                    "duckdb": duckdb.__version__, "platform": platform.platform()},
        "ours": ours, "bare": bare, "ratio": ours["lines_per_s"] / bare["lines_per_s"],
        "per_line": per_line,
    }  # fmt: skip


def format_result(r: dict[str, Any]) -> str:
    ours, bare = r["ours"], r["bare"]
    m = r["machine"]
    verdict = "meets" if r["ratio"] >= TARGET_RATIO else "below"
    out = [
        f"CloudFront standard log: {r['lines']:,} lines, {r['file_mb']:,.0f} MB ({r['file']})",
        f"machine: {m['cpus']} CPUs, Python {m['python']}, DuckDB {m['duckdb']}",
        f"  whole import (parse, index, count, rollups, commit): {ours['seconds']:8.2f} s "
        f"{ours['lines_per_s']:>10,.0f} lines/s",
        f"  DuckDB read_csv + GROUP BY (best of {len(bare['runs_s'])}):        "
        f"{bare['seconds']:8.2f} s {bare['lines_per_s']:>10,.0f} lines/s",
        f"  ratio ours / bare: {r['ratio']:.3f} ({verdict} the {TARGET_RATIO} target)",
        f"  import peak RSS (VmHWM): {ours['peak_rss_mb']:,.0f} MB (before the import "
        f"{ours['rss_before_import_mb']:,.0f} MB; DuckDB memory_limit "
        f"{ours['memory_limit'] or 'default'}); store {ours['db_mb']:,.0f} MB",
        f"  accepted {ours['accepted']:,}, duplicate {ours['duplicate']:,}, rejected "
        f"{ours['rejected']:,}; delivered {ours['earned_us'] / 1e6 / 3600:,.1f} h",
    ]
    if r.get("per_line"):
        ref = r["per_line"]
        out.append(
            f"  every line the per-line way (--reference):           {ref['seconds']:8.2f} s "
            f"{ref['lines_per_s']:>10,.0f} lines/s (columns / per-line "
            f"{ours['lines_per_s'] / ref['lines_per_s']:.1f}x; peak RSS "
            f"{ref['peak_rss_mb']:,.0f} MB)"
        )
        same = all(
            ours[k] == ref[k] for k in ("records", "earned_us", "record_bytes", "hour_delivered_us")
        )
        out.append(f"  same records, seconds and bytes both ways: {'yes' if same else 'NO'}")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--child"]:
        db, path, seed, out, limit, mode = argv[1:7]
        result = run_import(
            Path(db), Path(path), int(seed), limit or None, reference=mode == "reference"
        )
        Path(out).write_text(json.dumps(result))
        return 0
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--lines", type=int, default=cdn_logs.DEFAULT_LINES)
    parser.add_argument("--quick", action="store_true", help=f"{cdn_logs.QUICK_LINES:,} lines")
    parser.add_argument("--seed", type=int, default=cdn_logs.DEFAULT_SEED)
    parser.add_argument("--gzip", action="store_true", help="a gzipped log")
    parser.add_argument("--repeat", type=int, default=3, help="timed runs of the bare scan")
    parser.add_argument("--log", type=Path, help="use (or create) this log file")
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument(
        "--reference", action="store_true",
        help="also time the import with every line the per-line way (the columns' reference)",
    )  # fmt: skip
    parser.add_argument(
        "--memory-limit",
        help="SET memory_limit on the store first (e.g. 512MB); default: the store's "
        "(STREAMMETER_MEMORY_LIMIT 1GB, STREAMMETER_IMPORT_MEMORY_LIMIT 256MB during the import)",
    )
    args = parser.parse_args(argv)
    lines = cdn_logs.QUICK_LINES if args.quick else args.lines
    result = run(
        lines, args.seed, gz=args.gzip, repeat=args.repeat, path=args.log,
        memory_limit=args.memory_limit, reference=args.reference,
    )  # fmt: skip
    print(format_result(result))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
