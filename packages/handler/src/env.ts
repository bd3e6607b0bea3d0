/**
 * The per-thread view every dispatcher thread (main, service workers, deferred-work threads) builds
 * from one cloneable handle: the dispatcher's state, core's vector table, and how to kick a service
 * worker.
 */
import type { EoiSpec } from '@virq/bind';
import { VectorTable, type VectorTableHandle } from '@virq/core';
import { loadNative } from '@virq/native';
import { SharedEventFd } from '@virq/trigger';
import { Doorbell, type DoorbellHandle } from 'atomics-sync';
import type { ContextEnv } from './context.js';
import { DispatchState, type DispatchStateHandle } from './layout.js';
import { TableOps } from './table-ops.js';

/** Cloneable description of a dispatcher, for its worker threads. */
export interface EnvHandle {
  state: DispatchStateHandle;
  table: VectorTableHandle;
  index: number;
  vectors: number[];
  data: unknown;
  /** Each service-worker slot's kick doorbell. */
  bells: DoorbellHandle[];
  /** eventfd triggers: each slot's wake eventfd (the dispatcher's fd numbers); memory: empty. */
  wakeFds: number[];
  /** INTx only: the unmask eventfd bound with ACTION_UNMASK (see {@link Env.eoi}). */
  eoi?: EoiSpec;
}

/** A {@link ContextEnv} plus the objects behind it. */
export interface Env extends ContextEnv {
  table: VectorTable;
  ops: TableOps;
  bells: Doorbell[];
}

/**
 * Writes the unmask eventfd: the device side (the kernel's virqfd, or core's) unmasks the automasked
 * INTx line, or — PCI 2.3, the level still asserted — keeps it masked and re-sends the trigger. Any
 * thread may write it; an unmask of a line that is not masked does nothing.
 */
function eoiWriter(spec: EoiSpec | undefined): (() => void) | undefined {
  if (spec === undefined) return undefined;
  if (spec.kind === 'eventfd') {
    const native = loadNative();
    return () => native.eventfdWrite(spec.fd, 1);
  }
  let efd: SharedEventFd | undefined;
  return () => {
    efd ??= SharedEventFd.from(spec.efd);
    efd.write(1);
  };
}

/**
 * Attaches to a dispatcher from its handle. `selfSlot` is the service-worker slot of the calling
 * thread, -1 elsewhere.
 */
export function attachEnv(h: EnvHandle, selfSlot: number): Env {
  const state = DispatchState.attach(h.state);
  const table = VectorTable.attach(h.table);
  const ops = new TableOps(table, h.index, h.vectors);
  const bells = h.bells.map((b) => Doorbell.from(b));
  const wakeFds = h.wakeFds;
  const native = wakeFds.length > 0 ? loadNative() : undefined;
  return {
    state,
    table,
    ops,
    bells,
    index: h.index,
    vectors: h.vectors,
    data: h.data,
    selfSlot,
    eoi: eoiWriter(h.eoi),
    kick(slot: number, id: number): void {
      bells[slot].ring(id);
      // A worker blocked in epoll_wait sees only fds: write its wake eventfd after the ring (it
      // checks the doorbell before each wait, so the order makes the kick impossible to miss).
      if (native !== undefined && slot !== selfSlot) native.eventfdWrite(wakeFds[slot], 1);
    },
  };
}
