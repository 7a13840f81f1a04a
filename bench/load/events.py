"""The ingest side of the load benchmark: `POST /v1/events` batches at a fixed rate.

    python -m bench.load.events URL TOKEN_ID:SECRET ASSETS_FILE OUT_JSON \
        --rate 20 --batch 1000 --duration 30 --now EPOCH_S

An open-loop schedule: batch i is due at start + i / rate; at most `--inflight` batches are
outstanding, and a batch due while that many are still outstanding is counted `skipped` (the
server does not keep up) instead of queueing up behind them. Every record has a unique id
(run nonce + sequence number), a timestamp in the 10 minutes before `--now` (live traffic:
hours that are not settled yet, so no Mux window of the benchmark contains them), an asset of
the benchmark's catalog (Zipf by rank) and a 6-second segment of a random rendition.
All bodies are built before the schedule starts (then "ready" is printed), so that building
them takes no CPU from the server during the load.

Writes one JSON object to OUT_JSON: batches sent / ok / failed / skipped, records sent and
accepted, achieved records/s and batch latency p50/p99 (ms).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import random
import secrets
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx
import orjson

_DIMENSIONS = [(1280, 720), (1920, 1080), (1920, 1080), (2560, 1440), (3840, 2160)]
_SPREAD_S = 600


def percentile(samples: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (0 for no samples)."""
    if not samples:
        return 0.0
    ordered = sorted(samples)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


class BatchMaker:
    """Bodies of `size` generic records with unique ids."""

    def __init__(self, assets: Sequence[str], size: int, now_s: int, seed: int) -> None:
        self._assets = list(assets)
        self._weights = [1 / (rank + 1) for rank in range(len(self._assets))]
        self._size, self._now = size, now_s
        self._rng = random.Random(seed)
        self._nonce = secrets.token_hex(4)
        self._next = 0

    def body(self) -> bytes:
        rng, first = self._rng, self._next
        self._next += self._size
        picks = rng.choices(self._assets, weights=self._weights, k=self._size)
        records = []
        for i, asset_id in enumerate(picks):
            width, height = rng.choice(_DIMENSIONS)
            records.append(
                {
                    "id": f"load-{self._nonce}-{first + i}",
                    "timestamp": self._now - rng.randrange(_SPREAD_S),
                    "asset_id": asset_id,
                    "duration": 6,
                    "width": width,
                    "height": height,
                    "bytes": rng.randrange(200_000, 6_000_000),
                }
            )
        return orjson.dumps(records)


async def drive(
    url: str,
    token: str,
    maker: BatchMaker,
    *,
    rate: float,
    size: int,
    duration: float,
    max_batches: int = 0,
    inflight: int = 4,
) -> dict[str, Any]:
    token_id, _, secret = token.partition(":")
    total = int(rate * duration)
    if max_batches:
        total = min(total, max_batches)
    bodies = [maker.body() for _ in range(total)]
    print("ready", flush=True)
    latencies: list[float] = []
    counts = {"ok": 0, "failed": 0, "skipped": 0, "accepted": 0, "duplicate": 0, "rejected": 0}
    errors: list[str] = []
    outstanding: set[asyncio.Task[None]] = set()

    async def post(client: httpx.AsyncClient, body: bytes) -> None:
        started = time.perf_counter()
        try:
            response = await client.post(
                url + "/v1/events", content=body, headers={"content-type": "application/json"}
            )
        except httpx.HTTPError as exc:
            counts["failed"] += 1
            errors.append(f"{type(exc).__name__}: {exc}")
            return
        latencies.append((time.perf_counter() - started) * 1000)
        if response.status_code // 100 != 2:
            counts["failed"] += 1
            errors.append(f"HTTP {response.status_code}: {response.text[:200]}")
            return
        counts["ok"] += 1
        for outcome, n in orjson.loads(response.content)["data"]["counts"].items():
            counts[outcome] = counts.get(outcome, 0) + n

    limits = httpx.Limits(max_connections=inflight, max_keepalive_connections=inflight)
    timeout = httpx.Timeout(60.0)
    async with httpx.AsyncClient(auth=(token_id, secret), limits=limits, timeout=timeout) as client:
        started = time.perf_counter()
        for i, body in enumerate(bodies):
            due = started + i / rate
            await asyncio.sleep(max(0.0, due - time.perf_counter()))
            if len(outstanding) >= inflight:
                counts["skipped"] += 1
                continue
            task = asyncio.create_task(post(client, body))
            outstanding.add(task)
            task.add_done_callback(outstanding.discard)
        if outstanding:
            await asyncio.wait(outstanding)
        elapsed = time.perf_counter() - started
    sent = counts["ok"] + counts["failed"]
    return {
        "batches_due": total,
        "batches_sent": sent,
        "batches_ok": counts["ok"],
        "batches_failed": counts["failed"],
        "batches_skipped": counts["skipped"],
        "batch_size": size,
        "records_sent": sent * size,
        "records_accepted": counts["accepted"],
        "records_duplicate": counts["duplicate"],
        "records_rejected": counts["rejected"],
        "elapsed_s": round(elapsed, 3),
        "records_per_s": round(counts["accepted"] / elapsed, 1) if elapsed else 0.0,
        "target_records_per_s": rate * size,
        "p50_ms": round(percentile(latencies, 0.5), 2),
        "p99_ms": round(percentile(latencies, 0.99), 2),
        "max_ms": round(max(latencies, default=0.0), 2),
        "errors": errors[:5],
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("url")
    parser.add_argument("token", help="TOKEN_ID:SECRET of an ingest-scoped token")
    parser.add_argument("assets", type=Path, help="asset ids, one a line, most popular first")
    parser.add_argument("out", type=Path)
    parser.add_argument("--rate", type=float, default=20.0, help="batches per second")
    parser.add_argument("--batch", type=int, default=1000, help="records per batch")
    parser.add_argument("--duration", type=float, default=30.0)
    parser.add_argument("--max-batches", type=int, default=0)
    parser.add_argument("--inflight", type=int, default=4)
    parser.add_argument("--now", type=int, required=True, help="the server's clock, epoch s")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    assets = args.assets.read_text().split()
    maker = BatchMaker(assets, args.batch, args.now, args.seed)
    result = asyncio.run(
        drive(
            args.url, args.token, maker, rate=args.rate, size=args.batch,
            duration=args.duration, max_batches=args.max_batches, inflight=args.inflight,
        )
    )  # fmt: skip
    args.out.write_text(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
