/**
 * The @virq/native module for the device-memory classes (mmio.ts, dma.ts, pci-device.ts). Unlike the
 * IRQ paths these have no shared-memory fallback: without the addon there is no device to map.
 */
import type * as Native from '@virq/native';
import { loadNativeSync, nativeLoadError } from '@virq/trigger/internal';

/** @virq/native, or throws ERR_VIRQ_NATIVE_MISSING with the reason it did not load. */
export function nativeModule(): typeof Native {
  const b = loadNativeSync();
  if (b === null) {
    throw Object.assign(
      new Error(`device memory needs @virq/native: ${String((nativeLoadError() as Error)?.message ?? '')}`, {
        cause: nativeLoadError(),
      }),
      { code: 'ERR_VIRQ_NATIVE_MISSING' },
    );
  }
  return b.module;
}
