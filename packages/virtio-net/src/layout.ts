/**
 * Where everything of one device lives: one DMA region (every ring, the control scratch, every
 * pair's buffer pool) and one SharedArrayBuffer (the driver-side ring and pool state), described by a
 * structured-cloneable {@link NicLayout} that service workers attach to.
 */
import { CTRL_SCRATCH } from './ctrl.js';
import type { DmaHandle, MmioHandle } from './memory.js';
import { BUFFER_SIZE, type PoolDescriptor, poolStateWords } from './pool.js';
import { ctrlQueueIndex, rxQueueIndex, txQueueIndex } from './spec.js';
import { type QueueDescriptor, queueStateWords, ringLayout } from './virtqueue.js';

/** One queue pair: its RX and TX queues and the pool they share. */
export interface PairLayout {
  pair: number;
  rx: QueueDescriptor;
  tx: QueueDescriptor;
  pool: PoolDescriptor;
  /** Buffers RX keeps posted. */
  rxTarget: number;
}

/** The whole device, as a worker needs it. */
export interface NicLayout {
  pairs: PairLayout[];
  ctrl: QueueDescriptor;
  /** Offset of the control scratch in the DMA region. */
  scratch: number;
  /** Bytes of the DMA region. */
  bytes: number;
  dma: DmaHandle | undefined;
  notify: MmioHandle | undefined;
  /** Per-pair counters (Float64, {@link PAIR_STATS} words per pair), written by the pair's owner. */
  stats: SharedArrayBuffer;
}

/** Counters per queue pair, in {@link NicLayout.stats}. */
export const PAIR_STATS = {
  rxFrames: 0,
  rxBytes: 1,
  rxMalformed: 2,
  txFrames: 3,
  txFull: 4,
  dropped: 5,
  interrupts: 6,
  polls: 7,
  rearmRaces: 8,
  poolEmpty: 9,
  maxBatch: 10,
  /** Frames dropped because the app threw on them twice. */
  appErrors: 11,
  /** App errors seen while NAPI polled (not reported as EHANDLER: hooks do not throw). */
  pollErrors: 12,
  /** Times TX waited for room (back-pressure). */
  txWaits: 13,
} as const;
export const PAIR_STAT_WORDS = 16;

/** What the plan needs from the device and the caller. */
export interface LayoutRequest {
  pairs: number;
  /** Ring sizes the device offers (queue_size), per virtqueue index. */
  queueSize(index: number): number;
  maxPairs: number;
  /** Buffers RX keeps posted per pair (≤ ring size); the pool holds these + TX's ring + slack. */
  rxBuffers: number;
}

const align = (n: number, a: number) => Math.ceil(n / a) * a;

/** Plans offsets; IOVAs and doorbells are filled in once the region exists ({@link placeLayout}). */
export function planLayout(req: LayoutRequest): NicLayout {
  let at = 0;
  let word = 0;
  const state: { d: { stateWord: number }; words: number }[] = [];
  const queue = (index: number): QueueDescriptor => {
    const layout = ringLayout(req.queueSize(index));
    const d: QueueDescriptor = {
      index,
      layout,
      offset: at,
      iova: '0',
      notifyOffset: 0,
      state: undefined as unknown as SharedArrayBuffer,
      stateWord: word,
    };
    at += layout.bytes;
    word += queueStateWords(layout.size);
    state.push({ d, words: 0 });
    return d;
  };
  const pairs: PairLayout[] = [];
  for (let p = 0; p < req.pairs; p++) {
    const rx = queue(rxQueueIndex(p));
    const tx = queue(txQueueIndex(p));
    const rxTarget = Math.min(req.rxBuffers, rx.layout.size);
    const count = rxTarget + tx.layout.size + 32;
    const pool: PoolDescriptor = {
      count,
      offset: at,
      iova: '0',
      state: undefined as unknown as SharedArrayBuffer,
      stateWord: word,
    };
    at = align(at + count * BUFFER_SIZE, 4096);
    word += poolStateWords(count);
    pairs.push({ pair: p, rx, tx, pool, rxTarget });
  }
  const ctrl = queue(ctrlQueueIndex(req.maxPairs));
  const scratch = at;
  at = align(at + CTRL_SCRATCH, 4096);
  const shared = new SharedArrayBuffer(word * 4);
  for (const p of pairs) {
    p.rx.state = shared;
    p.tx.state = shared;
    p.pool.state = shared;
  }
  ctrl.state = shared;
  return {
    pairs,
    ctrl,
    scratch,
    bytes: at,
    dma: undefined,
    notify: undefined,
    stats: new SharedArrayBuffer(req.pairs * PAIR_STAT_WORDS * 8),
  };
}

/** Fills in IOVAs (the region starts at `iova`) and each queue's doorbell offset. */
export function placeLayout(l: NicLayout, iova: bigint, notifyOffset: (index: number) => number): void {
  const place = (q: QueueDescriptor) => {
    q.iova = (iova + BigInt(q.offset)).toString();
    q.notifyOffset = notifyOffset(q.index);
  };
  for (const p of l.pairs) {
    place(p.rx);
    place(p.tx);
    p.pool.iova = (iova + BigInt(p.pool.offset)).toString();
  }
  place(l.ctrl);
}
