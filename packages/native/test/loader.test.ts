import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { addonPath, isAvailable, loadNative } from '../src/index.js';

const indexUrl = new URL('../src/index.js', import.meta.url).href;

/** Imports the package in a fresh process with VIRQ_NATIVE_ADDON set, and reports what it saw. */
function probe(addon: string): Record<string, unknown> {
  const script = `
    const m = await import(${JSON.stringify(indexUrl)});
    const out = { available: m.isAvailable(), msixIndex: m.VFIO.PCI_MSIX_IRQ_INDEX };
    try { m.EventFd.create(); } catch (e) { out.code = e.code; out.message = e.message; out.cause = !!e.cause; }
    try { new m.Epoll(); } catch (e) { out.epollCode = e.code; }
    console.log(JSON.stringify(out));`;
  const stdout = execFileSync(process.execPath, ['--input-type=module', '-e', script], {
    env: { ...process.env, VIRQ_NATIVE_ADDON: addon },
    encoding: 'utf8',
  });
  return JSON.parse(stdout) as Record<string, unknown>;
}

test('the built addon loads here', (t) => {
  t.true(isAvailable());
  t.is(typeof loadNative().eventfdCreate, 'function');
  t.regex(addonPath, /build\/Release\/virq_native\.node$/);
});

test('without the addon, importing works, isAvailable() is false and use throws ERR_VIRQ_NATIVE_MISSING', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'virq-noaddon-'));
  try {
    const seen = probe(join(dir, 'virq_native.node'));
    t.is(seen.available, false);
    t.is(seen.msixIndex, 2, 'constants need no addon');
    t.is(seen.code, 'ERR_VIRQ_NATIVE_MISSING');
    t.is(seen.epollCode, 'ERR_VIRQ_NATIVE_MISSING');
    t.regex(String(seen.message), /pnpm --filter @virq\/native run build:addon/);
    t.true(seen.cause);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('an addon file that cannot be loaded throws ERR_VIRQ_NATIVE_LOAD with the loader error as cause', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'virq-badaddon-'));
  try {
    const bad = join(dir, 'virq_native.node');
    writeFileSync(bad, 'not an ELF file');
    const seen = probe(bad);
    t.is(seen.available, false);
    t.is(seen.code, 'ERR_VIRQ_NATIVE_LOAD');
    t.regex(String(seen.message), /Rebuild it for this Node/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
