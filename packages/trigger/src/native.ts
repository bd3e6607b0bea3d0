/**
 * Optional @virq/native. Core works without it (shared-memory triggers only, kernel fds checked via
 * /proc) and uses it when it loads: kernel eventfds (dup, read, write, poll) and real VFIO devices.
 * The import is attempted once, at module load (top-level await), so the synchronous setIrqs path can
 * ask for it without awaiting. `VIRQ_NO_NATIVE=1` disables it (to test the fallback paths).
 */

import type * as NativeModule from '@virq/native';
import { VirqError } from './errors.js';

/**
 * The addon as core uses it: the raw binding (`loadNative()`: eventfd and fd syscalls, the VFIO
 * ioctls) and the module around it (its `Epoll`, its device-memory classes). Typed by @virq/native's
 * own declarations; the import itself stays optional (a type import is erased, the module is loaded
 * with a dynamic import that may fail).
 */
export interface NativeBinding {
  /** The raw addon, `loadNative()`. */
  addon: NativeModule.NativeBinding;
  /** The @virq/native module. */
  module: typeof NativeModule;
}

let binding: NativeBinding | null = null;
let loadError: unknown = null;

async function tryLoad(): Promise<void> {
  if (process.env.VIRQ_NO_NATIVE === '1') {
    loadError = new VirqError('ERR_VIRQ_NO_NATIVE', 'disabled by VIRQ_NO_NATIVE=1');
    return;
  }
  try {
    const mod: typeof NativeModule = await import('@virq/native');
    if (!mod.isAvailable()) {
      throw new VirqError(
        'ERR_VIRQ_NO_NATIVE',
        '@virq/native reports the addon is not available (not built?)',
      );
    }
    binding = { addon: mod.loadNative(), module: mod };
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
