/** The conformance scenarios with in-memory SharedEventFd triggers. */
import { sharedKit } from './helpers/kit.js';
import { runScenarios } from './helpers/run-scenarios.js';

runScenarios(() => sharedKit);
