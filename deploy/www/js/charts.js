// charts.js — small SVG charts built with DOM calls (createElementNS, setAttribute), no library
// and no markup strings: line charts (one or more series over time) and bar charts (one or more
// stacked series over time). Colours come from CSS classes (css/app.css), never from inline
// style, so the page's Content-Security-Policy stays 'self'.
//
// Input: series = [{name, cls, points: [[timeMs, value|null], ...]}]. A null value is a gap
// (no data), drawn as a break in the line, never as zero. The y axis starts at 0 for bars and
// fits the data for lines; axes are labelled with the first/last time and the min/max value.

const NS = "http://www.w3.org/2000/svg";
const W = 640, H = 220, PAD_L = 56, PAD_R = 12, PAD_T = 12, PAD_B = 28;

function s(tag, attrs, text) {
  const n = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs || {})) n.setAttribute(k, String(v));
  if (text !== undefined) n.textContent = text;
  return n;
}

function timeLabel(t, spanMs) {
  const d = new Date(t);
  if (spanMs > 2 * 86400000) return d.toLocaleDateString(undefined, { month: "short", day: "numeric" });
  return d.toLocaleTimeString(undefined, { hour: "2-digit", minute: "2-digit" });
}

function frame(title, yFmt, lo, hi, t0, t1) {
  const svg = s("svg", { viewBox: `0 0 ${W} ${H}`, class: "chart", role: "img", "aria-label": title });
  svg.appendChild(s("title", {}, title));
  const y = (v) => PAD_T + (H - PAD_T - PAD_B) * (1 - (hi === lo ? 0.5 : (v - lo) / (hi - lo)));
  const x = (t) => PAD_L + (W - PAD_L - PAD_R) * (t1 === t0 ? 0.5 : (t - t0) / (t1 - t0));
  for (const v of [lo, (lo + hi) / 2, hi]) {
    svg.appendChild(s("line", { x1: PAD_L, x2: W - PAD_R, y1: y(v), y2: y(v), class: "grid" }));
    svg.appendChild(s("text", { x: PAD_L - 6, y: y(v) + 4, class: "axis", "text-anchor": "end" },
                      yFmt(v)));
  }
  svg.appendChild(s("text", { x: PAD_L, y: H - 8, class: "axis" }, timeLabel(t0, t1 - t0)));
  svg.appendChild(s("text", { x: W - PAD_R, y: H - 8, class: "axis", "text-anchor": "end" },
                    timeLabel(t1, t1 - t0)));
  return { svg, x, y };
}

function legend(series) {
  const div = document.createElement("div");
  div.className = "legend";
  for (const se of series) {
    const item = document.createElement("span");
    item.className = "legend-item " + (se.cls || "");
    item.textContent = se.name;
    div.appendChild(item);
  }
  return div;
}

function wrap(title, svg, series) {
  const fig = document.createElement("figure");
  fig.className = "chart-box";
  const cap = document.createElement("figcaption");
  cap.textContent = title;
  fig.appendChild(cap);
  fig.appendChild(svg);
  if (series.length > 1) fig.appendChild(legend(series));
  return fig;
}

function noData(title) {
  const fig = document.createElement("figure");
  fig.className = "chart-box";
  const cap = document.createElement("figcaption");
  cap.textContent = title;
  const p = document.createElement("p");
  p.className = "empty";
  p.textContent = "No data in this window yet.";
  fig.appendChild(cap);
  fig.appendChild(p);
  return fig;
}

export function lineChart(title, series, yFmt, opts = {}) {
  const pts = series.flatMap((se) => se.points.filter((p) => p[1] !== null && p[1] !== undefined));
  if (!pts.length) return noData(title);
  let lo = Math.min(...pts.map((p) => p[1])), hi = Math.max(...pts.map((p) => p[1]));
  if (opts.min !== undefined) lo = Math.min(lo, opts.min);
  if (opts.max !== undefined) hi = Math.max(hi, opts.max);
  if (hi === lo) {
    // A flat series: give it some room, but never below a floor the caller asked for (0).
    const pad = (Math.abs(hi) || 1) * 0.05;
    hi += pad;
    if (opts.min === undefined || lo - pad >= opts.min) lo -= pad;
  }
  const t0 = opts.t0 ?? Math.min(...pts.map((p) => p[0]));
  const t1 = opts.t1 ?? Math.max(...pts.map((p) => p[0]));
  const { svg, x, y } = frame(title, yFmt, lo, hi, t0, t1);
  for (const se of series) {
    let d = "", pen = false;
    for (const [t, v] of se.points) {
      if (v === null || v === undefined) { pen = false; continue; }
      d += (pen ? "L" : "M") + x(t).toFixed(1) + " " + y(v).toFixed(1) + " ";
      pen = true;
    }
    if (d) svg.appendChild(s("path", { d, class: "line " + (se.cls || "") }));
    const real = se.points.filter((p) => p[1] !== null && p[1] !== undefined);
    if (real.length <= 40) {
      for (const [t, v] of real) {
        const c = s("circle", { cx: x(t), cy: y(v), r: 3, class: "dot " + (se.cls || "") });
        c.appendChild(s("title", {}, se.name + ": " + yFmt(v) + " at " + new Date(t).toLocaleString()));
        svg.appendChild(c);
      }
    }
  }
  return wrap(title, svg, series);
}

// Stacked bars: every series shares the time points of the first; bucketMs is a bar's width.
export function barChart(title, series, yFmt, bucketMs, opts = {}) {
  const times = series[0] ? series[0].points.map((p) => p[0]) : [];
  if (!times.length) return noData(title);
  const totals = times.map((_, i) => series.reduce((a, se) => a + (se.points[i][1] || 0), 0));
  const hi = Math.max(...totals, opts.minMax || 0) || 1;
  const t0 = opts.t0 ?? times[0], t1 = opts.t1 ?? times[times.length - 1] + bucketMs;
  const { svg, x, y } = frame(title, yFmt, 0, hi, t0, t1);
  const bw = Math.max(1, x(t0 + bucketMs) - x(t0) - 1);
  times.forEach((t, i) => {
    let base = 0;
    for (const se of series) {
      const v = se.points[i][1];
      if (!v) continue;
      const r = s("rect", { x: x(t).toFixed(1), width: bw.toFixed(1), y: y(base + v).toFixed(1),
                            height: Math.max(0.5, y(base) - y(base + v)).toFixed(1),
                            class: "bar " + (se.cls || "") });
      r.appendChild(s("title", {}, se.name + ": " + yFmt(v) + " at " + new Date(t).toLocaleString()));
      svg.appendChild(r);
      base += v;
    }
  });
  return wrap(title, svg, series);
}
