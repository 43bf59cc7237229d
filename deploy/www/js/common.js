// common.js — what every dashboard page shares: the API key (asked once, kept in
// sessionStorage), fetch with the key, DOM building without innerHTML, number formatting and
// the page chrome (navigation, key form, status line).
//
// Rules this file enforces for the whole dashboard:
//   - Every piece of text that came from the API (Kalshi titles, tickers, descriptions) enters
//     the page as a text node (el(), text()); nothing is ever parsed as HTML.
//   - Every number shown comes from an API response; a value the API did not send is shown as
//     an em dash, never as a made-up zero.
//   - No inline script or style anywhere, so the Content-Security-Policy can be 'self' only.

const KEY_STORE = "kw_api_key";

export function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  if (attrs) {
    for (const [k, v] of Object.entries(attrs)) {
      if (v === null || v === undefined || v === false) continue;
      if (k === "class") node.className = v;
      else if (k === "text") node.textContent = String(v);
      else if (k.startsWith("on") && typeof v === "function") node.addEventListener(k.slice(2), v);
      else node.setAttribute(k, v === true ? "" : String(v));
    }
  }
  append(node, children);
  return node;
}

function append(node, children) {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    if (Array.isArray(c)) append(node, c);
    else if (c instanceof Node) node.appendChild(c);
    else node.appendChild(document.createTextNode(String(c)));
  }
}

export function clear(node) {
  while (node.firstChild) node.removeChild(node.firstChild);
  return node;
}

export function replace(node, ...children) {
  clear(node);
  append(node, children);
  return node;
}

// ---- formatting ----------------------------------------------------------------------------

const usdFmt = new Intl.NumberFormat("en-US", { style: "currency", currency: "USD",
                                                maximumFractionDigits: 0 });
const usdCents = new Intl.NumberFormat("en-US", { style: "currency", currency: "USD",
                                                  minimumFractionDigits: 2, maximumFractionDigits: 2 });
const numFmt = new Intl.NumberFormat("en-US", { maximumFractionDigits: 2 });
const DASH = "\u2014";

export function isNum(v) {
  return typeof v === "number" && Number.isFinite(v);
}
export function usd(v) {
  if (!isNum(v)) return DASH;
  return Math.abs(v) < 100 ? usdCents.format(v) : usdFmt.format(v);
}
export function usdCompact(v) {
  if (!isNum(v)) return DASH;
  const a = Math.abs(v);
  if (a >= 1e9) return "$" + numFmt.format(v / 1e9) + "B";
  if (a >= 1e6) return "$" + numFmt.format(v / 1e6) + "M";
  if (a >= 1e4) return "$" + numFmt.format(v / 1e3) + "k";
  return usd(v);
}
export function num(v) {
  return isNum(v) ? numFmt.format(v) : DASH;
}
export function contracts(v) {
  return isNum(v) ? numFmt.format(v) + " ct" : DASH;
}
// Kalshi prices are dollars per contract, 0..1: shown as cents (= implied probability).
export function cents(v) {
  return isNum(v) ? numFmt.format(Math.round(v * 1000) / 10) + "\u00a2" : DASH;
}
export function signedCents(v) {
  if (!isNum(v)) return DASH;
  return (v > 0 ? "+" : "") + cents(v);
}
export function pct(v, digits = 1) {
  return isNum(v) ? v.toFixed(digits) + "%" : DASH;
}
export function ms(v) {
  if (!isNum(v)) return DASH;
  return v < 10 ? v.toFixed(2) + " ms" : numFmt.format(Math.round(v)) + " ms";
}
export function when(iso) {
  if (!iso) return DASH;
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return DASH;
  return d.toLocaleString(undefined, { month: "short", day: "numeric", hour: "2-digit",
                                       minute: "2-digit", second: "2-digit" });
}
export function ago(iso) {
  if (!iso) return DASH;
  const s = Math.round((Date.now() - new Date(iso).getTime()) / 1000);
  if (!Number.isFinite(s)) return DASH;
  if (s < 5) return "just now";
  if (s < 90) return s + " s ago";
  if (s < 5400) return Math.round(s / 60) + " min ago";
  if (s < 129600) return Math.round(s / 3600) + " h ago";
  return Math.round(s / 86400) + " d ago";
}
export function duration(s) {
  if (!isNum(s)) return DASH;
  if (s < 120) return Math.round(s) + " s";
  if (s < 7200) return Math.round(s / 60) + " min";
  if (s < 172800) return Math.round(s / 3600) + " h";
  return Math.round(s / 86400) + " d";
}

export function marketHref(ticker) {
  return "market.html?ticker=" + encodeURIComponent(ticker);
}

// The signal's label comes with every alert from the API (the server's one signal table).
export function alertLabel(alert) {
  return String((alert && (alert.label || alert.type)) || "");
}

// ---- the API's description -------------------------------------------------------------------

// The enums the pages offer (signal types with their labels, market sort keys) are read from
// the OpenAPI document the API serves (public, cached by the browser for CACHE_TTL), so that a
// type or sort order the server gains appears here without a change to this code. Fetched
// once per page.
let contractPromise = null;
export function contract() {
  if (!contractPromise) {
    contractPromise = fetch("/api/openapi.json", { credentials: "omit" }).then(async (res) => {
      if (!res.ok) throw new ApiError(res.status, "http_" + res.status, "the API description is unavailable");
      const doc = await res.json();
      const param = (path, name) =>
        (doc.paths[path].get.parameters.find((p) => p.name === name) || { schema: {} }).schema.enum || [];
      const type = doc.components.schemas.Alert.properties.type;
      const labels = type["x-enum-labels"] || {};
      return {
        alertTypes: type.enum.map((name) => ({ type: name, label: labels[name] || name })),
        marketSorts: param("/api/v1/markets", "sort"),
      };
    });
    contractPromise.catch(() => { contractPromise = null; }); // try again on the next call
  }
  return contractPromise;
}

