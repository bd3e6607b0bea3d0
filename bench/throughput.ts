/**
 * bench/throughput.ts — the throughput harness's command line:
 *   node dist/throughput.js [--duration ms] [--vectors n] [--threads n] [--mode interrupt|poll|hybrid]
 *                           [--json out.json]
 * Prints a table and the ratios to the two baselines measured in the same run (the harness is virq's, see packages/virq/src/bench).
 */
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import type { DispatchMode } from 'virq';
import { formatThroughput, runThroughputBench } from 'virq/bench';

const { values } = parseArgs({
  options: {
    duration: { type: 'string' },
    vectors: { type: 'string' },
    threads: { type: 'string' },
    mode: { type: 'string' },
    json: { type: 'string' },
  },
});
const num = (s: string | undefined) => (s === undefined ? undefined : Number(s));
const result = await runThroughputBench({
  durationMs: num(values.duration),
  vectors: num(values.vectors),
  threads: num(values.threads),
  mode: values.mode as DispatchMode | undefined,
  log: (line) => process.stderr.write(`# ${line}\n`),
});
process.stdout.write(`${formatThroughput(result)}\n`);
if (values.json !== undefined) writeFileSync(values.json, `${JSON.stringify(result, null, 2)}\n`);
