/**
 * The dispatcher's own shared memory: per-vector control words and counters, per-worker control
 * words and counters. It sits beside core's vector table (which holds raised / delivered /
 * coalesced / pending / masked) and is attached by every service worker and every deferred-work
 * thread from a plain `{ buffer }` handle.
 *
 * Two views share one SharedArrayBuffer:
 * - Int32 control words, touched with Atomics (ownership, the deferred-work "queued" bit, the
 *   in-flight count a crash recovery reconciles, mask flags, mode);
 * - Float64 counters. Each counter has a single writer at any moment (the owning worker, or the
 *   main thread for deferred-work results), so plain stores are enough; aligned 8-byte reads of a
 *   SharedArrayBuffer do not tear on the 64-bit platforms Node supports, and a Float64 counts
 *   exactly up to 2^53 instead of wrapping at 2^32.
 *
 * The header and the field tables below are the export format `virq top` reads (see stats.ts).
 */

/** Magic number at word 0 ("VIRQ"), so a reader can tell a stats image from garbage. */
export const STATE_MAGIC = 0x56495251;
/** Layout version; bump when a field moves. */
export const STATE_VERSION = 1;

/** Header words (Int32). */
export const H = {
  MAGIC: 0,
  VERSION: 1,
  VECTORS: 2,
  WORKERS: 3,
  /** Set to 1 by stop(): service workers leave their loop at the next wake. */
  STOP: 4,
  /** Dispatcher mode: 0 interrupt, 1 poll, 2 hybrid. */
  MODE: 5,
  BUDGET: 6,
  /** Nonzero while the dispatcher runs; a stats reader shows a stopped image as such. */
  RUNNING: 7,
} as const;
/** Int32 words in the header. */
export const HEADER_WORDS = 16;

/** Per-vector control words (Int32, Atomics). */
export const VI = {
  /** Service-worker slot that owns the vector; -1 while it is being handed over. */
  OWNER: 0,
  /** schedule_work's PENDING bit: 1 from a successful queue until the deferred run starts. */
  QUEUED: 1,
  /** Trigger counts read by the owner but not yet recorded as consumed (crash reconciliation). */
  INFLIGHT: 2,
  /** 1 while the user (ctx.mask() / Dispatcher.mask()) holds the vector masked. */
  USER_MASKED: 3,
  /** 1 while NAPI holds the vector masked and polls it (poll mode). */
  POLLING: 4,
  /** Deferred runs executing right now; never above 1 (checked by tests, counted if violated). */
  ACTIVE: 5,
  /** The vector number (as serviced), so a reader can label rows. */
  VECTOR: 6,
  /** NAPI mode: 0 interrupt, 1 poll (fixed by the dispatcher mode, or switched by hybrid). */
  MODE: 7,
} as const;
/** Int32 words per vector. */
export const VECTOR_WORDS = 8;

/** Per-vector counters (Float64). Names are the stats field names. */
export const VECTOR_COUNTERS = [
  'handled',
  'deferredQueued',
  'deferredCoalesced',
  'deferredRuns',
  'deferredErrors',
  'handlerErrors',
  'toPoll',
  'toInterrupt',
  'polls',
  'redelivered',
  'rate',
  'deferredOverlaps',
] as const;
/** Index of each per-vector counter. */
export const VC = Object.fromEntries(VECTOR_COUNTERS.map((k, i) => [k, i])) as {
  [K in (typeof VECTOR_COUNTERS)[number]]: number;
};
/** Float64 slots per vector (room to grow without moving the worker block). */
export const VECTOR_SLOTS = 16;

