// monitoring.js — the monitoring page (monitoring.html), drawn from one call:
// GET /api/v1/monitoring?window=1h|24h|7d. Request volume by status class, error rate and
// latency percentiles per endpoint (percentiles are estimated by the server from fixed latency
// buckets), security events by type, requests by country, fetcher freshness and WebSocket
// clients. Needs nothing but a read key; refreshes every 30 s.
import { api, el, replace, setupPage, setStatus, num, pct, ms, when, ago, duration, table,
         showError, empty, badge, isNum } from "./common.js";
import { lineChart, barChart } from "./charts.js";

let current = "1h";
let timer = null;

function card(label, value, title) {
  return el("div", { class: "card", title: title || null },
            el("div", { class: "label" }, label), el("div", { class: "value" }, value));
}

function hbars(rows, labelOf, valueOf) {
  const max = Math.max(1, ...rows.map(valueOf));
  return el("div", { class: "bars" }, rows.map((r) => {
    const fill = el("div", { class: "fill" });
    fill.style.width = (100 * valueOf(r) / max).toFixed(1) + "%";
    return el("div", { class: "hbar" }, el("span", null, labelOf(r)),
              el("div", { class: "track" }, fill), el("span", { class: "n" }, num(valueOf(r))));
  }));
}

function render(d) {
  const t = d.totals;
  const errs = (t.status["5xx"] || 0);
  replace(document.getElementById("cards"),
    card("Requests", num(t.requests)),
    card("Server errors (5xx)", num(errs), pct(t.server_error_rate, 2) + " of requests"),
    card("Client errors (4xx)", num(t.status["4xx"] || 0), pct(t.client_error_rate, 2) + " of requests"),
    card("Latency p50", ms(t.latency_ms.p50)),
    card("Latency p95", ms(t.latency_ms.p95)),
    card("Latency p99", ms(t.latency_ms.p99)),
    card("Security events", num(Object.values(d.security.by_type).reduce((a, b) => a + b, 0))),
    card("Countries", num(d.countries.length)));

  const bucket = d.bucket_s * 1000;
  const since = Date.parse(d.since), until = Date.parse(d.until);
  const s = d.series.map((p) => Object.assign({ t: Date.parse(p.time) }, p));
  const col = (k) => s.map((p) => [p.t, p.status[k] || 0]);
  replace(document.getElementById("traffic"),
    barChart("Requests per " + duration(d.bucket_s), [
      { name: "2xx", cls: "s-good", points: col("2xx") },
      { name: "3xx", cls: "s-muted", points: col("3xx") },
      { name: "4xx", cls: "s-warn", points: col("4xx") },
      { name: "5xx", cls: "s-bad", points: col("5xx") },
    ], num, bucket, { t0: since, t1: until }),
    lineChart("Latency", [
      { name: "p50", cls: "s-good", points: s.map((p) => [p.t, p.latency_ms.p50]) },
      { name: "p95", cls: "s-warn", points: s.map((p) => [p.t, p.latency_ms.p95]) },
      { name: "p99", cls: "s-bad", points: s.map((p) => [p.t, p.latency_ms.p99]) },
    ], ms, { min: 0, t0: since, t1: until }),
    lineChart("Error rate (% of requests)", [
      { name: "5xx", cls: "s-bad", points: s.map((p) => [p.t, p.requests ? 100 * (p.status["5xx"] || 0) / p.requests : null]) },
      { name: "4xx", cls: "s-warn", points: s.map((p) => [p.t, p.requests ? 100 * (p.status["4xx"] || 0) / p.requests : null]) },
    ], (v) => pct(v), { min: 0, t0: since, t1: until }));

  replace(document.getElementById("endpoints"), !d.endpoints.length ? empty("No requests in this window.") : table([
    { label: "Endpoint", cls: "title", cell: (e) => [badge(e.method), " ", e.endpoint] },
    { label: "Requests", cls: "num", cell: (e) => num(e.requests) },
    { label: "5xx rate", cls: "num", cell: (e) => el("span", { class: e.server_error_rate > 0 ? "down" : null }, pct(e.server_error_rate, 2)) },
    { label: "4xx rate", cls: "num", cell: (e) => pct(e.client_error_rate, 2) },
    { label: "p50", cls: "num", cell: (e) => ms(e.latency_ms.p50) },
    { label: "p95", cls: "num", cell: (e) => ms(e.latency_ms.p95) },
    { label: "p99", cls: "num", cell: (e) => ms(e.latency_ms.p99) },
    { label: "Bytes", cls: "num", cell: (e) => num(e.bytes) },
  ], d.endpoints));

  const types = Object.entries(d.security.by_type).sort((a, b) => b[1] - a[1]);
  const sec = document.getElementById("security");
  replace(sec, !types.length ? empty("No security events in this window.") : [
    el("div", { class: "charts" },
      el("div", null, hbars(types, (r) => r[0], (r) => r[1])),
      barChart("Security events per " + duration(d.bucket_s),
               [{ name: "events", cls: "s-bad", points: d.security.series.map((p) => [Date.parse(p.time), p.count]) }],
               num, bucket, { t0: since, t1: until })),
    el("h3", null, "Most recent"),
    d.security.recent_requires_admin ? empty("The list of recent events (with client addresses) needs an admin key.") :
      table([
        { label: "When", cell: (e) => when(e.time) },
        { label: "Type", cell: (e) => e.type },
        { label: "Client", cell: (e) => e.client },
        { label: "Detail", cls: "title", cell: (e) => e.detail },
      ], d.security.recent),
  ]);

  replace(document.getElementById("countries"), !d.countries.length ? empty("No requests in this window.") :
    hbars(d.countries, (c) => c.country, (c) => c.requests));

  const f = d.fetcher, w = d.websocket;
  const lr = f.last_run;
  replace(document.getElementById("services"), el("dl", { class: "facts" },
    el("div", null, el("dt", null, "Last successful fetch"), el("dd", null, f.last_success ? ago(f.last_success) : "never")),
    el("div", null, el("dt", null, "Data lag"), el("dd", null, isNum(f.lag_s) ? duration(f.lag_s) : "\u2014")),
    el("div", null, el("dt", null, "Last run"), el("dd", null, lr ? "#" + lr.id + " " + lr.outcome : "none")),
    el("div", null, el("dt", null, "Records ingested (last run)"), el("dd", null, lr ? num(lr.markets + lr.trades + lr.orderbooks) : "\u2014")),
    el("div", null, el("dt", null, "Records skipped (last run)"), el("dd", null, lr ? num(lr.skipped) : "\u2014")),
    el("div", null, el("dt", null, "Runs in window (ok / partial / failed)"),
       el("dd", null, num(f.runs.ok) + " / " + num(f.runs.partial) + " / " + num(f.runs.failed))),
    el("div", null, el("dt", null, "WebSocket clients"), el("dd", null, w.reported_at ? num(w.connections) : "not running")),
    el("div", null, el("dt", null, "WebSocket messages sent"), el("dd", null, w.reported_at ? num(w.messages_sent) : "\u2014")),
    el("div", null, el("dt", null, "Alerts in window"),
       el("dd", null, num(Object.values(d.alerts.by_type).reduce((a, b) => a + b, 0))))));
}

async function load() {
  clearTimeout(timer);
  try {
    const res = await api("/api/v1/monitoring?window=" + current);
    render(res.data);
    setStatus("updated " + new Date().toLocaleTimeString(), "good");
  } catch (e) {
    showError(document.getElementById("cards"), e);
    setStatus("monitoring unavailable", "bad");
  }
  timer = setTimeout(load, 30000);
}

document.addEventListener("DOMContentLoaded", () => {
  setupPage("monitoring.html");
  const seg = document.getElementById("window");
  seg.addEventListener("click", (ev) => {
    const b = ev.target.closest("button");
    if (!b) return;
    for (const x of seg.querySelectorAll("button")) x.classList.toggle("active", x === b);
    current = b.dataset.window;
    load();
  });
  load();
});
