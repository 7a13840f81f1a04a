"""`streammeter demo`: a fresh store with a realistic, seeded sample, ready to query.

A few hundred assets with Zipf popularity, two weeks of viewing sessions (ABR ladders of
2/4/6-second segments, some audio-only, some aborted segments, playlists, a few malformed
lines), imported through the real pipeline. The clock (`STREAMMETER_NOW`) is set 12 hours after
the last delivery, so Mux's default window (the 13th to 12th hour ago) is its last hour.
"""

from __future__ import annotations

import json
import os
import random
import tempfile
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console

from streammeter.ingest.importer import import_file
from streammeter.model.catalog import Asset
from streammeter.store import open_store

LADDER = [(640, 360), (1280, 720), (1920, 1080), (2560, 1440), (3840, 2160)]
DEMO_END = 1_795_132_800  # 2026-11-20T00:00:00Z: data ends here, the clock is 12 h later


@dataclass
class DemoStore:
    db: str
    environment_id: str
    token_id: str
    token_secret: str
    start: int
    end: int
    top_asset: str
    now: int


def _assets(rng: random.Random, count: int, start: int) -> list[Asset]:
    assets = []
    for n in range(count):
        audio_only = n % 40 == 39
        tier = (
            "audio-only" if audio_only else rng.choice(["720p", "1080p", "1080p", "1440p", "2160p"])
        )
        quality = rng.choice(["basic", "plus", "premium"])
        deleted = n % 50 == 7
        assets.append(
            Asset(
                asset_id=f"demo-asset-{n:04d}",
                live_stream_id=f"demo-live-{n % 5}" if n % 10 == 3 else None,
                passthrough=f"title {n}" if n % 3 == 0 else None,
                created_at=start - rng.randint(0, 30) * 86_400,
                deleted_at=start + 86_400 * 10 if deleted else None,
                asset_duration=round(rng.uniform(30, 3_600), 6),
                asset_resolution_tier=tier,
                asset_video_quality=quality,
                playback_ids=[f"pb{n:04d}"],
            )
        )
    return assets


def _records(rng: random.Random, assets: list[Asset], start: int, end: int, sessions: int):
    weights = [1 / (rank + 1) ** 1.1 for rank in range(len(assets))]
    for session in range(sessions):
        asset = rng.choices(assets, weights)[0]
        t = rng.uniform(start, end - 60)
        segment = rng.choice([2, 4, 6])
        audio_only = asset.asset_resolution_tier == "audio-only"
        top = {"720p": 1, "1080p": 2, "1440p": 3, "2160p": 4}.get(asset.asset_resolution_tier, 0)
        rung = rng.randint(0, top)
        sid = f"s{session}"
        yield {
            "timestamp": round(t, 3),
            "asset_id": asset.asset_id,
            "kind": "manifest",
            "bytes": 900,
        }
        for n in range(rng.randint(3, 120)):
            if t + n * segment >= end:
                break  # the sample ends at `end`; the clock is 12 h later
            rung = max(0, min(top, rung + rng.choice([-1, 0, 0, 0, 0, 1])))
            width, height = LADDER[rung]
            record = {
                "id": f"{sid}-{n}",
                "timestamp": round(t + n * segment, 3),
                "playback_id" if n % 2 else "asset_id": (
                    asset.playback_ids[0].id if n % 2 else asset.asset_id
                ),
                "duration": segment,
                "session_id": sid,
                "bytes": segment * 250_000 * (rung + 1),
            }
            if audio_only:
                record["track"] = "audio-only"
                record["bytes"] = segment * 16_000
            else:
                record |= {"width": width, "height": height}
            if rng.random() < 0.01:  # aborted transfer: pro-rata seconds
                record |= {"status": 499, "object_bytes": record["bytes"],
                           "body_bytes": record["bytes"] // 3}  # fmt: skip
            yield record
            if rng.random() < 0.002:
                yield {"timestamp": "yesterday", "asset_id": asset.asset_id}  # quarantined


def build_demo(
    db: str | None, *, assets: int, days: int, seed: int, progress: Console | None = None
) -> DemoStore:
    rng = random.Random(seed)
    folder = Path(tempfile.mkdtemp(prefix="streammeter-demo-"))
    path = db or str(folder / "demo.duckdb")
    if Path(path).exists():
        raise SystemExit(f"{path} exists; the demo wants a fresh store (pass another --db)")
    end, start = DEMO_END, DEMO_END - days * 86_400
    now = end + 12 * 3_600
    os.environ["STREAMMETER_NOW"] = str(now)
    catalog = _assets(rng, assets, start)
    records_file = folder / "deliveries.ndjson"
    with records_file.open("w") as handle:
        for record in _records(rng, catalog, start, end, sessions=assets * days // 2):
            handle.write(json.dumps(record) + "\n")
    if progress:
        progress.print(f"Generated {len(catalog)} assets and deliveries in {records_file}")
    with open_store(path) as store:
        env = store.create_environment("demo", "demo-account")
        store.upsert_assets(env.env_key, catalog)
        receipt = import_file(store, env.env_key, records_file)
        token_id, secret = store.create_token(env.env_key, ["read", "ingest", "admin"])
        rows, _ = store.delivery_usage(env.env_key, start // 3600, end // 3600, limit=1)
    if progress:
        progress.print(
            f"Imported {receipt.accepted} records ({receipt.rejected} malformed lines "
            f"quarantined in receipt {receipt.receipt_id})"
        )
    top = rows[0].asset["asset_id"] if rows else catalog[0].asset_id
    return DemoStore(path, env.environment_id, token_id, secret, start, end, top, now)


def guide(demo: DemoStore, host: str, port: int) -> str:
    base = f"http://{host}:{port}"
    auth = f"{demo.token_id}:{demo.token_secret}"
    day = demo.end - 86_400
    return f"""
streammeter demo: store {demo.db}
Clock set to {demo.now} (STREAMMETER_NOW), so the last {(demo.end - demo.start) // 86_400} days are queryable.

Token (read, ingest, admin):  {auth}

Dashboard: {base}/   (sign in with the token id and secret above)
API docs:  {base}/docs

Try, in another terminal:
  curl -s -u {auth} '{base}/video/v1/delivery-usage?timeframe[]={day}&timeframe[]={demo.end}&limit=5'
  curl -s -u {auth} '{base}/video/v1/delivery-usage?asset_id={demo.top_asset}&timeframe[]={demo.start}&timeframe[]={demo.end}'
  curl -s -u {auth} '{base}/v1/receipts'
  streammeter usage --url {base} --token {auth} --from {day} --to {demo.end} --limit 10

With Mux's Python client (pip install mux-python):
  import mux_python
  cfg = mux_python.Configuration(host="{base}", username="{demo.token_id}", password="{demo.token_secret}")
  api = mux_python.DeliveryUsageApi(mux_python.ApiClient(cfg))
  print(api.list_delivery_usage(timeframe=["{day}", "{demo.end}"], limit=3))

Serving on {base} (Ctrl+C to stop).
"""
