"""The dashboard in headless Chromium (Debian's `chromium`, driven by Playwright for Python).

Signs in with a real token against the real server, checks the numbers on the page against
hand-known data (tests/test_dashboard.py `seed`), opens a receipt's quarantined lines, clicks
an asset and checks its page, and takes screenshots whose chart regions must hold the tier
colours. Nothing may be requested from outside the service.

Fails (does not skip) when Chromium or Playwright is missing, unless STREAMMETER_SKIP_BROWSER=1.
`playwright install` is never needed: the system browser is used.
"""

from __future__ import annotations

import os
import shutil
import struct
import zlib
from pathlib import Path

import pytest

from tests.conftest import LiveServer
from tests.test_dashboard import NOW, seed

CHROMIUM = os.environ.get("STREAMMETER_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-dev-shm-usage",
]  # fmt: skip
TIER_RGB = {"1080p": (0x33, 0xA0, 0x2C), "720p": (0xFF, 0x7F, 0x00)}  # app.js COLORS


def _browser_or_fail():
    if os.environ.get("STREAMMETER_SKIP_BROWSER") == "1":
        pytest.skip("STREAMMETER_SKIP_BROWSER=1")
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} not found: apt-get install chromium (scripts/test.sh does)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail("playwright is not installed: pip install -e '.[test]'")
    return sync_playwright


# -- a small PNG reader (8-bit RGB/RGBA, not interlaced: what Chromium writes) ----------------
def read_png(data: bytes) -> tuple[int, int, int, list[bytes]]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, header = 8, b"", None
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    width, height, depth, colour, _, _, interlace = header
    assert depth == 8 and colour in (2, 6) and interlace == 0, header
    channels = 3 if colour == 2 else 4
    raw, stride = zlib.decompress(idat), width * channels
    rows, previous = [], bytearray(stride)
    for y in range(height):
        kind, line = (
            raw[y * (stride + 1)],
            bytearray(raw[y * (stride + 1) + 1 : (y + 1) * (stride + 1)]),
        )
        for x in range(stride):
            left = line[x - channels] if x >= channels else 0
            up, corner = previous[x], previous[x - channels] if x >= channels else 0
            if kind == 1:
                line[x] = (line[x] + left) & 0xFF
            elif kind == 2:
                line[x] = (line[x] + up) & 0xFF
            elif kind == 3:
                line[x] = (line[x] + (left + up) // 2) & 0xFF
            elif kind == 4:
                p = left + up - corner
                pa, pb, pc = abs(p - left), abs(p - up), abs(p - corner)
                pred = left if pa <= pb and pa <= pc else up if pb <= pc else corner
                line[x] = (line[x] + pred) & 0xFF
        rows.append(bytes(line))
        previous = line
    return width, height, channels, rows


def count_colour(png: bytes, box: dict, rgb: tuple[int, int, int], tolerance: int = 24) -> int:
    """Pixels close to `rgb` inside `box` (CSS pixels, device scale 1) of a screenshot."""
    width, height, channels, rows = read_png(png)
    x0, y0 = max(0, int(box["x"])), max(0, int(box["y"]))
    x1, y1 = min(width, int(box["x"] + box["width"])), min(height, int(box["y"] + box["height"]))
    found = 0
    for y in range(y0, y1):
        row = rows[y]
        for x in range(x0, x1):
            pixel = row[x * channels : x * channels + 3]
            if all(abs(have - want) <= tolerance for have, want in zip(pixel, rgb, strict=True)):
                found += 1
    return found


def test_read_png_decodes_a_known_image():
    # 2x1 RGB: red, green; filter 1 (sub) on the only row.
    raw = b"\x01" + bytes([255, 0, 0, (0 - 255) & 0xFF, 255, 0])
    ihdr = struct.pack(">IIBBBBB", 2, 1, 8, 2, 0, 0, 0)

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
        )

    png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(raw))
    png += chunk(b"IEND", b"")
    assert read_png(png)[3] == [bytes([255, 0, 0, 0, 255, 0])]
    assert count_colour(png, {"x": 0, "y": 0, "width": 2, "height": 1}, (0, 255, 0)) == 1


