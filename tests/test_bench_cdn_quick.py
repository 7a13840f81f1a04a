"""The CloudFront pipeline benchmark runs on a small generated log, and its import is sane.

No timing assertions: this only keeps `bench/cdn_pipeline.py` working (the numbers are in
docs/performance.md).
"""

from __future__ import annotations

from pathlib import Path

from bench import cdn_logs, cdn_pipeline
from streammeter.sources.cdn.cloudfront import parse_cloudfront
from streammeter.sources.cdn.request import EdgeRequest


def test_generator_is_seeded_and_realistic(tmp_path: Path) -> None:
    first, second = tmp_path / "a.log", tmp_path / "b.log.gz"
    assert cdn_logs.write_log(first, 3_000, seed=3) == 3_000
    cdn_logs.write_log(second, 3_000, seed=3)
    import gzip

    assert gzip.decompress(second.read_bytes()) == first.read_bytes()  # same seed, same lines
    with first.open("rb") as handle:
        parsed = list(parse_cloudfront(enumerate(handle, start=1)))
    requests = [value for _, _, value in parsed if isinstance(value, EdgeRequest)]
    assert len(requests) == len(parsed) == 3_000  # every row reads
    assert len({r.request_id for r in requests}) == 3_000
    statuses = {r.status for r in requests}
    assert {200, 206, 304} <= statuses
    assert any(r.aborted for r in requests)
    assert any(r.cmcd.get("sid") for r in requests)
    assert all(" " in (r.user_agent or " ") for r in requests)  # '%2520' decoded to spaces
    assert any(r.path.endswith(".m3u8") for r in requests)


def test_quick_pipeline_benchmark_runs(tmp_path: Path) -> None:
    lines = 20_000
    path = cdn_pipeline.prepare(lines, 7, path=tmp_path / "cf.log", log=lambda _: None)
    result = cdn_pipeline.run(
        lines, 7, repeat=1, isolate=False, path=path, memory_limit="256MB", log=lambda _: None,
        reference=True,
    )  # run() raises unless the import's totals are sane (check_import)  # fmt: skip
    ours, bare, per_line = result["ours"], result["bare"], result["per_line"]
    # The columns (the default) and every line the per-line way store the same numbers.
    for key in ("records", "earned_us", "record_bytes", "hour_delivered_us", "notes"):
        assert ours[key] == per_line[key], key
    assert result["lines"] == lines == ours["lines_read"] == bare["lines"]
    assert ours["accepted"] == lines and ours["rejected"] == ours["duplicate"] == 0
    assert ours["hour_bytes"] == bare["sc_bytes"]
    assert ours["earned_us"] > 0
    assert ours["lines_per_s"] > 0 and bare["lines_per_s"] > 0 and result["ratio"] > 0
    assert ours["peak_rss_mb"] > 0
    assert cdn_pipeline.format_result(result)
