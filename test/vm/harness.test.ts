/**
 * The harness's own parts, without a VM: the generator is deterministic and aims everywhere it should,
 * the sequence format round-trips, the uapi numbers match the machine's <linux/vfio.h>, and the
 * comparison finds and forgives what it should.
 */
import { existsSync, readFileSync } from 'node:fs';
import test from 'ava';
import fc from 'fast-check';
import { compareResults, formatDivergence } from './src/compare.js';
import { directedSequences, generateSequences, prng } from './src/generator.js';
import { KNOWN_DIFFERENCES, knownDifference } from './src/known-differences.js';
import { type DataTok, type Op, type OpResult, parseSeqFile, toSeqFile } from './src/seqfile.js';
import { ACTION, DATA, INDEX, IRQ_INFO, IRQ_SET_HEADER } from './src/uapi.js';

test('the generator is a pure function of its seed', (t) => {
  const a = toSeqFile(generateSequences({ seed: 42, perDevice: 20 }));
  const b = toSeqFile(generateSequences({ seed: 42, perDevice: 20 }));
  const c = toSeqFile(generateSequences({ seed: 43, perDevice: 20 }));
  t.is(a, b);
  t.not(a, c);
});

test('the sequence file round-trips through the runner format', (t) => {
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 0x7fffffff }), (seed) => {
      const seqs = generateSequences({ seed, perDevice: 3 });
      const back = parseSeqFile(toSeqFile(seqs));
      t.deepEqual(
        back.map((s) => ({ id: s.id, device: s.device, ops: s.ops })),
        seqs.map((s) => ({ id: s.id, device: s.device, ops: s.ops })),
      );
    }),
    { numRuns: 20 },
  );
});

test('every generated op refers only to slots that exist at that point', (t) => {
  for (const seq of generateSequences({ seed: 7, perDevice: 60 })) {
    const live = new Set<number>();
    for (const op of seq.ops) {
      if (op.op === 'fd') {
        t.false(live.has(op.slot), `${seq.id}: slot ${op.slot} created twice`);
        live.add(op.slot);
      } else if (op.op === 'close') {
        t.true(live.delete(op.slot), `${seq.id}: close of a missing slot`);
      } else if (op.op === 'signal') {
        t.true(live.has(op.slot), `${seq.id}: signal of a missing slot`);
      } else if (op.op === 'set') {
        for (const d of op.data)
          if ('s' in d) t.true(live.has(d.s), `${seq.id}: data names missing slot ${d.s}`);
      }
    }
  }
});

test('the generator aims at every index, action, data type and fd kind', (t) => {
  const seqs = generateSequences({ seed: 0x5eed0001, perDevice: 110 });
  t.true(seqs.length >= 200);
  const seen = new Set<string>();
  for (const s of seqs)
    for (const op of s.ops) {
      if (op.op === 'set') seen.add(`${s.device} ${op.index} ${op.flags & 0x38} ${op.flags & 0x7}`);
      if (op.op === 'fd') seen.add(`fd ${op.kind}`);
      if (op.op === 'set' && op.argsz !== undefined && op.argsz < IRQ_SET_HEADER) seen.add('short argsz');
    }
  for (const dev of ['edu', 'e1000e'])
    for (const index of [INDEX.INTX, INDEX.MSI, INDEX.MSIX, INDEX.REQ])
      for (const dataType of [DATA.NONE, DATA.BOOL, DATA.EVENTFD])
        t.true(
          seen.has(`${dev} ${index} ${ACTION.TRIGGER} ${dataType}`),
          `${dev} index ${index} data ${dataType}`,
        );
  for (const dev of ['edu', 'e1000e'])
    for (const a of [ACTION.MASK, ACTION.UNMASK])
      for (const dataType of [DATA.NONE, DATA.BOOL, DATA.EVENTFD])
        t.true(seen.has(`${dev} ${INDEX.INTX} ${a} ${dataType}`), `${dev} INTx action ${a} data ${dataType}`);
  for (const k of ['fd eventfd', 'fd pipe', 'fd closed', 'short argsz']) t.true(seen.has(k), k);
  t.true(directedSequences().length >= 10);
});

test('prng gives values in [0, 1)', (t) => {
  const r = prng(1);
  for (let i = 0; i < 1000; i++) {
    const x = r();
    t.true(x >= 0 && x < 1);
  }
});

