import { VFIO_PCI_MSIX_IRQ_INDEX as MSIX, SoftDevice } from '@virq/core';
import { loadHandlerModule } from '@virq/handler/internal';
import test from 'ava';
import { Dispatcher } from '../src/index.js';
import { N, NW } from './fixtures/napi-handler.js';
import { Leaks, quiesce, waitFor, warmUp } from './helpers.js';

test.before(warmUp);

const HOOKS = new URL('./fixtures/napi-handler.js', import.meta.url);

/** The "device": adds work to vector v's queue and interrupts only while the driver lets it. */
function produce(device: SoftDevice, rows: Int32Array, v: number, k: number): boolean {
  const r = rows.subarray(v * NW, v * NW + NW);
  Atomics.add(r, N.PENDING, k);
  if (Atomics.load(r, N.ENABLED) === 0) return false;
  device.raise(MSIX, v);
  return true;
}

/**
 * Hybrid, vector 0: an item each ms until one lands while the vector is in poll mode (a window after
 * a raise), whose handler call starts a poll cycle (the mask hook); at most 30 s. Returns what it
 * produced and how many of those raised.
 */
async function trickleUntilPollCycle(
  device: SoftDevice,
  rows: Int32Array,
): Promise<{ raises: number; produced: number }> {
  let raises = 0;
  let produced = 0;
  const deadline = Date.now() + 30_000;
  while (Atomics.load(rows, N.MASKS) === 0 && Date.now() < deadline) {
    produced++;
    if (produce(device, rows, 0, 1)) raises++;
    await new Promise((r) => setTimeout(r, 1));
  }
  return { raises, produced };
}

/** One vector, one worker, the driver hooks over a fresh queue row; the device's interrupt starts on. */
function oneVector(o: {
  mode: 'poll' | 'hybrid';
  budget: number;
  idlePolls: number;
  hybrid?: { pollAbove: number; interruptBelow: number; windowMs: number };
  data?: { injectOnUnmask?: number; handlerTakes?: number; pollTakes?: number };
}): { rows: Int32Array; device: SoftDevice; d: Dispatcher } {
  const buf = new SharedArrayBuffer(NW * 4);
  const rows = new Int32Array(buf);
  rows[N.ENABLED] = 1;
  const device = new SoftDevice({ msix: { vectors: 1 } });
  const { data, ...tuning } = o;
  const d = new Dispatcher({
    device,
    index: MSIX,
    vectors: 1,
    workers: 1,
    ...tuning,
    module: HOOKS,
    data: { buf, ...data },
  });
  return { rows, device, d };
}

