/**
 * The driver's half that runs in virq's service workers: the Dispatcher's `handler` for every vector
 * (RX queue q's vector = q; the last one is config changes) and its `napi` hooks, so that while the
 * Dispatcher polls a queue the device itself stops interrupting for it (VIRTQ_AVAIL_F_NO_INTERRUPT,
 * §2.7.7) and unmasking re-checks the used ring (Linux's virtqueue_enable_cb race).
 *
 * Each worker maps the DMA region and the notify window itself (from the layout's handles) the first
 * time it services a pair; ring and pool state live in shared memory, so a worker that replaces a
 * crashed one, or receives a pair by rebalance, continues exactly where the last owner stopped.
 */
import { type NicLayout, PAIR_STATS as P, PAIR_STAT_WORDS } from './layout.js';
import type { DmaHandle, Mmio, MmioHandle } from './memory.js';
import { BUFFER_SIZE, BufferPool } from './pool.js';
import { RxQueue } from './rx.js';
import { VIRTIO_NET_HDR_LEN } from './spec.js';
import { TxQueue } from './tx.js';
import { Virtqueue } from './virtqueue.js';

/** What the app does with frames. Runs on the service worker that owns the pair, in ring order. */
export interface NicApp {
  /**
   * One received frame of `pair` (a view valid during the call). Edit it in place and return true to
   * send it back on the same pair, false to drop it.
   */
  frame(pair: number, frame: Uint8Array): boolean;
  /** After each batch of a pair (e.g. to publish counters). */
  batchEnd?(pair: number): void;
}

/** Maps the layout's memory in this thread (the DMA region's bytes, and the notify window). */
export interface NicAttach {
  dma(handle: DmaHandle): Uint8Array;
  mmio(handle: MmioHandle): Mmio;
}

/** The per-thread context the Dispatcher passes (`ctx.data` must hold the layout under `nic`). */
interface Ctx {
  data: unknown;
}

/** One pair as this worker drives it. */
class PairDriver {
  readonly rx: RxQueue;
  readonly tx: TxQueue;
  readonly stats: Float64Array;
  private readonly send: (b: number, len: number) => boolean;

  constructor(
    readonly pair: number,
    layout: NicLayout,
    bytes: Uint8Array,
    notify: Mmio,
    app: NicApp,
  ) {
    const p = layout.pairs[pair];
    const pool = new BufferPool(p.pool, bytes);
    this.rx = new RxQueue(new Virtqueue(p.rx, bytes, notify), pool, p.rxTarget);
    this.tx = new TxQueue(new Virtqueue(p.tx, bytes, notify), pool);
    this.stats = new Float64Array(layout.stats, pair * PAIR_STAT_WORDS * 8, PAIR_STAT_WORDS);
    const poolBytes = pool.bytes;
    const tx = this.tx;
    const stats = this.stats;
    this.send = (b, len) => {
      const at = b * BUFFER_SIZE + VIRTIO_NET_HDR_LEN;
      const frame = poolBytes.subarray(at, at + len);
      let forward: boolean;
      try {
        forward = app.frame(pair, frame);
      } catch (err) {
        // Offered once more (an app fault need not lose the frame); a second throw drops it. The
        // first error is thrown from the handler once the batch is done, for the Dispatcher's EHANDLER.
        this.error ??= err;
        try {
          forward = app.frame(pair, frame);
        } catch {
          stats[P.appErrors]++;
          return false;
        }
      }
      stats[P.rxFrames]++;
      stats[P.rxBytes] += len;
      if (!forward) {
        stats[P.dropped]++;
        return false;
      }
      if (tx.send(b, len)) {
        stats[P.txFrames]++;
        return true;
      }
      stats[P.txFull]++;
      return false;
    };
  }

  /** The first error the app threw in this batch (rethrown by the handler). */
  error: unknown;