/** Per-worker control words (Int32, Atomics). */
export const WI = {
  /** {@link WorkerState}. */
  STATE: 0,
  /** Position of the vector whose handler runs right now, -1 if none (names it in a crash report). */
  CURRENT: 1,
  /** Worker thread id of the live incarnation. */
  THREAD_ID: 2,
  /** Incremented each time the slot gets a replacement worker. */
  INCARNATION: 3,
  /** Vectors owned right now. */
  OWNED: 4,
  /**
   * Kill handshake (worker-slot.ts, terminate): 1 once the main thread wants to terminate the worker,
   * 2 once the worker has parked at its loop head, where nothing is held in its own memory.
   */
  KILL: 5,
} as const;

/**
 * Bits on a worker's {@link WI.CURRENT} besides the position. KILL and EVICT the main thread sets with
 * compareExchange while the worker is inside a handler (no BOOK); the worker takes them with the
 * exchange that follows the handler's return, which sets BOOK for the call's bookkeeping. KILL: park
 * instead of the bookkeeping (a terminate follows; the delivery is in INFLIGHT). EVICT: the watchdog
 * re-homed every other vector; forget them.
 */
export const CUR = { KILL: 1 << 30, EVICT: 1 << 29, BOOK: 1 << 28, POS: 0xffff } as const;
/** Int32 words per worker. */
export const WORKER_WORDS = 8;

/** Service-worker lifecycle states stored in {@link WI.STATE}. */
export const WorkerState = {
  STARTING: 0,
  RUNNING: 1,
  SLEEPING: 2,
  STOPPED: 3,
  DEAD: 4,
} as const;

/** Per-worker counters (Float64). */
export const WORKER_COUNTERS = [
  'wakeups',
  'events',
  'polls',
  'spins',
  'sleeps',
  'batches',
  'handlerErrors',
  'restarts',
] as const;
/** Index of each per-worker counter. */
export const WC = Object.fromEntries(WORKER_COUNTERS.map((k, i) => [k, i])) as {
  [K in (typeof WORKER_COUNTERS)[number]]: number;
};
/** Float64 slots per worker. */
export const WORKER_SLOTS = 16;

/** Plain description of a {@link DispatchState}, cloneable to workers. */
export interface DispatchStateHandle {
  buffer: SharedArrayBuffer;
  vectors: number;
  workers: number;
}

/**
 * Typed views over the dispatcher's shared memory. Construct with {@link DispatchState.create} on
 * the main thread and {@link DispatchState.attach} anywhere else.
 */
export class DispatchState {
  /** Number of serviced vectors (positions 0..vectors-1). */
  readonly vectors: number;
  /** Number of service-worker slots. */
  readonly workers: number;
  /** Header words. */
  readonly header: Int32Array;
  /** Per-vector control words, `VECTOR_WORDS` (@virq/handler/internal) per vector. */
  readonly vi: Int32Array;
  /** Per-vector counters, `VECTOR_SLOTS` per vector. */
  readonly vc: Float64Array;
  /** Per-worker control words, `WORKER_WORDS` per worker. */
  readonly wi: Int32Array;
  /** Per-worker counters, `WORKER_SLOTS` per worker. */
  readonly wc: Float64Array;
  /** The backing buffer. */
  readonly buffer: SharedArrayBuffer;

  /** Bytes needed for `vectors` vectors and `workers` workers. */
  static byteLength(vectors: number, workers: number): number {
    return DispatchState.offsets(vectors, workers).end;
  }

  private static offsets(vectors: number, workers: number) {
    const header = 0;
    const vi = header + HEADER_WORDS * 4;
    const wi = vi + vectors * VECTOR_WORDS * 4;
    // Float64 views need 8-byte alignment.
    const vc = Math.ceil((wi + workers * WORKER_WORDS * 4) / 8) * 8;
    const wc = vc + vectors * VECTOR_SLOTS * 8;
    const end = wc + workers * WORKER_SLOTS * 8;
    return { header, vi, wi, vc, wc, end };
  }

