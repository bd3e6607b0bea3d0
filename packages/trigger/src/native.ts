/**
 * Optional @virq/native. Core works without it (shared-memory triggers only, kernel fds checked via
 * /proc) and uses it when it loads: kernel eventfds (dup, read, write, poll) and real VFIO devices.
 * The import is attempted once, at module load (top-level await), so the synchronous setIrqs path can
 * ask for it without awaiting. `VIRQ_NO_NATIVE=1` disables it (to test the fallback paths).
 */

import { VirqError } from './errors.js';

/** The operations core needs from the addon, normalised over its exported API. */
export interface NativeBinding {
  eventfdCreate(initval: number, semaphore: boolean, nonblock: boolean): number;
  eventfdRead(fd: number): bigint;
  eventfdWrite(fd: number, value: bigint): void;
  /** eventfd_ctx_fdget + dup: a new CLOEXEC fd for the same eventfd; EBADF / EINVAL like the kernel. */
  eventfdDup(fd: number): number;
  closeFd(fd: number): void;
  /** fcntl(F_GETFL) & O_NONBLOCK. */
  isNonblocking(fd: number): boolean;
  /** The module itself, for VfioDevice and tests. */
  module: Record<string, unknown>;
}

let binding: NativeBinding | null = null;
let loadError: unknown = null;

type Fn = (...args: never[]) => unknown;

function pick(mod: Record<string, unknown>, names: string[]): Fn | undefined {
  for (const n of names) {
    const v = mod[n];
    if (typeof v === 'function') return v as Fn;
  }
  // the raw addon may sit under `binding`/`raw`/`addon`, or behind a loader function
  for (const holder of ['binding', 'raw', 'addon']) {
    const h = mod[holder];
    if (h && typeof h === 'object') {
      const f = pick(h as Record<string, unknown>, names);
      if (f) return f;
    }
  }
  return undefined;
}

function normalise(mod: Record<string, unknown>): NativeBinding | null {
  const need = {
    eventfdCreate: pick(mod, ['eventfdCreate']),
    eventfdRead: pick(mod, ['eventfdRead']),
    eventfdWrite: pick(mod, ['eventfdWrite']),
    eventfdDup: pick(mod, ['eventfdDup']),
    closeFd: pick(mod, ['closeFd']),
    isNonblocking: pick(mod, ['isNonblocking']),
  };
  for (const [k, v] of Object.entries(need))
    if (!v) throw new VirqError('ERR_VIRQ_NO_NATIVE', `@virq/native lacks ${k}`);
  return {
    eventfdCreate: need.eventfdCreate as NativeBinding['eventfdCreate'],
    eventfdRead: need.eventfdRead as NativeBinding['eventfdRead'],
    eventfdWrite: need.eventfdWrite as NativeBinding['eventfdWrite'],
    eventfdDup: need.eventfdDup as NativeBinding['eventfdDup'],
    closeFd: need.closeFd as NativeBinding['closeFd'],
    isNonblocking: need.isNonblocking as NativeBinding['isNonblocking'],
    module: mod,
  };
}

async function tryLoad(): Promise<void> {
  if (process.env.VIRQ_NO_NATIVE === '1') {
    loadError = new VirqError('ERR_VIRQ_NO_NATIVE', 'disabled by VIRQ_NO_NATIVE=1');
    return;
  }
  try {
    const mod = (await import('@virq/native')) as Record<string, unknown>;
    const loader = (mod.loadNative ?? mod.load) as (() => unknown) | undefined;
    const isAvailable = mod.isAvailable as (() => boolean) | undefined;
    if (typeof isAvailable === 'function' && !isAvailable()) {
      throw new VirqError(
        'ERR_VIRQ_NO_NATIVE',
        '@virq/native reports the addon is not available (not built?)',
      );
    }
    let raw: Record<string, unknown> = mod;
    if (typeof loader === 'function') {
      const loaded = loader();
      if (loaded && typeof loaded === 'object') raw = { ...mod, binding: loaded };
    }
    binding = normalise(raw);
  } catch (err) {
    loadError = err;
    binding = null;
  }
}

await tryLoad();

/** The addon if it loaded, else null. Synchronous: the import already happened at module load. */
export function loadNativeSync(): NativeBinding | null {
  return binding;
}

/** Why the addon did not load (null if it did). */
export function nativeLoadError(): unknown {
  return binding ? null : loadError;
}

/** True if @virq/native loaded. */
export function hasNative(): boolean {
  return binding !== null;
}
