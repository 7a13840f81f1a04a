"""The CMCD fast path (common members, no parameters) parses exactly as http_sf does."""

from __future__ import annotations

import random
from typing import Any

import http_sf

from streammeter.sources.cdn import cmcd


def _via_http_sf(text: str) -> dict[str, Any]:
    try:
        parsed = http_sf.parse(text.strip().encode("ascii"), tltype="dictionary")
    except (ValueError, UnicodeError, TypeError, IndexError):
        return {cmcd.INVALID: True}
    return {str(key): cmcd._plain(member) for key, member in parsed.items()}


KEYS = ["br", "bl", "d", "sid", "ot", "su", "cid", "mtp", "x-y", "a*", "k.9", "Br", "*"]
VALUES = [
    None, "1", "-3", "007", "123456789012345", "1234567890123456", '"abc"', '"a b,c"',
    '"x\\"y"', "v", "h", "Tok:/*", "?1", "?0", "1.5", "1.", '"', 'a"', "", "(1 2)", "v;p=1",
]  # fmt: skip
SEPARATORS = [",", ", ", ",\t", " ,", ",,", ";"]


def test_fast_path_agrees_with_http_sf() -> None:
    rng = random.Random(5)
    fast = 0
    for _ in range(20_000):
        members = []
        for _ in range(rng.randint(1, 6)):
            key, value = rng.choice(KEYS), rng.choice(VALUES)
            members.append(key if value is None else f"{key}={value}")
        text = rng.choice(SEPARATORS).join(members)
        expected = _via_http_sf(text)
        got = cmcd.parse_cmcd(text)
        assert list(got.items()) == list(expected.items()), text
        assert [type(v) for v in got.values()] == [type(v) for v in expected.values()], text
        fast += cmcd._parse_cmcd_fast(text.strip()) is not None
    assert fast > 1_000  # the fast path was exercised
