/**
 * Runs in the VM guest (node, chrooted into the host's root): the project's own packages against the
 * real vfio-pci driver. Prints JSON lines like the C runner:
 *   {"t":"slot","name":...,"status":"pass"|"fail"|"unavailable","reason"?:...}
 *   {"t":"check","test":...,"name":...,"expect":...,"got":...,"ok":...}
 *   {"t":"op",...}   the kernel's answers to seqs.txt, through @virq/pci's VfioDevice (kernel-replay)
 *
 *   node e2e.js <seqs.txt>      (VIRQ_EDU / VIRQ_E1000E name the devices' PCI addresses)
 *
 * Slots: vfio-open (container, group, device fd, region info, GET_IRQ_INFO via @virq/native),
 * core-edu-intx, core-edu-msi, core-e1000e-msix (@virq/pci VfioDevice + real eventfds, interrupts raised
 * through BAR0), kernel-replay, and dispatcher-edu-intx, dispatcher-edu-msi, dispatcher-e1000e-msix
 * (@virq/dispatch's Dispatcher over a VfioDevice: kernel eventfds, handlers in service workers,
 * dispatch-handler.ts; edu's INTx acked by the handler itself, through the device fd).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseSeqFile } from '../src/seqfile.js';
import { runSequence, type SoftDeviceLike } from '../src/soft.js';
import { ACTION, DATA, INDEX } from '../src/uapi.js';
import { importPackage } from '../src/workspace.js';
import { CTL } from './dispatch-handler.js';

interface EventFd {
  readonly fd: number;
  read(): bigint;
  write(v?: bigint | number): void;
  close(): void;
}
interface NativeDevice {
  readonly fd: number;
  getInfo(): { flags: number; numRegions: number; numIrqs: number };
  getRegionInfo(i: number): { flags: number; size: bigint; offset: bigint };
  getIrqInfo(i: number, argsz?: number): { flags: number; count: number };
  regionRead(offset: bigint, length: number): Buffer;
  regionWrite(offset: bigint, data: Uint8Array): number;
  configRead(offset: number, length: number): Buffer;
  configWrite(offset: number, data: Uint8Array): number;
  close(): void;
}
interface Handles {
  container: { close(): void };
  group: { getDevice(bdf: string): NativeDevice; close(): void };
  device: NativeDevice;
}
interface Native {
  isAvailable(): boolean;
  EventFd: { create(o: { nonblock: boolean }): EventFd };
  openVfioPci(bdf: string): Handles;
}
interface Pci {
  VfioDevice: { fromFd(fd: number): SoftDeviceLike & { vectorTable: unknown } };
}
/** The few members of @virq/dispatch's Dispatcher the slots use. */
interface DispatcherLike {
  start(): Promise<void>;
  stop(): Promise<void>;
  on(event: 'error', fn: (e: { error: Error }) => void): void;
  stats(): {
    vectors: {
      vector: number;
      raised: number;
      delivered: number;
      coalesced: number;
      pending: number;
      handled: number;
    }[];
    totals: { raised: number; delivered: number; coalesced: number; pending: number; handled: number };
  };
}
interface Dispatch {
  Dispatcher: new (o: Record<string, unknown>) => DispatcherLike;
}

const emit = (o: Record<string, unknown>) => process.stdout.write(`${JSON.stringify(o)}\n`);
let failures = 0;
let test = '';
function check(name: string, expect: number, got: number): void {
  const ok = expect === got;
  if (!ok) failures++;
  emit({ t: 'check', test, name, expect, got, ok });
}

/** Waits (sleeping, not spinning) until the eventfd has a count, up to `ms`; returns it or 0. */
async function evWait(e: EventFd, ms: number): Promise<number> {
  const until = Date.now() + ms;
  for (;;) {
    try {
      return Number(e.read());
    } catch (err) {
      if ((err as { code?: string }).code !== 'EAGAIN') throw err;
    }
    if (Date.now() >= until) return 0;
    await sleep(1);
  }
}

