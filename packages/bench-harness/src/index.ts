/**
 * @virq/bench-harness: the harness behind `virq bench` (re-exported as `virq/bench`), for scripts
 * that want the numbers without the CLI (the repository's bench/ suites use it this way). Every
 * figure is a ratio to a baseline measured in the same run.
 */

export type { CpuCapacity } from './cpu-speed.js';
export {
  accountingLine,
  accountingsOf,
  type Figure,
  type FigureSummary,
  figureRows,
  figuresOf,
  formatRunsReport,
  summarizeRuns,
  type Table,
  type Target,
} from './report.js';
export {
  type Accounting,
  type EventfdResult,
  formatThroughput,
  type LatencyResult,
  openLoopWorkers,
  runDispatcherPhase,
  runThroughputBench,
  type SweepPoint,
  type ThroughputOptions,
  type ThroughputResult,
} from './throughput.js';
export type { LatencySummary } from './throughput-latency.js';
export type { PhaseResult } from './throughput-types.js';
