/**
 * DMA memory on the host, without an IOMMU: the IOVA allocator against random alloc/free walks
 * (fast-check), and DmaPool over real memfds and mappings with a recording DmaMapper standing in for
 * the container (the real VFIO_IOMMU_MAP_DMA / IOMMU_IOAS_MAP run in the VM, test/vm). Every test
 * checks /proc/self/maps and /proc/self/fd afterwards.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { Worker } from 'node:worker_threads';
import test from 'ava';
import fc from 'fast-check';
import { type DmaMapper, DmaPool, IovaAllocator, type IovaRange } from '../src/index.js';

const maps = () =>
  readFileSync('/proc/self/maps', 'utf8')
    .split('\n')
    .filter((l) => l.includes('/memfd:virq-dma'));
const fds = () => readdirSync('/proc/self/fd').length;

/** Records the calls; fails map with the errno error given (as the kernel would). */
function recorder(ranges: IovaRange[], failMap?: Error): DmaMapper & { calls: string[] } {
  const calls: string[] = [];
  return {
    kind: 'type1',
    calls,
    info: () => ({ pageSizes: 0x40201000n, iovaRanges: ranges, dmaAvail: 65535, caps: [1, 3] }),
    map(vaddr, iova, size, access) {
      calls.push(`map ${vaddr > 0n} 0x${iova.toString(16)} ${size} ${access?.write !== false ? 'rw' : 'r'}`);
      if (failMap) throw failMap;
    },
    unmap(iova, size) {
      calls.push(`unmap 0x${iova.toString(16)} ${size}`);
      return size;
    },
  };
}

// intel-iommu's ranges with the MSI window left out, as VFIO_IOMMU_GET_INFO reports them.
const VTD: IovaRange[] = [
  { start: 0n, end: 0xfedfffffn },
  { start: 0xfef00000n, end: (1n << 39n) - 1n },
];

test('IovaAllocator: random alloc/free walks never overlap, stay in the ranges and under the mask', (t) => {
  fc.assert(
    fc.property(
      fc.array(
        fc.oneof(
          fc.record({
            op: fc.constant('alloc' as const),
            pages: fc.integer({ min: 1, max: 600 }),
            alignLog: fc.integer({ min: 12, max: 22 }),
          }),
          fc.record({ op: fc.constant('free' as const), pick: fc.nat() }),
        ),
        { maxLength: 60 },
      ),
      fc.integer({ min: 24, max: 40 }),
      (ops, maskBits) => {
        const mask = (1n << BigInt(maskBits)) - 1n;
        const a = new IovaAllocator(VTD, mask);
        const initial = a.available;
        const live: { at: bigint; size: bigint }[] = [];
        for (const o of ops) {
          if (o.op === 'alloc') {
            const size = BigInt(o.pages) * 4096n;
            const align = 1n << BigInt(o.alignLog);
            let at: bigint;
            try {
              at = a.alloc(size, align);
            } catch (e) {
              if ((e as { code?: string }).code !== 'ENOSPC') throw e;
              continue;
            }
            if (at % align !== 0n) return false;
            if (at < 1n << 20n || at + size - 1n > mask) return false;
            if (!VTD.some((r) => at >= r.start && at + size - 1n <= r.end)) return false;
            if (live.some((l) => at < l.at + l.size && l.at < at + size)) return false;
            live.push({ at, size });
          } else if (live.length > 0) {
            const [x] = live.splice(o.pick % live.length, 1);
            a.free(x.at, x.size);
          }
          const used = live.reduce((n, l) => n + l.size, 0n);
          if (a.available + used !== initial) return false;
        }
        for (const l of live) a.free(l.at, l.size);
        return a.available === initial && a.freeRanges().length === (mask >= 0xfef00000n ? 2 : 1);
      },
    ),
  );
  t.pass();
});

