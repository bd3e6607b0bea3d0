/**
 * Runs in the VM guest: device memory on QEMU's edu through @virq/pci's VfioPciDevice (issue 10).
 * JSON lines like e2e.ts ({t:'slot'}, {t:'check'}, {t:'info'}).
 *
 *   node mem.js [type1] [iommufd] [bench]  (VIRQ_EDU names edu's PCI address; bench: mem-bench.ts)
 *   node mem.js memlock-child <bdf>      (internal: run under prlimit + setpriv by the memlock slot)
 *
 * Slots (prefixed with the IOMMU interface, e.g. type1-bar0):
 *  bar0       BAR0 through the mapping: identification, liveness inversion, factorial; equal to pread.
 *  bad-input  a region index that does not exist, an unmappable region, offset/length past the region,
 *             map after close, access after unmap — each an errno `code`; nothing left mapped or open.
 *  dma        edu's DMA engine: pattern RAM → edu buffer → another IOVA; each completion is an MSI the
 *             Dispatcher delivers to mem-handler.ts, which acks through its own mapping and checks the
 *             bytes; the first MSI (raised by 0x60) has the handler read BAR0 and run the factorial.
 *  iommu      the IOMMU as the boundary: edu told to write to an IOVA that is not mapped and to one mapped
 *             read-only; every byte of every mapping unchanged; the kernel's DMAR fault lines reported.
 *  memlock    (type1) a child with RLIMIT_MEMLOCK 1 MiB and no CAP_IPC_LOCK: a 2 MiB pool is ENOMEM with
 *             the limit in the message, a 512 KiB one works; nothing left behind in the child.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { INDEX } from '../src/uapi.js';
import { importPackage } from '../src/workspace.js';
import { runBench } from './mem-bench.js';
import { MEM_CTL, PHASE, patternByte } from './mem-handler.js';

interface Mmio {
  read32(off: number): number;
  write32(off: number, v: number): void;
  readonly u32: Uint32Array;
  readonly handle: unknown;
  unmap(): void;
}
interface Buf {
  iova: bigint;
  bytes: Uint8Array;
  handle: unknown;
}
interface Pool {
  iova: bigint;
  size: number;
  bytes: Uint8Array;
  alloc(size: number, align?: number): Buf;
}
interface RegionInfo {
  flags: number;
  size: bigint;
  offset: bigint;
  caps: { id: number }[];
  sparse?: unknown[];
  msixMappable: boolean;
}
interface PciDevice {
  fd: number;
  irq: unknown;
  iovas: { alloc(size: bigint, align: bigint): bigint; free(at: bigint, size: bigint): void };
  mapper: { kind: string; info(): unknown };
  regionInfo(i: number): RegionInfo;
  mapRegion(i: number, o?: { offset?: number; length?: number }): Mmio;
  configRead(off: number, len: number): Buffer;
  enableBusMaster(): void;
  dmaPool(size: number, o?: { hugetlb?: boolean; access?: { read?: boolean; write?: boolean } }): Pool;
  close(): void;
}
interface Pci {
  VfioPciDevice: { open(bdf: string, o?: { iommu?: string; dmaMask?: bigint }): PciDevice };
}
interface Native {
  loadNative(): { vfio: { pread(fd: number, b: Uint8Array, off: bigint): number } };
}
interface Dispatcher {
  start(): Promise<void>;
  stop(): Promise<void>;
  on(e: 'error', f: (e: { error: Error }) => void): void;
  stats(): { totals: { delivered: number; coalesced: number; pending: number } };
}

const emit = (o: Record<string, unknown>) => process.stdout.write(`${JSON.stringify(o, bigintJson)}\n`);
function bigintJson(_k: string, v: unknown): unknown {
  return typeof v === 'bigint' ? `0x${v.toString(16)}` : v;
}
let failures = 0;
let test = '';
function check(name: string, expect: unknown, got: unknown): boolean {
  const ok = expect === got;
  if (!ok) failures++;
  emit({ t: 'check', test, name, expect, got, ok });
  return ok;
}
/** The error's code (or its constructor's name when it has none). */
function codeOf(f: () => unknown): string {
  try {
    f();
    return 'no error';
  } catch (e) {
    const err = e as { code?: string; message?: string };
    emit({ t: 'info', test, error: err.code, message: err.message });
    return err.code ?? (e as Error).constructor.name;
  }
}

