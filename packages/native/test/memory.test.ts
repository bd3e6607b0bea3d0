import { ftruncateSync, readFileSync } from 'node:fs';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import type { Worker } from 'node:worker_threads';
import test from 'ava';
import {
  createMemfd,
  getRegionInfoCaps,
  IoasIommu,
  loadNative,
  mapFd,
  memlockLimit,
  pageSize,
  Type1Iommu,
} from '../src/index.js';
import { exited, nextMessage, noLeaks, startWorker } from './helpers.js';

/** The lines of /proc/self/maps that map a memfd named `name`. */
function memfdMaps(name: string): string[] {
  return readFileSync('/proc/self/maps', 'utf8')
    .split('\n')
    .filter((l) => l.includes(`/memfd:${name} `) || l.endsWith(`/memfd:${name} (deleted)`));
}

/** Runs `body`, then checks that it left no fd and no mapping of the memfd `name`. */
async function clean(t: import('ava').ExecutionContext, name: string, body: () => unknown): Promise<void> {
  await noLeaks(t, body);
  t.deepEqual(memfdMaps(name), [], `no mapping of memfd:${name} left`);
}

const close = (fd: number) => loadNative().closeFd(fd);

test.before(async () => {
  // Warm up the worker machinery so the first test's fd check sees only its own fds.
  const fd = createMemfd(pageSize(), { name: 'warm' });
  const w = startWorker('mem-worker', { fd, offset: 0, length: pageSize() });
  await nextMessage(w);
  w.postMessage({ op: 'exit' });
  await exited(w);
  close(fd);
});

test.serial('a memfd mapped in two workers and here: the same pages, each at its own address', async (t) => {
  await clean(t, 'two-workers', async () => {
    const size = 4 * pageSize();
    const fd = createMemfd(size, { name: 'two-workers' });
    const here = mapFd(fd, 0, size);
    t.is(memfdMaps('two-workers').length, 1);
    const mine = new Uint32Array(here.buffer as ArrayBuffer);
    const a = startWorker('mem-worker', { fd, offset: 0, length: size });
    const b = startWorker('mem-worker', { fd, offset: pageSize(), length: pageSize() });
    const [ma, mb] = await Promise.all([
      nextMessage<{ address: string }>(a),
      nextMessage<{ address: string }>(b),
    ]);
    t.not(ma.address, here.address.toString());
    t.not(ma.address, mb.address);
    t.is(memfdMaps('two-workers').length, 3, 'one mapping per thread');
    const ask = <T>(w: Worker, msg: object) => {
      const p = nextMessage<T>(w);
      w.postMessage(msg);
      return p;
    };
    // Worker a writes word 1024 (offset 4096 = worker b's word 0); b and this thread see it.
    const word = pageSize() / 4;
    await ask(a, { op: 'write', index: word, value: 0xdeadbeef });
    t.is(mine[word], 0xdeadbeef);
    t.deepEqual(await ask(b, { op: 'read', index: 0 }), { value: 0xdeadbeef });
    mine[word + 1] = 7;
    t.deepEqual(await ask(b, { op: 'read', index: 1 }), { value: 7 });
    // b unmaps: its view is detached (DataView throws TypeError), a and this thread keep theirs.
    t.deepEqual(await ask(b, { op: 'unmap' }), { length: 0, error: 'TypeError', mapped: false });
    t.is(memfdMaps('two-workers').length, 2);
    t.deepEqual(await ask(a, { op: 'read', index: word + 1 }), { value: 7 });
    // a exits with its mapping live: the thread's teardown unmaps it.
    a.postMessage({ op: 'exit' });
    b.postMessage({ op: 'exit' });
    await Promise.all([exited(a), exited(b)]);
    t.is(memfdMaps('two-workers').length, 1, "the exited worker's mapping is gone");
    here.unmap();
    close(fd);
  });
});

test.serial(
  'unmap() detaches the ArrayBuffer first: later access is a TypeError or length 0, never a crash',
  (t) =>
    clean(t, 'detach', () => {
      const fd = createMemfd(pageSize(), { name: 'detach' });
      const m = mapFd(fd, 0, pageSize());
      const buf = m.buffer as ArrayBuffer;
      const u32 = new Uint32Array(buf);
      const view = new DataView(buf);
      u32[3] = 99;
      t.is(view.getUint32(12, true), 99);
      t.true(m.mapped);
      m.unmap();
      t.false(m.mapped);
      t.is(m.buffer, undefined);
      t.is(buf.byteLength, 0);
      t.is(u32.length, 0);
      t.is(
        u32[3] as number | undefined,
        undefined,
        'an element read of a detached view is undefined (no memory access)',
      );
      u32[3] = 5; // ignored by the engine: no store reaches the unmapped page
      t.throws(() => view.getUint32(12, true), { instanceOf: TypeError });
      t.throws(() => new Uint8Array(buf), { instanceOf: TypeError });
      t.throws(() => u32.fill(1), { instanceOf: TypeError });
      t.notThrows(() => m.unmap(), 'idempotent');
      t.deepEqual(memfdMaps('detach'), []);
      close(fd);
    }),
);

