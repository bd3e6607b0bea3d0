/**
 * The two ways a service worker waits for any of its vectors at once:
 * - {@link DoorbellTriggerSet}: in-memory triggers (core's SharedEventFd) each watch one bit of the
 *   worker's doorbell (the in-memory analogue of an epoll set). One futex word to sleep on; a raise
 *   rings the bit and notifies only if the worker sleeps.
 * - {@link EpollTriggerSet}: kernel eventfds in a native epoll set, drained in one native call per
 *   batch (wait + read every ready counter). Kicks (control, re-checks, stop) go through a doorbell
 *   plus the set's wake eventfd, since a thread blocked in epoll_wait can only be woken by an fd.
 *
 * Both report kicked positions with count 0, and the control id as itself.
 */

import { Epoll, WAKE_TAG } from '@virq/native';
import { SharedEventFd, type SharedEventFdHandle } from '@virq/trigger';
import { Doorbell, type DoorbellHandle } from 'atomics-sync';

/**
 * The vectors a worker waits on at once: the seam a service worker's loop waits through, so one loop
 * serves in-memory triggers (doorbell) and kernel eventfds (epoll). Positions are indexes into the
 * dispatcher's vector list. Everything here is called from the owning worker only.
 */
export interface TriggerSet {
  /** 'doorbell' (in-memory triggers) or 'epoll' (kernel eventfds). */
  readonly kind: 'doorbell' | 'epoll';
  /** Ready positions of the last {@link collect}. */
  readonly ids: Int32Array;
  /** Trigger counts consumed for each of {@link ids} (0: rung, but nothing to read). */
  readonly counts: Float64Array;
  /** Starts waiting on `pos`'s trigger; a count already there is reported by the next collect. */
  add(pos: number): void;
  /** Stops waiting on `pos`'s trigger (its count stays in the trigger). */
  remove(pos: number): void;
  /**
   * Waits up to `timeoutMs` (0: do not block; -1: until something happens) and consumes every ready
   * trigger: fills {@link ids}/{@link counts} and returns how many. A kick (control, recheck, stop)
   * also ends the wait; its positions come back with count 0.
   */
  collect(timeoutMs: number): number;
  /** Releases what the set opened (never the triggers themselves). */
  close(): void;
}

/** How a worker finds its triggers, cloned into it. */
export type TriggerSpec =
  | {
      kind: 'memory';
      /** This slot's doorbell; it lives in the triggers' eventfd pool so they can ring it. */
      bell: DoorbellHandle;
      /** Trigger of each position. */
      triggers: SharedEventFdHandle[];
    }
  | {
      kind: 'eventfd';
      /** This slot's kick doorbell. */
      bell: DoorbellHandle;
      /** Kernel eventfd of each position (the dispatcher's fds; the set does not own them). */
      fds: number[];
      /** The dispatcher's wake eventfd for this slot; the epoll set keeps a duplicate. */
      wakeFd: number;
    };

/** Waits on in-memory triggers through one doorbell. */
export class DoorbellTriggerSet implements TriggerSet {
  readonly kind = 'doorbell' as const;
  readonly ids: Int32Array;
  readonly counts: Float64Array;
  private readonly bell: Doorbell;
  private readonly raw: Int32Array;
  private readonly member: Uint8Array;
  private readonly triggers: (SharedEventFd | undefined)[];

  constructor(
    private readonly spec: Extract<TriggerSpec, { kind: 'memory' }>,
    private readonly controlId: number,
  ) {
    const n = spec.triggers.length;
    this.bell = Doorbell.from(spec.bell);
    this.raw = new Int32Array(n + 1);
    this.ids = new Int32Array(n + 1);
    this.counts = new Float64Array(n + 1);
    this.member = new Uint8Array(n);
    this.triggers = new Array(n);
  }

  private trigger(pos: number): SharedEventFd {
    let t = this.triggers[pos];
    if (t === undefined) {
      t = SharedEventFd.from(this.spec.triggers[pos]);
      this.triggers[pos] = t;
    }
    return t;
  }