const EDU_DMA_MASK = (1n << 28n) - 1n; // hw/misc/edu.c: dma_mask = (1UL << 28) - 1
const EDU_BUF = 0x40000; // edu's DMA buffer, at device address 0x40000, 4 KiB
// QEMU 7.2's edu_check_range() wants the transfer's end strictly below the buffer's end, and its
// hw_error() aborts QEMU otherwise: a 4096-byte transfer of the whole buffer kills the VM (fixed later
// upstream). So every transfer here is 2 KiB.
const LEN = 2048;
const DMA_RUN = 1;
const DMA_TO_RAM = 2;
const DMA_IRQ = 4;

/** Our mappings of vfio device regions and DMA memfds, from /proc/self/maps. */
function ourMaps(): string[] {
  return readFileSync('/proc/self/maps', 'utf8')
    .split('\n')
    .filter((l) => /memfd:virq|vfio/.test(l));
}
const fds = () => readdirSync('/proc/self/fd');

async function slot(name: string, body: () => Promise<void> | void): Promise<void> {
  test = name;
  const before = failures;
  const fdsBefore = fds();
  const t0 = performance.now();
  try {
    await body();
    check('nothing of ours left in /proc/self/maps', '', ourMaps().join('\n'));
    check(
      'no fd left',
      '',
      fds()
        .filter((f) => !fdsBefore.includes(f))
        .join(' '),
    );
    const ms = Math.round(performance.now() - t0);
    emit({ t: 'slot', name, status: failures === before ? 'pass' : 'fail', ms });
  } catch (e) {
    failures++;
    emit({ t: 'slot', name, status: 'fail', reason: (e as Error).stack });
  }
}

/** Waits (sleeping) until `cond` or `ms` pass. */
async function until(cond: () => boolean, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) return false;
    await sleep(2);
  }
  return true;
}

/** edu's DMA: src, dst, count, then the command; waits for the run bit to clear (about 100 ms). */
async function eduDma(bar: Mmio, src: bigint, dst: bigint, count: number, cmd: number): Promise<boolean> {
  bar.write32(0x80, Number(src));
  bar.write32(0x88, Number(dst));
  bar.write32(0x90, count);
  bar.write32(0x98, cmd | DMA_RUN);
  return until(() => (bar.read32(0x98) & DMA_RUN) === 0, 5000);
}

function dmarLines(): string[] {
  const r = spawnSync('dmesg', [], { encoding: 'utf8' });
  return (r.stdout ?? '').split('\n').filter((l) => /DMAR|fault|vfio/i.test(l));
}

async function memlockChild(bdf: string): Promise<void> {
  const pci = await importPackage<Pci>('pci');
  if (!pci.ok) throw new Error(pci.reason);
  const out: Record<string, unknown> = {
    t: 'memlock',
    limits: readFileSync('/proc/self/limits', 'utf8')
      .split('\n')
      .find((l) => l.startsWith('Max locked')),
  };
  out.capEff = readFileSync('/proc/self/status', 'utf8')
    .split('\n')
    .find((l) => l.startsWith('CapEff'));
  const mapsBefore = ourMaps().length;
  const fdsBefore = fds().length;
  const dev = pci.mod.VfioPciDevice.open(bdf, { dmaMask: EDU_DMA_MASK });
  try {
    dev.dmaPool(2 << 20);
    out.big = 'no error';
  } catch (e) {
    out.big = (e as { code?: string }).code;
    out.bigErrno = (e as { errno?: number }).errno;
    out.bigSyscall = (e as { syscall?: string }).syscall;
    out.bigMessage = (e as Error).message;
  }
  out.mapsAfterFailure = ourMaps().length - mapsBefore;
  try {
    const p = dev.dmaPool(512 << 10);
    out.small = p.size;
  } catch (e) {
    out.small = (e as { code?: string }).code;
  }
  dev.close();
  out.mapsLeft = ourMaps().length - mapsBefore;
  out.fdsLeft = fds().length - fdsBefore;
  emit(out);
}

