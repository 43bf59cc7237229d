// feed.js — the live whale feed (index.html).
//
// On load: the newest alerts and whale trades from the REST API (/api/v1/alerts,
// /api/v1/whales), then live ones over the WebSocket: a single-use ticket from
// POST /api/ws-ticket, /ws?ticket=..., a `subscribe` with the filters (channels alerts and
// trades, tickers, categories, min_notional). On a lost connection it reconnects with backoff
// and sends `resume` with the last alert id it saw, so nothing is missed and nothing is shown
// twice (items are keyed by kind and id).
import { api, contract, el, replace, setupPage, setStatus, usd, contracts, cents, when, ago,
         marketHref, alertLabel, badge, empty, table, showError, isNum } from "./common.js";

const MAX_ITEMS = 200;
const WHALE_FLOOR_USD = 1000; // the smallest min_notional /api/v1/whales accepts

const state = { filters: { type: "", category: "", ticker: "", min: 0 }, seen: new Set(), lastAlertId: 0,
                ws: null, backoff: 1000, retry: null, generation: 0 };

function notionalOf(item) {
  if (item.kind === "trade") return item.notional_usd;
  const d = item.data || {};
  return isNum(d.notional_usd) ? d.notional_usd : null;
}

function passes(item) {
  const f = state.filters;
  // A signal filter shows that signal; whale trades belong to whale_trade.
  if (f.type && (item.kind === "trade" ? f.type !== "whale_trade" : item.type !== f.type)) return false;
  if (f.ticker && item.ticker !== f.ticker) return false;
  if (f.category && (item.category || "").toLowerCase() !== f.category.toLowerCase()) return false;
  const n = notionalOf(item);
  if (f.min > 0 && isNum(n) && n < f.min) return false;
  return true;
}

// ws trades carry raw store units; REST trades carry dollars and contracts.
function normaliseTrade(t) {
  if (isNum(t.notional_usd)) return t;
  const yes = t.taker_side === "yes";
  return {
    id: t.id, ticker: t.ticker, title: t.title, category: t.category,
    created_time: t.created_at, taker_side: t.taker_side,
    count_contracts: isNum(t.count_centi) ? t.count_centi / 100 : null,
    price: isNum(yes ? t.yes_price_micros : t.no_price_micros)
      ? (yes ? t.yes_price_micros : t.no_price_micros) / 1e6 : null,
    notional_usd: isNum(t.notional_micros) ? t.notional_micros / 1e6 : null,
  };
}

function itemNode(item, fresh) {
  const title = item.title || item.ticker;
  const link = el("a", { href: marketHref(item.ticker), class: "title" }, title);
  let li;
  if (item.kind === "trade") {
    li = el("li", { class: "kind-trade" + (fresh ? " fresh" : ""), "data-kind": "trade",
                    "data-id": item.id },
      el("div", { class: "row1" },
        el("span", { class: "amount" }, usd(item.notional_usd)),
        badge("Whale trade"),
        badge((item.taker_side || "").toUpperCase(), item.taker_side),
        link),
      el("div", { class: "meta" },
        contracts(item.count_contracts), " at ", cents(item.price), " · ", item.ticker,
        item.category ? " · " + item.category : "", " · ", when(item.created_time)));
  } else {
    const n = notionalOf(item);
    li = el("li", { class: "sev-" + (item.severity || "medium") + (fresh ? " fresh" : ""),
                    "data-kind": "alert", "data-id": item.id },
      el("div", { class: "row1" },
        isNum(n) ? el("span", { class: "amount" }, usd(n)) : null,
        badge(alertLabel(item)),
        badge(item.severity || "", item.severity),
        link),
      el("div", { class: "desc" }, item.description || ""),
      el("div", { class: "meta" }, item.ticker, item.category ? " · " + item.category : "",
         " · ", when(item.timestamp || item.created_at)));
  }
  return li;
}

function add(item, fresh) {
  const key = item.kind + ":" + item.id;
  if (state.seen.has(key) || !passes(item)) return;
  state.seen.add(key);
  if (item.kind === "alert" && item.id > state.lastAlertId) state.lastAlertId = item.id;
  const feed = document.getElementById("feed");
  const node = itemNode(item, fresh);
  // Newest first by time; live items arrive newest anyway.
  const t = Date.parse(item.kind === "trade" ? item.created_time : (item.timestamp || item.created_at)) || 0;
  node.dataset.t = String(t);
  let before = null;
  for (const child of feed.children) {
    if (Number(child.dataset.t) <= t) { before = child; break; }
  }
  feed.insertBefore(node, before);
  while (feed.children.length > MAX_ITEMS) feed.removeChild(feed.lastChild);
  document.getElementById("feed-note").textContent = "";
}

function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== "" && v !== null && v !== undefined) q.set(k, v);
  return q.toString();
}

async function loadRecent() {
  const f = state.filters;
  const feed = document.getElementById("feed");
  replace(feed);
  state.seen.clear();
  const note = document.getElementById("feed-note");
  note.textContent = "Loading…";
  try {
    const [alerts, whales] = await Promise.all([
      api("/api/v1/alerts?" + query({ limit: 50, type: f.type, ticker: f.ticker, category: f.category })),
      api("/api/v1/whales?" + query({ limit: 50, ticker: f.ticker, category: f.category,
                                      min_notional: f.min >= WHALE_FLOOR_USD ? Math.floor(f.min) : "" })),
    ]);
    for (const a of alerts.data) add(Object.assign({ kind: "alert" }, a), false);
    for (const t of whales.data) add(Object.assign({ kind: "trade" }, t), false);
    note.textContent = feed.children.length ? "" : "No alerts or whale trades match these filters yet. New ones appear here as they happen.";
  } catch (e) {
    note.textContent = "";
    showError(note, e);
  }
}

