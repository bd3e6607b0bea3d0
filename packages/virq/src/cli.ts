#!/usr/bin/env node
/**
 * The `virq` command: `bench`, `top`, `probe`, `soak`. Each command parses its own flags strictly; any bad
 * flag or value ends in one line on stderr and exit status 64 (EX_USAGE), never a stack trace.
 */
import { runBench } from './cmd-bench.js';
import { runProbe } from './cmd-probe.js';
import { runSoak } from './cmd-soak.js';
import { runTop } from './cmd-top.js';
import { UsageError } from './errors.js';

const HELP = `Usage: virq <command> [options]

Linux VFIO PCI interrupt semantics in user space, serviced by worker threads.

Commands:
  bench   run the throughput benchmark on the built-in software device
  top     live per-vector table of a running dispatcher
  probe   list this machine's VFIO devices and their IRQ info
  soak    a long run under storms, faults and rebalances, with a leak and zero-lost verdict

Run 'virq <command> --help' for a command's options.`;

const COMMANDS: Record<string, (argv: string[]) => Promise<number>> = {
  bench: runBench,
  top: runTop,
  probe: runProbe,
  soak: runSoak,
};

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (command === undefined || command === '--help' || command === '-h' || command === 'help') {
    process.stdout.write(`${HELP}\n`);
    return command === undefined ? 64 : 0;
  }
  if (command === '--version' || command === '-v') {
    const { readFileSync } = await import('node:fs');
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8'));
    process.stdout.write(`${pkg.version}\n`);
    return 0;
  }
  const run = COMMANDS[command];
  if (!run)
    throw new UsageError(
      `unknown command '${command}' (expected one of: ${Object.keys(COMMANDS).join(', ')})`,
    );
  return run(rest);
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    if (error instanceof UsageError) {
      process.stderr.write(`virq: ${error.message}\n`);
      process.exitCode = error.exitCode;
      return;
    }
    const err = error as NodeJS.ErrnoException;
    process.stderr.write(`virq: ${err.code ? `${err.code}: ` : ''}${err.message}\n`);
    if (process.env.VIRQ_DEBUG) process.stderr.write(`${err.stack}\n`);
    process.exitCode = 1;
  },
);
