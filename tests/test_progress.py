"""Long imports show progress on a terminal; quiet with --quiet or when not a TTY."""

from __future__ import annotations

import json
import os
import pty
import subprocess
import sys


def run_ingest(tmp_path, *extra: str, tty: bool) -> str:
    tmp_path.mkdir(exist_ok=True)
    db = tmp_path / "p.duckdb"
    data = tmp_path / "r.ndjson"
    data.write_text("".join(
        json.dumps({"timestamp": 1_700_000_000 + n, "asset_id": "a", "duration": 2}) + "\n"
        for n in range(30_000)
    ))  # fmt: skip
    base = [sys.executable, "-m", "streammeter"]
    subprocess.run([*base, "environments", "create", "x", "--db", str(db)], check=True,
                   capture_output=True)  # fmt: skip
    command = [*base, "ingest", "-e", "x", str(data), "--db", str(db), *extra]
    env = {**os.environ, "COLUMNS": "120", "TERM": "xterm"}
    if not tty:
        return subprocess.run(command, capture_output=True, text=True, env=env).stderr
    leader, follower = pty.openpty()
    with subprocess.Popen(command, stderr=follower, stdout=subprocess.DEVNULL, env=env) as proc:
        os.close(follower)
        chunks = []
        while True:
            try:
                chunk = os.read(leader, 65536)
            except OSError:
                break
            if not chunk:
                break
            chunks.append(chunk)
        proc.wait(60)
    os.close(leader)
    return b"".join(chunks).decode("utf-8", "replace")


def test_progress_bar_on_a_terminal(tmp_path):
    assert "lines/s" in run_ingest(tmp_path, tty=True)


def test_quiet_flag_and_no_tty_print_no_progress(tmp_path):
    assert "lines/s" not in run_ingest(tmp_path / "a", "--quiet", tty=True)
    assert "lines/s" not in run_ingest(tmp_path / "b", tty=False)
