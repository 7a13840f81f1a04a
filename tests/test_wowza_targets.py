"""Delivery targets and egress: classifying origin pullers, generic `egress` records, the
commands that configure accounts, targets and Wowza credentials (docs/api/wowza-usage.md)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import jwt
import pytest

from streammeter.counting.rules import NOTE_TIER_INFERRED, count
from streammeter.ingest.importer import import_file
from streammeter.ingest.targets import TargetClassifier, classify_target
from streammeter.sources.generic import RecordError, normalize
from streammeter.store.base import DeliveryTarget
from tests.conftest import make_tenant, write_ndjson

PRIMARY = DeliveryTarget(1, "fastly", "Fastly", True, ("origin-fastly.example.com",))
AKAMAI = DeliveryTarget(
    1, "akamai", "Akamai", False, ("*.akamai.example.com",), ("23.0.0.0/12", "2a02:26f0::/29"),
    ("Akamai Edge",),
)  # fmt: skip
CLOUDFRONT = DeliveryTarget(1, "cloudfront", "CloudFront", False, (), (), ("amazon cloudfront",))
TARGETS = [PRIMARY, AKAMAI, CLOUDFRONT]


# -- classify_target ------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("host", "ip", "agent", "expected"),
    [
        ("origin-fastly.example.com", "151.101.1.1", "Fastly", ("fastly", False)),
        ("ORIGIN-FASTLY.example.com:443", None, None, ("fastly", False)),  # case, port
        ("eu.akamai.example.com", None, None, ("akamai", True)),  # wildcard host
        ("akamai.example.com", None, None, ("fastly", False)),  # the wildcard needs a subdomain
        (None, "23.15.255.1", None, ("akamai", True)),  # CIDR
        (None, "23.16.0.1", None, ("fastly", False)),  # just outside: the primary's
        (None, "2a02:26f0:1::5", None, ("akamai", True)),  # IPv6 range
        (None, "[2a02:26f0::1]:8080", None, ("akamai", True)),
        (None, "23.1.2.3:443", None, ("akamai", True)),
        (None, None, "Mozilla/5.0 (Akamai Edge)", ("akamai", True)),  # user-agent substring
        (None, None, "Amazon CloudFront", ("cloudfront", True)),
        (None, "not-an-ip", "curl/8", ("fastly", False)),  # unknown puller: the primary
        (None, None, None, ("fastly", False)),
    ],
)
def test_classify_target(host, ip, agent, expected):
    assert classify_target(TARGETS, host, ip, agent) == expected
    assert TargetClassifier(TARGETS)(host, ip, agent) == expected


def test_no_targets_means_everything_is_primary():
    assert classify_target([], "x.example.com", "1.2.3.4", "Fastly") == (None, False)


def test_without_a_primary_unmatched_pulls_are_unattributed():
    assert classify_target([AKAMAI], "other.example.com", "9.9.9.9", "curl") == (None, False)
    assert classify_target([AKAMAI], "a.akamai.example.com", None, None) == ("akamai", True)


def test_first_matching_target_wins_in_the_given_order():
    both = DeliveryTarget(1, "both", "Both", False, ("origin-fastly.example.com",))
    assert classify_target([PRIMARY, both], "origin-fastly.example.com", None, None) == (
        "fastly", False,
    )  # fmt: skip
    assert classify_target([both, PRIMARY], "origin-fastly.example.com", None, None) == (
        "both", True,
    )  # fmt: skip


def test_store_lists_the_primary_first_and_keeps_one_primary(store, tenant):
    key = tenant.env.env_key
    store.add_delivery_target(DeliveryTarget(key, "b", "B", False, ("b.example.com",)))
    store.add_delivery_target(DeliveryTarget(key, "a", "A", True))
    store.add_delivery_target(DeliveryTarget(key, "c", "C", True))  # demotes a
    assert [(t.target_id, t.primary) for t in store.delivery_targets(key)] == [
        ("c", True), ("b", False), ("a", False),
    ]  # fmt: skip
    store.add_delivery_target(DeliveryTarget(key, "b", "B2", False, ("b2.example.com",)))
    replaced = store.delivery_targets(key)[1]
    assert (replaced.target_id, replaced.name, replaced.hosts) == ("b", "B2", ("b2.example.com",))


# -- generic egress records -----------------------------------------------------------------
def test_egress_record_is_an_origin_pull():
    record = normalize(
        {"timestamp": "2026-11-22T10:00:00Z", "asset_id": "a", "kind": "egress",
         "duration": "6.006", "bytes": 1000, "target": "akamai", "primary": "false"}
    )  # fmt: skip
    assert (record.origin, record.target, record.additional_target) == (True, "akamai", True)
    counted = count(record)
    assert counted.earned_us == 6_006_000
    assert counted.note != NOTE_TIER_INFERRED  # egress has no tier to infer
    primary = normalize(
        {"timestamp": "2026-11-22T10:00:00Z", "asset_id": "a", "kind": "egress", "duration": 2}
    )
    assert (primary.origin, primary.target, primary.additional_target) == (True, None, False)
    assert count(primary).earned_us == 2_000_000


@pytest.mark.parametrize(
    ("extra", "earned"),
    [({"status": 404}, 0), ({"method": "HEAD"}, 0), ({"status": 206}, 4_000_000),
     ({"body_bytes": 50, "object_bytes": 100}, 2_000_000), ({"status": 499}, 0)],
)  # fmt: skip
def test_egress_earns_like_a_segment(extra, earned):
    raw = {"timestamp": "2026-11-22T10:00:00Z", "asset_id": "a", "kind": "egress",
           "duration": 4, **extra}  # fmt: skip
    assert count(normalize(raw)).earned_us == earned


def test_live_and_target_on_viewing_records():
    record = normalize(
        {"timestamp": "2026-11-22T10:00:00Z", "asset_id": "a", "duration": 2, "live": "1",
         "target": "cdn-b"}
    )  # fmt: skip
    assert (record.live, record.origin, record.target, record.additional_target) == (
        True, False, "cdn-b", False,
    )  # fmt: skip
    assert count(record).earned_us == 2_000_000
    assert normalize({"timestamp": 1795341600, "asset_id": "a", "live": False}).live is False


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ({"primary": True}, "primary: only for kind egress"),
        ({"kind": "egress", "primary": "maybe"}, "primary: expected true or false"),
        ({"live": "sometimes"}, "live: expected true or false"),
        ({"kind": "egress", "target": ["a"]}, "target: expected a string"),
    ],
)
def test_bad_wowza_fields_are_rejected(raw, reason):
    with pytest.raises(RecordError, match=reason):
        normalize({"timestamp": "2026-11-22T10:00:00Z", "asset_id": "a", **raw})


def test_egress_rolls_up_as_egress_not_viewing(store, tenant, tmp_path, monkeypatch):
    monkeypatch.setenv("STREAMMETER_NOW", "2026-11-23T00:00:00Z")
    records = [
        {"id": "v", "timestamp": "2026-11-22T10:00:00Z", "asset_id": "a", "duration": 4,
         "bytes": 100},
        {"id": "e1", "timestamp": "2026-11-22T10:00:00Z", "asset_id": "a", "kind": "egress",
         "duration": 4, "bytes": 1000},
        {"id": "e2", "timestamp": "2026-11-22T10:00:01Z", "asset_id": "a", "kind": "egress",
         "duration": 3, "bytes": 700, "target": "b", "primary": False},
    ]  # fmt: skip
    receipt = import_file(store, tenant.env.env_key, write_ndjson(tmp_path / "r.ndjson", records))
    assert (receipt.accepted, receipt.rejected) == (3, 0)
    hour = 1795341600 // 3600  # 2026-11-22T10:00Z
    (cell,) = store.account_usage([tenant.env.env_key], hour, hour + 1)
    assert (cell.delivered_us, cell.bytes) == (4_000_000, 100)
    assert (cell.egress_us, cell.egress_bytes) == (7_000_000, 1700)
    assert (cell.egress_additional_us, cell.egress_additional_bytes) == (3_000_000, 700)
    # The Mux endpoint's rollup (tiers of viewing) is unchanged by egress.
    assert store.viewer_sessions([tenant.env.env_key], hour, hour + 1) == 1


# -- commands -------------------------------------------------------------------------------
def cli(*args: str, db: Path, check: bool = True) -> subprocess.CompletedProcess:
    env = {**os.environ, "STREAMMETER_NOW": "2026-11-22T12:00:00Z"}
    env.pop("STREAMMETER_JWT_SECRET", None)
    result = subprocess.run(
        [sys.executable, "-m", "streammeter", *args, "--db", str(db)],
        capture_output=True, text=True, env=env, timeout=120,
    )  # fmt: skip
    if check and result.returncode != 0:
        raise AssertionError(f"{args} failed:\n{result.stdout}\n{result.stderr}")
    return result


def test_commands(tmp_path):
    db = tmp_path / "cli.duckdb"
    cli("environments", "create", "prod", "--account", "acme", db=db)
    # A JWT for the account.
    token = json.loads(
        cli("tokens", "create", "--account", "acme", "--jwt", "--json", db=db).stdout
    )
    assert token["account"] == "acme" and token["expires_at"] == "2027-11-22T12:00:00Z"
    claims = jwt.decode(token["jwt"], options={"verify_signature": False})
    assert claims["account"] == "acme" and claims["exp"] - claims["iat"] == 365 * 86_400
    forever = json.loads(
        cli("tokens", "create", "--account", "acme", "--jwt", "--expires-days", "0", "--json",
            db=db).stdout
    )  # fmt: skip
    assert forever["expires_at"] is None
    # A legacy key pair.
    pair = json.loads(cli("tokens", "create", "--account", "acme", "--json", db=db).stdout)
    assert len(pair["wsc-api-key"]) == len(pair["wsc-access-key"]) == 64
    # Mistakes say what to do.
    assert (
        "no account 'ghost'"
        in cli("tokens", "create", "--account", "ghost", "--jwt", db=db, check=False).stderr
    )
    assert cli("tokens", "create", "--jwt", db=db, check=False).returncode == 1
    assert cli("tokens", "create", db=db, check=False).returncode == 1
    # Billing anchor.
    out = cli("accounts", "set-bill-date", "acme", "2026-01-15", db=db).stdout
    assert "last_bill_date is now 2026-11-15" in out
    assert cli("accounts", "set-bill-date", "acme", "15/01/2026", db=db, check=False).returncode
    assert cli("accounts", "set-bill-date", "ghost", "2026-01-15", db=db, check=False).returncode
    accounts = json.loads(cli("accounts", "list", "--json", db=db).stdout)
    assert accounts == [
        {"account": "acme", "environments": [accounts[0]["environments"][0]],
         "bill_anchor": "2026-01-15", "bill_cycle_months": 1, "last_bill_date": "2026-11-15"}
    ]  # fmt: skip
    # Targets.
    added = json.loads(
        cli("targets", "add", "--environment", "prod", "fastly", "--primary", "--name", "Fastly",
            "--host", "origin.example.com", "--cidr", "151.101.0.0/16", "--user-agent", "Fastly",
            "--json", db=db).stdout
    )  # fmt: skip
    assert added["primary"] is True and added["cidrs"] == ["151.101.0.0/16"]
    cli("targets", "add", "--environment", "prod", "akamai", "--cidr", "23.0.0.0/12", db=db)
    bad = cli("targets", "add", "--environment", "prod", "x", "--cidr", "300.1.0.0/8", db=db,
              check=False)  # fmt: skip
    assert bad.returncode == 1 and "--cidr 300.1.0.0/8" in bad.stderr
    listed = json.loads(cli("targets", "list", "--environment", "prod", "--json", db=db).stdout)
    assert [(t["id"], t["primary"]) for t in listed] == [("fastly", True), ("akamai", False)]
    assert "fastly" in cli("targets", "list", "--environment", "prod", db=db).stdout


def test_accounts_from_the_store(store):
    make_tenant(store, "a", "acme")
    make_tenant(store, "b", "acme")
    make_tenant(store, "c")
    acme = store.get_account("acme")
    assert acme is not None and len(acme.env_keys) == 2 and acme.bill_anchor is None
    assert store.get_account("nobody") is None
    assert len(store.list_accounts()) == 2
    with pytest.raises(LookupError):
        store.set_bill_anchor("nobody", "2026-01-01")
    with pytest.raises(LookupError):
        store.create_legacy_key("nobody")
    assert store.jwt_secret() == store.jwt_secret() and len(store.jwt_secret()) >= 32


def test_duration_is_exact_for_egress():
    record = normalize(
        {"timestamp": "2026-11-22T10:00:00Z", "asset_id": "a", "kind": "egress",
         "duration": "0.1"}
    )  # fmt: skip
    assert record.duration == Fraction(1, 10)
