/**
 * The VM stage on its own, with a readable report: `pnpm --filter @virq/e2e run vm` (or
 * `node test/vm/dist/src/cli.js` after a build). VIRQ_VM_SEED picks another generator seed.
 * Exit code 0 when every check of the stage passes.
 */
import { describeOp, formatDivergence } from './compare.js';
import { runSession } from './session.js';
import { retName } from './uapi.js';
import { VmError } from './vm.js';

try {
  const s = await runSession((l) => console.log(`vm: ${l}`));
  console.log(`kernel ${s.prepared.kernelPackage} (${s.run.devices.kernel}); run folder ${s.run.dir}`);
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
  process.exitCode = bad ? 1 : 0;
} catch (err) {
  console.error(err instanceof VmError ? err.message : err);
  process.exitCode = 2;
}
