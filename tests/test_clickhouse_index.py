"""The URL index and CDN access-log imports on ClickHouse, against the DuckDB store.

Every engine of tests/clickhouse_fixtures.py (DuckDB, one ClickHouse node, the two-shard
cluster, chdb) indexes the real manifests of delivery-samples and imports the same CDN logs;
lookups, renditions, summaries, URL patterns, receipts, rollups and delivery usage must be
identical. The DuckDB store's own index tests (test_index_store.py, the CLI ones of
test_index_cli_api.py) also run unchanged on each ClickHouse engine.
"""

from __future__ import annotations

import inspect
import json
import uuid
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

import tests.test_index_cli_api as cli_tests
import tests.test_index_store as index_tests
from streammeter.cli.main import app
from streammeter.index.entry import IndexObject, Rendition
from streammeter.index.register import read_sizes, register_file, register_text, register_tree
from streammeter.ingest.importer import import_file
from streammeter.model.catalog import Asset
from streammeter.store import Store, open_store
from tests.clickhouse_fixtures import CH_ENGINES, ENGINES, SKIP, Engines
from tests.conftest import SAMPLES, make_tenant
from tests.test_clickhouse_store import named_snapshots

pytestmark = pytest.mark.skipif(SKIP, reason="STREAMMETER_SKIP_CLICKHOUSE=1")

HLS = SAMPLES / "hls"
LADDER = HLS / "shaka-packager-ladder"
CDN = Path(__file__).parent / "fixtures" / "cdn"
AWS_EXAMPLE = SAMPLES / "logs" / "cloudfront-standard-aws-docs-example.log"
T0_HOUR = 1_795_168_800 // 3600  # 2026-11-20T10:00:00Z
WINDOW = (T0_HOUR - 24 * 366 * 7, T0_HOUR + 48)  # from 2019 (the AWS example) on
HEIGHT_PATTERN = r"/vod/(?P<asset_id>asset1)/(?P<height>\d+)p/seg_(?P<segment>\d+)\.ts"
runner = CliRunner()


def fresh_url(engines: Engines, engine: str) -> str:
    """The URL of a database no test used (created by its first open)."""
    return engines.url(engine, f"t_{uuid.uuid4().hex[:12]}")


# -- the DuckDB index tests, on ClickHouse ------------------------------------------------------
STORE_TESTS = [
    name
    for name, test in vars(index_tests).items()
    if name.startswith("test_") and "store" in inspect.signature(test).parameters
]


@pytest.mark.parametrize("engine", CH_ENGINES)
@pytest.mark.parametrize("name", STORE_TESTS)
def test_index_store_tests_pass_on_clickhouse(
    engines: Engines, engine: str, name: str, tmp_path: Path
) -> None:
    store = engines.open(engine)
    fixtures = {"store": store, "tenant": make_tenant(store, "prod"), "tmp_path": tmp_path}
    test = getattr(index_tests, name)
    test(**{param: fixtures[param] for param in inspect.signature(test).parameters})


@pytest.mark.parametrize("engine", ["ch_node", "ch_cluster"])
@pytest.mark.parametrize(
    "name", ["test_manifests_add_tree_file_and_list", "test_patterns_add_list_delete"]
)
def test_manifest_and_pattern_commands_pass_on_clickhouse(
    engines: Engines, engine: str, name: str
) -> None:
    url = fresh_url(engines, engine)
    cli_tests.run("environments", "create", "prod", db=url)
    getattr(cli_tests, name)(url)


# -- the same index on every engine -------------------------------------------------------------
V9 = "#EXTM3U\n#EXT-X-TARGETDURATION:6\n#EXTINF:6.006,\nseg1.ts\n#EXT-X-ENDLIST\n"


def _live(first: int, count: int, end: bool = False) -> str:
    lines = ["#EXTM3U", "#EXT-X-TARGETDURATION:2", f"#EXT-X-MEDIA-SEQUENCE:{first}"]
    for number in range(first, first + count):
        lines += ["#EXTINF:2.002,", f"seg{number}.ts"]
    return "\n".join(lines + (["#EXT-X-ENDLIST"] if end else [])) + "\n"