for (const mode of ['poll', 'hybrid'] as const) {
  test.serial(
    `napi hooks (${mode}): the device's own suppression, every item once, hooks on the owner`,
    async (t) => {
      const leaks = new Leaks();
      const V = 6;
      const buf = new SharedArrayBuffer(V * NW * 4);
      const rows = new Int32Array(buf);
      for (let v = 0; v < V; v++) rows[v * NW + N.ENABLED] = 1;
      const device = new SoftDevice({ msix: { vectors: V } });
      const d = new Dispatcher({
        device,
        index: MSIX,
        vectors: V,
        workers: 2,
        mode,
        budget: 8,
        idlePolls: 3,
        // Hybrid with the switch driven by the test, not by the machine's speed: one raise in a
        // window (any rate above 0/s) moves a vector to poll mode, and nothing moves it back
        // (no rate is below 0/s). With rate thresholds the storm's raise rate decided whether
        // the hooks ever ran, and on a loaded machine they sometimes did not.
        hybrid: { pollAbove: 1e-9, interruptBelow: 0, windowMs: 5 },
        module: HOOKS,
        data: { buf },
      });
      await d.start();
      const produced = new Array<number>(V).fill(0);
      let raises = 0;
      if (mode === 'hybrid') {
        // Every vector starts in interrupt mode; an item each ms (plain handler calls) until the
        // owner's next window sees a raise and switches it. Raising until then matters: a worker
        // with no vector in poll mode sleeps without a timeout and evaluates only when woken.
        const deadline = Date.now() + 30_000;
        for (;;) {
          const idle = d.stats().vectors.flatMap((s, v) => (s.toPoll === 0 ? [v] : []));
          if (idle.length === 0) break;
          if (Date.now() >= deadline) {
            t.fail(`vectors ${idle.join(', ')} never switched to poll mode in 30 s`);
            break;
          }
          for (const v of idle) {
            produced[v] += 1;
            if (produce(device, rows, v, 1)) raises++;
          }
          await new Promise((r) => setTimeout(r, 1));
        }
      }
      let seed = 7;
      for (let round = 0; round < 3000; round++) {
        seed = (seed * 1103515245 + 12345) % 2 ** 31;
        const v = seed % V;
        const k = 1 + (seed % 5);
        produced[v] += k;
        if (produce(device, rows, v, k)) raises++;
        if (round % 50 === 0) await new Promise((r) => setImmediate(r));
      }
      await waitFor(
        () => produced.every((p, v) => Atomics.load(rows, v * NW + N.PROCESSED) === p),
        30_000,
        'every item processed',
      );
      await quiesce(d, raises);
      const s = d.stats();
      for (let v = 0; v < V; v++) {
        const r = rows.subarray(v * NW, v * NW + NW);
        t.is(r[N.PROCESSED], produced[v], `vector ${v}: every item once`);
        t.is(r[N.PENDING], 0);
        t.is(r[N.WRONG_THREAD], 0, `vector ${v}: every call on its owner`);
        // the NAPI budget: a cycle that used it up is completed, its poll hook never called with none
        t.is(r[N.NO_BUDGET], 0, `vector ${v}: no poll past the cycle's budget`);
      }
      const full = produced.filter((p) => p > 8).length;
      t.true(full > 0, 'some vector had more work than one budget (so the budget was reached)');
      const sum = (w: number) => produced.reduce((a, _, v) => a + rows[v * NW + w], 0);
      t.true(sum(N.MASKS) > 0 && sum(N.POLLS) > 0 && sum(N.UNMASKS) > 0, 'the hooks ran');
      t.true(
        raises < produced.reduce((a, b) => a + b, 0),
        'the device raised fewer interrupts than items (suppressed)',
      );
      t.is(s.totals.raised, raises, 'every raise the device made reached the table');
      t.is(s.totals.raised, s.totals.delivered + s.totals.coalesced, 'accounting balanced');
      t.is(s.totals.pending, 0);
      if (mode === 'hybrid') {
        for (const [v, vs] of s.vectors.entries()) {
          t.is(vs.toPoll, 1, `vector ${v}: one switch to poll`);
          t.is(vs.toInterrupt, 0, `vector ${v}: never back (no rate is below 0/s)`);
        }
      }
      await d.stop();
      for (let v = 0; v < V; v++)
        t.is(rows[v * NW + N.ENABLED], 1, `vector ${v}: stop left the device interrupt on`);
      await leaks.check(t);
    },
  );
}

test.serial(
  'napi hooks: work that raised no interrupt is found by the unmask re-check and polled (virtqueue_enable_cb)',
  async (t) => {
    const { rows, device, d } = oneVector({
      mode: 'poll',
      budget: 4,
      idlePolls: 1,
      data: { injectOnUnmask: 5 },
    });
    await d.start();
    // Five bursts, each one raise; each poll cycle's first unmask meets one item added while the
    // interrupt was off (no raise for it). A Dispatcher that ignored unmask's answer would strand it.
    for (let i = 0; i < 5; i++) {
      t.true(produce(device, rows, 0, 3), 'raised: the interrupt is on between bursts');
      await waitFor(
        () => Atomics.load(rows, N.PROCESSED) === 4 * (i + 1) && Atomics.load(rows, N.ENABLED) === 1,
        10_000,
        `burst ${i}: its 3 items and the injected one processed`,
      );
    }
    t.is(rows[N.INJECTED], 5);
    t.is(rows[N.RACES], 5, 'each injected item was seen by the re-check');
    t.is(rows[N.PENDING], 0);
    t.is(rows[N.WRONG_THREAD], 0);
    await quiesce(d, 5);
    await d.stop();
    t.is(rows[N.ENABLED], 1);
  },
);

