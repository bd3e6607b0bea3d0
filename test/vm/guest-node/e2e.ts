/**
 * Runs in the VM guest (node, chrooted into the host's root): the project's own packages against the
 * real vfio-pci driver. Prints JSON lines like the C runner:
 *   {"t":"slot","name":...,"status":"pass"|"fail"|"unavailable","reason"?:...}
 *   {"t":"check","test":...,"name":...,"expect":...,"got":...,"ok":...}
 *   {"t":"op",...}   the kernel's answers to seqs.txt, through @virq/core's VfioDevice (kernel-replay)
 *
 *   node e2e.js <seqs.txt>      (VIRQ_EDU / VIRQ_E1000E name the devices' PCI addresses)
 *
 * Slots: vfio-open (container, group, device fd, region info, GET_IRQ_INFO via @virq/native),
 * core-edu-intx, core-edu-msi, core-e1000e-msix (@virq/core VfioDevice + real eventfds, interrupts raised
 * through BAR0), kernel-replay, and dispatcher (@virq/dispatch; see README "What is left to wire").
 */
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseSeqFile } from '../src/seqfile.js';
import { runSequence, type SoftDeviceLike } from '../src/soft.js';
import { ACTION, DATA, INDEX } from '../src/uapi.js';
import { importPackage } from '../src/workspace.js';

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
interface Core {
  VfioDevice: { fromFd(fd: number): SoftDeviceLike & { vectorTable: unknown } };
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
  const core = await importPackage<Core>('core');
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
  if (!core.ok) {
    for (const n of ['core-edu-intx', 'core-edu-msi', 'core-e1000e-msix', 'kernel-replay'])
      emit({ t: 'slot', name: n, status: 'unavailable', reason: core.reason });
  } else {
    const { VfioDevice } = core.mod;
    /** A fresh device fd of `alias` wrapped in @virq/core's VfioDevice; close() closes the fd. */
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

  const dispatch = await importPackage<Record<string, unknown>>('dispatch');
  emit({
    t: 'slot',
    name: 'dispatcher',
    status: 'unavailable',
    reason: dispatch.ok
      ? `@virq/dispatch loads (exports: ${Object.keys(dispatch.mod).join(', ')}); the Dispatcher end-to-end is not wired yet`
      : dispatch.reason,
  });

  for (const h of Object.values(handles)) {
    h.group.close();
    h.container.close();
  }
  emit({ t: 'node-done', failures });
  process.exitCode = failures ? 1 : 0;
}

await main();
