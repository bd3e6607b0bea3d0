export { assertFits, assertInt, assertOffset, assertPowerOfTwo, assertShared } from './validate.js';
