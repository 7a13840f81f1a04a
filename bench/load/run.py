"""Load benchmark: a real `streammeter serve` on loopback, Mux queries and event batches at once.

    .venv/bin/python -m bench.load            # the delivery-usage benchmark data (~50M rows)
    .venv/bin/python -m bench.load --quick    # a small generated store, ~10 s of load

1. Data: the database of `bench/delivery_usage.py` (reused from bench/.data/, generated when
   missing; `--quick`: a 2,000-asset one generated in a few seconds), copied to a scratch
   directory (the server writes to it) with a fresh `read`+`ingest` token of its environment.
2. Server: `python -m streammeter serve` on 127.0.0.1 (a free port) with STREAMMETER_NOW set
   12 hours past the windows' end, so the windows are settled, and STREAMMETER_HISTORY_DAYS
   one day more than the data, so the benchmark's 90-day window is allowed. `--server-env
   K=V` passes more settings (e.g. STREAMMETER_MUX_CACHE_MB=0 to measure without the cache).
3. Load, all at once for `--duration` seconds (and at most `--max-requests` responses per
   endpoint): one `wrk` per Mux endpoint — the 1-hour window as fast as `--connections`
   connections go, the 1-day and 90-day windows at a fixed rate — each asking for random pages
   of its window; and `bench/load/events.py` posting `POST /v1/events` batches of `--batch`
   records at `--event-rate` batches per second.
4. Prints requests/s, p50/p99/max latency and errors (responses >= 400 and socket errors) per
   endpoint, the ingest achieved in records/s, the server's CPU use, and the targets met.

A warm-up pass (not timed with the load) first asks for every page the load will ask for, once,
sequentially: the time of a first (uncached) answer is reported as `cold`.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx

from bench import delivery_usage as du
from streammeter.store import open_store

HERE = Path(__file__).resolve().parent
LUA = HERE / "mux.lua"
LIMIT = 100
#: The issue's targets (2-core machines).
TARGET_RPS_1H = 1_000
TARGET_P99_MS_1H = 50.0
TARGET_RECORDS_PER_S = 20_000


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


@dataclass
class Endpoint:
    name: str
    hours: int  # window length, ending at du.END_HOUR
    connections: int
    rate: float  # requests/s over all connections; 0: closed loop, as fast as answered
    pages: int  # draw pages from 1..pages (0: every page of the window)


@dataclass
class Config:
    quick: bool = False
    duration: float = 30.0
    max_requests: int = 0
    endpoints: list[Endpoint] = field(default_factory=list)
    event_rate: float = 20.0
    batch: int = 1000
    inflight: int = 4
    warmup: bool = True
    server_env: dict[str, str] = field(default_factory=dict)
    workers: int = 1  # serve --workers: above 1, fronts before the store's owner
    db: Path | None = None
    profile: Path | None = None  # py-spy's collapsed stacks of the server during the load


def default_config(quick: bool) -> Config:
    days = du.QUICK_DATA.days if quick else du.DataParams().days
    if quick:
        return Config(
            quick=True, duration=8.0, max_requests=20_000, event_rate=5.0, batch=200,
            endpoints=[
                Endpoint("mux 1h", 1, 4, 0, 0),
                Endpoint("mux 1d", 24, 1, 10, 5),
                Endpoint(f"mux {days}d", days * 24, 1, 2, 1),
            ],
        )  # fmt: skip
    return Config(
        endpoints=[
            Endpoint("mux 1h", 1, 8, 0, 0),
            Endpoint("mux 1d", 24, 2, 20, 10),
            Endpoint(f"mux {days}d", days * 24, 1, 2, 2),
        ]
    )


# --- setup ----------------------------------------------------------------------------------


@dataclass
class Prepared:
    db: Path
    env_key: int
    token: str
    assets_file: Path
    rows: dict[str, int]
    days: int


def prepare(cfg: Config, scratch: Path, log: Any = _log) -> Prepared:
    """Copy (or generate) the benchmark database into `scratch`, with a token and asset list."""
    params = du.QUICK_DATA if cfg.quick else du.DataParams()
    db = scratch / "load.duckdb"
    if cfg.quick and cfg.db is None:
        du.generate(db, params, log=log)
    else:
        source = Path(du.prepare(params, cfg.db, log=log).path)
        log(f"copying {source} to {db}")
        shutil.copyfile(source, db)
    info = du.describe(db)
    with open_store(str(db)) as store:
        token_id, secret = store.create_token(info.env_key, ["read", "ingest"])
        ids = [
            row[0]
            for row in store._cursor()
            .execute(
                "SELECT asset_id FROM assets WHERE env_key = ? AND deleted_at IS NULL "
                "ORDER BY asset_key LIMIT 5000",
                [info.env_key],
            )
            .fetchall()
        ]
    assets_file = scratch / "assets.txt"
    assets_file.write_text("\n".join(ids) + "\n")
    return Prepared(db, info.env_key, f"{token_id}:{secret}", assets_file, info.rows, params.days)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """`python -m streammeter serve` in a child process; its output goes to a log file."""

    def __init__(
        self, prepared: Prepared, scratch: Path, extra_env: dict[str, str], workers: int = 1
    ) -> None:
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = scratch / "server.log"
        env = os.environ | {
            "STREAMMETER_DB": str(prepared.db),
            "STREAMMETER_NOW": str(du.DATA_END_HOUR * 3600),
            "STREAMMETER_HISTORY_DAYS": str(prepared.days + 1),
        }
        env |= extra_env
        self._log = self.log_path.open("wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "streammeter", "serve", "--host", "127.0.0.1",
             "--port", str(self.port), "--no-access-log", "--workers", str(workers)],
            env=env, stdout=self._log, stderr=subprocess.STDOUT,
        )  # fmt: skip

    def wait_ready(self, timeout: float = 120.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the server exited: {self.log_path.read_text()[-2000:]}")
            try:
                if httpx.get(self.url + "/healthz", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"the server did not answer /healthz within {timeout:.0f} s")

    def cpu_seconds(self) -> float:
        """User + system CPU time so far of the server process and its children (fronts)."""
        ticks = 0
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except OSError:  # gone meanwhile
                continue
            if stat.parent.name == str(self.proc.pid) or fields[1] == str(self.proc.pid):
                ticks += int(fields[11]) + int(fields[12])
        return ticks / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()


# --- load -----------------------------------------------------------------------------------


def window_path(ep: Endpoint) -> str:
    start, end = (du.END_HOUR - ep.hours) * 3600, du.END_HOUR * 3600
    return f"/video/v1/delivery-usage?timeframe[]={start}&timeframe[]={end}&limit={LIMIT}"


@dataclass
class Probe:
    total_row_count: int
    pages: int  # pages the load draws from
    cold_ms: list[float]


def probe(url: str, token: str, endpoints: Sequence[Endpoint], warmup: bool) -> list[Probe]:
    """Page 1 of each window (its row count), then every page the load will use, once."""
    token_id, _, secret = token.partition(":")
    out = []
    with httpx.Client(base_url=url, auth=(token_id, secret), timeout=120) as client:
        for ep in endpoints:
            first = client.get(window_path(ep) + "&page=1")
            first.raise_for_status()
            total = first.json()["total_row_count"]
            available = max(1, -(-total // LIMIT))
            pages = available if ep.pages <= 0 else min(ep.pages, available)
            cold = []
            for page in range(1, pages + 1) if warmup else ():
                started = time.perf_counter()
                client.get(window_path(ep) + f"&page={page}").raise_for_status()
                cold.append((time.perf_counter() - started) * 1000)
            out.append(Probe(total, pages, cold))
    return out


def _wrk(
    url: str, token: str, ep: Endpoint, pages: int, cfg: Config, out: Path
) -> subprocess.Popen[bytes]:
    import base64

    auth = base64.b64encode(token.encode()).decode()
    env = os.environ | {
        "LOAD_PATH": window_path(ep),
        "LOAD_PAGES": str(pages),
        "LOAD_RATE": str(ep.rate),
        "LOAD_CONNECTIONS": str(ep.connections),
        "LOAD_MAX": str(cfg.max_requests),
        "LOAD_OUT": str(out),
    }
    return subprocess.Popen(
        ["wrk", "-t1", f"-c{ep.connections}", f"-d{max(1, round(cfg.duration))}s",
         "--timeout", "10s", "-H", f"Authorization: Basic {auth}", "-s", str(LUA), url],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip


def run_load(
    cfg: Config, prepared: Prepared, server: Server, scratch: Path, log: Any = _log
) -> dict[str, Any]:
    log(f"probing the windows{' and warming up' if cfg.warmup else ''}")
    probes = probe(server.url, prepared.token, cfg.endpoints, cfg.warmup)
    events_out = scratch / "events.json"
    events = None
    if cfg.event_rate > 0:  # it builds its bodies first, then says "ready" and starts
        events = subprocess.Popen(
            [sys.executable, "-m", "bench.load.events", server.url, prepared.token,
             str(prepared.assets_file), str(events_out), "--rate", str(cfg.event_rate),
             "--batch", str(cfg.batch), "--duration", str(cfg.duration),
             "--inflight", str(cfg.inflight), "--now", str(du.DATA_END_HOUR * 3600)]
            + (["--max-batches", str(cfg.max_requests)] if cfg.max_requests else []),
            cwd=HERE.parent.parent, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )  # fmt: skip
        assert events.stdout is not None
        events.stdout.readline()
    load_avg = os.getloadavg()
    log(f"load: {cfg.duration:g} s (load average before: {load_avg[0]:.2f})")
    cpu_before, started = server.cpu_seconds(), time.perf_counter()
    spy = None
    if cfg.profile:
        spy = subprocess.Popen(
            [shutil.which("py-spy") or "py-spy", "record", "--pid", str(server.proc.pid),
             "--duration", str(max(1, round(cfg.duration))), "--format", "raw", "--threads",
             "--output", str(cfg.profile)],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )  # fmt: skip
    procs = []
    for i, (ep, pr) in enumerate(zip(cfg.endpoints, probes, strict=True)):
        out = scratch / f"wrk-{i}.json"
        out.unlink(missing_ok=True)
        procs.append((ep, pr, out, _wrk(server.url, prepared.token, ep, pr.pages, cfg, out)))
    rows = []
    for ep, pr, out, proc in procs:
        _, err = proc.communicate(timeout=cfg.duration + 120)
        if proc.returncode != 0 or not out.exists():
            raise RuntimeError(f"wrk failed for {ep.name}: {err.decode()[-2000:]}")
        w = json.loads(out.read_text())
        seconds = w["duration_us"] / 1e6
        socket_errors = sum(
            w[k] for k in ("connect_errors", "read_errors", "write_errors", "timeouts")
        )
        rows.append(
            {
                "endpoint": ep.name, "window_hours": ep.hours, "connections": ep.connections,
                "rate": ep.rate, "pages": pr.pages, "total_row_count": pr.total_row_count,
                "requests": w["requests"], "requests_per_s": round(w["requests"] / seconds, 1),
                "p50_ms": w["p50_us"] / 1000, "p90_ms": w["p90_us"] / 1000,
                "p99_ms": w["p99_us"] / 1000, "max_ms": w["max_us"] / 1000,
                "non2xx": w["status_errors"], "socket_errors": socket_errors,
                "cold_p50_ms": round(sorted(pr.cold_ms)[len(pr.cold_ms) // 2], 1)
                if pr.cold_ms else None,
                "cold_max_ms": round(max(pr.cold_ms), 1) if pr.cold_ms else None,
            }
        )  # fmt: skip
    ingest = None
    if events is not None:
        _, err = events.communicate(timeout=cfg.duration + 300)
        if events.returncode != 0 or not events_out.exists():
            raise RuntimeError(f"the events driver failed: {err.decode()[-2000:]}")
        ingest = json.loads(events_out.read_text())
    wall = time.perf_counter() - started
    cpu = server.cpu_seconds() - cpu_before
    if spy is not None:
        _, err = spy.communicate(timeout=120)
        if spy.returncode != 0:
            log(f"py-spy failed: {err.decode()[-500:]}")
    requests = sum(r["requests"] for r in rows) + (ingest["batches_sent"] if ingest else 0)
    return {
        "rows": rows,
        "ingest": ingest,
        "server_cpu_percent": round(100 * cpu / wall, 1),
        "server_cpu_ms_per_request": round(1000 * cpu / requests, 3) if requests else None,
        "load_average_before": round(load_avg[0], 2),
        "wall_s": round(wall, 1),
    }


def targets(result: dict[str, Any]) -> dict[str, bool]:
    hour = next((r for r in result["rows"] if r["window_hours"] == 1), None)
    ingest = result["ingest"]
    return {
        f"1h >= {TARGET_RPS_1H} req/s": bool(hour and hour["requests_per_s"] >= TARGET_RPS_1H),
        f"1h p99 <= {TARGET_P99_MS_1H:g} ms": bool(hour and hour["p99_ms"] <= TARGET_P99_MS_1H),
        "zero errors": errors(result) == 0,
        f"ingest >= {TARGET_RECORDS_PER_S:,} records/s": bool(
            ingest and ingest["records_per_s"] >= TARGET_RECORDS_PER_S
        ),
    }


def errors(result: dict[str, Any]) -> int:
    """Responses >= 400, socket errors and failed batches, all endpoints together."""
    total = sum(r["non2xx"] + r["socket_errors"] for r in result["rows"])
    ingest = result["ingest"]
    if ingest:
        total += ingest["batches_failed"] + ingest["records_rejected"]
    return total


def format_result(result: dict[str, Any]) -> str:
    header = (
        f"{'endpoint':<10} {'conns':>5} {'rate':>6} {'pages':>5} {'requests':>9} {'req/s':>8} "
        f"{'p50 ms':>8} {'p99 ms':>8} {'max ms':>8} {'non-2xx':>7} {'socket':>6} {'cold ms':>8}"
    )
    lines = [header, "-" * len(header)]
    for r in result["rows"]:
        rate = "max" if not r["rate"] else f"{r['rate']:g}/s"
        cold = "" if r["cold_p50_ms"] is None else f"{r['cold_p50_ms']:.1f}"
        lines.append(
            f"{r['endpoint']:<10} {r['connections']:>5} {rate:>6} {r['pages']:>5} "
            f"{r['requests']:>9} {r['requests_per_s']:>8.1f} {r['p50_ms']:>8.2f} "
            f"{r['p99_ms']:>8.2f} {r['max_ms']:>8.2f} {r['non2xx']:>7} {r['socket_errors']:>6} "
            f"{cold:>8}"
        )
    ingest = result["ingest"]
    if ingest:
        lines.append(
            f"{'events':<10} batches {ingest['batches_sent']} sent / {ingest['batches_ok']} ok / "
            f"{ingest['batches_failed']} failed / {ingest['batches_skipped']} skipped "
            f"(x{ingest['batch_size']}): {ingest['records_per_s']:,.0f} records/s accepted "
            f"(target {ingest['target_records_per_s']:,.0f}), batch p50 {ingest['p50_ms']:.1f} "
            f"ms, p99 {ingest['p99_ms']:.1f} ms"
        )
    lines.append(
        f"server CPU {result['server_cpu_percent']:.0f}% of one core over {result['wall_s']} s "
        f"({result['server_cpu_ms_per_request']} ms per request, all endpoints); "
        f"load average before the run {result['load_average_before']}"
    )
    for name, met in targets(result).items():
        lines.append(f"  target {name}: {'met' if met else 'NOT met'}")
    return "\n".join(lines)


def run(cfg: Config, log: Any = _log, scratch_dir: Path | None = None) -> dict[str, Any]:
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed: apt-get install wrk")
    with tempfile.TemporaryDirectory(prefix="bench-load-", dir=scratch_dir) as tmp:
        scratch = Path(tmp)
        prepared = prepare(cfg, scratch, log)
        server = Server(prepared, scratch, cfg.server_env, cfg.workers)
        try:
            server.wait_ready()
            result = run_load(cfg, prepared, server, scratch, log)
        finally:
            server.stop()
    result["machine"] = {
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
    }
    result["data"] = prepared.rows
    result["config"] = asdict(cfg) | {
        "db": str(cfg.db) if cfg.db else None,
        "profile": str(cfg.profile) if cfg.profile else None,
    }
    return result


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.load", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--quick", action="store_true", help="small generated store, ~10 s")
    parser.add_argument("--duration", type=float, help="seconds of load (30; quick 8)")
    parser.add_argument(
        "--max-requests", type=int, help="stop each endpoint after this many responses"
    )
    parser.add_argument("--connections", type=int, help="connections of the 1-hour wrk")
    parser.add_argument(
        "--hour-rate",
        type=float,
        help="1-hour requests/s, paced (0, the default: as fast as answered)",
    )
    parser.add_argument("--day-rate", type=float, help="1-day requests/s (20; quick 10)")
    parser.add_argument("--long-rate", type=float, help="90-day requests/s (2)")
    parser.add_argument("--pages-1h", type=int, help="pages of the 1-hour window (0: all)")
    parser.add_argument("--event-rate", type=float, help="event batches/s (20; quick 5; 0: none)")
    parser.add_argument("--batch", type=int, help="records per batch (1000; quick 200)")
    parser.add_argument("--inflight", type=int, help="event batches outstanding at most (4)")
    parser.add_argument("--no-warmup", action="store_true", help="skip the warm-up pass")
    parser.add_argument("--no-queries", action="store_true", help="only post event batches")
    parser.add_argument(
        "--server-env", action="append", default=[], metavar="K=V", help="server setting"
    )
    parser.add_argument(
        "--workers", type=int, help="serve --workers (1; above 1: fronts before the owner)"
    )
    parser.add_argument("--db", type=Path, help="benchmark database (default: bench/.data)")
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument(
        "--profile", type=Path, help="py-spy the server during the load (collapsed stacks)"
    )
    args = parser.parse_args(argv)
    cfg = default_config(args.quick)
    for name in (
        "duration", "max_requests", "event_rate", "batch", "inflight", "workers", "db", "profile",
    ):  # fmt: skip
        if getattr(args, name) is not None:
            setattr(cfg, name, getattr(args, name))
    hour, day, long = cfg.endpoints
    if args.connections is not None:
        hour.connections = args.connections
    if args.pages_1h is not None:
        hour.pages = args.pages_1h
    if args.hour_rate is not None:
        hour.rate = args.hour_rate
    if args.day_rate is not None:
        day.rate = args.day_rate
    if args.long_rate is not None:
        long.rate = args.long_rate
    cfg.warmup = not args.no_warmup
    if args.no_queries:
        cfg.endpoints = []
    cfg.server_env = dict(item.split("=", 1) for item in args.server_env)
    result = run(cfg)
    print(format_result(result))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    return 1 if errors(result) else 0


if __name__ == "__main__":
    sys.exit(main())
