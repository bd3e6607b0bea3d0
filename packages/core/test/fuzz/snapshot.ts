/**
 * Everything observable about a SoftDevice's interrupt state, and the comparison the fuzzer's
 * "an error changes nothing but the documented unwind" and "counters only grow" invariants use.
 */
import {
  type SoftDevice,
  ST_ENABLED,
  ST_MASKED,
  ST_PENDING,
  ST_TRIGGER,
  VFIO_PCI_INTX_IRQ_INDEX,
  VFIO_PCI_MSI_IRQ_INDEX,
  VFIO_PCI_MSIX_IRQ_INDEX,
  VFIO_PCI_NUM_IRQS,
} from '../../src/index.js';

/** Counter positions (core's Counter): raised, delivered, coalesced, pending, dropped, unrouted, external. */
const COUNTER_NAMES = ['raised', 'delivered', 'coalesced', 'pending', 'dropped', 'unrouted', 'external'];
const PENDING = 3;
const DROPPED = 4;

/** One vector as observed. */
export interface VectorSnapshot {
  bits: number;
  trigger: string;
  counters: bigint[];
}

/** The device as observed. */
export interface DeviceSnapshot {
  vectors: Map<string, VectorSnapshot>;
  /** irqType, msiQmax, allocated vectors, INTx hardware state, virqfds: compared as a whole. */
  device: Record<string, unknown>;
  irqType: number;
}

/** Reads the device's whole observable state. */
export function snapshot(dev: SoftDevice): DeviceSnapshot {
  const t = dev.vectorTable;
  // First catch up with what the kernel would have done asynchronously by now: a virqfd whose kernel
  // eventfd was written and then closed runs its handler (a mask, an unmask) and its POLLHUP teardown
  // lazily, at the next look at its slot. Looked at only later — inside the next SET_IRQS's checks —
  // that mask would read as the failed call's doing (seed 358247: vector 1.1 masked by an EBUSY).
  const pin = dev.irqCount(VFIO_PCI_INTX_IRQ_INDEX) > 0;
  const intxVirqfds = pin
    ? { unmaskVirqfd: dev.intxVirqfd('unmask'), maskVirqfd: dev.intxVirqfd('mask') }
    : {};
  const virqfds: Record<string, boolean> = {};
  const vectorsWithSlots = Math.max(
    dev.irqCount(VFIO_PCI_MSI_IRQ_INDEX),
    dev.irqCount(VFIO_PCI_MSIX_IRQ_INDEX),
  );
  for (let v = 0; v < vectorsWithSlots; v++) {
    if (dev.vectorVirqfd(v, 'mask')) virqfds[`mask${v}`] = true;
    if (dev.vectorVirqfd(v, 'unmask')) virqfds[`unmask${v}`] = true;
  }
  const vectors = new Map<string, VectorSnapshot>();
  for (let index = 0; index < VFIO_PCI_NUM_IRQS; index++) {
    const n = dev.irqCount(index);
    for (let v = 0; v < n; v++) {
      const counters: bigint[] = [];
      for (let k = 0; k < COUNTER_NAMES.length; k++) counters.push(t.counter(index, v, k as 0));
      vectors.set(`${index}.${v}`, {
        bits: t.stateBits(index, v),
        trigger: JSON.stringify(t.trigger(index, v)),
        counters,
      });
    }
  }
  const device: Record<string, unknown> = {
    irqType: dev.irqType,
    msiQmax: dev.msiQmax,
    allocated: dev.allocatedVectors,
    intxAsserted: dev.intxAsserted,
    intxDisabled: dev.intxDisabled,
    vectorVirqfds: Object.keys(virqfds).join(','),
  };
  if (pin) Object.assign(device, dev.intxHw, intxVirqfds);
  return { vectors, device, irqType: dev.irqType };
}

/** The documented unwind of a failed MSI/MSI-X EVENTFD trigger call. */
export interface Unwind {
  index: number;
  start: number;
  count: number;
  /** The call found no type enabled: it enabled the index, and must have disabled it again. */
  enabling: boolean;
}

