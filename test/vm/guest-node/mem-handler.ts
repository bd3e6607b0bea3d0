/**
 * The handler module of the guest's device-memory slots (mem.ts), loaded by every service worker. On
 * its first call a worker maps edu's BAR0 and the DMA destination buffer itself, from the handles in
 * ctx.data (the main thread's mappings cannot cross threads), then on every MSI:
 *  - acks edu through the mapping (a plain store to 0x64 of the status read at 0x24: no syscall),
 *  - reads the identification register and runs the factorial unit through the mapping (phase RAISE),
 *  - or, after edu's DMA engine wrote back to RAM (phase DMA_BACK), compares the destination buffer with
 *    the pattern, and counts mismatching bytes.
 * Results go to Int32 words of ctl (see MEM_CTL); the main thread waits on CALLS.
 */
import { importPackage } from '../src/workspace.js';

/** Int32 word offsets in `ctl`. */
export const MEM_CTL = {
  CALLS: 0,
  /** What the main thread asked for: see PHASE. */
  PHASE: 1,
  /** edu's interrupt status (0x24) seen by the handler, last call. */
  STATUS: 2,
  /** BAR0 0x00 read by the handler. */
  IDENT: 3,
  /** Factorial of 6 computed by edu, driven from the handler (phase RAISE). */
  FACT: 4,
  /** Bytes of the destination buffer that differ from the pattern (phase DMA_BACK). */
  MISMATCH: 5,
  /** Handler calls that threw. */
  ERRORS: 6,
  /** The interrupt status after the ack (0 when the ack landed). */
  STATUS_AFTER: 7,
} as const;

export const PHASE = { RAISE: 1, DMA_IN: 2, DMA_BACK: 3 } as const;

/** The byte pattern edu copies: i-th byte of the buffer. */
export const patternByte = (i: number): number => (i * 7 + 3) & 0xff;

interface MmioLike {
  read32(off: number): number;
  write32(off: number, v: number): void;
}
interface Pci {
  MmioRegion: { attach(h: unknown): MmioLike };
  DmaBuffer: { attach(h: unknown): { bytes: Uint8Array } };
}
interface Data {
  ctl: SharedArrayBuffer;
  bar: unknown;
  dst: unknown;
}

const pci = await importPackage<Pci>('pci');
if (!pci.ok) throw new Error(pci.reason);
let regs: MmioLike | undefined;
let dst: { bytes: Uint8Array } | undefined;

export function handler(_vector: number, ctx: { data: unknown }): boolean {
  const d = ctx.data as Data;
  const ctl = new Int32Array(d.ctl);
  try {
    regs ??= pci.ok ? pci.mod.MmioRegion.attach(d.bar) : undefined;
    dst ??= pci.ok ? pci.mod.DmaBuffer.attach(d.dst) : undefined;
    if (!regs || !dst) throw new Error('no mapping');
    const status = regs.read32(0x24);
    regs.write32(0x64, status); // edu: interrupt acknowledge (clears these status bits)
    Atomics.store(ctl, MEM_CTL.STATUS, status);
    Atomics.store(ctl, MEM_CTL.STATUS_AFTER, regs.read32(0x24));
    Atomics.store(ctl, MEM_CTL.IDENT, regs.read32(0x00));
    const phase = Atomics.load(ctl, MEM_CTL.PHASE);
    if (phase === PHASE.RAISE) {
      regs.write32(0x08, 6);
      // edu computes in a QEMU thread and clears status bit 0 when done; bounded, it is microseconds.
      for (let i = 0; i < 1_000_000 && (regs.read32(0x20) & 1) !== 0; i++);
      Atomics.store(ctl, MEM_CTL.FACT, regs.read32(0x08));
    } else if (phase === PHASE.DMA_BACK) {
      let bad = 0;
      for (let i = 0; i < dst.bytes.length; i++) if (dst.bytes[i] !== patternByte(i)) bad++;
      Atomics.store(ctl, MEM_CTL.MISMATCH, bad);
    }
  } catch {
    Atomics.add(ctl, MEM_CTL.ERRORS, 1);
  }
  Atomics.add(ctl, MEM_CTL.CALLS, 1);
  Atomics.notify(ctl, MEM_CTL.CALLS);
  return false;
}