test.serial('a mapping dropped without unmap() is unmapped when it is garbage-collected', async (t) => {
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  await clean(t, 'gc', async () => {
    const fd = createMemfd(pageSize(), { name: 'gc' });
    (() => {
      const m = mapFd(fd, 0, pageSize());
      new Uint8Array(m.buffer as ArrayBuffer)[0] = 1;
    })();
    t.is(memfdMaps('gc').length, 1);
    for (let i = 0; i < 20 && memfdMaps('gc').length > 0; i++) {
      gc();
      await new Promise((r) => setTimeout(r, 10));
    }
    t.is(memfdMaps('gc').length, 0);
    close(fd);
  });
});

test.serial('mapFd: past the end of the memfd, zero length, a closed fd — errno codes, nothing mapped', (t) =>
  clean(t, 'bad', () => {
    const page = pageSize();
    const fd = createMemfd(2 * page, { name: 'bad' });
    const past = t.throws(() => mapFd(fd, page, 2 * page));
    t.like(past, { code: 'EINVAL', errno: -22, syscall: 'mmap' });
    t.regex(past?.message ?? '', /past its end/);
    t.like(
      t.throws(() => mapFd(fd, 0, 0)),
      { code: 'EINVAL', syscall: 'mmap' },
    );
    t.like(
      t.throws(() => mapFd(fd, 100, page)),
      { code: 'EINVAL', syscall: 'mmap' },
      'offset not page-aligned',
    );
    close(fd);
    const closed = t.throws(() => mapFd(fd, 0, page));
    t.like(closed, { code: 'EBADF', errno: -9 });
    t.regex(closed?.message ?? '', /not open/);
  }),
);

test.serial('createMemfd: sealed against shrinking (no SIGBUS for another mapper), bad sizes refused', (t) =>
  clean(t, 'virq-dma', () => {
    const fd = createMemfd(pageSize());
    const fdinfo = readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8');
    t.regex(fdinfo, /flags:\s+[0-7]*2[0-7]{6}\b/, 'O_CLOEXEC');
    t.is(loadNative().mem.fdSize(fd), pageSize());
    const m = mapFd(fd, 0, pageSize());
    new Uint8Array(m.buffer as ArrayBuffer).fill(0xab);
    m.unmap();
    t.like(
      t.throws(() => ftruncateSync(fd, 0)),
      { code: 'EPERM' },
      'F_SEAL_SHRINK',
    );
    t.like(
      t.throws(() => ftruncateSync(fd, 2 * pageSize())),
      { code: 'EPERM' },
      'F_SEAL_GROW',
    );
    close(fd);
    t.like(
      t.throws(() => createMemfd(100)),
      { code: 'ERR_OUT_OF_RANGE' },
    );
    t.like(
      t.throws(() => createMemfd(pageSize(), { hugetlb: true })),
      { code: 'ERR_OUT_OF_RANGE' },
      'hugetlb needs 2 MiB multiples',
    );
  }),
);

test.serial('the VFIO and IOMMU ioctls on a memfd are the kernel’s ENOTTY, with the syscall named', (t) =>
  clean(t, 'ioctl', () => {
    const fd = createMemfd(pageSize(), { name: 'ioctl' });
    t.like(
      t.throws(() => getRegionInfoCaps(fd, 0)),
      { code: 'ENOTTY', syscall: 'ioctl(VFIO_DEVICE_GET_REGION_INFO)' },
    );
    t.like(
      t.throws(() => new Type1Iommu(fd).info()),
      { code: 'ENOTTY', syscall: 'ioctl(VFIO_IOMMU_GET_INFO)' },
    );
    t.like(
      t.throws(() => new Type1Iommu(fd).map(0x1000n, 0x100000n, 4096n)),
      { code: 'ENOTTY', syscall: 'ioctl(VFIO_IOMMU_MAP_DMA)' },
    );
    t.like(
      t.throws(() => new IoasIommu(fd, 1).info()),
      { code: 'ENOTTY', syscall: 'ioctl(IOMMU_IOAS_IOVA_RANGES)' },
    );
    close(fd);
  }),
);

test('memlockLimit reads this process’s RLIMIT_MEMLOCK', (t) => {
  const { soft, hard } = memlockLimit();
  t.true(soft === null || Number.isSafeInteger(soft));
  t.true(hard === null || soft === null || hard >= soft);
  const line = readFileSync('/proc/self/limits', 'utf8')
    .split('\n')
    .find((l) => l.startsWith('Max locked memory'));
  t.regex(line ?? '', new RegExp(`\\s${soft ?? 'unlimited'}\\s+${hard ?? 'unlimited'}\\s`));
});