def build_index(store: Store) -> int:
    """Every sample manifest, a master then a media playlist by URL, live snapshots that
    extend the index, and a path registered again under another asset."""
    env = store.create_environment("prod").env_key
    sizes = read_sizes(LADDER / "segment-sizes.tsv", "/vod/shaka/")
    register_tree(store, env, "shaka", "/vod/shaka/", LADDER, sizes=sizes)
    register_file(store, env, "bip", "/vod/bip/master.m3u8", HLS / "apple-bipbop-advanced" /
                  "master.m3u8")  # fmt: skip
    register_text(store, env, "bip", "/vod/bip/v9/prog_index.m3u8", V9)
    files = sorted(p for p in SAMPLES.rglob("*") if p.suffix in (".m3u8", ".mpd"))
    for number, file in enumerate(files):
        register_file(store, env, f"asset{number}", f"/samples/{file.relative_to(SAMPLES)}", file)
    for first, end in ((100, False), (102, False), (104, True)):
        register_text(store, env, "live1", "/live/s1/v.m3u8", _live(first, 3, end))
    moved = IndexObject("/vod/shaka/stream_0.m3u8", "other", None, "manifest")
    store.register_index(env, "other", [Rendition("r", "audio-only")], [moved])
    return env


def index_dump(store: Store, env: int, reference: Store, ref_env: int) -> dict[str, Any]:
    """Everything the index answers about the keys the reference (DuckDB) store holds."""
    con = reference._con  # type: ignore[attr-defined]
    paths = [r[0] for r in con.execute("SELECT DISTINCT path FROM index_objects").fetchall()]
    playlists = [r[0] for r in con.execute("SELECT path FROM index_playlists").fetchall()]
    keys = con.execute("SELECT asset_id, rendition_id FROM index_renditions").fetchall()
    assets = sorted({asset for asset, _ in keys})
    summary = store.index_summary(env)
    assert all(isinstance(entry.pop("updated_at"), int) for entry in summary)
    details = {asset: store.index_summary(env, asset)[0]["rendition_details"] for asset in assets}
    return {
        "lookup": store.lookup_index(env, [*paths, "/unknown.ts"]),
        "renditions": {asset: store.renditions(env, asset) for asset in [*assets, "none"]},
        "rendition_map": store.rendition_map(env, [*keys, ("shaka", "unknown")]),
        "playlist_refs": store.playlist_refs(env, [*playlists, "/unknown.m3u8"]),
        "summary": summary,
        "details": details,
        "sizes": (len(paths), len(playlists), len(keys)),
    }


def test_the_sample_index_is_identical_on_every_engine(engines: Engines) -> None:
    reference = engines.open("duckdb")
    ref_env = build_index(reference)
    expected = index_dump(reference, ref_env, reference, ref_env)
    assert expected["sizes"] == (778, 95, 111)  # paths, playlist references, renditions
    assert len(expected["lookup"]) == 778 and len(expected["summary"]) == 25
    summary = {entry["asset_id"]: entry for entry in expected["summary"]}
    assert (summary["shaka"]["objects"], summary["shaka"]["manifests"]) == (40, 8)  # 1 moved
    assert (summary["live1"]["segments"], summary["live1"]["live"]) == (7, True)  # extended
    assert expected["lookup"]["/vod/shaka/stream_0.m3u8"] == [
        IndexObject("/vod/shaka/stream_0.m3u8", "other", None, "manifest")
    ]
    assert [o.media_sequence for o in expected["lookup"]["/live/s1/seg106.ts"]] == [106]
    for engine in CH_ENGINES:
        store = engines.open(engine)
        env = build_index(store)
        assert index_dump(store, env, reference, ref_env) == expected, engine


