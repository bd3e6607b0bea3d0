/**
 * The VM tests of device memory (issue 10), registered per kernel by vm.test.ts on its shared session:
 * the `mem` guest job (guest-node/mem.ts: edu's BAR0 through the mapping, DMA through the IOMMU with
 * the completion MSI handled by a Dispatcher, the IOMMU as the boundary, bad input, RLIMIT_MEMLOCK,
 * iommufd where the kernel has it) and its bench line (mem-bench.ts: mapping vs pread/pwrite; logged,
 * never asserted on speed).
 */
import { loadavg } from 'node:os';
import type { TestFn } from 'ava';
import type { Session } from './session.js';
import type { KernelName } from './vm.js';

/** Slots of mem.ts that must pass on every kernel (type1 path). */
export const MEM_SLOTS = [
  'type1-bar0',
  'type1-bad-input',
  'type1-dma',
  'type1-iommu',
  'type1-reset',
  'type1-limits',
  'type1-memlock',
];

export function registerMemTests(test: TestFn, kernel: KernelName, session: Promise<Session>): void {
  test.serial(
    `[${kernel}] device memory on edu (type1): BAR0 mapped (ident, liveness, factorial, also from a service worker's handler), DMA through the IOMMU with the completion MSI through the Dispatcher, unmapped / read-only IOVAs write nothing, bad input is an errno code, RLIMIT_MEMLOCK is ENOMEM; nothing left mapped or open`,
    async (t) => {
      const s = await session;
      const lines = s.run.lines('mem');
      const slots = new Map(lines.filter((l) => l.t === 'slot').map((l) => [String(l.name), l]));
      for (const l of lines.filter((x) => x.t === 'info' || x.t === 'slot')) t.log(JSON.stringify(l));
      for (const name of MEM_SLOTS) {
        t.is(
          slots.get(name)?.status,
          'pass',
          `${name}: ${JSON.stringify(slots.get(name))}\n${s.run.log('mem')}`,
        );
      }
      const failed = lines.filter((l) => l.t === 'check' && l.ok !== true);
      t.deepEqual(failed, [], s.run.log('mem'));
      const named = (slot: string, name: string) =>
        lines.find((l) => l.t === 'check' && l.test === slot && l.name === name);
      // The checks that carry the requirements, by name: present and passed.
      for (const [slot, name] of [
        ['type1-bar0', 'identification 0x00'],
        ['type1-bar0', 'liveness 0x04 reads back inverted (5 values)'],
        ['type1-bar0', 'factorial 0x08: 10! (after status 0x20 bit 0 cleared)'],
        ['type1-dma', 'handler ran the factorial unit: 6!'],
        ['type1-dma', 'handler: destination bytes == pattern (mismatches)'],
        ['type1-dma', 'handler calls == MSIs (3)'],
        ['type1-iommu', 'every byte of the rw pool unchanged'],
        ['type1-iommu', 'every byte of the ro pool unchanged'],
        ['type1-iommu', 'the kernel logged DMAR faults'],
        ['type1-bad-input', 'region index 20: EINVAL from the kernel'],
        ['type1-bad-input', 'mapRegion after close: EBADF'],
        ['type1-memlock', '2 MiB pool with RLIMIT_MEMLOCK 1 MiB: ENOMEM'],
        ['type1-limits', 'third mapping past dma_entry_limit 2: ENOSPC'],
        ['type1-limits', 'hugetlb: bytes == pattern (mismatches)'],
      ]) {
        t.like(named(slot, name), { ok: true }, `${slot}: ${name}`);
      }
      for (const slot of MEM_SLOTS)
        t.like(named(slot, 'nothing of ours left in /proc/self/maps'), { ok: true });
      // iommufd: the whole set where /dev/iommu exists; else the open's ENOENT says why.
      const iommufd = slots.get('iommufd-open');
      if (iommufd?.status === 'unavailable') {
        t.like(named('iommufd-open', 'without /dev/iommu: ENOENT'), { ok: true });
      } else {
        for (const name of MEM_SLOTS.slice(0, 4).map((n) => n.replace('type1', 'iommufd'))) {
          t.is(slots.get(name)?.status, 'pass', name);
        }
      }
      t.like(
        lines.find((l) => l.t === 'mem-done'),
        { failures: 0 },
      );
    },
  );

  test.serial(
    `[${kernel}] bench: edu register access through the mapping vs pread/pwrite (logged)`,
    async (t) => {
      const s = await session;
      const bench = s.run.lines('mem').find((l) => l.t === 'bench') as
        | {
            runs: number;
            correct: boolean;
            ratio: Record<string, { median: number; min: number; max: number }>;
          }
        | undefined;
      t.log(
        JSON.stringify(bench),
        `host loadavg ${loadavg()
          .map((x) => x.toFixed(2))
          .join(' ')}`,
      );
      if (!bench) return t.fail(s.run.log('mem'));
      t.true(bench.correct, 'the mapping read the identification register');
      t.is(bench.runs, 7);
      for (const k of ['read', 'rawRead', 'write']) {
        const r = bench.ratio[k];
        t.true(
          r.min > 0 && r.min <= r.median && r.median <= r.max && Number.isFinite(r.max),
          `${k}: ${JSON.stringify(r)}`,
        );
      }
    },
  );
}
