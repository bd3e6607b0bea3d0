import { existsSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { basename, join } from 'node:path';

/** One PCI function bound to vfio-pci, as sysfs describes it. */
export interface VfioPciFunction {
  /** PCI address, e.g. `0000:01:00.0`. */
  address: string;
  vendor: string;
  device: string;
  /** IOMMU group number, or null when the function has no group (no IOMMU and no noiommu mode). */
  group: number | null;
  /** The group's character device, when it exists: `/dev/vfio/N` or `/dev/vfio/noiommu-N`. */
  groupPath: string | null;
  /** The per-device cdev (`/dev/vfio/devices/vfioX`, Linux 6.6+), when the kernel has one. */
  cdevPath: string | null;
}

/** What `virq probe` found before opening anything. */
export interface VfioScan {
  /** `/dev/vfio/vfio` exists: the vfio module is loaded. */
  vfioLoaded: boolean;
  /** Functions bound to vfio-pci. */
  functions: VfioPciFunction[];
}

function readTrim(path: string): string {
  try {
    return readFileSync(path, 'utf8').trim();
  } catch {
    return '';
  }
}

/**
 * Scans sysfs and /dev/vfio for PCI functions bound to vfio-pci. Reads only; opens no device, so it
 * is safe to run on a machine where another process owns the devices.
 */
export function scanVfio(sysfs = '/sys', dev = '/dev'): VfioScan {
  const vfioLoaded = existsSync(join(dev, 'vfio', 'vfio'));
  const driverDir = join(sysfs, 'bus', 'pci', 'drivers', 'vfio-pci');
  const functions: VfioPciFunction[] = [];
  let entries: string[] = [];
  try {
    entries = readdirSync(driverDir).filter((e) => /^[0-9a-f]{4}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-7]$/.test(e));
  } catch {
    // No vfio-pci driver directory: the module is not loaded.
  }
  for (const address of entries.sort()) {
    const fnDir = join(sysfs, 'bus', 'pci', 'devices', address);
    let group: number | null = null;
    try {
      group = Number(basename(readlinkSync(join(fnDir, 'iommu_group'))));
    } catch {
      group = null;
    }
    let groupPath: string | null = null;
    if (group !== null) {
      for (const candidate of [join(dev, 'vfio', String(group)), join(dev, 'vfio', `noiommu-${group}`)]) {
        if (existsSync(candidate)) groupPath = candidate;
      }
    }
    let cdevPath: string | null = null;
    try {
      const cdev = readdirSync(join(fnDir, 'vfio-dev')).find((d) => d.startsWith('vfio'));
      if (cdev && existsSync(join(dev, 'vfio', 'devices', cdev)))
        cdevPath = join(dev, 'vfio', 'devices', cdev);
    } catch {
      // Kernels before 6.6 have no per-device cdev.
    }
    functions.push({
      address,
      vendor: readTrim(join(fnDir, 'vendor')),
      device: readTrim(join(fnDir, 'device')),
      group,
      groupPath,
      cdevPath,
    });
  }
  return { vfioLoaded, functions };
}

/** The advice printed when a machine has no VFIO: which module to load and how to bind a device. */
export const NO_VFIO_ADVICE = [
  'To use a device with virq, as root:',
  '  modprobe vfio-pci                      # load the driver (and vfio_iommu_type1)',
  '  echo vfio-pci > /sys/bus/pci/devices/0000:BB:DD.F/driver_override',
  '  echo 0000:BB:DD.F > /sys/bus/pci/devices/0000:BB:DD.F/driver/unbind   # if another driver has it',
  '  echo 0000:BB:DD.F > /sys/bus/pci/drivers_probe',
  'The group device /dev/vfio/<group> must be readable and writable by the user running virq.',
  'Without an IOMMU: modprobe vfio enable_unsafe_noiommu_mode=1 (unsafe; /dev/vfio/noiommu-<group>).',
].join('\n');
