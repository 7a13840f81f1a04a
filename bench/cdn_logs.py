"""A seeded generator of realistic CloudFront standard logs, and the index they play against.

    .venv/bin/python -m bench.cdn_logs OUT.log [--lines N] [--quick] [--seed S] [--gzip]

The log has the real 33-field `#Version` / `#Fields` header and is tab-separated. Viewers
(sessions) start over a few hours and play one asset each: the master playlist, a media
playlist, then segments in order at roughly real-time pace (a burst first, to fill the
buffer), with ABR switches to a neighbouring rendition (each one fetches the new media
playlist), about 2% aborted transfers (x-edge-result-type `Error`, response result `Hit`,
sc-bytes short of the segment), some segments fetched in two 206 byte ranges, playlist
refreshes answered 304, some 404s and a few URLs the index does not know (favicon, stale
asset paths). A share of sessions send CMCD as a query argument (double-encoded, as CloudFront
logs it: `%253D` for `=`), user agents are double-encoded (`%2520` for a space), and every
line has its own x-edge-request-id. Sessions interleave: lines come out in time order.

`catalog(seed, assets)` is the asset catalog with HLS ladders (renditions and segment
objects) the log refers to; `register(store, env_key, ...)` puts it into a store's index with
`store.register_index` (no manifest files are needed). Same seed, same lines, same catalog.
"""

from __future__ import annotations

import argparse
import base64
import gzip
import heapq
import random
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from fractions import Fraction
from pathlib import Path
from typing import IO

from streammeter.index.entry import IndexObject, Rendition

#: Bump when the output changes, so cached logs are regenerated.
GENERATOR_VERSION = 2
DEFAULT_LINES = 1_000_000
QUICK_LINES = 50_000
DEFAULT_SEED = 7
START = int(datetime(2026, 11, 20, 18, tzinfo=UTC).timestamp())  # sessions start in 3 hours
START_SPAN_S = 3 * 3600
HOST = "d111111abcdef8.cloudfront.net"

FIELDS = (
    "date time x-edge-location sc-bytes c-ip cs-method cs(Host) cs-uri-stem sc-status "
    "cs(Referer) cs(User-Agent) cs-uri-query cs(Cookie) x-edge-result-type x-edge-request-id "
    "x-host-header cs-protocol cs-bytes time-taken x-forwarded-for ssl-protocol ssl-cipher "
    "x-edge-response-result-type cs-protocol-version fle-status fle-encrypted-fields c-port "
    "time-to-first-byte x-edge-detailed-result-type sc-content-type sc-content-len "
    "sc-range-start sc-range-end"
)
HEADER = f"#Version: 1.0\n#Fields: {FIELDS}\n"

#: (name, width, height, bandwidth bits/s) of the HLS ladder.
LADDER = (
    ("240p", 426, 240, 400_000),
    ("360p", 640, 360, 800_000),
    ("480p", 854, 480, 1_400_000),
    ("720p", 1280, 720, 2_800_000),
    ("1080p", 1920, 1080, 5_000_000),
)
EDGES = ("LAX1", "SFO5", "IAD89", "FRA2", "LHR61", "NRT57", "GRU3", "SYD1")
USER_AGENTS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_6) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/18.1 Safari/605.1.15",
    "AppleCoreMedia/1.0.0.22A3354 (iPhone; U; CPU OS 18_0 like Mac OS X; en_us)",
    "ExoPlayerLib/2.19.1 (Linux; Android 14) Mozilla/5.0",
    "Roku/DVP-14.0 (14.0.4180)",
    "Mozilla/5.0 (SMART-TV; Linux; Tizen 8.0) AppleWebKit/537.36 Chrome/108 TV Safari/537.36",
)
UNMAPPED = ("/favicon.ico", "/robots.txt", "/vod/old-asset/master.m3u8", "/player/app.js")


