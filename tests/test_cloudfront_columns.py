"""CloudFront standard logs counted in columns (ingest/cloudfront_columns.py) against the
reference per-line path (sources.cdn.cloudfront -> counting.resolve -> counting.rules).

Every test imports the same file twice, into two DuckDB stores: once with the columns forced
(`MIN_LINES = 0`), once with the reference path forced (`MIN_LINES` huge), and compares the
records (asset keys as asset ids, receipt ids left out), the hourly and per-minute rollups,
the quarantine and the receipts' counts: they must be identical. A spy on
`cloudfront_columns.counted_batches` records what the columns did (rows counted in SQL, lines
handed to the reference, where DuckDB stopped), so no test passes because both runs took the
reference path.
"""

from __future__ import annotations

import gzip
import itertools
import tempfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bench.cdn_logs import FIELDS
from streammeter.counting.resolve import NOTE_UNMAPPED_URL
from streammeter.counting.rows import CountedRows
from streammeter.counting.rules import NOTE_TIER_INFERRED
from streammeter.index.entry import IndexObject, Rendition
from streammeter.ingest import cloudfront_columns
from streammeter.ingest.importer import import_file
from streammeter.model.tiers import TIER_720P, TIER_1080P, TIER_AUDIO_ONLY
from streammeter.store import Store, open_store
from streammeter.store.base import Receipt

# --- the index ---------------------------------------------------------------------------------

ASSET = "asset-a"
R1080, RNORES, RAUDIO_ONLY, RIFRAME, RAUDIO, R720 = (
    "v1080/index.m3u8",
    "vnores/index.m3u8",
    "aonly/index.m3u8",
    "iframe/index.m3u8",
    "audio/index.m3u8",
    "v720/index.m3u8",
)
RENDITIONS = [
    Rendition(R1080, "video", 1920, 1080, 5_000_000),
    Rendition(RNORES, "video", None, None, 2_000_000),  # no RESOLUTION: tier from br or asset
    Rendition(RAUDIO_ONLY, "audio-only", None, None, 128_000),
    Rendition(RIFRAME, "video", 1920, 1080, 300_000, iframe=True),
    Rendition(RAUDIO, "audio", None, None, 96_000),  # demuxed audio beside the video
    Rendition(R720, "video", 1280, 720, 2_800_000),
]

MASTER = "/vod/a/master.m3u8"
PLAYLIST = "/vod/a/v1080/index.m3u8"
SEG = "/vod/a/v1080/seg_00000.ts"  # 6 s, 1,000,000 bytes
SEG_NO_SIZE = "/vod/a/v1080/seg_00001.ts"  # 6 s, size unknown
SEG_ODD = "/vod/a/v1080/seg_00002.ts"  # 6.006 s, 999,999 bytes (rounding)
SEG_NORES = "/vod/a/vnores/seg_00000.ts"  # 4 s, 500,000 bytes, rendition without resolution
SEG_AUDIO_ONLY = "/vod/a/aonly/seg_00000.aac"  # 6 s
SEG_IFRAME = "/vod/a/iframe/seg_00000.ts"  # 6 s, trick play: bytes only
SEG_AUDIO = "/vod/a/audio/seg_00000.aac"  # 6 s, demuxed audio
SEG_720 = "/vod/a/v720/seg_00000.ts"  # 6 s, 700,000 bytes
SEG_NO_DURATION = "/vod/a/v1080/nodur.ts"  # a segment without a duration (CMCD d decides)
SEG_NO_RENDITION = "/vod/a/loose.ts"  # a segment whose rendition the index does not know
INIT = "/vod/a/v1080/init.mp4"
RANGED = "/vod/a/v1080/main.mp4"  # byte-range entries: init 0-999, two 4 s segments
LIVE_SEG = "/live/b/seg_00042.ts"  # from a live playlist, 2 s
UNMAPPED = "/favicon.ico"

OBJECTS = [
    IndexObject(MASTER, ASSET, None, "manifest"),
    IndexObject(PLAYLIST, ASSET, R1080, "manifest"),
    IndexObject(SEG, ASSET, R1080, "segment", Fraction(6), None, 1_000_000, media_sequence=0),
    IndexObject(SEG_NO_SIZE, ASSET, R1080, "segment", Fraction(6), media_sequence=1),
    IndexObject(
        SEG_ODD, ASSET, R1080, "segment", Fraction(6006, 1000), None, 999_999, media_sequence=2
    ),
    IndexObject(SEG_NORES, ASSET, RNORES, "segment", Fraction(4), None, 500_000),
    IndexObject(SEG_AUDIO_ONLY, ASSET, RAUDIO_ONLY, "segment", Fraction(6)),
    IndexObject(SEG_IFRAME, ASSET, RIFRAME, "segment", Fraction(6), None, 80_000),
    IndexObject(SEG_AUDIO, ASSET, RAUDIO, "segment", Fraction(6), None, 96_000),
    IndexObject(SEG_720, ASSET, R720, "segment", Fraction(6), None, 700_000),
    IndexObject(SEG_NO_DURATION, ASSET, R1080, "segment"),
    IndexObject(SEG_NO_RENDITION, ASSET, "gone/index.m3u8", "segment", Fraction(2)),
    IndexObject(INIT, ASSET, R1080, "init", None, None, 1_200),
    IndexObject(RANGED, ASSET, R1080, "init", None, 0, 1_000),
    IndexObject(RANGED, ASSET, R1080, "segment", Fraction(4), 1_000, 100_000),
    IndexObject(RANGED, ASSET, R1080, "segment", Fraction(4), 101_000, 100_000),
    IndexObject(LIVE_SEG, ASSET, R1080, "segment", Fraction(2), live=True, media_sequence=42),
]


def register(store: Store, env_key: int) -> None:
    store.register_index(env_key, ASSET, RENDITIONS, OBJECTS)


# --- log lines ---------------------------------------------------------------------------------

NAMES = FIELDS.split()
HEADER = f"#Version: 1.0\n#Fields: {FIELDS}\n"
UA = "Mozilla/5.0%2520(Windows%2520NT%252010.0)%2520Chrome/131.0"
_ids = itertools.count()