  add(pos: number): void {
    const t = this.trigger(pos);
    // A predecessor on this slot (a crashed worker) may have left its watch: drop it so each signal
    // rings once. watch() rings at once if the count is already non-zero.
    t.unwatch(this.bell, pos);
    t.watch(this.bell, pos);
    this.member[pos] = 1;
  }

  remove(pos: number): void {
    this.member[pos] = 0;
    this.trigger(pos).unwatch(this.bell, pos);
  }

  collect(timeoutMs: number): number {
    if (timeoutMs !== 0) this.bell.wait(timeoutMs < 0 ? undefined : timeoutMs, 0);
    const got = this.bell.drain(this.raw);
    let n = 0;
    for (let i = 0; i < got; i++) {
      const id = this.raw[i];
      if (id === this.controlId) {
        this.ids[n] = id;
        this.counts[n++] = 0;
      } else if (this.member[id] !== 0) {
        // The bit is a hint; the trigger's count is the truth (0 after a kick or a spurious ring).
        const c = this.trigger(id).tryRead();
        this.ids[n] = id;
        this.counts[n++] = c === null ? 0 : Number(c);
      }
    }
    return n;
  }

  close(): void {
    for (let pos = 0; pos < this.member.length; pos++) if (this.member[pos] !== 0) this.remove(pos);
  }
}

/** Waits on kernel eventfds in a native epoll set. */
export class EpollTriggerSet implements TriggerSet {
  readonly kind = 'epoll' as const;
  readonly ids: Int32Array;
  readonly counts: Float64Array;
  private readonly epoll: Epoll;
  private readonly bell: Doorbell;
  private readonly tags: Int32Array;
  private readonly raw: BigUint64Array;
  private readonly kicked: Int32Array;
  private readonly member: Uint8Array;

  constructor(
    private readonly spec: Extract<TriggerSpec, { kind: 'eventfd' }>,
    private readonly controlId: number,
  ) {
    const n = spec.fds.length;
    this.epoll = new Epoll({ wakeFd: spec.wakeFd });
    this.bell = Doorbell.from(spec.bell);
    this.tags = new Int32Array(n + 1);
    this.raw = new BigUint64Array(n + 1);
    this.kicked = new Int32Array(n + 1);
    this.ids = new Int32Array(2 * (n + 1));
    this.counts = new Float64Array(2 * (n + 1));
    this.member = new Uint8Array(n);
  }

  add(pos: number): void {
    // Level-triggered: a count already in the eventfd is reported by the next drain.
    this.epoll.add(this.spec.fds[pos], pos);
    this.member[pos] = 1;
  }

  remove(pos: number): void {
    this.member[pos] = 0;
    this.epoll.remove(this.spec.fds[pos]);
  }

  collect(timeoutMs: number): number {
    // A kick rings the doorbell before it writes the wake fd, so checking the doorbell first means a
    // kick is never left waiting behind a blocking drain.
    const kicked = this.bell.pending();
    // epoll_wait counts whole milliseconds: a shorter wait (pollWaitMicros) is rounded up, not to 0.
    const got = this.epoll.drain(
      this.tags,
      this.raw,
      kicked ? 0 : timeoutMs > 0 ? Math.ceil(timeoutMs) : timeoutMs,
    );
    let n = 0;
    for (let i = 0; i < got; i++) {
      const tag = this.tags[i];
      if (tag === WAKE_TAG) continue;
      this.ids[n] = tag;
      this.counts[n++] = Number(this.raw[i]);
    }
    if (kicked || got > 0) {
      const k = this.bell.drain(this.kicked);
      for (let i = 0; i < k; i++) {
        const id = this.kicked[i];
        if (id !== this.controlId && this.member[id] === 0) continue;
        this.ids[n] = id;
        this.counts[n++] = 0;
      }
    }
    return n;
  }

  close(): void {
    this.epoll.close();
  }
}
