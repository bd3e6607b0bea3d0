#!/usr/bin/env node
// Builds every workspace package (as `pnpm run build` does) with the build's output held back: on
// success one line on stderr, on failure the whole captured output and the build's exit status.
// `pnpm bench` runs it first so that what it prints is the benchmark report, not six blocks of tsc
// and node-gyp logs.
import { spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const started = performance.now();
const child = spawn('pnpm', ['-r', '--workspace-concurrency=1', 'run', 'build'], {
  cwd: root,
  stdio: ['ignore', 'pipe', 'pipe'],
});
const chunks = [];
child.stdout.on('data', (c) => chunks.push(c));
child.stderr.on('data', (c) => chunks.push(c));
child.on('error', (err) => {
  process.stderr.write(`build: could not run pnpm: ${err.message}\n`);
  process.exit(1);
});
child.on('close', (code, signal) => {
  if (code === 0) {
    process.stderr.write(`build: ok (${((performance.now() - started) / 1000).toFixed(1)} s)\n`);
    return;
  }
  process.stderr.write(Buffer.concat(chunks));
  process.stderr.write(`build: failed (${signal ?? `exit ${code}`})\n`);
  process.exit(code ?? 1);
});