test.serial(
  'napi hooks: a poll cycle that used up its budget is completed, never polled on with none left',
  async (t) => {
    const BUDGET = 4;
    const { rows, device, d } = oneVector({
      mode: 'poll',
      budget: BUDGET,
      idlePolls: 3,
      // the interrupt's handler call takes one item: the other 40 are the polls' (ten budgets)
      data: { handlerTakes: 1 },
    });
    await d.start();
    try {
      t.true(produce(device, rows, 0, 41));
      await waitFor(
        () => Atomics.load(rows, N.PROCESSED) === 41 && Atomics.load(rows, N.ENABLED) === 1,
        10_000,
        'all 41 items processed and the interrupt back on',
      );
      t.log(`handler calls ${rows[N.HANDLER]}, polls ${rows[N.POLLS]}, unmasks ${rows[N.UNMASKS]}`);
      t.is(rows[N.HANDLER], 1, 'one interrupt, one handler call');
      t.is(rows[N.NO_BUDGET], 0, 'no poll call once the budget of its cycle was used up');
      t.true(rows[N.UNMASKS] >= 40 / BUDGET, 'a completion (unmask) per budget of work at least');
      await quiesce(d, 1);
    } finally {
      await d.stop();
    }
    t.is(rows[N.ENABLED], 1);
  },
);

test.serial(
  'napi hooks: a cycle with nothing left ends after exactly `idlePolls` empty polls, then unmasks',
  async (t) => {
    // Deterministic: one item per burst, which the interrupt's handler call takes; the poll cycle
    // it starts finds the queue empty every time, so it is exactly `idlePolls` polls, then the unmask
    // (quiet: nothing pending). The next burst waits for that unmask, so no two cycles overlap.
    const IDLE = 3;
    const BURSTS = 5;
    const { rows, device, d } = oneVector({
      mode: 'poll',
      budget: 64,
      idlePolls: IDLE,
    });
    await d.start();
    try {
      // acquire's own unmask (the last owner may have left the interrupt off) is not a cycle's
      const unmasks0 = Atomics.load(rows, N.UNMASKS);
      for (let i = 0; i < BURSTS; i++) {
        t.true(produce(device, rows, 0, 1), `burst ${i}: raised (the interrupt is on between cycles)`);
        // The unmask hook counts itself before it turns the interrupt back on: wait for both, or
        // the next burst could find the interrupt still off and raise nothing.
        await waitFor(
          () => Atomics.load(rows, N.UNMASKS) === unmasks0 + i + 1 && Atomics.load(rows, N.ENABLED) === 1,
          10_000,
          `burst ${i}: its poll cycle completed`,
        );
        t.is(rows[N.POLLS], IDLE * (i + 1), `burst ${i}: ${IDLE} empty polls a cycle, no more, no fewer`);
        t.is(d.stats().vectors[0].polls, IDLE * (i + 1), `burst ${i}: the dispatcher counted the same polls`);
        t.is(rows[N.MASKS], i + 1, `burst ${i}: one mask a cycle`);
      }
      t.is(rows[N.PROCESSED], BURSTS);
      t.is(rows[N.HANDLER], BURSTS, 'each burst: one interrupt, one handler call');
      t.is(rows[N.RACES], 0, 'every completion found the queue quiet');
      await quiesce(d, BURSTS);
    } finally {
      await d.stop();
    }
    t.is(rows[N.ENABLED], 1);
  },
);