@dataclass(frozen=True)
class CatalogAsset:
    asset_id: str
    segments: int  # per rendition
    segment_s: Fraction
    last_s: Fraction  # the last segment's duration
    renditions: tuple[Rendition, ...]
    objects: tuple[IndexObject, ...]

    def segment_path(self, rendition: int, n: int) -> str:
        return f"/vod/{self.asset_id}/{LADDER[rendition][0]}/seg_{n:05d}.ts"

    def playlist_path(self, rendition: int) -> str:
        return f"/vod/{self.asset_id}/{LADDER[rendition][0]}/index.m3u8"

    def master_path(self) -> str:
        return f"/vod/{self.asset_id}/master.m3u8"


def catalog(seed: int = DEFAULT_SEED, assets: int = 200) -> list[CatalogAsset]:
    """`assets` VOD assets, 2-40 minutes long, 4 s or 6 s segments, a 5-rendition ladder."""
    rng = random.Random(f"catalog-{seed}")
    out = []
    for a in range(assets):
        asset_id = f"a{seed:02d}{a:04d}" + "".join(rng.choices("abcdefghijkmnopqrstuvwxyz", k=12))
        segment_s = rng.choice((Fraction(4), Fraction(6), Fraction(6), Fraction(6006, 1000)))
        segments = rng.randint(20, 400) if rng.random() < 0.8 else rng.randint(400, 600)
        last_s = Fraction(rng.randint(1, int(segment_s) * 1000), 1000)
        renditions = tuple(
            Rendition(f"{name}/index.m3u8", "video", w, h, bw) for name, w, h, bw in LADDER
        )
        cat = CatalogAsset(asset_id, segments, segment_s, last_s, renditions, ())
        objects = [IndexObject(cat.master_path(), asset_id, None, "manifest")]
        for r, rendition in enumerate(renditions):
            objects.append(
                IndexObject(cat.playlist_path(r), asset_id, rendition.rendition_id, "manifest")
            )
            for n in range(segments):
                duration = last_s if n == segments - 1 else segment_s
                objects.append(
                    IndexObject(
                        cat.segment_path(r, n), asset_id, rendition.rendition_id, "segment",
                        duration=duration, byte_length=_segment_bytes(r, duration),
                        media_sequence=n,
                    )
                )  # fmt: skip
        out.append(CatalogAsset(asset_id, segments, segment_s, last_s, renditions, tuple(objects)))
    return out


def _segment_bytes(rendition: int, duration: Fraction) -> int:
    """A TS segment's size: bandwidth x duration, with ~2% container overhead."""
    return int(LADDER[rendition][3] * duration / 8 * Fraction(102, 100))


def register(store: object, env_key: int, assets: list[CatalogAsset]) -> int:
    """Put the catalog's renditions and objects into the store's index; objects registered."""
    total = 0
    for asset in assets:
        total += store.register_index(  # type: ignore[attr-defined]
            env_key, asset.asset_id, list(asset.renditions), list(asset.objects)
        )
    return total


def _zipf_pick(rng: random.Random, weights: list[float]) -> int:
    return rng.choices(range(len(weights)), cum_weights=weights)[0]


def _encode_twice(text: str) -> str:
    """A value as a browser sends it (%20 for a space), then CloudFront's own '%' -> '%25'."""
    once = (
        text.replace("%", "%25").replace(" ", "%20").replace('"', "%22").replace(",", "%2C")
        .replace("=", "%3D")
    )  # fmt: skip
    return once.replace("%", "%25")


