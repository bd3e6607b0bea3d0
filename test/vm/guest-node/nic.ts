/**
 * Runs in the VM guest: virq's virtio-net driver (examples/l2fwd over @virq/virtio-net) on the NIC at
 * VIRQ_NIC, bound to vfio-pci, against frames the host's injector (test/vm/host/inject.c, in the boot's
 * network namespace) sends through the tap and counts back. One JSON line per phase:
 *   {"t":"nic","phase":...,"config":{...},"injector":{...},"guest":{...},"checks":[{name,ok,expect,got}]}
 * and {"t":"nicdone","failures":n} last.
 *
 *   node nic.js [phase ...]     phases: interrupt hybrid faults q128 (default: all); sizes from NIC_* env
 *
 * The guest and the injector talk through files in the run folder's nic/ (nic-inject.ts).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { pathToFileURL } from 'node:url';
import { REPO_ROOT } from '../src/workspace.js';
import { inject } from './nic-inject.js';

const env = (k: string, d: number) => (process.env[k] ? Number(process.env[k]) : d);
const BDF = process.env.VIRQ_NIC ?? '';
const FRAMES = env('NIC_FRAMES', 100_000);
const FLOWS = env('NIC_FLOWS', 64);
const WINDOW = env('NIC_WINDOW', 256);

interface Stats {
  pairs: Record<string, number>[];
  dispatcher: {
    totals: { raised: number; delivered: number; coalesced: number; pending: number; dropped: number };
    vectors: {
      vector: number;
      mode: string;
      toPoll: number;
      toInterrupt: number;
      polls: number;
      handled: number;
      handlerErrors: number;
      redelivered: number;
    }[];
    workers: { restarts: number }[];
  };
}
interface Run {
  nic: {
    mac: string;
    pairs: number;
    maxPairs: number;
    vectors: number[];
    features: bigint;
    caps: unknown;
    status: number;
  };
  counters(flows: number): {
    perFlow: { frames: number; next: number; late: number; skipped: number; pair: number }[];
    malformed: number[];
  };
  stats(): Stats;
  stop(): Promise<void>;
}
interface L2fwd {
  startL2fwd(o: Record<string, unknown>): Promise<Run>;
}

/** Our fds and mappings of device memory (memfd DMA pools, BAR mmaps of the vfio device). */
function resources(): { fds: number; maps: number } {
  const maps = readFileSync('/proc/self/maps', 'utf8')
    .split('\n')
    .filter((l) => /memfd:|vfio/.test(l)).length;
  return { fds: readdirSync('/proc/self/fd').length, maps };
}

let failures = 0;
type Check = { name: string; ok: boolean; expect?: unknown; got?: unknown };
function check(list: Check[], name: string, got: unknown, expect: unknown): void {
  const ok = JSON.stringify(got) === JSON.stringify(expect);
  if (!ok) failures++;
  list.push({ name, ok, expect, got });
}
function checkTrue(list: Check[], name: string, ok: boolean, got?: unknown): void {
  if (!ok) failures++;
  list.push({ name, ok, got });
}

interface Phase {
  phase: string;
  pairs: number;
  mode: 'interrupt' | 'hybrid';
  frames: number;
  flows: number;
  window: number;
  rxBuffers?: number;
  bad?: number;
  faults?: { throwAt?: number; exitAt?: number };
  burst?: number;
}