test.serial(
  'napi hooks: a poll that finds work restarts the idle count: the cycle ends `idlePolls` polls after its last item',
  async (t) => {
    // Deterministic: ten items and one raise; the handler call takes one, each poll one more, so the
    // cycle is 9 productive polls, then exactly `idlePolls` empty ones, one mask and one quiet unmask.
    // Counting a productive poll as empty would end the cycle early, with work left (a race at unmask).
    const IDLE = 2;
    const { rows, device, d } = oneVector({
      mode: 'poll',
      budget: 64,
      idlePolls: IDLE,
      data: { handlerTakes: 1, pollTakes: 1 },
    });
    await d.start();
    try {
      const unmasks0 = Atomics.load(rows, N.UNMASKS);
      t.true(produce(device, rows, 0, 10));
      await waitFor(
        () => Atomics.load(rows, N.UNMASKS) === unmasks0 + 1 && Atomics.load(rows, N.ENABLED) === 1,
        10_000,
        'the poll cycle completed',
      );
      t.is(rows[N.PROCESSED], 10);
      t.is(rows[N.HANDLER], 1);
      t.is(rows[N.POLLS], 9 + IDLE, '9 productive polls, then idlePolls empty ones');
      t.is(rows[N.MASKS], 1, 'one cycle');
      t.is(rows[N.RACES], 0, 'the cycle ended with the queue empty');
      await quiesce(d, 1);
    } finally {
      await d.stop();
    }
    t.is(rows[N.ENABLED], 1);
  },
);

test.serial(
  'napi hooks (hybrid): a vector switched back to interrupt mode leaves its poll cycle at once',
  async (t) => {
    // idlePolls is a million, so only the switch can end the cycle. The switch is driven by the test,
    // not the machine's speed: a window with any raise or polled item goes to poll mode, a window
    // with none (the test stops raising once the cycle has started) back to interrupt mode, and
    // pollRound must then complete the vector on its next pass. Ignoring the mode would poll on for
    // a million empty polls.
    const IDLE = 1_000_000;
    const { rows, device, d } = oneVector({
      mode: 'hybrid',
      budget: 64,
      idlePolls: IDLE,
      hybrid: { pollAbove: 1e-9, interruptBelow: 1e-9, windowMs: 20 },
      // the cycle's unmask finds one item (added as the interrupt came back on: no raise for it),
      // which interrupt mode must then take at once (drainAfterUnmask), or it is stranded
      data: { injectOnUnmask: 1 },
    });
    await d.start();
    try {
      const { raises, produced } = await trickleUntilPollCycle(device, rows);
      t.true(rows[N.MASKS] > 0, 'a raise started a poll cycle');
      // acquire's unmask, the cycle's (which finds the injected item), the drain's (quiet)
      await waitFor(
        () =>
          Atomics.load(rows, N.UNMASKS) === 3 &&
          Atomics.load(rows, N.ENABLED) === 1 &&
          Atomics.load(rows, N.PROCESSED) === produced + 1,
        30_000,
        'the poll cycle completed and the item its unmask found was taken',
      );
      const s = d.stats().vectors[0];
      t.true(s.toInterrupt >= 1, 'it went back to interrupt mode');
      t.true(
        rows[N.POLLS] < IDLE,
        `the cycle ended with the switch, not after ${IDLE} empty polls (polls: ${rows[N.POLLS]})`,
      );
      // the drain's poll is the driver's own, not a NAPI round's
      t.is(s.polls, rows[N.POLLS] - 1, 'the dispatcher counted every poll of the cycle');
      t.is(rows[N.MASKS], 2, 'one poll cycle and one drain');
      t.is(rows[N.INJECTED], 1);
      t.is(rows[N.RACES], 1, "the cycle's unmask found the injected item");
      t.is(rows[N.PENDING], 0);
      t.is(rows[N.NO_BUDGET], 0);
      await quiesce(d, raises);
    } finally {
      await d.stop();
    }
    t.is(rows[N.ENABLED], 1);
  },
);

