/**
 * Runs in the VM guest: the cost of an edu register access through the BAR0 mapping (MmioRegion.read32 /
 * write32, and the raw Uint32Array view) against the baseline, pread/pwrite of 4 bytes on the device fd
 * (one syscall per register: vfio_pci_rw → ioread32/iowrite32). Interleaved in each run, so load drift
 * hits both alike; every figure is a ratio within one run, reported as the median and the spread over
 * the runs. One JSON line: {"t":"bench", runs, ops, nsPerOp: {...}, ratio: {...}, guestLoadavg}.
 * Run by mem.ts (`node mem.js ... bench`), so the guest starts node once for both.
 */
import { readFileSync } from 'node:fs';
import { importPackage } from '../src/workspace.js';

interface Mmio {
  read32(off: number): number;
  write32(off: number, v: number): void;
  readonly u32: Uint32Array;
}
interface Pci {
  VfioPciDevice: {
    open(bdf: string): {
      fd: number;
      regionInfo(i: number): { offset: bigint };
      mapRegion(i: number): Mmio;
      close(): void;
    };
  };
}
interface Native {
  loadNative(): {
    vfio: {
      pread(fd: number, b: Uint8Array, off: bigint): number;
      pwrite(fd: number, b: Uint8Array, off: bigint): number;
    };
  };
}

/** ns per call of `f`, `ops` times. */
function time(ops: number, f: (i: number) => void): number {
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < ops; i++) f(i);
  return Number(process.hrtime.bigint() - t0) / ops;
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const summary = (xs: number[]) => ({
  median: Number(median(xs).toFixed(2)),
  min: Number(Math.min(...xs).toFixed(2)),
  max: Number(Math.max(...xs).toFixed(2)),
});

/** Measures on edu (`bdf`) and prints the bench line. */
export async function runBench(bdf: string, runs = 7, ops = 4000): Promise<void> {
  const pci = await importPackage<Pci>('pci');
  const nat = await importPackage<Native>('native');
  if (!pci.ok || !nat.ok) throw new Error(!pci.ok ? pci.reason : !nat.ok ? nat.reason : '');
  const dev = pci.mod.VfioPciDevice.open(bdf);
  const { pread, pwrite } = nat.mod.loadNative().vfio;
  try {
    const bar = dev.mapRegion(0);
    const base = dev.regionInfo(0).offset;
    const ident = base; // 0x00: identification (read-only)
    const live = base + 4n; // 0x04: liveness (write inverts)
    const b = new Uint8Array(4);
    const wb = new Uint8Array(4);
    let sink = 0;
    const per: Record<string, number[]> = {
      mapRead: [],
      rawRead: [],
      preadRead: [],
      mapWrite: [],
      pwriteWrite: [],
      readRatio: [],
      rawReadRatio: [],
      writeRatio: [],
    };
    // One untimed round to compile the loops and fault the BAR page in.
    for (let r = 0; r <= runs; r++) {
      const mapRead = time(ops, () => {
        sink ^= bar.read32(0);
      });
      const rawRead = time(ops, () => {
        sink ^= bar.u32[0];
      });
      const preadRead = time(ops, () => {
        pread(dev.fd, b, ident);
      });
      const mapWrite = time(ops, (i) => bar.write32(4, i));
      const pwriteWrite = time(ops, (i) => {
        wb[0] = i;
        pwrite(dev.fd, wb, live);
      });
      if (r === 0) continue;
      per.mapRead.push(mapRead);
      per.rawRead.push(rawRead);
      per.preadRead.push(preadRead);
      per.mapWrite.push(mapWrite);
      per.pwriteWrite.push(pwriteWrite);
      per.readRatio.push(preadRead / mapRead);
      per.rawReadRatio.push(preadRead / rawRead);
      per.writeRatio.push(pwriteWrite / mapWrite);
    }
    const correct = bar.read32(0) === 0x010000ed && (sink | 0) !== 0x7fffffff;
    process.stdout.write(
      `${JSON.stringify({
        t: 'bench',
        what: 'edu BAR0 register access: mapping vs pread/pwrite on the device fd (ns/op; ratio = syscall / mapping)',
        runs,
        ops,
        correct,
        nsPerOp: {
          mapRead32: summary(per.mapRead),
          rawU32Read: summary(per.rawRead),
          pread4: summary(per.preadRead),
          mapWrite32: summary(per.mapWrite),
          pwrite4: summary(per.pwriteWrite),
        },
        ratio: {
          read: summary(per.readRatio),
          rawRead: summary(per.rawReadRatio),
          write: summary(per.writeRatio),
        },
        guestLoadavg: readFileSync('/proc/loadavg', 'utf8').trim(),
      })}\n`,
    );
  } finally {
    dev.close();
  }
}
