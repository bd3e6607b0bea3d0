// The API reference stays warning-free: `pnpm run api-docs:check` (typedoc over every package's
// src/index.ts, nothing written, --treatWarningsAsErrors) must pass on the workspace. A warning
// there is a public signature naming a type the reference leaves out (an unexported or @internal
// type), a {@link} to a name it does not include, or a README link it cannot follow. Runs on the
// built workspace (sibling packages resolve to their declarations), like api-list.test.mjs.
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import test from 'ava';
import { runNode } from './helpers.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const typedoc = join(root, 'node_modules', 'typedoc', 'bin', 'typedoc');

/**
 * The check, as api-docs:check runs it, in `cwd`: without source links (typedoc.check.json's
 * `disableSources`; the fixture's one package by the flag), since a checkout with no `origin` remote
 * (a tarball, a `git init`) would otherwise warn that they will be broken.
 */
const check = (cwd, options) =>
  runNode([typedoc, ...options, '--emit', 'none', '--treatWarningsAsErrors', '--logLevel', 'Warn'], { cwd });

test('the workspace API reference builds with no typedoc warning', async (t) => {
  const { code, out } = await check(root, ['--options', 'typedoc.check.json']);
  t.is(out.match(/\[warning\][^\n]*/g), null, 'typedoc warned (pnpm run api-docs:check shows it)');
  t.is(code, 0, out);
});

test('the check fails on a public signature that names an unexported type', async (t) => {
  const { code, out } = await check(join(root, 'scripts', 'test', 'fixtures', 'typedoc-warning'), [
    '--disableSources',
  ]);
  t.regex(out, /Hidden, defined in [^\n]*, is referenced by take\.h but not included in the documentation/);
  t.not(code, 0);
});

// stripInternal drops an @internal declaration from the emitted .d.ts; a public type that still names
// it then points at nothing (FdMapping = NativeMapping did), which the workspace's skipLibCheck hides.
test('the built declarations of every package type-check on their own (skipLibCheck off)', async (t) => {
  const entries = readdirSync(join(root, 'packages'))
    .map((p) => join(root, 'packages', p, 'dist', 'src', 'index.d.ts'))
    .filter((f) => existsSync(f));
  t.true(entries.length >= 9, 'build the workspace first');
  const dir = mkdtempSync(join(tmpdir(), 'virq-dts-'));
  try {
    const compilerOptions = {
      target: 'ES2022',
      lib: ['ES2024'],
      module: 'NodeNext',
      moduleResolution: 'NodeNext',
      strict: true,
      noEmit: true,
      skipLibCheck: false,
      types: ['node'],
      typeRoots: [join(root, 'node_modules', '@types')],
    };
    writeFileSync(join(dir, 'tsconfig.json'), JSON.stringify({ compilerOptions, files: entries }));
    const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc');
    const { code, out } = await runNode([tsc, '-p', join(dir, 'tsconfig.json')], { cwd: dir });
    t.is(out, '');
    t.is(code, 0);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
