import test from 'ava';
import { assertOffset, assertPowerOfTwo, assertShared } from '../src/index.js';

test('a plain ArrayBuffer is rejected with the expected type named', (t) => {
  t.throws(() => assertShared(new ArrayBuffer(8), 'Mutex'), {
    instanceOf: TypeError,
    message: 'Mutex: buffer must be a SharedArrayBuffer, got ArrayBuffer',
  });
});

test('a misaligned offset names the alignment expected', (t) => {
  t.throws(() => assertOffset(6, 4, 'Mutex'), { instanceOf: RangeError, message: /multiple of 4/ });
});

test('a capacity that is not a power of two is rejected', (t) => {
  t.throws(() => assertPowerOfTwo(12, 'SpscRing'), { instanceOf: RangeError, message: /power of two/ });
  t.notThrows(() => assertPowerOfTwo(16, 'SpscRing'));
});