class _Writer:
    """Formats log rows; each row gets a fresh request id."""

    def __init__(self, out: IO[str], rng: random.Random) -> None:
        self.out, self.rng, self.lines = out, rng, 0
        self._stamp: tuple[int, str, str] = (-1, "", "")

    def row(
        self, t: float, edge: str, ip: str, ua: str, stem: str, status: int, sc_bytes: int,
        *, query: str = "-", result: str = "Hit", response_result: str | None = None,
        content_type: str = "video/MP2T", content_len: int | str = "-",
        range_start: int | str = "-", range_end: int | str = "-",
    ) -> None:  # fmt: skip
        second = int(t)
        if second != self._stamp[0]:
            moment = datetime.fromtimestamp(second, UTC)
            self._stamp = (second, moment.strftime("%Y-%m-%d"), moment.strftime("%H:%M:%S"))
        _, day, clock = self._stamp
        request_id = base64.urlsafe_b64encode(self.rng.randbytes(40)).decode()
        taken = f"{self.rng.uniform(0.001, 0.9):.3f}"
        detailed = result if response_result is None or result != "Error" else "ClientCommError"
        self.out.write(
            f"{day}\t{clock}\t{edge}\t{sc_bytes}\t{ip}\tGET\t{HOST}\t{stem}\t{status}\t-\t{ua}\t"
            f"{query}\t-\t{result}\t{request_id}\t{HOST}\thttps\t{self.rng.randint(80, 400)}\t"
            f"{taken}\t-\tTLSv1.3\tTLS_AES_128_GCM_SHA256\t{response_result or result}\t"
            f"HTTP/2.0\t-\t-\t{self.rng.randint(1024, 65535)}\t{taken}\t{detailed}\t"
            f"{content_type}\t{content_len}\t{range_start}\t{range_end}\n"
        )
        self.lines += 1