test('IovaAllocator: edu’s 28-bit mask leaves 255 MiB above the 1 MiB floor; past it ENOSPC; double free refused', (t) => {
  const a = new IovaAllocator(VTD, (1n << 28n) - 1n);
  t.is(a.available, (1n << 28n) - (1n << 20n));
  const x = a.alloc(4096n, 4096n);
  t.is(x, 1n << 20n);
  t.like(
    t.throws(() => a.alloc(1n << 28n, 4096n)),
    { code: 'ENOSPC' },
  );
  a.free(x, 4096n);
  t.like(
    t.throws(() => a.free(x, 4096n)),
    { code: 'ERR_INVALID_STATE' },
  );
  t.like(
    t.throws(() => a.alloc(4096n, 3000n)),
    { code: 'ERR_OUT_OF_RANGE' },
  );
});

test.serial(
  'DmaPool: one memfd, one IOMMU mapping at an allocated IOVA; buffers carve it; close undoes all',
  (t) => {
    const fdsBefore = fds();
    const mapper = recorder(VTD);
    const iovas = new IovaAllocator(VTD, (1n << 28n) - 1n);
    const pool = DmaPool.create(mapper, iovas, 10_000);
    t.is(pool.size, 12_288, 'rounded up to pages');
    t.is(maps().length, 1);
    t.deepEqual(mapper.calls, [`map true 0x100000 12288 rw`]);
    const a = pool.alloc(100);
    const b = pool.alloc(4096, 4096);
    t.is(a.iova, pool.iova);
    t.is(b.iova, pool.iova + 4096n);
    t.deepEqual(b.handle, { fd: pool.fd, offset: 4096, size: 4096, iova: pool.iova + 4096n });
    b.bytes.fill(0x5a);
    t.is(pool.bytes[4096], 0x5a, 'a buffer is a window on the pool');
    t.like(
      t.throws(() => pool.alloc(12_288)),
      { code: 'ENOSPC' },
    );
    pool.free(a);
    t.is(pool.alloc(64).iova, pool.iova, 'freed space is reused');
    pool.close();
    t.is(b.bytes.length, 0, 'buffers are detached with the pool');
    t.deepEqual(mapper.calls.slice(1), ['unmap 0x100000 12288']);
    t.is(iovas.available, (1n << 28n) - (1n << 20n), 'IOVAs returned');
    t.like(
      t.throws(() => pool.alloc(1)),
      { code: 'ERR_INVALID_STATE' },
    );
    t.notThrows(() => pool.close());
    t.deepEqual(maps(), []);
    t.is(fds(), fdsBefore);
  },
);

test.serial(
  'DmaPool: a failing IOMMU map (ENOMEM, as RLIMIT_MEMLOCK gives) leaves no memfd, mapping or IOVA',
  (t) => {
    const fdsBefore = fds();
    const enomem = Object.assign(new Error('ENOMEM: cannot allocate memory'), {
      code: 'ENOMEM',
      errno: -12,
      syscall: 'ioctl(VFIO_IOMMU_MAP_DMA)',
    });
    const iovas = new IovaAllocator(VTD);
    const before = iovas.available;
    t.is(
      t.throws(() => DmaPool.create(recorder(VTD, enomem), iovas, 1 << 20)),
      enomem,
    );
    t.is(iovas.available, before);
    t.deepEqual(maps(), []);
    t.is(fds(), fdsBefore);
  },
);

test.serial(
  'DmaBuffer.attach: a worker maps a buffer from its handle; its bytes land in the pool',
  async (t) => {
    const fdsBefore = fds();
    const pool = DmaPool.create(recorder(VTD), new IovaAllocator(VTD), 3 * 4096);
    const buf = pool.alloc(5000, 64);
    const other = pool.alloc(64);
    const w = new Worker(new URL('./fixtures/dma-worker.js', import.meta.url), {
      workerData: { handle: buf.handle, fill: 0xc3 },
    });
    const msg = await new Promise((resolve, reject) => {
      w.once('message', resolve);
      w.once('error', reject);
    });
    await new Promise((r) => w.once('exit', r));
    t.deepEqual(msg, { iova: buf.iova, size: 5000, lengthAfter: 0 });
    t.true(buf.bytes.every((x) => x === 0xc3));
    t.true(
      other.bytes.every((x) => x === 0),
      'nothing written outside the buffer',
    );
    t.is(maps().length, 1, "the worker's mapping is gone");
    pool.close();
    t.deepEqual(maps(), []);
    t.is(fds(), fdsBefore);
  },
);
