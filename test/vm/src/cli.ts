/**
 * The VM stage on its own, with a readable report: `pnpm --filter @virq/e2e run vm` (or
 * `node test/vm/dist/src/cli.js` after a build). VIRQ_VM_SEED picks another generator seed,
 * VIRQ_VM_KERNELS=6.12 (or 6.1) boots only that kernel. Exit code 0 when every check passes.
 */
import { describeOp, formatDivergence } from './compare.js';
import { runSession, type Session } from './session.js';
import { retName } from './uapi.js';
import { type KernelName, selectedKernels, VmError } from './vm.js';

const kernels = selectedKernels();
const sessions = kernels.map((k) => runSession(k, (l) => console.log(`vm ${k}: ${l}`)));
let worst = 0;
for (const [n, pending] of sessions.entries()) {
  try {
    worst = Math.max(worst, report(await pending));
  } catch (err) {
    console.error(`kernel ${kernels[n] as KernelName}:`, err instanceof VmError ? err.message : err);
    worst = 2;
  }
}
process.exitCode = worst;

/** Prints one kernel's stage; 0 when every check passed, 1 otherwise. */
function report(s: Session): number {
  console.log(
    `\n== kernel ${s.kernelName}: ${s.prepared.kernelPackage} (${s.run.devices.kernel}); run folder ${s.run.dir}`,
  );
  console.log(
    `timings (s): ${Object.entries(s.timings)
      .map(([k, v]) => `${k} ${v.toFixed(1)}`)
      .join(', ')}`,
  );
  let bad = 0;
  for (const job of ['e2e-c', 'node']) {
    const lines = s.run.lines(job);
    const failed = lines.filter((l) => l.t === 'check' && l.ok !== true);
    const slots = lines.filter((l) => l.t === 'slot').map((l) => `${l.name}:${l.status}`);
    console.log(
      `${job}: ${lines.filter((l) => l.t === 'check').length} checks, ${failed.length} failed ${slots.join(' ')}`,
    );
    for (const f of failed) console.log(`  FAIL ${JSON.stringify(f)}`);
    bad += failed.length;
  }
  console.log(`differential: seed ${s.seed}, ${s.seqs.length} sequences, ${s.kernel.length} kernel ops`);
  if (!s.soft.ok) {
    console.log(`SoftDevice side unavailable: ${s.soft.reason}`);
    bad++;
  } else {
    const c = s.soft.comparison;
    console.log(
      `${c.ops} ops compared, ${c.divergences.length} sequences diverge, ${c.forgiven.length} forgiven`,
    );
    for (const d of c.divergences) {
      console.log(
        `  ${d.seq.id}#${d.i} ${d.seq.device}: ${describeOp(d.seq.ops[d.i])}: kernel ${d.kernel ? `${retName(d.kernel.ret)} ${JSON.stringify(d.kernel.ev)}` : '-'} soft ${d.soft ? `${retName(d.soft.ret)} ${JSON.stringify(d.soft.ev)}` : '-'}`,
      );
    }
    const first = c.divergences[0];
    if (first) console.log(formatDivergence(first, s.kernel, s.soft.results.get(first.seq.id) ?? []));
    if (s.soft.fdsLeaked.length)
      console.log(`fds leaked by the SoftDevice side: ${s.soft.fdsLeaked.join(' ')}`);
    bad += c.divergences.length + s.soft.fdsLeaked.length;
  }
  return bad ? 1 : 0;
}
