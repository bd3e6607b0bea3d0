import type { ThroughputResult } from '@virq/bench-harness';
import { nanos, si } from './format.js';
import { lineChart } from './svg-chart.js';

function esc(s: string): string {
  return s.replace(/[<>&"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/**
 * A self-contained HTML report of one `virq bench` run: the summary table, the ratios to the
 * baselines measured in the same run, the latency distribution of every phase, and closed-loop
 * throughput against vector count. Inline SVG and CSS only — no scripts, no network.
 */
export function renderHtmlReport(r: ThroughputResult, command: string): string {
  const phases = Object.values(r.phases);
  const rows = phases
    .map(
      (p) =>
        `<tr><td>${esc(p.name)}</td><td>${esc(p.threads)}</td><td>${si(p.handledPerSec)}</td><td>${si(p.raisesPerSec)}</td>` +
        `<td>${p.coalescedPct.toFixed(1)}%</td><td>${p.latencyUs.p50.toFixed(1)}</td><td>${p.latencyUs.p99.toFixed(1)}</td>` +
        `<td>${p.latencyUs.p999.toFixed(1)}</td><td>${nanos(p.cpuNsPerHandled)}</td></tr>`,
    )
    .join('\n');
  // Percentile axis as "nines": 1/(1-p) on a log scale spreads p50 … p99.99 evenly.
  const nines = (pct: number) => 1 / Math.max(1e-5, 1 - pct / 100);
  const latency = lineChart(
    phases.map((p) => ({
      name: p.name,
      points: p.latencyUs.distribution
        .filter(([pct]) => pct < 100)
        .map(([pct, us]) => [nines(pct), us] as const),
    })),
    {
      title: 'Raise → handler latency distribution',
      xLabel: 'percentile',
      yLabel: 'latency (µs)',
      logX: true,
      logY: true,
      formatX: (x) => `p${(100 - 100 / x).toFixed(x >= 1000 ? 2 : x >= 100 ? 1 : 0)}`,
      formatY: (y) => (y >= 1000 ? `${y / 1000}ms` : `${y}`),
    },
  );
  const sweep =
    r.sweep.length > 0
      ? lineChart(
          [
            { name: 'virq closed loop', points: r.sweep.map((s) => [s.vectors, s.handledPerSec] as const) },
            {
              name: 'piscina task per event (at the main run)',
              points: r.sweep.map((s) => [s.vectors, r.phases.piscina.handledPerSec] as const),
            },
          ],
          {
            title: 'Throughput against vector count (closed loop)',
            xLabel: 'vectors',
            yLabel: 'handled / s',
            logX: true,
            logY: true,
            formatY: (y) => si(y, 2),
          },
        )
      : '<p>No vector-count sweep in this run.</p>';
  const ratio = (n: number) => `${n.toFixed(1)}×`;
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>virq bench — ${esc(new Date().toISOString())}</title>
<style>
body{font-family:system-ui,sans-serif;margin:2em;max-width:70em;color:#222}
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:.3em .6em;text-align:right}
td:first-child,th:first-child,td:nth-child(2){text-align:left}th{background:#f4f4f4}
code{background:#f4f4f4;padding:.1em .3em}.ok{color:#2a7a2a}.bad{color:#b22}
</style></head><body>
<h1>virq bench</h1>
<p><code>${esc(command)}</code> — ${r.options.vectors} MSI-X vectors on a SoftDevice, ${r.options.threads} threads,
mode ${esc(r.options.mode)}; Node ${esc(r.machine.node)}, ${r.machine.cpus} CPUs (${esc(r.machine.cpuModel)}).
Every ratio compares phases measured in this same run.</p>
<h2>Summary</h2>
<table><tr><th>phase</th><th>threads</th><th>handled/s</th><th>raises absorbed/s</th><th>coalesced</th>
<th>p50 µs</th><th>p99 µs</th><th>p99.9 µs</th><th>CPU / handled</th></tr>
${rows}
</table>
<h2>Ratios</h2>
<table>
<tr><td>closed loop ÷ piscina task per event (target ≥ 100×)</td><td class="${r.targetMet ? 'ok' : 'bad'}">${ratio(r.ratios.closedVsPiscina)}</td></tr>
<tr><td>closed loop ÷ eventfd + epoll wake per event</td><td>${ratio(r.ratios.closedVsEpoll)}</td></tr>
<tr><td>open loop raises absorbed ÷ piscina</td><td>${ratio(r.ratios.openAbsorbedVsPiscina)}</td></tr>
<tr><td>open loop handled ÷ piscina</td><td>${ratio(r.ratios.openHandledVsPiscina)}</td></tr>
<tr><td>CPU per event: piscina ÷ closed loop</td><td>${ratio(r.ratios.cpuPiscinaOverClosed)}</td></tr>
</table>
<h2>Latency</h2>
${latency}
<h2>Scaling</h2>
${sweep}
</body></html>
`;
}