@pytest.mark.parametrize("engine", CH_ENGINES)
def test_a_registration_is_visible_only_once_committed(
    engines: Engines, engine: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = engines.open(engine)
    env = store.create_environment("prod").env_key
    first = [IndexObject("/a/seg1.ts", "a", "r", "segment", media_sequence=1)]
    store.register_index(env, "a", [Rendition("r", "video", 1280, 720)], first)
    commit = type(store)._index_version  # type: ignore[attr-defined]

    def die_before_commit(self: Any, env_key: int, version: int, *, done: bool) -> None:
        if done:
            raise RuntimeError("writer died")
        commit(self, env_key, version, done=done)

    monkeypatch.setattr(type(store), "_index_version", die_before_commit)
    moved = [IndexObject("/a/seg1.ts", "b", "r", "segment"), IndexObject("/a/seg2.ts", "b", "r",
             "segment")]  # fmt: skip
    with pytest.raises(RuntimeError, match="writer died"):
        store.register_index(env, "b", [Rendition("r", "audio")], moved)
    assert store.lookup_index(env, ["/a/seg1.ts", "/a/seg2.ts"]) == {"/a/seg1.ts": first}
    assert store.renditions(env, "b") == [] and store.playlist_refs(env, ["/a/x"]) == {}
    assert [(e["asset_id"], e["objects"]) for e in store.index_summary(env)] == [("a", 1)]
    monkeypatch.undo()  # the next writer: a version above the dead one's, visible at once
    store.register_index(env, "b", [Rendition("r", "audio")], moved)
    assert store.lookup_index(env, ["/a/seg1.ts", "/a/seg2.ts"]) == {
        "/a/seg1.ts": moved[:1], "/a/seg2.ts": moved[1:]
    }  # fmt: skip
    assert [(e["asset_id"], e["renditions"], e["objects"]) for e in store.index_summary(env)] == [
        ("a", 1, 0), ("b", 1, 2),  # a keeps its rendition (keyed by asset), as in DuckDB
    ]  # fmt: skip


def _patterns(store: Store) -> tuple[Any, ...]:
    a = store.create_environment("a").env_key
    b = store.create_environment("b").env_key
    ids = [
        store.add_url_pattern(a, HEIGHT_PATTERN, {"duration": "6"}),
        store.add_url_pattern(b, r"/p/(?P<playback_id>\w+)/.*", {"live": True}),
        store.add_url_pattern(a, r"/x/(?P<asset_id>\w+)/.*", {"kind": "segment"}),
    ]
    deleted = [
        store.delete_url_pattern(b, ids[0]),  # not b's
        store.delete_url_pattern(a, ids[0]),
        store.delete_url_pattern(a, ids[0]),
    ]
    ids.append(store.add_url_pattern(a, HEIGHT_PATTERN, {}))  # a new id, never a deleted one
    listed = [
        [(p.pattern_id, p.regex, p.attributes) for p in store.url_patterns(env)] for env in (a, b)
    ]
    created = {p.created_at > 0 for env in (a, b) for p in store.url_patterns(env)}
    return ids, deleted, listed, created


def test_url_patterns_are_identical_on_every_engine(engines: Engines) -> None:
    results = {engine: _patterns(engines.open(engine)) for engine in ENGINES}
    ids, deleted, listed, created = results["duckdb"]
    assert ids == [1, 2, 3, 4] and deleted == [False, True, False] and created == {True}
    assert listed == [
        [(3, r"/x/(?P<asset_id>\w+)/.*", {"kind": "segment"}), (4, HEIGHT_PATTERN, {})],
        [(2, r"/p/(?P<playback_id>\w+)/.*", {"live": True})],
    ]
    for engine in CH_ENGINES:
        assert results[engine] == results["duckdb"], engine


# -- CDN access logs ----------------------------------------------------------------------------
CATALOG = [
    Asset(asset_id="shaka", asset_resolution_tier="1080p", created_at=1_700_000_000),
    Asset(asset_id="asset1", asset_resolution_tier="1080p", created_at=1_700_000_000),
]
_FIELDS = (
    "date time x-edge-request-id sc-bytes cs-uri-stem sc-status cs(User-Agent) cs-uri-query "
    "x-edge-detailed-result-type sc-content-len sc-range-start sc-range-end"
)


def shaka_log(path: Path) -> Path:
    """A CloudFront standard log of the shaka ladder: whole segments, a byte range, an
    aborted transfer, playlists, a retried request id and an unindexed path."""
    sizes = read_sizes(LADDER / "segment-sizes.tsv", "/vod/shaka/")
    rows = []
    for n, (url, size) in enumerate(sorted(sizes.items())):
        minute, second = divmod(n * 7, 60)
        rows.append((f"11:{minute:02d}:{second:02d}", f"req{n}", size + 300, url, 200, "Hit",
                     size, "-", "-"))  # fmt: skip
    video = "/vod/shaka/video_720p_2M_h264_2.mp4"
    rows += [
        ("11:50:00", "range", 500_300, video, 206, "Hit", 500_000, 0, 499_999),
        ("11:50:10", "aborted", 100_000, video, 200, "ClientCommError", sizes[video], "-", "-"),
        ("11:50:20", "req0", 1234, video, 200, "Hit", 1234, "-", "-"),  # a retried id
        ("11:51:00", "master", 1500, "/vod/shaka/hls.m3u8", 200, "Hit", 1200, "-", "-"),
        ("11:51:01", "media", 900, "/vod/shaka/stream_3.m3u8", 200, "Hit", 700, "-", "-"),
        ("11:52:00", "unknown", 4000, "/vod/shaka/missing.mp4", 200, "Hit", 3700, "-", "-"),
    ]
    lines = ["#Version: 1.0", f"#Fields: {_FIELDS}"]
    for time, rid, sent, url, status, result, length, start, end in rows:
        lines.append("\t".join(str(v) for v in ("2026-11-20", time, rid, sent, url, status,
                                                "AppleCoreMedia/1.0", "-", result, length,
                                                start, end)))  # fmt: skip
    path.write_text("\n".join(lines) + "\n")
    return path


def import_logs(store: Store, tmp_path: Path) -> tuple[int, list[tuple[Any, ...]]]:
    env = store.create_environment("prod").env_key
    store.upsert_assets(env, CATALOG)
    sizes = read_sizes(LADDER / "segment-sizes.tsv", "/vod/shaka/")
    register_tree(store, env, "shaka", "/vod/shaka/", LADDER, sizes=sizes)
    store.add_url_pattern(env, HEIGHT_PATTERN, {"duration": "6"})
    files = [
        (shaka_log(tmp_path / "shaka.log"), "cloudfront"),
        (CDN / "cloudfront-hls.log", "cloudfront"),
        (AWS_EXAMPLE, "cloudfront"),
        (CDN / "nginx-combined.log", "nginx-combined"),
    ]
    receipts = []
    for again in (False, True):
        for path, fmt in files:
            receipt = import_file(store, env, path, fmt)
            receipts.append((path.name, again, receipt.already_imported, receipt.accepted,
                             receipt.duplicate, receipt.rejected, receipt.notes))  # fmt: skip
    return env, receipts


def _usage(store: Store, env: int) -> list[tuple[Any, ...]]:
    rows, total = store.delivery_usage(env, *WINDOW, limit=100)
    assert total == len(rows)
    return [(row.asset["asset_id"], row.tiers_us, row.total_us) for row in rows]


def test_cdn_log_imports_are_identical_on_every_engine(engines: Engines, tmp_path: Path) -> None:
    results = {}
    for engine in ENGINES:
        store = engines.open(engine)
        env, receipts = import_logs(store, tmp_path)
        results[engine] = (receipts, named_snapshots(store), _usage(store, env))
    receipts, snapshots, usage = results["duckdb"]
    assert [r[2] for r in receipts] == [False] * 4 + [True] * 4  # re-imports are no-ops
    assert [r[3:6] for r in receipts[:4]] == [(36, 1, 0), (5, 0, 0), (6, 0, 0), (4, 0, 1)]
    assert usage == [
        ("shaka", {1: 93_995_940}, 93_995_940),  # 1280x546 and 854x364 renditions: 720p tier
        ("asset1", {1: 13_603_382, 2: 6_000_000}, 19_603_382),  # through the URL pattern
    ]
    assert len(snapshots["usage_hour"]) == 8
    for engine in CH_ENGINES:
        assert results[engine] == results["duckdb"], engine


@pytest.mark.parametrize("engine", ["duckdb", "ch_node", "ch_cluster"])
def test_cdn_ingest_and_manifests_through_the_cli(
    engines: Engines, engine: str, tmp_path: Path
) -> None:
    """`manifests add`, `patterns add` and `ingest --format cloudfront|nginx-combined` with
    `--db` give what the same steps through the store give on DuckDB."""
    db = str(tmp_path / "cli.duckdb") if engine == "duckdb" else fresh_url(engines, engine)
    catalog = tmp_path / "assets.ndjson"
    catalog.write_text("".join(a.model_dump_json() + "\n" for a in CATALOG))

    def cli(*args: str) -> str:
        result = runner.invoke(app, [*args, "--db", db])
        assert result.exit_code == 0, result.output
        return result.stdout

    cli("environments", "create", "prod")
    cli("assets", "import", str(catalog), "-e", "prod")
    cli("manifests", "add", "-e", "prod", "--asset", "shaka", "--url-prefix", "/vod/shaka/",
        "--sizes", str(LADDER / "segment-sizes.tsv"), str(LADDER))  # fmt: skip
    cli("patterns", "add", "-e", "prod", HEIGHT_PATTERN, "--duration", "6")
    cli("ingest", "-e", "prod", "--format", "cloudfront", "-q", str(shaka_log(tmp_path / "s.log")),
        str(CDN / "cloudfront-hls.log"), str(AWS_EXAMPLE))  # fmt: skip
    cli("ingest", "-e", "prod", "--format", "nginx-combined", "-q", str(CDN / "nginx-combined.log"))
    listed = json.loads(cli("manifests", "list", "-e", "prod", "--json"))
    assert [(r["asset_id"], r["objects"], r["segments"]) for r in listed] == [("shaka", 41, 24)]
    reference = engines.open("duckdb")
    ref_env, _ = import_logs(reference, tmp_path)
    store = open_store(db)
    engines.opened.append(store)
    env = store.get_environment("prod").env_key  # type: ignore[union-attr]
    assert named_snapshots(store) == named_snapshots(reference)
    assert _usage(store, env) == _usage(reference, ref_env)
