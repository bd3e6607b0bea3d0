/**
 * Provisioning: the triggers a dispatcher binds and the wakeups its service workers sleep on, of one
 * of two kinds.
 * - 'memory': a core EventFdPool holding one SharedEventFd per serviced vector and one doorbell per
 *   worker (a raise in this process rings the owner's doorbell; no syscall on the path).
 * - 'eventfd': kernel eventfds (the only trigger the kernel can signal, so the one a VfioDevice
 *   takes), watched by an epoll set per worker; each worker's doorbell is a plain SharedArrayBuffer and
 *   its wake eventfd interrupts the epoll_wait.
 * INTx adds one more eventfd of the same kind: the unmask eventfd bound with ACTION_UNMASK.
 *
 * Each close step is pushed onto `closers` right after its create: a create that fails part way (pool
 * full, EMFILE) must not leak the ones made before it. The closers run in reverse.
 */
import type { IrqDevice } from '@virq/core';
import { EventFd } from '@virq/native';
import { EventFdPool, SharedEventFd, type SharedEventFdHandle } from '@virq/trigger';
import { Doorbell, type DoorbellHandle } from 'atomics-sync';
import type { TriggerSpec } from './trigger-sets.js';

/**
 * The INTx unmask eventfd (VFIO_IRQ_SET_ACTION_UNMASK | DATA_EVENTFD): a SharedEventFd for in-memory
 * triggers, or the dispatcher's kernel eventfd number.
 */
export type EoiSpec = { kind: 'memory'; efd: SharedEventFdHandle } | { kind: 'eventfd'; fd: number };

/** What {@link provision} made. */
export interface Provisioned {
  /** One DATA_EVENTFD element per serviced vector, by position. */
  data: (SharedEventFd | EventFd)[];
  /** Each worker's trigger set description. */
  triggers: TriggerSpec[];
  /** Each worker's kick doorbell. */
  bells: DoorbellHandle[];
  /** 'eventfd': each worker's wake eventfd; 'memory': empty. */
  wakeFds: number[];
  /** INTx: the unmask eventfd to bind, and how workers write it. */
  unmask?: { efd: SharedEventFd | EventFd; eoi: EoiSpec };
}

/** Creates the triggers and wakeups for `n` vectors on `workers` workers. */
export function provision(
  device: IrqDevice,
  kind: 'memory' | 'eventfd',
  n: number,
  workers: number,
  level: boolean,
  closers: (() => void)[],
): Provisioned {
  return kind === 'memory'
    ? provisionMemory(device, n, workers, level, closers)
    : provisionEventfd(n, workers, level, closers);
}

function provisionMemory(
  device: IrqDevice,
  n: number,
  workers: number,
  level: boolean,
  closers: (() => void)[],
): Provisioned {
  // A doorbell's capacity is n + 1: one id per vector, one for control kicks.
  const pool = EventFdPool.create({
    capacity: n + (level ? 1 : 0),
    doorbellBytes: workers * EventFdPool.doorbellBytes(n + 1),
  });
  // Runs last: once the triggers are unbound and closed, no thread of this process keeps the pool
  // registered (the workers' registries went with them).
  closers.push(() => {
    device.vectorTable.unregisterPool(pool);
    pool.unregister();
  });
  const efds: SharedEventFd[] = [];
  const create = (): SharedEventFd => {
    const e = SharedEventFd.create({ pool, nonblock: true });
    closers.push(() => {
      if (!e.closed) e.close();
    });
    return e;
  };
  for (let pos = 0; pos < n; pos++) efds.push(create());
  let unmask: Provisioned['unmask'];
  if (level) {
    const u = create();
    unmask = { efd: u, eoi: { kind: 'memory', efd: u.handle } };
  }
  const bells: DoorbellHandle[] = [];
  for (let w = 0; w < workers; w++) bells.push(pool.createDoorbell(n + 1).handle);
  const handles = efds.map((e) => e.handle);
  return {
    data: efds,
    triggers: bells.map((bell) => ({ kind: 'memory', bell, triggers: handles })),
    bells,
    wakeFds: [],
    unmask,
  };
}

function provisionEventfd(n: number, workers: number, level: boolean, closers: (() => void)[]): Provisioned {
  const create = (): EventFd => {
    const e = EventFd.create({ nonblock: true });
    closers.push(() => e.close());
    return e;
  };
  const efds: EventFd[] = [];
  for (let pos = 0; pos < n; pos++) efds.push(create());
  let unmask: Provisioned['unmask'];
  if (level) {
    const u = create();
    unmask = { efd: u, eoi: { kind: 'eventfd', fd: u.fd } };
  }
  const fds = efds.map((e) => e.fd);
  const bells: DoorbellHandle[] = [];
  const wakeFds: number[] = [];
  for (let w = 0; w < workers; w++) {
    wakeFds.push(create().fd);
    bells.push(new Doorbell(new SharedArrayBuffer(Doorbell.byteLength(n + 1)), 0, n + 1).handle);
  }
  return {
    data: efds,
    triggers: bells.map((bell, w) => ({ kind: 'eventfd', bell, fds, wakeFd: wakeFds[w] })),
    bells,
    wakeFds,
    unmask,
  };
}