def line(stem: str = SEG, **values: object) -> str:
    """One log line in the 33 columns of `HEADER`, plain 200 of a whole segment by default;
    `values` by field name with `_` for `-` (`sc_content_type=...`) or by the short names
    below (`status=206`, `rid="..."`). Every line gets its own request id unless given."""
    row: dict[str, object] = {
        "date": "2026-11-20",
        "time": "18:00:00",
        "x-edge-location": "LAX1",
        "sc-bytes": 1_000_000,
        "c-ip": "203.0.113.9",
        "cs-method": "GET",
        "cs(Host)": "d111111abcdef8.cloudfront.net",
        "cs-uri-stem": stem,
        "sc-status": 200,
        "cs(Referer)": "-",
        "cs(User-Agent)": UA,
        "cs-uri-query": "-",
        "cs(Cookie)": "-",
        "x-edge-result-type": "Hit",
        "x-edge-request-id": f"req-{next(_ids):06d}",
        "x-host-header": "d111111abcdef8.cloudfront.net",
        "cs-protocol": "https",
        "cs-bytes": 120,
        "time-taken": "0.010",
        "x-forwarded-for": "-",
        "ssl-protocol": "TLSv1.3",
        "ssl-cipher": "TLS_AES_128_GCM_SHA256",
        "x-edge-response-result-type": "Hit",
        "cs-protocol-version": "HTTP/2.0",
        "fle-status": "-",
        "fle-encrypted-fields": "-",
        "c-port": 443,
        "time-to-first-byte": "0.005",
        "x-edge-detailed-result-type": "Hit",
        "sc-content-type": "video/MP2T",
        "sc-content-len": 1_000_000,
        "sc-range-start": "-",
        "sc-range-end": "-",
    }
    aliases = {
        "bytes": "sc-bytes",
        "status": "sc-status",
        "method": "cs-method",
        "query": "cs-uri-query",
        "ua": "cs(User-Agent)",
        "rid": "x-edge-request-id",
        "result": "x-edge-result-type",
        "response_result": "x-edge-response-result-type",
        "detailed": "x-edge-detailed-result-type",
        "content_len": "sc-content-len",
        "range_start": "sc-range-start",
        "range_end": "sc-range-end",
        "ip": "c-ip",
    }
    for key, value in values.items():
        name = aliases.get(key, key.replace("_", "-"))
        assert name in row, name
        row[name] = value
    assert list(row) == NAMES
    return "\t".join(str(row[name]) for name in NAMES)


def cmcd(text: str) -> str:
    """A CMCD dictionary as CloudFront logs the query: encoded by the player, then CloudFront's
    own '%' -> '%25'."""
    once = (
        text.replace("%", "%25").replace(" ", "%20").replace('"', "%22").replace(",", "%2C")
        .replace("=", "%3D")
    )  # fmt: skip
    return "CMCD=" + once.replace("%", "%25")


def ranged(stem: str, start: int | str, end: int | str = "-", **values: object) -> str:
    """A 206 line for bytes start-end (end '-': open-ended); sc-bytes and sc-content-len are
    the range's length unless given."""
    size = end - start + 1 if isinstance(end, int) and isinstance(start, int) else 1_000
    values = {"bytes": size, "content_len": size, **values}
    return line(stem, status=206, range_start=start, range_end=end, **values)


# --- importing both ways -----------------------------------------------------------------------


@dataclass
class Spy:
    """What `counted_batches` yielded in a columns run."""

    counted: int = 0  # lines counted in SQL (CountedRows)
    referred: int = 0  # lines of batches handed to the reference path
    stops: list[int] = field(default_factory=list)  # where DuckDB stopped (or a comment)
    batches: int = 0

    @property
    def took_columns(self) -> bool:
        return self.batches > 0 or bool(self.stops)


@dataclass
class Outcome:
    columns: dict[str, Any]
    reference: dict[str, Any]
    spy: Spy

    def assert_same(self) -> None:
        """The two runs stored exactly the same; else the first difference, named."""
        for key, expected in self.reference.items():
            got = self.columns[key]
            if got == expected:
                continue
            pairs = itertools.zip_longest(got, expected)
            first = next(((n, a, b) for n, (a, b) in enumerate(pairs) if a != b), None)
            raise AssertionError(f"{key} differ at {first} (index, columns, reference); {self.spy}")
        assert self.columns == self.reference

    @property
    def records(self) -> list[dict[str, Any]]:
        return self.reference["records"]

    @property
    def receipts(self) -> list[tuple[Any, ...]]:
        return self.reference["receipts"]


class Stores:
    """Two DuckDB stores (columns, reference) kept for a module: each import gets a new
    environment in both, which is much cheaper than opening stores."""

    def __init__(self, root: Path) -> None:
        self.columns = open_store(str(root / "columns.duckdb"))
        self.reference = open_store(str(root / "reference.duckdb"))
        self._envs = itertools.count()

    def close(self) -> None:
        self.columns.close()
        self.reference.close()

    def environment(self, store: Store) -> int:
        return store.create_environment(f"env-{next(self._envs)}", "acct").env_key


@pytest.fixture(scope="module")
def stores(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stores]:
    pair = Stores(tmp_path_factory.mktemp("cf-columns"))
    yield pair
    pair.close()


RECORD_SQL = """
SELECT r.* EXCLUDE (env_key, receipt_id, asset_key), k.external_id AS asset
FROM records r LEFT JOIN entity_keys k ON k.entity_key = r.asset_key
WHERE r.env_key = ? ORDER BY ALL
"""
ROLLUP_SQL = """
SELECT bucket, k.external_id, live_stream_key, tier, live, target_key, sum(delivered_us),
       sum(bytes), sum(requests), sum(egress_us), sum(egress_bytes)
FROM {table} u LEFT JOIN entity_keys k ON k.entity_key = u.asset_key
WHERE u.env_key = ? GROUP BY ALL ORDER BY ALL
"""
QUARANTINE_SQL = """
SELECT q.line_no, q.reason, q.raw FROM quarantine q JOIN receipts r USING (receipt_id)
WHERE r.env_key = ? ORDER BY ALL
"""


def receipt_row(r: Receipt) -> tuple[Any, ...]:
    """What a receipt says, but its ids (a parent's presence only)."""
    return (
        *(r.name, r.format, r.lines_read, r.accepted, r.duplicate, r.rejected, r.notes),
        *(r.first_ts_us, r.last_ts_us, r.byte_size, r.line_offset),
        r.parent_receipt_id is not None,
        r.already_imported,
    )


def snapshot(store: Store, env_key: int, receipts: list[Any]) -> dict[str, Any]:
    cur = store._cursor()  # type: ignore[attr-defined]
    records = cur.execute(RECORD_SQL, [env_key])
    names = [d[0] for d in records.description]
    return {
        "receipts": [receipt_row(r) for r in receipts],
        "records": [dict(zip(names, row, strict=True)) for row in records.fetchall()],
        "usage_hour": cur.execute(ROLLUP_SQL.format(table="usage_hour"), [env_key]).fetchall(),
        "usage_minute": cur.execute(ROLLUP_SQL.format(table="usage_minute"), [env_key]).fetchall(),
        "quarantine": cur.execute(QUARANTINE_SQL, [env_key]).fetchall(),
    }


Setup = Callable[[Store, int], None]
Line = str | bytes  # bytes: for lines that are not UTF-8
Lines = Sequence[Line]


def content_bytes(lines: Lines, header: str | bytes = HEADER, newline: bool = True) -> bytes:
    """The file: the header, then the lines, each ending with a newline (but, if not
    `newline`, the last one)."""
    head = header.encode() if isinstance(header, str) else header
    body = b"\n".join(x.encode() if isinstance(x, str) else x for x in lines)
    return head + body + (b"\n" if newline and lines else b"")


def _spy_on(monkeypatch: pytest.MonkeyPatch, spy: Spy) -> None:
    original = cloudfront_columns.counted_batches

    def counted_batches(*args: Any, **kwargs: Any) -> Iterator[Any]:
        for batch in original(*args, **kwargs):
            if isinstance(batch, int):
                spy.stops.append(batch)
            else:
                spy.batches += 1
                if batch.rows is not None:
                    assert isinstance(batch.rows, CountedRows)
                    spy.counted += len(batch.rows)
                spy.referred += len(batch.reference)
            yield batch

    monkeypatch.setattr(cloudfront_columns, "counted_batches", counted_batches)