function subscribeMessage() {
  const f = state.filters;
  const m = { type: "subscribe", channels: ["alerts", "trades"] };
  if (f.ticker) m.tickers = [f.ticker];
  if (f.category) m.categories = [f.category];
  if (f.min > 0) m.min_notional = Math.floor(f.min);
  return JSON.stringify(m);
}

function setLive(on, text) {
  const s = document.getElementById("live");
  s.textContent = text;
  s.className = "live " + (on ? "on" : "off");
}

function onMessage(ev) {
  let m;
  try {
    m = JSON.parse(ev.data);
  } catch (e) {
    return;
  }
  switch (m.type) {
  case "alert":
    add(Object.assign({ kind: "alert" }, m.data), true);
    break;
  case "trade":
    add(Object.assign({ kind: "trade" }, normaliseTrade(m.data)), true);
    break;
  case "resumed":
    for (const a of (m.data && m.data.alerts) || []) add(Object.assign({ kind: "alert" }, a), true);
    break;
  case "initial_data":
    if (m.data && isNum(m.data.last_alert_id) && state.lastAlertId && m.data.last_alert_id > state.lastAlertId)
      state.ws.send(JSON.stringify({ type: "resume", since_id: state.lastAlertId }));
    setLive(true, "live");
    break;
  case "heartbeat":
    setLive(true, "live · " + (isNum(m.connections) ? m.connections : "?") + " connected");
    break;
  case "error":
    document.getElementById("feed-note").textContent =
      "Live feed: " + ((m.data && m.data.message) || "error");
    break;
  default:
    break;
  }
}

async function connect() {
  const gen = ++state.generation;
  clearTimeout(state.retry);
  setLive(false, "connecting…");
  let ticket;
  try {
    ticket = await api("/api/ws-ticket", { method: "POST" });
  } catch (e) {
    setLive(false, "offline");
    scheduleReconnect(gen);
    return;
  }
  if (gen !== state.generation) return;
  const proto = location.protocol === "https:" ? "wss:" : "ws:";
  const ws = new WebSocket(proto + "//" + location.host + ticket.ws_url);
  state.ws = ws;
  ws.addEventListener("open", () => {
    state.backoff = 1000;
    ws.send(subscribeMessage());
  });
  ws.addEventListener("message", onMessage);
  ws.addEventListener("close", () => {
    if (gen !== state.generation) return;
    setLive(false, "reconnecting…");
    scheduleReconnect(gen);
  });
}

function scheduleReconnect(gen) {
  if (gen !== state.generation) return;
  state.retry = setTimeout(connect, state.backoff);
  state.backoff = Math.min(state.backoff * 2, 30000);
}

async function loadCategories() {
  try {
    const res = await api("/api/v1/markets?limit=200");
    const cats = [...new Set(res.data.map((m) => m.category).filter(Boolean))].sort();
    const sel = document.getElementById("f-category");
    for (const c of cats) sel.appendChild(el("option", { value: c }, c));
  } catch (e) {
    /* the filter still works by typing nothing; the feed shows the error */
  }
}

// The signal types from the API's description: the select offers exactly what it may send.
async function loadTypes() {
  try {
    const sel = document.getElementById("f-type");
    for (const t of (await contract()).alertTypes) sel.appendChild(el("option", { value: t.type }, alertLabel(t)));
  } catch (e) {
    /* without the description the feed shows every signal */
  }
}

async function loadTopTrades() {
  const box = document.getElementById("top-trades");
  try {
    const res = await api("/api/v1/stats");
    const trades = (res.data["24h"] && res.data["24h"].top_trades) || [];
    if (!trades.length) {
      replace(box, empty("No trades stored in the last 24 hours."));
      return;
    }
    replace(box, table([
      { label: "Premium", cls: "num", cell: (t) => usd(t.notional_usd) },
      { label: "Side", cell: (t) => badge((t.taker_side || "").toUpperCase(), t.taker_side) },
      { label: "Market", cls: "title", cell: (t) => el("a", { href: marketHref(t.ticker) }, t.title || t.ticker) },
      { label: "Contracts", cls: "num", cell: (t) => contracts(t.count_contracts) },
      { label: "Price", cls: "num", cell: (t) => cents(t.price) },
      { label: "When", cell: (t) => ago(t.created_time) },
    ], trades.slice(0, 10)));
  } catch (e) {
    showError(box, e);
  }
}

async function loadStatus() {
  try {
    const s = await api("/api/status");
    setStatus(s.last_update ? "data " + ago(s.last_update) : "no fetch yet", s.status === "running" ? "good" : "bad");
  } catch (e) {
    setStatus("API unreachable", "bad");
  }
}

function readFilters() {
  const min = Number(document.getElementById("f-min").value || 0);
  state.filters = {
    type: document.getElementById("f-type").value,
    category: document.getElementById("f-category").value,
    ticker: document.getElementById("f-ticker").value.trim(),
    min: Number.isFinite(min) && min > 0 ? min : 0,
  };
}

document.addEventListener("DOMContentLoaded", async () => {
  setupPage("index.html");
  document.getElementById("filters").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    readFilters();
    await loadRecent();
    if (state.ws && state.ws.readyState === WebSocket.OPEN) state.ws.send(subscribeMessage());
  });
  await loadStatus();
  await Promise.all([loadRecent(), loadTypes(), loadCategories(), loadTopTrades()]);
  connect();
});
