// markets.js — top markets (markets.html): /api/v1/markets sorted by the server (click a column
// header), filtered by title search and category, paged with the opaque cursor ("Load more");
// the biggest movers come from /api/v1/stats.
import { api, contract, el, replace, setupPage, setStatus, usd, usdCompact, contracts, cents,
         signedCents, when, ago, marketHref, table, showError, empty, isNum } from "./common.js";

// sort: the API's default order until its description says which orders exist.
const state = { sort: null, sorts: [], q: "", category: "", cursor: null, rows: [] };

function change(m) {
  const v = m.price_change;
  return el("span", { class: isNum(v) && v > 0 ? "up" : isNum(v) && v < 0 ? "down" : null }, signedCents(v));
}

// `field` is what a column shows; it sorts by the API's sort key of that name (a count in
// contracts carries the key plus "_contracts"), when the API offers one.
const COLUMNS = [
  { label: "Market", cls: "title", cell: (m) => [el("a", { href: marketHref(m.ticker) }, m.title || m.ticker),
                                                el("div", { class: "sub" }, m.ticker)] },
  { label: "Category", cell: (m) => m.category || "\u2014" },
  { label: "Yes", cls: "num", cell: (m) => cents(m.last_price) },
  { label: "Change", cls: "num", field: "price_change", cell: change },
  { label: "24 h volume", cls: "num", field: "volume_24h_contracts", cell: (m) => contracts(m.volume_24h_contracts) },
  { label: "24 h $", cls: "num", cell: (m) => usdCompact(m.volume_24h_usd) },
  { label: "Volume", cls: "num", field: "volume_contracts", cell: (m) => contracts(m.volume_contracts) },
  { label: "Open interest", cls: "num", field: "open_interest_contracts", cell: (m) => contracts(m.open_interest_contracts) },
  { label: "Closes", cls: "num", field: "close_time", cell: (m) => when(m.close_time) },
];

function sortableColumns() {
  return COLUMNS.map((c) => {
    const key = c.field && state.sorts.find((k) => k === c.field || k + "_contracts" === c.field);
    return key ? Object.assign({ sort: key }, c) : c;
  });
}

function render() {
  const box = document.getElementById("markets");
  if (!state.rows.length) {
    replace(box, empty("No markets match."));
    return;
  }
  replace(box, table(sortableColumns(), state.rows, { sorted: state.sort, onSort: (s) => {
    state.sort = s;
    load(true);
  }, cls: "markets" }));
}

async function load(reset) {
  const box = document.getElementById("markets");
  if (reset) {
    state.cursor = null;
    state.rows = [];
  }
  const q = new URLSearchParams({ limit: "50" });
  if (state.sort) q.set("sort", state.sort);
  if (state.q) q.set("q", state.q);
  if (state.category) q.set("category", state.category);
  if (state.cursor) q.set("cursor", state.cursor);
  try {
    const res = await api("/api/v1/markets?" + q.toString());
    state.rows = state.rows.concat(res.data);
    state.cursor = res.has_more ? res.next_cursor : null;
    document.getElementById("more").hidden = !state.cursor;
    render();
    if (res.meta && isNum(res.meta.source_lag_s))
      setStatus("data " + ago(new Date(Date.now() - res.meta.source_lag_s * 1000).toISOString()), "good");
  } catch (e) {
    showError(box, e);
  }
}

function moverTable(title, rows) {
  if (!rows.length) return [el("h3", null, title), empty("None in this window.")];
  return [el("h3", null, title), table([
    { label: "Market", cls: "title", cell: (m) => el("a", { href: marketHref(m.ticker) }, m.title || m.ticker) },
    { label: "From", cls: "num", cell: (m) => cents(m.previous_price) },
    { label: "To", cls: "num", cell: (m) => cents(m.last_price) },
    { label: "Change", cls: "num", cell: (m) => el("span", { class: m.change > 0 ? "up" : "down" }, signedCents(m.change)) },
  ], rows.slice(0, 8))];
}

// One /api/v1/stats call fills the movers and the category list.
async function loadStats() {
  try {
    const res = await api("/api/v1/stats");
    const w = res.data["24h"] || {};
    replace(document.getElementById("gainers"), moverTable("Gainers", w.gainers || []));
    replace(document.getElementById("losers"), moverTable("Losers", w.losers || []));
    const cats = new Set();
    for (const win of Object.values(res.data))
      for (const c of Object.keys(win.whale_counts_by_category || {})) cats.add(c);
    for (const m of state.rows) if (m.category) cats.add(m.category);
    const sel = document.getElementById("m-category");
    for (const c of [...cats].sort()) sel.appendChild(el("option", { value: c }, c));
  } catch (e) {
    showError(document.getElementById("gainers"), e);
  }
}

document.addEventListener("DOMContentLoaded", async () => {
  setupPage("markets.html");
  document.getElementById("mfilters").addEventListener("submit", (ev) => {
    ev.preventDefault();
    state.q = document.getElementById("m-q").value.trim();
    state.category = document.getElementById("m-category").value;
    load(true);
  });
  document.getElementById("more").addEventListener("click", () => load(false));
  try {
    state.sorts = (await contract()).marketSorts;
    state.sort = state.sorts[0] || null; // the first listed is the API's default
  } catch (e) {
    /* without the description the table keeps the API's default order, unsortable */
  }
  await load(true);
  await loadStats();
});