  /** Allocates and initialises a state for `vectors` (vector numbers by position). */
  static create(vectorNumbers: readonly number[], workers: number): DispatchState {
    const buffer = new SharedArrayBuffer(DispatchState.byteLength(vectorNumbers.length, workers));
    const s = new DispatchState({ buffer, vectors: vectorNumbers.length, workers });
    s.header[H.MAGIC] = STATE_MAGIC;
    s.header[H.VERSION] = STATE_VERSION;
    s.header[H.VECTORS] = vectorNumbers.length;
    s.header[H.WORKERS] = workers;
    for (let p = 0; p < vectorNumbers.length; p++) {
      s.vi[p * VECTOR_WORDS + VI.OWNER] = -1;
      s.vi[p * VECTOR_WORDS + VI.VECTOR] = vectorNumbers[p];
    }
    for (let w = 0; w < workers; w++) s.wi[w * WORKER_WORDS + WI.CURRENT] = -1;
    return s;
  }

  /** Attaches to a state created elsewhere. */
  static attach(handle: DispatchStateHandle): DispatchState {
    return new DispatchState(handle);
  }

  private constructor(handle: DispatchStateHandle) {
    const { buffer, vectors, workers } = handle;
    const o = DispatchState.offsets(vectors, workers);
    if (buffer.byteLength < o.end) throw new RangeError('DispatchState: buffer too small');
    this.buffer = buffer;
    this.vectors = vectors;
    this.workers = workers;
    this.header = new Int32Array(buffer, o.header, HEADER_WORDS);
    this.vi = new Int32Array(buffer, o.vi, vectors * VECTOR_WORDS);
    this.wi = new Int32Array(buffer, o.wi, workers * WORKER_WORDS);
    this.vc = new Float64Array(buffer, o.vc, vectors * VECTOR_SLOTS);
    this.wc = new Float64Array(buffer, o.wc, workers * WORKER_SLOTS);
  }

  /** A handle to clone into a worker. */
  get handle(): DispatchStateHandle {
    return { buffer: this.buffer, vectors: this.vectors, workers: this.workers };
  }

  /** Atomic read of a per-vector control word. */
  vget(pos: number, word: number): number {
    return Atomics.load(this.vi, pos * VECTOR_WORDS + word);
  }

  /** Atomic write of a per-vector control word. */
  vset(pos: number, word: number, value: number): void {
    Atomics.store(this.vi, pos * VECTOR_WORDS + word, value);
  }

  /** Atomic read of a per-worker control word. */
  wget(slot: number, word: number): number {
    return Atomics.load(this.wi, slot * WORKER_WORDS + word);
  }

  /** Atomic write of a per-worker control word. */
  wset(slot: number, word: number, value: number): void {
    Atomics.store(this.wi, slot * WORKER_WORDS + word, value);
  }

  /** Adds to a per-vector counter (caller is its only writer right now). */
  vcount(pos: number, counter: number, by = 1): void {
    this.vc[pos * VECTOR_SLOTS + counter] += by;
  }

  /** Reads a per-vector counter. */
  vcounter(pos: number, counter: number): number {
    return this.vc[pos * VECTOR_SLOTS + counter];
  }

  /** Adds to a per-worker counter (the worker is its only writer). */
  wcount(slot: number, counter: number, by = 1): void {
    this.wc[slot * WORKER_SLOTS + counter] += by;
  }

  /** Reads a per-worker counter. */
  wcounter(slot: number, counter: number): number {
    return this.wc[slot * WORKER_SLOTS + counter];
  }

  /**
   * schedule_work's test-and-set: 1 if this call queued the vector's deferred work (the caller must
   * then hand the request on), 0 if it was already queued (coalesced).
   */
  tryQueue(pos: number): boolean {
    return Atomics.compareExchange(this.vi, pos * VECTOR_WORDS + VI.QUEUED, 0, 1) === 0;
  }

  /** Clears the queued bit as the deferred run starts, so a raise during the run queues it again. */
  clearQueued(pos: number): void {
    Atomics.store(this.vi, pos * VECTOR_WORDS + VI.QUEUED, 0);
  }
}