async function main(): Promise<void> {
  if (process.argv[2] === 'memlock-child') return memlockChild(process.argv[3]);
  const modes = process.argv.slice(2).filter((m) => m !== 'bench');
  for (const iommu of modes.length ? modes : ['type1']) await run(iommu);
  if (process.argv.includes('bench')) await runBench(process.env.VIRQ_EDU ?? '');
  emit({ t: 'mem-done', modes, failures });
  process.exitCode = failures ? 1 : 0;
}

async function run(iommu: string): Promise<void> {
  const bdf = process.env.VIRQ_EDU ?? '';
  const pci = await importPackage<Pci>('pci');
  const nat = await importPackage<Native>('native');
  const dispatch = await importPackage<{ Dispatcher: new (o: Record<string, unknown>) => Dispatcher }>(
    'dispatch',
  );
  if (!pci.ok || !nat.ok || !dispatch.ok || !bdf) {
    emit({ t: 'slot', name: `${iommu}-open`, status: 'fail', reason: 'packages not built or no edu' });
    process.exitCode = 1;
    return;
  }
  const { VfioPciDevice } = pci.mod;
  const open = () => VfioPciDevice.open(bdf, { iommu, dmaMask: EDU_DMA_MASK });
  if (iommu === 'iommufd') {
    // Debian 12's kernels (6.1 and 6.12, -cloud too) are built without CONFIG_IOMMUFD: no /dev/iommu, no
    // vfio device cdevs. Then the open must say so (ENOENT naming /dev/iommu) and the slots cannot run.
    let err: { code?: string; message?: string } | undefined;
    try {
      open().close();
    } catch (e) {
      err = e as { code?: string; message?: string };
    }
    const present = existsSync('/dev/iommu');
    emit({ t: 'info', test: 'iommufd-open', devIommu: present, error: err?.code, message: err?.message });
    if (!present) {
      test = 'iommufd-open';
      check('without /dev/iommu: ENOENT', 'ENOENT', err?.code);
      check(
        'the message names /dev/iommu and CONFIG_IOMMUFD',
        true,
        /\/dev\/iommu.*CONFIG_IOMMUFD/.test(err?.message ?? ''),
      );
      emit({
        t: 'slot',
        name: 'iommufd-open',
        status: 'unavailable',
        reason: 'no /dev/iommu in this kernel',
      });
      return;
    }
  }

  await slot(`${iommu}-bar0`, () => {
    const dev = open();
    try {
      const info = dev.regionInfo(0);
      emit({
        t: 'info',
        test,
        what: 'region info',
        regions: [0, 1, 6, 7].map((i) => {
          try {
            return { i, ...dev.regionInfo(i) };
          } catch (e) {
            return { i, error: (e as { code?: string }).code };
          }
        }),
      });
      emit({ t: 'info', test, what: 'iommu info', kind: dev.mapper.kind, info: dev.mapper.info() });
      check('BAR0 has VFIO_REGION_INFO_FLAG_MMAP', 4, info.flags & 4);
      check('BAR0 is 1 MiB', 1n << 20n, info.size);
      const bar = dev.mapRegion(0);
      check('memory decoding on after map', 2, dev.configRead(4, 2).readUInt16LE(0) & 2);
      check('identification 0x00', 0x010000ed, bar.read32(0));
      const pread = nat.mod.loadNative().vfio.pread;
      const b = new Uint8Array(4);
      pread(dev.fd, b, info.offset);
      check('the same through pread', 0x010000ed, new DataView(b.buffer).getUint32(0, true));
      let inverted = 0;
      for (const v of [0, 1, 0x12345678, 0xffffffff, 0xdeadbeef]) {
        bar.write32(4, v);
        if (bar.read32(4) === ~v >>> 0) inverted++;
      }
      check('liveness 0x04 reads back inverted (5 values)', 5, inverted);
      bar.write32(8, 10);
      let spins = 0;
      while ((bar.read32(0x20) & 1) !== 0 && spins++ < 1_000_000);
      check('factorial 0x08: 10! (after status 0x20 bit 0 cleared)', 3628800, bar.read32(8));
      check('u32 view is the same memory', 3628800, bar.u32[2]);
    } finally {
      dev.close();
    }
  });

  await slot(`${iommu}-bad-input`, () => {
    const dev = open();
    try {
      check(
        'region index 20: EINVAL from the kernel',
        'EINVAL',
        codeOf(() => dev.regionInfo(20)),
      );
      check(
        'config region 7 has no MMAP: EINVAL',
        'EINVAL',
        codeOf(() => dev.mapRegion(7)),
      );
      check(
        'BAR1 (absent, size 0): EINVAL',
        'EINVAL',
        codeOf(() => dev.mapRegion(1)),
      );
      check(
        'offset past BAR0: EINVAL',
        'EINVAL',
        codeOf(() => dev.mapRegion(0, { offset: 1 << 20 })),
      );
      check(
        'length past BAR0: EINVAL',
        'EINVAL',
        codeOf(() => dev.mapRegion(0, { offset: 4096, length: 1 << 20 })),
      );
      check('nothing mapped by the refusals', '', ourMaps().join('\n'));
      const bar = dev.mapRegion(0, { offset: 0, length: 4096 });
      check('4 KiB of BAR0 mapped', 0x010000ed, bar.read32(0));
      bar.unmap();
      check(
        'read32 after unmap: TypeError',
        'ERR_VIRQ_UNMAPPED',
        codeOf(() => bar.read32(0)),
      );
      check('u32 after unmap has length 0', 0, bar.u32.length);
      const fd = dev.fd;
      dev.close();
      check(
        'mapRegion after close: EBADF',
        'EBADF',
        codeOf(() => dev.mapRegion(0)),
      );
      check(
        'dmaPool after close: EBADF',
        'EBADF',
        codeOf(() => dev.dmaPool(4096)),
      );
      const native = nat.mod as unknown as { mapRegion(fd: number, i: number): unknown };
      check(
        'mapping the closed device fd number: EBADF',
        'EBADF',
        codeOf(() => native.mapRegion(fd, 0)),
      );
    } finally {
      dev.close();
    }
  });

  await slot(`${iommu}-dma`, async () => {
    const dev = open();
    let d: Dispatcher | undefined;
    try {
      dev.enableBusMaster();
      const bar = dev.mapRegion(0);
      const pool = dev.dmaPool(64 << 10);
      const src = pool.alloc(LEN, 4096);
      const dst = pool.alloc(LEN, 4096);
      emit({ t: 'info', test, pool: { iova: pool.iova, size: pool.size }, src: src.iova, dst: dst.iova });
      check('IOVAs below edu’s 28-bit DMA mask', true, dst.iova + BigInt(LEN) <= EDU_DMA_MASK + 1n);
      for (let i = 0; i < LEN; i++) src.bytes[i] = patternByte(i);
      pool.bytes.fill(0xa5, 4096); // dst and the rest of the pool
      const ctl = new Int32Array(new SharedArrayBuffer(64));
      d = new dispatch.mod.Dispatcher({
        device: dev.irq,
        module: new URL('./mem-handler.js', import.meta.url),
        index: INDEX.MSI,
        vectors: [0],
        workers: 1,
        mode: 'interrupt',
        timeoutMs: 60_000,
        data: { ctl: ctl.buffer, bar: bar.handle, dst: dst.handle },
      });
      const errors: string[] = [];
      d.on('error', (e) => errors.push(e.error.message));
      await d.start();
      const calls = () => Atomics.load(ctl, MEM_CTL.CALLS);
      // 1: a raise (0x60) — the handler reads BAR0 and runs the factorial through its own mapping.
      Atomics.store(ctl, MEM_CTL.PHASE, PHASE.RAISE);
      bar.write32(0x60, 0x1);
      check('raise: one handler call', true, await until(() => calls() >= 1, 10_000));
      check('handler saw status 0x1 (fact irq raised by 0x60)', 1, Atomics.load(ctl, MEM_CTL.STATUS));
      check('handler acked through its mapping: status 0 after', 0, Atomics.load(ctl, MEM_CTL.STATUS_AFTER));
      check('handler read the identification register', 0x010000ed, Atomics.load(ctl, MEM_CTL.IDENT));
      check('handler ran the factorial unit: 6!', 720, Atomics.load(ctl, MEM_CTL.FACT));
      // 2: DMA RAM (src IOVA) → edu buffer, completion MSI.
      Atomics.store(ctl, MEM_CTL.PHASE, PHASE.DMA_IN);
      check('DMA in completed', true, await eduDma(bar, src.iova, BigInt(EDU_BUF), LEN, DMA_IRQ));
      check('DMA in: completion MSI handled', true, await until(() => calls() >= 2, 10_000));
      check('handler saw DMA status 0x100', 0x100, Atomics.load(ctl, MEM_CTL.STATUS));
      // 3: DMA edu buffer → RAM (dst IOVA), completion MSI; the handler checks the bytes.
      Atomics.store(ctl, MEM_CTL.PHASE, PHASE.DMA_BACK);
      Atomics.store(ctl, MEM_CTL.MISMATCH, -1);
      check(
        'DMA back completed',
        true,
        await eduDma(bar, BigInt(EDU_BUF), dst.iova, LEN, DMA_TO_RAM | DMA_IRQ),
      );
      check('DMA back: completion MSI handled', true, await until(() => calls() >= 3, 10_000));
      check('handler: destination bytes == pattern (mismatches)', 0, Atomics.load(ctl, MEM_CTL.MISMATCH));
      let bad = 0;
      for (let i = 0; i < LEN; i++) if (dst.bytes[i] !== patternByte(i)) bad++;
      check('main thread: destination bytes == pattern (mismatches)', 0, bad);
      check(
        'the rest of the pool untouched (0xa5)',
        true,
        pool.bytes.subarray(4096 + LEN).every((x) => x === 0xa5),
      );
      check('handler errors', 0, Atomics.load(ctl, MEM_CTL.ERRORS));
      await sleep(50);
      check('handler calls == MSIs (3)', 3, calls());
      const s = d.stats().totals;
      check('dispatcher delivered + coalesced == 3', 3, s.delivered + s.coalesced);
      check('dispatcher errors', 0, errors.length);
    } finally {
      await d?.stop();
      dev.close();
    }
  });

  await slot(`${iommu}-iommu`, async () => {
    const dev = open();
    try {
      dev.enableBusMaster();
      const bar = dev.mapRegion(0);
      const rw = dev.dmaPool(16 << 10);
      const ro = dev.dmaPool(16 << 10, { access: { read: true, write: false } });
      // An IOVA right after the last pool, allocated but never mapped.
      const hole = dev.iovas.alloc(4096n, 4096n);
      emit({ t: 'info', test, rw: rw.iova, ro: ro.iova, hole });
      for (const p of [rw, ro]) p.bytes.fill(0x5c);
      for (let i = 0; i < LEN; i++) rw.bytes[i] = patternByte(i);
      check('fill edu buffer from rw pool', true, await eduDma(bar, rw.iova, BigInt(EDU_BUF), LEN, 0));
      rw.bytes.fill(0x5c, 0, 4096);
      const marks = dmarLines().length;
      check(
        'DMA to the unmapped IOVA: edu completes',
        true,
        await eduDma(bar, BigInt(EDU_BUF), hole, LEN, DMA_TO_RAM),
      );
      check(
        'DMA to the read-only IOVA: edu completes',
        true,
        await eduDma(bar, BigInt(EDU_BUF), ro.iova + 4096n, LEN, DMA_TO_RAM),
      );
      await sleep(200);
      for (const [name, p] of [
        ['rw', rw],
        ['ro', ro],
      ] as const) {
        check(
          `every byte of the ${name} pool unchanged`,
          true,
          p.bytes.every((x) => x === 0x5c),
        );
      }
      const faults = dmarLines().slice(marks);
      emit({ t: 'info', test, what: 'kernel log after the two DMAs', faults });
      check(
        'the kernel logged DMAR faults',
        true,
        faults.some((l) => /DMAR/.test(l)),
      );
      // The device and IOMMU still work after the faults: a write to the rw pool lands.
      check(
        'DMA to the rw pool after the faults',
        true,
        await eduDma(bar, BigInt(EDU_BUF), rw.iova + 8192n, LEN, DMA_TO_RAM),
      );
      let bad = 0;
      for (let i = 0; i < LEN; i++) if (rw.bytes[8192 + i] !== patternByte(i)) bad++;
      check('... and its bytes are the pattern (mismatches)', 0, bad);
      check(
        'bytes around it untouched',
        true,
        rw.bytes.subarray(0, 8192).every((x) => x === 0x5c) &&
          rw.bytes.subarray(8192 + LEN).every((x) => x === 0x5c),
      );
      dev.iovas.free(hole, 4096n);
    } finally {
      dev.close();
    }
  });

  if (iommu === 'type1' && process.env.VIRQ_E1000E) {
    // VFIO_DEVICE_RESET with a live BAR mapping (edu has no reset method; e1000e has FLR): the kernel
    // zaps the mapping, resets, restores config space; the same MmioRegion reads again afterwards.
    await slot('type1-reset', () => {
      const dev = VfioPciDevice.open(process.env.VIRQ_E1000E ?? '');
      try {
        const info = (dev as unknown as { info(): { flags: number } }).info();
        check('e1000e reports VFIO_DEVICE_FLAGS_RESET', 1, info.flags & 1);
        const bar = dev.mapRegion(0, { offset: 0, length: 4096 });
        bar.write32(0xd8, 0xffffffff); // IMC: mask every interrupt cause, so IMS reads back 0
        bar.write32(0xd0, 0x10); // IMS: one cause (e1000e 82574 datasheet 10.2.4.x)
        check('IMS set through the mapping', 0x10, bar.read32(0xd0) & 0x10);
        (dev as unknown as { reset(): void }).reset();
        check(
          'after VFIO_DEVICE_RESET: memory decoding restored',
          2,
          dev.configRead(4, 2).readUInt16LE(0) & 2,
        );
        // The same mapping still reaches the device: it reads what pread on the device fd reads.
        const viaPread = (off: number) => {
          const b = new Uint8Array(4);
          nat.mod.loadNative().vfio.pread(dev.fd, b, dev.regionInfo(0).offset + BigInt(off));
          return new DataView(b.buffer).getUint32(0, true);
        };
        for (const [name, off] of [
          ['STATUS', 0x08],
          ['IMS', 0xd0],
          ['CTRL', 0x00],
        ] as const) {
          check(`after reset: ${name} through the mapping == through pread`, viaPread(off), bar.read32(off));
        }
        const method = readFileSync(`/sys/bus/pci/devices/${process.env.VIRQ_E1000E}/reset_method`, 'utf8');
        emit({
          t: 'info',
          test,
          resetMethod: method.trim(),
          imsAfterReset: bar.read32(0xd0),
          status: bar.read32(0x08),
        });
        bar.write32(0xd8, 0xffffffff);
        check('a store through it after the reset lands (IMC cleared IMS)', 0, viaPread(0xd0));
      } finally {
        dev.close();
      }
    });
  }

  if (iommu === 'type1') {
    // The type1 mapping limit: dma_entry_limit is read when the container is opened, so lower it first
    // (module parameter, 0644), open, and the third pool's VFIO_IOMMU_MAP_DMA is ENOSPC.
    await slot('type1-limits', async () => {
      const param = '/sys/module/vfio_iommu_type1/parameters/dma_entry_limit';
      const old = readFileSync(param, 'utf8').trim();
      writeFileSync(param, '2');
      let dev: PciDevice | undefined;
      try {
        dev = open();
        check(
          'DMA available reported by VFIO_IOMMU_GET_INFO',
          2,
          (dev.mapper.info() as { dmaAvail: number }).dmaAvail,
        );
        dev.dmaPool(4096);
        dev.dmaPool(4096);
        const err = codeOf(() => dev?.dmaPool(4096));
        check('third mapping past dma_entry_limit 2: ENOSPC', 'ENOSPC', err);
      } finally {
        dev?.close();
        writeFileSync(param, old);
      }
      // 2 MiB huge pages: reserve two in the guest, a hugetlb pool takes one; edu DMAs into and out of it.
      const nr = '/proc/sys/vm/nr_hugepages';
      const oldNr = readFileSync(nr, 'utf8').trim();
      writeFileSync(nr, '2');
      try {
        dev = open();
        dev.enableBusMaster();
        const bar = dev.mapRegion(0);
        const pool = dev.dmaPool(2 << 20, { hugetlb: true });
        check('hugetlb pool is 2 MiB at a 2 MiB-aligned IOVA', 0n, pool.iova % (2n << 20n));
        const huge = readFileSync('/proc/self/smaps', 'utf8').includes('memfd:virq-dma');
        check('the hugetlb memfd is mapped', true, huge);
        for (let i = 0; i < LEN; i++) pool.bytes[i] = patternByte(i);
        pool.bytes.fill(0x77, LEN);
        check('DMA from the hugetlb pool', true, await eduDma(bar, pool.iova, BigInt(EDU_BUF), LEN, 0));
        check(
          'DMA back into it at +1 MiB',
          true,
          await eduDma(bar, BigInt(EDU_BUF), pool.iova + (1n << 20n), LEN, DMA_TO_RAM),
        );
        let bad = 0;
        for (let i = 0; i < LEN; i++) if (pool.bytes[(1 << 20) + i] !== patternByte(i)) bad++;
        check('hugetlb: bytes == pattern (mismatches)', 0, bad);
      } finally {
        dev?.close();
        writeFileSync(nr, oldNr);
      }
    });
  }

  if (iommu === 'type1') {
    await slot('type1-memlock', () => {
      const self = fileURLToPath(import.meta.url);
      const r = spawnSync(
        'prlimit',
        [
          '--memlock=1048576:1048576',
          'setpriv',
          '--bounding-set',
          '-ipc_lock',
          '--inh-caps',
          '-ipc_lock',
          process.execPath,
          self,
          'memlock-child',
          bdf,
        ],
        { encoding: 'utf8', timeout: 60_000 },
      );
      const line = (r.stdout ?? '').split('\n').find((l) => l.includes('"memlock"'));
      emit({ t: 'info', test, status: r.status, stderr: r.stderr?.slice(-2000), line });
      const got = line ? (JSON.parse(line) as Record<string, unknown>) : {};
      check('2 MiB pool with RLIMIT_MEMLOCK 1 MiB: ENOMEM', 'ENOMEM', got.big);
      check('errno -12', -12, got.bigErrno);
      check('syscall', 'ioctl(VFIO_IOMMU_MAP_DMA)', got.bigSyscall);
      check(
        'message names RLIMIT_MEMLOCK and the limit',
        true,
        /RLIMIT_MEMLOCK \(soft 1048576/.test(String(got.bigMessage)),
      );
      check('nothing mapped after the failure', 0, got.mapsAfterFailure);
      check('512 KiB pool works', 524288, got.small);
      check('child: nothing left mapped', 0, got.mapsLeft);
      check('child: no fd left', 0, got.fdsLeft);
    });
  }
}

await main();
