// Trend charts drawn as SVG by hand: a line of mean values, a band from minimum to maximum where
// the history is downsampled, and the alarm thresholds as dashed lines that are always in view.
"use strict";
(function () {
  const svgNS = "http://www.w3.org/2000/svg";
  const width = 560, height = 220, left = 64, right = 12, top = 12, bottom = 28;

  function node(name, attributes, text) {
    const element = document.createElementNS(svgNS, name);
    for (const [key, value] of Object.entries(attributes || {})) element.setAttribute(key, String(value));
    if (text !== undefined) element.textContent = text;
    return element;
  }

  function niceTicks(low, high, count) {
    const span = high - low || Math.abs(high) || 1;
    const step0 = span / count;
    const magnitude = Math.pow(10, Math.floor(Math.log10(step0)));
    const step = [1, 2, 5, 10].map((f) => f * magnitude).find((s) => s >= step0) || step0;
    const ticks = [];
    for (let v = Math.ceil(low / step) * step; v <= high + step * 1e-9; v += step) ticks.push(v);
    return ticks;
  }

  // options: { title, format(value) -> text, points: [{t: ms, min, mean, max}], thresholds:
  // [{value, label, kind: "threshold"|"prewarning"}], log: boolean, from: ms, to: ms, emptyText, locale }
  function draw(container, options) {
    const figure = document.createElement("figure");
    figure.className = "chart";
    const caption = document.createElement("figcaption");
    caption.textContent = options.title;
    figure.appendChild(caption);
    const svg = node("svg", { viewBox: `0 0 ${width} ${height}`, role: "img", "aria-label": options.title });
    figure.appendChild(svg);
    container.appendChild(figure);

    const points = options.points.filter((p) => Number.isFinite(p.mean));
    const values = points.flatMap((p) => [p.min, p.mean, p.max]).filter(Number.isFinite);
    for (const threshold of options.thresholds) values.push(threshold.value);
    const positive = (v) => (options.log ? Math.max(v, 1) : v);
    let low = Math.min(...values.map(positive)), high = Math.max(...values.map(positive));
    if (!Number.isFinite(low)) { low = 0; high = 1; }
    const scale = options.log ? (v) => Math.log10(positive(v)) : (v) => v;
    let sLow = scale(low), sHigh = scale(high);
    // A flat series (or a threshold alone) still gets a readable band around it.
    const pad = (sHigh - sLow) * 0.08 || (options.log ? 0.5 : Math.abs(sHigh) * 0.1) || 1;
    sLow -= pad; sHigh += pad;
    if (!options.log && low >= 0) sLow = Math.max(sLow, 0);
    const x = (t) => left + ((t - options.from) / (options.to - options.from)) * (width - left - right);
    const y = (v) => top + (1 - (scale(v) - sLow) / (sHigh - sLow)) * (height - top - bottom);

    svg.appendChild(node("line", { class: "axis", x1: left, y1: top, x2: left, y2: height - bottom }));
    svg.appendChild(node("line", { class: "axis", x1: left, y1: height - bottom, x2: width - right, y2: height - bottom }));
    const tickValues = options.log
      ? niceTicks(sLow, sHigh, 4).map((e) => Math.pow(10, Math.round(e)))
      : niceTicks(sLow, sHigh, 4);
    for (const value of [...new Set(tickValues)]) {
      const ty = y(value);
      if (ty < top - 1 || ty > height - bottom + 1) continue;
      svg.appendChild(node("text", { x: left - 4, y: ty + 4, "text-anchor": "end" }, options.format(value)));
    }
    for (const fraction of [0, 0.5, 1]) {
      const t = options.from + fraction * (options.to - options.from);
      const when = new Date(t);
      const label = options.to - options.from > 36 * 3600e3
        ? when.toLocaleDateString(options.locale, { weekday: "short", day: "numeric" })
        : when.toLocaleTimeString(options.locale, { hour: "2-digit", minute: "2-digit" });
      svg.appendChild(node("text", { x: x(t), y: height - 8, "text-anchor": fraction === 0 ? "start" : fraction === 1 ? "end" : "middle" }, label));
    }
    for (const threshold of options.thresholds) {
      const ty = y(threshold.value);
      svg.appendChild(node("line", { class: threshold.kind, x1: left, x2: width - right, y1: ty, y2: ty, "data-threshold": threshold.value }));
      svg.appendChild(node("text", { x: width - right - 2, y: ty - 3, "text-anchor": "end" }, `${threshold.label} ${options.format(threshold.value)}`));
    }
    if (points.length === 0) {
      svg.appendChild(node("text", { class: "empty", x: (left + width) / 2, y: height / 2, "text-anchor": "middle" }, options.emptyText));
      return figure;
    }
    const banded = points.filter((p) => Number.isFinite(p.min) && Number.isFinite(p.max) && p.max > p.min);
    if (banded.length > 1) {
      const upper = banded.map((p) => `${x(p.t).toFixed(1)},${y(p.max).toFixed(1)}`);
      const lower = banded.slice().reverse().map((p) => `${x(p.t).toFixed(1)},${y(p.min).toFixed(1)}`);
      svg.appendChild(node("polygon", { class: "band", points: upper.concat(lower).join(" ") }));
    }
    const line = points.map((p) => `${x(p.t).toFixed(1)},${y(p.mean).toFixed(1)}`).join(" ");
    svg.appendChild(node("polyline", { class: "series", points: line }));
    return figure;
  }

  window.Charts = { draw };
})();