async function runPhase(l2: L2fwd, p: Phase): Promise<void> {
  const checks: Check[] = [];
  const before = resources();
  const errors: { code: string; message: string }[] = [];
  const t0 = performance.now();
  const faults = p.faults ? { ...p.faults, once: new SharedArrayBuffer(8) } : undefined;
  const run = await l2.startL2fwd({
    bdf: BDF,
    pairs: p.pairs,
    mode: p.mode,
    workers: 2,
    rxBuffers: p.rxBuffers,
    hybrid: { pollAbove: 300, interruptBelow: 100, windowMs: 20 },
    faults,
    onError: (e: { error: { code: string; message: string } }) =>
      errors.push({ code: e.error.code, message: e.error.message }),
  });
  const startSeconds = (performance.now() - t0) / 1000;
  const runId = Math.floor(Math.random() * 1e9);
  const cpu0 = process.cpuUsage();
  const inj = await inject({
    if: 'vqnic0',
    mac: run.nic.mac,
    frames: p.frames,
    flows: p.flows,
    window: p.window,
    bad: p.bad ?? 0,
    run: runId,
    // A crashed worker's replacement imports the app again before its pairs move on (seconds, loaded).
    idle_ms: p.faults ? 60_000 : 10_000,
  });
  const cpu = process.cpuUsage(cpu0);
  let burst: Record<string, number> | undefined;
  if (p.burst) {
    // One flow of its own (id = flows), all at once: more than the posted RX buffers and the tap's queue.
    burst = await inject({
      if: 'vqnic0',
      mac: run.nic.mac,
      frames: p.burst,
      flows: 1,
      base: p.flows,
      window: 0,
      run: runId,
      idle_ms: 3000,
    });
  }
  // Let the last completions settle, then read everything before stopping.
  await sleep(200);
  const all = run.counters(p.flows + (p.burst ? 1 : 0));
  const c = { perFlow: all.perFlow.slice(0, p.flows), malformed: all.malformed };
  const burstFlow = all.perFlow[p.flows];
  const s = run.stats();
  const d = s.dispatcher;
  await run.stop();
  const after = resources();
  const perPair = s.pairs.map((x) => x.rxFrames);
  const rxTotal = perPair.reduce((a, b) => a + b, 0);
  const txTotal = s.pairs.reduce((a, x) => a + x.txFrames, 0);
  const flowFrames = c.perFlow.reduce((a, f) => a + f.frames, 0);
  const malformed = c.malformed.reduce((a, b) => a + b, 0) + s.pairs.reduce((a, x) => a + x.rxMalformed, 0);

  check(checks, 'injector: no error', (inj as { error?: string }).error ?? null, null);
  check(checks, 'injector: sent every frame', inj.sent, p.frames);
  check(checks, 'injector: every forwarded frame counted back', inj.received, inj.sent);
  check(checks, 'injector: no sequence gap (nothing lost)', inj.gaps, 0);
  check(checks, 'injector: nothing late or twice', inj.dupOrReorder, 0);
  check(checks, 'injector: MACs swapped on every frame', inj.wrongMac, 0);
  check(checks, 'injector: no malformed frame came back', [inj.badBack, inj.foreign], [0, 0]);
  check(checks, 'injector: every flow complete', inj.flowsShort, 0);
  check(checks, 'injector: the tap dropped nothing (echo run)', inj.tapTxDropped, 0);
  check(
    checks,
    'guest: every flow received exactly its frames, in order',
    c.perFlow.filter((f) => f.late !== 0 || f.skipped !== 0 || f.frames !== f.next).length,
    0,
  );
  check(checks, 'guest: per-flow counts add up to the frames sent', flowFrames, inj.sent);
  check(
    checks,
    'guest: per-queue counts add up (flows + malformed)',
    rxTotal,
    flowFrames + malformed + (burstFlow?.frames ?? 0),
  );
  check(
    checks,
    'guest: each flow stayed on one queue pair',
    c.perFlow.filter((f) => f.pair < 0 && f.frames > 0).length,
    0,
  );
  check(checks, 'guest: forwarded = received well-formed', txTotal, flowFrames + (burstFlow?.frames ?? 0));
  check(checks, 'guest: malformed frames counted, not forwarded', malformed, inj.sentBad ?? 0);
  check(
    checks,
    'guest: no frame dropped by the app or a full TX ring',
    [s.pairs.reduce((a, x) => a + x.appErrors, 0), s.pairs.reduce((a, x) => a + x.txFull, 0)],
    [0, 0],
  );
  check(
    checks,
    'dispatcher: raised = delivered + coalesced + pending + dropped',
    d.totals.raised,
    d.totals.delivered + d.totals.coalesced + d.totals.pending + d.totals.dropped,
  );
  check(checks, 'dispatcher: nothing pending after the run', d.totals.pending, 0);
  check(checks, 'after stop: no fd left', after.fds, before.fds);
  check(checks, 'after stop: no memfd or BAR mapping left', after.maps, before.maps);
  if (p.pairs > 1) {
    const used = perPair.filter((n) => n > 0).length;
    checkTrue(
      checks,
      `guest: frames arrived on more than half of the ${p.pairs} queues`,
      used > p.pairs / 2,
      used,
    );
  }
  if (p.mode === 'hybrid') {
    const toPoll = d.vectors.reduce((a, v) => a + v.toPoll, 0);
    const toInt = d.vectors.reduce((a, v) => a + v.toInterrupt, 0);
    checkTrue(checks, 'hybrid: vectors switched to polling under load', toPoll > 0, toPoll);
    checkTrue(checks, 'hybrid: and back to interrupts', toInt > 0, toInt);
    const polls = s.pairs.reduce((a, x) => a + x.polls, 0);
    checkTrue(checks, 'hybrid: the driver polled with the device interrupt off', polls > 0, polls);
  }
  if (p.faults?.throwAt) {
    const he = d.vectors.reduce((a, v) => a + v.handlerErrors, 0);
    checkTrue(
      checks,
      'fault: the throwing handler was reported (ERR_VIRQ_HANDLER)',
      he >= 1 && errors.some((e) => e.code === 'ERR_VIRQ_HANDLER'),
      { he, errors: errors.map((e) => e.code) },
    );
  }
  if (p.faults?.exitAt) {
    const restarts = d.workers.reduce((a, w) => a + w.restarts, 0);
    checkTrue(
      checks,
      'fault: the dead service worker was replaced (ERR_VIRQ_WORKER)',
      restarts >= 1 && errors.some((e) => e.code === 'ERR_VIRQ_WORKER'),
      { restarts, errors: errors.map((e) => e.code) },
    );
  }
  if (burst) {
    check(checks, 'overrun: burst sent', burst.sent, p.burst);
    checkTrue(
      checks,
      'overrun: the ring overran (the tap counted drops)',
      burst.tapTxDropped > 0,
      burst.tapTxDropped,
    );
    check(
      checks,
      'overrun: sent = counted back + dropped by the device',
      burst.received + burst.tapTxDropped,
      burst.sent,
    );
    check(checks, 'overrun: nothing twice or out of order', burst.dupOrReorder, 0);
    check(checks, 'overrun: what the guest received is what came back', burstFlow?.frames, burst.received);
    check(
      checks,
      'overrun: the guest saw that flow in order',
      [burstFlow?.late, burstFlow?.frames === 0 ? 0 : 1],
      [0, 1],
    );
  }
  const totalFrames = (inj.sent ?? 0) + (burst?.sent ?? 0);
  console.log(
    JSON.stringify({
      t: 'nic',
      phase: p.phase,
      config: {
        pairs: p.pairs,
        mode: p.mode,
        frames: p.frames,
        flows: p.flows,
        window: p.window,
        rxBuffers: p.rxBuffers,
        mac: run.nic.mac,
        maxPairs: run.nic.maxPairs,
        vectors: run.nic.vectors.length,
        features: `0x${run.nic.features.toString(16)}`,
        caps: run.nic.caps,
      },
      injector: inj,
      burst,
      guest: {
        rx: rxTotal,
        tx: txTotal,
        perPair,
        malformed,
        interrupts: s.pairs.reduce((a, x) => a + x.interrupts, 0),
        polls: s.pairs.reduce((a, x) => a + x.polls, 0),
        rearmRaces: s.pairs.reduce((a, x) => a + x.rearmRaces, 0),
        txWaits: s.pairs.reduce((a, x) => a + x.txWaits, 0),
        maxBatch: Math.max(...s.pairs.map((x) => x.maxBatch)),
        raised: d.totals.raised,
        framesPerInterrupt: d.totals.raised > 0 ? rxTotal / d.totals.raised : null,
        cpuMicrosPerFrame: rxTotal > 0 ? (cpu.user + cpu.system) / totalFrames : null,
        startSeconds,
        rate: inj.seconds > 0 ? inj.received / inj.seconds : null,
        errors: errors.slice(0, 5),
      },
      checks,
    }),
  );
}

