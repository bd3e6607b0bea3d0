#!/usr/bin/env node
// Packaging test: can a user install virq outside this workspace? `pnpm pack` every public package
// (the built workspace: run after `pnpm run build`), install the tarballs into an empty npm project
// in a temporary directory (the native addon builds from its tarball; everything else comes from the
// npm registry), then from there: import 'virq', run the README's embedding example, run `virq probe`.
// Fails when a public package depends on a private one (it could never be published) or on a
// workspace package that is not packed. Exit 0 only if all of it worked.
import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const fail = (msg) => {
  process.stderr.write(`pack-test: ${msg}\n`);
  process.exit(1);
};
const read = (dir) => JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'));

const all = readdirSync(join(root, 'packages')).map((d) => join(root, 'packages', d));
const manifests = new Map(all.map((dir) => [dir, read(dir)]));
const publicDirs = all.filter((dir) => manifests.get(dir).private !== true);
const publicNames = new Set(publicDirs.map((dir) => manifests.get(dir).name));
const workspaceNames = new Set();
for (const ws of ['packages', 'bench', 'test', 'examples']) {
  const base = join(root, ws);
  const dirs = ws === 'packages' || ws === 'examples' ? readdirSync(base).map((d) => join(base, d)) : [base];
  for (const d of dirs) {
    try {
      workspaceNames.add(read(d).name);
    } catch {}
  }
}
for (const dir of publicDirs) {
  const m = manifests.get(dir);
  for (const dep of Object.keys(m.dependencies ?? {})) {
    if (workspaceNames.has(dep) && !publicNames.has(dep)) {
      fail(`${m.name} depends on ${dep}, a private workspace package: it cannot be installed from npm`);
    }
  }
}

const tmp = mkdtempSync(join(tmpdir(), 'virq-pack-'));
const keep = process.env.VIRQ_PACK_KEEP === '1';
try {
  const tarballs = join(tmp, 'tarballs');
  mkdirSync(tarballs);
  const files = {};
  for (const dir of publicDirs) {
    const out = execFileSync('pnpm', ['pack', '--pack-destination', tarballs], {
      cwd: dir,
      encoding: 'utf8',
    });
    const tgz = out.trim().split('\n').pop().trim();
    files[manifests.get(dir).name] = `file:${tgz}`;
  }
  const app = join(tmp, 'app');
  mkdirSync(app);
  // overrides: the packages' own dependencies on each other resolve to the tarballs too, not to npm
  writeFileSync(
    join(app, 'package.json'),
    JSON.stringify(
      {
        name: 'virq-pack-test',
        private: true,
        type: 'module',
        dependencies: { virq: files.virq },
        overrides: files,
      },
      null,
      2,
    ),
  );
  const npm = spawnSync('npm', ['install', '--no-audit', '--no-fund', '--loglevel=error'], {
    cwd: app,
    stdio: 'inherit',
  });
  if (npm.status !== 0) fail(`npm install of the tarballs failed (exit ${npm.status})`);
  const run = (what, args) => {
    const r = spawnSync(process.execPath, args, { cwd: app, encoding: 'utf8', timeout: 120_000 });
    process.stdout.write(r.stdout);
    if (r.status !== 0) fail(`${what} failed (exit ${r.status}):\n${r.stderr}`);
    return r.stdout;
  };
  run('import virq', [
    '-e',
    "const v = await import('virq'); if (typeof v.Dispatcher !== 'function' || typeof v.VfioPciDevice !== 'function' || !v.native.isAvailable()) process.exit(1);",
    '--input-type=module',
  ]);
  for (const f of ['soft-device.js', 'handlers.js']) cpSync(join(root, 'examples', 'embed', f), join(app, f));
  const out = run('the embedding example', ['soft-device.js']);
  if (!/dropped: 0/.test(out)) fail('the embedding example did not account for every interrupt');
  run('virq probe', [join(app, 'node_modules', 'virq', 'dist', 'src', 'cli.js'), 'probe']);
  process.stdout.write(
    `pack-test: ${publicDirs.length} packages packed, installed from tarballs, imported and run\n`,
  );
} finally {
  if (!keep) rmSync(tmp, { recursive: true, force: true });
}
