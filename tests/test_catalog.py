"""The asset catalog: Mux fields, derivations, file import, deletion keeps usage."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from streammeter.ingest.importer import import_file
from streammeter.model.catalog import Asset
from streammeter.sources.catalog import CatalogFileError, read_assets
from tests.conftest import write_ndjson


@pytest.mark.parametrize(
    ("given", "encoding", "quality"),
    [
        ({"asset_encoding_tier": "baseline"}, "baseline", "basic"),
        ({"asset_encoding_tier": "smart"}, "smart", "plus"),
        ({"asset_encoding_tier": "premium"}, "premium", "premium"),
        ({"asset_video_quality": "basic"}, "baseline", "basic"),
        ({"asset_video_quality": "plus"}, "smart", "plus"),
        ({"asset_video_quality": "premium"}, "premium", "premium"),
        ({}, None, None),
    ],
)
def test_encoding_tier_and_video_quality_derive_each_other(given, encoding, quality):
    asset = Asset(asset_id="a", asset_resolution_tier="720p", **given)
    assert (asset.asset_encoding_tier, asset.asset_video_quality) == (encoding, quality)


def test_playback_ids_accept_objects_strings_json_and_csv_lists():
    forms = [
        [{"id": "p1", "policy": "signed"}, "p2"],
        '[{"id": "p1", "policy": "signed"}, "p2"]',
    ]
    for form in forms:
        ids = Asset(asset_id="a", asset_resolution_tier="720p", playback_ids=form).playback_ids
        assert [(p.id, p.policy) for p in ids] == [("p1", "signed"), ("p2", "public")]
    ids = Asset(asset_id="a", asset_resolution_tier="720p", playback_ids="p1; p2").playback_ids
    assert [p.id for p in ids] == ["p1", "p2"]


def test_timestamps_as_epoch_or_rfc3339_and_deleted_implies_state():
    asset = Asset(
        asset_id="a", asset_resolution_tier="720p",
        created_at="2020-12-10T16:18:27Z", deleted_at=1607935288,
    )  # fmt: skip
    assert (asset.created_at, asset.deleted_at, asset.asset_state) == (
        1607617107, 1607935288, "deleted",
    )  # fmt: skip


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"asset_resolution_tier": "4k"}, "asset_resolution_tier"),
        ({"asset_state": "preparing"}, "asset_state"),
        ({"asset_encoding_tier": "gold"}, "asset_encoding_tier"),
        ({"colour": "red"}, "colour"),
        ({"created_at": "last week"}, "created_at"),
    ],
)
def test_invalid_assets_are_rejected(fields, message):
    with pytest.raises(ValidationError) as raised:
        Asset.model_validate({"asset_id": "a", "asset_resolution_tier": "720p"} | fields)
    assert message in str(raised.value)


def test_resolution_tier_is_required():
    with pytest.raises(ValidationError, match="asset_resolution_tier"):
        Asset(asset_id="a")  # type: ignore[call-arg]


def test_csv_import_with_exact_field_names(tmp_path, store, tenant):
    path = tmp_path / "assets.csv"
    path.write_text(
        "asset_id,live_stream_id,passthrough,created_at,deleted_at,asset_state,asset_duration,"
        "asset_resolution_tier,asset_encoding_tier,asset_video_quality,playback_ids\n"
        "a1,,hello,1607617107,,,12.5,1080p,smart,,pbA;pbB\n"
        "a2,ls1,,2020-12-10T16:18:27Z,,errored,,audio-only,,premium,\n"
    )
    assert store.upsert_assets(tenant.env.env_key, read_assets(path)) == 2
    a1 = store.get_asset(tenant.env.env_key, "a1")
    assert a1 == {
        "asset_id": "a1", "live_stream_id": None, "passthrough": "hello",
        "created_at": 1607617107, "deleted_at": None, "asset_state": "ready",
        "asset_duration": 12.5, "asset_resolution_tier": "1080p",
        "asset_encoding_tier": "smart", "asset_video_quality": "plus",
        "playback_ids": [{"id": "pbA", "policy": "public"}, {"id": "pbB", "policy": "public"}],
    }  # fmt: skip
    a2 = store.get_asset(tenant.env.env_key, "a2")
    assert (a2["live_stream_id"], a2["asset_state"], a2["asset_encoding_tier"]) == (
        "ls1", "errored", "premium",
    )  # fmt: skip


def test_a_bad_line_names_its_line_and_imports_nothing(tmp_path):
    path = tmp_path / "assets.ndjson"
    path.write_text(
        json.dumps({"asset_id": "ok", "asset_resolution_tier": "720p"})
        + "\n"
        + json.dumps({"asset_id": "bad", "asset_resolution_tier": "8k"})
        + "\n"
    )
    with pytest.raises(CatalogFileError, match="line 2: asset_resolution_tier"):
        read_assets(path)


def test_upsert_replaces_and_deleted_asset_keeps_its_usage(tmp_path, store, tenant, monkeypatch):
    monkeypatch.setenv("STREAMMETER_NOW", str(1_700_000_000 + 86_400))
    key = tenant.env.env_key
    store.upsert_assets(key, [Asset(asset_id="a", asset_resolution_tier="720p")])
    write_ndjson(
        tmp_path / "r.ndjson", [{"timestamp": 1_700_000_000, "asset_id": "a", "duration": 4}]
    )
    import_file(store, key, tmp_path / "r.ndjson")
    store.upsert_assets(key, [Asset(asset_id="a", asset_resolution_tier="1080p", passthrough="v2")])
    assert store.get_asset(key, "a")["passthrough"] == "v2"
    assert store.delete_asset(key, "a", 1_700_050_000)
    asset = store.get_asset(key, "a")
    assert (asset["asset_state"], asset["deleted_at"]) == ("deleted", 1_700_050_000)
    rows, total = store.delivery_usage(key, 1_700_000_000 // 3600, 1_700_000_000 // 3600 + 1)
    assert total == 1
    # The record carried no tier: re-registering at 1080p moved its seconds to tier 1080p.
    assert rows[0].tiers_us == {2: 4_000_000}
    assert not store.delete_asset(key, "missing", 1)


def test_usage_of_an_unknown_asset_is_kept_and_shows_once_registered(tmp_path, store, tenant):
    key = tenant.env.env_key
    write_ndjson(
        tmp_path / "r.ndjson",
        [{"timestamp": 1_700_000_000, "asset_id": "late", "duration": 4},
         {"timestamp": 1_700_000_000, "playback_id": "pbLate", "duration": 2, "tier": "2160p"}],
    )  # fmt: skip
    receipt = import_file(store, key, tmp_path / "r.ndjson")
    assert receipt.notes == {
        "asset_id not in the catalog yet (counted; in the Mux API once registered)": 1,
        "playback_id not in the catalog yet (bytes counted; seconds once registered)": 1,
        "tier inferred from the asset's asset_resolution_tier": 1,
    }
    hour = 1_700_000_000 // 3600
    assert store.delivery_usage(key, hour, hour + 1) == ([], 0)
    store.upsert_assets(
        key, [Asset(asset_id="late", asset_resolution_tier="audio-only", playback_ids=["pbLate"])]
    )
    rows, total = store.delivery_usage(key, hour, hour + 1)
    assert total == 1
    assert rows[0].tiers_us == {4: 2_000_000, 5: 4_000_000}