// ---- the API key and requests --------------------------------------------------------------

export function apiKey() {
  try {
    return sessionStorage.getItem(KEY_STORE);
  } catch (e) {
    return null;
  }
}
function setKey(k) {
  try {
    if (k) sessionStorage.setItem(KEY_STORE, k);
    else sessionStorage.removeItem(KEY_STORE);
  } catch (e) {
    /* storage disabled: the key lives only as long as this page */
  }
}

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

let keyWaiters = [];

// GET or POST an API path with the key; JSON back. 401 forgets the key and asks again.
export async function api(path, opts = {}) {
  let key = apiKey();
  if (!key) key = await askKey();
  const headers = { "X-API-Key": key, Accept: "application/json" };
  const init = { method: opts.method || "GET", headers, cache: "no-store", credentials: "omit" };
  if (opts.body !== undefined) {
    headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(opts.body);
  }
  const res = await fetch(path, init);
  let body = null;
  const ct = res.headers.get("Content-Type") || "";
  if (ct.startsWith("application/json")) body = await res.json();
  else await res.text();
  if (res.status === 401) {
    setKey(null);
    showKeyForm("That key was not accepted. Enter a valid API key.");
    if (!opts.retried) return api(path, Object.assign({}, opts, { retried: true }));
  }
  if (!res.ok) {
    const e = body && body.error ? body.error : {};
    throw new ApiError(res.status, e.code || "http_" + res.status,
                       e.message || "request failed with status " + res.status);
  }
  return body;
}

function askKey() {
  return new Promise((resolve) => {
    keyWaiters.push(resolve);
    showKeyForm();
  });
}

function showKeyForm(message) {
  const box = document.getElementById("keybox");
  if (!box || !box.hidden) {
    if (box && message) document.getElementById("key-msg").textContent = message;
    return;
  }
  box.hidden = false;
  document.getElementById("key-msg").textContent =
    message || "This dashboard reads the KalshiWhale API. Enter your API key (kept for this browser tab only).";
  const input = document.getElementById("key-input");
  input.value = "";
  input.focus();
}

async function onKeySubmit(ev) {
  ev.preventDefault();
  const input = document.getElementById("key-input");
  const key = input.value.trim();
  const msg = document.getElementById("key-msg");
  if (!key) {
    msg.textContent = "Enter a key.";
    return;
  }
  // Check it once against the API before keeping it.
  let res;
  try {
    res = await fetch("/api/status", { headers: { "X-API-Key": key }, cache: "no-store",
                                       credentials: "omit" });
  } catch (e) {
    msg.textContent = "The API cannot be reached right now.";
    return;
  }
  if (res.status === 401 || res.status === 403) {
    msg.textContent = "That key was not accepted.";
    return;
  }
  setKey(key);
  document.getElementById("keybox").hidden = true;
  const waiting = keyWaiters;
  keyWaiters = [];
  for (const w of waiting) w(key);
}

// ---- page chrome ---------------------------------------------------------------------------

const PAGES = [
  ["index.html", "Live feed"],
  ["markets.html", "Top markets"],
  ["monitoring.html", "Monitoring"],
];

export function setupPage(active) {
  const nav = document.getElementById("nav");
  if (nav) {
    for (const [href, label] of PAGES) {
      nav.appendChild(el("a", { href, class: href === active ? "active" : null,
                                "aria-current": href === active ? "page" : null }, label));
    }
  }
  const form = document.getElementById("key-form");
  if (form) form.addEventListener("submit", onKeySubmit);
  const forget = document.getElementById("forget-key");
  if (forget) {
    forget.addEventListener("click", () => {
      setKey(null);
      location.reload();
    });
  }
}

export function setStatus(text, kind) {
  const s = document.getElementById("status");
  if (!s) return;
  s.textContent = text;
  s.className = "status" + (kind ? " " + kind : "");
}

export function showError(container, err) {
  const msg = err instanceof ApiError ? err.message + " (" + err.status + ")" :
    "The API could not be reached.";
  replace(container, el("p", { class: "error" }, msg));
}

// A table: columns [{label, cell(row) -> node|string, cls, sort}], rows.
export function table(columns, rows, opts = {}) {
  const head = el("tr", null, columns.map((c) => {
    const th = el("th", { class: c.cls, scope: "col" });
    if (c.sort && opts.onSort) {
      const active = opts.sorted === c.sort;
      th.appendChild(el("button", { type: "button", class: "sort" + (active ? " active" : ""),
                                    "aria-sort": active ? "descending" : null,
                                    onclick: () => opts.onSort(c.sort) },
                        c.label, active ? " \u25be" : ""));
    } else {
      th.textContent = c.label;
    }
    return th;
  }));
  const body = el("tbody", null, rows.map((r) =>
    el("tr", null, columns.map((c) => el("td", { class: c.cls, "data-label": c.label }, c.cell(r))))));
  return el("div", { class: "table-wrap" }, el("table", { class: opts.cls || null },
                                                   el("thead", null, head), body));
}

export function badge(text, cls) {
  return el("span", { class: "badge " + (cls || "") }, text);
}

export function empty(text) {
  return el("p", { class: "empty" }, text);
}
