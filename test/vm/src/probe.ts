/**
 * What `irqrun probe` reported about each device, and the SoftDevice configuration that models it.
 * The configuration is derived from PCI config space (interrupt pin, MSI/MSI-X/PCIe capabilities) the
 * way vfio-pci derives its IRQ counts, never from GET_IRQ_INFO, so comparing GET_IRQ_INFO is a check.
 */
import { IRQ_INFO } from './uapi.js';

/** `{"t":"device",...}` from the probe. */
export interface ProbedDevice {
  alias: string;
  present: boolean;
  bdf?: string;
  vendor?: number;
  device?: number;
  flags?: number;
  numRegions?: number;
  numIrqs?: number;
  intxPin?: number;
  msiCap?: number;
  msiFlags?: number;
  msixCap?: number;
  msixFlags?: number;
  pcieCap?: number;
  command?: number;
  openMs?: number;
}

/** `{"t":"irqinfo",...}` from the probe. */
export interface ProbedIrqInfo {
  alias: string;
  index: number;
  ret: number;
  flags: number;
  count: number;
}

/** `{"t":"region",...}` from the probe. */
export interface ProbedRegion {
  alias: string;
  index: number;
  ret: number;
  flags: number;
  size: number;
  offset: number;
}

/** Everything the probe said about one device. */
export interface DeviceReport {
  device: ProbedDevice;
  irqs: ProbedIrqInfo[];
  regions: ProbedRegion[];
}

/** Groups probe lines by device alias. */
export function collectProbe(lines: ReadonlyArray<Record<string, unknown>>): Map<string, DeviceReport> {
  const out = new Map<string, DeviceReport>();
  for (const l of lines) {
    if (l.t === 'device')
      out.set(String(l.alias), { device: l as unknown as ProbedDevice, irqs: [], regions: [] });
  }
  for (const l of lines) {
    const r = out.get(String(l.alias));
    if (!r) continue;
    if (l.t === 'irqinfo') r.irqs.push(l as unknown as ProbedIrqInfo);
    if (l.t === 'region') r.regions.push(l as unknown as ProbedRegion);
  }
  return out;
}

/** The subset of @virq/core's SoftDeviceOptions the harness sets. */
export interface SoftConfig {
  intx: { pci23: boolean } | false;
  msi: { vectors: number } | false;
  msix: { vectors: number; dynamic: boolean } | false;
  pcie: boolean;
  req: boolean;
}

const PCI_MSI_FLAGS_QMASK = 0x000e;
const PCI_MSIX_FLAGS_QSIZE = 0x07ff;

/**
 * SoftDevice options for a probed device. `dynamic` MSI-X is the one thing config space cannot tell
 * (it is the platform's irq domain): it is read from GET_IRQ_INFO's NORESIZE, as userspace must.
 */
export function softConfigFor(r: DeviceReport): SoftConfig {
  const d = r.device;
  const msixInfo = r.irqs.find((i) => i.index === 2);
  return {
    // QEMU's devices implement the INTx Disable bit, so vfio-pci finds them PCI 2.3 capable.
    intx: d.intxPin ? { pci23: true } : false,
    msi: d.msiCap ? { vectors: 1 << (((d.msiFlags ?? 0) & PCI_MSI_FLAGS_QMASK) >> 1) } : false,
    msix: d.msixCap
      ? {
          vectors: ((d.msixFlags ?? 0) & PCI_MSIX_FLAGS_QSIZE) + 1,
          dynamic: !!msixInfo && msixInfo.ret === 0 && !(msixInfo.flags & IRQ_INFO.NORESIZE),
        }
      : false,
    pcie: !!d.pcieCap,
    req: true,
  };
}
