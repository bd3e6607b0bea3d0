/**
 * Registers every conformance scenario as one serial ava test for the given kit; each test also proves
 * that the scenario left no eventfd pool slot and no file descriptor behind.
 */
import test from 'ava';
import { Harness, type Kit } from './kit.js';
import { SCENARIOS } from './scenarios.js';

export function runScenarios(kit: () => Kit): void {
  for (const s of SCENARIOS) {
    test.serial(`${s.id} [${s.kernel}] ${s.title}`, async (t) => {
      const h = new Harness(kit());
      try {
        await s.run(t, h);
      } finally {
        const leak = await h.finish();
        t.is(leak, null, 'nothing leaked');
      }
    });
  }
}
