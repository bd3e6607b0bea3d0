#!/usr/bin/env node
// Builds the native addon (build/Release/virq_native.node) from source with node-gyp.
//
// Runs as this package's `install` script, so `pnpm install` builds it on a fresh machine; run it by hand
// with `pnpm run build:addon`. Nothing is downloaded: node-gyp is pointed at the headers of the Node that
// runs this script through an explicit `--nodedir` (npm's `nodedir` config is on its way out, and without
// it node-gyp would try to fetch a headers tarball, which these machines cannot reach).
//
// Environment: VIRQ_NODEDIR overrides the headers directory (a dir with include/node/node_api.h);
// VIRQ_NATIVE_DEBUG=1 builds build/Debug as well (node-gyp --debug).
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const pkgDir = join(dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(join(pkgDir, 'package.json'));

function fail(lines) {
  console.error(['', '@virq/native: cannot build the native addon.', ...lines, ''].join('\n'));
  process.exit(1);
}

/** The Node headers dir: the prefix of the running node (/usr for /usr/bin/node) holding include/node. */
function findNodeDir() {
  const candidates = [];
  if (process.env.VIRQ_NODEDIR) candidates.push(process.env.VIRQ_NODEDIR);
  candidates.push(dirname(dirname(process.execPath)));
  for (const dir of candidates) {
    if (
      existsSync(join(dir, 'include', 'node', 'node_api.h')) &&
      existsSync(join(dir, 'include', 'node', 'common.gypi'))
    ) {
      return dir;
    }
  }
  return fail([
    `Node's C headers were not found (looked for include/node/node_api.h and common.gypi under: ${candidates.join(', ')}).`,
    `The running node is ${process.execPath} (${process.version}).`,
    'Install the headers that match it (Debian/Ubuntu: `apt-get install nodejs` from the same source as node',
    'ships them in /usr/include/node; official tarballs ship them in <prefix>/include/node), or point',
    'VIRQ_NODEDIR at a directory that contains include/node/node_api.h.',
    'Without the addon, @virq/core still works with shared-memory triggers.',
  ]);
}

function need(tool, hint) {
  const r = spawnSync(tool, ['--version'], { stdio: 'ignore' });
  if (r.error || r.status !== 0) fail([`\`${tool}\` is required to compile the addon: ${hint}`]);
}

const nodedir = findNodeDir();
need('make', 'apt-get install make');
need('g++', 'apt-get install g++');
need('python3', 'apt-get install python3');

let gypBin;
try {
  gypBin = join(dirname(require.resolve('node-gyp/package.json')), 'bin', 'node-gyp.js');
} catch {
  fail(['node-gyp is not installed in this package (it is a dependency: run `pnpm install`).']);
}

const args = [gypBin, 'rebuild', `--nodedir=${nodedir}`, '--jobs=max'];
if (process.env.VIRQ_NATIVE_DEBUG === '1') args.push('--debug');
console.log(`@virq/native: node-gyp rebuild --nodedir=${nodedir}`);
const r = spawnSync(process.execPath, args, { cwd: pkgDir, stdio: 'inherit' });
if (r.error) fail([`could not run node-gyp: ${r.error.message}`]);
if (r.status !== 0) fail([`node-gyp exited with status ${r.status}; the compiler output is above.`]);
if (!existsSync(join(pkgDir, 'build', 'Release', 'virq_native.node'))) {
  fail(['node-gyp reported success but build/Release/virq_native.node is missing.']);
}
console.log('@virq/native: built build/Release/virq_native.node');
