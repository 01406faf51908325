// Small SVG charts drawn here (no library): stacked columns over dates and horizontal bars over
// buckets. Each comes with its figures as a table for screen readers and for reading exact values.

import { el, headings, svg } from "./format.js";

const WIDTH = 720;

function niceMax(value) {
  if (value <= 0) return 1;
  const power = 10 ** Math.floor(Math.log10(value));
  for (const step of [1, 2, 2.5, 5, 10]) {
    if (step * power >= value) return step * power;
  }
  return 10 * power;
}

/**
 * Stacked columns: `points` = [{label, parts: [values in order of `series`]}], `series` =
 * [{name, className}], `format(value)` for the axis and the table.
 */
export function columnChart({ title, summary, points, series, format, formatAxis }) {
  const height = 300;
  const left = 96;
  const bottom = 48;
  const top = 16;
  const plotWidth = WIDTH - left - 16;
  const plotHeight = height - top - bottom;
  const totals = points.map((point) => point.parts.reduce((sum, part) => sum + part, 0));
  const max = niceMax(Math.max(0, ...totals));
  const slot = plotWidth / Math.max(points.length, 1);
  const barWidth = Math.min(48, slot * 0.7);
  const labelEvery = Math.ceil(points.length / 12);
  const y = (value) => top + plotHeight - (value / max) * plotHeight;

  const grid = [0, 0.25, 0.5, 0.75, 1].map((fraction) => {
    const value = max * fraction;
    return svg("g", { class: "tick" },
      svg("line", { x1: left, x2: WIDTH - 16, y1: y(value), y2: y(value) }),
      svg("text", { x: left - 8, y: y(value) + 4, "text-anchor": "end" }, formatAxis(value)));
  });
  const columns = points.map((point, index) => {
    const x = left + index * slot + (slot - barWidth) / 2;
    let base = 0;
    const rects = point.parts.map((part, partIndex) => {
      const rect = svg("rect", {
        x, width: barWidth, y: y(base + part), height: Math.max(0, y(base) - y(base + part)),
        class: series[partIndex].className,
      }, svg("title", {}, `${point.label}: ${series[partIndex].name} ${format(part)}`));
      base += part;
      return rect;
    });
    const label = index % labelEvery === 0
      ? svg("text", { x: x + barWidth / 2, y: height - bottom + 18, "text-anchor": "middle" }, point.label)
      : null;
    return svg("g", { class: "column" }, ...rects, label);
  });
  const chart = svg("svg", {
    viewBox: `0 0 ${WIDTH} ${height}`, role: "img", "aria-label": `${title}. ${summary}`,
    class: "chart", preserveAspectRatio: "xMinYMin meet",
  }, svg("title", {}, title), ...grid,
  svg("line", { class: "axis", x1: left, x2: WIDTH - 16, y1: y(0), y2: y(0) }), ...columns);

  const legend = el("ul", { class: "legend" }, series.map((item) =>
    el("li", {}, el("span", { class: `swatch ${item.className}`, "aria-hidden": "true" }), item.name)));
  const table = el("details", {},
    el("summary", {}, "Figures as a table"),
    el("div", { class: "table-wrap", tabindex: "0", role: "region", "aria-label": `${title}, figures` },
      el("table", {},
        headings(["Date", ...series.map((item) => item.name), "Total"],
          [...series.map((item) => item.name), "Total"]),
        el("tbody", {}, points.map((point, index) => el("tr", {},
          el("th", { scope: "row" }, point.label),
          point.parts.map((part) => el("td", { class: "num" }, format(part))),
          el("td", { class: "num" }, format(totals[index]))))))));
  return el("figure", { class: "chart-figure" }, el("figcaption", {}, title), chart, legend, table);
}

/** Horizontal bars: `rows` = [{label, value, note}]. */
export function barChart({ title, summary, rows, format }) {
  const rowHeight = 40;
  const left = 96;
  const right = 240;
  const height = rows.length * rowHeight + 16;
  const max = niceMax(Math.max(0, ...rows.map((row) => row.value)));
  const scale = (value) => (value / max) * (WIDTH - left - right);
  const bars = rows.map((row, index) => {
    const y = 8 + index * rowHeight;
    return svg("g", { class: "bar" },
      svg("text", { x: left - 8, y: y + 24, "text-anchor": "end" }, row.label),
      svg("rect", { x: left, y: y + 6, height: rowHeight - 14, width: Math.max(1, scale(row.value)), class: "part-a" },
        svg("title", {}, `${row.label}: ${format(row.value)}, ${row.note}`)),
      svg("text", { x: left + scale(row.value) + 8, y: y + 24 }, `${format(row.value)} · ${row.note}`));
  });
  const chart = svg("svg", {
    viewBox: `0 0 ${WIDTH} ${height}`, role: "img", "aria-label": `${title}. ${summary}`,
    class: "chart", preserveAspectRatio: "xMinYMin meet",
  }, svg("title", {}, title), ...bars);
  return el("figure", { class: "chart-figure" }, el("figcaption", {}, title), chart);
}