const PHASES: Record<string, Phase> = {
  interrupt: {
    phase: 'interrupt',
    pairs: 8,
    mode: 'interrupt',
    frames: FRAMES,
    flows: FLOWS,
    window: WINDOW,
  },
  hybrid: { phase: 'hybrid', pairs: 8, mode: 'hybrid', frames: FRAMES, flows: FLOWS, window: WINDOW },
  faults: {
    phase: 'faults',
    pairs: 8,
    mode: 'interrupt',
    frames: env('NIC_FAULT_FRAMES', 5000),
    flows: FLOWS,
    window: 64,
    rxBuffers: 32,
    bad: 20,
    faults: { throwAt: 100, exitAt: 300 },
    burst: env('NIC_BURST', 3000),
  },
  q128: {
    phase: 'q128',
    pairs: 128,
    mode: 'interrupt',
    frames: env('NIC_Q128_FRAMES', 20_000),
    flows: 1024,
    window: WINDOW,
    rxBuffers: 32,
  },
};

async function main(): Promise<void> {
  if (!BDF) throw new Error('VIRQ_NIC is not set (no NIC in this boot?)');
  const l2 = (await import(pathToFileURL(join(REPO_ROOT, 'examples', 'l2fwd', 'l2fwd.js')).href)) as L2fwd;
  const names = process.argv.slice(2).length ? process.argv.slice(2) : Object.keys(PHASES);
  for (const n of names) {
    const p = PHASES[n];
    if (!p) throw new Error(`unknown phase ${n}`);
    try {
      await runPhase(l2, p);
    } catch (e) {
      failures++;
      console.log(JSON.stringify({ t: 'nic', phase: n, error: String((e as Error).stack ?? e), checks: [] }));
    }
  }
  console.log(JSON.stringify({ t: 'nicdone', failures }));
}

await main();
