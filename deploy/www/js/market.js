// market.js — one market (market.html?ticker=...): /api/v1/markets/{ticker} for the market, its
// order-book summary, last trades and alerts; /api/v1/markets/{ticker}/history for the charts.
// The volume chart shows how many contracts traded between consecutive snapshots: the
// difference of the API's cumulative volume_contracts, so it is as real as the snapshots.
import { api, el, replace, setupPage, setStatus, usd, usdCompact, contracts, cents, signedCents,
         num, pct, when, ago, alertLabel, badge, empty, table, showError, isNum } from "./common.js";
import { lineChart, barChart } from "./charts.js";

const ticker = new URLSearchParams(location.search).get("ticker") || "";
const path = "/api/v1/markets/" + encodeURIComponent(ticker);

function fact(label, value) {
  return el("div", null, el("dt", null, label), el("dd", null, value));
}

function renderMarket(m) {
  document.title = (m.title || m.ticker) + " · KalshiWhale";
  replace(document.getElementById("m-title"), m.title || m.ticker);
  replace(document.getElementById("m-sub"), m.ticker, m.category ? " · " + m.category : "",
          m.status ? " · " + m.status : "", m.close_time ? " · closes " + when(m.close_time) : "");
  replace(document.getElementById("m-facts"),
    fact("Last price (yes)", cents(m.last_price)),
    fact("Change", signedCents(m.price_change)),
    fact("Yes bid / ask", cents(m.yes_bid) + " / " + cents(m.yes_ask)),
    fact("No bid / ask", cents(m.no_bid) + " / " + cents(m.no_ask)),
    fact("24 h volume", contracts(m.volume_24h_contracts)),
    fact("24 h traded", usdCompact(m.volume_24h_usd)),
    fact("Trades, 24 h", num(m.trades_24h)),
    fact("Open interest", contracts(m.open_interest_contracts)),
    fact("Updated", ago(m.updated_at)));

  const b = m.orderbook;
  replace(document.getElementById("book"), !b ? empty("No order book stored for this market (only the most active markets are watched).") :
    el("dl", { class: "facts" },
      fact("YES bid depth", contracts(b.yes_depth_contracts)),
      fact("NO bid depth", contracts(b.no_depth_contracts)),
      fact("YES share of depth", pct(b.yes_share_percent)),
      fact("Best YES bid", cents(b.best_yes_bid)),
      fact("Best NO bid", cents(b.best_no_bid)),
      fact("Levels (yes / no)", num(b.yes_levels) + " / " + num(b.no_levels)),
      fact("Taken", ago(b.taken_at))));

  const trades = m.recent_trades || [];
  replace(document.getElementById("trades"), !trades.length ? empty("No trades stored for this market.") : table([
    { label: "When", cell: (t) => when(t.created_time) },
    { label: "Side", cell: (t) => badge((t.taker_side || "").toUpperCase(), t.taker_side) },
    { label: "Contracts", cls: "num", cell: (t) => contracts(t.count_contracts) },
    { label: "Price", cls: "num", cell: (t) => cents(t.price) },
    { label: "Premium", cls: "num", cell: (t) => usd(t.notional_usd) },
  ], trades));

  const alerts = m.recent_alerts || [];
  replace(document.getElementById("alerts"), !alerts.length ? empty("No alerts for this market.") : table([
    { label: "When", cell: (a) => when(a.timestamp) },
    { label: "Signal", cell: (a) => alertLabel(a) },
    { label: "Severity", cell: (a) => badge(a.severity, a.severity) },
    { label: "What happened", cls: "title", cell: (a) => a.description },
  ], alerts));
}

async function loadHistory(hours) {
  const box = document.getElementById("charts");
  const to = new Date();
  const from = new Date(to.getTime() - hours * 3600000);
  const iso = (d) => d.toISOString().replace(/\.\d{3}Z$/, "Z");
  const interval = hours <= 24 ? "raw" : hours <= 168 ? "15m" : "1h";
  const q = new URLSearchParams({ from: iso(from), to: iso(to), interval });
  try {
    const res = await api(path + "/history?" + q.toString());
    const pts = res.data.map((p) => Object.assign({ t: Date.parse(p.time) }, p));
    const price = lineChart("Yes price (¢)", [
      { name: "Last", cls: "", points: pts.map((p) => [p.t, isNum(p.last_price) ? p.last_price : null]) },
      { name: "Bid", cls: "s-good", points: pts.map((p) => [p.t, isNum(p.yes_bid) ? p.yes_bid : null]) },
      { name: "Ask", cls: "s-bad", points: pts.map((p) => [p.t, isNum(p.yes_ask) ? p.yes_ask : null]) },
    ], cents, { t0: from.getTime(), t1: to.getTime() });
    const vol = [];
    for (let i = 1; i < pts.length; i++) {
      const a = pts[i - 1].volume_contracts, b = pts[i].volume_contracts;
      vol.push([pts[i - 1].t, isNum(a) && isNum(b) && b >= a ? b - a : null]);
    }
    const bucket = vol.length > 1 ? Math.max(60000, (pts[pts.length - 1].t - pts[0].t) / vol.length) : 3600000;
    const volume = vol.length ? barChart("Contracts traded between snapshots",
                                         [{ name: "Contracts", cls: "s-violet", points: vol }], num, bucket,
                                         { t0: from.getTime(), t1: to.getTime() })
      : el("figure", { class: "chart-box" }, el("figcaption", null, "Contracts traded between snapshots"),
           empty("Two snapshots are needed for a volume bar."));
    const oi = lineChart("Open interest (contracts)", [
      { name: "Open interest", cls: "s-warn", points: pts.map((p) => [p.t, isNum(p.open_interest_contracts) ? p.open_interest_contracts : null]) },
    ], num, { t0: from.getTime(), t1: to.getTime() });
    replace(box, price, volume, oi);
  } catch (e) {
    showError(box, e);
  }
}

document.addEventListener("DOMContentLoaded", async () => {
  setupPage("");
  if (!ticker) {
    replace(document.getElementById("m-title"), "No market chosen");
    replace(document.getElementById("m-sub"), "Pick one from Top markets.");
    return;
  }
  const range = document.getElementById("range");
  range.addEventListener("click", (ev) => {
    const b = ev.target.closest("button");
    if (!b) return;
    for (const x of range.querySelectorAll("button")) x.classList.toggle("active", x === b);
    loadHistory(Number(b.dataset.hours));
  });
  try {
    const res = await api(path);
    renderMarket(res.data);
    if (res.meta && isNum(res.meta.source_lag_s)) setStatus("data " + Math.round(res.meta.source_lag_s) + " s old", "good");
  } catch (e) {
    showError(document.getElementById("m-sub"), e);
    if (e.status === 404) replace(document.getElementById("m-title"), "Unknown market");
  }
  await loadHistory(24);
});
