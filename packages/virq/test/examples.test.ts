import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import test from 'ava';

// The README quotes examples/embed/: run them, so the quoted code is known to work.
const example = (name: string) =>
  fileURLToPath(new URL(`../../../../examples/embed/${name}`, import.meta.url));

test('the SoftDevice embedding example services every raise and accounts for all of them', (t) => {
  const r = spawnSync(process.execPath, [example('soft-device.js')], { encoding: 'utf8', timeout: 120_000 });
  t.is(r.status, 0, r.stderr);
  const totals = Object.fromEntries(
    [...r.stdout.matchAll(/(raised|delivered|coalesced|pending|dropped): (\d+)/g)].map((m) => [
      m[1],
      Number(m[2]),
    ]),
  );
  t.is(totals.raised, 100 * 256);
  t.is(totals.pending, 0);
  t.is(totals.dropped, 0);
  t.is(totals.delivered + totals.coalesced, totals.raised);
  t.true(totals.delivered >= 256, 'every vector delivered at least once');
});

test('the VfioDevice example, on a machine without VFIO, stops at the device with the binding advice', (t) => {
  t.false(existsSync('/dev/vfio/vfio'), 'this test is about a machine without VFIO');
  const r = spawnSync(process.execPath, [example('vfio-device.js'), '0000:00:00.0'], {
    encoding: 'utf8',
    timeout: 60_000,
  });
  t.not(r.status, 0);
  t.regex(r.stderr, /ENOENT/);
  t.regex(r.stderr, /vfio-pci/);
});