test.serial(
  "napi hooks (hybrid): the driver's polled work counts towards the vector's rate, so a busy poll cycle stays in poll mode",
  async (t) => {
    // While the driver polls its own queue the device raises nothing (its interrupt is off), so the
    // raise counter stands still: the rate that keeps the vector in poll mode is the polls' work.
    // interruptBelow 0 means no honest rate ever switches it back (no rate is below 0/s), and
    // idlePolls a million with a budget no cycle uses up means the cycle never ends in the test:
    // every item after the first interrupt is taken by a poll, no raise. Work subtracted instead of
    // added would read as a negative rate and switch the vector back to interrupt mode.
    const { rows, device, d } = oneVector({
      mode: 'hybrid',
      budget: 1 << 20,
      idlePolls: 1_000_000,
      hybrid: { pollAbove: 1e-9, interruptBelow: 0, windowMs: 5 },
    });
    await d.start();
    try {
      let { raises, produced } = await trickleUntilPollCycle(device, rows);
      t.true(rows[N.MASKS] > 0, 'a raise started a poll cycle');
      const polls0 = Atomics.load(rows, N.POLLS);
      // 100 more items over ~100 ms (twenty windows): the interrupt is off, the polls take them
      for (let i = 0; i < 100; i++) {
        produced++;
        if (produce(device, rows, 0, 1)) raises++;
        await new Promise((r) => setTimeout(r, 1));
      }
      await waitFor(() => Atomics.load(rows, N.PROCESSED) === produced, 10_000, 'every item processed');
      const s = d.stats().vectors[0];
      t.is(raises, s.raised, 'the table saw every raise the device made');
      t.true(Atomics.load(rows, N.POLLS) > polls0, 'the polls took the items');
      // (a test thread starved for the cycle's million empty polls ends it, and the next item raises:
      // fewer raises than items is what holds either way)
      t.true(raises < produced, `the polls took items the device raised nothing for (${raises} raises)`);
      t.is(s.toPoll, 1, 'one switch to poll mode');
      t.is(s.toInterrupt, 0, 'and none back: the polled work kept its rate above 0/s');
      t.is(s.mode, 'poll');
      t.true(s.rate >= 0, `its rate is never negative (${s.rate}/s)`);
      await quiesce(d, raises);
    } finally {
      await d.stop();
    }
    t.is(rows[N.ENABLED], 1);
  },
);

test.serial(
  'napi hooks: a user mask in the middle of a poll cycle ends it; after the unmask the device interrupts again',
  async (t) => {
    // idlePolls is a million, so only the mask can end the cycle in the test's time. While the user
    // mask holds, no hook turns the device's interrupt back on (an interrupt would only be held); the
    // unmask must hand the vector back to the driver with its interrupt on, or the next item the device
    // adds raises nothing and is never processed.
    const { rows, device, d } = oneVector({ mode: 'poll', budget: 64, idlePolls: 1_000_000 });
    await d.start();
    try {
      t.true(produce(device, rows, 0, 1), 'raised: the interrupt is on');
      await waitFor(() => Atomics.load(rows, N.MASKS) === 1, 10_000, 'the poll cycle to start');
      d.mask(0);
      await waitFor(() => d.stats().workers[0].state === 'sleeping', 10_000, 'the worker to sleep');
      t.true(rows[N.POLLS] < 1_000_000, `the mask ended the cycle (polls: ${rows[N.POLLS]})`);
      const unmasks = Atomics.load(rows, N.UNMASKS);
      t.is(rows[N.ENABLED], 0, "the device's interrupt stays off while the user mask holds");
      d.unmask(0);
      await waitFor(() => Atomics.load(rows, N.ENABLED) === 1, 10_000, "the device's interrupt back on");
      t.true(rows[N.UNMASKS] > unmasks, 'through the unmask hook');
      t.true(produce(device, rows, 0, 2), 'the next item raises');
      await waitFor(
        () => Atomics.load(rows, N.PROCESSED) === 3,
        10_000,
        'the items after the unmask processed',
      );
      t.is(rows[N.PENDING], 0);
      t.is(rows[N.WRONG_THREAD], 0);
      await quiesce(d, 2);
    } finally {
      await d.stop();
    }
    t.is(rows[N.ENABLED], 1);
  },
);

test('a napi export without mask, poll and unmask is EMODULE', async (t) => {
  const e = await t.throwsAsync(
    loadHandlerModule(new URL('./fixtures/napi-partial.js', import.meta.url).href),
  );
  t.is((e as { code?: string }).code, 'ERR_VIRQ_MODULE');
  t.regex(e?.message ?? '', /unmask/);
});
