"""The native catalog API over HTTP."""

from __future__ import annotations


def test_put_get_list_delete_assets(server, tenant):
    with server.client(tenant.admin) as admin, server.client(tenant.read) as reader:
        put = admin.put(
            "/v1/assets/a1",
            json={"asset_resolution_tier": "720p", "asset_encoding_tier": "smart",
                  "created_at": "2020-12-10T16:18:27Z", "live_stream_id": "ls1",
                  "playback_ids": ["pb1"]},
        )  # fmt: skip
        assert put.status_code == 200
        assert put.json()["data"] == {
            "asset_id": "a1", "live_stream_id": "ls1", "created_at": 1607617107,
            "asset_state": "ready", "asset_resolution_tier": "720p",
            "asset_encoding_tier": "smart", "asset_video_quality": "plus",
            "playback_ids": [{"id": "pb1", "policy": "public"}],
        }  # fmt: skip
        bulk = admin.post(
            "/v1/assets",
            content=b'{"asset_id": "a2", "asset_resolution_tier": "1080p", '
            b'"live_stream_id": "ls1", "created_at": 1607617108}\n'
            b'{"asset_id": "a3", "asset_resolution_tier": "2160p"}\n',
        )
        assert bulk.json() == {"data": {"upserted": 2}}
        listing = reader.get("/v1/assets", params={"limit": 2, "page": 2}).json()
        assert [a["asset_id"] for a in listing["data"]] == ["a3"]
        assert (listing["total_row_count"], listing["page"], listing["limit"]) == (3, 2, 2)
        assert reader.get("/v1/live-streams/ls1").json() == {
            "data": {"live_stream_id": "ls1", "asset_ids": ["a1", "a2"]}
        }
        assert reader.get("/v1/live-streams/nope").status_code == 404
        gone = admin.delete("/v1/assets/a1")
        assert gone.json()["data"]["asset_state"] == "deleted"
        assert "deleted_at" in reader.get("/v1/assets/a1").json()["data"]
        assert (
            reader.put("/v1/assets/a9", json={"asset_resolution_tier": "720p"}).status_code == 403
        )
        missing = reader.get("/v1/assets/nope")
        assert missing.status_code == 404
        assert missing.json() == {
            "error": {"type": "not_found", "messages": ["Asset 'nope' was not found"]}
        }


def test_invalid_assets_get_the_envelope_with_every_problem(server, tenant):
    with server.client(tenant.admin) as admin:
        bad = admin.put("/v1/assets/a1", json={"asset_resolution_tier": "8k", "asset_state": "x"})
        assert bad.status_code == 400
        body = bad.json()["error"]
        assert body["type"] == "invalid_parameters"
        assert "asset_resolution_tier" in body["messages"][0]
        assert "asset_state" in body["messages"][0]
        batch = admin.post("/v1/assets", json=[{"asset_id": "ok", "asset_resolution_tier": "720p"},
                                               {"asset_id": "bad"}])  # fmt: skip
        assert batch.status_code == 400
        assert batch.json()["error"]["messages"][0].startswith("record 2: asset_resolution_tier")
        assert admin.get("/v1/assets/ok").status_code == 404  # all or nothing
