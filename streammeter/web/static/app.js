// streammeter dashboard (docs/dashboard.md): reads the JSON APIs with the signed-in token.
// No build step, no external requests; the one library, uPlot, is vendored under /ui/vendor/.
"use strict";

(() => {
  const TOKEN_KEY = "streammeter.token";
  // Stack order, bottom to top, and one colour per tier.
  const TIERS = ["2160p", "1440p", "1080p", "720p", "audio-only", "none"];
  const COLORS = {
    "2160p": "#6a3d9a", "1440p": "#1f78b4", "1080p": "#33a02c",
    "720p": "#ff7f00", "audio-only": "#e31a1c", none: "#9e9e9e",
  };
  const PAGE = 10000; // rows per /v1/usage page (the API's maximum)
  const TOP_ASSETS = 25;

  const $ = (selector) => document.querySelector(selector);
  const numberFormat = new Intl.NumberFormat("en-US", { maximumFractionDigits: 3 });
  const percentFormat = new Intl.NumberFormat("en-US", { maximumFractionDigits: 1 });

  let charts = [];
  let serverNow = null; // epoch seconds, from /v1/freshness (the service clock)

  // -- small helpers -------------------------------------------------------------------------
  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (name === "text") node.textContent = value;
      else if (name === "className") node.className = value;
      else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
      else node.setAttribute(name, value === true ? "" : String(value));
    }
    for (const child of children.flat()) {
      if (child === null || child === undefined || child === false) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  const seconds = (value) => `${numberFormat.format(value)} s`;
  const percent = (part, whole) => (whole > 0 ? `${percentFormat.format((100 * part) / whole)}%` : "–");

  function bytes(value) {
    const units = ["B", "kB", "MB", "GB", "TB", "PB"];
    let i = 0;
    let scaled = value;
    while (Math.abs(scaled) >= 1000 && i < units.length - 1) {
      scaled /= 1000;
      i += 1;
    }
    return i === 0 ? `${value} B` : `${scaled.toFixed(2)} ${units[i]}`;
  }

  function isoUtc(epochSeconds) {
    return new Date(epochSeconds * 1000).toISOString().replace(".000Z", "Z");
  }

  function when(iso) {
    return iso ? iso.replace("T", " ").replace("Z", " UTC") : "–";
  }

  function age(secondsAgo) {
    if (secondsAgo === null || secondsAgo === undefined) return "";
    const s = Math.max(0, Math.round(secondsAgo));
    if (s < 120) return `${s} s ago`;
    if (s < 7200) return `${Math.round(s / 60)} min ago`;
    if (s < 172800) return `${Math.round(s / 3600)} h ago`;
    return `${Math.round(s / 86400)} days ago`;
  }

  function assetHref(id) {
    return `#/asset/${encodeURIComponent(id)}`;
  }

  // -- token and API -------------------------------------------------------------------------
  class SignedOut extends Error {}

  function token() {
    return sessionStorage.getItem(TOKEN_KEY);
  }

  function basic(value) {
    const utf8 = new TextEncoder().encode(value);
    let binary = "";
    for (const b of utf8) binary += String.fromCharCode(b);
    return `Basic ${btoa(binary)}`;
  }

  async function api(path, params) {
    const current = token();
    if (!current) throw new SignedOut();
    const url = new URL(path, window.location.origin);
    for (const [name, value] of Object.entries(params || {})) {
      for (const item of Array.isArray(value) ? value : [value]) {
        if (item !== null && item !== undefined) url.searchParams.append(name, item);
      }
    }
    const response = await fetch(url, {
      headers: { Authorization: basic(current), Accept: "application/json" },
      cache: "no-store",
    });
    if (response.status === 401) {
      sessionStorage.removeItem(TOKEN_KEY);
      throw new SignedOut("The token was refused: sign in again.");
    }
    const body = await response.json().catch(() => null);
    if (!response.ok) {
      const messages = body && body.error ? body.error.messages.join("; ") : response.statusText;
      const error = new Error(`${path}: ${messages}`);
      error.status = response.status;
      throw error;
    }
    return body;
  }

  // Every row of a /v1/usage query (follows next_cursor).
  async function usage(params) {
    const rows = [];
    let cursor = null;
    for (let page = 0; page < 100; page += 1) {
      const body = await api("/v1/usage", { ...params, limit: PAGE, cursor, timezone: "UTC" });
      rows.push(...body.data);
      cursor = body.next_cursor;
      if (!cursor) break;
    }
    return rows;
  }

  // -- the window ----------------------------------------------------------------------------
  function currentWindow() {
    const hours = Number($("#range").value);
    const granularity = $("#granularity").value;
    const now = serverNow ?? Math.floor(Date.now() / 1000);
    const to = Math.ceil(now / 3600) * 3600;
    let from = to - hours * 3600;
    if (granularity === "day") from = Math.floor(from / 86400) * 86400;
    if (granularity === "month") {
      const d = new Date(from * 1000);
      from = Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), 1) / 1000;
    }
    return { from, to, granularity, fromIso: isoUtc(from), toIso: isoUtc(to) };
  }

  // Bucket starts (epoch seconds, UTC) of a window, so that empty buckets show as zero.
  function bucketStarts(win) {
    const starts = [];
    if (win.granularity === "month") {
      const d = new Date(win.from * 1000);
      let t = Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), 1);
      while (t / 1000 < win.to) {
        starts.push(t / 1000);
        const m = new Date(t);
        t = Date.UTC(m.getUTCFullYear(), m.getUTCMonth() + 1, 1);
      }
      return starts;
    }
    const step = win.granularity === "day" ? 86400 : 3600;
    for (let t = win.from; t < win.to; t += step) starts.push(t);
    return starts;
  }

  function bucketEpoch(row) {
    return Math.round(Date.parse(row.bucket_start) / 1000);
  }

  // -- charts --------------------------------------------------------------------------------
  function destroyCharts() {
    for (const chart of charts) chart.destroy();
    charts = [];
  }

  function chartWidth(container) {
    return Math.max(320, container.clientWidth - 8);
  }

  function shortNumber(value) {
    const abs = Math.abs(value);
    if (abs >= 1e9) return `${+(value / 1e9).toFixed(1)}G`;
    if (abs >= 1e6) return `${+(value / 1e6).toFixed(1)}M`;
    if (abs >= 1e3) return `${+(value / 1e3).toFixed(1)}k`;
    return `${+value.toFixed(2)}`;
  }

  function paths(count) {
    return count <= 62
      ? uPlot.paths.bars({ size: [0.8, 80], align: 1 })
      : uPlot.paths.stepped({ align: 1 });
  }

  // Delivered seconds per bucket, stacked by tier. `rows`: /v1/usage rows grouped by tier.
  function tierChart(container, rows, win) {
    const xs = bucketStarts(win);
    const index = new Map(xs.map((x, i) => [x, i]));
    const perTier = new Map();
    for (const row of rows) {
      const i = index.get(bucketEpoch(row));
      if (i === undefined) continue;
      if (!perTier.has(row.tier)) perTier.set(row.tier, new Array(xs.length).fill(0));
      perTier.get(row.tier)[i] += row.delivered_seconds;
    }
    const tiers = TIERS.filter((t) => perTier.has(t) && perTier.get(t).some((v) => v > 0));
    // Cumulative sums bottom-up; drawn top-down so each fill covers the one above it.
    const raw = [];
    const stacked = [];
    let running = new Array(xs.length).fill(0);
    for (const tier of tiers) {
      running = running.map((v, i) => v + perTier.get(tier)[i]);
      raw.push(perTier.get(tier));
      stacked.push(running);
    }
    const order = tiers.map((_, i) => i).reverse();
    const series = [{ label: "bucket (UTC)" }];
    for (const i of order) {
      series.push({
        label: tiers[i],
        stroke: COLORS[tiers[i]],
        fill: COLORS[tiers[i]],
        width: xs.length <= 62 ? 0 : 1, // bars: no outline, so empty buckets draw nothing
        paths: paths(xs.length),
        points: { show: false },
        value: (u, v, si, di) => (di === null || di === undefined ? "–" : seconds(raw[i][di])),
      });
    }
    const data = [xs, ...order.map((i) => stacked[i])];
    return plot(container, series, data, win, "delivered seconds");
  }

  // Viewing and egress bytes per bucket (not stacked).
  function bytesChart(container, rows, win) {
    const xs = bucketStarts(win);
    const index = new Map(xs.map((x, i) => [x, i]));
    const viewing = new Array(xs.length).fill(0);
    const egress = new Array(xs.length).fill(0);
    for (const row of rows) {
      const i = index.get(bucketEpoch(row));
      if (i === undefined) continue;
      viewing[i] += row.bytes;
      egress[i] += row.egress_bytes;
    }
    const series = [
      { label: "bucket (UTC)" },
      {
        label: "viewing bytes", stroke: "#1f78b4", fill: "rgba(31,120,180,0.15)", width: 2,
        paths: uPlot.paths.stepped({ align: 1 }), points: { show: false },
        value: (u, v) => (v === null ? "–" : bytes(v)),
      },
      {
        label: "egress bytes", stroke: "#d95f02", width: 2,
        paths: uPlot.paths.stepped({ align: 1 }), points: { show: false },
        value: (u, v) => (v === null ? "–" : bytes(v)),
      },
    ];
    return plot(container, series, [xs, viewing, egress], win, "bytes");
  }

  function plot(container, series, data, win, unit) {
    container.replaceChildren();
    const options = {
      width: chartWidth(container),
      height: 260,
      series,
      tzDate: (ts) => uPlot.tzDate(new Date(ts * 1000), "Etc/UTC"),
      scales: { x: { time: true, range: () => [win.from, win.to] }, y: { range: (u, lo, hi) => [0, hi > 0 ? hi * 1.05 : 1] } },
      axes: [{}, { label: unit, size: 60, values: (u, splits) => splits.map(shortNumber) }],
      legend: { live: true },
      cursor: { points: { show: false } },
    };
    const chart = new uPlot(options, data, container);
    charts.push(chart);
    return chart;
  }

  window.addEventListener("resize", () => {
    for (const chart of charts) {
      chart.setSize({ width: chartWidth(chart.root.parentElement), height: 260 });
    }
  });

  // -- panels --------------------------------------------------------------------------------
  function tile(id, label, text, value, title) {
    return el("div", { className: "tile" },
      el("div", { className: "tile-label", text: label }),
      el("div", { className: "tile-value", id, "data-value": value, title, text }));
  }

  function totalsTiles(total) {
    const t = total || { delivered_seconds: 0, bytes: 0, egress_seconds: 0, egress_bytes: 0, requests: 0 };
    return el("div", { className: "tiles" },
      tile("total-seconds", "delivered seconds", seconds(t.delivered_seconds), t.delivered_seconds),
      tile("total-bytes", "viewing bytes", bytes(t.bytes), t.bytes, `${t.bytes} bytes`),
      tile("total-egress-seconds", "egress seconds", seconds(t.egress_seconds), t.egress_seconds),
      tile("total-egress-bytes", "egress bytes", bytes(t.egress_bytes), t.egress_bytes, `${t.egress_bytes} bytes`),
      tile("total-requests", "records", numberFormat.format(t.requests), t.requests),
      tile("total-status", "status", total ? total.status : "no data", total ? total.status : ""));
  }

  function card(title, id, ...children) {
    return el("section", { className: "card", id }, el("h2", { text: title }), ...children);
  }

  function table(id, headers, rows) {
    return el("table", { id },
      el("thead", {}, el("tr", {}, headers.map((h) => el("th", { text: h })))),
      el("tbody", {}, rows));
  }

  function topAssetsCard(rows, total) {
    const assets = rows
      .filter((r) => r.delivered_seconds > 0 || r.bytes > 0 || r.egress_bytes > 0)
      .sort((a, b) => b.delivered_seconds - a.delivered_seconds
        || b.bytes - a.bytes || String(a.asset_id).localeCompare(String(b.asset_id)));
    const whole = total ? total.delivered_seconds : 0;
    const body = assets.slice(0, TOP_ASSETS).map((r, i) => {
      const share = whole > 0 ? r.delivered_seconds / whole : 0;
      const name = r.asset_id === null
        ? el("span", { className: "muted", text: "(no asset: unmapped bytes)" })
        : el("a", { href: assetHref(r.asset_id), className: "asset-link", text: r.asset_id });
      return el("tr", { "data-asset": r.asset_id ?? "" },
        el("td", { className: "num", text: i + 1 }),
        el("td", {}, name),
        el("td", { className: "num seconds", "data-value": r.delivered_seconds, text: seconds(r.delivered_seconds) }),
        el("td", { className: "share", "data-value": share },
          el("span", { className: "bar" }, el("span", { className: "fill", style: `width:${(100 * share).toFixed(1)}%` })),
          el("span", { className: "share-text", text: percent(r.delivered_seconds, whole) })),
        el("td", { className: "num bytes", "data-value": r.bytes, title: `${r.bytes} bytes`, text: bytes(r.bytes) }),
        el("td", { className: "num egress", "data-value": r.egress_bytes, title: `${r.egress_bytes} bytes`, text: bytes(r.egress_bytes) }),
        el("td", { className: `status ${r.status}`, text: r.status }));
    });
    const note = assets.length > TOP_ASSETS
      ? el("p", { className: "muted", text: `Top ${TOP_ASSETS} of ${assets.length} assets by delivered seconds.` })
      : el("p", { className: "muted", text: `${assets.length} asset${assets.length === 1 ? "" : "s"} with usage in the window. Click one for its page.` });
    return card("Top assets", "top-assets-card",
      table("top-assets", ["#", "asset", "delivered", "share", "viewing bytes", "egress bytes", "status"], body),
      note);
  }

  function freshnessCard(fresh) {
    const rows = fresh.sources.map((s) => el("tr", { "data-source": `${s.source}/${s.format}` },
      el("td", { text: s.source }),
      el("td", { text: s.format }),
      el("td", { className: "last-import", title: s.last_name },
        when(s.last_import_at), el("span", { className: "muted", text: ` (${age(s.last_import_age_seconds)})` })),
      el("td", { className: "newest-record" },
        when(s.newest_record_at), el("span", { className: "muted", text: s.newest_record_at ? ` (${age(s.newest_record_age_seconds)})` : "" })),
      el("td", { className: "num", text: s.imports }),
      el("td", { className: "num", text: s.accepted }),
      el("td", { className: `num${s.rejected ? " warn" : ""}`, text: s.rejected })));
    const p = fresh.provisional;
    const provisional = el("p", { id: "provisional", "data-hours": p.hours },
      p.hours
        ? `${p.hours} hour${p.hours === 1 ? "" : "s"} with data still provisional (oldest ${when(p.oldest_hour)}, newest ${when(p.newest_hour)}). `
        : "No hour with data is provisional. ",
      el("span", { className: "muted",
        text: `Hours before ${when(p.final_before)} are final (settle after ${fresh.settle_after_hours} h). Service clock: ${when(fresh.now)}.` }));
    return card("Freshness", "freshness-card",
      table("freshness", ["source", "format", "last import", "newest record", "imports", "accepted", "rejected"], rows),
      fresh.sources.length ? null : el("p", { className: "muted", text: "Nothing imported yet." }),
      provisional);
  }

  function receiptsCard(receipts) {
    const rows = receipts.map((r) => el("tr", { "data-receipt": r.receipt_id },
      el("td", {}, el("a", { href: `#/receipt/${encodeURIComponent(r.receipt_id)}`, text: r.receipt_id })),
      el("td", { text: when(isoUtc(r.imported_at)) }),
      el("td", { className: "name", title: r.name, text: r.name }),
      el("td", { text: `${r.source}/${r.format}` }),
      el("td", { className: "num", text: r.accepted }),
      el("td", { className: "num", text: r.duplicate }),
      el("td", { className: `num rejected${r.rejected ? " warn" : ""}`, text: r.rejected })));
    return card("Receipts", "receipts-card",
      table("receipts", ["receipt", "imported", "name", "source", "accepted", "duplicate", "quarantined"], rows),
      el("p", { className: "muted", text: "Newest first. Open a receipt for its quarantined lines and why." }));
  }

  // -- views ---------------------------------------------------------------------------------
  function showError(error) {
    const box = $("#error");
    box.textContent = error.message || String(error);
    box.hidden = false;
  }

  async function overview(view) {
    const fresh = (await api("/v1/freshness")).data;
    serverNow = Math.floor(Date.parse(fresh.now) / 1000);
    const win = currentWindow();
    setWindowLabel(win);
    const base = { from: win.fromIso, to: win.toIso };
    const [byTier, perBucket, totals, byAsset, receipts] = await Promise.all([
      usage({ ...base, granularity: win.granularity, group_by: "tier" }),
      usage({ ...base, granularity: win.granularity }),
      usage({ ...base, granularity: "total" }),
      usage({ ...base, granularity: "total", group_by: "asset" }),
      api("/v1/receipts", { limit: 50 }),
    ]);
    const total = totals[0] || null;
    const tierBox = el("div", { className: "chart", id: "tier-chart" });
    const bytesBox = el("div", { className: "chart", id: "bytes-chart" });
    view.replaceChildren(
      totalsTiles(total),
      card("Delivered seconds by tier", "tiers-card", tierBox),
      topAssetsCard(byAsset, total),
      card("Viewing and egress bytes", "bytes-card", bytesBox),
      freshnessCard(fresh),
      receiptsCard(receipts.data));
    tierChart(tierBox, byTier, win);
    bytesChart(bytesBox, perBucket, win);
    return "overview";
  }

  async function assetPage(view, assetId) {
    if (serverNow === null) serverNow = Math.floor(Date.parse((await api("/v1/freshness")).data.now) / 1000);
    const win = currentWindow();
    setWindowLabel(win);
    const base = { from: win.fromIso, to: win.toIso, asset_id: assetId };
    const catalog = api(`/v1/assets/${encodeURIComponent(assetId)}`).then(
      (body) => body.data,
      (error) => { if (error.status === 404) return null; throw error; });
    const [asset, byTier, perBucket, tierTotals, totals] = await Promise.all([
      catalog,
      usage({ ...base, granularity: win.granularity, group_by: "tier" }),
      usage({ ...base, granularity: win.granularity }),
      usage({ ...base, granularity: "total", group_by: "tier" }),
      usage({ ...base, granularity: "total" }),
    ]);
    const total = totals[0] || null;
    const whole = total ? total.delivered_seconds : 0;
    const fields = asset
      ? ["asset_state", "asset_resolution_tier", "asset_duration", "live_stream_id", "created_at", "deleted_at"]
        .filter((k) => asset[k] !== undefined && asset[k] !== null)
        .map((k) => el("div", {}, el("dt", { text: k }),
          el("dd", { text: k.endsWith("_at") ? when(isoUtc(asset[k])) : asset[k] })))
      : [el("p", { className: "muted", text: "Not in the catalog: its seconds count under tier none." })];
    const tierRows = TIERS.flatMap((tier) => tierTotals.filter((r) => r.tier === tier)).map((r) =>
      el("tr", { "data-tier": r.tier },
        el("td", {}, el("span", { className: "swatch", style: `background:${COLORS[r.tier]}` }), r.tier),
        el("td", { className: "num seconds", "data-value": r.delivered_seconds, text: seconds(r.delivered_seconds) }),
        el("td", { className: "num share", text: percent(r.delivered_seconds, whole) }),
        el("td", { className: "num bytes", "data-value": r.bytes, title: `${r.bytes} bytes`, text: bytes(r.bytes) }),
        el("td", { className: "num egress", "data-value": r.egress_bytes, title: `${r.egress_bytes} bytes`, text: bytes(r.egress_bytes) })));
    const tierBox = el("div", { className: "chart", id: "asset-chart" });
    const bytesBox = el("div", { className: "chart", id: "asset-bytes-chart" });
    view.replaceChildren(
      el("p", {}, el("a", { href: "#/", text: "← overview" })),
      el("h1", { id: "asset-title", text: assetId }),
      el("dl", { className: "fields", id: "asset-fields" }, fields),
      totalsTiles(total),
      card(`Delivered seconds by tier (${win.granularity})`, "asset-chart-card", tierBox),
      card("Tiers", "asset-tiers-card",
        table("asset-tiers", ["tier", "delivered", "share", "viewing bytes", "egress bytes"], tierRows),
        el("p", { className: "muted", text: "Egress (origin pulls) has no tier: it is listed under none." })),
      card("Viewing and egress bytes", "asset-bytes-card", bytesBox));
    tierChart(tierBox, byTier, win);
    bytesChart(bytesBox, perBucket, win);
    return `asset:${assetId}`;
  }

  async function receiptPage(view, receiptId) {
    const r = (await api(`/v1/receipts/${encodeURIComponent(receiptId)}`)).data;
    const facts = [
      ["name", r.name], ["source", `${r.source}/${r.format}`], ["imported", when(isoUtc(r.imported_at))],
      ["lines read", r.lines_read], ["accepted", r.accepted], ["duplicate", r.duplicate],
      ["quarantined", r.rejected], ["content sha256", r.content_sha256], ["bytes measure", r.bytes_measure],
    ];
    const notes = Object.entries(r.notes || {});
    const lines = r.quarantine.map((q) => el("tr", { "data-line": q.line },
      el("td", { className: "num", text: q.line }),
      el("td", { className: "reason", text: q.reason }),
      el("td", {}, el("code", { className: "raw", text: q.raw }))));
    view.replaceChildren(
      el("p", {}, el("a", { href: "#/", text: "← overview" })),
      el("h1", { id: "receipt-title", text: r.receipt_id }),
      el("dl", { className: "fields" }, facts.map(([k, v]) => el("div", {}, el("dt", { text: k }), el("dd", { text: v })))),
      notes.length ? card("Notes", "receipt-notes", el("ul", {}, notes.map(([k, v]) => el("li", { text: `${k}: ${v}` })))) : null,
      card("Quarantined lines", "quarantine-card",
        lines.length ? table("quarantine", ["line", "reason", "raw"], lines)
          : el("p", { className: "muted", text: "No line was quarantined." })));
    return `receipt:${receiptId}`;
  }

  function setWindowLabel(win) {
    $("#window-label").textContent = `${when(win.fromIso)} → ${when(win.toIso)}`;
  }

  // -- routing and sign-in -------------------------------------------------------------------
  let rendering = 0;

  async function render() {
    const ticket = ++rendering;
    destroyCharts();
    document.body.dataset.ready = "";
    $("#error").hidden = true;
    const signedIn = Boolean(token());
    $("#signin").hidden = signedIn;
    $("#nav").hidden = !signedIn;
    const view = $("#view");
    if (!signedIn) {
      view.replaceChildren();
      document.body.dataset.ready = "signin";
      $("#token-id").focus();
      return;
    }
    view.replaceChildren(el("p", { className: "muted", text: "Loading…" }));
    const hash = window.location.hash.replace(/^#/, "") || "/";
    try {
      let ready;
      const asset = hash.match(/^\/asset\/(.+)$/);
      const receipt = hash.match(/^\/receipt\/(.+)$/);
      if (asset) ready = await assetPage(view, decodeURIComponent(asset[1]));
      else if (receipt) ready = await receiptPage(view, decodeURIComponent(receipt[1]));
      else ready = await overview(view);
      if (ticket === rendering) document.body.dataset.ready = ready;
    } catch (error) {
      if (ticket !== rendering) return;
      if (error instanceof SignedOut) {
        $("#signin-error").textContent = error.message || "";
        return render();
      }
      view.replaceChildren();
      showError(error);
      document.body.dataset.ready = "error";
    }
  }

  async function signIn(event) {
    event.preventDefault();
    const id = $("#token-id").value.trim();
    const secret = $("#token-secret").value.trim();
    sessionStorage.setItem(TOKEN_KEY, `${id}:${secret}`);
    $("#signin-error").textContent = "";
    $("#token-secret").value = "";
    try {
      await api("/v1/freshness");
    } catch (error) {
      sessionStorage.removeItem(TOKEN_KEY);
      $("#signin-error").textContent = error instanceof SignedOut
        ? "This token was refused." : (error.message || String(error));
      document.body.dataset.ready = "signin";
      return;
    }
    render();
  }

  function signOut() {
    sessionStorage.removeItem(TOKEN_KEY);
    serverNow = null;
    render();
  }

  document.addEventListener("DOMContentLoaded", () => {
    $("#signin-form").addEventListener("submit", signIn);
    $("#signout").addEventListener("click", signOut);
    $("#range").addEventListener("change", render);
    $("#granularity").addEventListener("change", render);
    window.addEventListener("hashchange", render);
    render();
  });
})();
