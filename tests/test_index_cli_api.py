"""`streammeter manifests` / `streammeter patterns` and the HTTP manifest endpoints."""

from __future__ import annotations

import json
from fractions import Fraction as F

import pytest
from typer.testing import CliRunner

from streammeter.cli.main import app
from streammeter.index.entry import IndexObject
from streammeter.store import open_store
from tests.conftest import SAMPLES

HLS = SAMPLES / "hls"
DASH = SAMPLES / "dash"
runner = CliRunner()


def run(*args: str, db, code: int = 0):
    result = runner.invoke(app, [*args, "--db", str(db)])
    assert result.exit_code == code, result.output
    return result


@pytest.fixture
def db(tmp_path):
    path = tmp_path / "cli.duckdb"
    run("environments", "create", "prod", db=path)
    return path


def test_manifests_add_tree_file_and_list(db):
    ladder = HLS / "shaka-packager-ladder"
    added = run(
        "manifests", "add", "--environment", "prod", "--asset", "shaka",
        "--url-prefix", "/vod/shaka/", "--sizes", str(ladder / "segment-sizes.tsv"),
        "--json", str(ladder), db=db,
    )  # fmt: skip
    body = json.loads(added.stdout)
    assert (body["renditions"], body["objects"], body["segments"], body["missing"]) == (
        8, 41, 24, []
    )  # fmt: skip
    one = run(
        "manifests", "add", "-e", "prod", "--asset", "bip", "--url", "/vod/bip/master.m3u8",
        str(HLS / "apple-bipbop-advanced" / "master.m3u8"), db=db,
    )  # fmt: skip
    assert "Indexed asset bip from 1 manifest(s): 31 renditions, 33 objects" in one.stdout
    listed = json.loads(run("manifests", "list", "-e", "prod", "--json", db=db).stdout)
    assert [(r["asset_id"], r["renditions"], r["segments"]) for r in listed] == [
        ("bip", 31, 0), ("shaka", 8, 24),
    ]  # fmt: skip
    detail = json.loads(
        run("manifests", "list", "-e", "prod", "--asset", "shaka", "--json", db=db).stdout
    )
    assert detail["rendition_details"][0] == {
        "rendition_id": "/vod/shaka/stream_0.m3u8", "track": "video", "width": 854,
        "height": 364, "bandwidth": 1895289, "iframe": False, "segments": 3, "parts": 0,
        "seconds": 25.0,
    }  # fmt: skip
    table = run("manifests", "list", "-e", "prod", "--asset", "shaka", db=db).stdout
    assert "854x364" in table and "25.045000" in table
    with open_store(str(db)) as store:
        env = store.get_environment("prod").env_key
        found = store.lookup_index(env, ["/vod/shaka/video_480p_1M_h264_1.mp4"])
    assert found["/vod/shaka/video_480p_1M_h264_1.mp4"] == [
        IndexObject("/vod/shaka/video_480p_1M_h264_1.mp4", "shaka", "/vod/shaka/stream_0.m3u8",
                    "segment", F(10), None, 2199527, media_sequence=0)
    ]  # fmt: skip


def test_manifests_add_errors(db, tmp_path):
    bad = tmp_path / "bad.m3u8"
    bad.write_text("#EXTM3U\n#EXT-X-TARGETDURATION:6\n#EXTINF:six,\na.ts\n")
    failed = run(
        "manifests", "add", "-e", "prod", "--asset", "x", "--url", "/x/bad.m3u8", str(bad),
        db=db, code=1,
    )  # fmt: skip
    assert "nothing indexed: /x/bad.m3u8: line 3 (#EXTINF:six,)" in failed.output
    no_prefix = run("manifests", "add", "-e", "prod", "--asset", "x", str(tmp_path), db=db, code=1)
    assert "--url-prefix" in no_prefix.output
    unknown = run(
        "manifests", "add", "-e", "nope", "--asset", "x", "--url", "/x/a.m3u8", str(bad),
        db=db, code=1,
    )  # fmt: skip
    assert "no environment 'nope'" in unknown.output
    empty = run("manifests", "list", "-e", "prod", db=db)
    assert "Nothing indexed yet" in empty.stdout


def test_manifests_add_file_with_url_prefix_and_dash(db):
    result = run(
        "manifests", "add", "-e", "prod", "--asset", "od", "--url-prefix", "/od/",
        "--json", str(DASH / "mpegdash-motion-ondemand-segmentbase.mpd"), db=db,
    )  # fmt: skip
    body = json.loads(result.stdout)
    assert body["files"] == ["/od/mpegdash-motion-ondemand-segmentbase.mpd"]
    assert (body["formats"], body["renditions"], body["segments"]) == (["dash"], 8, 8)