test('the uapi numbers match the machine <linux/vfio.h>', (t) => {
  const path = '/usr/include/linux/vfio.h';
  if (!existsSync(path)) return t.fail(`${path} missing: install linux-libc-dev`);
  const h = readFileSync(path, 'utf8');
  const shift = (name: string) => {
    const m = h.match(new RegExp(`#define\\s+${name}\\s+\\(1 << (\\d+)\\)`));
    if (!m) throw new Error(`${name} is not (1 << n) in ${path}`);
    return 1 << Number(m[1]);
  };
  t.is(shift('VFIO_IRQ_INFO_EVENTFD'), IRQ_INFO.EVENTFD);
  t.is(shift('VFIO_IRQ_INFO_MASKABLE'), IRQ_INFO.MASKABLE);
  t.is(shift('VFIO_IRQ_INFO_AUTOMASKED'), IRQ_INFO.AUTOMASKED);
  t.is(shift('VFIO_IRQ_INFO_NORESIZE'), IRQ_INFO.NORESIZE);
  t.is(shift('VFIO_IRQ_SET_DATA_NONE'), DATA.NONE);
  t.is(shift('VFIO_IRQ_SET_DATA_BOOL'), DATA.BOOL);
  t.is(shift('VFIO_IRQ_SET_DATA_EVENTFD'), DATA.EVENTFD);
  t.is(shift('VFIO_IRQ_SET_ACTION_MASK'), ACTION.MASK);
  t.is(shift('VFIO_IRQ_SET_ACTION_UNMASK'), ACTION.UNMASK);
  t.is(shift('VFIO_IRQ_SET_ACTION_TRIGGER'), ACTION.TRIGGER);
  const enumOrder = h.match(
    /VFIO_PCI_INTX_IRQ_INDEX,\s*VFIO_PCI_MSI_IRQ_INDEX,\s*VFIO_PCI_MSIX_IRQ_INDEX,\s*VFIO_PCI_ERR_IRQ_INDEX,\s*VFIO_PCI_REQ_IRQ_INDEX,\s*VFIO_PCI_NUM_IRQS/,
  );
  t.truthy(enumOrder, 'the IRQ index enum is INTX, MSI, MSIX, ERR, REQ, NUM_IRQS');
});

test('the comparison reports the first divergence in full and forgives only listed differences', (t) => {
  const [seq] = generateSequences({ seed: 1, perDevice: 0 });
  const kernel: OpResult[] = seq.ops.map((o, i) => ({ seq: seq.id, i, op: o.op, ret: 0, ev: { '0': 0 } }));
  const same = new Map([[seq.id, kernel.map((r) => ({ ...r }))]]);
  t.is(compareResults([seq], kernel, same, '6.1.0-50-amd64').divergences.length, 0);
  const soft = kernel.map((r) => ({ ...r, ev: { ...r.ev } }));
  soft[5] = { ...soft[5], ev: { '0': 1 } };
  const c = compareResults([seq], kernel, new Map([[seq.id, soft]]), '6.1.0-50-amd64');
  t.is(c.divergences.length, 1);
  t.is(c.divergences[0].i, 5);
  const text = formatDivergence(c.divergences[0], kernel, soft);
  t.regex(text, /first divergence: sequence d00/);
  t.regex(text, />> 5:/);
  for (const k of KNOWN_DIFFERENCES) {
    t.true(k.reason.length > 40, `${k.id} says why`);
    t.true(k.kernels.length > 0);
  }
});

test('each known difference forgives its own case on 6.1 only, and not its neighbours', (t) => {
  const EINVAL = -22;
  const EBADF = -9;
  const EBUSY = -16;
  const set = (
    index: number,
    start: number,
    count: number,
    data: DataTok[],
    flags = DATA.EVENTFD | ACTION.TRIGGER,
  ) => ({ op: 'set', flags, index, start, count, data }) as const;
  const res = (ret: number): OpResult => ({ seq: 'x', i: 0, op: 'set', ret, ev: {} });
  const which = (op: Op, k: number, s: number, release = '6.1.0-50-amd64') =>
    knownDifference({ device: 'e1000e', op, kernel: res(k), soft: res(s), kernelRelease: release })?.id;

  // 6.1 answers 0 to ERR/REQ DATA_EVENTFD fd < -1; mainline -EINVAL
  t.is(which(set(INDEX.ERR, 0, 1, [{ i: -2 }]), 0, EINVAL), 'err-req-eventfd-below-minus-one');
  t.is(which(set(INDEX.REQ, 0, 1, [{ i: -2147483648 }]), 0, EINVAL), 'err-req-eventfd-below-minus-one');
  t.is(which(set(INDEX.ERR, 0, 1, [{ i: -2 }]), 0, EINVAL, '6.12.0-1-amd64'), undefined, 'not past 6.1');
  t.is(which(set(INDEX.ERR, 0, 1, [{ i: -1 }]), 0, EINVAL), undefined, 'fd -1 tears down on both');
  t.is(which(set(INDEX.ERR, 0, 1, [{ s: 0 }]), 0, EINVAL), undefined, 'a slot is an fd >= 0');
  t.is(which(set(INDEX.ERR, 0, 1, [{ i: -2 }]), EINVAL, 0), undefined, 'the other way round');
  t.is(which(set(INDEX.INTX, 0, 1, [{ i: -2 }]), 0, EINVAL), undefined, 'only ERR and REQ');
  t.is(which(set(INDEX.ERR, 0, 1, [{ i: -2 }], DATA.NONE | ACTION.TRIGGER), 0, EINVAL), undefined);

  // 6.1's upfront num_ctx check in vfio_msi_set_block: mainline answers 0 or -EBADF there
  const block = set(INDEX.MSIX, 1, 4, [{ s: 0 }, { i: -1 }, { s: 2 }, { s: 3 }]);
  t.is(which(block, EINVAL, EBADF), 'msi-set-block-past-num_ctx');
  t.is(which(block, EINVAL, 0), 'msi-set-block-past-num_ctx');
  t.is(which(block, EINVAL, EBUSY), undefined, 'no other errno');
  t.is(which(block, EBADF, EINVAL), undefined, 'the other way round');
  t.is(which(set(INDEX.ERR, 0, 1, [{ s: 2 }]), EINVAL, EBADF), undefined, 'only MSI and MSI-X');
});
