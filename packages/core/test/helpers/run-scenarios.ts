/**
 * Registers every conformance scenario as one serial ava test per kernel profile for the given kit
 * (`S065 <6.1> [vfio_msi_set_block] ...`); each test also proves that the scenario left no eventfd
 * pool slot and no file descriptor behind. A scenario whose answer differs between kernels says so
 * with `h.expect({ '6.1': ..., '6.12': ..., mainline: ... })`.
 */
import test from 'ava';
import { KERNEL_PROFILES } from '../../src/index.js';
import { Harness, type Kit } from './kit.js';
import { SCENARIOS } from './scenarios.js';

export function runScenarios(kit: () => Kit): void {
  for (const kernel of KERNEL_PROFILES)
    for (const s of SCENARIOS) {
      test.serial(`${s.id} <${kernel}> [${s.kernel}] ${s.title}`, async (t) => {
        const h = new Harness(kit(), kernel);
        try {
          await s.run(t, h);
        } finally {
          const leak = await h.finish();
          t.is(leak, null, 'nothing leaked');
        }
      });
    }
}