def import_both(
    stores: Stores,
    tmp_path: Path,
    lines: Lines | Sequence[Lines],
    *,
    header: str | bytes = HEADER,
    setup: Setup | None = None,
    gz: bool = False,
    newline: bool = True,
    steps: int = 1,
    write: Callable[[bytes], bytes] | None = None,
) -> Outcome:
    """Import the log into a new environment of each store, columns forced in one and the
    reference path in the other. `steps` > 1: `lines` is a list of `steps` contents,
    imported in turn under the same source name, each step's file the whole file so far
    (a file that grows, or the same content again). `write`: what is written for the content
    (default: it, gzip-compressed if `gz`)."""
    contents = list(lines) if steps > 1 else [lines]
    assert len(contents) == steps
    writer = write or (gzip.compress if gz else bytes)
    results: dict[str, dict[str, Any]] = {}
    spy = Spy()
    with pytest.MonkeyPatch.context() as patch:
        _spy_on(patch, spy)
        for mode, store in (("columns", stores.columns), ("reference", stores.reference)):
            patch.setattr(cloudfront_columns, "MIN_LINES", 0 if mode == "columns" else 10**12)
            env_key = stores.environment(store)
            register(store, env_key)
            if setup is not None:
                setup(store, env_key)
            path = tmp_path / f"{mode}.log"
            receipts = []
            before = (spy.batches, len(spy.stops))
            for step in contents:
                path.write_bytes(writer(content_bytes(step, header, newline)))  # type: ignore[arg-type]
                receipts.append(
                    import_file(store, env_key, path, fmt="cloudfront", source_name="cf.log")
                )
            if mode == "reference":
                assert (spy.batches, len(spy.stops)) == before, "the reference run used columns"
            results[mode] = snapshot(store, env_key, receipts)
    return Outcome(results["columns"], results["reference"], spy)


@pytest.fixture
def both(stores: Stores, tmp_path: Path) -> Callable[..., Outcome]:
    def run(lines: Any, **kwargs: Any) -> Outcome:
        return import_both(stores, tmp_path, lines, **kwargs)

    return run


# --- the cases ---------------------------------------------------------------------------------

FIELDS_REVERSED = " ".join(reversed(NAMES))


def reversed_line(text: str) -> str:
    """A line of `line()` laid out for `#Fields: FIELDS_REVERSED`."""
    return "\t".join(reversed(text.split("\t")))


def segments() -> list[Line]:
    return [
        line(SEG),
        line(SEG_NO_SIZE),
        line(SEG_ODD, bytes=999_999, content_len=999_999),
        line(SEG_NORES, bytes=500_000, content_len=500_000),
        line(SEG_AUDIO_ONLY, bytes=96_000, content_len=96_000),
        line(SEG_IFRAME, bytes=80_000, content_len=80_000),
        line(SEG_AUDIO, bytes=96_000, content_len=96_000),
        line(SEG_720, bytes=700_000, content_len=700_000, time="18:59:59.123456"),
        line(SEG_NO_RENDITION, time="19:00:00.5"),
        line(LIVE_SEG, time="23:59:60"),
        line(INIT, bytes=1_200, content_len=1_200),
    ]