def _session(
    rng: random.Random, w: _Writer, asset: CatalogAsset, start: float, cmcd: bool
) -> Iterator[float]:
    """One viewer: writes its requests, yielding the time of its next one (heap order)."""
    ip = f"{rng.randint(1, 223)}.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}"
    ua = _encode_twice(rng.choice(USER_AGENTS))
    edge = rng.choice(EDGES)
    sid = "%08x-%04x-4%03x-a%03x-%012x" % (  # noqa: UP031
        rng.getrandbits(32), rng.getrandbits(16), rng.getrandbits(12), rng.getrandbits(12),
        rng.getrandbits(48),
    )  # fmt: skip
    t, buffered = start, 0.0

    def query(ot: str, br: int | None = None, d: int | None = None) -> str:
        if not cmcd:
            return "-"
        # as hls.js sends it: buffer length and measured throughput vary per request
        keys = [f"bl={int(min(buffered, 30) * 10) * 100}"] if br else []
        keys += ([f"br={br}"] if br else []) + ([f"d={d}"] if d else [])
        keys += [f"mtp={rng.randint(20, 400) * 100}"] if br else []
        keys += [f"ot={ot}", f'sid="{sid}"', "sf=h", "st=v"]
        return "CMCD=" + _encode_twice(",".join(keys))

    def playlist(stem: str, size: int, fresh: bool = True) -> None:
        status, sent = (200, size) if fresh or rng.random() < 0.5 else (304, 0)
        w.row(
            t, edge, ip, ua, stem, status, sent + 350, query=query("m"),
            result="RefreshHit" if status == 304 else "Hit",
            content_type="application/vnd.apple.mpegurl",
            content_len=size if status == 200 else "-",
        )  # fmt: skip

    playlist(asset.master_path(), 900)
    t += rng.uniform(0.05, 0.4)
    yield t
    r = rng.choice((1, 2, 2, 3))
    playlist(asset.playlist_path(r), 60 * asset.segments)
    t += rng.uniform(0.05, 0.3)
    yield t
    watched = asset.segments if rng.random() < 0.3 else rng.randint(1, asset.segments)
    for n in range(watched):
        if n and rng.random() < 0.06:  # ABR switch to a neighbouring rendition
            r = max(0, min(len(LADDER) - 1, r + rng.choice((-1, 1))))
            playlist(asset.playlist_path(r), 60 * asset.segments, fresh=False)
            t += rng.uniform(0.02, 0.2)
            yield t
        duration = asset.last_s if n == asset.segments - 1 else asset.segment_s
        size = _segment_bytes(r, duration)
        stem = asset.segment_path(r, n)
        q = query("v", LADDER[r][3] // 1000, int(duration * 1000))
        roll = rng.random()
        if roll < 0.02:  # the viewer went away mid-transfer
            w.row(
                t, edge, ip, ua, stem, 200, rng.randint(0, size) + 400, query=q,
                result="Error", response_result="Hit", content_len=size,
            )  # fmt: skip
            return
        if roll < 0.025:  # segment missing at the edge and origin
            w.row(t, edge, ip, ua, stem, 404, 520, query=q, result="Error",
                  content_type="text/html", content_len=190)  # fmt: skip
        elif roll < 0.06:  # fetched in two byte ranges
            cut = rng.randint(size // 4, 3 * size // 4)
            w.row(t, edge, ip, ua, stem, 206, cut + 420, query=q, content_len=cut,
                  range_start=0, range_end=cut - 1)  # fmt: skip
            t += rng.uniform(0.01, 0.1)
            yield t
            w.row(t, edge, ip, ua, stem, 206, size - cut + 420, query=q,
                  content_len=size - cut, range_start=cut, range_end=size - 1)  # fmt: skip
        else:
            result = "Hit" if rng.random() < 0.92 else "Miss"
            w.row(t, edge, ip, ua, stem, 200, size + 410, query=q, result=result,
                  content_len=size)  # fmt: skip
        if rng.random() < 0.002:
            w.row(t, edge, ip, ua, rng.choice(UNMAPPED), 404, 500, result="Error",
                  content_type="text/html", content_len=180)  # fmt: skip
        # a burst fills ~30 s of buffer, then real-time pace
        buffered += float(duration)
        t += rng.uniform(0.1, 0.6) if buffered < 30 else float(duration) * rng.uniform(0.9, 1.1)
        yield t


def write_log(path: Path, lines: int = DEFAULT_LINES, seed: int = DEFAULT_SEED) -> int:
    """Write `lines` log rows (one more if a byte-range pair straddles the end); rows written.

    The file is a time slice: viewers still playing at its end are cut off. `.gz`: gzipped.
    """
    assets = catalog(seed)
    rng = random.Random(seed)
    weights, total = [], 0.0
    for rank in range(1, len(assets) + 1):
        total += 1 / rank
        weights.append(total)
    # ~180 rows per session on average; start times spread over START_SPAN_S
    sessions = max(1, lines // 180)
    starts = sorted(START + rng.uniform(0, START_SPAN_S) for _ in range(sessions))
    opener = gzip.open if path.suffix == ".gz" else open
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    with opener(partial, "wt", encoding="utf-8", newline="\n") as out:  # type: ignore[operator]
        out.write(HEADER)
        w = _Writer(out, rng)
        heap: list[tuple[float, int, Iterator[float]]] = []
        next_start, key = 0, 0
        while w.lines < lines:
            if next_start < len(starts) and (not heap or starts[next_start] <= heap[0][0]):
                asset = assets[_zipf_pick(rng, weights)]
                viewer = _session(rng, w, asset, starts[next_start], rng.random() < 0.4)
                next_start += 1
            else:
                _, _, viewer = heapq.heappop(heap)
            when = next(viewer, None)
            if when is not None:
                key += 1
                heapq.heappush(heap, (when, key, viewer))
            if next_start == len(starts):
                starts.append(starts[-1] + rng.uniform(0, 2))  # more viewers, later
    partial.replace(path)
    return w.lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--lines", type=int, default=DEFAULT_LINES)
    parser.add_argument("--quick", action="store_true", help=f"{QUICK_LINES:,} lines")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    args = parser.parse_args(argv)
    lines = QUICK_LINES if args.quick else args.lines
    written = write_log(args.out, lines, args.seed)
    print(f"{args.out}: {written:,} log rows", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
