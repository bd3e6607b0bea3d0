/**
 * The same conformance scenarios with kernel eventfds from @virq/native. If the addon is not built this
 * file fails (every test throws from nativeKit()): it never skips.
 */
import { nativeKit } from './helpers/kit.js';
import { runScenarios } from './helpers/run-scenarios.js';

runScenarios(nativeKit);