CASES: dict[str, Callable[[], list[Line]]] = {
    # plain lines
    "segments": segments,
    "manifests_and_unmapped": lambda: [
        line(MASTER, bytes=900, content_len=900, sc_content_type="application/x-mpegURL"),
        line(PLAYLIST, bytes=4_000, content_len=4_000),
        line(PLAYLIST, status=304, bytes=350, content_len="-", result="RefreshHit"),
        line(UNMAPPED, bytes=1_500, content_len=1_200),
        line("/vod/a/v1080/seg_99999.ts"),
        line("/"),
        line("/vod/a/v1080/seg 00000.ts"),
    ],
    "statuses": lambda: [
        line(SEG, status=404, bytes=520, content_len=190, result="Error"),
        line(SEG, status=304, bytes=0, content_len="-"),
        line(SEG, method="HEAD", bytes=400, content_len=1_000_000),
        line(SEG, status="000", bytes=0, content_len="-", result="Error"),
        line(SEG, status=403, bytes=300, content_len="-"),
        line(SEG, status=499, bytes=300_000, content_len="-"),
        line(SEG, method="get"),
        line(SEG, method="-"),
        line(SEG, status=502, bytes="-", content_len="-"),
    ],
    # aborted transfers
    "aborted": lambda: [
        line(SEG, bytes=400_000, result="Error", response_result="Hit"),
        line(SEG, bytes=400_000, result="Error", response_result="Error"),
        line(SEG, bytes=400_000, result="Error", response_result="-", detailed="ClientCommError"),
        line(SEG, bytes=400_000, result="Error", response_result="-", detailed="Error"),
        line(SEG, bytes=250_000, content_len=1_000_000),
        line(SEG_NO_SIZE, bytes=250_000, content_len=1_000_000),
        line(SEG_NO_SIZE, bytes=250_000, content_len="-", result="Error"),
        line(SEG_NO_SIZE, bytes=0, content_len=0, result="Error"),
        line(SEG_ODD, bytes=333_333, content_len=999_999, result="Error"),
        line(SEG_AUDIO_ONLY, bytes=1_000, content_len=96_000, result="Error"),
        line(SEG, bytes=2_000_000, content_len=1_000_000, result="Error"),
    ],
    # 206 byte ranges
    "ranges_known_size_and_huge_numbers": lambda: [
        ranged(SEG, 0, 499_999),
        ranged(SEG, 500_000, 999_999),
        ranged(SEG, 250_000, bytes=750_000, content_len=750_000),
        ranged(SEG, 2_000_000, 2_000_009),
        ranged(SEG_ODD, 0, 333_332),
        ranged(SEG, 0, 499_999, bytes=100),
        line(SEG),
        line(SEG_NO_SIZE, bytes=1, content_len=999_999_999_999_999),
        line(SEG_NO_SIZE, bytes=999_999_999_999_999, content_len=999_999_999_999_999),
        ranged(SEG, 999_999_999_999_990, 999_999_999_999_999),
        ranged(SEG_ODD, 0, 999_999_999_999_999, bytes=7, content_len=7),
    ],
    "ranges_unknown_size": lambda: [
        ranged(SEG_NO_SIZE, 0, 499_999),
        ranged(SEG_NO_SIZE, 500_000, 999_999),
        ranged(SEG_NO_SIZE, 0),
        ranged(SEG_NO_SIZE, 0, 499_999, bytes=100),
        ranged(SEG_NO_SIZE, 0, 499_999, bytes=100, content_len="-", result="Error"),
    ],
    "range_206_without_range": lambda: [
        line(SEG),
        line(SEG, status=206, bytes=500_000, content_len=500_000),
        line(SEG_NO_SIZE, status=206, bytes=500_000, content_len=500_000),
        line(MASTER, status=206, bytes=500, content_len=500),
    ],
    "ranged_index_entries": lambda: [
        line(SEG),
        ranged(RANGED, 0, 999),
        ranged(RANGED, 1_000, 150_999),
        ranged(RANGED, 1_000, bytes=200_000, content_len=200_000),
        line(RANGED, bytes=201_000, content_len=201_000),
        ranged(INIT, 0, 99),
    ],
    # CMCD in the query, double-encoded as CloudFront logs it
    "cmcd_session_ids": lambda: [
        line(SEG, query="CMCD=bl%253D0%252Cbr%253D1400%252Csid%253D%2522abc%2522%252Cst%253Dv"),
        line(SEG, query=cmcd('bl=2000,br=5000,ot=v,sid="6e2fb550-c457-11e9",sf=h,st=v,su')),
        line(SEG, query=cmcd('sid="a b,c:d/e"')),
        line(SEG, query=cmcd('sid=""')),
        line(SEG, query="CMCD=sid%3D%22once%22%2Cst%3Dl"),
        line(SEG, query="CMCD=br%3D5000%2Cot%3Dv"),
        line(SEG, query="CMCD=sid%253D%2522tw%2525o%2522"),
        line(SEG, query=cmcd("sid=abc123,st=v")),
        line(SEG, query=cmcd("ot=v,sid=Tok:/x*")),
        line(SEG, query=cmcd("sid=*star")),
        line(SEG, query=cmcd("sid=123")),
        line(SEG, query=cmcd("sid")),
    ],
    "cmcd_live": lambda: [
        line(SEG, query=cmcd('sid="x",st=l')),
        line(SEG, query=cmcd('st="l"')),
        line(SEG, query=cmcd("st=l,sid=y")),
        line(SEG_NO_SIZE, query=cmcd("st=live")),
        line(UNMAPPED, query=cmcd("st=l")),
        line(MASTER, query=cmcd("st=l, sid=z")),
    ],
    "cmcd_br": lambda: [
        line(SEG_NORES, bytes=500_000, content_len=500_000, query=cmcd("br=2800,ot=v")),
        line(SEG_NORES, bytes=500_000, content_len=500_000, query=cmcd("br=5000")),
        line(SEG_NORES, bytes=500_000, content_len=500_000, query=cmcd("br")),
        line(SEG_NORES, bytes=500_000, content_len=500_000, query=cmcd("ot=v,st=v")),
        line(SEG, query=cmcd("br=2800")),
        line(SEG_NO_RENDITION, query=cmcd("br=800,sid=q")),
        line(SEG_NO_DURATION, query=cmcd("d=4004,br=5000")),
        line(SEG_NO_DURATION, query=cmcd("br=5000")),
    ],
    "cmcd_duplicate_keys": lambda: [
        line(SEG),
        line(SEG, query=cmcd('sid="a",sid="b"')),
        line(SEG, query=cmcd("st=v,st=l")),
        line(SEG, query=cmcd('bl=1,bl=2,sid="c"')),
        line(SEG, query=cmcd("st=l,st=l")),
    ],
    "cmcd_malformed": lambda: [
        line(SEG),
        line(SEG, query=cmcd('sid="unterminated')),
        line(SEG, query=cmcd("sid=,st=l")),
        line(SEG, query=cmcd('BR=1,sid="up"')),
        line(SEG, query=cmcd('sid="x" ,st=l')),
        line(SEG, query=cmcd(' sid="lead"')),
        line(SEG, query=cmcd('sid="x",')),
        line(SEG, query=cmcd("br=1.5,st=l")),
        line(SEG, query=cmcd("bl=1234567890123456")),
        line(SEG, query=cmcd('sid="caf\u00e9"')),
        line(SEG, query="CMCD=%25ZZ"),
        line(SEG, query="CMCD="),
        line(SEG, query="CMCD=sid%253D%2522%25C3%25A9%2522"),
        line(SEG, query="CMCD=st%3Dl%2Bx"),
        line(SEG, query="CMCD=st=l"),
    ],
    "cmcd_keys_inside_a_string": lambda: [
        line(SEG),
        line(SEG, query=cmcd('cid="x,sid=y"')),
        line(SEG, query=cmcd('cid="x,sid=y,z"')),
        line(SEG, query=cmcd('cid="x, st=l,y"')),
        line(SEG, query=cmcd('cid="x,st=l"')),
        line(SEG_NORES, bytes=500_000, content_len=500_000, query=cmcd('cid="x,br=9000"')),
    ],
    "cmcd_bare_keys": lambda: [
        line(SEG),
        line(SEG, query=cmcd('br,sid="after-bare-br"')),
        line(SEG, query=cmcd("br,st=l")),
        line(SEG, query=cmcd("sid,st=l")),
        line(SEG, query=cmcd('st,sid="after-bare-st"')),
        line(SEG, query=cmcd('su,sid="after-su",st=l')),
    ],
    "cmcd_other_args_and_lowercase": lambda: [
        line(SEG, query="a=1&" + cmcd('sid="x",st=l')),
        line(SEG, query=cmcd('sid="y"') + "&token=abc"),
        line(SEG, query="token=cmcd"),
        line(SEG, query="x=CMCD%253Dsid"),
        line(SEG, query="%2543MCD=sid%253D%2522p%2522"),
        line(SEG),
        line(SEG, query="cmcd=sid%253D%2522low%2522%252Cst%253Dl"),
        line(SEG, query="Cmcd=sid%253D%2522mixed%2522"),
    ],
    # user agents
    "user_agents": lambda: [
        line(SEG, ua=UA),
        line(SEG, ua="AppleCoreMedia/1.0.0.22A3354%2520(iPhone;%2520U;%2520CPU%2520OS%252018_0)"),
        line(SEG, ua="Mozilla/5.0%2520(Linux;%2520Android%252014;%2520Pixel)%2520%25E2%2598%2583"),
        line(SEG, ua="Roku/DVP-14.0%2520(%25C3%25A9t%25C3%25A9)"),
        line(SEG, ua="Mozilla/5.0 (raw ünïcödé ☃)"),
        line(SEG, ua="bad%25ZZescape%2520%25"),
        line(SEG, ua="half%25E2%2598"),
        line(SEG, ua="-"),
        line(SEG, ua="%2520"),
    ],
    # request ids
    "duplicate_ids_in_batch": lambda: [
        line(SEG, rid="same-1"),
        line(SEG_720, rid="same-1"),
        line(MASTER, rid="same-2"),
        line(SEG, rid="same-2", status=206, range_start=0, range_end=999),
        line(SEG, rid="-"),
        line(SEG, rid="-"),
    ],
    "duplicate_reference_line_first": lambda: [
        line(SEG),
        line(SEG, rid="dup-x", query=cmcd('sid="x" ,st=l')),  # malformed CMCD: reference
        line(SEG_720, rid="dup-x"),
        line(SEG_720),
    ],
    "duplicate_plain_line_first": lambda: [
        line(SEG_720, rid="dup-y"),
        line(SEG, rid="dup-y", status=206, bytes=10, content_len=10),  # 206 without range
        line(SEG),
        line(SEG, rid="dup-z", date="2026-13-01"),  # rejected: its copy is no duplicate
        line(SEG_720, rid="dup-z"),
    ],
    # malformed lines
    "wrong_column_count": lambda: [
        line(SEG),
        line(SEG) + "\textra",
        "\t".join(line(SEG).split("\t")[:-1]),
        line(SEG_720),
    ],
    "bad_dates_and_times": lambda: [
        line(SEG),
        line(SEG, date="2026-02-30"),
        line(SEG, date="26-11-20"),
        line(SEG, date="1999-12-31"),
        line(SEG, date="2100-01-01"),
        line(SEG, time="25:00:00"),
        line(SEG, time="18:60:00"),
        line(SEG, time="18:00:61"),
        line(SEG, time="18:00"),
        line(SEG, time="18:00:00.1234567"),
        line(SEG, time="18:00:00."),
        line(SEG, date="２０２６-11-20"),
        line(SEG_720),
    ],
    "bad_numbers": lambda: [
        line(SEG),
        line(SEG, bytes="12x"),
        line(SEG, bytes="+5"),
        line(SEG, bytes="1000000000000000"),
        line(SEG, bytes="10000000000000000"),
        line(SEG, content_len="abc"),
        line(SEG, status=206, range_start="x", range_end=9),
        line(SEG, status="2OO"),
        line(SEG, status="-"),
        line(SEG, status=1000),
        line(SEG, bytes="00042", content_len="0001000000"),
        line(SEG_720),
    ],
    "odd_stems": lambda: [
        line(SEG),
        line("/vod/a/v1080/seg%252000000.ts"),
        line("/vod/a/v1080/seg_00000.ts?x=1"),
        line("https://d111111abcdef8.cloudfront.net/vod/a/v1080/seg_00000.ts"),
        line("vod/a/v1080/seg_00000.ts"),
        line("-"),
        line("/vod/a/v1080/seg_00000.ts "),
        line("/vod/é.ts"),
        line(SEG_720),
    ],
    "nul_blank_trailing_tab": lambda: [
        line(SEG),
        line(SEG).replace("LAX1", "LA\x00X1"),
        "",
        "   ",
        "\t",
        line(SEG_720) + "\t",
        line(SEG_720) + "\t\t",
        line(SEG_AUDIO),
    ],
    "comment_mid_file": lambda: [line(SEG), "# a comment", line(SEG_720), line(MASTER)],
    "second_fields_header": lambda: [
        line(SEG),
        line(SEG_720),
        "#Fields: " + FIELDS_REVERSED,
        reversed_line(line(SEG)),
        reversed_line(line(SEG_AUDIO)),
        line(SEG_AUDIO),
    ],
    "second_fields_header_same_order": lambda: [
        line(SEG),
        "#Version: 1.0",
        "#Fields: " + FIELDS,
        line(SEG_720),
    ],
    "invalid_utf8": lambda: [
        line(SEG),
        line(SEG_720).encode().replace(b"LAX1", b"LA\xff\xfeX1"),
        line(SEG_AUDIO),
        line(SEG),
    ],
    "crlf_line": lambda: [line(SEG), line(SEG_720) + "\r", line(SEG_AUDIO), line(SEG)],
    "cr_inside_line": lambda: [line(SEG), line(SEG_720, ua="a\rb"), line(SEG_AUDIO)],
    "literal_backslash_x1f": lambda: [line(SEG), line(SEG_720, ua="a\\x1fb"), line(SEG)],
    "unit_separator": lambda: [line(SEG), line(SEG_720, ua="a\x1fb"), line(SEG)],
    "crlf_file": lambda: [x + "\r" for x in (line(SEG), line(SEG_720), line(MASTER))],
    "very_long_line": lambda: [line(SEG), line(SEG_720, ua="x" * 2_200_000), line(SEG)],
    "first_line_unreadable": lambda: [
        line(SEG).encode().replace(b"LAX1", b"\xff"),
        line(SEG_720),
        line(SEG),
    ],
}


