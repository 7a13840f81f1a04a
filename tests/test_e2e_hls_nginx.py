"""End to end with real software: ffmpeg packages an HLS ladder, nginx serves it on loopback
logging in our recommended JSON format, ffmpeg plays it; streammeter imports nginx's actual
access log and the manifests, and its delivered seconds per tier equal what the player fetched.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from streammeter.sources.cdn.nginx import RECOMMENDED_LOG_FORMAT

NEEDS = ("ffmpeg", "nginx")
missing = [tool for tool in NEEDS if shutil.which(tool) is None]
if missing and os.environ.get("CI"):
    raise RuntimeError(f"CI must install {missing} (see .ci/run)")
pytestmark = pytest.mark.skipif(bool(missing), reason=f"needs {missing} (apt install {missing})")

SEGMENT = 2  # seconds
LADDER = {"v0": "1080p", "v1": "720p", "v2": "720p"}  # 1920x1080, 1280x720, 640x360; v3 = audio


def package(root: Path) -> None:
    root.mkdir(parents=True)
    subprocess.run(
        ["ffmpeg", "-hide_banner", "-loglevel", "error",
         "-f", "lavfi", "-i", "testsrc2=size=1920x1080:rate=25:duration=12",
         "-f", "lavfi", "-i", "sine=frequency=440:duration=12",
         "-filter_complex", "[0:v]split=3[a][b][c];[b]scale=1280:720[b2];[c]scale=640:360[c2]",
         "-map", "[a]", "-map", "[b2]", "-map", "[c2]", "-map", "1:a",
         "-c:v", "libx264", "-preset", "ultrafast", "-g", "50", "-keyint_min", "50",
         "-sc_threshold", "0", "-b:v:0", "3000k", "-b:v:1", "1500k", "-b:v:2", "500k",
         "-c:a", "aac", "-b:a", "64k",
         "-f", "hls", "-hls_time", str(SEGMENT), "-hls_playlist_type", "vod",
         "-hls_segment_filename", str(root / "v%v" / "seg_%03d.ts"),
         "-master_pl_name", "master.m3u8",
         "-var_stream_map", "v:0,agroup:aud v:1,agroup:aud v:2,agroup:aud a:0,agroup:aud",
         str(root / "v%v" / "index.m3u8")],
        check=True, timeout=300,
    )  # fmt: skip


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_nginx(prefix: Path, www: Path, port: int) -> subprocess.Popen:
    (prefix / "logs").mkdir(parents=True)
    (prefix / "tmp").mkdir()
    temp = " ".join(f"{kind}_temp_path {prefix / 'tmp'};" for kind in
                    ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))  # fmt: skip
    conf = prefix / "nginx.conf"
    # As root, nginx's workers would run as `nobody`, who cannot read pytest's temp dirs.
    user = "user root;" if os.geteuid() == 0 else ""
    conf.write_text(f"""
{user}
daemon off;
worker_processes 1;
pid {prefix / "nginx.pid"};
error_log {prefix / "logs" / "error.log"} warn;
events {{ worker_connections 64; }}
http {{
  types {{ application/vnd.apple.mpegurl m3u8; video/mp2t ts; }}
  {temp}
  {RECOMMENDED_LOG_FORMAT}
  access_log {prefix / "logs" / "access.log"} streammeter;
  server {{ listen 127.0.0.1:{port}; root {www}; }}
}}
""")
    process = subprocess.Popen(
        ["nginx", "-p", str(prefix), "-c", str(conf)], stderr=subprocess.PIPE, text=True
    )
    deadline = time.monotonic() + 10
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return process
        except OSError:
            if time.monotonic() > deadline or process.poll() is not None:
                process.kill()
                raise RuntimeError(f"nginx did not start: {process.communicate()[1]}") from None
            time.sleep(0.05)


def play(url: str) -> list[str]:
    """Play the 720p variant and its audio with ffmpeg; the URLs the player opened."""
    result = subprocess.run(
        ["ffmpeg", "-hide_banner", "-loglevel", "debug", "-i", url,
         "-map", "0:p:1:v", "-map", "0:p:1:a", "-f", "null", "-"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    return re.findall(r"Opening '([^']+)' for reading", result.stderr)


def cli(*args: str, db: Path, now: int) -> str:
    """The CLI with the service clock at `now` (nginx logs real time; we query as Mux would,
    13 hours after the playback)."""
    result = subprocess.run(
        [sys.executable, "-m", "streammeter", *args, "--db", str(db)],
        capture_output=True, text=True, timeout=300,
        env={**os.environ, "STREAMMETER_NOW": str(now)},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_delivered_seconds_equal_what_the_player_fetched(tmp_path):
    www = tmp_path / "www"
    package(www / "vod" / "e2e")
    port = free_port()
    nginx = start_nginx(tmp_path / "nginx", www, port)
    try:
        started = int(time.time())
        opened = play(f"http://127.0.0.1:{port}/vod/e2e/master.m3u8")
        finished = int(time.time())
    finally:
        nginx.terminate()
        nginx.wait(10)
    fetched = Counter(
        LADDER.get(m.group(1), "audio")
        for url in opened
        if (m := re.search(r"/vod/e2e/(v\d)/seg_\d+\.ts$", url))
    )
    assert fetched["720p"] >= 6 and fetched["audio"] >= 6  # the whole 12 s at 720p, and audio

    now = finished + 13 * 3600
    db = tmp_path / "store.duckdb"
    env = json.loads(cli("environments", "create", "e2e", "--json", db=db, now=now))["id"]
    assets = tmp_path / "assets.ndjson"
    asset = {"asset_id": "e2e", "asset_resolution_tier": "1080p", "asset_duration": 12,
             "created_at": "2026-11-01T00:00:00Z"}  # fmt: skip
    assets.write_text(json.dumps(asset) + "\n")
    cli("assets", "import", "-e", env, str(assets), db=db, now=now)
    cli("manifests", "add", "-e", env, "--asset", "e2e", "--url-prefix", "/vod/e2e/",
        str(www / "vod" / "e2e"), db=db, now=now)  # fmt: skip
    log = tmp_path / "nginx" / "logs" / "access.log"
    receipt = json.loads(cli("ingest", "-e", env, str(log), "--json", db=db, now=now))[0]
    assert receipt["format"] == "nginx-json"  # detected
    assert receipt["rejected"] == 0
    assert receipt["accepted"] == len(log.read_text().splitlines())

    window = (str(started - 86_400), str((finished // 3600 + 1) * 3600))
    usage = json.loads(cli("usage", "-e", env, "--from", window[0], "--to", window[1],
                           "-o", "json", db=db, now=now))  # fmt: skip
    (row,) = usage["data"]
    tiers = row["delivered_seconds_by_resolution"]
    for tier in ("1080p", "720p"):
        expected = fetched[tier] * SEGMENT
        assert abs(tiers.get(f"tier_{tier}", 0) - expected) <= SEGMENT, (tier, tiers, fetched)
    assert "tier_audio_only" not in tiers  # demuxed audio beside video earns bytes only
    assert row["delivered_seconds"] == sum(tiers.values())