def test_dashboard_in_chromium(tmp_path, store, tenant, monkeypatch):
    sync_playwright = _browser_or_fail()
    monkeypatch.setenv("STREAMMETER_NOW", NOW)
    monkeypatch.delenv("STREAMMETER_SETTLE_AFTER_HOURS", raising=False)
    receipts = seed(store, tenant, tmp_path)
    shots = Path(os.environ.get("STREAMMETER_SCREENSHOTS") or tmp_path)
    shots.mkdir(parents=True, exist_ok=True)

    with LiveServer(store) as server, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        try:
            context = browser.new_context(
                viewport={"width": 1280, "height": 900}, device_scale_factor=1,
                locale="en-US", timezone_id="UTC",
            )  # fmt: skip
            outside, problems = [], []

            def guard(route):  # the page must work offline: refuse and remember the rest
                if route.request.url.startswith((server.url + "/", "data:")):
                    route.continue_()
                else:
                    outside.append(route.request.url)
                    route.abort()

            context.route("**/*", guard)
            page = context.new_page()
            page.on("pageerror", lambda exc: problems.append(f"pageerror: {exc}"))
            page.on(
                "console",
                lambda msg: (
                    problems.append(f"console: {msg.text}") if msg.type == "error" else None
                ),
            )
            page.set_default_timeout(20_000)

            # -- sign in: a wrong secret is refused, the real token works -------------------
            page.goto(server.url + "/")
            page.wait_for_selector("body[data-ready=signin]")
            token_id, secret = tenant.read
            page.fill("#token-id", token_id)
            page.fill("#token-secret", "not-the-secret")
            page.click("#signin-form button[type=submit]")
            page.locator("#signin-error", has_text="refused").wait_for()
            problems.clear()  # the browser logs the refused request (401) as a console error
            page.fill("#token-secret", secret)
            page.click("#signin-form button[type=submit]")
            page.wait_for_selector("body[data-ready=overview]")
            assert page.evaluate("sessionStorage.getItem('streammeter.token')") == (
                f"{token_id}:{secret}"
            )

            # -- overview: totals, top assets with shares, freshness, receipts ---------------
            def value(selector: str) -> str:
                return page.get_attribute(selector, "data-value")

            assert page.inner_text("#total-seconds") == "20 s"
            assert float(value("#total-seconds")) == 20
            assert int(value("#total-bytes")) == 4_500_000
            assert page.inner_text("#total-bytes") == "4.50 MB"
            assert int(value("#total-egress-bytes")) == 2_000_000
            assert float(value("#total-egress-seconds")) == 6
            top = page.eval_on_selector_all(
                "#top-assets tbody tr",
                "rows => rows.map(r => [r.dataset.asset, r.querySelector('.seconds').textContent,"
                " r.querySelector('.share-text').textContent,"
                " Number(r.querySelector('.bytes').dataset.value),"
                " Number(r.querySelector('.egress').dataset.value)])",
            )
            assert top == [
                ["alpha", "16 s", "80%", 3_500_000, 2_000_000],
                ["beta", "4 s", "20%", 1_000_000, 0],
            ]
            legend = page.inner_text("#tier-chart .u-legend")
            assert "1080p" in legend and "720p" in legend
            assert "2160p" not in legend and "none" not in legend  # tiers with seconds only
            freshness = page.inner_text("#freshness")
            assert "file" in freshness and "batch" in freshness
            assert "2026-11-21 12:00:00 UTC" in page.inner_text("#freshness .last-import")
            assert page.get_attribute("#provisional", "data-hours") == "2"
            assert "oldest 2026-11-20 15:00:00 UTC" in page.inner_text("#provisional")
            views_row = f"#receipts tr[data-receipt='{receipts['views']}']"
            assert page.inner_text(f"{views_row} .rejected") == "1"

            for chart in ("#tier-chart canvas", "#bytes-chart canvas"):
                box = page.locator(chart).bounding_box()
                assert box and box["width"] > 300 and box["height"] > 150, chart
            overview_png = page.screenshot(
                path=str(shots / "dashboard-overview.png"), full_page=True
            )
            box = page.locator("#tier-chart canvas").bounding_box()
            box["y"] += page.evaluate("window.scrollY")
            for tier, rgb in TIER_RGB.items():
                assert count_colour(overview_png, box, rgb) > 200, f"no {tier} area in the chart"

            # -- a receipt's quarantined lines ------------------------------------------------
            page.click(f"{views_row} a")
            page.wait_for_selector(f"body[data-ready='receipt:{receipts['views']}']")
            lines = page.eval_on_selector_all(
                "#quarantine tbody tr",
                "rows => rows.map(r => [r.dataset.line, r.querySelector('.reason').textContent])",
            )
            assert len(lines) == 1 and lines[0][0] == "5", lines
            assert "timestamp" in lines[0][1] and "soon" in lines[0][1]
            assert '"soon"' in page.inner_text("#quarantine code.raw")

            # -- drill down: back to the overview, click an asset ---------------------------
            page.go_back()
            page.wait_for_selector("body[data-ready=overview]")
            page.click("#top-assets tr[data-asset=alpha] a.asset-link")
            page.wait_for_selector("body[data-ready='asset:alpha']")
            assert page.url.endswith("#/asset/alpha")
            assert page.inner_text("#asset-title") == "alpha"
            assert "ready" in page.inner_text("#asset-fields")
            assert page.inner_text("#total-seconds") == "16 s"
            tiers = page.eval_on_selector_all(
                "#asset-tiers tbody tr",
                "rows => rows.map(r => [r.dataset.tier, r.querySelector('.seconds').textContent,"
                " r.querySelector('.share').textContent,"
                " Number(r.querySelector('.egress').dataset.value)])",
            )
            # Egress is not tiered: it lands under tier none (with no delivered seconds).
            assert tiers == [
                ["1080p", "12 s", "75%", 0],
                ["720p", "4 s", "25%", 0],
                ["none", "0 s", "0%", 2_000_000],
            ]
            assert "none" not in page.inner_text("#asset-chart .u-legend")
            asset_png = page.screenshot(path=str(shots / "dashboard-asset.png"), full_page=True)
            box = page.locator("#asset-chart canvas").bounding_box()
            assert box and box["width"] > 300 and box["height"] > 150
            box["y"] += page.evaluate("window.scrollY")
            for tier, rgb in TIER_RGB.items():
                assert count_colour(asset_png, box, rgb) > 100, f"no {tier} area on the asset page"

            # -- daily buckets: the same totals, one bar per day ------------------------------
            page.select_option("#granularity", "day")
            page.wait_for_selector("body[data-ready='asset:alpha']")
            assert page.inner_text("#total-seconds") == "16 s"

            # -- sign out forgets the token --------------------------------------------------
            page.click("#signout")
            page.wait_for_selector("body[data-ready=signin]")
            assert page.evaluate("sessionStorage.getItem('streammeter.token')") is None

            assert outside == [], f"requests outside the service: {outside}"
            assert problems == [], problems
        finally:
            browser.close()