def test_patterns_add_list_delete(db):
    regex = r"/v/(?P<asset_id>\w+)/(?P<height>\d+)p/seg_(?P<segment>\d+)\.ts"
    added = run(
        "patterns", "add", "-e", "prod", regex, "--duration", "6.006", "--json", db=db
    )  # fmt: skip
    pattern_id = json.loads(added.stdout)["id"]
    run("patterns", "add", "-e", "prod", r"/a/(?P<playback_id>\w+)/.*\.aac",
        "--track", "audio-only", "--live", db=db)  # fmt: skip
    listed = json.loads(run("patterns", "list", "-e", "prod", "--json", db=db).stdout)
    assert [(p["id"], p["regex"], p["attributes"]) for p in listed] == [
        (pattern_id, regex, {"duration": "6.006"}),
        (pattern_id + 1, r"/a/(?P<playback_id>\w+)/.*\.aac", {"live": True, "track": "audio-only"}),
    ]
    bad = run("patterns", "add", "-e", "prod", r"/v/(\w+)\.ts", db=db, code=1)
    assert "needs a named group asset_id or playback_id" in bad.output
    bad_kind = run("patterns", "add", "-e", "prod", regex, "--kind", "movie", db=db, code=1)
    assert "kind must be one of" in bad_kind.output
    run("patterns", "delete", str(pattern_id), "-e", "prod", db=db)
    again = run("patterns", "delete", str(pattern_id), "-e", "prod", db=db, code=1)
    assert f"no URL pattern {pattern_id}" in again.output
    assert "track=audio-only" in run("patterns", "list", "-e", "prod", db=db).stdout


# -- HTTP -------------------------------------------------------------------------------------
def test_http_upload_master_then_media_playlist(server, tenant, store):
    admin, reader = server.client(tenant.admin), server.client(tenant.read)
    master = (HLS / "shaka-packager-ladder" / "hls.m3u8").read_text()
    response = admin.put(
        "/v1/assets/shaka/manifests", params={"url": "/vod/shaka/hls.m3u8"}, content=master
    )
    assert response.status_code == 200, response.text
    assert response.json()["data"] == {
        "asset_id": "shaka", "files": ["/vod/shaka/hls.m3u8"], "formats": ["hls-master"],
        "renditions": 8, "objects": 9, "segments": 0, "parts": 0, "live": False, "missing": [],
    }  # fmt: skip
    media = (HLS / "shaka-packager-ladder" / "stream_0.m3u8").read_text()
    response = admin.put(
        "/v1/assets/shaka/manifests",
        params={"url": "https://cdn.example.com/vod/shaka/stream_0.m3u8?token=abc"},
        content=media.encode(),
        headers={"content-type": "application/vnd.apple.mpegurl"},
    )
    assert response.json()["data"]["segments"] == 3
    summary = reader.get("/v1/assets/shaka/manifests").json()["data"]
    assert (summary["renditions"], summary["segments"]) == (8, 3)
    stream_0 = next(
        d for d in summary["rendition_details"] if d["rendition_id"] == "/vod/shaka/stream_0.m3u8"
    )
    assert (stream_0["width"], stream_0["height"], stream_0["seconds"]) == (854, 364, 25.0)
    found = store.lookup_index(tenant.env.env_key, ["/vod/shaka/video_480p_1M_h264_3.mp4"])
    assert found["/vod/shaka/video_480p_1M_h264_3.mp4"][0].duration == 5


def test_http_errors(server, tenant):
    admin, reader = server.client(tenant.admin), server.client(tenant.read)
    url = "/v1/assets/a/manifests"
    forbidden = reader.put(url, params={"url": "/a/m.m3u8"}, content="#EXTM3U\n")
    assert forbidden.status_code == 403
    assert server.client().get(url).status_code == 401
    bad = admin.put(url, params={"url": "/a/m.mpd"}, content='<MPD><Period><S d="x"')
    assert bad.status_code == 400
    assert bad.json()["error"]["type"] == "invalid_parameters"
    assert bad.json()["error"]["messages"][0].startswith("/a/m.mpd: not well-formed XML")
    bad_line = admin.put(
        url, params={"url": "/a/v.m3u8"}, content="#EXTM3U\n#EXTINF:6,\n#EXT-X-BYTERANGE:9\na.ts\n"
    )
    assert bad_line.status_code == 400
    assert "line 4 (a.ts): byte range 9 has no offset" in bad_line.json()["error"]["messages"][0]
    assert admin.put(url, content="#EXTM3U\n").status_code == 400  # no url
    assert admin.put(url, params={"url": "/a/x"}, content=b"").status_code == 400
    assert admin.put(url, params={"url": "/a/x"}, content=b"\xff\xfe#").status_code == 400
    missing = reader.get("/v1/assets/nothing/manifests")
    assert missing.status_code == 404


def test_http_upload_dash_live(server, tenant):
    admin = server.client(tenant.admin)
    text = (DASH / "shaka-10480-live-multiperiod-segmenttemplate.mpd").read_text()
    response = admin.put("/v1/assets/live1/manifests", params={"url": "/l/dash.mpd"}, content=text)
    assert response.status_code == 200
    data = response.json()["data"]
    assert (data["formats"], data["renditions"], data["objects"], data["live"]) == (
        ["dash"], 1, 9, True
    )  # fmt: skip