function u32(v: number): Uint8Array {
  return new Uint8Array(new Uint32Array([v >>> 0]).buffer);
}

class Bar0 {
  readonly off: bigint;
  constructor(readonly dev: NativeDevice) {
    this.off = dev.getRegionInfo(0).offset;
  }
  write(reg: number, v: number): void {
    this.dev.regionWrite(this.off + BigInt(reg), u32(v));
  }
  read(reg: number): number {
    return this.dev.regionRead(this.off + BigInt(reg), 4).readUInt32LE(0);
  }
}

function busMaster(dev: NativeDevice): void {
  const cmd = dev.configRead(4, 2).readUInt16LE(0) | 0x6;
  dev.configWrite(4, new Uint8Array(new Uint16Array([cmd]).buffer));
}

const EFD_TRIG = DATA.EVENTFD | ACTION.TRIGGER;

/** Waits (sleeping) until `cond` holds, up to `ms`; false if it never did. */
async function until(cond: () => boolean, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) return false;
    await sleep(1);
  }
  return true;
}

async function slot(name: string, fn: () => Promise<void>): Promise<void> {
  test = name;
  const before = failures;
  try {
    await fn();
    emit({ t: 'slot', name, status: failures === before ? 'pass' : 'fail' });
  } catch (err) {
    failures++;
    emit({ t: 'slot', name, status: 'fail', reason: String((err as Error).stack ?? err) });
  }
}