#: Cases whose lines all go the reference way, by design.
NOTHING_COUNTED = {
    # a request id on a line the reference reads and on a plain one: the whole batch goes the
    # reference way, so the first in line order wins
    "duplicate_reference_line_first",
    "duplicate_plain_line_first",
}
#: Cases with a line DuckDB cannot read (in a small file DuckDB reads it before the first
#: batch, so what the columns count depends on where it stops).
STOPPED = {
    "invalid_utf8",
    "crlf_line",
    "crlf_file",
    "cr_inside_line",
    "unit_separator",  # the column separator lines are read with (U+001F)
    "very_long_line",  # longer than read_csv's max_line_size (2 MiB)
    "first_line_unreadable",
}


@pytest.mark.parametrize("name", list(CASES))
def test_columns_give_the_reference_records(both: Callable[..., Outcome], name: str) -> None:
    out = both(CASES[name]())
    assert out.spy.took_columns
    if name in STOPPED:
        assert out.spy.stops, out.spy
    else:
        assert (out.spy.counted > 0) == (name not in NOTHING_COUNTED), out.spy
    out.assert_same()


def test_small_batches(both: Callable[..., Outcome], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cloudfront_columns, "BATCH_LINES", 3)
    out = both([*segments(), *CASES["aborted"]()])
    assert out.spy.batches >= 7, out.spy
    out.assert_same()


# --- exact numbers -----------------------------------------------------------------------------


def test_hand_computed_seconds(both: Callable[..., Outcome]) -> None:
    lines = [
        # 206 bytes=0-499999 of a 6 s, 1,000,000-byte segment: half of it
        ranged(SEG, 0, 499_999),
        # aborted (Error, response Hit): 400,000 of 1,000,000 bytes
        line(SEG, bytes=400_000, result="Error", response_result="Hit"),
        # size unknown: sc-bytes short of sc-content-len
        line(SEG_NO_SIZE, bytes=250_000, content_len=1_000_000),
        # size unknown: a later range earns nothing, the one from byte 0 counts fully
        ranged(SEG_NO_SIZE, 500_000, 999_999),
        ranged(SEG_NO_SIZE, 0, 499_999),
        # 6.006 s over 999,999 bytes: a third of it, then one byte (6.006 µs, rounded)
        ranged(SEG_ODD, 0, 333_332),
        ranged(SEG_ODD, 5, 5),
        line(SEG_AUDIO_ONLY, bytes=96_000, content_len=96_000),
        line(SEG_IFRAME, bytes=80_000, content_len=80_000),
        line(LIVE_SEG, bytes=300_000, content_len=300_000),
        line(SEG_720, bytes=700_000, content_len=700_000),
        line(SEG_NO_RENDITION, query=cmcd('sid="s-1",st=v')),
        line(SEG, method="HEAD"),
        line(UNMAPPED, bytes=1_234, content_len=1_234),
    ]
    out = both(lines)
    assert out.spy.counted == len(lines) and out.spy.referred == 0, out.spy
    out.assert_same()
    got = [
        (r["line_no"], r["earned_us"], r["tier_hint"], r["kind"], r["live"], r["session_id"])
        for r in out.records
    ]
    assert got == [
        (3, 3_000_000, TIER_1080P, "segment", False, None),
        (4, 2_400_000, TIER_1080P, "segment", False, None),
        (5, 1_500_000, TIER_1080P, "segment", False, None),
        (6, 0, TIER_1080P, "segment", False, None),
        (7, 6_000_000, TIER_1080P, "segment", False, None),
        (8, 2_002_000, TIER_1080P, "segment", False, None),
        (9, 6, TIER_1080P, "segment", False, None),
        (10, 6_000_000, TIER_AUDIO_ONLY, "segment", False, None),
        (11, 0, None, "other", False, None),
        (12, 2_000_000, TIER_1080P, "segment", True, None),
        (13, 6_000_000, TIER_720P, "segment", False, None),
        (14, 2_000_000, None, "segment", False, "s-1"),
        (15, 0, TIER_1080P, "segment", False, None),
        (16, 0, None, "other", False, None),
    ]
    (receipt,) = out.receipts
    assert receipt[2:6] == (14, 14, 0, 0)  # lines read, accepted, duplicate, rejected
    notes = receipt[6]
    assert notes[NOTE_UNMAPPED_URL] == 1 and notes[NOTE_TIER_INFERRED] == 1


