#!/usr/bin/env node
// `pnpm virq <command> [options]` from a clone: runs the virq CLI (bench, top, probe, …) from the
// workspace's build, building first if it is not there (a fresh clone after `pnpm install`).
// `pnpm exec virq` cannot do this: the bin is linked only where a package depends on virq.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const cli = join(root, 'packages', 'virq', 'dist', 'src', 'cli.js');
if (!existsSync(cli)) {
  process.stderr.write('virq: not built yet; running pnpm run build first\n');
  const b = spawnSync('pnpm', ['run', 'build'], { cwd: root, stdio: ['ignore', 'inherit', 'inherit'] });
  if (b.status !== 0) process.exit(b.status ?? 1);
}
const r = spawnSync(process.execPath, [cli, ...process.argv.slice(2)], { stdio: 'inherit' });
process.exit(r.status ?? (r.signal ? 128 : 1));