async function main(): Promise<void> {
  const seqPath = process.argv[2];
  const bdf = { edu: process.env.VIRQ_EDU ?? '', e1000e: process.env.VIRQ_E1000E ?? '' };
  const nat = await importPackage<Native>('native');
  const pci = await importPackage<Pci>('pci');
  if (!nat.ok || !nat.mod.isAvailable()) {
    emit({
      t: 'slot',
      name: 'vfio-open',
      status: 'unavailable',
      reason: nat.ok ? 'addon not built' : nat.reason,
    });
    return;
  }
  const { EventFd, openVfioPci } = nat.mod;
  const handles: Record<string, Handles> = {};

  await slot('vfio-open', async () => {
    for (const [alias, b] of Object.entries(bdf)) {
      const h = openVfioPci(b);
      handles[alias] = h;
      const info = h.device.getInfo();
      const regions = Array.from({ length: info.numRegions }, (_, i) => {
        try {
          const r = h.device.getRegionInfo(i);
          return { index: i, ret: 0, flags: r.flags, size: Number(r.size) };
        } catch (err) {
          return {
            index: i,
            ret: -(((err as { errno?: number }).errno ?? 0) as number),
            code: (err as { code?: string }).code,
          };
        }
      });
      const irqs = Array.from({ length: info.numIrqs }, (_, i) => {
        try {
          const r = h.device.getIrqInfo(i);
          return { index: i, ret: 0, flags: r.flags, count: r.count };
        } catch (err) {
          return { index: i, ret: -1, code: (err as { code?: string }).code };
        }
      });
      emit({
        t: 'node-device',
        alias,
        bdf: b,
        flags: info.flags,
        numRegions: info.numRegions,
        numIrqs: info.numIrqs,
        regions,
        irqs,
      });
      // vfio-pci tears IRQs down and resets only when the last fd of a device closes: the slots below
      // each want a fresh device, so keep the group and container but not this fd.
      h.device.close();
    }
  });
  if (!pci.ok) {
    for (const n of ['core-edu-intx', 'core-edu-msi', 'core-e1000e-msix', 'kernel-replay'])
      emit({ t: 'slot', name: n, status: 'unavailable', reason: pci.reason });
  } else {
    const { VfioDevice } = pci.mod;
    /** A fresh device fd of `alias` wrapped in @virq/pci's VfioDevice; close() closes the fd. */
    const fresh = (alias: 'edu' | 'e1000e') => {
      const nd = handles[alias].group.getDevice(bdf[alias]);
      const vd = VfioDevice.fromFd(nd.fd);
      return { nd, vd, bar: new Bar0(nd) };
    };

    await slot('core-edu-intx', async () => {
      const { nd, vd, bar } = fresh('edu');
      const efd = EventFd.create({ nonblock: true });
      try {
        check(
          'enable INTx trigger',
          0,
          vd.setIrqs({ flags: EFD_TRIG, index: INDEX.INTX, start: 0, count: 1, data: [efd] as never }),
        );
        let delivered = 0;
        const rounds = 10;
        for (let k = 0; k < rounds; k++) {
          bar.write(0x60, 1);
          delivered += await evWait(efd, 2000);
          bar.write(0x64, 1);
          vd.setIrqs({ flags: DATA.NONE | ACTION.UNMASK, index: INDEX.INTX, start: 0, count: 1 });
        }
        check('raise/ack/unmask rounds: deliveries == raises', rounds, delivered);
        bar.write(0x60, 1);
        check('raise -> one delivery (automasked after)', 1, await evWait(efd, 2000));
        vd.setIrqs({ flags: DATA.NONE | ACTION.UNMASK, index: INDEX.INTX, start: 0, count: 1 });
        check('UNMASK with the level still high re-fires', 1, await evWait(efd, 2000));
        bar.write(0x64, 1);
        vd.setIrqs({ flags: DATA.NONE | ACTION.UNMASK, index: INDEX.INTX, start: 0, count: 1 });
        check('UNMASK after the ack stays quiet', 0, await evWait(efd, 100));
      } finally {
        efd.close();
        nd.close();
      }
    });

    await slot('core-edu-msi', async () => {
      const { nd, vd, bar } = fresh('edu');
      const efd = EventFd.create({ nonblock: true });
      try {
        busMaster(nd);
        check(
          'enable MSI',
          0,
          vd.setIrqs({ flags: EFD_TRIG, index: INDEX.MSI, start: 0, count: 1, data: [efd] as never }),
        );
        let delivered = 0;
        const rounds = 10;
        for (let k = 0; k < rounds; k++) {
          bar.write(0x60, 1);
          delivered += await evWait(efd, 2000);
          bar.write(0x64, 1);
        }
        check('MSI rounds: deliveries == raises', rounds, delivered);
      } finally {
        efd.close();
        nd.close();
      }
    });

    await slot('core-e1000e-msix', async () => {
      const { nd, vd, bar } = fresh('e1000e');
      const efds = Array.from({ length: 5 }, () => EventFd.create({ nonblock: true }));
      try {
        busMaster(nd);
        check(
          'enable 5 MSI-X vectors',
          0,
          vd.setIrqs({ flags: EFD_TRIG, index: INDEX.MSIX, start: 0, count: 5, data: efds as never }),
        );
        bar.write(0xe4, 0x8 | (0x9 << 4) | (0xa << 8) | (0xb << 12) | (0xc << 16));
        const got = [0, 0, 0, 0, 0];
        const rounds = 4;
        for (let k = 0; k < rounds; k++) {
          for (let v = 0; v < 5; v++) {
            const cause = 1 << (20 + v);
            bar.write(0xd8, 0xffffffff);
            bar.write(0xd0, cause);
            bar.write(0xc8, cause);
            got[v] += await evWait(efds[v], 2000);
            bar.write(0xc0, 0xffffffff);
            await sleep(2);
          }
        }
        await sleep(20);
        for (let v = 0; v < 5; v++) {
          got[v] += await evWait(efds[v], 0);
          check(`vector ${v}: deliveries == ICS raises`, rounds, got[v]);
        }
      } finally {
        for (const e of efds) e.close();
        nd.close();
      }
    });

    await slot('kernel-replay', async () => {
      if (!seqPath) throw new Error('no sequence file given');
      const seqs = parseSeqFile(readFileSync(seqPath, 'utf8'));
      for (const seq of seqs) {
        let nd: NativeDevice | undefined;
        const results = await runSequence(
          {
            open: () => {
              nd = handles[seq.device].group.getDevice(bdf[seq.device]);
              const vd = VfioDevice.fromFd(nd.fd);
              return {
                getIrqInfo: vd.getIrqInfo.bind(vd),
                setIrqs: vd.setIrqs.bind(vd),
                close: () => nd?.close(),
              };
            },
            createEventFd: () => EventFd.create({ nonblock: true }),
          },
          seq,
        );
        for (const r of results) emit({ t: 'op', ...r });
      }
    });
  }

  const dispatch = await importPackage<Dispatch>('dispatch');
  const dslots = ['dispatcher-edu-intx', 'dispatcher-edu-msi', 'dispatcher-e1000e-msix'];
  if (!pci.ok || !dispatch.ok) {
    const reason = !pci.ok ? pci.reason : !dispatch.ok ? dispatch.reason : '';
    for (const n of dslots) emit({ t: 'slot', name: n, status: 'unavailable', reason });
  } else {
    const { VfioDevice } = pci.mod;
    const { Dispatcher } = dispatch.mod;
    const module = new URL('./dispatch-handler.js', import.meta.url);
    /**
     * A Dispatcher over a fresh device fd (VfioDevice, so kernel eventfds in epoll sets), its handler
     * control words, and a teardown that stops it and closes the fd. Errors the dispatcher reports
     * (a handler that threw, a worker that died) fail the slot.
     */
    const serve = async (
      alias: 'edu' | 'e1000e',
      o: Record<string, unknown>,
      before?: (nd: NativeDevice) => void,
    ) => {
      const fdsBefore = readdirSync('/proc/self/fd');
      const nd = handles[alias].group.getDevice(bdf[alias]);
      const bar = new Bar0(nd);
      before?.(nd);
      const ctl = new Int32Array(new SharedArrayBuffer(32 * 4));
      const ack = alias === 'edu' ? { fd: nd.fd, offset: String(bar.off + 0x64n) } : undefined;
      const d = new Dispatcher({
        device: VfioDevice.fromFd(nd.fd),
        module,
        mode: 'interrupt',
        timeoutMs: 60_000,
        data: { ctl: ctl.buffer, ack },
        ...o,
      });
      const errors: string[] = [];
      d.on('error', (e) => errors.push(e.error.message));
      const t0 = performance.now();
      try {
        await d.start();
      } catch (err) {
        nd.close();
        throw err;
      }
      emit({ t: 'info', test, what: 'dispatcher started', ms: Math.round(performance.now() - t0) });
      const calls = (v: number) => Atomics.load(ctl, CTL.CALLS + v);
      const done = async () => {
        await d.stop();
        nd.close();
        check('no dispatcher error', 0, errors.length);
        const left = readdirSync('/proc/self/fd').filter((fd) => !fdsBefore.includes(fd));
        check('no fd left by the dispatcher (eventfds, epoll sets, device fd)', 0, left.length);
        if (errors.length) emit({ t: 'info', test, errors });
      };
      return { nd, bar, d, ctl, calls, done };
    };

    await slot('dispatcher-edu-intx', async () => {
      const { bar, d, ctl, calls, done } = await serve('edu', {
        index: INDEX.INTX,
        vectors: [0],
        workers: 1,
      });
      try {
        const rounds = 8;
        // The handler acks edu on every call: automask → handler (ack) → unmask finds the level low.
        Atomics.store(ctl, CTL.ACK_EVERY, 1);
        for (let k = 1; k <= rounds; k++) {
          bar.write(0x60, 1);
          if (!(await until(() => calls(0) >= k, 5000))) break;
        }
        await sleep(200);
        check('handler acks on its call: handler calls == raises', rounds, calls(0));
        check('handler acks: acks == raises', rounds, Atomics.load(ctl, CTL.ACKS));
        const first = d.stats().vectors[0];
        // The handler acks every second call: the unmask after the first meets the level still high,
        // the kernel keeps the line masked and re-sends the trigger; the second call acks: quiet.
        Atomics.store(ctl, CTL.CALLS, 0);
        Atomics.store(ctl, CTL.ACKS, 0);
        Atomics.store(ctl, CTL.ACK_EVERY, 2);
        for (let k = 1; k <= rounds; k++) {
          bar.write(0x60, 1);
          if (!(await until(() => calls(0) >= 2 * k, 5000))) break;
        }
        await sleep(200);
        check('level still high at the unmask: handler calls == 2 × raises', 2 * rounds, calls(0));
        check('acked on the second call: acks == raises', rounds, Atomics.load(ctl, CTL.ACKS));
        check('ack pwrites that failed', 0, Atomics.load(ctl, CTL.ERRORS));
        const c = d.stats().vectors[0];
        emit({ t: 'info', test, stats: c });
        check('every call carried one interrupt', 3 * rounds, Atomics.load(ctl, CTL.SUM));
        check('dispatcher: delivered == handler calls', 3 * rounds, c.delivered);
        check('dispatcher: handled == handler calls', 3 * rounds, c.handled);
        check('dispatcher: raised (the signals the kernel sent)', 3 * rounds, c.raised);
        check('dispatcher: coalesced', 0, c.coalesced);
        check('dispatcher: pending', 0, c.pending);
        check('acking phase: delivered', rounds, first.delivered);
      } finally {
        await done();
      }
    });

    await slot('dispatcher-edu-msi', async () => {
      const { bar, d, ctl, calls, done } = await serve(
        'edu',
        { index: INDEX.MSI, vectors: [0], workers: 1 },
        busMaster,
      );
      try {
        const rounds = 10;
        Atomics.store(ctl, CTL.ACK_EVERY, 1);
        for (let k = 1; k <= rounds; k++) {
          bar.write(0x60, 1);
          if (!(await until(() => calls(0) >= k, 5000))) break;
        }
        await sleep(100);
        const c = d.stats().vectors[0];
        emit({ t: 'info', test, stats: c });
        check('MSI: handler calls == raises', rounds, calls(0));
        check('MSI: interrupts carried == raises', rounds, Atomics.load(ctl, CTL.SUM));
        check('dispatcher: delivered + coalesced == raises', rounds, c.delivered + c.coalesced);
        check('dispatcher: pending', 0, c.pending);
      } finally {
        await done();
      }
    });

    await slot('dispatcher-e1000e-msix', async () => {
      const { bar, d, calls, ctl, done } = await serve(
        'e1000e',
        { index: INDEX.MSIX, vectors: 5, workers: 2 },
        busMaster,
      );
      try {
        bar.write(0xe4, 0x8 | (0x9 << 4) | (0xa << 8) | (0xb << 12) | (0xc << 16));
        const rounds = 4;
        for (let k = 1; k <= rounds; k++) {
          for (let v = 0; v < 5; v++) {
            const cause = 1 << (20 + v);
            bar.write(0xd8, 0xffffffff);
            bar.write(0xd0, cause);
            bar.write(0xc8, cause);
            await until(() => calls(v) >= k, 5000);
            bar.write(0xc0, 0xffffffff);
            await sleep(2);
          }
        }
        await sleep(50);
        const s = d.stats();
        emit({ t: 'info', test, stats: s.vectors });
        for (let v = 0; v < 5; v++) {
          check(`vector ${v}: handler calls == ICS raises`, rounds, calls(v));
          check(`vector ${v}: interrupts carried == ICS raises`, rounds, Atomics.load(ctl, CTL.SUM + v));
          check(
            `vector ${v}: dispatcher delivered + coalesced == ICS raises`,
            rounds,
            s.vectors[v].delivered + s.vectors[v].coalesced,
          );
        }
        check('dispatcher: pending', 0, s.totals.pending);
      } finally {
        await done();
      }
    });
  }

  for (const h of Object.values(handles)) {
    h.group.close();
    h.container.close();
  }
  emit({ t: 'node-done', failures });
  process.exitCode = failures ? 1 : 0;
}

await main();
