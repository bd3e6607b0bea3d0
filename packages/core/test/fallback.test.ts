/**
 * Without the native addon (VIRQ_NO_NATIVE=1, in a child process): core loads, SoftDevice works with
 * SharedEventFd triggers, and kernel fd numbers are still checked the way eventfd_ctx_fdget checks them
 * (through /proc/self/fd): not open -EBADF, not an eventfd -EINVAL.
 */
import { execFileSync } from 'node:child_process';
import test from 'ava';

const script = `
import * as c from ${JSON.stringify(new URL('../src/index.js', import.meta.url).href)};
import { openSync } from 'node:fs';
const out = { native: c.hasNative() };
const d = new c.SoftDevice({ msix: { vectors: 2 } });
const e = c.SharedEventFd.create();
out.bind = d.setIrqs({ flags: c.VFIO_IRQ_SET_DATA_EVENTFD | c.VFIO_IRQ_SET_ACTION_TRIGGER, index: 2, start: 0, count: 1, data: [e] });
out.raise = d.raise(2, 0);
out.count = String(e.tryRead());
const code = (f) => { try { f(); return 'ok'; } catch (err) { return err.code; } };
out.badFd = code(() => d.setIrqs({ flags: c.VFIO_IRQ_SET_DATA_EVENTFD | c.VFIO_IRQ_SET_ACTION_TRIGGER, index: 4, start: 0, count: 1, data: [987654] }));
const nul = openSync('/dev/null', 'r');
out.notEventfd = code(() => d.setIrqs({ flags: c.VFIO_IRQ_SET_DATA_EVENTFD | c.VFIO_IRQ_SET_ACTION_TRIGGER, index: 4, start: 0, count: 1, data: [nul] }));
out.beyondEnabled = code(() => d.setIrqs({ flags: c.VFIO_IRQ_SET_DATA_EVENTFD | c.VFIO_IRQ_SET_ACTION_TRIGGER, index: 2, start: 1, count: 1, data: [987654] }));
d.close(); e.close();
out.live = c.EventFdPool.default.live;
console.log(JSON.stringify(out));
`;

test('core works without @virq/native', (t) => {
  const out = execFileSync(process.execPath, ['--input-type=module', '-e', script], {
    env: { ...process.env, VIRQ_NO_NATIVE: '1' },
    encoding: 'utf8',
  });
  t.deepEqual(JSON.parse(out), {
    native: false,
    bind: 0,
    raise: 'signalled',
    count: '1',
    badFd: 'EBADF',
    notEventfd: 'EINVAL',
    beyondEnabled: 'EINVAL',
    live: 0,
  });
});