def test_duplicates_and_rejects_counted_exactly(both: Callable[..., Outcome]) -> None:
    out = both(
        [
            line(SEG, rid="r-1"),
            line(SEG_720, rid="r-1"),
            line(SEG, time="25:00:00"),
            line(SEG, bytes="12x"),
            line(SEG, rid="r-2"),
        ]
    )
    out.assert_same()
    assert out.spy.counted == 3 and out.spy.referred == 2, out.spy
    assert out.receipts[0][2:6] == (5, 2, 1, 2)
    assert [r["line_no"] for r in out.records] == [3, 7]
    assert [q[0] for q in out.reference["quarantine"]] == [5, 6]


def test_duplicates_across_batches(
    both: Callable[..., Outcome], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cloudfront_columns, "BATCH_LINES", 2)
    out = both(
        [
            line(SEG, rid="b-1"),
            line(SEG_720),
            line(SEG_AUDIO, rid="b-1"),  # the next batch: a duplicate of a counted row
            line(SEG, rid="b-2", status=206),  # 206 without a range: the reference's
            line(SEG_720, rid="b-2"),  # the next batch: a duplicate of a reference line
            line(MASTER, rid="b-3"),
            line(SEG, rid="b-3", query=cmcd('sid="x" ,st=l')),  # the reference's, a duplicate
        ]
    )
    out.assert_same()
    assert out.spy.batches == 4 and out.spy.counted == 5, out.spy
    assert out.receipts[0][2:6] == (7, 4, 3, 0)
    assert [r["line_no"] for r in out.records] == [3, 4, 6, 8]


# --- whole files -------------------------------------------------------------------------------


def mixed() -> list[Line]:
    """Plain lines and lines the reference reads, no line DuckDB stops on."""
    return [
        *segments(),
        *CASES["statuses"](),
        *CASES["aborted"](),
        *CASES["ranges_unknown_size"](),
        *CASES["range_206_without_range"](),
        *CASES["cmcd_duplicate_keys"](),
        line(SEG, rid="mixed-dup"),
        line(SEG, date="2026-13-01"),
        line(SEG_720, rid="mixed-dup"),
        line(SEG, time="25:00:00"),
        "",
        line(SEG) + "\t",
    ]


def test_gzip_file_same_results(both: Callable[..., Outcome]) -> None:
    out = both(mixed(), gz=True)
    assert out.spy.counted > 0 and not out.spy.stops, out.spy
    out.assert_same()