/**
 * Compares two snapshots. `allowed`: null → nothing may differ; 'monotonic' → any change except a
 * counter other than pending going down; an {@link Unwind} → nothing but that unwind. Returns a
 * description of the first difference not allowed, or null.
 */
export function diffSnapshots(
  a: DeviceSnapshot,
  b: DeviceSnapshot,
  allowed: null | 'monotonic' | Unwind,
): string | null {
  for (const [key, va] of a.vectors) {
    const vb = b.vectors.get(key)!;
    if (allowed === 'monotonic') {
      for (let k = 0; k < va.counters.length; k++) {
        if (k !== PENDING && vb.counters[k] < va.counters[k])
          return `vector ${key}: ${COUNTER_NAMES[k]} went down ${va.counters[k]} → ${vb.counters[k]}`;
      }
      continue;
    }
    const [index, vector] = key.split('.').map(Number);
    // enabling, the call enabled [0, start + count) and its failure disabled the whole index again,
    // resetting every vector of it (vfio_msi_disable); otherwise only its own range was touched
    const inRange =
      allowed !== null &&
      index === allowed.index &&
      (allowed.enabling || (vector >= allowed.start && vector < allowed.start + allowed.count));
    if (!inRange) {
      if (va.bits !== vb.bits) return `vector ${key}: state bits ${va.bits} → ${vb.bits}`;
      if (va.trigger !== vb.trigger) return `vector ${key}: trigger ${va.trigger} → ${vb.trigger}`;
      for (let k = 0; k < va.counters.length; k++) {
        if (va.counters[k] !== vb.counters[k])
          return `vector ${key}: ${COUNTER_NAMES[k]} ${va.counters[k]} → ${vb.counters[k]}`;
      }
      continue;
    }
    // in the unwound range: the trigger (and a held interrupt, counted dropped) may be gone; dynamic
    // MSI-X may have allocated the vector (ENABLED) unless the call also disabled the index again
    const lost = va.bits & ~vb.bits;
    const gained = vb.bits & ~va.bits;
    // a vector this call allocated (dynamic MSI-X) starts unmasked, as does every vector of an index
    // the call enabled and disabled again
    const fresh = allowed!.enabling || (gained & ST_ENABLED) !== 0;
    if (lost & ~(ST_TRIGGER | ST_PENDING | (fresh ? ST_MASKED : 0)))
      return `vector ${key}: unwind cleared bits ${lost}`;
    if (gained & ~(allowed!.enabling ? 0 : ST_ENABLED)) return `vector ${key}: unwind set bits ${gained}`;
    if (vb.trigger !== va.trigger && vb.trigger !== 'null')
      return `vector ${key}: unwind bound a new trigger`;
    for (let k = 0; k < va.counters.length; k++) {
      if (k === PENDING || k === DROPPED) continue;
      if (va.counters[k] !== vb.counters[k])
        return `vector ${key}: unwind changed ${COUNTER_NAMES[k]} ${va.counters[k]} → ${vb.counters[k]}`;
    }
    const dropped = vb.counters[DROPPED] - va.counters[DROPPED];
    const fromPending = va.counters[PENDING] - vb.counters[PENDING];
    if (dropped < 0n || dropped !== fromPending)
      return `vector ${key}: unwind moved ${fromPending} from pending but counted ${dropped} dropped`;
    if (dropped > 1n || (dropped === 1n && !(va.bits & ST_PENDING)))
      return `vector ${key}: unwind dropped ${dropped} without a held interrupt`;
  }
  if (allowed === 'monotonic') return null;
  for (const k of Object.keys(a.device)) {
    const x = a.device[k];
    const y = b.device[k];
    if (x === y) continue;
    if (allowed !== null) {
      // vfio_msi_enable set msi_qmax; the disable that follows a failed set_block leaves it
      if (k === 'msiQmax' && allowed.enabling && allowed.index === VFIO_PCI_MSI_IRQ_INDEX) continue;
      // on-demand dynamic MSI-X vectors stay allocated until the index is disabled
      if (k === 'allocated' && !allowed.enabling && (y as number) > (x as number)) continue;
    }
    return `device ${k}: ${String(x)} → ${String(y)}`;
  }
  return null;
}