  /** Up to `budget` frames; TX flushed at the end (also if the app threw). Returns the frames taken. */
  poll(budget: number): number {
    const before = this.rx.malformed;
    const emptyBefore = this.rx.poolEmpty;
    const waitsBefore = this.tx.waits;
    let n: number;
    try {
      n = this.rx.receive(budget, this.send);
    } finally {
      this.tx.flush();
    }
    const s = this.stats;
    s[P.rxMalformed] += this.rx.malformed - before;
    s[P.poolEmpty] += this.rx.poolEmpty - emptyBefore;
    s[P.txWaits] += this.tx.waits - waitsBefore;
    if (n > s[P.maxBatch]) s[P.maxBatch] = n;
    return n;
  }
}

/** Frames a handler call takes at most before it lets the worker look at its other vectors. */
const HANDLER_BUDGET = 1024;

/**
 * The Dispatcher handler module's exports for a virtio-net device:
 * `export const { handler, napi } = virtioNetHandlers(app, attach)`.
 */
export function virtioNetHandlers(app: NicApp, attach: NicAttach) {
  let layout: NicLayout | undefined;
  let bytes: Uint8Array | undefined;
  let notify: Mmio | undefined;
  const pairs: (PairDriver | undefined)[] = [];
  let configEvents = 0;

  const pairOf = (vector: number, ctx: Ctx): PairDriver | undefined => {
    if (layout === undefined) {
      layout = (ctx.data as { nic: NicLayout }).nic;
      if (layout.dma === undefined || layout.notify === undefined)
        throw new Error('layout without memory handles');
      bytes = attach.dma(layout.dma);
      notify = attach.mmio(layout.notify);
    }
    if (vector >= layout.pairs.length) return undefined; // the config vector
    let d = pairs[vector];
    if (d === undefined) {
      d = new PairDriver(vector, layout, bytes as Uint8Array, notify as Mmio, app);
      pairs[vector] = d;
    }
    return d;
  };

  /**
   * Top half for every vector. An RX vector: take what the ring holds (in interrupt mode the device
   * interrupts again only for new buffers, so nothing may be left behind: drain until empty, a bounded
   * number of rounds). The config vector: counted.
   */
  function handler(vector: number, ctx: Ctx): boolean {
    const d = pairOf(vector, ctx);
    if (d === undefined) {
      configEvents++;
      return false;
    }
    d.stats[P.interrupts]++;
    let total = 0;
    for (let n = d.poll(HANDLER_BUDGET); n > 0 && total < 8 * HANDLER_BUDGET; n = d.poll(HANDLER_BUDGET))
      total += n;
    app.batchEnd?.(vector);
    const err = d.error;
    d.error = undefined;
    if (err !== undefined) throw err;
    return false;
  }

  /** The Dispatcher's NAPI hooks (see @virq/dispatch's README, "Driver NAPI hooks"). */
  const napi = {
    /** napi_schedule: the device stops interrupting for this queue. */
    mask(vector: number, ctx: Ctx): void {
      pairOf(vector, ctx)?.rx.vq.disableInterrupts();
    },
    /** One poll: up to `budget` frames. Returns how many (0 = idle). */
    poll(vector: number, ctx: Ctx, budget: number): number {
      const d = pairOf(vector, ctx);
      if (d === undefined) return 0;
      d.stats[P.polls]++;
      const n = d.poll(budget);
      if (n > 0) app.batchEnd?.(vector);
      // Hooks must not throw (a throw there ends the worker): an app error seen while polling is
      // counted (pollErrors) instead of reported; its frame was offered twice, as in handler().
      if (d.error !== undefined) {
        d.error = undefined;
        d.stats[P.pollErrors]++;
      }
      return n;
    },
    /**
     * napi_complete: interrupts back on, then the used ring re-checked. False if frames landed while
     * they were off (they raised no interrupt): the Dispatcher keeps polling.
     */
    unmask(vector: number, ctx: Ctx): boolean {
      const d = pairOf(vector, ctx);
      if (d === undefined) return true;
      if (d.rx.vq.enableInterrupts()) return true;
      d.stats[P.rearmRaces]++;
      d.rx.vq.disableInterrupts();
      return false;
    },
  };

  return { handler, napi, configEvents: () => configEvents };
}
