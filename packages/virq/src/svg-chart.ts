/**
 * A tiny, dependency-free SVG line chart for the self-contained HTML report: no scripts, no external
 * fonts or styles, so the file opens anywhere (including offline and in mail clients).
 */

/** One line on a chart. */
export interface Series {
  name: string;
  points: readonly (readonly [number, number])[];
}

/** Axis and size options. */
export interface ChartOptions {
  title: string;
  xLabel: string;
  yLabel: string;
  /** Logarithmic x axis (base 10), e.g. for percentile tails or vector counts. */
  logX?: boolean;
  logY?: boolean;
  width?: number;
  height?: number;
  /** Formats tick labels. */
  formatX?: (x: number) => string;
  formatY?: (y: number) => string;
}

const COLORS = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b'];

function escapeXml(s: string): string {
  return s.replace(/[<>&"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function ticks(lo: number, hi: number, log: boolean): number[] {
  if (log) {
    const out: number[] = [];
    for (let e = Math.floor(Math.log10(lo)); e <= Math.ceil(Math.log10(hi)); e++) out.push(10 ** e);
    return out.filter((t) => t >= lo / 1.0001 && t <= hi * 1.0001);
  }
  const span = hi - lo || 1;
  const step = 10 ** Math.floor(Math.log10(span / 4));
  const nice = [1, 2, 5, 10].map((m) => m * step).find((s) => span / s <= 6) ?? step * 10;
  const out: number[] = [];
  for (let t = Math.ceil(lo / nice) * nice; t <= hi + nice * 1e-9; t += nice) out.push(t);
  return out;
}

/** Renders `series` as an inline `<svg>` element string. Non-positive values are dropped on log axes. */
export function lineChart(series: readonly Series[], opts: ChartOptions): string {
  const width = opts.width ?? 640;
  // The legend sits above the plot area, one row per series, so it never hides a line.
  const legendRows = series.length;
  const height = (opts.height ?? 360) + legendRows * 14;
  const m = { left: 70, right: 20, top: 36 + legendRows * 14, bottom: 50 };
  const keep = ([x, y]: readonly [number, number]) =>
    Number.isFinite(x) && Number.isFinite(y) && (!opts.logX || x > 0) && (!opts.logY || y > 0);
  const all = series.flatMap((s) => s.points.filter(keep));
  if (all.length === 0) return `<p>${escapeXml(opts.title)}: no data</p>`;
  const fx = opts.logX ? Math.log10 : (v: number) => v;
  const fy = opts.logY ? Math.log10 : (v: number) => v;
  let [x0, x1] = [Math.min(...all.map((p) => p[0])), Math.max(...all.map((p) => p[0]))];
  let [y0, y1] = [Math.min(...all.map((p) => p[1])), Math.max(...all.map((p) => p[1]))];
  if (!opts.logY) y0 = Math.min(0, y0);
  if (x0 === x1) [x0, x1] = opts.logX ? [x0 / 2, x1 * 2] : [x0 - 1, x1 + 1];
  if (y0 === y1) [y0, y1] = opts.logY ? [y0 / 2, y1 * 2] : [y0 - 1, y1 + 1];
  const px = (x: number) => m.left + ((fx(x) - fx(x0)) / (fx(x1) - fx(x0))) * (width - m.left - m.right);
  const py = (y: number) =>
    height - m.bottom - ((fy(y) - fy(y0)) / (fy(y1) - fy(y0))) * (height - m.top - m.bottom);
  const fmtX = opts.formatX ?? ((x: number) => String(x));
  const fmtY = opts.formatY ?? ((y: number) => String(y));
  const parts: string[] = [];
  parts.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="11">`,
  );
  parts.push(
    `<text x="${width / 2}" y="18" text-anchor="middle" font-size="14">${escapeXml(opts.title)}</text>`,
  );
  for (const t of ticks(x0, x1, !!opts.logX)) {
    const x = px(t).toFixed(1);
    parts.push(`<line x1="${x}" x2="${x}" y1="${m.top}" y2="${height - m.bottom}" stroke="#eee"/>`);
    parts.push(
      `<text x="${x}" y="${height - m.bottom + 14}" text-anchor="middle">${escapeXml(fmtX(t))}</text>`,
    );
  }
  for (const t of ticks(y0, y1, !!opts.logY)) {
    const y = py(t).toFixed(1);
    parts.push(`<line x1="${m.left}" x2="${width - m.right}" y1="${y}" y2="${y}" stroke="#eee"/>`);
    parts.push(
      `<text x="${m.left - 6}" y="${y}" text-anchor="end" dominant-baseline="middle">${escapeXml(fmtY(t))}</text>`,
    );
  }
  parts.push(
    `<rect x="${m.left}" y="${m.top}" width="${width - m.left - m.right}" height="${height - m.top - m.bottom}" fill="none" stroke="#999"/>`,
  );
  parts.push(
    `<text x="${width / 2}" y="${height - 12}" text-anchor="middle">${escapeXml(opts.xLabel)}</text>`,
  );
  parts.push(
    `<text x="14" y="${height / 2}" text-anchor="middle" transform="rotate(-90 14 ${height / 2})">${escapeXml(opts.yLabel)}</text>`,
  );
  series.forEach((s, i) => {
    const color = COLORS[i % COLORS.length];
    const pts = s.points.filter(keep).map(([x, y]) => `${px(x).toFixed(1)},${py(y).toFixed(1)}`);
    if (pts.length === 0) return;
    parts.push(`<polyline fill="none" stroke="${color}" stroke-width="2" points="${pts.join(' ')}"/>`);
    for (const p of pts) {
      const [cx, cy] = p.split(',');
      parts.push(`<circle cx="${cx}" cy="${cy}" r="2.5" fill="${color}"/>`);
    }
    const ly = 36 + i * 14;
    parts.push(`<rect x="${m.left + 8}" y="${ly - 8}" width="10" height="3" fill="${color}"/>`);
    parts.push(`<text x="${m.left + 22}" y="${ly - 4}">${escapeXml(s.name)}</text>`);
  });
  parts.push('</svg>');
  return parts.join('\n');
}
