/**
 * @virq/bind: a device's interrupt vectors wired to triggers, before any thread services them — the
 * triggers made for the vectors ({@link provision}: a SharedEventFd pool with a doorbell per waiting
 * thread, or kernel eventfds with a wake eventfd each), `SET_IRQS` onto the vectors
 * ({@link bindTriggers}, INTx's unmask eventfd with {@link bindUnmask}), each step's undo pushed onto a
 * closers list so a failure part way leaves nothing bound, and the sets a thread waits on for any of its
 * vectors at once ({@link DoorbellTriggerSet}, {@link EpollTriggerSet}). @virq/dispatch builds its
 * service workers on it.
 * @packageDocumentation
 */
export { bindTriggers, bindUnmask } from './bind.js';
export { type EoiSpec, type Provisioned, provision } from './provision.js';
export { DoorbellTriggerSet, EpollTriggerSet, type TriggerSet, type TriggerSpec } from './trigger-sets.js';
