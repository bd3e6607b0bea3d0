/**
 * `virq/bench`: the throughput harness behind `virq bench` (the @virq/bench-harness package), for
 * scripts that want the numbers without the CLI. Every figure is a ratio to a baseline measured in
 * the same run.
 */
export * from '@virq/bench-harness';