def test_gzip_members_concatenated(both: Callable[..., Outcome]) -> None:
    """`cat a.gz b.gz`: one gzip member after another, the header in the first."""

    def members(data: bytes) -> bytes:
        cut = data.index(b"\n", len(data) // 2) + 1
        return gzip.compress(data[:cut]) + gzip.compress(data[cut:])

    out = both(mixed(), write=members)
    assert out.spy.counted > 0 and not out.spy.stops, out.spy
    out.assert_same()


def test_gzip_stream_cut_short(both: Callable[..., Outcome]) -> None:
    """A gzip file still being written: both read up to the cut (the receipt says so)."""

    def cut(data: bytes) -> bytes:
        packed = gzip.compress(data)
        return packed[: len(packed) * 2 // 3]

    out = both([line(SEG) for _ in range(300)], write=cut)
    out.assert_same()
    assert "gzip stream ends early: read up to the cut" in out.receipts[0][6]


@pytest.mark.parametrize(
    "bad",
    [
        pytest.param(lambda text: text + "\r", id="crlf"),
        pytest.param(lambda text: text.encode().replace(b"LAX1", b"LA\xffX1"), id="utf8"),
    ],
)
def test_unreadable_line_far_into_the_file(
    both: Callable[..., Outcome],
    monkeypatch: pytest.MonkeyPatch,
    bad: Callable[[str], Line],
) -> None:
    """Far enough into the file that DuckDB raises from `read_next_batch()`, not from
    `to_arrow_reader()`: the reference reads on from the first line not given, nothing
    twice, nothing lost."""
    monkeypatch.setattr(cloudfront_columns, "BATCH_LINES", 1_000)
    lines: list[Line] = [line(SEG if n % 3 else SEG_720) for n in range(2_500)]
    lines[2_200] = bad(line(SEG_AUDIO))
    lines[2_300] = line(SEG_AUDIO, rid="req-late-dup")
    lines[2_400] = line(SEG, rid="req-late-dup")
    out = both(lines)
    assert out.spy.stops, out.spy
    out.assert_same()
    assert out.receipts[0][2:6] == (2_500, 2_499, 1, 0)


def test_last_line_without_newline(both: Callable[..., Outcome]) -> None:
    out = both([line(SEG), line(SEG_720), line(SEG_AUDIO)], newline=False)
    out.assert_same()
    assert out.spy.counted == 3, out.spy
    assert [r["line_no"] for r in out.records] == [3, 4, 5]


def test_last_line_without_newline_gzip(both: Callable[..., Outcome]) -> None:
    out = both([line(SEG), line(SEG, bytes="x")], newline=False, gz=True)
    out.assert_same()
    assert out.spy.counted == 1, out.spy


@pytest.mark.parametrize(
    "header",
    [
        pytest.param(f"#Fields: {FIELDS}\n", id="fields-only"),
        pytest.param(f"\ufeff#Version: 1.0\n#Fields: {FIELDS}\n", id="bom"),
        pytest.param(f"#Version: 1.0\n#Fields: {FIELDS}\n#Date: 2026-11-20\n", id="3-lines"),
        pytest.param(f"#Version: 1.0\r\n#Fields: {FIELDS}\r\n", id="crlf-header"),
    ],
)
def test_header_variants(both: Callable[..., Outcome], header: str) -> None:
    out = both(mixed(), header=header)
    assert out.spy.took_columns
    out.assert_same()


def test_other_column_order(both: Callable[..., Outcome]) -> None:
    """The columns are found by name: a header in reverse order reads the same."""
    out = both(
        [reversed_line(x) for x in mixed() if isinstance(x, str)],
        header=f"#Version: 1.0\n#Fields: {FIELDS_REVERSED}\n",
    )
    assert out.spy.counted > 0, out.spy
    out.assert_same()


MINIMAL = "date time sc-bytes cs-uri-stem sc-status"


def test_minimal_columns(both: Callable[..., Outcome]) -> None:
    """No request id, method, query, result types, content length or range columns."""
    out = both(
        [
            "2026-11-20\t18:00:00\t1000000\t" + SEG + "\t200",
            "2026-11-20\t18:00:01\t500000\t" + SEG + "\t206",
            "2026-11-20\t18:00:02\t-\t" + SEG_720 + "\t200",
            "2026-11-20\t18:00:03\t9\t" + UNMAPPED + "\t404",
            "2026-11-20\t18:00:04\t1\t" + SEG_AUDIO_ONLY + "\t000",
        ],
        header=f"#Version: 1.0\n#Fields: {MINIMAL}\n",
    )
    assert out.spy.counted > 0, out.spy
    out.assert_same()


def test_cmcd_columns_take_the_reference_path(both: Callable[..., Outcome]) -> None:
    header = f"#Version: 1.0\n#Fields: {MINIMAL} cmcd-session-id cmcd-stream-type\n"
    out = both(
        [
            "2026-11-20\t18:00:00\t1000000\t" + SEG + "\t200\tabc\tl",
            "2026-11-20\t18:00:01\t1000000\t" + SEG + "\t200\t-\t-",
        ],
        header=header,
    )
    assert not out.spy.took_columns
    out.assert_same()


# --- environments the columns leave to the reference -------------------------------------------


def with_url_pattern(store: Store, env_key: int) -> None:
    store.add_url_pattern(
        env_key,
        r"/p/(?P<asset_id>[a-z0-9-]+)/(?P<rendition>\w+)/seg_(?P<segment>\d+)\.ts",
        {"duration": "6", "kind": "segment", "width": 1280, "height": 720},
    )


LL_SEG = "/ll/c/v1080/seg_00007.m4s"
LL_PARTS = [f"/ll/c/v1080/seg_00007.part{n}.m4s" for n in range(3)]


def with_llhls_parts(store: Store, env_key: int) -> None:
    objects = [IndexObject(LL_SEG, "asset-ll", R1080, "segment", Fraction(3), media_sequence=7)]
    objects += [
        IndexObject(path, "asset-ll", R1080, "part", Fraction(1), media_sequence=7, part_index=n)
        for n, path in enumerate(LL_PARTS)
    ]
    store.register_index(env_key, "asset-ll", [RENDITIONS[0]], objects)


def test_environment_with_url_patterns(both: Callable[..., Outcome]) -> None:
    out = both(
        [*mixed(), line("/p/asset-z/v720/seg_00001.ts"), line("/p/asset-z/v720/x.ts")],
        setup=with_url_pattern,
    )
    assert not out.spy.took_columns
    out.assert_same()
    assert any(r["asset"] == "asset-z" for r in out.records)


def test_environment_with_llhls_parts(both: Callable[..., Outcome]) -> None:
    sid = cmcd('sid="ll-1",st=l')
    out = both(
        [
            *mixed(),
            *(line(part, query=sid, bytes=100_000, content_len=100_000) for part in LL_PARTS),
            line(LL_SEG, query=sid, bytes=300_000, content_len=300_000),
            line(LL_PARTS[0], bytes=100_000, content_len=100_000),
        ],
        setup=with_llhls_parts,
    )
    assert not out.spy.took_columns
    out.assert_same()


# --- importing again ---------------------------------------------------------------------------


def test_reimport_is_a_no_op(both: Callable[..., Outcome]) -> None:
    lines = mixed()
    out = both([lines, lines], steps=2)
    assert out.spy.counted > 0, out.spy
    out.assert_same()
    first, second = out.receipts
    assert second[-1] is True and second[2:6] == first[2:6]


def test_file_that_grew(both: Callable[..., Outcome], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cloudfront_columns, "BATCH_LINES", 3)
    first = [line(SEG, rid="g-1"), line(SEG_720), line(SEG, bytes="x"), line(MASTER)]
    grown = [
        *first,
        line(SEG_AUDIO, rid="g-1"),  # a duplicate of a line imported before
        line(SEG_NO_SIZE, rid="g-2"),
        line(SEG, rid="g-2", status=206),  # 206 without a range: the reference's
        line(SEG, time="25:00:00"),
        line(SEG_IFRAME),
    ]
    out = both([first, grown, grown + [line(SEG_720)]], steps=3)
    assert out.spy.counted >= 4 and out.spy.batches >= 3, out.spy
    out.assert_same()
    receipts = out.receipts
    assert [r[10] for r in receipts] == [0, 6, 11]  # line offsets
    assert [r[11] for r in receipts] == [False, True, True]  # parent receipts


def test_file_that_grew_after_a_second_fields_header(both: Callable[..., Outcome]) -> None:
    """The part imported before has a second #Fields header: the new lines are in its
    layout."""
    first = [line(SEG), "#Fields: " + FIELDS_REVERSED, reversed_line(line(SEG_720))]
    grown = [*first, reversed_line(line(SEG_AUDIO)), reversed_line(line(MASTER))]
    out = both([first, grown], steps=2)
    out.assert_same()


def test_bom_before_a_second_fields_header(both: Callable[..., Outcome]) -> None:
    """A '#Fields' line behind a BOM (files concatenated) is a header to the reference."""
    out = both(
        [
            line(SEG),
            "\ufeff#Fields: " + FIELDS_REVERSED,
            reversed_line(line(SEG_720)),
            line(SEG_AUDIO),
        ]
    )
    out.assert_same()


# --- a property --------------------------------------------------------------------------------

# Line makers the property test mixes, each make(request id) -> line.


def _maker(stem: str, **values: object) -> Callable[[str], Line]:
    return lambda rid: line(stem, rid=rid, **values)


MAKERS: list[Callable[[str], Line]] = [
    _maker(SEG),
    _maker(SEG_NO_SIZE),
    _maker(SEG_ODD, bytes=999_999, content_len=999_999),
    _maker(SEG_NORES, bytes=500_000, content_len=500_000),
    _maker(SEG_AUDIO_ONLY, bytes=96_000, content_len=96_000),
    _maker(SEG_IFRAME, bytes=80_000, content_len=80_000),
    _maker(SEG_AUDIO),
    _maker(SEG_720, time="18:30:00.25"),
    _maker(SEG_NO_DURATION),
    _maker(SEG_NO_RENDITION),
    _maker(LIVE_SEG, time="19:00:00"),
    _maker(RANGED, status=206, range_start=1_000, range_end=50_999),
    _maker(MASTER, bytes=900, content_len=900),
    _maker(UNMAPPED),
    _maker(SEG, status=404, result="Error"),
    _maker(SEG, status=304, bytes=0, content_len="-"),
    _maker(SEG, method="HEAD"),
    _maker(SEG, status="000", bytes=0, content_len="-"),
    _maker(SEG, bytes=400_000, result="Error", response_result="Hit"),
    _maker(
        SEG_NO_SIZE, bytes=400_000, result="Error", response_result="-", detailed="ClientCommError"
    ),
    _maker(SEG, bytes=123_456),
    _maker(SEG, status=206, bytes=500_000, content_len=500_000, range_start=0, range_end=499_999),
    _maker(SEG_NO_SIZE, status=206, range_start=0, range_end="-"),
    _maker(SEG_NO_SIZE, status=206, range_start=10, range_end=99),
    _maker(SEG, status=206, range_start=250_000, range_end="-"),
    _maker(SEG, status=206),
    _maker(SEG, query="CMCD=bl%253D0%252Cbr%253D1400%252Csid%253D%2522abc%2522%252Cst%253Dv"),
    _maker(SEG, query=cmcd("sid=tok,st=l")),
    _maker(SEG_NORES, query=cmcd("br=2800")),
    _maker(SEG_NO_DURATION, query=cmcd("d=4000")),
    _maker(SEG, query=cmcd('st=v,st=l,sid="d"')),
    _maker(SEG, query=cmcd('sid="unterminated')),
    _maker(SEG, query="a=1&" + cmcd("st=l")),
    _maker(SEG, query="cmcd=st%253Dl"),
    _maker(SEG, ua="Roku/DVP-14.0%2520(%25C3%25A9t%25C3%25A9)"),
    _maker(SEG, ua="raw ünïcödé ☃"),
    _maker(SEG, date="2026-02-30"),
    _maker(SEG, time="25:00:00"),
    _maker(SEG, bytes="12x"),
    _maker(SEG, content_len="1e6"),
    _maker(SEG, x_edge_location="LA\x00X"),
    lambda rid: line(SEG, rid=rid) + "\textra",
    lambda rid: line(SEG_720, rid=rid) + "\t",
    lambda rid: "\t".join(line(SEG, rid=rid).split("\t")[:20]),
    lambda rid: "",
    lambda rid: "# a comment",
    lambda rid: "#Fields: " + FIELDS_REVERSED,
    lambda rid: reversed_line(line(SEG_720, rid=rid)),
    lambda rid: "\ufeff#Fields: " + FIELDS,
    _maker(SEG, query=cmcd('cid="x,sid=y"')),
    _maker(SEG, query=cmcd('cid="x, st=l,y"')),
    _maker(SEG, query=cmcd('br,sid="after-bare-br"')),
    _maker(SEG, query=cmcd("sid,st=l")),
]
#: Makers of lines DuckDB stops on (the rest of the file is the reference's).
STOPPERS: list[Callable[[str], Line]] = [
    lambda rid: line(SEG, rid=rid) + "\r",
    lambda rid: line(SEG, rid=rid).encode().replace(b"LAX1", b"LA\xffX1"),
]


@st.composite
def log_lines(draw: st.DrawFn, stoppers: bool) -> list[Line]:
    makers = MAKERS + (STOPPERS if stoppers else [])
    picks = draw(
        st.lists(
            st.tuples(
                st.integers(0, len(makers) - 1),
                st.one_of(st.just(""), st.sampled_from(["dup-a", "dup-b", "-"])),
            ),
            min_size=1,
            max_size=24,
        )
    )
    lines = [makers[i](rid or f"h-{next(_ids):06d}") for i, rid in picks]
    if stoppers:  # at least one line DuckDB stops on
        stopper = draw(st.sampled_from(STOPPERS))
        lines.insert(draw(st.integers(0, len(lines))), stopper(f"h-{next(_ids):06d}"))
    return lines


def _property(stores: Stores, lines: list[Line], batch_lines: int, gz: bool) -> None:
    with tempfile.TemporaryDirectory() as tmp, pytest.MonkeyPatch.context() as patch:
        patch.setattr(cloudfront_columns, "BATCH_LINES", batch_lines)
        out = import_both(stores, Path(tmp), lines, gz=gz)
    # The columns read every file whose header block they can tell (not one of comments only)
    first = content_bytes(lines).splitlines(keepends=True)[:20]
    assert out.spy.took_columns == (cloudfront_columns.read_header(first) is not None), out.spy
    out.assert_same()


@settings(max_examples=25, deadline=None)
@given(
    lines=log_lines(stoppers=False),
    batch_lines=st.sampled_from([4, 200_000]),
    gz=st.booleans(),
)
def test_property_same_results(
    stores: Stores, lines: list[Line], batch_lines: int, gz: bool
) -> None:
    _property(stores, lines, batch_lines, gz)


@settings(max_examples=5, deadline=None)
@given(lines=log_lines(stoppers=True), batch_lines=st.sampled_from([4, 200_000]))
def test_property_same_results_with_unreadable_lines(
    stores: Stores, lines: list[Line], batch_lines: int
) -> None:
    _property(stores, lines, batch_lines, False)


def test_more_edge_cases_same_results(both: Callable[..., Outcome]) -> None:
    """Edge cases checked equal by hand: CMCD separators, keys, value shapes and encodings;
    timestamps at the range's edges; odd methods, stems, user agents and numbers."""
    nores = {"bytes": 500_000, "content_len": 500_000}
    lines: list[Line] = [line(SEG)]
    for text in [
        'sid="a",\tst=l',
        'sid="a", \t st=l',
        'a.b=1,sid="s"',
        "*x=1,st=l",
        "k-1=2,st=l",
        "sid=a:b/c",
        "br=-5,sid=n",
        "br=123456789012345,st=l",
        "br=1234567890123456",
        "pr=1.25,sid=dec",
        "bs=?1,sid=b",
        "x=:YWJj:,st=l",
        'sid="p";a=1',
        "st=l;a=1",
        'sid="q\\"x"',
        "sid=tok+en",
        "st=L",
        'st="L"',
        "st=l,,sid=x",
        "sid=*",
        "sid=-x",
    ]:
        lines += [line(SEG, query=cmcd(text)), line(SEG_NORES, **nores, query=cmcd(text))]
    for query in [
        "CMCD=sid%253D%2522x%2522%252C%2509st%253Dl",
        "CMCD=st%253dl",
        "CMCD=sid%253Dab%252541",
        "CMCD=st%253Dl&x=1",
        "x=1&CMCD=st%253Dl",
        "CMCD=st%253Dl+",
        "%43MCD=st%253Dl",
        "CMCD=%2573t%253Dl",
        "CMCD=st%25253Dl",
        "CMCD=%2520st%253Dl",
        "CMCD=st%253Dl%2520",
        "CMCD=st%253Dl%2500",
        "CMCD=%2F%2F1.0%40V%2Fst%3Dl",
        "cMcD=st%253Dl",
    ]:
        lines += [line(SEG, query=query), line(SEG_NORES, **nores, query=query)]
    lines += [
        line(SEG, date="2000-01-01", time="00:00:00"),
        line(SEG, date="1999-12-31", time="23:59:60"),
        line(SEG, date="2099-12-31", time="23:59:59.999999"),
        line(SEG, date="2099-12-31", time="23:59:60"),
        line(SEG, date="2024-02-29", time="12:30:60.5"),
        line(SEG, method="gEt"),
        line(SEG, method="GÉT"),
        line(SEG + "\x0b"),
        line(SEG + "\x85"),
        line(SEG + "\u00a0"),
        line("/vod/é/x"),
        line(SEG, ua="%25ED%25A0%2580"),
        line(SEG, ua="%25C0%25AF%25FF"),
        line(SEG, ua="%u0041%25u0041"),
        line(SEG, status=206, bytes=0, content_len=0, range_start=5, range_end=2),
        line(SEG, status=499, bytes=0, content_len=0),
        line(
            SEG_NO_SIZE,
            status=206,
            bytes=0,
            content_len=0,
            range_start=0,
            range_end=0,
            result="Error",
            response_result="Hit",
        ),  # fmt: skip
        line(SEG, status="099"),
        line(SEG, bytes=" 5"),
        line(SEG, content_len="5 "),
        line(SEG_720),
    ]
    out = both(lines)
    assert out.spy.counted > 30, out.spy
    out.assert_same()


def test_request_id_copies_further_apart_than_the_late_window(
    both: Callable[..., Outcome], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Copies of a request id more than 35 days apart are two requests (counting.md 7), in
    one chunk or two: both paths keep both, whatever their batch and chunk boundaries."""
    monkeypatch.setattr(cloudfront_columns, "BATCH_LINES", 1)
    out = both(
        [
            line(SEG, rid="X"),
            line(SEG, rid="X", date="2025-11-20"),
            line(SEG, rid="Y", date="2026-10-01"),
            line(SEG_720),
            line(SEG, rid="Y"),
            line(SEG, rid="Y"),
        ]
    )
    out.assert_same()
    assert out.receipts[0][2:6] == (6, 5, 1, 0)  # read, accepted, duplicate (Y), rejected
