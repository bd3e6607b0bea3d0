import { parseCommand } from './args.js';
import { table } from './format.js';
import { NO_VFIO_ADVICE, scanVfio, type VfioPciFunction } from './probe.js';

/** `virq probe --help`. */
export const PROBE_HELP = `Usage: virq probe [--json]

Lists the PCI functions bound to vfio-pci and, for each, the IRQ info the kernel reports for every
index (VFIO_DEVICE_GET_IRQ_INFO): INTx, MSI, MSI-X, ERR, REQ — count and flags.

Options:
  --json     print the result as JSON
  -h, --help show this help`;

const INDEX_NAMES = ['INTx', 'MSI', 'MSI-X', 'ERR', 'REQ'];
const IRQ_INFO_FLAGS: [number, string][] = [
  [1 << 0, 'EVENTFD'],
  [1 << 1, 'MASKABLE'],
  [1 << 2, 'AUTOMASKED'],
  [1 << 3, 'NORESIZE'],
];

/** One probed function: its IRQ info per index, or why it could not be opened. */
export interface ProbedFunction extends VfioPciFunction {
  irqs: { index: number; name: string; count: number; flags: number; flagNames: string[] }[];
  error: string | null;
}

function flagNames(flags: number): string[] {
  return IRQ_INFO_FLAGS.filter(([bit]) => flags & bit).map(([, name]) => name);
}

async function probeFunction(fn: VfioPciFunction): Promise<ProbedFunction> {
  const out: ProbedFunction = { ...fn, irqs: [], error: null };
  if (fn.groupPath === null) {
    out.error = 'no /dev/vfio group node for this function (no IOMMU group, or the group is not viable)';
    return out;
  }
  let native: typeof import('@virq/native');
  try {
    native = await import('@virq/native');
    native.loadNative();
  } catch (e) {
    out.error = `the native addon is not available: ${(e as Error).message}`;
    return out;
  }
  let handles: ReturnType<typeof native.openVfioPci> | undefined;
  try {
    handles = native.openVfioPci(fn.address);
    const info = handles.device.getInfo();
    for (let index = 0; index < Math.min(info.numIrqs, 16); index++) {
      try {
        const irq = handles.device.getIrqInfo(index);
        out.irqs.push({
          index,
          name: INDEX_NAMES[index] ?? `index ${index}`,
          count: irq.count,
          flags: irq.flags,
          flagNames: flagNames(irq.flags),
        });
      } catch (e) {
        // ERR on a conventional PCI function answers EINVAL: the index exists but has no IRQ.
        const err = e as NodeJS.ErrnoException;
        out.irqs.push({
          index,
          name: INDEX_NAMES[index] ?? `index ${index}`,
          count: 0,
          flags: 0,
          flagNames: [err.code ?? 'error'],
        });
      }
    }
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    out.error = `${err.code ?? 'error'}: ${err.message.split('\n')[0]}`;
  } finally {
    handles?.device.close();
    handles?.group.close();
    handles?.container.close();
  }
  return out;
}

/** `virq probe`: returns the process exit code. */
export async function runProbe(argv: string[]): Promise<number> {
  const values = parseCommand('probe', argv, PROBE_HELP, '', 'json');
  if (values === null) return 0;
  const scan = scanVfio();
  const functions: ProbedFunction[] = [];
  for (const fn of scan.functions) functions.push(await probeFunction(fn));
  if (values.json) {
    process.stdout.write(`${JSON.stringify({ vfioLoaded: scan.vfioLoaded, functions }, null, 2)}\n`);
    return 0;
  }
  if (!scan.vfioLoaded && functions.length === 0) {
    process.stdout.write(
      `No VFIO on this machine: /dev/vfio/vfio does not exist (the vfio module is not loaded).\n${NO_VFIO_ADVICE}\n`,
    );
    return 0;
  }
  if (functions.length === 0) {
    process.stdout.write(`VFIO is loaded, but no PCI function is bound to vfio-pci.\n${NO_VFIO_ADVICE}\n`);
    return 0;
  }
  for (const fn of functions) {
    const where = fn.cdevPath ?? fn.groupPath ?? 'no device node';
    process.stdout.write(
      `${fn.address}  [${fn.vendor.replace(/^0x/, '')}:${fn.device.replace(/^0x/, '')}]  group ${fn.group ?? '-'}  ${where}\n`,
    );
    if (fn.error) {
      process.stdout.write(`  cannot open: ${fn.error}\n\n`);
      continue;
    }
    const rows = fn.irqs.map((irq) => [irq.name, String(irq.count), irq.flagNames.join('|') || '-']);
    process.stdout.write(`${table(['index', 'count', 'flags'], rows).replace(/^/gm, '  ')}\n\n`);
  }
  return 0;
}
